// Copies between layouts, dtypes and devices, with their backward rules.
#include "tensor/autograd.h"
#include "tensor/backend.h"
#include "tensor/copy_kernels.h"
#include "tensor/cuda_backend.h"

namespace cq {

namespace {
// Same-device copy of src into a new contiguous tensor of dtype dt (no autograd).
Tensor copy_to_new(const Tensor& src, DType dt) {
  Tensor out = src.new_empty(src.shape(), dt);
  if (src.device().is_cuda()) {
    CQ_CUDA_CALL("copy", kernels::copy_cuda(out, src));
  } else {
    kernels::copy_cpu(out, src);
  }
  return out;
}
}  // namespace

Tensor Tensor::contiguous() const {
  if (is_contiguous()) return *this;
  Tensor out = copy_to_new(*this, dtype());
  record("contiguous", out, {*this}, [](const Tensor& g) { return std::vector<Tensor>{g}; });
  return out;
}

Tensor Tensor::clone() const {
  Tensor out = copy_to_new(*this, dtype());
  record("clone", out, {*this}, [](const Tensor& g) { return std::vector<Tensor>{g}; });
  return out;
}

Tensor Tensor::to(DType dt) const {
  if (dt == dtype()) return *this;
  Tensor out = copy_to_new(*this, dt);
  if (is_floating(dt) && is_floating(dtype())) {
    DType back = dtype();
    record("to_dtype", out, {*this}, [back](const Tensor& g) { return std::vector<Tensor>{g.to(back)}; });
  }
  return out;
}

Tensor Tensor::to(Device dev) const {
  if (dev == device()) return *this;
  Tensor src = device().is_cpu() ? contiguous() : *this;
  if (!src.is_contiguous()) src = copy_to_new(src, dtype());  // device-side compaction before the transfer
  Tensor out = Tensor::empty(runtime_ptr(), shape(), dtype(), dev);
  size_t nbytes = static_cast<size_t>(numel()) * element_size();
  if (nbytes > 0) {
    if (dev.is_cuda() && device().is_cpu()) {
      cuda::memcpy(out.data_ptr(), src.data_ptr(), nbytes, cuda::Copy::HostToDevice);
    } else if (dev.is_cpu() && device().is_cuda()) {
      cuda::memcpy(out.data_ptr(), src.data_ptr(), nbytes, cuda::Copy::DeviceToHost);
    } else {
      cuda::memcpy(out.data_ptr(), src.data_ptr(), nbytes, cuda::Copy::DeviceToDevice);
    }
  }
  Device back = device();
  record("to_device", out, {*this}, [back](const Tensor& g) { return std::vector<Tensor>{g.to(back)}; });
  return out;
}

Tensor& Tensor::copy_(const Tensor& src) {
  Tensor s = src.device() == device() ? src : src.to(device());
  if (device().is_cuda()) {
    CQ_CUDA_CALL("copy_", kernels::copy_cuda(*this, s));
  } else {
    kernels::copy_cpu(*this, s);
  }
  return *this;
}

Tensor& Tensor::fill_(double value) {
  if (device().is_cuda()) {
    CQ_CUDA_CALL("fill_", kernels::fill_cuda(*this, value));
  } else {
    kernels::fill_cpu(*this, value);
  }
  return *this;
}

}  // namespace cq
