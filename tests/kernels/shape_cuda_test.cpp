// GPU tests of the shape family: every op's forward and backward on Device::cuda() against the CPU result. They
// report SKIPPED without a GPU. Shapes are moved-only copies: the data moves are exact, so results must be equal
// (tolerance 0), including the gradients (same fixed summation order on both devices).
#include <gtest/gtest.h>

#include <functional>

#include "kernels/shape/shape.h"
#include "tensor/context.h"
#include "tensor/cuda_backend.h"
#include "tests/support/gradcheck.h"
#include "tests/support/test_util.h"

using namespace cq;
using cq::testing::max_abs_diff;

namespace {
Context make_ctx() { return cq::testing::make_ctx(2, 17); }

using Fn = std::function<Tensor(const std::vector<Tensor>&)>;

// Runs f on CPU copies and CUDA copies of the float inputs; compares outputs and every input's gradient.
void compare_devices(Context& ctx, const Fn& f, const std::vector<Tensor>& inputs) {
  std::vector<Tensor> cpu, gpu;
  for (const Tensor& t : inputs) {
    cpu.push_back(t.clone().set_requires_grad());
    gpu.push_back(t.to(Device::cuda()).set_requires_grad());
  }
  Tensor yc = f(cpu), yg = f(gpu);
  ASSERT_TRUE(yg.device().is_cuda());
  ASSERT_EQ(yc.shape(), yg.shape());
  EXPECT_EQ(max_abs_diff(yc, yg.to(Device::cpu())), 0.0);
  Tensor w = ctx.randn(yc.shape(), yc.dtype());
  std::vector<Tensor> gc = cq::grad(yc, cpu, w), gg = cq::grad(yg, gpu, w.to(Device::cuda()));
  for (size_t i = 0; i < inputs.size(); ++i)
    EXPECT_EQ(max_abs_diff(gc[i], gg[i].to(Device::cpu())), 0.0) << "gradient of input " << i;
}

Tensor on_cuda(const Tensor& t) { return t.to(Device::cuda()); }
}  // namespace

TEST(CudaShape, Concat) {
  CQ_REQUIRE_CUDA();
  Context ctx = make_ctx();
  Tensor a = ctx.randn({2, 24, 16, 16}), b = ctx.randn({2, 8, 16, 16}), c = ctx.randn({2, 16, 16, 5});
  compare_devices(ctx, [](const std::vector<Tensor>& in) { return concat({in[0], in[1]}, 1); }, {a, b});
  compare_devices(
      ctx, [](const std::vector<Tensor>& in) { return concat({in[0], in[1].permute({0, 3, 1, 2}), in[0]}, -3); },
      {a, c});
  compare_devices(ctx, [](const std::vector<Tensor>& in) { return concat({in[0], in[0]}, -1); }, {b});
  Tensor i = ctx.randint(0, 9, {3, 4});
  EXPECT_EQ(concat({on_cuda(i), on_cuda(i)}, 0).to_vector<int64_t>(), concat({i, i}, 0).to_vector<int64_t>());
}

TEST(CudaShape, Pad) {
  CQ_REQUIRE_CUDA();
  Context ctx = make_ctx();
  Tensor x = ctx.randn({2, 5, 7, 3}, DType::f64);
  compare_devices(ctx, [](const std::vector<Tensor>& in) { return pad(in[0], {1, 2, -1, 3}, 0.5); }, {x});
  compare_devices(ctx, [](const std::vector<Tensor>& in) { return pad(in[0].permute({0, 3, 1, 2}), {-2, 1}); }, {x});
  compare_devices(ctx, [](const std::vector<Tensor>& in) { return pad(in[0], {0, 0, 0, 0, 0, 0, 1, 1}); }, {x});
}

TEST(CudaShape, Roll) {
  CQ_REQUIRE_CUDA();
  Context ctx = make_ctx();
  Tensor x = ctx.randn({2, 8, 8, 6});
  compare_devices(ctx, [](const std::vector<Tensor>& in) { return roll(in[0], {-3, -3}, {1, 2}); }, {x});
  compare_devices(ctx, [](const std::vector<Tensor>& in) { return roll(in[0].permute({0, 3, 1, 2}), {9}, {-1}); },
                  {x});
  compare_devices(ctx, [](const std::vector<Tensor>& in) { return roll(in[0], {-5}, {}); }, {x});
}

TEST(CudaShape, Gather) {
  CQ_REQUIRE_CUDA();
  Context ctx = make_ctx();
  Tensor x = ctx.randn({4, 6, 5});
  Tensor i1 = ctx.randint(0, 6, {3, 9, 5}), i0 = ctx.randint(0, 4, {7, 2, 3});
  Tensor g1 = on_cuda(i1), g0 = on_cuda(i0);
  // Same op on both devices, the index living where x does.
  compare_devices(ctx, [&](const std::vector<Tensor>& in) {
    return gather(in[0], 1, in[0].device().is_cuda() ? g1 : i1); }, {x});
  compare_devices(ctx, [&](const std::vector<Tensor>& in) {
    return gather(in[0].permute({0, 2, 1}).contiguous().permute({0, 2, 1}), 0, in[0].device().is_cuda() ? g0 : i0);
  }, {x});
  EXPECT_THROW(gather(on_cuda(x), 1, on_cuda(ctx.from_vector(std::vector<int64_t>{6}, {1, 1, 1}))), Error);
}

TEST(CudaShape, IndexSelect) {
  CQ_REQUIRE_CUDA();
  Context ctx = make_ctx();
  Tensor x = ctx.randn({5, 7, 3}, DType::f64);
  Tensor idx = ctx.from_vector(std::vector<int64_t>{4, 0, 4, 2, 4, 1}, {6});  // repeats: gradients add up
  Tensor idx3 = ctx.from_vector(std::vector<int64_t>{2, 0, 2, 2}, {4});
  Tensor gidx = on_cuda(idx), gidx3 = on_cuda(idx3);
  auto pick = [&](const Tensor& like, const Tensor& cpu_i, const Tensor& gpu_i) {
    return like.device().is_cuda() ? gpu_i : cpu_i;
  };
  compare_devices(ctx, [&](const std::vector<Tensor>& in) { return index_select(in[0], 0, pick(in[0], idx, gidx)); },
                  {x});
  compare_devices(ctx, [&](const std::vector<Tensor>& in) { return index_select(in[0], 1, pick(in[0], idx, gidx)); },
                  {x});
  compare_devices(
      ctx, [&](const std::vector<Tensor>& in) { return index_select(in[0], -1, pick(in[0], idx3, gidx3)); }, {x});
  compare_devices(ctx, [&](const std::vector<Tensor>& in) {
    return index_select(in[0].permute({1, 0, 2}), 1, pick(in[0], idx, gidx));
  }, {x});
  EXPECT_THROW(index_select(on_cuda(x), 0, on_cuda(ctx.from_vector(std::vector<int64_t>{5}, {1}))), Error);
}

TEST(CudaShape, OneHot) {
  CQ_REQUIRE_CUDA();
  Context ctx = make_ctx();
  Tensor idx = ctx.randint(0, 4, {3, 5});
  Tensor y = one_hot(on_cuda(idx), 4);
  EXPECT_TRUE(y.device().is_cuda());
  EXPECT_EQ(max_abs_diff(y.to(Device::cpu()), one_hot(idx, 4)), 0.0);
  EXPECT_EQ(one_hot(on_cuda(idx), 4, DType::u8).to_vector<uint8_t>(), one_hot(idx, 4, DType::u8).to_vector<uint8_t>());
  try {
    one_hot(on_cuda(ctx.from_vector(std::vector<int64_t>{0, 4}, {2})), 4);
    ADD_FAILURE() << "expected cq::Error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("index value 4"), std::string::npos) << e.what();
  }
}
