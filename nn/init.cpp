#include "nn/init.h"

#include <cmath>

namespace cq::nn::init {

namespace {
int64_t receptive(const Tensor& w) {
  int64_t r = 1;
  for (int64_t i = 2; i < w.dim(); ++i) r *= w.size(i);
  return r;
}
void fill_host(Context& ctx, Tensor& t, const std::vector<double>& v) {
  NoGradGuard ng(ctx.runtime());
  t.copy_(ctx.from_vector(v, t.shape(), DType::f64));
}
}  // namespace

int64_t fan_in(const Tensor& w) {
  CQ_CHECK(w.dim() >= 2, "init: fan_in needs a weight of rank >= 2, got ", w.describe());
  return w.size(1) * receptive(w);
}
int64_t fan_out(const Tensor& w) {
  CQ_CHECK(w.dim() >= 2, "init: fan_out needs a weight of rank >= 2, got ", w.describe());
  return w.size(0) * receptive(w);
}

void uniform_(Context& ctx, Tensor& t, double lo, double hi) {
  std::vector<double> v(static_cast<size_t>(t.numel()));
  for (auto& x : v) x = ctx.rng().uniform(lo, hi);
  fill_host(ctx, t, v);
}

void normal_(Context& ctx, Tensor& t, double mean, double std) {
  std::vector<double> v(static_cast<size_t>(t.numel()));
  for (auto& x : v) x = mean + std * ctx.rng().normal();
  fill_host(ctx, t, v);
}

void constant_(Tensor& t, double v) {
  NoGradGuard ng(t.runtime());
  t.fill_(v);
}

void kaiming_uniform_(Context& ctx, Tensor& w, double a, bool relu) {
  double gain = relu ? std::sqrt(2.0) : std::sqrt(2.0 / (1.0 + a * a));
  double bound = gain * std::sqrt(3.0 / static_cast<double>(fan_in(w)));
  uniform_(ctx, w, -bound, bound);
}

void xavier_uniform_(Context& ctx, Tensor& w, double gain) {
  double bound = gain * std::sqrt(6.0 / static_cast<double>(fan_in(w) + fan_out(w)));
  uniform_(ctx, w, -bound, bound);
}

void torch_default_(Context& ctx, Tensor& w, Tensor* bias) {
  kaiming_uniform_(ctx, w, std::sqrt(5.0), /*relu=*/false);
  if (bias && bias->defined()) {
    double b = 1.0 / std::sqrt(static_cast<double>(fan_in(w)));
    uniform_(ctx, *bias, -b, b);
  }
}

}  // namespace cq::nn::init
