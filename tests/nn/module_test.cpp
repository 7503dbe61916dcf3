// nn::Module (names, state dicts, modes, device moves) and the layers (Conv2d, BatchNorm2d, Linear, LayerNorm,
// activations, Dropout, drop_path, squeeze_excite, Sequential) and initialisers.
#include "nn/module.h"

#include <gtest/gtest.h>

#include <cmath>

#include "nn/init.h"
#include "kernels/elementwise/elementwise.h"
#include "nn/layers.h"
#include "tests/support/gradcheck.h"
#include "tests/support/test_util.h"

using namespace cq;
using cq::testing::allclose;
using cq::testing::contains;
using cq::testing::error_of;

namespace {
// A two-level module: conv "0" and BN "1" inside a Sequential "body", plus a head Linear.
class Net : public nn::Module {
 public:
  explicit Net(Context& ctx) {
    body = register_module("body", std::make_shared<nn::Sequential>());
    Conv2dParams p;
    p.pad_l = p.pad_r = p.pad_t = p.pad_b = 1;
    body->add(std::make_shared<nn::Conv2d>(ctx, 3, 4, 3, 3, p, false));
    body->add(std::make_shared<nn::BatchNorm2d>(ctx, 4));
    head = register_module("head", std::make_shared<nn::Linear>(ctx, 4, 2));
  }
  std::shared_ptr<nn::Sequential> body;
  std::shared_ptr<nn::Linear> head;
};
}  // namespace

TEST(Module, NamesFollowPyTorch) {
  Context ctx = cq::testing::make_ctx();
  Net net(ctx);
  std::vector<std::string> names;
  for (auto& kv : net.state_dict()) names.push_back(kv.first);
  EXPECT_EQ(names, (std::vector<std::string>{"body.0.weight", "body.1.weight", "body.1.bias", "head.weight",
                                             "head.bias", "body.1.running_mean", "body.1.running_var",
                                             "body.1.num_batches_tracked"}));
  EXPECT_EQ(net.num_parameters(), 4 * 3 * 9 + 4 + 4 + 8 + 2);
  for (auto& p : net.parameters()) EXPECT_TRUE(p.requires_grad());
}

TEST(Module, LoadStateDictStrictAndNonStrict) {
  Context ctx = cq::testing::make_ctx();
  Net a(ctx), b(ctx);
  std::map<std::string, Tensor> sd;
  for (auto& kv : a.state_dict()) sd[kv.first] = kv.second;
  b.load_state_dict(sd);
  EXPECT_EQ(cq::testing::max_abs_diff(a.head->weight, b.head->weight), 0.0);
  EXPECT_NE(a.head->weight.storage(), b.head->weight.storage());  // values copied, handles kept
  sd["extra.weight"] = ctx.zeros({1});
  sd.erase("head.bias");
  std::string e = error_of([&] { b.load_state_dict(sd, true); });
  EXPECT_TRUE(contains(e, "missing: head.bias")) << e;
  EXPECT_TRUE(contains(e, "unexpected: extra.weight")) << e;
  nn::LoadReport r = b.load_state_dict(sd, false);
  EXPECT_EQ(r.missing, std::vector<std::string>{"head.bias"});
  EXPECT_EQ(r.unexpected, std::vector<std::string>{"extra.weight"});
  sd["head.bias"] = ctx.zeros({3});
  e = error_of([&] { b.load_state_dict(sd, false); });
  EXPECT_TRUE(contains(e, "'head.bias' has shape [3]")) << e;
}

TEST(Module, TrainEvalPropagatesAndBatchNormFollows) {
  Context ctx = cq::testing::make_ctx();
  Net net(ctx);
  auto& bn = static_cast<nn::BatchNorm2d&>(net.body->at(1));
  Tensor x = ctx.randn({2, 3, 4, 4});
  net.body->forward(x);
  EXPECT_EQ(bn.num_batches_tracked.item(), 1);
  EXPECT_GT(cq::testing::max_abs_diff(bn.running_mean, ctx.zeros({4})), 0.0);
  net.eval();
  EXPECT_FALSE(bn.is_training());
  Tensor rm = bn.running_mean.clone();
  net.body->forward(x);
  EXPECT_EQ(cq::testing::max_abs_diff(bn.running_mean, rm), 0.0);  // eval leaves running stats alone
  EXPECT_EQ(bn.num_batches_tracked.item(), 1);
}

TEST(Module, ToFloat64ConvertsInPlaceAndKeepsCounters) {
  Context ctx = cq::testing::make_ctx();
  Net net(ctx);
  auto& bn = static_cast<nn::BatchNorm2d&>(net.body->at(1));
  Tensor x = ctx.randn({2, 3, 4, 4});
  Tensor y32 = net.body->forward(x);
  net.to(DType::f64);
  for (auto& kv : net.state_dict())
    EXPECT_EQ(kv.second.dtype(), kv.first.find("num_batches_tracked") == std::string::npos ? DType::f64 : DType::i64)
        << kv.first;
  EXPECT_EQ(bn.running_mean.dtype(), DType::f64);  // the layer's own handle sees the conversion
  Tensor y64 = net.body->forward(x.to(DType::f64));
  EXPECT_EQ(y64.dtype(), DType::f64);
  EXPECT_LT(cq::testing::max_abs_diff(y64, y32.to(DType::f64)), 1e-4);
  net.to(DType::f32);
  EXPECT_EQ(bn.running_mean.dtype(), DType::f32);
  EXPECT_NE(cq::testing::error_of([&] { net.to(DType::i32); }).find("only f32 and f64"), std::string::npos);
}

TEST(Layers, LinearMatchesHandComputed) {
  Context ctx = cq::testing::make_ctx();
  nn::Linear lin(ctx, 3, 2);
  {
    auto ng = ctx.no_grad();
    lin.weight.copy_(ctx.from_vector(std::vector<double>{1, 2, 3, -1, 0, 1}, {2, 3}));
    lin.bias.copy_(ctx.from_vector(std::vector<double>{0.5, -0.5}, {2}));
  }
  Tensor y = lin(ctx.from_vector(std::vector<double>{1, 1, 1, 2, 0, -1}, {1, 2, 3}));
  EXPECT_EQ(y.shape(), (Shape{1, 2, 2}));
  EXPECT_TRUE(allclose(y, {6.5, -0.5, -0.5, -3.5}));
  EXPECT_TRUE(contains(error_of([&] { lin(ctx.zeros({2, 4})); }), "Linear: input f32[2,4] cpu"));
}

TEST(Layers, LayerNormAndActivations) {
  Context ctx = cq::testing::make_ctx();
  nn::LayerNorm ln(ctx, 4);
  Tensor y = ln(ctx.from_vector(std::vector<double>{1, 2, 3, 4}, {1, 4}));
  double s = std::sqrt(1.25 + 1e-5);
  EXPECT_TRUE(allclose(y, {-1.5 / s, -0.5 / s, 0.5 / s, 1.5 / s}, 1e-5));
  Tensor x = ctx.from_vector(std::vector<double>{-1, 0, 2}, {3});
  EXPECT_TRUE(allclose(nn::Activation("relu")(x), {0, 0, 2}));
  EXPECT_TRUE(allclose(nn::Activation("swish")(x), {-1 / (1 + std::exp(1.0)), 0, 2 / (1 + std::exp(-2.0))}, 1e-6));
  EXPECT_TRUE(contains(error_of([] { nn::Activation("tanhh"); }), "unknown activation 'tanhh'"));
}

TEST(Layers, DropoutAndDropPath) {
  Context ctx = cq::testing::make_ctx(1, 3);
  nn::Dropout d(ctx, 0.5);
  Tensor x = ctx.ones({1000});
  std::vector<float> y = d(x).to_vector<float>();
  int zeros = 0;
  for (float v : y) {
    EXPECT_TRUE(v == 0.0f || v == 2.0f);
    zeros += v == 0.0f;
  }
  EXPECT_GT(zeros, 400);
  EXPECT_LT(zeros, 600);
  d.eval();
  EXPECT_TRUE(d(x).same(x));
  // drop_path drops whole samples: each sample is all 0 or all 1/(1-p).
  Tensor h = ctx.ones({64, 3, 2, 2});
  std::vector<float> v = nn::drop_path(ctx, h, 0.25, true).to_vector<float>();
  for (int n = 0; n < 64; ++n)
    for (int i = 1; i < 12; ++i) EXPECT_EQ(v[n * 12 + i], v[n * 12]);
  EXPECT_TRUE(nn::drop_path(ctx, h, 0.25, false).same(h));
}

TEST(Layers, SqueezeExciteGate) {
  Context ctx = cq::testing::make_ctx();
  Conv2dParams p;
  nn::Conv2d red(ctx, 4, 1, 1, 1, p, true), exp(ctx, 1, 4, 1, 1, p, true);
  {
    auto ng = ctx.no_grad();
    red.weight.fill_(0.0);
    red.bias.fill_(0.0);
    exp.weight.fill_(0.0);
    exp.bias.fill_(0.0);  // gate = sigmoid(0) = 0.5
  }
  Tensor x = ctx.randn({2, 4, 3, 3});
  EXPECT_LE(cq::testing::max_abs_diff(nn::squeeze_excite(x, red, exp), mul_scalar(x, 0.5)), 1e-7);
}

TEST(Init, BoundsFollowPyTorchFormulas) {
  Context ctx = cq::testing::make_ctx();
  Tensor w = ctx.zeros({64, 32, 3, 3});
  EXPECT_EQ(nn::init::fan_in(w), 288);
  EXPECT_EQ(nn::init::fan_out(w), 576);
  auto max_abs = [](const Tensor& t) {
    double m = 0;
    for (double v : t.to_vector<double>()) m = std::max(m, std::fabs(v));
    return m;
  };
  nn::init::kaiming_uniform_(ctx, w);  // relu gain: sqrt(6 / fan_in)
  double b = std::sqrt(6.0 / 288);
  EXPECT_LE(max_abs(w), b);
  EXPECT_GT(max_abs(w), 0.95 * b);
  nn::init::xavier_uniform_(ctx, w);  // sqrt(6 / (fan_in + fan_out))
  b = std::sqrt(6.0 / (288 + 576));
  EXPECT_LE(max_abs(w), b);
  EXPECT_GT(max_abs(w), 0.95 * b);
  Tensor bias = ctx.zeros({64});
  nn::init::torch_default_(ctx, w, &bias);  // weight bound 1/sqrt(fan_in) (kaiming a=sqrt(5)), bias too
  EXPECT_LE(max_abs(w), 1 / std::sqrt(288.0));
  EXPECT_LE(max_abs(bias), 1 / std::sqrt(288.0));
  EXPECT_GT(max_abs(bias), 0.8 / std::sqrt(288.0));
}

// The fused inference path of Conv -> BatchNorm(-> act) (conv2d_scale_shift_act) against the two ops, for each
// activation, a bias, stride 2 with asymmetric padding and a 1x1 conv; training mode and grad mode use the two ops.
TEST(Layers, ConvBnForwardFusedMatchesTwoOps) {
  Context ctx = cq::testing::make_ctx(2, 4);
  struct C {
    int64_t cin, cout, k, stride, pad_lo, pad_hi;
    bool bias;
    NormAct act;
  } cases[] = {{5, 7, 3, 1, 1, 1, false, NormAct::relu},
               {6, 9, 3, 2, 0, 1, true, NormAct::silu},
               {16, 24, 1, 1, 0, 0, false, NormAct::identity},
               {3, 32, 3, 2, 1, 1, false, NormAct::silu},
               // the direct kernel's fused epilogue after input channels summed in chunks
               {40, 16, 3, 1, 1, 1, true, NormAct::relu},
               {40, 9, 3, 1, 1, 1, false, NormAct::silu}};
  for (const C& c : cases) {
    Conv2dParams p;
    p.stride_h = p.stride_w = c.stride;
    p.pad_t = p.pad_l = c.pad_lo;
    p.pad_b = p.pad_r = c.pad_hi;
    nn::Conv2d conv(ctx, c.cin, c.cout, c.k, c.k, p, c.bias);
    nn::BatchNorm2d bn(ctx, c.cout, 1e-3, 0.01, c.act);
    {
      auto ng = ctx.no_grad();
      bn.running_mean.copy_(ctx.randn({c.cout}));
      bn.running_var.copy_(ctx.rand({c.cout}, 0.5, 2.0));
      bn.weight.copy_(ctx.rand({c.cout}, 0.5, 1.5));
      bn.bias.copy_(ctx.randn({c.cout}));
    }
    bn.eval();
    Tensor x = ctx.randn({2, c.cin, 19, c.stride == 1 && c.k > 1 ? 64 : 23});  // 64 wide: the direct kernel
    Tensor two_ops, fused;
    {
      auto ng = ctx.no_grad();
      two_ops = bn.forward(conv.forward(x));
      fused = nn::conv_bn_forward(conv, bn, x);
    }
    ASSERT_EQ(fused.shape(), two_ops.shape());
    double m = 0;
    for (double v : two_ops.to_vector<double>()) m = std::max(m, std::fabs(v));
    EXPECT_LT(cq::testing::max_abs_diff(fused, two_ops), 2e-6 * m) << "cin " << c.cin << " k " << c.k;
    // With a skip connection added in the same pass (GEMM epilogue; a separate pass after the direct kernel).
    {
      auto ng = ctx.no_grad();
      Tensor r = ctx.randn(two_ops.shape());
      Tensor with_skip = nn::conv_bn_forward(conv, bn, x, r);
      EXPECT_LT(cq::testing::max_abs_diff(with_skip, add(two_ops, r)), 2e-6 * (m + 5.0)) << "residual, cin " << c.cin;
    }
    // With gradients wanted it is the two ops (a graph exists).
    Tensor xg = x.detach().set_requires_grad();
    Tensor y = nn::conv_bn_forward(conv, bn, xg);
    EXPECT_TRUE(y.requires_grad());
  }
  // The op itself refuses inputs that need a gradient.
  Conv2dParams p;
  Tensor w = ctx.randn({4, 3, 1, 1}).set_requires_grad();
  EXPECT_NE(cq::testing::error_of([&] {
              conv2d_scale_shift_act(ctx.randn({1, 3, 4, 4}), w, ctx.ones({4}), ctx.zeros({4}), 0, p);
            }).find("inference only"),
            std::string::npos);
}
