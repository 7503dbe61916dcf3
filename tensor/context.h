// Context: what replaces globals. It owns the Runtime (allocators, thread count, grad mode) shared by every tensor it
// creates, the default device, and the seeded random generator. Random tensors are drawn on the host with Rng and
// then moved, so a seed gives the same values on every device.
#pragma once
#include <memory>
#include <vector>

#include "tensor/autograd.h"
#include "tensor/rng.h"
#include "tensor/runtime.h"
#include "tensor/tensor.h"

namespace cq {

struct ContextOptions {
  int threads = 0;  // 0 = all cores
  uint64_t seed = 0;
  Device device = Device::cpu();
  ComputeOptions compute = {};  // precision and determinism of GPU math (ignored by CPU kernels)
};

class Context {
 public:
  explicit Context(ContextOptions opts = {});

  Runtime& runtime() { return *rt_; }
  const std::shared_ptr<Runtime>& runtime_ptr() const { return rt_; }
  Rng& rng() { return rng_; }
  Device device() const { return device_; }
  int threads() const { return rt_->threads(); }
  MemoryStats memory(Device d = Device::cpu()) { return rt_->allocator(d).stats(); }

  Tensor empty(const Shape& shape, DType dt = DType::f32) const;
  Tensor zeros(const Shape& shape, DType dt = DType::f32) const;
  Tensor ones(const Shape& shape, DType dt = DType::f32) const;
  Tensor full(const Shape& shape, double value, DType dt = DType::f32) const;
  Tensor scalar(double value, DType dt = DType::f32) const { return full({}, value, dt); }
  Tensor arange(int64_t n, DType dt = DType::f32) const;
  // Values given in row-major order (converted to dt).
  Tensor from_vector(const std::vector<double>& values, const Shape& shape, DType dt = DType::f32) const;
  Tensor from_vector(const std::vector<float>& values, const Shape& shape) const;
  Tensor from_vector(const std::vector<int64_t>& values, const Shape& shape) const;
  Tensor randn(const Shape& shape, DType dt = DType::f32);
  Tensor rand(const Shape& shape, double lo = 0.0, double hi = 1.0, DType dt = DType::f32);
  Tensor randint(int64_t lo, int64_t hi, const Shape& shape);  // i64 in [lo, hi)

  // NoGradGuard for this context's runtime.
  NoGradGuard no_grad() { return NoGradGuard(*rt_); }

 private:
  std::shared_ptr<Runtime> rt_;
  Rng rng_;
  Device device_;
};

}  // namespace cq
