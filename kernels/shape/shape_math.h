// Index mapping of the shape ops, shared by the CPU kernels (shape_cpu.cpp, shape_index_cpu.cpp) and the CUDA
// kernels (shape_cuda.cu), so the CPU tests exercise the arithmetic the GPU runs. Every geometry struct is a plain
// fixed-size aggregate passed by value to CUDA kernels. Offsets are in elements and include the view's offset.
#pragma once
#include <cstdint>

#include "tensor/hd.h"
#include "tensor/strided.h"

namespace cq::shape_math {

// ---- concat ----
// Input element `linear` (row-major over the input, rows of `inner_in` elements = the axis and everything after it)
// lands in output element: same outer row, shifted by the input's start `col_off` (elements) inside the output row.
CQ_HD int64_t concat_dst(int64_t linear, int64_t inner_in, int64_t out_row, int64_t col_off) {
  return (linear / inner_in) * out_row + col_off + linear % inner_in;
}

// ---- pad ----
// Output coordinate i along an axis reads input coordinate i - before; outside [0, n_in) it is padding.
struct PadGeom {
  int ndim = 0;  // >= 1
  int64_t out_shape[kMaxDims] = {};
  int64_t in_shape[kMaxDims] = {};
  int64_t before[kMaxDims] = {};
  int64_t in_strides[kMaxDims] = {};
  int64_t in_offset = 0;
};

// Input coordinate feeding output coordinate i, or -1 for a padding cell.
CQ_HD int64_t pad_src(int64_t i, int64_t before, int64_t n_in) {
  int64_t s = i - before;
  return (s >= 0 && s < n_in) ? s : -1;
}

// Storage offset of the input row feeding output row `row` (row-major over every axis but the last), or -1 when
// that whole output row is padding.
CQ_HD int64_t pad_row_src(const PadGeom& g, int64_t row) {
  int64_t off = g.in_offset;
  for (int d = g.ndim - 2; d >= 0; --d) {
    int64_t i = row % g.out_shape[d];
    row /= g.out_shape[d];
    int64_t s = pad_src(i, g.before[d], g.in_shape[d]);
    if (s < 0) return -1;
    off += s * g.in_strides[d];
  }
  return off;
}

// Storage offset of the input element feeding output element `linear`, or -1 for padding.
CQ_HD int64_t pad_elem_src(const PadGeom& g, int64_t linear) {
  int last = g.ndim - 1;
  int64_t n = g.out_shape[last];
  int64_t off = pad_row_src(g, linear / n);
  if (off < 0) return -1;
  int64_t s = pad_src(linear % n, g.before[last], g.in_shape[last]);
  return s < 0 ? -1 : off + s * g.in_strides[last];
}

// Within an output row of n_out cells, [*lo, *hi) read the input (starting at input column *lo - before); the rest
// is padding.
CQ_HD void pad_copy_range(int64_t before, int64_t n_in, int64_t n_out, int64_t* lo, int64_t* hi) {
  int64_t a = before < 0 ? 0 : (before > n_out ? n_out : before);
  int64_t b = before + n_in;
  b = b < a ? a : (b > n_out ? n_out : b);
  *lo = a;
  *hi = b;
}

// ---- roll ----
// shift[d] is normalised to [0, shape[d]); output coordinate i reads input coordinate (i - shift) mod n.
struct RollGeom {
  int ndim = 0;  // >= 1
  int64_t shape[kMaxDims] = {};
  int64_t shift[kMaxDims] = {};
  int64_t in_strides[kMaxDims] = {};
  int64_t in_offset = 0;
};

// Python-style modulo (result in [0, n) for n > 0).
CQ_HD int64_t wrap(int64_t i, int64_t n) {
  int64_t r = i % n;
  return r < 0 ? r + n : r;
}

CQ_HD int64_t roll_src(int64_t i, int64_t shift, int64_t n) { return i >= shift ? i - shift : i - shift + n; }

CQ_HD int64_t roll_row_src(const RollGeom& g, int64_t row) {
  int64_t off = g.in_offset;
  for (int d = g.ndim - 2; d >= 0; --d) {
    int64_t i = row % g.shape[d];
    row /= g.shape[d];
    off += roll_src(i, g.shift[d], g.shape[d]) * g.in_strides[d];
  }
  return off;
}

CQ_HD int64_t roll_elem_src(const RollGeom& g, int64_t linear) {
  int last = g.ndim - 1;
  int64_t n = g.shape[last];
  return roll_row_src(g, linear / n) + roll_src(linear % n, g.shift[last], n) * g.in_strides[last];
}

// ---- gather ----
// out (and index, contiguous) have idx_shape; x has x_shape with strides x_strides (any layout).
struct GatherGeom {
  int ndim = 0;  // >= 1
  int axis = 0;
  int64_t idx_shape[kMaxDims] = {};
  int64_t x_shape[kMaxDims] = {};
  int64_t x_strides[kMaxDims] = {};
  int64_t x_offset = 0;
};

// Storage offset in x read by index position `linear` whose index value is j.
CQ_HD int64_t gather_src(const GatherGeom& g, int64_t linear, int64_t j) {
  int64_t off = g.x_offset;
  for (int d = g.ndim - 1; d >= 0; --d) {
    int64_t i = linear % g.idx_shape[d];
    linear /= g.idx_shape[d];
    off += (d == g.axis ? j : i) * g.x_strides[d];
  }
  return off;
}

// Contiguous stride of the axis in the index (and in the gradient of the output).
CQ_HD int64_t gather_idx_axis_stride(const GatherGeom& g) {
  int64_t s = 1;
  for (int d = g.ndim - 1; d > g.axis; --d) s *= g.idx_shape[d];
  return s;
}

// Backward on the CPU walks index columns (every position but the axis one): column c's contiguous offset in the
// index (axis coordinate 0) and in the contiguous x gradient. Distinct columns write distinct x elements.
CQ_HD void gather_col_bases(const GatherGeom& g, int64_t c, int64_t* idx_base, int64_t* x_base) {
  int64_t ib = 0, xb = 0, istride = 1, xstride = 1;
  for (int d = g.ndim - 1; d >= 0; --d) {
    if (d != g.axis) {
      int64_t i = c % g.idx_shape[d];
      c /= g.idx_shape[d];
      ib += i * istride;
      xb += i * xstride;
    }
    istride *= g.idx_shape[d];
    xstride *= g.x_shape[d];
  }
  *idx_base = ib;
  *x_base = xb;
}

// Contiguous stride of the axis in the x gradient.
CQ_HD int64_t gather_x_axis_stride(const GatherGeom& g) {
  int64_t s = 1;
  for (int d = g.ndim - 1; d > g.axis; --d) s *= g.x_shape[d];
  return s;
}

// Backward, one gradient element of x (contiguous, x_shape) at `linear`: the contiguous index offset of its column
// (axis coordinate 0) and its own axis coordinate. False when the column lies outside the index (zero gradient).
CQ_HD bool gather_grad_column(const GatherGeom& g, int64_t linear, int64_t* idx_base, int64_t* target) {
  int64_t base = 0, stride = 1;
  for (int d = g.ndim - 1; d >= 0; --d) {
    int64_t i = linear % g.x_shape[d];
    linear /= g.x_shape[d];
    if (d == g.axis) {
      *target = i;
    } else {
      if (i >= g.idx_shape[d]) return false;
      base += i * stride;
    }
    stride *= g.idx_shape[d];
  }
  *idx_base = base;
  return true;
}

// The gradient of one x element: sum over the index column of the output gradients whose index equals target, in
// increasing position order (the same order on CPU and GPU, so both give the same bits).
template <class T>
CQ_HD T gather_grad_sum(const T* gout, const int64_t* idx, int64_t base, int64_t step, int64_t len, int64_t target) {
  T acc = T(0);
  for (int64_t k = 0; k < len; ++k) {
    int64_t p = base + k * step;
    if (idx[p] == target) acc += gout[p];
  }
  return acc;
}

// ---- index_select ----
struct IndexSelectGeom {
  int ndim = 0;  // >= 1
  int axis = 0;
  int64_t out_shape[kMaxDims] = {};
  int64_t x_strides[kMaxDims] = {};
  int64_t x_offset = 0;
};

CQ_HD int64_t index_select_src(const IndexSelectGeom& g, int64_t linear, const int64_t* idx) {
  int64_t off = g.x_offset;
  for (int d = g.ndim - 1; d >= 0; --d) {
    int64_t i = linear % g.out_shape[d];
    linear /= g.out_shape[d];
    off += (d == g.axis ? idx[i] : i) * g.x_strides[d];
  }
  return off;
}

// Backward, x gradient viewed as [outer, n, inner], output gradient as [outer, m, inner]. The positions j of the
// index that hold value k are rows[start[k] .. start[k+1]) in increasing order (built on the host); the gradient of
// x element (o, k, i) is the sum of gout(o, j, i) over them, in that order.
template <class T>
CQ_HD T index_select_grad_elem(const T* gout, const int64_t* start, const int64_t* rows, int64_t linear, int64_t n,
                               int64_t m, int64_t inner) {
  int64_t i = linear % inner;
  int64_t k = (linear / inner) % n;
  int64_t o = linear / (inner * n);
  T acc = T(0);
  for (int64_t t = start[k]; t < start[k + 1]; ++t) acc += gout[(o * m + rows[t]) * inner + i];
  return acc;
}

// ---- one_hot ----
CQ_HD bool one_hot_value(const int64_t* idx, int64_t linear, int64_t classes) {
  return idx[linear / classes] == linear % classes;
}

}  // namespace cq::shape_math
