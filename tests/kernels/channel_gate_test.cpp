// channel_gate (kernels/pool/channel_gate.h), the squeeze-excitation gate as one op: float64 gradient check, the
// same forward bits as mul(x, sigmoid(s)) and a gradient within float rounding of the composition's, thread
// invariance on a size that runs in parallel, and argument errors.
#include "kernels/pool/channel_gate.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <vector>

#include "kernels/elementwise/elementwise.h"
#include "tensor/context.h"
#include "tests/support/gradcheck.h"
#include "tests/support/test_util.h"

using namespace cq;

namespace {
Context make_ctx(int threads = 1) { return cq::testing::make_ctx(threads, 31); }
}  // namespace

TEST(GradCheck, channel_gate) {
  Context ctx = make_ctx();
  Tensor x = ctx.randn({2, 3, 4, 5}, DType::f64).set_requires_grad();
  Tensor s = ctx.randn({2, 3, 1, 1}, DType::f64).set_requires_grad();
  EXPECT_TRUE(cq::testing::gradcheck(
      ctx, [](const std::vector<Tensor>& in) { return channel_gate(in[0], in[1]); }, {x, s}));
}

TEST(ChannelGate, MatchesMulSigmoid) {
  Context ctx = make_ctx(2);
  Tensor x0 = ctx.randn({2, 24, 17, 19}), s0 = ctx.randn({2, 24, 1, 1}), g = ctx.randn({2, 24, 17, 19});
  Tensor x1 = x0.detach().set_requires_grad(), s1 = s0.detach().set_requires_grad();
  Tensor x2 = x0.detach().set_requires_grad(), s2 = s0.detach().set_requires_grad();
  Tensor fused = channel_gate(x1, s1), composed = mul(x2, sigmoid(s2));
  EXPECT_EQ(fused.to_vector<float>(), composed.to_vector<float>());
  fused.backward(g);
  composed.backward(g);
  EXPECT_EQ(x1.grad().to_vector<float>(), x2.grad().to_vector<float>());
  std::vector<float> a = s1.grad().to_vector<float>(), b = s2.grad().to_vector<float>();
  float m = 0;
  for (float v : b) m = std::max(m, std::fabs(v));
  for (size_t i = 0; i < a.size(); ++i) EXPECT_NEAR(a[i], b[i], 1e-6f * m) << i;
}

TEST(ChannelGate, ThreadCountInvariant) {
  std::vector<std::vector<float>> runs;
  for (int threads : {1, 2, 3}) {
    Context ctx = make_ctx(threads);
    Tensor x = ctx.randn({2, 32, 40, 40}).set_requires_grad(), s = ctx.randn({2, 32, 1, 1}).set_requires_grad();
    Tensor y = channel_gate(x, s);
    y.backward(ctx.randn(y.shape()));
    std::vector<float> v = y.to_vector<float>();
    for (Tensor t : {x.grad(), s.grad()})
      for (float e : t.to_vector<float>()) v.push_back(e);
    runs.push_back(v);
  }
  for (size_t k = 1; k < runs.size(); ++k) EXPECT_TRUE(runs[0] == runs[k]) << (k + 1) << " threads";
}

TEST(ChannelGate, Errors) {
  Context ctx = make_ctx();
  Tensor x = ctx.randn({2, 3, 4, 5});
  EXPECT_THROW(channel_gate(x, ctx.randn({2, 3})), Error);
  EXPECT_THROW(channel_gate(x, ctx.randn({2, 4, 1, 1})), Error);
  EXPECT_THROW(channel_gate(x, ctx.randn({2, 3, 1, 1}, DType::f64)), Error);
  EXPECT_THROW(channel_gate(ctx.randn({3, 4, 5}), ctx.randn({3, 4, 1, 1})), Error);
}
