// DCIN inference on synthetic inputs with an untrained 32x32 U-Net: each mode's normalised input and logits are what
// the parts give separately (colour transfer toward the right reference, full = mean of the GRIS and LRIS logits),
// missing references and a foreign bank are refused, and GRIS over a folder matches the in-memory selection.
#include <gtest/gtest.h>

#include <filesystem>

#include "data/resize.h"
#include "data/sha256.h"
#include "models/registry.h"
#include "pipeline/dcin.h"
#include "pipeline/run_files.h"
#include "refselect/gris.h"
#include "refselect/histogram.h"
#include "tensor/rng.h"
#include "tests/data/data_test_util.h"
#include "tests/support/test_util.h"

using namespace cq;
using namespace cq::pipeline;
using cq::testing::contains;
using cq::testing::error_of;

namespace {

// Coloured noise with a brighter disc; `cast` shifts the colour (another "camera").
data::Image synth(uint64_t seed, int h, int w, int cast) {
  Rng rng(seed);
  data::Image im(h, w, 3);
  const double cy = rng.uniform(0.3, 0.7) * h, cx = rng.uniform(0.3, 0.7) * w, r = 0.25 * h;
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x) {
      const bool in = (y - cy) * (y - cy) + (x - cx) * (x - cx) < r * r;
      for (int c = 0; c < 3; ++c)
        im.at(y, x, c) = uint8_t(std::min(255, (in ? 150 + 30 * c : 40 + 25 * c) + int(rng.below(50)) +
                                                   (c == 0 ? cast : -cast / 2)));
    }
  return im;
}

std::shared_ptr<SegModel> tiny_model(Context& ctx) {
  auto m = std::make_shared<SegModel>();
  m->cfg.height = m->cfg.width = 32;
  m->cfg.classes = 3;
  m->sha256 = std::string(64, 'a');
  m->mode = "base";
  m->net = models::make_model(ctx, m->cfg.model, 3);
  m->net->eval();
  return m;
}

bool same_logits(const Logits& a, const Logits& b) { return a.k == b.k && a.h == b.h && a.w == b.w && a.v == b.v; }

}  // namespace

TEST(Dcin, ModeParsing) {
  EXPECT_EQ(parse_dcin_list("none,exri,gris,lris,full").size(), 5u);
  EXPECT_EQ(parse_dcin_mode("full"), DcinMode::full);
  EXPECT_STREQ(dcin_column_title(DcinMode::full), "GRIS+LRIS");
  EXPECT_STREQ(dcin_column_title(DcinMode::none), "no DCIN");
  EXPECT_TRUE(contains(error_of([] { parse_dcin_mode("all"); }), "none, exri, gris, lris, full"));
  EXPECT_TRUE(contains(error_of([] { parse_dcin_list("gris,gris"); }), "listed twice"));
  EXPECT_TRUE(contains(error_of([] { parse_dcin_list("gris,"); }), "''"));
}

TEST(Dcin, LogitAveragingAndArgmax) {
  Logits a, b;
  a.k = b.k = 2, a.h = b.h = 1, a.w = b.w = 3;
  a.v = {1, 0, 5, /*class 1*/ 0, 2, 5};
  b.v = {3, 0, 1, /*class 1*/ 2, 4, 1};
  const Logits m = average_logits(a, b);
  EXPECT_EQ(m.v, (std::vector<float>{2, 0, 3, 1, 3, 3}));
  const data::Image am = argmax_mask(m);
  EXPECT_EQ(am.px, (std::vector<uint8_t>{0, 1, 0}));  // tie at pixel 2: the first class wins
  // The ensemble is of logits, not of masks: mask averaging would give another answer here.
  EXPECT_EQ(argmax_mask(a).px, (std::vector<uint8_t>{0, 1, 0}));
  EXPECT_EQ(argmax_mask(b).px, (std::vector<uint8_t>{0, 1, 0}));
  Logits c = a;
  c.v = {0, 0, 0, 1, 10, 0};
  Logits d = a;
  d.v = {1, 3, 0, 0, 0, 0};
  EXPECT_EQ(argmax_mask(average_logits(c, d)).px, (std::vector<uint8_t>{0, 1, 0}));
  Logits bad = a;
  bad.w = 2;
  bad.v.resize(4);
  EXPECT_TRUE(contains(error_of([&] { average_logits(a, bad); }), "shapes differ"));
}

TEST(Dcin, ModesOnSyntheticImages) {
  cq::testing::TempDir tmp;
  Context ctx = cq::testing::make_ctx(1, 11);
  auto model = tiny_model(ctx);
  // Reference folder of 3 images; test image with a strong colour cast and of another size.
  std::vector<std::string> files;
  for (int i = 0; i < 3; ++i) {
    files.push_back(tmp / ("ref/r" + std::to_string(i) + ".png"));
    cq::testing::write_png_file(files.back(), synth(100 + uint64_t(i), 40, 44, 0));
  }
  const data::Image test = synth(7, 50, 36, 60);
  DcinReferences refs;
  refs.transfer.space = dcin::ColorSpace::LabReinhard;
  EXPECT_TRUE(contains(error_of([&] { refs.check_for({DcinMode::exri}); }), "--ref"));
  EXPECT_TRUE(contains(error_of([&] { refs.check_for({DcinMode::full}); }), "GRIS reference"));
  refs.set_exri(ctx, files[2]);
  refs.set_gris(ctx, files[0]);
  EXPECT_TRUE(contains(error_of([&] { refs.check_for({DcinMode::lris}); }), "bank"));
  auto emb = std::make_shared<ImageEmbedder>(unet_embedder(model));
  auto bank = std::make_shared<dcin::RefBank>(build_bank(ctx, *emb, files, nullptr));
  // A bank of another embedder is refused before any image is processed.
  auto other = std::make_shared<ImageEmbedder>(*emb);
  other->e.name = "unet@0000000000000000";
  EXPECT_TRUE(contains(error_of([&] { refs.set_bank(bank, other); }), "refuses queries"));
  refs.set_bank(bank, emb);

  const std::vector<DcinMode> all{DcinMode::none, DcinMode::exri, DcinMode::gris, DcinMode::lris, DcinMode::full};
  const DcinImageResult r = run_dcin(ctx, *model, refs, test, all);
  ASSERT_EQ(r.logits.size(), 5u);
  EXPECT_EQ(r.normalised.size(), 3u);
  // none: the model on the image itself, at the model's size.
  EXPECT_TRUE(same_logits(r.logits.at(DcinMode::none), predict_logits(ctx, *model, test)));
  EXPECT_EQ(r.logits.at(DcinMode::none).h, 32);
  // exri / gris: colour transfer toward the given reference at the image's own size, then predict.
  auto expect_transfer = [&](DcinMode m, const std::string& ref) {
    const data::Image want = hwc_to_image(dcin::color_transfer(
        image_to_hwc(ctx, test), image_to_hwc(ctx, data::read_image(ref)), refs.transfer));
    EXPECT_EQ(r.normalised.at(m).px, want.px) << dcin_mode_name(m);
    EXPECT_EQ(r.normalised.at(m).h, 50);
    EXPECT_TRUE(same_logits(r.logits.at(m), predict_logits(ctx, *model, want))) << dcin_mode_name(m);
  };
  expect_transfer(DcinMode::exri, files[2]);
  expect_transfer(DcinMode::gris, files[0]);
  // lris: the bank's top-1 for the (unnormalised) test image.
  const auto top = bank->query(emb->e.name, emb->embed(ctx, test).data(), bank->dim(), 1).front();
  EXPECT_EQ(r.lris_match.index, top.index);
  EXPECT_EQ(r.lris_path, files[size_t(top.index)]);
  expect_transfer(DcinMode::lris, files[size_t(top.index)]);
  // full: exactly the mean of the GRIS and LRIS logits.
  EXPECT_TRUE(same_logits(r.logits.at(DcinMode::full),
                          average_logits(r.logits.at(DcinMode::gris), r.logits.at(DcinMode::lris))));
  // The colour cast is removed toward the reference: mean red moves toward the reference's.
  auto mean_c = [](const data::Image& im, int c) {
    double s = 0;
    for (size_t p = 0; p < im.px.size() / 3; ++p) s += im.px[p * 3 + size_t(c)];
    return s / double(im.px.size() / 3);
  };
  const data::Image g0 = data::read_image(files[0]);
  EXPECT_LT(std::fabs(mean_c(r.normalised.at(DcinMode::gris), 0) - mean_c(g0, 0)),
            std::fabs(mean_c(test, 0) - mean_c(g0, 0)) / 2);
  // Deterministic: a second run gives the same bits; full alone gives the same full logits.
  const DcinImageResult r2 = run_dcin(ctx, *model, refs, test, {DcinMode::full});
  EXPECT_TRUE(same_logits(r2.logits.at(DcinMode::full), r.logits.at(DcinMode::full)));
  EXPECT_EQ(r2.logits.size(), 1u);
  EXPECT_EQ(r2.normalised.size(), 2u);  // full writes both normalised inputs
  // A changed bank image is caught by its SHA-256.
  refs.lris_stats.clear();
  cq::testing::write_png_file(files[size_t(top.index)], synth(999, 40, 44, 0));
  EXPECT_TRUE(contains(error_of([&] { run_dcin(ctx, *model, refs, test, {DcinMode::lris}); }), "SHA-256"));
}

TEST(Dcin, GrisOverFolderAndJson) {
  cq::testing::TempDir tmp;
  Context ctx = cq::testing::make_ctx(1);
  std::vector<std::string> files;
  std::vector<float> X;
  for (int i = 0; i < 5; ++i) {
    files.push_back(tmp / ("g/images/im" + std::to_string(i) + ".png"));
    const data::Image im = synth(200 + uint64_t(i), 24, 30, i * 15);
    cq::testing::write_png_file(files.back(), im);
    const std::vector<float> h = dcin::color_hist(image_to_hwc(ctx, im)).to_vector<float>();
    X.insert(X.end(), h.begin(), h.end());
  }
  // list_image_files finds images/ under a split folder, sorted, absolute.
  EXPECT_EQ(list_image_files(tmp / "g"), files);
  const GrisReference g = select_gris(files, 2, nullptr);
  const dcin::GrisResult want = dcin::gris_select(X.data(), 5, dcin::kHistBins, dcin::GrisOptions{});
  EXPECT_EQ(g.index, want.index);
  EXPECT_EQ(g.mean_dist, want.mean_dist);
  const std::string js = tmp / "ref.json";
  write_text_atomic(js, json::dump(gris_to_json(g, tmp / "g"), 2));
  EXPECT_EQ(read_gris_json(js), files[size_t(g.index)]);
  const json::Value v = json::parse(read_text(js));
  EXPECT_EQ(v.find("mean_distances")->as_array().size(), 5u);
  EXPECT_EQ(v.find("chosen")->find("sha256")->as_string(), data::sha256_file(files[size_t(g.index)]));
  // Negative: the chosen image changed after ref.json was written; a file that is not a GRIS reference.
  cq::testing::write_png_file(files[size_t(g.index)], synth(1, 24, 30, 0));
  EXPECT_TRUE(contains(error_of([&] { read_gris_json(js); }), "changed"));
  write_text_atomic(tmp / "x.json", "{\"a\": 1}");
  EXPECT_TRUE(contains(error_of([&] { read_gris_json(tmp / "x.json"); }), "not a GRIS reference file"));
  EXPECT_TRUE(contains(error_of([&] { list_image_files(tmp / "nothing"); }), "not a folder"));
}
