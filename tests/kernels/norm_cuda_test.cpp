// GPU runs of the norm ops against the CPU reference (SKIPPED without a CUDA device).
#include <gtest/gtest.h>

#include "kernels/norm/norm.h"
#include "tensor/context.h"
#include "tensor/cuda_backend.h"
#include "tests/support/gradcheck.h"
#include "tests/support/test_util.h"

using namespace cq;
using cq::testing::allclose;

namespace {
Context make_ctx() { return cq::testing::make_ctx(1, 11); }

// A fresh leaf on dev with t's values.
Tensor leaf_on(const Tensor& t, Device dev, bool requires_grad) {
  Tensor c = t.detach().clone().to(dev).detach();
  if (requires_grad) c.set_requires_grad();
  return c;
}

struct NormRun {
  std::vector<Tensor> outs;  // output, gradients, then running stats (all on the CPU)
};

NormRun run_bn(const std::vector<Tensor>& in, Device dev, bool training) {
  // in: x, weight, bias, running_mean, running_var, g
  Tensor x = leaf_on(in[0], dev, true), w = leaf_on(in[1], dev, true), b = leaf_on(in[2], dev, true);
  Tensor rm = leaf_on(in[3], dev, false), rv = leaf_on(in[4], dev, false), g = leaf_on(in[5], dev, false);
  Tensor y = batch_norm(x, w, b, rm, rv, training, 0.1, 1e-5);
  NormRun r;
  r.outs.push_back(y.to(Device::cpu()));
  for (const Tensor& t : cq::grad(y, {x, w, b}, g)) r.outs.push_back(t.to(Device::cpu()));
  r.outs.push_back(rm.to(Device::cpu()));
  r.outs.push_back(rv.to(Device::cpu()));
  return r;
}
}  // namespace

TEST(CudaNorm, BatchNormTrainAndEvalMatchCpu) {
  CQ_REQUIRE_CUDA();
  Context ctx = make_ctx();
  for (DType dt : {DType::f32, DType::f64}) {
    for (bool training : {true, false}) {
      std::vector<Tensor> in = {ctx.randn({3, 5, 7, 9}, dt), ctx.randn({5}, dt),          ctx.randn({5}, dt),
                                ctx.randn({5}, dt),          ctx.rand({5}, 0.5, 2.0, dt), ctx.randn({3, 5, 7, 9}, dt)};
      NormRun cpu = run_bn(in, Device::cpu(), training), gpu = run_bn(in, Device::cuda(), training);
      const double tol = dt == DType::f32 ? 1e-4 : 1e-10;
      for (size_t i = 0; i < cpu.outs.size(); ++i)
        EXPECT_TRUE(allclose(gpu.outs[i], cpu.outs[i], tol)) << "output " << i << " training " << training;
    }
  }
  // Non-contiguous GPU input, no affine parameters, no running stats.
  Tensor x = ctx.randn({4, 3, 6, 5});
  Tensor ref = batch_norm(x, {}, {}, {}, {}, true, 0.1, 1e-5);
  Tensor xg = x.to(Device::cuda()).permute({0, 1, 3, 2}).contiguous().permute({0, 1, 3, 2});
  EXPECT_TRUE(allclose(batch_norm(xg, {}, {}, {}, {}, true, 0.1, 1e-5).to(Device::cpu()), ref, 1e-5));
}

TEST(CudaNorm, BatchNormGpuIsDeterministic) {
  CQ_REQUIRE_CUDA();
  Context ctx = make_ctx();
  std::vector<Tensor> in = {ctx.randn({2, 32, 48, 64}), ctx.randn({32}),           ctx.randn({32}), ctx.randn({32}),
                            ctx.rand({32}, 0.5, 2.0),   ctx.randn({2, 32, 48, 64})};
  NormRun a = run_bn(in, Device::cuda(), true), b = run_bn(in, Device::cuda(), true);
  for (size_t i = 0; i < a.outs.size(); ++i) EXPECT_TRUE(a.outs[i].to_vector<float>() == b.outs[i].to_vector<float>());
}

TEST(CudaNorm, LayerNormMatchesCpu) {
  CQ_REQUIRE_CUDA();
  Context ctx = make_ctx();
  for (DType dt : {DType::f32, DType::f64}) {
    Tensor x = ctx.randn({6, 7, 300}, dt), w = ctx.randn({7, 300}, dt), b = ctx.randn({7, 300}, dt);
    Tensor g = ctx.randn({6, 7, 300}, dt);
    std::vector<Tensor> outs[2];
    for (int k = 0; k < 2; ++k) {
      Device dev = k == 0 ? Device::cpu() : Device::cuda();
      Tensor xd = leaf_on(x, dev, true), wd = leaf_on(w, dev, true), bd = leaf_on(b, dev, true);
      Tensor y = layer_norm(xd, 2, wd, bd, 1e-5);
      outs[k].push_back(y.to(Device::cpu()));
      for (const Tensor& t : cq::grad(y, {xd, wd, bd}, leaf_on(g, dev, false))) outs[k].push_back(t.to(Device::cpu()));
    }
    const double tol = dt == DType::f32 ? 1e-4 : 1e-10;
    for (size_t i = 0; i < outs[0].size(); ++i) EXPECT_TRUE(allclose(outs[1][i], outs[0][i], tol)) << "output " << i;
  }
}
