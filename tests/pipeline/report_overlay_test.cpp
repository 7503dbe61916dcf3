// Report formatting (markdown tables in the paper's layout, metrics.json with nulls for missing values), overlay
// pictures (palette, blend, sheets) and the bilinear resize of the Swin-V2 embedder input.
#include <gtest/gtest.h>

#include <cmath>

#include "data/resize.h"
#include "pipeline/overlay.h"
#include "pipeline/report.h"
#include "pipeline/run_files.h"
#include "tests/support/test_util.h"

using namespace cq;
using namespace cq::pipeline;
using cq::testing::contains;
using cq::testing::error_of;

namespace {

// Two models, two domains (the second with a field of view), three DCIN settings, known counts.
EvalSummary sample_summary() {
  EvalSummary s;
  s.models.push_back({"base (r1)", "r1/best.safetensors", "abcd", "base", "r1", "DRIVE/train", 2, 64, 64});
  s.models.push_back({"cqg (r2)", "r2/best.safetensors", "ef01", "cqg", "r2", "DRIVE/train", 2, 64, 64});
  s.domains.push_back({"CHASEDB1/dev", 14, false});
  s.domains.push_back({"DRIVE-LQ/test", 20, true});
  s.modes = {DcinMode::none, DcinMode::gris, DcinMode::full};
  for (size_t m = 0; m < 2; ++m)
    for (size_t d = 0; d < 2; ++d)
      for (DcinMode md : s.modes) {
        s.cells.emplace_back(m, d, md, 2, d == 1);
        // pred/target of 4 pixels: background TP 2, vessel TP (1 + m), one error when the mode is none.
        std::vector<int64_t> t{0, 0, 1, 1}, p{0, 0, 1, int64_t(md == DcinMode::none ? 0 : 1)};
        const uint8_t fov[4] = {1, 1, 1, 0};
        s.cells.back().image.add_labels(p.data(), t.data(), nullptr, 4);
        if (s.cells.back().fov) s.cells.back().fov->add_labels(p.data(), t.data(), fov, 4);
      }
  return s;
}

}  // namespace

TEST(EvalReport, FormatDiceAndMarkdown) {
  EXPECT_EQ(format_dice(0.71234), "71.23");
  EXPECT_EQ(format_dice(1.0), "100.00");
  EXPECT_EQ(format_dice(std::nan("")), "n/a");
  EXPECT_EQ(markdown_table({"model", "a|b"}, {{"x", "1"}}), "| model | a\\|b |\n| --- | ---: |\n| x | 1 |\n");
  EXPECT_TRUE(contains(error_of([] { markdown_table({"a", "b"}, {{"x"}}); }), "1 cells, the header 2"));
  EXPECT_TRUE(json_number(std::nan("")).is_null());
  EXPECT_EQ(json_number(0.5).as_number(), 0.5);
}

TEST(EvalReport, PaperLayoutTables) {
  const EvalSummary s = sample_summary();
  // Whole image, domain 0: none has bg 2TP+1FN.. -> bg Dice 2*2/(4+1) = .8, vessel 2/(2+1) = .6667 -> mean 73.33.
  const std::string t = domain_table(s, 0, false, false);
  EXPECT_EQ(t,
            "| model | no DCIN | GRIS | GRIS+LRIS |\n| --- | ---: | ---: | ---: |\n"
            "| base (r1) | 73.33 | 100.00 | 100.00 |\n| cqg (r2) | 73.33 | 100.00 | 100.00 |\n");
  EXPECT_TRUE(contains(domain_table(s, 0, false, true), "| base (r1) | 66.67 | 100.00 | 100.00 |"));
  // Inside the field of view the error pixel is outside: 100 everywhere. Domain 0 has no fov: n/a.
  EXPECT_TRUE(contains(domain_table(s, 1, true, false), "| cqg (r2) | 100.00 | 100.00 | 100.00 |"));
  EXPECT_TRUE(contains(domain_table(s, 0, true, false), "| base (r1) | n/a | n/a | n/a |"));
  const std::string r = render_report(s);
  for (const char* part : {"# cqseg eval", "## Models", "## CHASEDB1/dev (14 images)", "## DRIVE-LQ/test (20 images)",
                           "Paper Dice, inside the field of view:", "Foreground Dice, whole image:", "GRIS+LRIS",
                           "| cqg (r2) | r2/best.safetensors | cqg | DRIVE/train | 64x64 | 2 | ef01 |"})
    EXPECT_TRUE(contains(r, part)) << part << "\n" << r;
  // The fov headline comes before the whole-image table of the same domain.
  const size_t lq = r.find("## DRIVE-LQ/test");
  EXPECT_LT(r.find("inside the field of view", lq), r.find("whole image", lq));
}

TEST(EvalReport, MetricsJson) {
  const EvalSummary s = sample_summary();
  const json::Value v = json::parse(json::dump(metrics_json(s), 2));
  EXPECT_EQ(v.find("format")->as_string(), "cqseg-eval-1");
  ASSERT_NE(v.find("build"), nullptr);
  EXPECT_EQ(v.find("build")->find("source_revision")->as_string(), build_source_revision());
  const auto& res = v.find("results")->as_array();
  ASSERT_EQ(res.size(), 12u);
  const json::Value& first = res[0];
  EXPECT_EQ(first.find("model")->as_string(), "base (r1)");
  EXPECT_EQ(first.find("domain")->as_string(), "CHASEDB1/dev");
  EXPECT_EQ(first.find("dcin")->as_string(), "none");
  EXPECT_TRUE(first.find("fov")->is_null());
  EXPECT_NEAR(first.find("image")->find("dice_mean")->as_number(), (0.8 + 2.0 / 3) / 2, 1e-12);
  const auto& cls = first.find("image")->find("per_class")->as_array();
  EXPECT_EQ(cls[1].find("tp")->as_number(), 1);
  EXPECT_EQ(cls[1].find("fn")->as_number(), 1);
  EXPECT_FALSE(res[3].find("fov")->is_null());
  // A class with no support is null, not NaN (JSON has no NaN) and not 0.
  EvalSummary e = s;
  e.cells.clear();
  e.cells.emplace_back(0, 0, DcinMode::none, 3, false);
  const int64_t p[2] = {0, 1}, t[2] = {0, 1};
  e.cells[0].image.add_labels(p, t, nullptr, 2);
  const json::Value w = json::parse(json::dump(metrics_json(e)));
  EXPECT_TRUE(w.find("results")->as_array()[0].find("image")->find("per_class")->as_array()[2].find("dice")->is_null());
}

TEST(Overlay, PaletteBlendAndSheet) {
  EXPECT_EQ(class_color(0), (std::array<uint8_t, 3>{0, 0, 0}));
  EXPECT_EQ(class_color(1), (std::array<uint8_t, 3>{255, 0, 0}));
  EXPECT_EQ(class_color(2), (std::array<uint8_t, 3>{0, 255, 0}));
  EXPECT_EQ(class_color(3), (std::array<uint8_t, 3>{0, 0, 255}));
  EXPECT_EQ(class_color(4), (std::array<uint8_t, 3>{255, 255, 0}));
  EXPECT_EQ(class_color(200), class_color(200));  // fixed, not random
  data::Image img(2, 2, 3, 100), mask(2, 2, 1, 0);
  mask.at(0, 1) = 1;
  mask.at(1, 1) = 3;
  const data::Image o = overlay_mask(img, mask);
  EXPECT_EQ(o.at(0, 0, 0), 100);  // background keeps the image
  EXPECT_EQ(o.at(0, 1, 0), 178);  // 0.5*100 + 0.5*255 = 177.5 -> 178
  EXPECT_EQ(o.at(0, 1, 1), 50);
  EXPECT_EQ(o.at(1, 1, 2), 178);
  const data::Image c = colorize_mask(mask);
  EXPECT_EQ(c.at(1, 1, 2), 255);
  EXPECT_TRUE(contains(error_of([&] { overlay_mask(img, data::Image(3, 2, 1)); }), "do not fit"));
  // Sheet: 2 rows, tiles of 20x40 and 10x10 scaled to height 10: columns 20 and 10 wide, gap 2.
  const data::Image a(20, 40, 3, 200), b(10, 10, 3, 50);
  const data::Image sheet = compose_sheet({{a, b}, {b}}, 10, 2);
  EXPECT_EQ(sheet.h, 2 + 2 * (10 + 2));
  EXPECT_EQ(sheet.w, 2 + 20 + 2 + 10 + 2);
  EXPECT_EQ(sheet.at(0, 0, 0), 64);
  EXPECT_EQ(sheet.at(2, 2, 0), 200);
  EXPECT_EQ(sheet.at(2, 24, 0), 50);
  EXPECT_EQ(sheet.at(14, 2, 0), 50);
  EXPECT_EQ(sheet.at(14, 24, 0), 64);  // the second row has one tile
}

TEST(ResizeBilinear, IdentityDownscaleAndUpscale) {
  data::Image src(4, 6, 3);
  for (size_t i = 0; i < src.px.size(); ++i) src.px[i] = uint8_t((i * 37) % 251);
  EXPECT_EQ(data::resize_bilinear(src, 4, 6).px, src.px);
  // Halving: the triangle filter widened x2 gives taps (1,3,3,1)/8 per axis (edge taps dropped and renormalised).
  data::Image row(1, 8, 1);
  const uint8_t v[8] = {0, 80, 160, 240, 0, 0, 80, 80};
  for (int x = 0; x < 8; ++x) row.at(0, x) = v[x];
  const data::Image h = data::resize_bilinear(row, 1, 4);
  EXPECT_EQ(h.at(0, 0), uint8_t(std::lround((0 * 3 + 80 * 3 + 160 * 1) / 7.0)));  // left edge: taps 3,3,1
  EXPECT_EQ(h.at(0, 1), uint8_t(std::lround((80 * 1 + 160 * 3 + 240 * 3 + 0 * 1) / 8.0)));
  EXPECT_EQ(h.at(0, 2), uint8_t(std::lround((240 * 1 + 0 * 3 + 0 * 3 + 80 * 1) / 8.0)));
  // Doubling a constant image stays constant; doubling a ramp interpolates at half-pixel centres.
  EXPECT_EQ(data::resize_bilinear(data::Image(3, 3, 3, 77), 6, 6).px, data::Image(6, 6, 3, 77).px);
  data::Image ramp(1, 2, 1);
  ramp.at(0, 0) = 0, ramp.at(0, 1) = 100;
  const data::Image up = data::resize_bilinear(ramp, 1, 4);
  EXPECT_EQ(up.at(0, 0), 0);
  EXPECT_EQ(up.at(0, 1), 25);
  EXPECT_EQ(up.at(0, 2), 75);
  EXPECT_EQ(up.at(0, 3), 100);
  EXPECT_TRUE(contains(error_of([&] { data::resize_bilinear(src, 0, 3); }), "resize_bilinear"));
}
