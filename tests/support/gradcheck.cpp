#include "tests/support/gradcheck.h"

#include <cmath>
#include <sstream>

#include "tensor/cuda_backend.h"

namespace cq::testing {

namespace {
double weighted_sum(const Tensor& out, const std::vector<double>& w) {
  std::vector<double> v = out.to_vector<double>();
  double s = 0;
  for (size_t i = 0; i < v.size(); ++i) s += v[i] * w[i];
  return s;
}
}  // namespace

::testing::AssertionResult gradcheck(Context& ctx, const TensorFn& f, const std::vector<Tensor>& inputs,
                                     GradCheckOptions opt) {
  std::vector<Tensor> diff;
  for (const auto& t : inputs) {
    if (!t.defined() || !t.requires_grad()) continue;
    if (t.dtype() != DType::f64 || !t.device().is_cpu() || !t.is_contiguous())
      return ::testing::AssertionFailure() << "gradcheck: inputs must be contiguous f64 CPU leaves, got "
                                           << t.describe();
    diff.push_back(t);
  }
  if (diff.empty()) return ::testing::AssertionFailure() << "gradcheck: no input requires grad";

  Tensor out = f(inputs);
  if (!out.requires_grad()) return ::testing::AssertionFailure() << "gradcheck: output does not require grad";
  Rng rng(1234);
  std::vector<double> w(static_cast<size_t>(out.numel()));
  for (auto& x : w) x = rng.uniform(-1.0, 1.0);
  Tensor wt = ctx.from_vector(w, out.shape(), DType::f64);
  std::vector<Tensor> analytic = cq::grad(out, diff, wt);

  std::ostringstream err;
  int bad = 0;
  for (size_t k = 0; k < diff.size(); ++k) {
    Tensor x = diff[k];
    double* p = x.data<double>();
    std::vector<double> a = analytic[k].to_vector<double>();
    if (static_cast<int64_t>(a.size()) != x.numel())
      return ::testing::AssertionFailure() << "gradcheck: analytic grad of input " << k << " has " << a.size()
                                           << " elements, input has " << x.numel();
    for (int64_t j = 0; j < x.numel(); ++j) {
      double orig = p[j];
      double fp, fm;
      {
        NoGradGuard ng(ctx.runtime());
        p[j] = orig + opt.eps;
        fp = weighted_sum(f(inputs), w);
        p[j] = orig - opt.eps;
        fm = weighted_sum(f(inputs), w);
        p[j] = orig;
      }
      double num = (fp - fm) / (2 * opt.eps);
      double tol = opt.atol + opt.rtol * std::fabs(num);
      if (!(std::fabs(a[j] - num) <= tol)) {
        if (bad++ < 8)
          err << "\n  input " << k << " " << x.describe() << " element " << j << ": analytic " << a[j] << " numeric "
              << num;
      }
    }
  }
  if (bad) return ::testing::AssertionFailure() << bad << " gradient element(s) differ:" << err.str();
  return ::testing::AssertionSuccess();
}

double max_abs_diff(const Tensor& a, const Tensor& b) {
  CQ_CHECK(a.shape() == b.shape(), "max_abs_diff: shapes ", a.describe(), " and ", b.describe());
  std::vector<double> x = a.to_vector<double>(), y = b.to_vector<double>();
  double m = 0;
  for (size_t i = 0; i < x.size(); ++i) {
    double d = std::fabs(x[i] - y[i]);
    if (std::isnan(d)) return INFINITY;
    m = std::max(m, d);
  }
  return m;
}

::testing::AssertionResult allclose(const Tensor& a, const std::vector<double>& expected, double tol) {
  std::vector<double> x = a.to_vector<double>();
  if (x.size() != expected.size())
    return ::testing::AssertionFailure() << a.describe() << " has " << x.size() << " elements, expected "
                                         << expected.size();
  for (size_t i = 0; i < x.size(); ++i)
    if (!(std::fabs(x[i] - expected[i]) <= tol))
      return ::testing::AssertionFailure() << "element " << i << ": got " << x[i] << ", expected " << expected[i];
  return ::testing::AssertionSuccess();
}

::testing::AssertionResult allclose(const Tensor& a, const Tensor& b, double tol) {
  if (a.shape() != b.shape()) return ::testing::AssertionFailure() << a.describe() << " vs " << b.describe();
  return allclose(a, b.to_vector<double>(), tol);
}

Tensor make_noncontiguous(const Tensor& t) {
  if (t.dim() < 2) {
    // Take every other element of a doubled buffer: stride 2.
    Tensor big = t.new_zeros({t.numel() * 2});
    Tensor v = big.slice(0, 0, t.numel() * 2, 2).reshape(t.shape());
    v.copy_(t);
    return v;
  }
  Tensor tt = t.transpose(0, 1).contiguous().detach();
  Tensor v = tt.transpose(0, 1);
  v = v.detach();
  if (t.requires_grad()) v.set_requires_grad(true);
  return v;
}

}  // namespace cq::testing
