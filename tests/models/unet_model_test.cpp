// U-Net / EfficientNet-B2 structure and behaviour without fixtures: parameter counts and names, static padding,
// initialisation, input-size errors, predict_padded, drop-connect, determinism.
#include <gtest/gtest.h>

#include <cmath>
#include <set>

#include "kernels/elementwise/elementwise.h"
#include "models/unet.h"
#include "tests/support/gradcheck.h"

using namespace cq;

namespace {
std::map<std::string, Tensor> as_map(const nn::NamedTensors& t) {
  std::map<std::string, Tensor> m;
  for (auto& kv : t) m[kv.first] = kv.second;
  return m;
}
bool bit_equal(const Tensor& a, const Tensor& b) {
  return a.shape() == b.shape() && a.to_vector<float>() == b.to_vector<float>();
}
}  // namespace

TEST(UnetModel, ParameterCountsAndNames) {
  Context ctx({1, 0});
  auto m = models::unet_efficientnet_b2(ctx, 5);
  // SPEC: 10,046,871 stored, 9,548,439 used (all but encoder._conv_head / encoder._bn1) with K=5.
  EXPECT_EQ(m->num_parameters(), 10046871);
  int64_t used = 0;
  for (auto& kv : m->named_parameters())
    if (!models::UnetEfficientNetB2::is_unused_parameter(kv.first)) used += kv.second.numel();
  EXPECT_EQ(used, 9548439);
  auto sd = as_map(m->state_dict());
  EXPECT_EQ(sd.size(), 568u);  // the fixture's param/* count: smp's state_dict incl. num_batches_tracked
  const std::pair<const char*, Shape> expect[] = {
      {"encoder._conv_stem.weight", {32, 3, 3, 3}},
      {"encoder._blocks.0._depthwise_conv.weight", {32, 1, 3, 3}},
      {"encoder._blocks.3._depthwise_conv.weight", {144, 1, 3, 3}},
      {"encoder._blocks.3._bn1.running_mean", {144}},
      {"encoder._blocks.9._se_reduce.weight", {22, 528, 1, 1}},
      {"encoder._blocks.22._project_conv.weight", {352, 2112, 1, 1}},
      {"encoder._conv_head.weight", {1408, 352, 1, 1}},
      {"decoder.blocks.0.conv1.0.weight", {256, 472, 3, 3}},
      {"decoder.blocks.0.conv1.1.weight", {256}},
      {"decoder.blocks.3.conv1.0.weight", {32, 96, 3, 3}},
      {"decoder.blocks.4.conv1.0.weight", {16, 32, 3, 3}},
      {"segmentation_head.0.weight", {5, 16, 3, 3}},
      {"segmentation_head.0.bias", {5}},
  };
  for (auto& e : expect) {
    ASSERT_TRUE(sd.count(e.first)) << e.first;
    EXPECT_EQ(sd.at(e.first).shape(), e.second) << e.first;
  }
  EXPECT_FALSE(sd.count("encoder._blocks.0._expand_conv.weight"));  // expand ratio 1: no expansion conv
  EXPECT_FALSE(sd.count("decoder.blocks.0.conv1.0.bias"));          // conv before BN has no bias
  EXPECT_EQ(sd.at("encoder._blocks.0._bn1.num_batches_tracked").dtype(), DType::i64);
}

TEST(UnetModel, StaticSamePaddingFrom260) {
  Context ctx({1, 0});
  models::EfficientNetB2Encoder enc(ctx);
  auto lrtb = [](const Conv2dParams& p) { return std::array<int64_t, 4>{p.pad_l, p.pad_r, p.pad_t, p.pad_b}; };
  using A = std::array<int64_t, 4>;
  EXPECT_EQ(lrtb(enc.stem_params()), (A{0, 1, 0, 1}));
  // MANIFEST settings.static_same_padding_from_image_size_260 (stride-1 k3 pads 1, k5 pads 2).
  const std::map<int, A> strided = {{2, {0, 1, 0, 1}}, {5, {2, 2, 2, 2}}, {8, {1, 1, 1, 1}}, {16, {2, 2, 2, 2}}};
  for (size_t i = 0; i < enc.blocks().size(); ++i) {
    const auto& b = *enc.blocks()[i];
    A want = strided.count(static_cast<int>(i)) ? strided.at(static_cast<int>(i))
             : b.config().kernel == 3     ? A{1, 1, 1, 1}
                                          : A{2, 2, 2, 2};
    EXPECT_EQ(lrtb(b.depthwise_params()), want) << "block " << i;
    EXPECT_EQ(b.depthwise_params().stride_h, strided.count(static_cast<int>(i)) ? 2 : 1) << "block " << i;
  }
}

TEST(UnetModel, SmpInitialisation) {
  Context ctx({1, 7});
  auto m = models::unet_efficientnet_b2(ctx, 3);
  auto sd = as_map(m->state_dict());
  auto range = [](const Tensor& t) {
    auto v = t.to_vector<float>();
    double lo = 1e9, hi = -1e9, ss = 0;
    for (float x : v) lo = std::min(lo, double(x)), hi = std::max(hi, double(x)), ss += double(x) * x;
    return std::array<double, 3>{lo, hi, std::sqrt(ss / v.size())};
  };
  // decoder conv: kaiming_uniform fan_in relu: bound sqrt(2)*sqrt(3/fan_in), std bound/sqrt(3).
  auto r = range(sd.at("decoder.blocks.0.conv1.0.weight"));
  double b = std::sqrt(2.0) * std::sqrt(3.0 / (472 * 9));
  EXPECT_LE(r[1], b);
  EXPECT_GE(r[0], -b);
  EXPECT_NEAR(r[2], b / std::sqrt(3.0), 0.01 * b);
  // head: xavier_uniform bound sqrt(6/(fan_in+fan_out)), bias 0.
  r = range(sd.at("segmentation_head.0.weight"));
  double bx = std::sqrt(6.0 / (16 * 9 + 3 * 9));
  EXPECT_LE(r[1], bx);
  EXPECT_GT(r[1], 0.8 * bx);
  EXPECT_EQ(range(sd.at("segmentation_head.0.bias"))[2], 0.0);
  EXPECT_TRUE(cq::testing::allclose(sd.at("decoder.blocks.2.conv2.1.weight"), ctx.ones({64}), 0));
  EXPECT_TRUE(cq::testing::allclose(sd.at("decoder.blocks.2.conv2.1.bias"), ctx.zeros({64}), 0));
  // encoder conv: PyTorch default kaiming_uniform(a=sqrt(5)) -> bound 1/sqrt(fan_in).
  r = range(sd.at("encoder._conv_stem.weight"));
  EXPECT_LE(r[1], 1.0 / std::sqrt(27.0));
  EXPECT_GT(r[1], 0.8 / std::sqrt(27.0));
}

TEST(UnetModel, InputSizeErrorsAndPredictPadded) {
  Context ctx({1, 1});
  auto m = models::unet_efficientnet_b2(ctx, 4);
  m->eval();
  auto ng = ctx.no_grad();
  try {
    m->forward(ctx.randn({1, 3, 40, 64}));
    FAIL() << "40 is not a multiple of 32";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("multiples of 32"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("[1,3,40,64]"), std::string::npos) << e.what();
  }
  EXPECT_THROW(m->forward(ctx.randn({1, 1, 32, 32})), Error);
  Tensor x = ctx.randn({1, 3, 40, 50});
  Tensor y = m->predict_padded(x);
  EXPECT_EQ(y.shape(), (Shape{1, 4, 40, 50}));
  // The crop is the top-left corner of the prediction on the zero-padded 64x64 image.
  Tensor xp = ctx.zeros({1, 3, 64, 64});
  xp.slice(2, 0, 40).slice(3, 0, 50).copy_(x);
  Tensor yp = m->forward(xp);
  EXPECT_TRUE(bit_equal(y, yp.slice(2, 0, 40).slice(3, 0, 50).contiguous()));
  // Already a multiple of 32: identical to forward.
  Tensor x2 = ctx.randn({1, 3, 32, 64});
  EXPECT_TRUE(bit_equal(m->predict_padded(x2), m->forward(x2)));
  // encode works for any size (the LRIS embedding pools the deepest tap).
  auto taps = m->encode(ctx.randn({1, 3, 50, 70}));
  EXPECT_EQ(taps.back().shape(), (Shape{1, 352, 2, 3}));
}

TEST(UnetModel, DropConnectOnlyInTrainingAndOnlyWhenRateNonZero) {
  Context ctx({1, 3});
  auto m = models::unet_efficientnet_b2(ctx, 2);
  Tensor x = ctx.randn({4, 3, 32, 32});
  auto ng = ctx.no_grad();
  m->train();
  m->set_drop_connect_rate(0.0);
  Tensor a0 = m->forward(x);
  Tensor b0 = m->forward(x);  // different generator state, no drop-connect: identical
  EXPECT_TRUE(bit_equal(a0, b0));
  m->set_drop_connect_rate(0.2);
  Tensor a2 = m->forward(x);
  EXPECT_GT(cq::testing::max_abs_diff(a2, a0), 1e-3) << "rate 0.2 must drop some residual branch of some sample";
  m->eval();
  Tensor e2 = m->forward(x);
  m->set_drop_connect_rate(0.0);
  EXPECT_TRUE(bit_equal(e2, m->forward(x))) << "eval ignores drop-connect";
  EXPECT_THROW(m->set_drop_connect_rate(1.0), Error);
}

TEST(UnetModel, DeterministicAcrossRunsAndThreadCounts) {
  Tensor out[2], grad_stem[2];
  for (int t = 0; t < 2; ++t) {
    Context ctx({t + 1, 11});  // threads 1 then 2, same seed
    auto m = models::unet_efficientnet_b2(ctx, 3);
    Tensor x = ctx.randn({2, 3, 32, 32});
    m->train();  // drop-connect 0.2 on: draws come from the context's generator, so they repeat too
    Tensor y = m->forward(x);
    Tensor loss = mul(y, y);
    loss.backward(ctx.ones(loss.shape()));
    out[t] = y.detach();
    for (auto& kv : m->named_parameters())
      if (kv.first == "encoder._conv_stem.weight") grad_stem[t] = kv.second.grad();
  }
  EXPECT_TRUE(bit_equal(out[0], out[1]));
  ASSERT_TRUE(grad_stem[0].defined() && grad_stem[1].defined());
  EXPECT_TRUE(bit_equal(grad_stem[0], grad_stem[1]));
}
