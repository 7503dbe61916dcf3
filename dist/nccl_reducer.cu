// NCCL gradient sum (dist/nccl_reducer.h). Compiled with the CUDA backend; empty unless CMake found nccl.h (CQ_NCCL).
#ifdef CQ_NCCL
#include <cuda_runtime.h>
#include <nccl.h>

#include <algorithm>
#include <string>

#include "dist/nccl_reducer.h"
#include "dist/rank_order_sum.h"
#include "tensor/cuda_check.h"
#include "tensor/error.h"

namespace cq::dist {

bool built_with_nccl() { return true; }

namespace {

#define CQ_NCCL_CHECK(expr, what)                                                                           \
  do {                                                                                                      \
    const ncclResult_t rc_ = (expr);                                                                        \
    if (rc_ != ncclSuccess) ::cq::fail("dist: ", what, " failed: ", ncclGetErrorString(rc_), " (", #expr, ")"); \
  } while (0)

__global__ void weighted_copy_kernel(float* dst, const float* src, int64_t n, double weight) {
  const int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i < n) dst[i] = weighted_gradient(src[i], weight);
}

__global__ void rank_order_sum_kernel(float* out, const float* parts, int n_ranks, int64_t n) {
  const int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i < n) out[i] = rank_order_sum(parts, n_ranks, n, i);
}

unsigned blocks(int64_t n) { return unsigned((n + 255) / 256); }

}  // namespace

struct NcclGradientReducer::Impl {
  Communicator& boot;
  std::vector<Tensor> params;
  bool deterministic = true;
  int64_t bucket_elems = 0;
  int device = 0;
  ncclComm_t comm = nullptr;
  cudaStream_t stream = nullptr;  // the legacy default stream, as every kernel of the backend (cuda_resources.h)
  float* bucket = nullptr;        // bucket_elems floats
  float* gathered = nullptr;      // size * bucket_elems floats (deterministic mode)

  Impl(Communicator& b) : boot(b) {}
  ~Impl() {
    if (comm) ncclCommDestroy(comm);
    cudaFree(bucket);
    cudaFree(gathered);
  }
};

NcclGradientReducer::NcclGradientReducer(Communicator& bootstrap, std::vector<Tensor> params, bool deterministic,
                                         int64_t bucket_bytes)
    : impl_(std::make_unique<Impl>(bootstrap)) {
  Impl& m = *impl_;
  m.params = std::move(params);
  m.deterministic = deterministic;
  CQ_CHECK(!m.params.empty(), "NcclGradientReducer: no parameters");
  int64_t largest = 0;
  for (const Tensor& p : m.params) {
    CQ_CHECK(p.dtype() == DType::f32 && p.device().is_cuda() && p.device() == m.params.front().device(),
             "NcclGradientReducer: parameters must be f32 on one CUDA device, got ", p.describe());
    largest = std::max(largest, p.numel());
  }
  // A bucket holds at least the largest parameter, so every parameter travels whole.
  m.bucket_elems = std::max(largest, std::max<int64_t>(bucket_bytes, 1024) / int64_t(sizeof(float)));
  m.device = m.params.front().device().index;
  CQ_CUDA_CHECK(cudaSetDevice(m.device));
  ncclUniqueId id;
  if (bootstrap.rank() == 0) CQ_NCCL_CHECK(ncclGetUniqueId(&id), "ncclGetUniqueId");
  bootstrap.broadcast(&id, int64_t(sizeof id), 0);
  CQ_NCCL_CHECK(ncclCommInitRank(&m.comm, bootstrap.size(), id, bootstrap.rank()), "ncclCommInitRank");
  CQ_CUDA_CHECK(cudaMalloc(&m.bucket, sizeof(float) * size_t(m.bucket_elems)));
  if (deterministic)
    CQ_CUDA_CHECK(cudaMalloc(&m.gathered, sizeof(float) * size_t(m.bucket_elems) * size_t(bootstrap.size())));
}

NcclGradientReducer::~NcclGradientReducer() = default;

int64_t NcclGradientReducer::gradient_bytes() const {
  int64_t n = 0;
  for (const Tensor& p : impl_->params) n += p.numel() * int64_t(sizeof(float));
  return n;
}

std::string NcclGradientReducer::describe() const {
  int v = 0;
  ncclGetVersion(&v);
  const std::string ver = std::to_string(v / 10000) + "." + std::to_string(v / 100 % 100) + "." + std::to_string(v % 100);
  return "NCCL " + ver + (impl_->deterministic ? ", deterministic all-gather + rank-order sum" : ", ncclAllReduce");
}

void NcclGradientReducer::reduce(double weight) {
  Impl& m = *impl_;
  const int n_ranks = m.boot.size();
  CQ_CUDA_CHECK(cudaSetDevice(m.device));
  // Presence (one float per parameter, summed over MPI): > 0 means some rank has a gradient.
  std::vector<float> flags(m.params.size());
  for (size_t i = 0; i < m.params.size(); ++i) flags[i] = m.params[i].grad().defined() ? 1.0f : 0.0f;
  m.boot.sum_floats(flags.data(), int64_t(flags.size()));
  std::vector<size_t> members;
  int64_t used = 0;
  auto flush = [&] {
    if (members.empty()) return;
    if (m.deterministic) {
      CQ_NCCL_CHECK(ncclAllGather(m.bucket, m.gathered, size_t(used), ncclFloat, m.comm, m.stream), "ncclAllGather");
      rank_order_sum_kernel<<<blocks(used), 256, 0, m.stream>>>(m.bucket, m.gathered, n_ranks, used);
      CQ_CUDA_LAUNCH_CHECK("rank_order_sum");
    } else {
      CQ_NCCL_CHECK(ncclAllReduce(m.bucket, m.bucket, size_t(used), ncclFloat, ncclSum, m.comm, m.stream),
                    "ncclAllReduce");
    }
    int64_t off = 0;
    for (size_t i : members) {
      Tensor g = m.params[i].grad();
      CQ_CUDA_CHECK(cudaMemcpyAsync(g.data<float>(), m.bucket + off, sizeof(float) * size_t(g.numel()),
                                    cudaMemcpyDeviceToDevice, m.stream));
      off += g.numel();
    }
    members.clear();
    used = 0;
  };
  for (size_t i = 0; i < m.params.size(); ++i) {
    if (flags[i] <= 0) continue;  // no rank touched it: stays undefined, the optimiser skips it
    Tensor p = m.params[i];
    if (!p.grad().defined()) p.set_grad(p.new_zeros(p.shape()));  // another rank has one: this rank adds zeros
    if (!p.grad().is_contiguous()) p.set_grad(p.grad().contiguous());
    const Tensor g = p.grad();
    if (used + g.numel() > m.bucket_elems) flush();
    weighted_copy_kernel<<<blocks(g.numel()), 256, 0, m.stream>>>(m.bucket + used, g.data<float>(), g.numel(),
                                                                  weight);
    CQ_CUDA_LAUNCH_CHECK("weighted_copy");
    members.push_back(i);
    used += g.numel();
  }
  flush();
  CQ_CUDA_CHECK(cudaStreamSynchronize(m.stream));
}

}  // namespace cq::dist
#endif  // CQ_NCCL
