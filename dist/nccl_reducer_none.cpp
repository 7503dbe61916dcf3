// Builds without NCCL (no CUDA backend, or nccl.h not found): the NCCL reducer is absent and says so.
#ifndef CQ_NCCL
#include "dist/nccl_reducer.h"
#include "tensor/error.h"

namespace cq::dist {

bool built_with_nccl() { return false; }

struct NcclGradientReducer::Impl {};

NcclGradientReducer::NcclGradientReducer(Communicator&, std::vector<Tensor>, bool, int64_t) {
  fail("this cqseg was built without NCCL (needs the CUDA backend and nccl.h); GPU ranks cannot sum gradients");
}
NcclGradientReducer::~NcclGradientReducer() = default;
void NcclGradientReducer::reduce(double) {}
int64_t NcclGradientReducer::gradient_bytes() const { return 0; }
std::string NcclGradientReducer::describe() const { return "NCCL (not built)"; }

}  // namespace cq::dist
#endif
