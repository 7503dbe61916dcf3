// CPU kernels of gather, index_select and one_hot, and the scatter-add backward of gather and index_select. The
// backward kernels parallelise over groups of x-gradient elements that no other group writes, and add each element's
// contributions in increasing index position, so the bits do not depend on the thread count.
#include <algorithm>
#include <cstring>

#include "kernels/shape/shape_kernels.h"
#include "tensor/backend.h"
#include "tensor/runtime.h"

namespace cq::kernels {
namespace {
using namespace shape_math;
constexpr int64_t kParallelMin = 1 << 15;
}  // namespace

// out, index: [idx_shape]; out[p] = x[p with its axis coordinate replaced by index[p]].
void gather_cpu(const Tensor& out, const Tensor& x, const Tensor& index, const GatherGeom& g) {
  const int64_t n = out.numel();
  const int64_t* idx = index.data<int64_t>();
  dispatch_all(out.dtype(), "gather", [&](auto tag_) {
    using scalar_t = decltype(tag_);
    scalar_t* d = out.data<scalar_t>();
    const scalar_t* s = static_cast<const scalar_t*>(x.storage()->data());
#pragma omp parallel for num_threads(out.runtime().threads()) if (n > kParallelMin)
    for (int64_t p = 0; p < n; ++p) d[p] = s[gather_src(g, p, idx[p])];
  });
}

// gx [x_shape] (zero-filled) += scatter of gout [idx_shape] along the axis, one index column per iteration.
void gather_backward_cpu(const Tensor& gx, const Tensor& gout, const Tensor& index, const GatherGeom& g) {
  const int64_t len = g.idx_shape[g.axis];
  if (index.numel() == 0 || len == 0) return;
  const int64_t cols = index.numel() / len;
  const int64_t step = gather_idx_axis_stride(g), xstep = gather_x_axis_stride(g);
  const int64_t* idx = index.data<int64_t>();
  dispatch_float(gx.dtype(), "gather", [&](auto tag_) {
    using scalar_t = decltype(tag_);
    scalar_t* d = gx.data<scalar_t>();
    const scalar_t* s = gout.data<scalar_t>();
#pragma omp parallel for num_threads(gx.runtime().threads()) if (index.numel() > kParallelMin)
    for (int64_t c = 0; c < cols; ++c) {
      int64_t ib, xb;
      gather_col_bases(g, c, &ib, &xb);
      for (int64_t k = 0; k < len; ++k) {
        int64_t p = ib + k * step;
        d[xb + idx[p] * xstep] += s[p];
      }
    }
  });
}

// out [outer, m, inner] from x [outer, n, inner]: row (o, j) is x row (o, index[j]); whole rows are copied when x is
// contiguous.
void index_select_cpu(const Tensor& out, const Tensor& x, const Tensor& index, const IndexSelectGeom& g) {
  const int64_t total = out.numel();
  if (total == 0) return;
  const int64_t* idx = index.data<int64_t>();
  const int threads = out.runtime().threads();
  if (x.is_contiguous()) {
    int64_t outer = 1, inner = 1;
    for (int d = 0; d < g.axis; ++d) outer *= g.out_shape[d];
    for (int d = g.axis + 1; d < g.ndim; ++d) inner *= g.out_shape[d];
    const int64_t m = g.out_shape[g.axis], n = x.shape()[g.axis];
    const size_t row_bytes = static_cast<size_t>(inner) * out.element_size();
    char* d = static_cast<char*>(out.data_ptr());
    const char* s = static_cast<const char*>(x.data_ptr());
#pragma omp parallel for num_threads(threads) if (total > kParallelMin)
    for (int64_t r = 0; r < outer * m; ++r) {
      int64_t o = r / m, j = r % m;
      std::memcpy(d + r * row_bytes, s + (o * n + idx[j]) * row_bytes, row_bytes);
    }
    return;
  }
  dispatch_all(out.dtype(), "index_select", [&](auto tag_) {
    using scalar_t = decltype(tag_);
    scalar_t* d = out.data<scalar_t>();
    const scalar_t* s = static_cast<const scalar_t*>(x.storage()->data());
#pragma omp parallel for num_threads(threads) if (total > kParallelMin)
    for (int64_t p = 0; p < total; ++p) d[p] = s[index_select_src(g, p, idx)];
  });
}

// gx row (o, k) = sum of gout rows (o, j) over the positions j holding k (rows[start[k]..start[k+1]), increasing).
void index_select_backward_cpu(const Tensor& gx, const Tensor& gout, const Tensor& start, const Tensor& rows,
                               int64_t outer, int64_t n, int64_t m, int64_t inner) {
  if (gx.numel() == 0) return;
  const int64_t* st = start.data<int64_t>();
  const int64_t* rw = rows.data<int64_t>();
  dispatch_float(gx.dtype(), "index_select", [&](auto tag_) {
    using scalar_t = decltype(tag_);
    scalar_t* d = gx.data<scalar_t>();
    const scalar_t* s = gout.data<scalar_t>();
#pragma omp parallel for num_threads(gx.runtime().threads()) if (gx.numel() > kParallelMin)
    for (int64_t r = 0; r < outer * n; ++r) {
      int64_t o = r / n, k = r % n;
      scalar_t* dr = d + r * inner;
      std::fill(dr, dr + inner, scalar_t(0));
      for (int64_t t = st[k]; t < st[k + 1]; ++t) {
        const scalar_t* sr = s + (o * m + rw[t]) * inner;
        for (int64_t i = 0; i < inner; ++i) dr[i] += sr[i];
      }
    }
  });
}

// out [positions, classes]: row p is zero but for a one at index[p] (already range-checked).
void one_hot_cpu(const Tensor& out, const Tensor& index, int64_t classes) {
  const int64_t positions = index.numel();
  const int64_t* idx = index.data<int64_t>();
  dispatch_all(out.dtype(), "one_hot", [&](auto tag_) {
    using scalar_t = decltype(tag_);
    scalar_t* d = out.data<scalar_t>();
#pragma omp parallel for num_threads(out.runtime().threads()) if (out.numel() > kParallelMin)
    for (int64_t p = 0; p < positions; ++p) {
      scalar_t* r = d + p * classes;
      std::fill(r, r + classes, scalar_t(0));
      r[idx[p]] = scalar_t(1);
    }
  });
}

}  // namespace cq::kernels
