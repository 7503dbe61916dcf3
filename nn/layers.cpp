#include "nn/layers.h"

#include <cmath>
#include <vector>

#include "kernels/elementwise/elementwise.h"
#include "kernels/matmul/matmul.h"
#include "kernels/norm/norm.h"
#include "kernels/norm/norm_act.h"
#include "kernels/pool/channel_gate.h"
#include "kernels/pool/pool.h"
#include "nn/init.h"
#include "nn/sync_batch_norm.h"

namespace cq::nn {

Conv2d::Conv2d(Context& ctx, int64_t in, int64_t out, int64_t kh, int64_t kw, Conv2dParams p, bool has_bias)
    : params(p) {
  CQ_CHECK(p.groups > 0 && in % p.groups == 0 && out % p.groups == 0, "Conv2d: groups ", p.groups,
           " must divide in ", in, " and out ", out);
  weight = register_parameter("weight", ctx.zeros({out, in / p.groups, kh, kw}));
  if (has_bias) bias = register_parameter("bias", ctx.zeros({out}));
  init::torch_default_(ctx, weight, has_bias ? &bias : nullptr);
}

Tensor Conv2d::forward(const Tensor& x) { return conv2d(x, weight, bias, params); }

BatchNorm2d::BatchNorm2d(Context& ctx, int64_t c, double eps_, double momentum_, NormAct act_)
    : eps(eps_), momentum(momentum_), act(act_) {
  weight = register_parameter("weight", ctx.ones({c}));
  bias = register_parameter("bias", ctx.zeros({c}));
  running_mean = register_buffer("running_mean", ctx.zeros({c}));
  running_var = register_buffer("running_var", ctx.ones({c}));
  num_batches_tracked = register_buffer("num_batches_tracked", ctx.zeros({}, DType::i64));
}

Tensor BatchNorm2d::forward(const Tensor& x) {
  if (is_training()) {
    NoGradGuard ng(x.runtime());
    num_batches_tracked.fill_(num_batches_tracked.item() + 1);
  }
  if (is_training() && group_sum)
    return sync_batch_norm_act(x, weight, bias, running_mean, running_var, momentum, eps, act, group_sum);
  return batch_norm_act(x, weight, bias, running_mean, running_var, is_training(), momentum, eps, act);
}

Tensor conv_bn_forward(Conv2d& conv, BatchNorm2d& bn, const Tensor& x) {
  return conv_bn_forward(conv, bn, x, Tensor());
}

Tensor conv_bn_forward(Conv2d& conv, BatchNorm2d& bn, const Tensor& x, const Tensor& residual) {
  bool fusable = !bn.is_training() && !x.runtime().grad_enabled() && x.device().is_cpu() &&
                 x.dtype() == DType::f32 && conv.weight.dtype() == DType::f32 && conv.params.groups == 1 &&
                 bn.running_mean.dtype() == DType::f32 && (!residual.defined() || residual.dtype() == DType::f32);
  if (!fusable) {
    Tensor y = bn.forward(conv.forward(x));
    return residual.defined() ? add(y, residual) : y;
  }
  // scale = gamma / sqrt(var + eps), shift = beta - mean * scale (+ scale * conv bias), in double then rounded once.
  int64_t C = conv.weight.shape()[0];
  CQ_CHECK(bn.weight.numel() == C, "conv_bn_forward: BatchNorm2d has ", bn.weight.numel(), " channels but the conv has ",
           C, " outputs");
  std::vector<double> g = bn.weight.to_vector<double>(), b = bn.bias.to_vector<double>();
  std::vector<double> m = bn.running_mean.to_vector<double>(), v = bn.running_var.to_vector<double>();
  std::vector<double> cb = conv.bias.defined() ? conv.bias.to_vector<double>() : std::vector<double>(C, 0.0);
  std::vector<double> sc(C), sh(C);
  for (int64_t c = 0; c < C; ++c) {
    sc[c] = g[c] / std::sqrt(v[c] + bn.eps);
    sh[c] = b[c] + (cb[c] - m[c]) * sc[c];
  }
  Tensor scale = x.new_empty({C}), shift = x.new_empty({C});
  for (int64_t c = 0; c < C; ++c) {
    scale.data<float>()[c] = static_cast<float>(sc[c]);
    shift.data<float>()[c] = static_cast<float>(sh[c]);
  }
  int act = bn.act == NormAct::relu ? 1 : bn.act == NormAct::silu ? 2 : 0;
  return conv2d_scale_shift_act(x, conv.weight, scale, shift, act, conv.params, residual);
}

Linear::Linear(Context& ctx, int64_t in, int64_t out, bool has_bias) {
  weight = register_parameter("weight", ctx.zeros({out, in}));
  if (has_bias) bias = register_parameter("bias", ctx.zeros({out}));
  init::torch_default_(ctx, weight, has_bias ? &bias : nullptr);
}

Tensor Linear::forward(const Tensor& x) {
  CQ_CHECK(x.dim() >= 1 && x.size(-1) == weight.size(1), "Linear: input ", x.describe(), " does not end in ",
           weight.size(1), " features (weight ", weight.describe(), ")");
  Shape out_shape = x.shape();
  out_shape.back() = weight.size(0);
  Tensor y = matmul(x.reshape({-1, weight.size(1)}), weight.transpose(0, 1));
  if (bias.defined()) y = add(y, bias);
  return y.reshape(out_shape);
}

LayerNorm::LayerNorm(Context& ctx, int64_t dim, double eps_) : eps(eps_) {
  weight = register_parameter("weight", ctx.ones({dim}));
  bias = register_parameter("bias", ctx.zeros({dim}));
}

Tensor LayerNorm::forward(const Tensor& x) { return layer_norm(x, 1, weight, bias, eps); }

Activation::Activation(const std::string& name) {
  if (name == "relu") fn_ = [](const Tensor& x) { return relu(x); };
  else if (name == "silu" || name == "swish") fn_ = [](const Tensor& x) { return silu(x); };
  else if (name == "gelu") fn_ = [](const Tensor& x) { return gelu(x); };
  else if (name == "sigmoid") fn_ = [](const Tensor& x) { return sigmoid(x); };
  else if (name == "identity") fn_ = [](const Tensor& x) { return x; };
  else fail("Activation: unknown activation '", name, "' (relu, silu, gelu, sigmoid, identity)");
}

Tensor Activation::forward(const Tensor& x) { return fn_(x); }

Dropout::Dropout(Context& ctx, double p) : ctx_(&ctx), p_(p) {
  CQ_CHECK(p >= 0 && p < 1, "Dropout: p must be in [0, 1), got ", p);
}

Tensor Dropout::forward(const Tensor& x) {
  if (!is_training() || p_ == 0) return x;
  std::vector<double> m(static_cast<size_t>(x.numel()));
  for (auto& v : m) v = ctx_->rng().uniform() < p_ ? 0.0 : 1.0 / (1.0 - p_);
  Tensor mask = ctx_->from_vector(m, x.shape(), x.dtype()).to(x.device());
  return mul(x, mask);
}

Tensor drop_path(Context& ctx, const Tensor& x, double p, bool training) {
  if (!training || p == 0) return x;
  int64_t n = x.size(0);
  std::vector<double> m(static_cast<size_t>(n));
  for (auto& v : m) v = ctx.rng().uniform() < p ? 0.0 : 1.0 / (1.0 - p);
  Shape ms(static_cast<size_t>(x.dim()), 1);
  ms[0] = n;
  Tensor mask = ctx.from_vector(m, ms, x.dtype()).to(x.device());
  return mul(x, mask);
}

Tensor squeeze_excite(const Tensor& x, Conv2d& reduce, Conv2d& expand, const std::string& act) {
  Activation a(act);
  Tensor s = expand.forward(a.forward(reduce.forward(global_avg_pool2d(x))));
  return channel_gate(x, s);  // = mul(x, sigmoid(s)), one op on the CPU
}

Sequential& Sequential::add(std::shared_ptr<Layer> m) {
  register_module(std::to_string(layers_.size()), m);
  layers_.push_back(std::move(m));
  return *this;
}

Tensor Sequential::forward(const Tensor& x) {
  Tensor y = x;
  for (auto& l : layers_) y = l->forward(y);
  return y;
}

}  // namespace cq::nn
