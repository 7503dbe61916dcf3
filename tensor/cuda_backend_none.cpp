// CUDA entry points for a build without CUDA (CQ_CUDA=OFF): report absence, refuse work with a clear error.
#include "tensor/cuda_backend.h"
#include "tensor/error.h"

namespace cq::cuda {

bool built_with_cuda() { return false; }
bool available() { return false; }
int device_count() { return 0; }
std::string unavailable_reason() { return "this build has no CUDA support (configure with -DCQ_CUDA=ON)"; }
void require_device(int index) {
  fail("--device cuda:", index, ": no CUDA device found (", unavailable_reason(), ")");
}
std::shared_ptr<DeviceResources> make_resources(int) { fail("CUDA: this build has no CUDA support"); }
std::unique_ptr<Allocator> make_allocator(int) { fail("CUDA: this build has no CUDA support (configure with -DCQ_CUDA=ON)"); }
void memcpy(void*, const void*, size_t, Copy) { fail("CUDA: this build has no CUDA support"); }
void memset_zero(void*, size_t) { fail("CUDA: this build has no CUDA support"); }
void synchronize() {}

}  // namespace cq::cuda
