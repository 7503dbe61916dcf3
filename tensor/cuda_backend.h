// The thin layer between tensor/ and the CUDA runtime. With CQ_CUDA off (or no device present at run time)
// cuda_available() is false and every other call throws cq::Error; nothing here needs a GPU to compile.
#pragma once
#include <cstddef>
#include <memory>
#include <string>

#include "tensor/allocator.h"

namespace cq::cuda {

bool built_with_cuda();
// True when the build has CUDA and a device is present (GPU tests SKIP otherwise).
bool available();
int device_count();
// Why no device is usable, e.g. "cudaGetDeviceCount: no CUDA-capable device is detected"; empty when one is.
std::string unavailable_reason();
// Throws cq::Error "--device cuda:N: no CUDA device found (cudaGetDeviceCount: ...)" (or "device N not present
// (K devices)") unless device `index` exists.
void require_device(int index);

struct DeviceResources;
// Handles for one device (see tensor/cuda_resources.h); owned by a Runtime (Runtime::cuda_resources).
std::shared_ptr<DeviceResources> make_resources(int device);

std::unique_ptr<Allocator> make_allocator(int device);
enum class Copy { HostToDevice, DeviceToHost, DeviceToDevice };
void memcpy(void* dst, const void* src, size_t nbytes, Copy kind);
void memset_zero(void* dst, size_t nbytes);
void synchronize();

}  // namespace cq::cuda
