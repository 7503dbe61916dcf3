// Module: named parameters (trainable leaves), buffers (e.g. BatchNorm running stats) and child modules, in
// registration order, with PyTorch-style dotted names so published state dicts load by name.
#pragma once
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "tensor/context.h"

namespace cq::nn {

using NamedTensors = std::vector<std::pair<std::string, Tensor>>;

struct LoadReport {
  std::vector<std::string> missing;     // in the module, absent from the state dict
  std::vector<std::string> unexpected;  // in the state dict, absent from the module
};

class Module {
 public:
  virtual ~Module() = default;
  Module() = default;
  Module(const Module&) = delete;
  Module& operator=(const Module&) = delete;

  NamedTensors named_parameters() const;
  NamedTensors named_buffers() const;
  std::vector<Tensor> parameters() const;
  // Parameters then buffers, each in registration order (the order PyTorch's state_dict() lists them modulo
  // interleaving; names, not order, are what loading matches).
  NamedTensors state_dict() const;
  // Copies values by name into the existing tensors (shape must match exactly; dtype converted). strict: any missing
  // or unexpected name is an error listing them all; otherwise they are returned.
  LoadReport load_state_dict(const std::map<std::string, Tensor>& sd, bool strict = true);
  int64_t num_parameters() const;

  virtual void train(bool on = true);
  void eval() { train(false); }
  bool is_training() const { return training_; }
  // Moves every parameter and buffer to dev in place (handles held by layers stay valid).
  void to(Device dev);
  // Converts every floating parameter and buffer to dt (f32 or f64) in place; integer buffers are kept. Used to run a
  // model in float64 (gradient parity free of f32 rounding, see tests/models/unet_train_step_test.cpp).
  void to(DType dt);
  void zero_grad();
  // Calls fn on this module and every descendant, parents first, in registration order.
  void apply(const std::function<void(Module&)>& fn);

 protected:
  Tensor& register_parameter(const std::string& name, Tensor t);
  Tensor& register_buffer(const std::string& name, Tensor t);
  template <class M>
  std::shared_ptr<M> register_module(const std::string& name, std::shared_ptr<M> m) {
    children_.emplace_back(name, m);
    return m;
  }

 private:
  void collect(const std::string& prefix, bool params, NamedTensors& out) const;
  NamedTensors params_;
  NamedTensors buffers_;
  std::vector<std::pair<std::string, std::shared_ptr<Module>>> children_;
  bool training_ = true;
};

}  // namespace cq::nn
