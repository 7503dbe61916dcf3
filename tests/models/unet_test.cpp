// Parity of the smp U-Net / EfficientNet-B2 with shared/fixtures/unet_effb2.safetensors (smp 0.3.3 +
// efficientnet_pytorch 0.7.1, PyTorch 1.13, x [2,3,64,96]). Tolerances are the MANIFEST's, restated at each check.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>

#include "kernels/elementwise/elementwise.h"
#include "models/unet.h"
#include "nn/safetensors.h"
#include "tests/support/gradcheck.h"
#include "tests/support/shared.h"

using namespace cq;

namespace {
const char* kFixture = "fixtures/unet_effb2.safetensors";

struct Loaded {
  SafetensorsFile file;
  std::shared_ptr<models::UnetEfficientNetB2> model;
};

Loaded load_fixture(Context& ctx) {
  auto f = SafetensorsFile::open(cq::testing::shared_dir() + "/" + kFixture);
  auto model = models::unet_efficientnet_b2(ctx, 5);
  std::map<std::string, Tensor> sd;
  for (const auto& e : f.entries())
    if (e.name.rfind("param/", 0) == 0) sd[e.name.substr(6)] = f.load(ctx, e);
  model->load_state_dict(sd, /*strict=*/true);  // every smp name present and used, shapes equal
  return {std::move(f), model};
}

// max|a-ref| and max|a-ref|/max|ref|, printed so the figures appear in the test log.
struct Err {
  double abs, ref_max, rel;
};
Err compare(const char* what, const Tensor& a, const Tensor& ref) {
  EXPECT_EQ(a.shape(), ref.shape()) << what;
  double m = 0;
  for (float v : ref.to_vector<float>()) m = std::max(m, std::fabs(static_cast<double>(v)));
  double d = cq::testing::max_abs_diff(a, ref);
  std::printf("  %-44s max_abs %.3e  max|ref| %.3e  rel %.3e\n", what, d, m, d / m);
  return {d, m, d / m};
}
}  // namespace

TEST(UnetFixture, EvalLogitsFeaturesAndDecoder) {
  CQ_REQUIRE_SHARED(kFixture);
  Context ctx({1, 0});
  auto L = load_fixture(ctx);
  L.model->eval();
  Tensor x = L.file.load(ctx, "x");
  auto ng = ctx.no_grad();
  auto taps = L.model->encode(x);
  ASSERT_EQ(taps.size(), 6u);
  // Tolerance (MANIFEST eval/*): max|a-ref| <= 1e-4*max|ref|; the reference's own f32 error is ~1e-6 of max, the
  // rest is room for a different convolution / summation order.
  for (int i = 1; i <= 5; ++i) {
    std::string name = "eval/enc_feat" + std::to_string(i);
    Err e = compare(name.c_str(), taps[static_cast<size_t>(i)], L.file.load(ctx, name));
    EXPECT_LE(e.abs, 1e-4 * e.ref_max) << name;
  }
  Tensor dec = L.model->decode(taps);
  Err ed = compare("eval/decoder_out", dec, L.file.load(ctx, "eval/decoder_out"));
  EXPECT_LE(ed.abs, 1e-4 * ed.ref_max);
  Tensor logits = L.model->head(dec);
  Err el = compare("eval/logits", logits, L.file.load(ctx, "eval/logits"));
  EXPECT_LE(el.abs, 1e-4 * el.ref_max);
  // forward() is the same composition.
  EXPECT_EQ(cq::testing::max_abs_diff(L.model->forward(x), logits), 0.0);
}

TEST(UnetFixture, TrainLogitsAndRunningStats) {
  CQ_REQUIRE_SHARED(kFixture);
  Context ctx({1, 0});
  auto L = load_fixture(ctx);
  L.model->train();
  L.model->set_drop_connect_rate(0.0);  // the fixture disables drop-connect
  Tensor x = L.file.load(ctx, "x");
  auto ng = ctx.no_grad();
  Tensor logits = L.model->forward(x);
  // Tolerance (MANIFEST train/logits): 1e-3*max|ref|: batch statistics over as few as 12 values per channel at
  // 1/32 scale amplify rounding (reference f32-vs-f64 ~2e-5 of max).
  Err e = compare("train/logits", logits, L.file.load(ctx, "train/logits"));
  EXPECT_LE(e.abs, 1e-3 * e.ref_max);
  // after_train/* are read after the ONE train forward (before Adam): BN running stats with momentum 0.01 (encoder)
  // and 0.1 (decoder), unbiased batch variance. Tolerance: abs 1e-5 + rel 1e-5 per element.
  std::map<std::string, Tensor> sd;
  for (auto& kv : L.model->state_dict()) sd[kv.first] = kv.second;
  for (const char* name : {"decoder.blocks.0.conv1.1.running_mean", "decoder.blocks.0.conv1.1.running_var",
                           "encoder._blocks.5._bn1.running_mean", "encoder._blocks.5._bn1.running_var"}) {
    std::string key = std::string("after_train/") + name;
    Tensor ref = L.file.load(ctx, key);
    compare(key.c_str(), sd.at(name), ref);
    auto a = sd.at(name).to_vector<float>();
    auto r = ref.to_vector<float>();
    ASSERT_EQ(a.size(), r.size());
    for (size_t i = 0; i < a.size(); ++i)
      ASSERT_LE(std::fabs(a[i] - r[i]), 1e-5 + 1e-5 * std::fabs(r[i])) << key << "[" << i << "]";
  }
  EXPECT_EQ(sd.at("encoder._blocks.5._bn1.num_batches_tracked").item(), 1.0);
}

// The parity checks above must be able to fail: one perturbed weight moves eval/logits outside the tolerance.
TEST(UnetFixture, NegativePerturbedWeightFailsParity) {
  CQ_REQUIRE_SHARED(kFixture);
  Context ctx({1, 0});
  auto L = load_fixture(ctx);
  L.model->eval();
  {
    auto ng = ctx.no_grad();
    for (auto& kv : L.model->named_parameters())
      if (kv.first == "encoder._blocks.5._depthwise_conv.weight") {
        Tensor w = kv.second.detach();
        Tensor one = w.slice(0, 0, 1).slice(2, 2, 3).slice(3, 2, 3);  // the centre tap of channel 0
        one.copy_(add_scalar(one.contiguous(), 0.5));
      }
  }
  Tensor x = L.file.load(ctx, "x");
  auto ng = ctx.no_grad();
  Err e = compare("eval/logits (perturbed weight)", L.model->forward(x), L.file.load(ctx, "eval/logits"));
  EXPECT_GT(e.abs, 1e-4 * e.ref_max) << "a perturbed weight must break eval/logits parity";
}
