// CPU kernels of concat, pad and roll. Contiguous data moves as whole inner rows (memcpy); strided inputs fall back
// to per-element reads through their layout. Every output element is written by exactly one iteration, so the
// results do not depend on the thread count.
#include <algorithm>
#include <cstring>

#include "kernels/shape/shape_kernels.h"
#include "tensor/backend.h"
#include "tensor/runtime.h"

namespace cq::kernels {
namespace {

using namespace shape_math;

constexpr int64_t kParallelMin = 1 << 15;      // elements (or bytes for memcpy paths) below which one thread is faster
constexpr int64_t kChunkBytes = 256 * 1024;  // large rows are split so few-row concats still use every thread

// n elements from src (stride st) to dst (contiguous).
template <class T>
inline void copy_run(T* dst, const T* src, int64_t n, int64_t st) {
  if (n <= 0) return;
  if (st == 1) {
    std::memcpy(dst, src, static_cast<size_t>(n) * sizeof(T));
  } else {
    for (int64_t i = 0; i < n; ++i) dst[i] = src[i * st];
  }
}

}  // namespace

// out: [outer, N, inner] with N = sum n_k; xs[k]: [outer, n_k, inner]. Row o of input k (n_k * inner elements) is
// copied to out row o starting at column (n_0 + ... + n_{k-1}) * inner.
void concat_cpu(const Tensor& out, const std::vector<Tensor>& xs, int64_t axis) {
  if (out.numel() == 0) return;
  const Shape& os = out.shape();
  int64_t outer = 1, inner = 1;
  for (int64_t d = 0; d < axis; ++d) outer *= os[d];
  for (int64_t d = axis + 1; d < out.dim(); ++d) inner *= os[d];
  const int64_t out_row = os[axis] * inner;
  const int64_t es = static_cast<int64_t>(out.element_size());
  const int threads = out.runtime().threads();
  char* dst = static_cast<char*>(out.data_ptr());
  int64_t col = 0;
  for (const Tensor& x : xs) {
    const int64_t inner_in = x.shape()[axis] * inner;
    if (inner_in == 0) continue;
    if (x.is_contiguous()) {
      const char* src = static_cast<const char*>(x.data_ptr());
      const int64_t row_bytes = inner_in * es;
      const int64_t pieces = (row_bytes + kChunkBytes - 1) / kChunkBytes;
      const int64_t tasks = outer * pieces;
#pragma omp parallel for num_threads(threads) if (outer * row_bytes > kParallelMin)
      for (int64_t t = 0; t < tasks; ++t) {
        int64_t o = t / pieces, p = t % pieces;
        int64_t b0 = p * kChunkBytes, b1 = std::min(row_bytes, b0 + kChunkBytes);
        std::memcpy(dst + (o * out_row + col) * es + b0, src + o * row_bytes + b0, static_cast<size_t>(b1 - b0));
      }
    } else {
      // Strided input (e.g. Swin's x[:, 0::2, 0::2, :] patches): one run along its last axis at a time. inner_in is
      // a multiple of the last axis size, so each run lands contiguously in the output.
      const StridedLayout l = layout_of(x);
      const int64_t len = x.shape().back(), st = x.strides().back();
      const int64_t runs = x.numel() / len;
      dispatch_all(out.dtype(), "concat", [&](auto tag_) {
        using scalar_t = decltype(tag_);
        scalar_t* d = out.data<scalar_t>();
        const scalar_t* s = static_cast<const scalar_t*>(x.storage()->data());
#pragma omp parallel for num_threads(threads) if (x.numel() > kParallelMin)
        for (int64_t r = 0; r < runs; ++r)
          copy_run(d + concat_dst(r * len, inner_in, out_row, col), s + l.offset_of(r * len), len, st);
      });
    }
    col += inner_in;
  }
}

// out: g.out_shape, one output row (last axis) at a time: [padding | input run | padding], or all padding when the
// row's leading coordinates fall outside the input.
void pad_cpu(const Tensor& out, const Tensor& x, const PadGeom& g, double value) {
  const int64_t total = out.numel();
  if (total == 0) return;
  const int last = g.ndim - 1;
  const int64_t n_out = g.out_shape[last], st = g.in_strides[last], before = g.before[last];
  const int64_t rows = total / n_out;
  int64_t lo, hi;
  pad_copy_range(before, g.in_shape[last], n_out, &lo, &hi);
  dispatch_all(out.dtype(), "pad", [&](auto tag_) {
    using scalar_t = decltype(tag_);
    scalar_t* d = out.data<scalar_t>();
    const scalar_t* s = static_cast<const scalar_t*>(x.storage()->data());
    const scalar_t v = static_cast<scalar_t>(value);
#pragma omp parallel for num_threads(out.runtime().threads()) if (total > kParallelMin)
    for (int64_t r = 0; r < rows; ++r) {
      scalar_t* dr = d + r * n_out;
      int64_t off = pad_row_src(g, r);
      if (off < 0 || hi == lo) {
        std::fill(dr, dr + n_out, v);
        continue;
      }
      std::fill(dr, dr + lo, v);
      copy_run(dr + lo, s + off + (lo - before) * st, hi - lo, st);
      std::fill(dr + hi, dr + n_out, v);
    }
  });
}

// out: g.shape. Along the last axis a rolled row is two runs: out[sh..n) = in[0..n-sh), out[0..sh) = in[n-sh..n).
void roll_cpu(const Tensor& out, const Tensor& x, const RollGeom& g) {
  const int64_t total = out.numel();
  if (total == 0) return;
  const int last = g.ndim - 1;
  const int64_t n = g.shape[last], sh = g.shift[last], st = g.in_strides[last];
  const int64_t rows = total / n;
  dispatch_all(out.dtype(), "roll", [&](auto tag_) {
    using scalar_t = decltype(tag_);
    scalar_t* d = out.data<scalar_t>();
    const scalar_t* s = static_cast<const scalar_t*>(x.storage()->data());
#pragma omp parallel for num_threads(out.runtime().threads()) if (total > kParallelMin)
    for (int64_t r = 0; r < rows; ++r) {
      scalar_t* dr = d + r * n;
      const scalar_t* sr = s + roll_row_src(g, r);
      copy_run(dr + sh, sr, n - sh, st);
      copy_run(dr, sr + (n - sh) * st, sh, st);
    }
  });
}

}  // namespace cq::kernels
