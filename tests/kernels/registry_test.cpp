// The op registry (tensor/op_registry.h) against the test suite: every differentiable op must have a float64
// gradient check TEST(GradCheck, <op>), every non-differentiable op a TEST(Forward, <op>), and every GradCheck test
// must name a registered op. Prints the table so a reader sees the coverage.
#include <gtest/gtest.h>

#include <cstdio>
#include <set>
#include <string>

#include "tensor/op_registry.h"

namespace {
std::set<std::string> tests_in_suite(const char* suite) {
  std::set<std::string> names;
  auto* ut = ::testing::UnitTest::GetInstance();
  for (int i = 0; i < ut->total_test_suite_count(); ++i) {
    const auto* ts = ut->GetTestSuite(i);
    if (std::string(ts->name()) != suite) continue;
    for (int j = 0; j < ts->total_test_count(); ++j) names.insert(ts->GetTestInfo(j)->name());
  }
  return names;
}
}  // namespace

TEST(OpRegistry, EveryOpHasItsGradientOrForwardTest) {
  auto grad = tests_in_suite("GradCheck");
  auto fwd = tests_in_suite("Forward");
  int n_diff = 0, n_fwd = 0;
  for (const auto& op : cq::kOps) {
    bool has = op.differentiable ? grad.count(op.name) > 0 : fwd.count(op.name) > 0;
    std::printf("  %-20s %-12s %-14s %s\n", op.name, op.family, op.differentiable ? "GradCheck" : "Forward (no grad)",
                has ? "ok" : "MISSING");
    EXPECT_TRUE(has) << "op '" << op.name << "' (" << op.family << ") has no "
                     << (op.differentiable ? "TEST(GradCheck, " : "TEST(Forward, ") << op.name << ")";
    (op.differentiable ? n_diff : n_fwd)++;
  }
  std::printf("  %d differentiable ops with gradient checks, %d non-differentiable ops with forward tests\n", n_diff,
              n_fwd);
}

TEST(OpRegistry, EveryGradCheckNamesARegisteredOp) {
  for (const auto& name : tests_in_suite("GradCheck")) {
    const cq::OpInfo* op = cq::find_op(name.c_str());
    EXPECT_TRUE(op != nullptr && op->differentiable) << "GradCheck." << name << " checks no registered op";
  }
}
