// The layers the models are built from. Each holds its parameters under PyTorch's names (weight, bias,
// running_mean, running_var, num_batches_tracked) so state dicts load by name.
#pragma once
#include <functional>
#include <memory>
#include <vector>

#include "kernels/conv2d/conv2d.h"
#include "kernels/norm/norm_act_math.h"
#include "nn/module.h"

namespace cq::nn {

// A module with one input and one output.
class Layer : public Module {
 public:
  virtual Tensor forward(const Tensor& x) = 0;
  Tensor operator()(const Tensor& x) { return forward(x); }
};

class Conv2d : public Layer {
 public:
  // Weight [out, in/groups, kh, kw], PyTorch default init; bias optional.
  Conv2d(Context& ctx, int64_t in, int64_t out, int64_t kh, int64_t kw, Conv2dParams p, bool bias);
  Tensor forward(const Tensor& x) override;
  Tensor weight, bias;
  Conv2dParams params;
};

// act: an activation applied by the same op (batch_norm_act: one pass over memory instead of two, and the backward
// recomputes the pre-activation instead of saving it); it adds no parameters, so state dicts are unchanged.
class BatchNorm2d : public Layer {
 public:
  BatchNorm2d(Context& ctx, int64_t channels, double eps = 1e-5, double momentum = 0.1,
              NormAct act = NormAct::identity);
  Tensor forward(const Tensor& x) override;
  Tensor weight, bias, running_mean, running_var, num_batches_tracked;
  double eps, momentum;
  NormAct act;
  // Synchronised BatchNorm (data parallel, nn/sync_batch_norm.h): when set, training-mode statistics and their
  // gradients are summed over the process group through it; unset: this process's batch statistics.
  std::function<void(double*, int64_t)> group_sum;
};

// bn(conv(x)) for the Conv -> BatchNorm(-> act) pairs of the models. In inference (bn in eval mode, no gradient
// wanted, CPU f32, groups 1) it runs as one fused op, conv2d_scale_shift_act: the BN's affine and activation are
// applied to each GEMM tile while it is in cache instead of in a second pass over memory. Otherwise the two ops.
Tensor conv_bn_forward(Conv2d& conv, BatchNorm2d& bn, const Tensor& x);
// bn(conv(x)) + residual (a block's skip connection): on the fused path the add happens in the same pass.
Tensor conv_bn_forward(Conv2d& conv, BatchNorm2d& bn, const Tensor& x, const Tensor& residual);

class Linear : public Layer {
 public:
  Linear(Context& ctx, int64_t in, int64_t out, bool bias = true);
  Tensor forward(const Tensor& x) override;  // x [..., in] -> [..., out]
  Tensor weight, bias;
};

class LayerNorm : public Layer {
 public:
  LayerNorm(Context& ctx, int64_t dim, double eps = 1e-5);
  Tensor forward(const Tensor& x) override;
  Tensor weight, bias;
  double eps;
};

// Element-wise activation by name: relu, silu (swish), gelu (erf), sigmoid, identity.
class Activation : public Layer {
 public:
  explicit Activation(const std::string& name);
  Tensor forward(const Tensor& x) override;

 private:
  std::function<Tensor(const Tensor&)> fn_;
};

// Inverted dropout (p zeroed, survivors scaled by 1/(1-p)) in training; identity in eval.
class Dropout : public Layer {
 public:
  Dropout(Context& ctx, double p);
  Tensor forward(const Tensor& x) override;

 private:
  Context* ctx_;
  double p_;
};

// Stochastic depth / drop-connect: in training, zeroes whole samples (axis 0) with probability p and scales the
// survivors by 1/(1-p), as timm's drop_path and lukemelas' drop_connect.
Tensor drop_path(Context& ctx, const Tensor& x, double p, bool training);

// Squeeze-and-excitation gate: x * sigmoid(expand(act(reduce(global_avg_pool(x))))), reduce/expand 1x1 convs with
// bias (EfficientNet's SE, whose convs live at block level under lukemelas' names _se_reduce / _se_expand).
Tensor squeeze_excite(const Tensor& x, Conv2d& reduce, Conv2d& expand, const std::string& act = "silu");

// A list of modules named "0", "1", ... (torch.nn.ModuleList) without a forward of its own.
class ModuleList : public Module {
 public:
  template <class M>
  std::shared_ptr<M> add(std::shared_ptr<M> m) {
    return register_module(std::to_string(count_++), std::move(m));
  }

 private:
  int count_ = 0;
};

class Sequential : public Layer {
 public:
  Sequential() = default;
  // Children are named "0", "1", ... as torch.nn.Sequential.
  Sequential& add(std::shared_ptr<Layer> m);
  Tensor forward(const Tensor& x) override;
  size_t size() const { return layers_.size(); }
  Layer& at(size_t i) { return *layers_.at(i); }

 private:
  std::vector<std::shared_ptr<Layer>> layers_;
};

}  // namespace cq::nn
