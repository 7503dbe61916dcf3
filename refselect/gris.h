// GRIS (global reference image selection): the image whose histogram has the smallest mean Euclidean distance to all
// the others. Distances come from a blocked GEMM, d^2 = ||a||^2 + ||b||^2 - 2 a.b clamped at 0 before the sqrt, over
// tiles of rows x columns: memory is O(N*D) for the features plus one tile, never the N x N matrix. Only tiles on and
// above the diagonal are computed (each off-diagonal tile feeds the row sums of both its row and column block).
// The diagonal is exactly 0. Sums run in double in a fixed order: the result is bit-identical for any thread count.
#pragma once
#include <cstdint>
#include <functional>
#include <vector>

#include "tensor/tensor.h"

namespace cq::dcin {

struct GrisResult {
  int64_t index = -1;            // argmin of mean_dist (the first on ties)
  std::vector<double> mean_dist;  // per row: mean over all N entries including its own 0 (as the fixture)
};

struct GrisOptions {
  int64_t block = 1024;  // tile edge (rows and columns); memory for the tile is block^2 floats
  int threads = 1;
};

// X: N x D row-major float features (e.g. L2-normalised 512-bin histograms). N >= 1.
GrisResult gris_select(const float* X, int64_t N, int64_t D, const GrisOptions& opts);
// hists: f32 [N,D] tensor; threads from its runtime. On a CUDA device: cuBLAS GEMM tiles of `block` (at least 256;
// 4096 keeps an H200 busy) with a fused distance + row-sum epilogue (refselect/refselect_cuda.h); same contract,
// values equal to the CPU's up to float rounding of the dot products.
GrisResult gris_select(const Tensor& hists, int64_t block = 1024);

// Distributed GRIS (dist/sharded_refs.h). Tile t of the fixed visiting order (row blocks i0 ascending, then column
// blocks j0 >= i0 ascending) belongs to part t % parts. gris_partial returns the row-sum contributions of one part's
// tiles in visiting order (per tile: ni row sums, then for an off-diagonal tile nj column sums): O(N^2 / block)
// doubles, never the N x N matrix. gris_combine adds every part's contributions in the single-process order, so
// the result is bit-identical to gris_select for any number of parts (gris_select is partial(0 of 1) + combine).
std::vector<double> gris_partial(const float* X, int64_t N, int64_t D, const GrisOptions& opts, int part, int parts);
GrisResult gris_combine(const std::vector<std::vector<double>>& partials, int64_t N, const GrisOptions& opts);

// The full N x N distance matrix by the same tile arithmetic (for inspection and tests; holds N^2 floats).
Tensor pairwise_distances(const Tensor& hists, int64_t block = 1024);

namespace detail {
// Visits every upper tile (i0 <= j0) in a fixed order with its distances (rows i0.., columns j0.., row stride ldt).
using TileFn = std::function<void(int64_t i0, int64_t ni, int64_t j0, int64_t nj, const float* tile, int64_t ldt)>;
// want(t): whether to compute tile number t of the visiting order (empty: all).
void for_each_distance_tile(const float* X, int64_t N, int64_t D, const GrisOptions& opts, const TileFn& fn,
                            const std::function<bool(int64_t)>& want = {});
}  // namespace detail

}  // namespace cq::dcin
