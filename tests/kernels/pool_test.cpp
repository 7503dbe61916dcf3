#include "kernels/pool/pool.h"

#include <gtest/gtest.h>

#include <string>

#include "tensor/context.h"
#include "tensor/cuda_backend.h"
#include "tests/support/gradcheck.h"
#include "tests/support/test_util.h"

using namespace cq;
using cq::testing::allclose;
using cq::testing::gradcheck;

namespace {
Context make_ctx(int threads = 1) { return cq::testing::make_ctx(threads, 5); }

using cq::testing::error_of;

using cq::testing::contains;
}  // namespace

TEST(GradCheck, global_avg_pool2d) {
  Context ctx = make_ctx();
  for (Shape shape : {Shape{2, 3, 4, 5}, Shape{1, 1, 1, 1}, Shape{2, 2, 3, 1}}) {
    Tensor x = ctx.randn(shape, DType::f64).set_requires_grad();
    EXPECT_TRUE(gradcheck(ctx, [](const std::vector<Tensor>& in) { return global_avg_pool2d(in[0]); }, {x}))
        << shape_str(shape);
  }
  Tensor x = ctx.randn({3, 2, 4, 5}, DType::f64).set_requires_grad();
  EXPECT_TRUE(gradcheck(ctx,
                        [](const std::vector<Tensor>& in) {
                          return global_avg_pool2d(in[0].permute({1, 0, 3, 2}));
                        },
                        {x}));
}

TEST(GradCheck, upsample_nearest2d) {
  Context ctx = make_ctx();
  struct Case {
    Shape shape;
    int64_t sh, sw;
  };
  for (const Case& c :
       {Case{{2, 3, 2, 3}, 2, 2}, Case{{1, 2, 3, 2}, 3, 1}, Case{{2, 1, 2, 2}, 1, 1}, Case{{1, 1, 2, 3}, 2, 4}}) {
    Tensor x = ctx.randn(c.shape, DType::f64).set_requires_grad();
    int64_t sh = c.sh, sw = c.sw;
    EXPECT_TRUE(
        gradcheck(ctx, [sh, sw](const std::vector<Tensor>& in) { return upsample_nearest2d(in[0], sh, sw); }, {x}))
        << shape_str(c.shape) << " x" << sh << "," << sw;
  }
  Tensor x = ctx.randn({2, 3, 4, 2}, DType::f64).set_requires_grad();
  EXPECT_TRUE(gradcheck(
      ctx, [](const std::vector<Tensor>& in) { return upsample_nearest2d(in[0].slice(2, 0, 4, 2), 2, 3); }, {x}));
}

TEST(Pool, GlobalAvgPoolHandComputed) {
  Context ctx = make_ctx();
  // [1,2,2,3]: plane 0 = 0..5 (mean 2.5), plane 1 = 6..11 (mean 8.5).
  Tensor x = ctx.arange(12).reshape({1, 2, 2, 3});
  Tensor y = global_avg_pool2d(x);
  EXPECT_EQ(y.shape(), (Shape{1, 2, 1, 1}));
  EXPECT_TRUE(allclose(y, {2.5, 8.5}));
  // Non-contiguous: the transposed spatial dims have the same means; a permuted batch/channel reorders them.
  EXPECT_TRUE(allclose(global_avg_pool2d(x.transpose(2, 3)), {2.5, 8.5}));
  EXPECT_TRUE(allclose(global_avg_pool2d(x.permute({1, 0, 2, 3})), {2.5, 8.5}));
  // Backward: g / (H*W) everywhere.
  Tensor xr = ctx.arange(12, DType::f64).reshape({1, 2, 2, 3}).clone().set_requires_grad();
  std::vector<Tensor> gr =
      cq::grad(global_avg_pool2d(xr), {xr}, ctx.from_vector(std::vector<double>{6, 12}, {1, 2, 1, 1}, DType::f64));
  EXPECT_TRUE(allclose(gr[0], {1, 1, 1, 1, 1, 1, 2, 2, 2, 2, 2, 2}));
}

TEST(Pool, UpsampleNearestHandComputed) {
  Context ctx = make_ctx();
  Tensor x = ctx.from_vector(std::vector<double>{1, 2, 3, 4}, {1, 1, 2, 2});
  Tensor y = upsample_nearest2d(x, 2, 3);
  EXPECT_EQ(y.shape(), (Shape{1, 1, 4, 6}));
  EXPECT_TRUE(allclose(y, {1, 1, 1, 2, 2, 2,  //
                           1, 1, 1, 2, 2, 2,  //
                           3, 3, 3, 4, 4, 4,  //
                           3, 3, 3, 4, 4, 4}));
  // Non-contiguous input (transposed): same as upsampling the materialised transpose.
  Tensor t = x.transpose(2, 3);
  EXPECT_TRUE(allclose(upsample_nearest2d(t, 1, 2), {1, 1, 3, 3, 2, 2, 4, 4}));
  // Backward sums each 2x3 block.
  Tensor xr = ctx.from_vector(std::vector<double>{1, 2, 3, 4}, {1, 1, 2, 2}, DType::f64).set_requires_grad();
  Tensor g = ctx.arange(24, DType::f64).reshape({1, 1, 4, 6});
  std::vector<Tensor> gr = cq::grad(upsample_nearest2d(xr, 2, 3), {xr}, g);
  // Block (0,0): 0+1+2+6+7+8 = 24; (0,1): 3+4+5+9+10+11 = 42; (1,0): 12+13+14+18+19+20 = 96; (1,1): 114.
  EXPECT_TRUE(allclose(gr[0], {24, 42, 96, 114}));
}

TEST(Pool, ErrorsNameOpAndShapes) {
  Context ctx = make_ctx();
  std::string e = error_of([&] { global_avg_pool2d(ctx.zeros({2, 3, 4})); });
  EXPECT_TRUE(contains(e, "global_avg_pool2d") && contains(e, "f32[2,3,4] cpu")) << e;
  e = error_of([&] { upsample_nearest2d(ctx.zeros({2, 3}), 2, 2); });
  EXPECT_TRUE(contains(e, "upsample_nearest2d") && contains(e, "f32[2,3] cpu")) << e;
  e = error_of([&] { upsample_nearest2d(ctx.zeros({1, 1, 2, 2}), 0, 2); });
  EXPECT_TRUE(contains(e, "upsample_nearest2d") && contains(e, "f32[1,1,2,2] cpu")) << e;
  e = error_of([&] { global_avg_pool2d(ctx.zeros({1, 1, 2, 2}, DType::i64)); });
  EXPECT_TRUE(contains(e, "global_avg_pool2d") && contains(e, "i64")) << e;
  e = error_of([&] { global_avg_pool2d(ctx.zeros({1, 1, 0, 2})); });
  EXPECT_TRUE(contains(e, "global_avg_pool2d") && contains(e, "f32[1,1,0,2] cpu")) << e;
}

TEST(Pool, ThreadCountDeterminism) {
  auto run = [](int threads) {
    Context ctx = make_ctx(threads);
    Tensor x = ctx.randn({2, 16, 40, 48}).set_requires_grad();
    Tensor u = upsample_nearest2d(x, 2, 3);
    Tensor p = global_avg_pool2d(x);
    std::vector<std::vector<float>> out = {u.to_vector<float>(), p.to_vector<float>()};
    out.push_back(cq::grad(u, {x}, ctx.randn(u.shape()))[0].to_vector<float>());
    out.push_back(cq::grad(p, {x}, ctx.randn(p.shape()))[0].to_vector<float>());
    return out;
  };
  EXPECT_TRUE(run(1) == run(2));
}

TEST(CudaPool, MatchesCpu) {
  CQ_REQUIRE_CUDA();
  Context ctx = make_ctx();
  for (DType dt : {DType::f32, DType::f64}) {
    Tensor x = ctx.randn({2, 5, 7, 9}, dt);
    Tensor gp = ctx.randn({2, 5, 1, 1}, dt), gu = ctx.randn({2, 5, 21, 18}, dt);
    std::vector<Tensor> outs[2];
    for (int k = 0; k < 2; ++k) {
      Device dev = k == 0 ? Device::cpu() : Device::cuda();
      Tensor xd = x.detach().clone().to(dev).detach().set_requires_grad();
      Tensor p = global_avg_pool2d(xd), u = upsample_nearest2d(xd, 3, 2);
      outs[k].push_back(p.to(Device::cpu()));
      outs[k].push_back(u.to(Device::cpu()));
      outs[k].push_back(cq::grad(p, {xd}, gp.to(dev))[0].to(Device::cpu()));
      outs[k].push_back(cq::grad(u, {xd}, gu.to(dev))[0].to(Device::cpu()));
      // Non-contiguous device input.
      outs[k].push_back(upsample_nearest2d(xd.detach().transpose(2, 3), 2, 2).to(Device::cpu()));
    }
    const double tol = dt == DType::f32 ? 1e-5 : 1e-12;
    for (size_t i = 0; i < outs[0].size(); ++i) EXPECT_TRUE(allclose(outs[1][i], outs[0][i], tol)) << "output " << i;
  }
}
