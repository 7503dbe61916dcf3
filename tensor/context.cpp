#include "tensor/context.h"

#include <cstring>

#include "tensor/cuda_backend.h"

namespace cq {

Context::Context(ContextOptions opts)
    : rt_(std::make_shared<Runtime>(opts.threads)), rng_(opts.seed), device_(opts.device) {
  rt_->set_compute(opts.compute);
  // Fail here, with the reason, rather than at the first tensor: "no CUDA device found (cudaGetDeviceCount: ...)".
  if (device_.is_cuda()) cuda::require_device(device_.index);
}

Tensor Context::empty(const Shape& shape, DType dt) const { return Tensor::empty(rt_, shape, dt, device_); }

Tensor Context::zeros(const Shape& shape, DType dt) const { return full(shape, 0.0, dt); }

Tensor Context::ones(const Shape& shape, DType dt) const { return full(shape, 1.0, dt); }

Tensor Context::full(const Shape& shape, double value, DType dt) const {
  Tensor t = empty(shape, dt);
  t.fill_(value);
  return t;
}

Tensor Context::arange(int64_t n, DType dt) const {
  std::vector<double> v(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) v[i] = static_cast<double>(i);
  return from_vector(v, {n}, dt);
}

Tensor Context::from_vector(const std::vector<double>& values, const Shape& shape, DType dt) const {
  CQ_CHECK(static_cast<int64_t>(values.size()) == shape_numel(shape), "from_vector: ", values.size(),
           " values for shape ", shape_str(shape));
  Tensor host = Tensor::empty(rt_, shape, DType::f64, Device::cpu());
  if (!values.empty()) std::memcpy(host.data_ptr(), values.data(), values.size() * sizeof(double));
  return host.to(dt).to(device_);
}

Tensor Context::from_vector(const std::vector<float>& values, const Shape& shape) const {
  CQ_CHECK(static_cast<int64_t>(values.size()) == shape_numel(shape), "from_vector: ", values.size(),
           " values for shape ", shape_str(shape));
  Tensor host = Tensor::empty(rt_, shape, DType::f32, Device::cpu());
  if (!values.empty()) std::memcpy(host.data_ptr(), values.data(), values.size() * sizeof(float));
  return host.to(device_);
}

Tensor Context::from_vector(const std::vector<int64_t>& values, const Shape& shape) const {
  CQ_CHECK(static_cast<int64_t>(values.size()) == shape_numel(shape), "from_vector: ", values.size(),
           " values for shape ", shape_str(shape));
  Tensor host = Tensor::empty(rt_, shape, DType::i64, Device::cpu());
  if (!values.empty()) std::memcpy(host.data_ptr(), values.data(), values.size() * sizeof(int64_t));
  return host.to(device_);
}

Tensor Context::randn(const Shape& shape, DType dt) {
  std::vector<double> v(static_cast<size_t>(shape_numel(shape)));
  for (auto& x : v) x = rng_.normal();
  return from_vector(v, shape, dt);
}

Tensor Context::rand(const Shape& shape, double lo, double hi, DType dt) {
  std::vector<double> v(static_cast<size_t>(shape_numel(shape)));
  for (auto& x : v) x = rng_.uniform(lo, hi);
  return from_vector(v, shape, dt);
}

Tensor Context::randint(int64_t lo, int64_t hi, const Shape& shape) {
  CQ_CHECK(hi > lo, "randint: empty range [", lo, ", ", hi, ")");
  std::vector<int64_t> v(static_cast<size_t>(shape_numel(shape)));
  for (auto& x : v) x = lo + static_cast<int64_t>(rng_.below(static_cast<uint64_t>(hi - lo)));
  return from_vector(v, shape);
}

}  // namespace cq
