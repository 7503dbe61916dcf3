#include "nn/module.h"

#include <set>
#include <sstream>

namespace cq::nn {

Tensor& Module::register_parameter(const std::string& name, Tensor t) {
  CQ_CHECK(t.defined(), "Module: parameter '", name, "' is undefined");
  if (!t.requires_grad()) t.set_requires_grad(true);
  params_.emplace_back(name, t);
  return params_.back().second;
}

Tensor& Module::register_buffer(const std::string& name, Tensor t) {
  CQ_CHECK(t.defined(), "Module: buffer '", name, "' is undefined");
  buffers_.emplace_back(name, t);
  return buffers_.back().second;
}

void Module::collect(const std::string& prefix, bool params, NamedTensors& out) const {
  for (const auto& kv : params ? params_ : buffers_) out.emplace_back(prefix + kv.first, kv.second);
  for (const auto& c : children_) c.second->collect(prefix + c.first + ".", params, out);
}

NamedTensors Module::named_parameters() const {
  NamedTensors out;
  collect("", true, out);
  return out;
}

NamedTensors Module::named_buffers() const {
  NamedTensors out;
  collect("", false, out);
  return out;
}

std::vector<Tensor> Module::parameters() const {
  std::vector<Tensor> out;
  for (auto& kv : named_parameters()) out.push_back(kv.second);
  return out;
}

NamedTensors Module::state_dict() const {
  NamedTensors out = named_parameters();
  for (auto& kv : named_buffers()) out.push_back(kv);
  return out;
}

int64_t Module::num_parameters() const {
  int64_t n = 0;
  for (auto& kv : named_parameters()) n += kv.second.numel();
  return n;
}

LoadReport Module::load_state_dict(const std::map<std::string, Tensor>& sd, bool strict) {
  LoadReport rep;
  std::set<std::string> used;
  for (auto& kv : state_dict()) {
    auto it = sd.find(kv.first);
    if (it == sd.end()) {
      rep.missing.push_back(kv.first);
      continue;
    }
    used.insert(kv.first);
    const Tensor& src = it->second;
    Tensor dst = kv.second;
    CQ_CHECK(src.shape() == dst.shape(), "load_state_dict: '", kv.first, "' has shape ", shape_str(src.shape()),
             " in the state dict but ", shape_str(dst.shape()), " in the model");
    NoGradGuard ng(dst.runtime());
    dst.copy_(src.detach());
  }
  for (auto& kv : sd)
    if (!used.count(kv.first)) rep.unexpected.push_back(kv.first);
  if (strict && (!rep.missing.empty() || !rep.unexpected.empty())) {
    std::ostringstream os;
    os << "load_state_dict (strict): " << rep.missing.size() << " missing, " << rep.unexpected.size()
       << " unexpected keys";
    for (size_t i = 0; i < rep.missing.size() && i < 10; ++i) os << "\n  missing: " << rep.missing[i];
    for (size_t i = 0; i < rep.unexpected.size() && i < 10; ++i) os << "\n  unexpected: " << rep.unexpected[i];
    throw Error(os.str());
  }
  return rep;
}

void Module::train(bool on) {
  training_ = on;
  for (auto& c : children_) c.second->train(on);
}

void Module::to(Device dev) {
  for (auto& kv : state_dict()) {
    Tensor& t = kv.second;
    if (t.device() == dev) continue;
    Tensor moved = t.detach().to(dev);
    TensorImpl& impl = t.impl();
    bool rg = impl.requires_grad;
    impl.storage = moved.storage();
    impl.offset = moved.offset();
    impl.strides = moved.strides();
    impl.grad.reset();
    impl.requires_grad = rg;
  }
}

void Module::to(DType dt) {
  CQ_CHECK(dt == DType::f32 || dt == DType::f64, "Module::to: only f32 and f64 models are supported, got ",
           dtype_name(dt));
  for (auto& kv : state_dict()) {
    Tensor& t = kv.second;
    if (t.dtype() == dt || (t.dtype() != DType::f32 && t.dtype() != DType::f64)) continue;  // counters stay integer
    Tensor conv = t.detach().to(dt);
    TensorImpl& impl = t.impl();
    bool rg = impl.requires_grad;
    impl.storage = conv.storage();
    impl.offset = conv.offset();
    impl.strides = conv.strides();
    impl.dtype = dt;
    impl.grad.reset();
    impl.requires_grad = rg;
  }
}

void Module::apply(const std::function<void(Module&)>& fn) {
  fn(*this);
  for (auto& c : children_) c.second->apply(fn);
}

void Module::zero_grad() {
  for (auto& kv : named_parameters()) kv.second.zero_grad();
}

}  // namespace cq::nn
