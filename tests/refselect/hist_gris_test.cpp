// Histograms and GRIS: parity with ../shared/fixtures/gris.safetensors (cv2.calcHist + numpy), brute-force checks,
// determinism across thread counts.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <cstdio>

#include "data/image_io.h"
#include "nn/safetensors.h"
#include "refselect/gris.h"
#include "refselect/histogram.h"
#include "tests/support/shared.h"
#include "tests/support/test_util.h"

using namespace cq;
using namespace cq::dcin;

namespace {
const char* kFix = "fixtures/gris.safetensors";

Tensor load_png(Context& ctx, const std::string& path) {
  data::Image img = data::read_image(path);
  Tensor t = ctx.empty({img.h, img.w, 3}, DType::u8);
  std::memcpy(t.data<uint8_t>(), img.px.data(), img.px.size());
  return t;
}

double max_abs(const std::vector<float>& a, const std::vector<float>& b) {
  double m = 0;
  for (size_t i = 0; i < a.size(); ++i) m = std::max(m, std::fabs(double(a[i]) - b[i]));
  return m;
}

Tensor random_feats(Context& ctx, int64_t n, int64_t d, uint64_t seed) {
  Rng rng(seed);
  Tensor t = ctx.empty({n, d});
  float* p = t.data<float>();
  for (int64_t i = 0; i < n; ++i) {
    double s = 0;
    for (int64_t k = 0; k < d; ++k) s += p[i * d + k] = static_cast<float>(rng.uniform());
    for (int64_t k = 0; k < d; ++k) p[i * d + k] = static_cast<float>(p[i * d + k] / s);
  }
  return t;
}
}  // namespace

TEST(HistGrisParity, HistogramsFromImages) {
  CQ_REQUIRE_SHARED(kFix);
  CQ_REQUIRE_SHARED("data/fundus/DRIVE/train/images/21.png");
  Context ctx = cq::testing::make_ctx(2);
  auto f = SafetensorsFile::open(cq::testing::shared_dir() + "/" + kFix);
  auto counts = f.load(ctx, "hist_counts").to_vector<int64_t>();
  auto hist = f.load(ctx, "hist").to_vector<float>();
  auto hist_l1 = f.load(ctx, "hist_rgb_l1").to_vector<float>();
  double e2 = 0, e1 = 0;
  for (int i = 0; i < 20; ++i) {
    const std::string name = std::to_string(21 + i) + ".png";
    Tensor img = load_png(ctx, cq::testing::shared_dir() + "/data/fundus/DRIVE/train/images/" + name);
    std::vector<int64_t> c(kHistBins);
    color_hist_counts(img, c.data(), HistOrder::CvBgr, 2, name);
    EXPECT_EQ(c, std::vector<int64_t>(counts.begin() + i * 512, counts.begin() + (i + 1) * 512)) << name;
    auto h = color_hist(img, {HistOrder::CvBgr, HistNorm::L2}, name).to_vector<float>();
    e2 = std::max(e2, max_abs(h, std::vector<float>(hist.begin() + i * 512, hist.begin() + (i + 1) * 512)));
    auto h1 = color_hist(img, {HistOrder::Rgb, HistNorm::L1}, name).to_vector<float>();
    e1 = std::max(e1, max_abs(h1, std::vector<float>(hist_l1.begin() + i * 512, hist_l1.begin() + (i + 1) * 512)));
  }
  std::printf("hist: counts exact; L2 hist max abs %.3g (tol 1e-6); rgb_l1 hist max abs %.3g (tol 1e-7)\n", e2, e1);
  EXPECT_LE(e2, 1e-6);
  EXPECT_LE(e1, 1e-7);
}

TEST(HistGrisParity, GrisDistancesAndArgmin) {
  CQ_REQUIRE_SHARED(kFix);
  Context ctx = cq::testing::make_ctx(2);
  auto f = SafetensorsFile::open(cq::testing::shared_dir() + "/" + kFix);
  struct Variant {
    const char *hist, *dist, *mean, *argmin;
    double tol;
  } vs[] = {{"hist", "dist", "mean_dist", "argmin", 1e-5},
            {"hist_rgb_l1", "dist_rgb_l1", "mean_dist_rgb_l1", "argmin_rgb_l1", 1e-6}};
  for (const auto& v : vs) {
    Tensor h = f.load(ctx, v.hist);
    for (int64_t block : {16, 1024}) {  // 16: off-diagonal tiles and a ragged edge; 1024: one tile
      GrisResult g = gris_select(h, block);
      auto want_mean = f.load(ctx, v.mean).to_vector<float>();
      double em = 0;
      for (size_t i = 0; i < want_mean.size(); ++i) em = std::max(em, std::fabs(g.mean_dist[i] - want_mean[i]));
      double ed = max_abs(pairwise_distances(h, block).to_vector<float>(), f.load(ctx, v.dist).to_vector<float>());
      std::printf("gris %-12s block %4lld: argmin %lld (want %lld), dist max abs %.3g, mean_dist max abs %.3g\n",
                  v.hist, (long long)block, (long long)g.index, (long long)f.load(ctx, v.argmin).to_vector<int64_t>()[0],
                  ed, em);
      EXPECT_EQ(g.index, f.load(ctx, v.argmin).to_vector<int64_t>()[0]);
      EXPECT_LE(ed, v.tol);
      EXPECT_LE(em, v.tol);
    }
  }
  EXPECT_EQ(f.metadata().count("settings"), 1u);
}

// Negative: a perturbed histogram row moves the distances beyond tolerance.
TEST(HistGrisParity, NegativePerturbedHistogramIsDetected) {
  CQ_REQUIRE_SHARED(kFix);
  Context ctx = cq::testing::make_ctx(2);
  auto f = SafetensorsFile::open(cq::testing::shared_dir() + "/" + kFix);
  Tensor h = f.load(ctx, "hist").clone();
  h.data<float>()[3 * 512 + 100] += 0.01f;
  double ed = max_abs(pairwise_distances(h).to_vector<float>(), f.load(ctx, "dist").to_vector<float>());
  EXPECT_GT(ed, 1e-4);
}

TEST(Gris, MatchesBruteForceAndIsThreadIndependent) {
  Context c1 = cq::testing::make_ctx(1), c3 = cq::testing::make_ctx(3);
  Tensor x1 = random_feats(c1, 301, 40, 11), x3 = random_feats(c3, 301, 40, 11);
  GrisResult a = gris_select(x1, 64), b = gris_select(x3, 64);
  EXPECT_EQ(a.mean_dist, b.mean_dist);  // bitwise
  const float* p = x1.data<float>();
  std::vector<double> mean(301, 0.0);
  for (int i = 0; i < 301; ++i) {
    for (int j = 0; j < 301; ++j) {
      double s = 0;
      for (int k = 0; k < 40; ++k) s += (double(p[i * 40 + k]) - p[j * 40 + k]) * (double(p[i * 40 + k]) - p[j * 40 + k]);
      mean[i] += std::sqrt(s);
    }
    mean[i] /= 301;
  }
  double e = 0;
  for (int i = 0; i < 301; ++i) e = std::max(e, std::fabs(mean[i] - a.mean_dist[i]));
  EXPECT_LE(e, 1e-6);
  EXPECT_EQ(a.index, std::min_element(mean.begin(), mean.end()) - mean.begin());
  // One row: distance 0 to itself.
  GrisResult one = gris_select(random_feats(c1, 1, 8, 1));
  EXPECT_EQ(one.index, 0);
  EXPECT_EQ(one.mean_dist[0], 0.0);
}

TEST(Gris, Errors) {
  Context ctx = cq::testing::make_ctx(1);
  EXPECT_TRUE(cq::testing::contains(cq::testing::error_of([&] { gris_select(ctx.zeros({3, 4}, DType::f64)); }),
                                    "expected f32 [N,D]"));
  Tensor img = ctx.zeros({2, 2, 3});
  EXPECT_TRUE(cq::testing::contains(cq::testing::error_of([&] { color_hist(img, {}, "x.png"); }), "x.png"));
  Tensor empty = ctx.zeros({0, 5, 3}, DType::u8);
  EXPECT_TRUE(cq::testing::contains(cq::testing::error_of([&] { color_hist(empty, {}, "e.png"); }), "e.png: empty"));
}
