// Swin V2 parity with torchvision 0.14 and timm (shared/fixtures/swinv2_tv_tiny.safetensors,
// swinv2_timm_w16p8.safetensors), buffer recomputation, the torchvision buffer check at load time, a negative test
// and odd-size smoke tests.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <map>
#include <string>

#include "models/swinv2.h"
#include "models/swinv2_detail.h"
#include "nn/json.h"
#include "tests/support/shared.h"

using namespace cq;
using namespace cq::models;

namespace {

const char* kTv = "fixtures/swinv2_tv_tiny.safetensors";
const char* kTimm = "fixtures/swinv2_timm_w16p8.safetensors";

std::string fixture(const char* rel) { return cq::testing::shared_dir() + "/" + rel; }

// Prints and returns max|a-ref| / max|ref|.
double rel_err(const std::string& name, const Tensor& a, const Tensor& ref) {
  EXPECT_EQ(shape_str(a.shape()), shape_str(ref.shape())) << name;
  if (a.shape() != ref.shape()) return INFINITY;
  auto x = a.to_vector<double>(), r = ref.to_vector<double>();
  double err = 0, mag = 0;
  for (size_t i = 0; i < x.size(); ++i) {
    err = std::max(err, std::fabs(x[i] - r[i]));
    mag = std::max(mag, std::fabs(r[i]));
    if (std::isnan(x[i])) err = INFINITY;
  }
  double rel = err / mag;
  std::printf("  %-34s max abs err %.3e  max|ref| %.3g  rel %.3e\n", name.c_str(), err, mag, rel);
  return rel;
}

// The fixtures' model configurations (MANIFEST settings.ctor).
SwinV2Config tv_fixture_config() {
  SwinV2Config c;
  c.name = "tv_fixture";
  c.naming = SwinV2Naming::torchvision;
  c.embed_dim = 32;
  c.depths = {2, 2, 2, 2};
  c.num_heads = {1, 2, 4, 8};
  c.window_size = 8;
  c.num_classes = 10;
  c.img_size = 128;
  c.alloc = SwinV2Alloc::zeros;
  return c;
}

SwinV2Config timm_fixture_config() {
  SwinV2Config c = tv_fixture_config();
  c.name = "timm_fixture";
  c.naming = SwinV2Naming::timm;
  c.window_size = 16;
  c.pretrained_window_sizes = {8, 8, 8, 4};
  c.num_classes = 0;
  c.img_size = 256;
  return c;
}

std::map<std::string, Tensor> params_of(Context& ctx, const SafetensorsFile& f) {
  std::map<std::string, Tensor> sd;
  for (auto& e : f.entries())
    if (e.name.rfind("param/", 0) == 0) sd.emplace(e.name.substr(6), f.load(ctx, e));
  return sd;
}

// Every reference in the fixtures is checked at max|a-ref| <= 1e-4*max|ref| (MANIFEST: the reference's own
// f32-vs-f64 deviation is <= 6e-6 of max; cosine attention with logit scale up to 100 and softmax amplify rounding).
constexpr double kTol = 1e-4;

}  // namespace

TEST(SwinV2Parity, TorchvisionTiny) {
  CQ_REQUIRE_SHARED(kTv);
  Context ctx(ContextOptions{2, 0, Device::cpu()});
  auto f = SafetensorsFile::open(fixture(kTv));
  auto model = swinv2(ctx, tv_fixture_config());
  load_swinv2(*model, ctx, f, "param/");
  auto nog = ctx.no_grad();
  Tensor x = f.load(ctx, "x");
  SwinV2Output out = model->forward(x, true, true);
  std::printf("swinv2 torchvision parity (tolerance rel %.0e):\n", kTol);
  ASSERT_EQ(out.features.size(), 9u);
  for (auto& kv : out.features) EXPECT_LE(rel_err("feat/" + kv.first, kv.second, f.load(ctx, "feat/" + kv.first)), kTol);
  EXPECT_LE(rel_err("logits", out.logits, f.load(ctx, "logits")), kTol);
  EXPECT_LE(rel_err("embedding", out.embedding, f.load(ctx, "embedding")), kTol);
  // Determinism: the same input gives bit-identical output.
  SwinV2Output again = model->forward(x, true, false);
  EXPECT_EQ(again.logits.to_vector<float>(), out.logits.to_vector<float>());
}

TEST(SwinV2Parity, TimmWindow16Pretrained8) {
  CQ_REQUIRE_SHARED(kTimm);
  Context ctx(ContextOptions{2, 0, Device::cpu()});
  auto f = SafetensorsFile::open(fixture(kTimm));
  auto model = swinv2(ctx, timm_fixture_config());
  load_swinv2(*model, ctx, f, "param/");
  auto nog = ctx.no_grad();
  SwinV2Output out = model->forward(f.load(ctx, "x"), true, true);
  EXPECT_FALSE(out.logits.defined());  // no head (num_classes 0)
  std::printf("swinv2 timm parity (tolerance rel %.0e):\n", kTol);
  ASSERT_EQ(out.features.size(), 6u);
  for (auto& kv : out.features) EXPECT_LE(rel_err("feat/" + kv.first, kv.second, f.load(ctx, "feat/" + kv.first)), kTol);
  EXPECT_LE(rel_err("embedding", out.embedding, f.load(ctx, "embedding")), kTol);
}

// Each parity check can fail: one perturbed weight moves the outputs far past the tolerance.
TEST(SwinV2Parity, PerturbedWeightFails) {
  CQ_REQUIRE_SHARED(kTv);
  Context ctx(ContextOptions{2, 0, Device::cpu()});
  auto f = SafetensorsFile::open(fixture(kTv));
  auto sd = params_of(ctx, f);
  Tensor w = sd.at("features.5.1.mlp.0.weight").clone();
  {
    auto v = w.to_vector<float>();
    v[7] += 0.05f;
    w = ctx.from_vector(v, w.shape());
  }
  sd["features.5.1.mlp.0.weight"] = w;
  auto model = swinv2(ctx, tv_fixture_config());
  load_swinv2(*model, sd);
  auto nog = ctx.no_grad();
  SwinV2Output out = model->forward(f.load(ctx, "x"));
  std::printf("swinv2 negative test (one weight + 0.05; must exceed rel %.0e):\n", kTol);
  EXPECT_GT(rel_err("logits (perturbed)", out.logits, f.load(ctx, "logits")), kTol);
  EXPECT_GT(rel_err("embedding (perturbed)", out.embedding, f.load(ctx, "embedding")), kTol);
}

// timm's non-persistent relative_coords_table of block 0 of each stage, recomputed for the window each block uses at
// this input size (window shrink + pretrained-window normalisation); and the per-block window/shift plan against
// the fixture's settings.windows.
TEST(SwinV2Tables, TimmCoordsTablesAndWindows) {
  CQ_REQUIRE_SHARED(kTimm);
  Context ctx;
  auto f = SafetensorsFile::open(fixture(kTimm));
  SwinV2Config cfg = timm_fixture_config();
  const int64_t res[4] = {64, 32, 16, 8};
  for (int s = 0; s < 4; ++s) {
    auto p = swinv2_detail::plan_window(SwinV2Naming::timm, res[s], res[s], cfg.window_size, false);
    int64_t pw = cfg.pretrained_window_sizes[s];
    auto v = swinv2_detail::coords_table_values(p.wh, p.ww, pw - 1, pw - 1);
    Tensor ours = swinv2_detail::host_tensor(ctx.zeros({}), v, {1, 2 * p.wh - 1, 2 * p.ww - 1, 2});
    std::string key = "buffer/layers." + std::to_string(s) + ".blocks.0.attn.relative_coords_table";
    Tensor ref = f.load(ctx, key);
    ASSERT_EQ(shape_str(ours.shape()), shape_str(ref.shape())) << key;
    double err = 0;
    auto a = ours.to_vector<double>(), b = ref.to_vector<double>();
    for (size_t i = 0; i < a.size(); ++i) err = std::max(err, std::fabs(a[i] - b[i]));
    std::printf("  %s max abs err %.3e (tolerance abs 1e-6)\n", key.c_str(), err);
    EXPECT_LE(err, 1e-6) << key;  // MANIFEST: abs 1e-6
  }
  // settings.windows: {"layers.i.blocks.j": {"input_resolution", "window", "shift", ...}}
  json::Value settings = json::parse(f.metadata().at("settings"));
  const json::Value* windows = settings.find("windows");
  ASSERT_TRUE(windows && windows->is_object());
  int checked = 0;
  for (auto& kv : windows->as_object()) {
    int blk = kv.first.back() - '0';
    auto r = kv.second.find("input_resolution")->as_array();
    auto p = swinv2_detail::plan_window(SwinV2Naming::timm, static_cast<int64_t>(r[0].as_uint()),
                                        static_cast<int64_t>(r[1].as_uint()), cfg.window_size, blk % 2 == 1);
    auto w = kv.second.find("window")->as_array();
    auto sh = kv.second.find("shift")->as_array();
    EXPECT_EQ(p.wh, static_cast<int64_t>(w[0].as_uint())) << kv.first;
    EXPECT_EQ(p.ww, static_cast<int64_t>(w[1].as_uint())) << kv.first;
    EXPECT_EQ(p.sh, static_cast<int64_t>(sh[0].as_uint())) << kv.first;
    EXPECT_EQ(p.sw, static_cast<int64_t>(sh[1].as_uint())) << kv.first;
    ++checked;
  }
  EXPECT_EQ(checked, 8);
}

// torchvision stores relative_coords_table / relative_position_index: ours must equal them (the loader checks; here
// the figures are printed), and a corrupted one is refused at load time.
TEST(SwinV2Tables, TorchvisionBuffersCheckedOnLoad) {
  CQ_REQUIRE_SHARED(kTv);
  Context ctx;
  auto f = SafetensorsFile::open(fixture(kTv));
  auto sd = params_of(ctx, f);
  auto model = swinv2(ctx, tv_fixture_config());
  int n = 0;
  double worst = 0;
  for (auto& kv : model->named_buffers()) {
    const Tensor& ref = sd.at(kv.first);
    ASSERT_EQ(shape_str(kv.second.shape()), shape_str(ref.shape())) << kv.first;
    if (kv.second.dtype() == DType::i64) {
      EXPECT_EQ(kv.second.to_vector<int64_t>(), ref.to_vector<int64_t>()) << kv.first;  // exact
    } else {
      auto a = kv.second.to_vector<double>(), b = ref.to_vector<double>();
      for (size_t i = 0; i < a.size(); ++i) worst = std::max(worst, std::fabs(a[i] - b[i]));
    }
    ++n;
  }
  std::printf("  torchvision relative_coords_table: max abs err %.3e over %d buffers (tolerance 1e-6)\n", worst, n);
  EXPECT_EQ(n, 16);  // 8 blocks x 2 buffers
  EXPECT_LE(worst, 1e-6);

  // Corrupt one index element: refused, naming the key.
  auto bad = sd;
  Tensor idx = bad.at("features.3.1.attn.relative_position_index").clone();
  auto v = idx.to_vector<int64_t>();
  std::swap(v[100], v[101]);
  bad["features.3.1.attn.relative_position_index"] = ctx.from_vector(v, idx.shape());
  try {
    load_swinv2(*model, bad);
    ADD_FAILURE() << "corrupted relative_position_index was accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("features.3.1.attn.relative_position_index"), std::string::npos)
        << e.what();
  }
  // A coords table for another window (shape) or with a changed value: refused too.
  bad = sd;
  Tensor tab = bad.at("features.1.0.attn.relative_coords_table").clone();
  auto tv = tab.to_vector<float>();
  tv[3] += 1e-3f;
  bad["features.1.0.attn.relative_coords_table"] = ctx.from_vector(tv, tab.shape());
  EXPECT_THROW(load_swinv2(*model, bad), Error);
  bad["features.1.0.attn.relative_coords_table"] = ctx.zeros({1, 13, 13, 2});
  EXPECT_THROW(load_swinv2(*model, bad), Error);
  // The intact state dict loads.
  EXPECT_NO_THROW(load_swinv2(*model, sd));
}

// Sizes that are not multiples of the window (and odd sizes at a merge) run in both namings: torchvision pads, timm
// shrinks or pads; the shapes follow ceil(H/2) per merge.
TEST(SwinV2Smoke, OddInputSizes) {
  Context ctx(ContextOptions{2, 7, Device::cpu()});
  for (auto naming : {SwinV2Naming::torchvision, SwinV2Naming::timm}) {
    SwinV2Config c = tv_fixture_config();
    c.naming = naming;
    c.alloc = SwinV2Alloc::init;
    c.window_size = 6;
    auto model = swinv2(ctx, c);
    auto nog = ctx.no_grad();
    Tensor x = ctx.randn({2, 3, 76, 100});  // 19 x 25 tokens -> 10x13 -> 5x7 -> 3x4
    SwinV2Output out = model->forward(x, true, true);
    EXPECT_EQ(shape_str(out.embedding.shape()), "[2,256]");
    EXPECT_EQ(shape_str(out.logits.shape()), "[2,10]");
    EXPECT_EQ(shape_str(out.features.back().second.shape()), "[2,3,4,256]");
    for (float v : out.logits.to_vector<float>()) EXPECT_TRUE(std::isfinite(v));
    // Batch independence: sample 1 alone gives its row of the batched result.
    SwinV2Output one = model->forward(x.slice(0, 1, 2), true, false);
    auto a = one.embedding.to_vector<float>(), b = out.embedding.slice(0, 1, 2).to_vector<float>();
    for (size_t i = 0; i < a.size(); ++i) EXPECT_NEAR(a[i], b[i], 1e-4);
  }
}

// torchvision zeroes the k third of qkv.bias in forward: a non-zero stored k bias changes nothing (bitwise).
TEST(SwinV2Parity, TorchvisionIgnoresStoredKBias) {
  CQ_REQUIRE_SHARED(kTv);
  Context ctx(ContextOptions{2, 0, Device::cpu()});
  auto f = SafetensorsFile::open(fixture(kTv));
  auto sd = params_of(ctx, f);
  auto model = swinv2(ctx, tv_fixture_config());
  load_swinv2(*model, sd);
  auto nog = ctx.no_grad();
  Tensor x = f.load(ctx, "x");
  auto ref = model->forward(x).logits.to_vector<float>();
  const std::string key = "features.3.0.attn.qkv.bias";  // [3*64]
  auto b = sd.at(key).to_vector<float>();
  for (size_t i = 64; i < 128; ++i) b[i] = 0.5f;
  sd[key] = ctx.from_vector(b, sd.at(key).shape());
  load_swinv2(*model, sd);
  EXPECT_EQ(model->forward(x).logits.to_vector<float>(), ref);
}
