// The elementwise family on Device::cuda() against the CPU result, forward and backward (SKIPPED without a GPU).
#include <gtest/gtest.h>

#include <cmath>

#include "kernels/elementwise/elementwise.h"
#include "tensor/context.h"
#include "tensor/cuda_backend.h"
#include "tests/support/gradcheck.h"
#include "tests/support/test_util.h"

using namespace cq;
using cq::testing::max_abs_diff;

namespace {

Context make_ctx() { return cq::testing::make_ctx(2, 3); }

// Leaf on the GPU holding t's values.
Tensor gpu_leaf(const Tensor& t) {
  Tensor g = t.detach().to(Device::cuda());
  g.set_requires_grad(true);
  return g;
}

Tensor cpu_leaf(const Tensor& t) {
  Tensor c = t.detach().clone();
  c.set_requires_grad(true);
  return c;
}

using Fn = std::function<Tensor(const std::vector<Tensor>&)>;

// Runs f on CPU and GPU copies of inputs (f64 and f32), compares outputs and input gradients.
void compare_devices(Context& ctx, const Fn& f, const std::vector<Tensor>& inputs, double tol32 = 1e-5) {
  for (DType dt : {DType::f64, DType::f32}) {
    double tol = dt == DType::f64 ? 1e-12 : tol32;
    std::vector<Tensor> c, g;
    for (const auto& t : inputs) {
      c.push_back(cpu_leaf(t.to(dt)));
      g.push_back(gpu_leaf(t.to(dt)));
    }
    Tensor yc = f(c), yg = f(g);
    ASSERT_TRUE(yg.device().is_cuda());
    EXPECT_LE(max_abs_diff(yc, yg.to(Device::cpu())), tol * (1 + max_abs_diff(yc, yc.new_zeros(yc.shape()))))
        << dtype_name(dt);
    Tensor w = ctx.randn(yc.shape(), dt);
    std::vector<Tensor> gc = cq::grad(yc, c, w);
    std::vector<Tensor> gg = cq::grad(yg, g, w.to(Device::cuda()));
    for (size_t k = 0; k < c.size(); ++k) {
      ASSERT_TRUE(gg[k].device().is_cuda());
      double scale = 1 + max_abs_diff(gc[k], gc[k].new_zeros(gc[k].shape()));
      EXPECT_LE(max_abs_diff(gc[k], gg[k].to(Device::cpu())), tol * scale) << dtype_name(dt) << " input " << k;
    }
  }
}

}  // namespace

TEST(CudaElementwise, UnaryForwardBackward) {
  CQ_REQUIRE_CUDA();
  Context ctx = make_ctx();
  Tensor x = ctx.rand({3, 37, 41}, -3, 3, DType::f64);  // odd sizes: partial blocks
  Tensor pos = ctx.rand({3, 37, 41}, 0.2, 3, DType::f64);
  auto u = [&](Tensor (*op)(const Tensor&), const Tensor& in) {
    compare_devices(ctx, [op](const std::vector<Tensor>& t) { return op(t[0]); }, {in});
    // Non-contiguous input on the device as well.
    compare_devices(ctx, [op](const std::vector<Tensor>& t) { return op(t[0].permute({2, 0, 1})); }, {in});
  };
  u(relu, x);
  u(sigmoid, x);
  u(silu, x);
  u(gelu, x);
  u(cq::exp, x);
  u(cq::log, pos);
  u(cq::sqrt, pos);
  u(rsqrt, pos);
  u(neg, x);
  u(cq::abs, x);
  compare_devices(ctx, [](const std::vector<Tensor>& t) { return clamp(t[0], -1, 0.5); }, {x});
  compare_devices(ctx, [](const std::vector<Tensor>& t) { return clamp(t[0], -INFINITY, 0.5); }, {x});
  for (double p : {2.0, 0.5, -1.5, 0.0})
    compare_devices(ctx, [p](const std::vector<Tensor>& t) { return pow_scalar(t[0], p); }, {pos});
  compare_devices(ctx, [](const std::vector<Tensor>& t) { return add_scalar(t[0], 2.5); }, {x});
  compare_devices(ctx, [](const std::vector<Tensor>& t) { return mul_scalar(t[0], -1.5); }, {x});
}

TEST(CudaElementwise, BinaryForwardBackward) {
  CQ_REQUIRE_CUDA();
  Context ctx = make_ctx();
  using B = Tensor (*)(const Tensor&, const Tensor&);
  const std::vector<std::pair<Shape, Shape>> shapes = {
      {{4, 33, 17}, {4, 33, 17}}, {{4, 33, 17}, {17}}, {{4, 33, 17}, {}}, {{4, 1, 17}, {33, 1}}, {{}, {5, 3}}};
  for (B op : {B(add), B(sub), B(mul), B(div), B(cq::pow), B(maximum), B(minimum)}) {
    for (const auto& [sa, sb] : shapes) {
      Tensor a = ctx.rand(sa, 0.3, 2, DType::f64);
      Tensor b = ctx.rand(sb, op == B(cq::pow) ? -1.5 : 0.3, 2, DType::f64);
      compare_devices(ctx, [op](const std::vector<Tensor>& t) { return op(t[0], t[1]); }, {a, b}, 1e-4);
    }
    // Non-contiguous operands.
    Tensor a = ctx.rand({17, 33}, 0.3, 2, DType::f64);
    Tensor b = ctx.rand({66}, 0.3, 2, DType::f64);
    compare_devices(
        ctx,
        [op](const std::vector<Tensor>& t) { return op(t[0].permute({1, 0}), t[1].slice(0, 1, 66, 2).unsqueeze(1)); },
        {a, b}, 1e-4);
  }
  // Ties in maximum/minimum split the gradient on the device too.
  Tensor a = ctx.from_vector(std::vector<double>{1, 2, 3}, {3}, DType::f64);
  compare_devices(ctx, [](const std::vector<Tensor>& t) { return maximum(t[0], t[1]); }, {a, a});
  compare_devices(ctx, [](const std::vector<Tensor>& t) { return minimum(t[0], t[1]); }, {a, a});
}

TEST(CudaElementwise, ComparisonsAndWhere) {
  CQ_REQUIRE_CUDA();
  Context ctx = make_ctx();
  using C = Tensor (*)(const Tensor&, const Tensor&);
  Tensor a = ctx.randint(0, 4, {5, 7});
  Tensor b = ctx.randint(0, 4, {7});
  for (C op : {C(eq), C(ne), C(lt), C(le), C(gt), C(ge)}) {
    for (DType dt : {DType::i64, DType::i32, DType::u8, DType::f32, DType::f64}) {
      Tensor ad = a.to(dt), bd = b.to(dt);
      Tensor rc = op(ad, bd);
      Tensor rg = op(ad.to(Device::cuda()), bd.to(Device::cuda()));
      EXPECT_EQ(rg.dtype(), DType::u8);
      EXPECT_EQ(rc.to_vector<uint8_t>(), rg.to_vector<uint8_t>()) << dtype_name(dt);
      // Strided operands on the device.
      Tensor rt = op(ad.to(Device::cuda()).permute({1, 0}), bd.to(Device::cuda()).unsqueeze(1));
      EXPECT_EQ(op(ad.permute({1, 0}), bd.unsqueeze(1)).to_vector<uint8_t>(), rt.to_vector<uint8_t>());
    }
  }
  Tensor cond = gt(ctx.randn({5, 1}), ctx.zeros({}));
  Tensor x = ctx.randn({5, 7}, DType::f64);
  Tensor y = ctx.randn({7}, DType::f64);
  Tensor cg = cond.to(Device::cuda());
  compare_devices(ctx, [cond, cg](const std::vector<Tensor>& t) {
    return where(t[0].device().is_cuda() ? cg : cond, t[0], t[1]);
  }, {x, y});
  Tensor i = where(cg, a.to(Device::cuda()), b.to(Device::cuda()));
  EXPECT_EQ(i.to_vector<int64_t>(), where(cond, a, b).to_vector<int64_t>());
}

TEST(CudaElementwise, LargeTensorsAndMixedDeviceError) {
  CQ_REQUIRE_CUDA();
  Context ctx = make_ctx();
  Tensor x = ctx.randn({8, 64, 96, 97});  // several million elements: grid-stride loops
  Tensor s = ctx.randn({64, 1, 1});
  Tensor xg = x.to(Device::cuda()), sg = s.to(Device::cuda());
  EXPECT_LE(max_abs_diff(gelu(mul(x, s)), gelu(mul(xg, sg)).to(Device::cpu())), 1e-5);
  try {
    add(x, sg);
    FAIL() << "expected cq::Error";
  } catch (const Error& e) {
    std::string m = e.what();
    EXPECT_NE(m.find("add"), std::string::npos) << m;
    EXPECT_NE(m.find("cuda"), std::string::npos) << m;
  }
}
