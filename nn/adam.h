// Adam over a list of named parameters, with torch.optim.Adam semantics (PyTorch 1.13): defaults lr 1e-3,
// betas (0.9, 0.999), eps 1e-8, weight_decay 0 (L2 added to the gradient), amsgrad false; bias correction exactly as
// PyTorch (den = sqrt(v)/sqrt(1 - beta2^t) + eps, step = lr/(1 - beta1^t); per-element formula in nn/adam_math.h).
// Each parameter keeps its own step count t; a parameter whose grad is undefined is skipped (its state is neither
// created nor advanced), as PyTorch skips params with grad None. State is created lazily at a parameter's first step.
//
// state_dict() / load_state_dict() export and import the whole optimizer as named tensors (for checkpoints in
// safetensors), so a run resumes bit-identically:
//   "step/<param>"            i64 0-dim   the parameter's step count t
//   "exp_avg/<param>"         param shape and dtype
//   "exp_avg_sq/<param>"      param shape and dtype
//   "max_exp_avg_sq/<param>"  param shape and dtype (amsgrad only)
//   "hparam/lr", "hparam/beta1", "hparam/beta2", "hparam/eps", "hparam/weight_decay", "hparam/amsgrad"  f64 0-dim
// (PyTorch's load_state_dict also restores the group's hyper-parameters; so does this one.)
#pragma once
#include <map>
#include <string>
#include <vector>

#include "nn/module.h"

namespace cq::nn {

struct AdamOptions {
  double lr = 1e-3;
  double beta1 = 0.9;
  double beta2 = 0.999;
  double eps = 1e-8;
  double weight_decay = 0.0;
  bool amsgrad = false;
};

class Adam {
 public:
  // params: (name, tensor) pairs, e.g. module.named_parameters(); names must be unique, tensors contiguous f32/f64.
  explicit Adam(const NamedTensors& params, AdamOptions opt = {});

  // One update of every parameter that has a gradient (no autograd recording; parameters change in place).
  void step();
  // Drops every parameter's gradient (PyTorch zero_grad(set_to_none=True)).
  void zero_grad();

  NamedTensors state_dict() const;
  // Replaces the whole state (as PyTorch): parameters without "step/<name>" in sd start fresh. Throws cq::Error on
  // unknown names, a missing exp_avg/exp_avg_sq (or max_exp_avg_sq under amsgrad) for a parameter with a step, shape
  // mismatches or non-integral/negative steps. Values are copied (cast to the parameter's dtype and device).
  void load_state_dict(const std::map<std::string, Tensor>& sd);

  const AdamOptions& options() const { return opt_; }
  void set_lr(double lr) { opt_.lr = lr; }
  // 0 before the parameter's first step.
  int64_t step_count(const std::string& name) const;
  const NamedTensors& params() const { return params_; }

 private:
  struct State {
    int64_t step = 0;
    Tensor exp_avg, exp_avg_sq, max_exp_avg_sq;  // undefined until the first step
  };
  size_t index_of(const std::string& name) const;
  NamedTensors params_;
  std::vector<State> state_;
  AdamOptions opt_;
};

}  // namespace cq::nn
