// Float64 central-difference gradient check, used by every op's GradCheck.<op> test.
#pragma once
#include <functional>
#include <vector>

#include <gtest/gtest.h>

#include "tensor/context.h"

namespace cq::testing {

struct GradCheckOptions {
  double eps = 1e-6;   // central-difference step
  double atol = 1e-6;  // |analytic - numeric| <= atol + rtol * |numeric|
  double rtol = 1e-5;
};

using TensorFn = std::function<Tensor(const std::vector<Tensor>&)>;

// Checks d(sum(f(inputs) * w))/d(input) for every input that requires grad (must be f64 CPU), with w a fixed random
// upstream gradient, analytic (autograd) against numeric (central differences perturbing one element at a time).
::testing::AssertionResult gradcheck(Context& ctx, const TensorFn& f, const std::vector<Tensor>& inputs,
                                     GradCheckOptions opt = {});

// Max |a - b| over all elements (both converted to f64 on the host); shapes must match.
double max_abs_diff(const Tensor& a, const Tensor& b);
// EXPECT-style check that every element of a equals the expected value within tol.
::testing::AssertionResult allclose(const Tensor& a, const std::vector<double>& expected, double tol = 1e-6);
::testing::AssertionResult allclose(const Tensor& a, const Tensor& b, double tol = 1e-6);

// A non-contiguous tensor with the same values as t (stored transposed then transposed back: strides permuted).
Tensor make_noncontiguous(const Tensor& t);

}  // namespace cq::testing

// Skips the current test (reported SKIPPED, never PASSED) when no CUDA device is present.
#define CQ_REQUIRE_CUDA()                                                                           \
  do {                                                                                              \
    if (!::cq::cuda::available()) GTEST_SKIP() << "no CUDA device (or CUDA not built): GPU test skipped"; \
  } while (0)
