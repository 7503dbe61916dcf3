// GPU kernels of reference selection (CUDA builds only; refselect/*.cpp dispatch on the tensor's device).
//   histogram  8x8x8 colour counts with per-warp privatised shared-memory bins, merged with integer atomics (exact,
//              so deterministic whatever the schedule)
//   GRIS       mean Euclidean distance per row: cuBLAS GEMM of histogram tiles + one fused epilogue pass (distance
//              and per-row partial sums); memory O(N*D + tile^2 + N*N/tile), never the N x N matrix
//   LRIS       cosine scores bank x query (one warp per bank row, double accumulation) and top-k on the GPU
#pragma once
#ifdef CQ_CUDA
#include <cstdint>
#include <vector>

#include "refselect/gris.h"
#include "refselect/histogram.h"
#include "tensor/tensor.h"

namespace cq::dcin::cudaimpl {

// image: u8 [H,W,3] contiguous on a CUDA device; counts_host[512] overwritten.
void hist_counts(const Tensor& image, int64_t* counts_host, HistOrder order);
// X: f32 [N,D] contiguous on a CUDA device. Same result contract as gris_select (index, mean_dist per row).
GrisResult gris_select(const Tensor& X, int64_t tile);
// bank: f32 [N,D], q: f32 [D], both contiguous on one CUDA device (rows and q already normalised). The k best
// (score descending, ties by lower index) into idx/score (resized to min(k, N)).
void cosine_topk(const Tensor& bank, const Tensor& q, int k, std::vector<int64_t>& idx, std::vector<float>& score);

}  // namespace cq::dcin::cudaimpl
#endif
