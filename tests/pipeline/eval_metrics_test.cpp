// The evaluation's Dice against the metric oracle shared/fixtures/metrics.safetensors (MANIFEST "metrics"): per-class
// TP/FP/FN exact, per-class Dice abs 1e-6 with NaN at the dropped class, the paper's mean abs 1e-6, and the binary
// vessel case. The numbers are read back from metrics.json as `cqseg eval` writes it, so the whole reporting path is
// checked. Negative: the reported paper Dice must differ from the fixture's two wrong-convention values.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>

#include "nn/safetensors.h"
#include "pipeline/report.h"
#include "tests/support/shared.h"
#include "tests/support/test_util.h"

using namespace cq;
using namespace cq::pipeline;

namespace {

constexpr const char* kFix = "fixtures/metrics.safetensors";

// A one-model, one-domain summary holding the counter; returns its metrics.json "image" block.
json::Value through_report(const std::vector<int64_t>& pred, const std::vector<int64_t>& target, int classes) {
  EvalSummary s;
  s.models.push_back({"m", "m.safetensors", "", "cqg", "run", "D/train", classes, 16, 24});
  s.domains.push_back({"D/test", 3, false});
  s.modes = {DcinMode::none};
  s.cells.emplace_back(0, 0, DcinMode::none, classes, false);
  s.cells[0].image.add_labels(pred.data(), target.data(), nullptr, pred.size());
  const json::Value m = json::parse(json::dump(metrics_json(s)));
  return *m.find("results")->as_array().at(0).find("image");
}

double num_or_nan(const json::Value& v) { return v.is_null() ? std::nan("") : v.as_number(); }

}  // namespace

TEST(EvalMetricsParity, PaperDiceMatchesOracle) {
  CQ_REQUIRE_SHARED(kFix);
  Context ctx = cq::testing::make_ctx();
  SafetensorsFile f = SafetensorsFile::open(cq::testing::shared_dir() + "/" + kFix);
  const auto pred = f.load(ctx, "pred").to_vector<int64_t>();
  const auto target = f.load(ctx, "target").to_vector<int64_t>();
  const auto tp = f.load(ctx, "tp").to_vector<int64_t>(), fp = f.load(ctx, "fp").to_vector<int64_t>(),
             fn = f.load(ctx, "fn").to_vector<int64_t>();
  const auto dpc = f.load(ctx, "dice_per_class").to_vector<float>();
  const double mean = f.load(ctx, "dice_mean").item();
  const int K = int(tp.size());
  const json::Value img = through_report(pred, target, K);
  const auto& cls = img.find("per_class")->as_array();
  ASSERT_EQ(int(cls.size()), K);
  double max_err = 0;
  for (int c = 0; c < K; ++c) {
    EXPECT_EQ(int64_t(cls[size_t(c)].find("tp")->as_number()), tp[size_t(c)]) << c;
    EXPECT_EQ(int64_t(cls[size_t(c)].find("fp")->as_number()), fp[size_t(c)]) << c;
    EXPECT_EQ(int64_t(cls[size_t(c)].find("fn")->as_number()), fn[size_t(c)]) << c;
    const double d = num_or_nan(*cls[size_t(c)].find("dice"));
    ASSERT_EQ(std::isnan(d), std::isnan(dpc[size_t(c)])) << "NaN position differs at class " << c;
    if (!std::isnan(d)) max_err = std::max(max_err, std::fabs(d - dpc[size_t(c)]));
  }
  const double got = img.find("dice_mean")->as_number();
  std::printf("metrics parity: per-class Dice max abs err %.3g, paper Dice %.7f vs oracle %.7f (abs err %.3g)\n",
              max_err, got, mean, std::fabs(got - mean));
  EXPECT_LE(max_err, 1e-6);
  EXPECT_NEAR(got, mean, 1e-6);

  // Negative: the two wrong conventions give other numbers, and the engine is not reporting either of them.
  const double fg_only = f.load(ctx, "alt/dice_mean_fg_only").item();
  const double per_image = f.load(ctx, "alt/dice_mean_per_image").item();
  std::printf("wrong conventions: fg-only %.6f, per-image %.6f (paper %.6f)\n", fg_only, per_image, got);
  EXPECT_GT(std::fabs(got - fg_only), 1e-3);
  EXPECT_GT(std::fabs(got - per_image), 1e-3);
  // The foreground Dice column is exactly the fg-only convention (reported separately, never as the paper Dice).
  EXPECT_NEAR(img.find("dice_fg")->as_number(), fg_only, 1e-6);
}

TEST(EvalMetricsParity, BinaryVesselDice) {
  CQ_REQUIRE_SHARED(kFix);
  Context ctx = cq::testing::make_ctx();
  SafetensorsFile f = SafetensorsFile::open(cq::testing::shared_dir() + "/" + kFix);
  const auto bp = f.load(ctx, "bin/pred").to(DType::i64).to_vector<int64_t>();
  const auto bt = f.load(ctx, "bin/target").to(DType::i64).to_vector<int64_t>();
  const json::Value img = through_report(bp, bt, 2);
  const auto& v = img.find("per_class")->as_array().at(1);
  EXPECT_EQ(int64_t(v.find("tp")->as_number()), int64_t(f.load(ctx, "bin/tp").item()));
  EXPECT_EQ(int64_t(v.find("fp")->as_number()), int64_t(f.load(ctx, "bin/fp").item()));
  EXPECT_EQ(int64_t(v.find("fn")->as_number()), int64_t(f.load(ctx, "bin/fn").item()));
  const double fg = img.find("dice_fg")->as_number(), macro = img.find("dice_mean")->as_number();
  std::printf("binary: vessel Dice %.7f vs %.7f, macro incl. background %.7f vs %.7f\n", fg,
              f.load(ctx, "bin/dice").item(), macro, f.load(ctx, "bin/alt_dice_macro_incl_bg").item());
  EXPECT_NEAR(fg, f.load(ctx, "bin/dice").item(), 1e-6);
  EXPECT_NEAR(macro, f.load(ctx, "bin/alt_dice_macro_incl_bg").item(), 1e-6);
}

TEST(EvalMetricsParity, NegativeShiftedPredictionIsCaught) {
  CQ_REQUIRE_SHARED(kFix);
  Context ctx = cq::testing::make_ctx();
  SafetensorsFile f = SafetensorsFile::open(cq::testing::shared_dir() + "/" + kFix);
  auto pred = f.load(ctx, "pred").to_vector<int64_t>();
  const auto target = f.load(ctx, "target").to_vector<int64_t>();
  // One flipped pixel changes the counts: the comparison above would fail on it.
  pred[0] = (pred[0] + 1) % 3;
  const json::Value img = through_report(pred, target, 5);
  const auto tp = f.load(ctx, "tp").to_vector<int64_t>(), fp = f.load(ctx, "fp").to_vector<int64_t>();
  bool differs = false;
  for (size_t c = 0; c < tp.size(); ++c) {
    const auto& e = img.find("per_class")->as_array()[c];
    differs = differs || int64_t(e.find("tp")->as_number()) != tp[c] || int64_t(e.find("fp")->as_number()) != fp[c];
  }
  EXPECT_TRUE(differs);
  EXPECT_GT(std::fabs(img.find("dice_mean")->as_number() - f.load(ctx, "dice_mean").item()), 1e-6);
}
