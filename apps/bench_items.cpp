#include "apps/bench_items.h"

#include <chrono>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <memory>

#include "data/image_io.h"
#include "data/resize.h"
#include "losses/losses.h"
#include "models/registry.h"
#include "models/swinv2.h"
#include "nn/adam.h"
#include "pipeline/dcin.h"
#include "pipeline/dcin_model.h"
#include "pipeline/embedders.h"
#include "tensor/context.h"
#include "tensor/error.h"

namespace cq::apps::bench {
namespace {
namespace fs = std::filesystem;

constexpr const char* kUnet = "unet_efficientnet_b2";

Context make_ctx(int threads) {
  ContextOptions o;
  o.threads = threads;
  o.seed = 0;
  return Context(o);
}

// Times `step` after `warmup` untimed calls.
ItemResult time_reps(Context& ctx, const ItemOptions& o, const std::function<void()>& step) {
  for (int i = 0; i < o.warmup; ++i) step();
  ItemResult r;
  for (int i = 0; i < o.reps; ++i) {
    const auto t0 = std::chrono::steady_clock::now();
    step();
    r.ms.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
  }
  r.alloc_peak_mib = double(ctx.memory().peak) / (1 << 20);
  return r;
}

// A smooth colourful test image with noise (as bench/peers/torch_dcin.py's synth, not bit-identical).
data::Image synth_image(int seed, int h, int w) {
  Rng rng(uint64_t(seed) + 1);
  data::Image im(h, w, 3);
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x) {
      const double base[3] = {128 + 100 * std::sin(x / 50.0 + seed), 128 + 90 * std::cos(y / 40.0),
                              128 + 80 * std::sin((x + y) / 70.0)};
      for (int c = 0; c < 3; ++c)
        im.at(y, x, c) = uint8_t(std::min(255.0, std::max(0.0, base[c] + rng.normal() * 20)));
    }
  return im;
}

// Forward + DC (or CQG) loss + backward + Adam, as pipeline/trainer.cpp's step; batch 2, K = 5.
ItemResult train_step(const ItemOptions& o, bool cqg) {
  const Sizes s = item_sizes(o.quick);
  Context ctx = make_ctx(o.threads);
  auto model = models::make_model(ctx, kUnet, 5);
  model->train();
  nn::Adam adam(model->named_parameters());
  const Tensor x1 = ctx.randn({2, 3, s.train_h, s.train_w});
  const Tensor x2 = ctx.randn({2, 3, s.train_h, s.train_w});
  const Tensor y = ctx.randint(0, 5, {2, s.train_h, s.train_w});
  return time_reps(ctx, o, [&] {
    adam.zero_grad();
    Tensor loss = cqg ? losses::cqg_loss(y, model->forward(x1), model->forward(x2)).total
                      : losses::dc_loss(model->forward(x1), y);
    CQ_CHECK(std::isfinite(loss.item()), "bench: non-finite training loss");
    loss.backward();
    adam.step();
  });
}

ItemResult unet_eval(const ItemOptions& o) {
  const Sizes s = item_sizes(o.quick);
  Context ctx = make_ctx(o.threads);
  auto model = models::make_model(ctx, kUnet, 5);
  model->eval();
  const Tensor x = ctx.randn({1, 3, s.eval_h, s.eval_w});
  auto ng = ctx.no_grad();
  return time_reps(ctx, o, [&] { model->forward(x); });
}

ItemResult swin_embed(const ItemOptions& o) {
  const Sizes s = item_sizes(o.quick);
  Context ctx = make_ctx(o.threads);
  auto model = models::swinv2(ctx, models::swinv2_preset("swin_v2_t"));
  model->eval();
  const Tensor x = ctx.randn({1, 3, s.swin, s.swin});
  auto ng = ctx.no_grad();
  return time_reps(ctx, o, [&] { model->embed(x); });
}

// A temporary folder removed on scope exit (the LRIS bank's reference images live on disk, as in real use).
struct TempDir {
  std::string path;
  TempDir() {
    std::string tmpl = (fs::temp_directory_path() / "cqseg-bench-XXXXXX").string();
    CQ_CHECK(::mkdtemp(tmpl.data()) != nullptr, "bench: cannot create a temporary folder in ",
             fs::temp_directory_path().string());
    path = tmpl;
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
};

// Full DCIN on one image: GRIS transfer + predict, LRIS embed + query + transfer + predict, logit average, class map
// at the image's size (pipeline::run_dcin as `cqseg segment --dcin full` runs it). Random U-Net (K = 2) as the model
// and its own encoder as the LRIS embedder, over a bank of synthetic images; the LRIS statistics cache is warm.
ItemResult dcin_full(const ItemOptions& o) {
  const Sizes s = item_sizes(o.quick);
  Context ctx = make_ctx(o.threads);
  auto sm = std::make_shared<pipeline::SegModel>();
  sm->cfg.height = s.dcin_h, sm->cfg.width = s.dcin_w, sm->cfg.classes = 2;
  sm->cfg.model = kUnet;
  sm->mode = "base";
  sm->sha256 = std::string(64, '0');
  sm->net = models::make_model(ctx, kUnet, 2);
  sm->net->eval();
  TempDir tmp;
  std::vector<std::string> files;
  for (int i = 0; i < s.bank; ++i) {
    files.push_back(tmp.path + "/bank_" + std::to_string(i) + ".png");
    data::write_png(files.back(), synth_image(200 + i, s.img_h, s.img_w));
  }
  auto emb = std::make_shared<const pipeline::ImageEmbedder>(pipeline::unet_embedder(sm));
  auto bank = std::make_shared<const dcin::RefBank>(pipeline::build_bank(ctx, *emb, files, nullptr));
  pipeline::DcinReferences refs;
  refs.gris = dcin::color_stats(pipeline::image_to_hwc(ctx, synth_image(100, s.img_h, s.img_w)), refs.transfer);
  refs.set_bank(bank, emb);
  const data::Image img = synth_image(1, s.img_h, s.img_w);
  const std::vector<pipeline::DcinMode> modes = {pipeline::DcinMode::full};
  ItemOptions ow = o;
  ow.warmup = std::max(1, o.warmup);  // the first run fills the LRIS statistics cache
  return time_reps(ctx, ow, [&] {
    pipeline::DcinImageResult r = pipeline::run_dcin(ctx, *sm, refs, img, modes);
    const data::Image cls = data::resize_nearest(pipeline::argmax_mask(r.logits.at(pipeline::DcinMode::full)),
                                                 img.h, img.w);
    CQ_CHECK(cls.h == img.h, "bench: class map size");
  });
}

}  // namespace

Sizes item_sizes(bool quick) {
  if (quick) return {64, 64, 128, 192, 256, 128, 192, 146, 141, 2};
  return {256, 256, 512, 768, 256, 512, 768, 584, 565, 4};
}

const std::vector<std::string>& item_names() {
  static const std::vector<std::string> names = {"unet_train_base", "unet_train_cqg", "unet_eval", "swin_embed",
                                                 "dcin_full"};
  return names;
}

std::string item_description(const std::string& name, bool quick) {
  const Sizes s = item_sizes(quick);
  auto hw = [](int h, int w) { return std::to_string(h) + "x" + std::to_string(w); };
  if (name == "unet_train_base")
    return "U-Net EffB2 train step (fwd+DC loss+bwd+Adam), batch 2, " + hw(s.train_h, s.train_w) + ", K=5";
  if (name == "unet_train_cqg")
    return "U-Net EffB2 CQG train step (2 fwd, CQG loss, bwd, Adam), batch 2, " + hw(s.train_h, s.train_w) + ", K=5";
  if (name == "unet_eval") return "U-Net EffB2 inference, 1x3x" + hw(s.eval_h, s.eval_w) + ", K=5";
  if (name == "swin_embed") return "Swin-V2-T embedding, 1x3x" + hw(s.swin, s.swin);
  if (name == "dcin_full")
    return "full DCIN (GRIS+LRIS+ensemble) on one " + hw(s.img_h, s.img_w) + " image, model " +
           hw(s.dcin_h, s.dcin_w) + ", bank " + std::to_string(s.bank);
  fail("bench: unknown item '", name, "'");
}

ItemResult run_item(const std::string& name, const ItemOptions& o) {
  if (name == "unet_train_base") return train_step(o, false);
  if (name == "unet_train_cqg") return train_step(o, true);
  if (name == "unet_eval") return unet_eval(o);
  if (name == "swin_embed") return swin_embed(o);
  if (name == "dcin_full") return dcin_full(o);
  fail("bench: unknown item '", name, "'");
}

}  // namespace cq::apps::bench
