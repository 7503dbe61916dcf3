// The demo's verdict is computed from the numbers: made-up evaluation summaries with known orderings give the
// matching statements (shown, not shown, mixed, unclear, a model that did not learn), and the report carries them.
#include <gtest/gtest.h>

#include <map>

#include "pipeline/demo.h"
#include "tests/support/test_util.h"

using cq::pipeline::DcinMode;
using cq::pipeline::DemoResult;
using cq::pipeline::EvalSummary;
using cq::testing::contains;

namespace {

// A 2-class counter of 100 pixels (50 per class) with `errors` class-1 pixels predicted as 0: the paper Dice falls
// as errors grow (0 errors: 100).
cq::pipeline::DiceCounter counter(int errors) {
  cq::pipeline::DiceCounter c(2);
  std::vector<int64_t> t(100), p(100);
  for (int i = 0; i < 100; ++i) t[size_t(i)] = p[size_t(i)] = i < 50 ? 0 : 1;
  for (int i = 0; i < errors; ++i) p[size_t(50 + i)] = 0;
  c.add_labels(p.data(), t.data(), nullptr, 100);
  return c;
}

// errors[model][domain][mode]; models base, cqg; domains HQ/test, LQ/test, CAM/test.
EvalSummary summary(const std::map<std::string, std::vector<std::vector<int>>>& errors) {
  EvalSummary s;
  s.modes = {DcinMode::none, DcinMode::exri, DcinMode::gris, DcinMode::lris, DcinMode::full};
  s.domains = {{"HQ/test", 3, false}, {"LQ/test", 3, false}, {"CAM/test", 3, false}};
  size_t m = 0;
  for (const char* mode : {"base", "cqg"}) {
    cq::pipeline::EvalModelInfo info;
    info.mode = mode;
    info.label = std::string(mode) + " (" + mode + ")";
    s.models.push_back(info);
    for (size_t d = 0; d < 3; ++d)
      for (size_t k = 0; k < s.modes.size(); ++k) {
        s.cells.emplace_back(m, d, s.modes[k], 2, false);
        s.cells.back().image = counter(errors.at(mode)[d][k]);
      }
    ++m;
  }
  return s;
}

std::string joined(const DemoResult& r) {
  std::string o;
  for (const auto& l : r.verdict_lines) o += l + "\n";
  return o;
}

}  // namespace

TEST(DemoVerdict, ShownNotShownFromTheNumbers) {
  // base: good on HQ, poor on targets without DCIN, better with; cqg: worse than base on the targets.
  const EvalSummary s = summary({{"base", {{2, 2, 2, 2, 2}, {30, 25, 20, 10, 12}, {20, 15, 12, 14, 8}}},
                                 {"cqg", {{3, 3, 3, 3, 3}, {35, 30, 25, 20, 22}, {25, 20, 18, 16, 15}}}});
  DemoResult r;
  cq::pipeline::demo_verdict(s, 0.2, &r);
  const std::string v = joined(r);
  std::printf("%s", v.c_str());
  EXPECT_TRUE(contains(v, "Both models learned the task"));
  EXPECT_TRUE(contains(v, "raises the baseline's target-domain Dice over no DCIN: SHOWN on all 2 target domains"));
  EXPECT_TRUE(contains(v, "over the baseline (both without DCIN): NOT SHOWN: lower on all 2 target domains"));
  EXPECT_TRUE(contains(v, "Best setting for base on LQ/test: LRIS"));
  EXPECT_TRUE(contains(v, "Best setting for base on CAM/test: GRIS+LRIS"));
  ASSERT_EQ(r.effects.size(), 6u);
  EXPECT_EQ(r.effects[0].verdict, "yes");
  EXPECT_EQ(r.effects[2].verdict, "no");
  EXPECT_GT(r.effects[0].after, r.effects[0].before);
  EXPECT_NEAR(r.hq_dice_base, 100 * counter(2).mean_dice(), 1e-9);

  // The other way round: no DCIN gain, a CQG gain on one domain only, and a model that did not learn.
  const EvalSummary s2 = summary({{"base", {{40, 2, 2, 2, 2}, {20, 20, 20, 20, 20}, {20, 25, 25, 25, 25}}},
                                  {"cqg", {{3, 3, 3, 3, 3}, {10, 10, 10, 10, 10}, {30, 30, 30, 30, 30}}}});
  cq::pipeline::demo_verdict(s2, 0.45, &r);
  const std::string v2 = joined(r);
  std::printf("%s", v2.c_str());
  EXPECT_TRUE(contains(v2, "did NOT clearly learn the task"));
  EXPECT_TRUE(contains(v2, "over no DCIN: MIXED: higher on 0 of 2 target domains, lower on 1"));
  EXPECT_TRUE(contains(v2, "(both without DCIN): MIXED: higher on 1 of 2 target domains, lower on 1"));
  EXPECT_EQ(r.effects[0].verdict, "unclear");  // LQ: identical numbers

  // Without a cqg model, or without a target domain, there is no verdict to compute.
  EvalSummary only_base = s;
  only_base.models.pop_back();
  only_base.models[0].mode = "base";
  EXPECT_TRUE(contains(cq::testing::error_of([&] { cq::pipeline::demo_verdict(only_base, 0.2, &r); }),
                       "no cqg model"));
  EvalSummary one_domain = s;
  one_domain.domains.resize(1);
  EXPECT_TRUE(contains(cq::testing::error_of([&] { cq::pipeline::demo_verdict(one_domain, 0.2, &r); }),
                       "at least one target domain"));
}

TEST(DemoVerdict, ReportCarriesVerdictAndTables) {
  const EvalSummary s = summary({{"base", {{2, 2, 2, 2, 2}, {30, 25, 20, 10, 12}, {20, 15, 12, 14, 8}}},
                                 {"cqg", {{3, 3, 3, 3, 3}, {35, 30, 25, 20, 22}, {25, 20, 18, 16, 15}}}});
  DemoResult r;
  r.summary = s;
  cq::pipeline::demo_verdict(s, 0.2, &r);
  cq::pipeline::DemoConfig cfg;
  cq::json::Value timing = cq::json::Value::object();
  timing.set("total_s", cq::json::Value::number(12));
  const std::string md = cq::pipeline::render_demo_report(cfg, r, timing);
  for (const auto& l : r.verdict_lines) EXPECT_TRUE(contains(md, "- " + l)) << l;
  for (const char* s : {"# cqseg demo", "## Verdict", "## Evaluation", "## LQ/test (3 images)", "total_s 12",
                        "| base (base) |", "overlays/domains.png"})
    EXPECT_TRUE(contains(md, s)) << s;
  EXPECT_FALSE(contains(md, "# cqseg eval"));
}

TEST(DemoConfig, Validation) {
  cq::pipeline::DemoConfig c;
  EXPECT_NO_THROW(c.validate());
  EXPECT_NO_THROW(cq::pipeline::DemoConfig::quick().validate());
  c.height = 100;
  EXPECT_TRUE(contains(cq::testing::error_of([&] { c.validate(); }), "multiples of 32"));
  c = {};
  c.train = 1;
  EXPECT_TRUE(contains(cq::testing::error_of([&] { c.validate(); }), "at least one batch"));
  c = {};
  c.out = "";
  EXPECT_TRUE(contains(cq::testing::error_of([&] { c.validate(); }), "--out"));
}
