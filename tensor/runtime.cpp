#include "tensor/runtime.h"

#include <thread>

#include "tensor/cuda_backend.h"
#include "tensor/error.h"

namespace cq {

Runtime::Runtime(int threads) { set_threads(threads); }

void Runtime::set_threads(int n) {
  CQ_CHECK(n >= 0, "Runtime: thread count must be >= 0 (0 = all cores), got ", n);
  if (n == 0) n = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  threads_ = n;
}

const char* precision_name(Precision p) {
  switch (p) {
    case Precision::fp32: return "fp32";
    case Precision::tf32: return "tf32";
    case Precision::bf16: return "bf16";
  }
  return "?";
}

Precision parse_precision(const std::string& text) {
  for (Precision p : {Precision::fp32, Precision::tf32, Precision::bf16})
    if (text == precision_name(p)) return p;
  fail("precision must be fp32, tf32 or bf16, got '", text, "'");
}

Device Device::parse(const std::string& text) {
  if (text == "cpu") return Device::cpu();
  if (text == "cuda") return Device::cuda(0);
  if (text.rfind("cuda:", 0) == 0 && text.size() > 5 && text.size() <= 8 &&
      text.find_first_not_of("0123456789", 5) == std::string::npos)
    return Device::cuda(std::stoi(text.substr(5)));
  fail("device must be cpu, cuda or cuda:N (N = 0, 1, ...), got '", text, "'");
}

void Runtime::set_compute(const ComputeOptions& c) {
  CQ_CHECK(c.precision != Precision::bf16,
           "precision bf16 is not implemented: tensors are f32/f64 only and cuDNN has no bf16 compute mode for f32 "
           "tensors; use fp32 or tf32");
  compute_ = c;
}

cuda::DeviceResources& Runtime::cuda_resources(int device) {
  std::lock_guard<std::mutex> lk(mu_);
  CQ_CHECK(device >= 0, "Runtime: bad CUDA device index ", device);
  if (static_cast<size_t>(device) >= cuda_res_.size()) cuda_res_.resize(device + 1);
  if (!cuda_res_[device]) cuda_res_[device] = cuda::make_resources(device);
  return *cuda_res_[device];
}

Allocator& Runtime::allocator(Device d) {
  if (d.is_cpu()) return cpu_;
  std::lock_guard<std::mutex> lk(mu_);
  CQ_CHECK(d.index >= 0, "Runtime: bad CUDA device index ", d.index);
  if (static_cast<size_t>(d.index) >= cuda_.size()) cuda_.resize(d.index + 1);
  if (!cuda_[d.index]) cuda_[d.index] = cuda::make_allocator(d.index);
  return *cuda_[d.index];
}

}  // namespace cq
