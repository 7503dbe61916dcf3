// dist/ without MPI: the single-process communicator, the shard split, the gradient reducer's weighting, the loader's
// shards, and distributed GRIS (partial + combine) equal to the single-process GRIS bit for bit.
#include <gtest/gtest.h>

#include <cstring>
#include <random>

#include "dist/communicator.h"
#include "dist/data_parallel.h"
#include "dist/nccl_reducer.h"
#include "dist/overlapped_reducer.h"
#include "dist/rank_order_sum.h"
#include "kernels/elementwise/elementwise.h"
#include "kernels/reduce/reduce.h"
#include "refselect/gris.h"
#include "tensor/context.h"
#include "tests/support/test_util.h"

using namespace cq;

TEST(Dist, SingleProcessIsIdentity) {
  dist::SingleProcess c;
  EXPECT_EQ(c.rank(), 0);
  EXPECT_EQ(c.size(), 1);
  float f[3] = {1.5f, -2.f, 3.f};
  c.sum_floats(f, 3);
  EXPECT_EQ(f[1], -2.f);
  EXPECT_EQ(c.all_gather("abc"), std::vector<std::string>{"abc"});
  c.barrier();
}

TEST(Dist, ShardRangeCoversInOrder) {
  for (int64_t n : {0, 1, 2, 3, 7, 16})
    for (int size : {1, 2, 3, 5}) {
      int64_t next = 0, lo = n, hi = 0;
      for (int r = 0; r < size; ++r) {
        const dist::Range p = dist::shard_range(n, r, size);
        EXPECT_EQ(p.lo, next);
        next = p.hi;
        lo = std::min(lo, p.hi - p.lo), hi = std::max(hi, p.hi - p.lo);
      }
      EXPECT_EQ(next, n);
      EXPECT_LE(hi - lo, 1) << n << " over " << size;
    }
}

TEST(Dist, ReducerScalesByShareAndKeepsUntouchedParams) {
  Context ctx({1, 0});
  Tensor a = Tensor::empty(ctx.runtime_ptr(), {3}, DType::f32, Device::cpu()).fill_(0).set_requires_grad();
  Tensor b = Tensor::empty(ctx.runtime_ptr(), {2}, DType::f32, Device::cpu()).fill_(0).set_requires_grad();
  a.set_grad(a.new_full({3}, 2.0));
  dist::GradientReducer red({a, b}, 1024);
  EXPECT_EQ(red.gradient_bytes(), 20);
  dist::SingleProcess c;
  red.reduce(c, 0.25);
  EXPECT_EQ(a.grad().to_vector<float>(), (std::vector<float>{0.5f, 0.5f, 0.5f}));
  EXPECT_FALSE(b.grad().defined());  // no rank touched it: the optimiser must still skip it
}

// The overlapped reducer gives the after-backward reducer's bits: weighted gradients, untouched parameters left
// undefined, and buckets completed during backward are sent before it ends.
TEST(Dist, OverlappedReducerEqualsReducerAfterBackward) {
  auto run = [](bool overlap, size_t* early, size_t* nbuckets) {
    Context ctx({1, 0});
    std::vector<Tensor> ps;
    for (int k = 0; k < 4; ++k) {
      Tensor p = Tensor::empty(ctx.runtime_ptr(), {300}, DType::f32, Device::cpu());
      for (int i = 0; i < 300; ++i) p.data<float>()[i] = 0.01f * float((i * 7 + k * 13) % 97) - 0.3f;
      ps.push_back(p.set_requires_grad());
    }
    // A chain: layer k's output feeds layer k+1, as a network's; parameter 3 is not used at all.
    Tensor h = ps[0];
    for (int k = 1; k < 3; ++k) h = mul(add(h, ps[k]), ps[k]);
    Tensor loss = sum(mul(h, h));
    dist::SingleProcess c;
    if (overlap) {
      dist::OverlappedGradientReducer red(c, ps, 1024);  // 256 floats: one 300-element parameter per bucket
      *nbuckets = red.buckets();
      red.begin(0.3);
      loss.backward();
      red.finish();
      *early = red.last_sent_during_backward();
    } else {
      loss.backward();
      dist::GradientReducer red(ps, 1024);
      red.reduce(c, 0.3);
    }
    std::vector<std::vector<float>> g;
    for (const Tensor& p : ps) g.push_back(p.grad().defined() ? p.grad().to_vector<float>() : std::vector<float>{});
    return g;
  };
  size_t early = 0, nb = 0;
  const auto a = run(false, &early, &nb), b = run(true, &early, &nb);
  EXPECT_EQ(a, b);
  EXPECT_TRUE(b[3].empty());
  EXPECT_FALSE(b[0].empty());
  EXPECT_EQ(nb, 4u);
  EXPECT_EQ(early, 3u);  // parameter 3's bucket has no gradient: it goes at finish()
}

// The NCCL kernel's per-element math (dist/rank_order_sum.h), run here on the CPU: rank 0 first, then 1, 2, ... in
// float, the order the MPI path's rank 0 adds in; float addition is not associative, so the order is visible.
TEST(Dist, RankOrderSumIsTheMpiPathsOrder) {
  const float big = 1e8f;
  const std::vector<float> parts = {big, 0.5f,   // rank 0
                                    -big, 1.0f,  // rank 1
                                    1.0f, 2.0f}; // rank 2
  const float col0 = dist::rank_order_sum(parts.data(), 3, 2, 0), col1 = dist::rank_order_sum(parts.data(), 3, 2, 1);
  EXPECT_EQ(col0, 1.0f);                            // (big - big) + 1
  EXPECT_EQ(big + (-big + 1.0f), 0.0f);             // another order loses the 1 (float spacing at 1e8 is 8)
  EXPECT_EQ(col1, 3.5f);
  // The MPI path's loop (mpi_communicator.cpp): p += q for each rank in order.
  float p = parts[0];
  for (int r = 1; r < 3; ++r) p += parts[size_t(r) * 2];
  EXPECT_EQ(col0, p);
  EXPECT_EQ(dist::weighted_gradient(0.1f, 1.0), 0.1f);
  EXPECT_EQ(dist::weighted_gradient(0.1f, 0.25), float(double(0.1f) * 0.25));
#ifdef CQ_NCCL
  EXPECT_TRUE(dist::built_with_nccl());
#else
  EXPECT_FALSE(dist::built_with_nccl());
  Context ctx({1, 0});
  Tensor a = Tensor::empty(ctx.runtime_ptr(), {3}, DType::f32, Device::cpu()).fill_(0).set_requires_grad();
  dist::SingleProcess c;
  EXPECT_NE(cq::testing::error_of([&] { dist::NcclGradientReducer r(c, {a}, true); }).find("without NCCL"),
            std::string::npos);
#endif
}

TEST(Dist, GrisPartsCombineBitIdentically) {
  std::mt19937 gen(7);
  std::uniform_real_distribution<float> u(0.f, 1.f);
  const int64_t N = 75, D = 24;
  std::vector<float> X(size_t(N * D));
  for (float& x : X) x = u(gen);
  for (int64_t block : {16, 32, 1024}) {
    dcin::GrisOptions o;
    o.block = block;
    o.threads = 2;
    const dcin::GrisResult ref = dcin::gris_select(X.data(), N, D, o);
    for (int parts : {2, 3, 7}) {
      std::vector<std::vector<double>> p;
      for (int k = 0; k < parts; ++k) {
        dcin::GrisOptions ok = o;
        ok.threads = 1 + k % 2;  // thread count must not matter either
        p.push_back(dcin::gris_partial(X.data(), N, D, ok, k, parts));
      }
      const dcin::GrisResult r = dcin::gris_combine(p, N, o);
      EXPECT_EQ(r.index, ref.index);
      ASSERT_EQ(r.mean_dist.size(), ref.mean_dist.size());
      EXPECT_EQ(std::memcmp(r.mean_dist.data(), ref.mean_dist.data(), sizeof(double) * size_t(N)), 0)
          << "block " << block << " parts " << parts;
    }
  }
  dcin::GrisOptions o;
  o.block = 16;
  std::vector<std::vector<double>> bad = {dcin::gris_partial(X.data(), N, D, o, 0, 2), {}};
  cq::testing::expect_error([&] { dcin::gris_combine(bad, N, o); }, {"too few"});
}
