// The thin layer between tensor/ and the CUDA runtime. With CQ_CUDA off (or no device present at run time)
// cuda_available() is false and every other call throws cq::Error; nothing here needs a GPU to compile.
#pragma once
#include <cstddef>
#include <memory>

#include "tensor/allocator.h"

namespace cq::cuda {

bool built_with_cuda();
// True when the build has CUDA and a device is present (GPU tests SKIP otherwise).
bool available();
int device_count();

std::unique_ptr<Allocator> make_allocator(int device);
enum class Copy { HostToDevice, DeviceToHost, DeviceToDevice };
void memcpy(void* dst, const void* src, size_t nbytes, Copy kind);
void memset_zero(void* dst, size_t nbytes);
void synchronize();

}  // namespace cq::cuda
