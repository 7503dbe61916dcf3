// GPU reference selection (histogram, GRIS, LRIS top-k) and the fused multi-tensor Adam against the CPU paths.
// SKIPPED without a CUDA device.
#include <gtest/gtest.h>

#include <cstring>

#include "nn/adam.h"
#include "refselect/bank.h"
#include "refselect/gris.h"
#include "refselect/histogram.h"
#include "tensor/context.h"
#include "tensor/cuda_backend.h"
#include "tests/support/gradcheck.h"
#include "tests/support/test_util.h"

using namespace cq;

namespace {
Tensor random_u8_image(Context& ctx, int64_t h, int64_t w, uint64_t seed) {
  Tensor t = Tensor::empty(ctx.runtime_ptr(), {h, w, 3}, DType::u8, Device::cpu());
  uint8_t* p = t.data<uint8_t>();
  for (int64_t i = 0; i < h * w * 3; ++i) {
    seed = seed * 6364136223846793005ull + 1442695040888963407ull;
    p[i] = static_cast<uint8_t>(seed >> 56);
  }
  return t;
}
}  // namespace

TEST(CudaRefselect, HistogramCountsEqualCpu) {
  CQ_REQUIRE_CUDA();
  Context ctx = cq::testing::make_ctx(2, 3);
  for (int64_t hw : {1, 7, 300}) {
    Tensor img = random_u8_image(ctx, hw, hw + 3, 11 + hw);
    for (auto order : {dcin::HistOrder::CvBgr, dcin::HistOrder::Rgb}) {
      int64_t cpu[dcin::kHistBins], gpu[dcin::kHistBins];
      dcin::color_hist_counts(img, cpu, order, 2);
      dcin::color_hist_counts(img.to(Device::cuda()), gpu, order, 2);
      EXPECT_EQ(0, std::memcmp(cpu, gpu, sizeof cpu)) << hw << "x" << hw + 3;
    }
  }
  // The normalised histogram goes through the same counts.
  Tensor img = random_u8_image(ctx, 64, 48, 5);
  EXPECT_TRUE(cq::testing::allclose(dcin::color_hist(img.to(Device::cuda())), dcin::color_hist(img), 0.0));
}

TEST(CudaRefselect, GrisMatchesCpuOverSeveralTiles) {
  CQ_REQUIRE_CUDA();
  Context ctx = cq::testing::make_ctx(2, 4);
  const int64_t N = 1100, D = 512;
  Tensor X = ctx.rand({N, D}, 0.0, 1.0);
  const dcin::GrisResult cpu = dcin::gris_select(X, 256), gpu = dcin::gris_select(X.to(Device::cuda()), 256);
  ASSERT_EQ(gpu.mean_dist.size(), cpu.mean_dist.size());
  for (int64_t i = 0; i < N; ++i) EXPECT_NEAR(gpu.mean_dist[i], cpu.mean_dist[i], 1e-5 * cpu.mean_dist[i]) << i;
  EXPECT_EQ(gpu.index, cpu.index);
  // Deterministic: a second run is bit-identical.
  const dcin::GrisResult again = dcin::gris_select(X.to(Device::cuda()), 256);
  EXPECT_EQ(0, std::memcmp(again.mean_dist.data(), gpu.mean_dist.data(), sizeof(double) * N));
}

TEST(CudaRefselect, LrisTopkMatchesCpu) {
  CQ_REQUIRE_CUDA();
  Context ctx = cq::testing::make_ctx(1, 5);
  const int64_t N = 500, D = 96;
  std::vector<dcin::BankItem> items;
  std::vector<float> all = ctx.randn({N, D}).to_vector<float>();
  for (int64_t i = 0; i < N; ++i)
    items.push_back({"img" + std::to_string(i) + ".png", std::vector<float>(all.begin() + i * D, all.begin() + (i + 1) * D),
                     std::string(64, 'a')});
  const dcin::RefBank bank = dcin::RefBank::build("emb", 8, 8, items);
  const Tensor dev = bank.embeddings_on(ctx.runtime_ptr(), Device::cuda());
  std::vector<float> q = ctx.randn({D}).to_vector<float>();
  const auto cpu = bank.query("emb", q.data(), D, 7), gpu = bank.query("emb", q.data(), D, 7, dev);
  ASSERT_EQ(cpu.size(), gpu.size());
  for (size_t i = 0; i < cpu.size(); ++i) {
    EXPECT_EQ(gpu[i].index, cpu[i].index) << "rank " << i;
    EXPECT_NEAR(gpu[i].score, cpu[i].score, 1e-6) << "rank " << i;
  }
}

TEST(CudaAdam, FusedMultiTensorStepMatchesCpuBitwise) {
  CQ_REQUIRE_CUDA();
  Context ctx = cq::testing::make_ctx(1, 6);
  // Sizes straddling the 4096-element chunks, one parameter without a gradient, an empty one.
  const std::vector<Shape> shapes = {{4097}, {3, 5}, {1}, {0}, {64, 129}, {7}};
  nn::NamedTensors pc, pg;
  for (size_t i = 0; i < shapes.size(); ++i) {
    Tensor c = ctx.randn(shapes[i]).set_requires_grad();
    pc.emplace_back("p" + std::to_string(i), c);
    pg.emplace_back("p" + std::to_string(i), c.detach().to(Device::cuda()).set_requires_grad());
  }
  nn::AdamOptions o;
  o.weight_decay = 0.01;
  nn::Adam ac(pc, o), ag(pg, o);
  for (int s = 0; s < 3; ++s) {
    for (size_t i = 0; i < shapes.size(); ++i) {
      if (i == 2 && s == 0) continue;  // p2 has no gradient on the first step: its own step count lags
      Tensor g = ctx.randn(shapes[i]);
      pc[i].second.set_grad(g);
      pg[i].second.set_grad(g.to(Device::cuda()));
    }
    ac.step();
    ag.step();
  }
  for (size_t i = 0; i < shapes.size(); ++i) {
    Tensor a = pg[i].second.to(Device::cpu()), b = pc[i].second;
    EXPECT_EQ(0, std::memcmp(a.contiguous().data_ptr(), b.contiguous().data_ptr(), sizeof(float) * b.numel()))
        << pc[i].first;
  }
}
