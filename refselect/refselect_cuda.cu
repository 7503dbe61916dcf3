// GPU histogram and LRIS top-k (see refselect/refselect_cuda.h).
#include <algorithm>
#include <cfloat>

#include "refselect/refselect_cuda.h"
#include "tensor/cuda_check.h"

namespace cq::dcin::cudaimpl {
namespace {

constexpr int kHistThreads = 256;
constexpr int kHistWarps = kHistThreads / 32;

// Per-warp copies of the 512 bins in shared memory (8 x 2 KiB): threads of different warps never contend on one
// counter, and a warp's equal bins serialise only among its own 32 lanes.
template <int S0, int S2>
__global__ void hist_kernel(const uint8_t* px, int64_t n, unsigned long long* out) {
  __shared__ unsigned int sh[kHistWarps * kHistBins];
  for (int i = threadIdx.x; i < kHistWarps * kHistBins; i += blockDim.x) sh[i] = 0;
  __syncthreads();
  unsigned int* mine = sh + (threadIdx.x / 32) * kHistBins;
  for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < n; i += (int64_t)gridDim.x * blockDim.x) {
    const uint8_t* q = px + 3 * i;
    const int bin = ((q[0] >> 5) << S0) | ((q[1] >> 5) << 3) | ((q[2] >> 5) << S2);
    atomicAdd(&mine[bin], 1u);
  }
  __syncthreads();
  for (int b = threadIdx.x; b < kHistBins; b += blockDim.x) {
    unsigned long long s = 0;
    for (int w = 0; w < kHistWarps; ++w) s += sh[w * kHistBins + b];
    if (s) atomicAdd(&out[b], s);  // integer addition: exact in any order
  }
}

int sm_count(int dev) {
  int n = 0;
  if (cudaDeviceGetAttribute(&n, cudaDevAttrMultiProcessorCount, dev) != cudaSuccess || n <= 0) n = 80;
  return n;
}

// One warp per bank row: dot(bank[r], q) accumulated in double, reduced by a fixed shuffle tree (deterministic).
__global__ void cosine_scores_kernel(const float* bank, const float* q, int64_t N, int64_t D, float* scores) {
  const int64_t warp = (blockIdx.x * (int64_t)blockDim.x + threadIdx.x) / 32;
  const int lane = threadIdx.x % 32;
  if (warp >= N) return;
  const float* r = bank + warp * D;
  double s = 0;
  for (int64_t j = lane; j < D; j += 32) s += static_cast<double>(r[j]) * q[j];
  for (int off = 16; off > 0; off >>= 1) s += __shfl_down_sync(0xffffffffu, s, off);
  if (lane == 0) scores[warp] = static_cast<float>(s);
}

// k rounds of a block-wide argmax (score descending, ties by lower index) over the scores not yet taken.
constexpr int kTopkThreads = 1024;
__global__ void topk_kernel(float* scores, int64_t N, int k, int64_t* idx_out, float* score_out) {
  __shared__ float best_v[kTopkThreads];
  __shared__ int64_t best_i[kTopkThreads];
  for (int round = 0; round < k; ++round) {
    float bv = -FLT_MAX;
    int64_t bi = -1;
    for (int64_t i = threadIdx.x; i < N; i += blockDim.x) {
      const float v = scores[i];
      if (isnan(v)) continue;
      if (bi < 0 || v > bv) bv = v, bi = i;  // i increases within a thread, so ties keep the lower index
    }
    best_v[threadIdx.x] = bv;
    best_i[threadIdx.x] = bi;
    __syncthreads();
    for (int stride = blockDim.x / 2; stride > 0; stride >>= 1) {
      if (threadIdx.x < stride) {
        const float ov = best_v[threadIdx.x + stride];
        const int64_t oi = best_i[threadIdx.x + stride];
        const int64_t mi = best_i[threadIdx.x];
        if (oi >= 0 && (mi < 0 || ov > best_v[threadIdx.x] || (ov == best_v[threadIdx.x] && oi < mi))) {
          best_v[threadIdx.x] = ov;
          best_i[threadIdx.x] = oi;
        }
      }
      __syncthreads();
    }
    if (threadIdx.x == 0) {
      idx_out[round] = best_i[0];
      score_out[round] = best_v[0];
      if (best_i[0] >= 0) scores[best_i[0]] = nanf("");  // taken
    }
    __syncthreads();
  }
}

}  // namespace

void hist_counts(const Tensor& image, int64_t* counts_host, HistOrder order) {
  const int64_t n = image.size(0) * image.size(1);
  Tensor acc = image.new_zeros({kHistBins}, DType::i64);
  if (n > 0) {
    CQ_CUDA_CHECK(cudaSetDevice(image.device().index));
    const int64_t want = (n + kHistThreads - 1) / kHistThreads;
    const int grid = static_cast<int>(std::min<int64_t>(want, 4 * sm_count(image.device().index)));
    auto* out = reinterpret_cast<unsigned long long*>(acc.data<int64_t>());
    if (order == HistOrder::CvBgr)
      hist_kernel<0, 6><<<grid, kHistThreads>>>(image.data<uint8_t>(), n, out);
    else
      hist_kernel<6, 0><<<grid, kHistThreads>>>(image.data<uint8_t>(), n, out);
    CQ_CUDA_LAUNCH_CHECK("color_hist");
  }
  const Tensor h = acc.to(Device::cpu());
  std::copy(h.data<int64_t>(), h.data<int64_t>() + kHistBins, counts_host);
}

void cosine_topk(const Tensor& bank, const Tensor& q, int k, std::vector<int64_t>& idx, std::vector<float>& score) {
  const int64_t N = bank.size(0), D = bank.size(1);
  const int kk = static_cast<int>(std::min<int64_t>(k, N));
  idx.assign(kk, -1);
  score.assign(kk, 0.f);
  if (kk <= 0) return;
  CQ_CUDA_CHECK(cudaSetDevice(bank.device().index));
  Tensor scores = bank.new_empty({N}, DType::f32);
  const int64_t threads = N * 32;
  cosine_scores_kernel<<<static_cast<unsigned>((threads + 255) / 256), 256>>>(bank.data<float>(), q.data<float>(),
                                                                              N, D, scores.data<float>());
  CQ_CUDA_LAUNCH_CHECK("lris cosine scores");
  Tensor oi = bank.new_empty({kk}, DType::i64), os = bank.new_empty({kk}, DType::f32);
  topk_kernel<<<1, kTopkThreads>>>(scores.data<float>(), N, kk, oi.data<int64_t>(), os.data<float>());
  CQ_CUDA_LAUNCH_CHECK("lris top-k");
  const Tensor hi = oi.to(Device::cpu()), hs = os.to(Device::cpu());
  std::copy(hi.data<int64_t>(), hi.data<int64_t>() + kk, idx.begin());
  std::copy(hs.data<float>(), hs.data<float>() + kk, score.begin());
}

}  // namespace cq::dcin::cudaimpl
