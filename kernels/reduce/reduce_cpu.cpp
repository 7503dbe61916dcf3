// CPU reduction kernels. Shapes: x read through a ReducePlan as [n_out kept] x [n_red reduced]; out [n_out].
// Summation order (fixed, independent of the thread count): outputs are independent and split among threads; each
// output scans its reduced elements row-major, and a unit-stride run of >= 2*kLanes elements is spread over kLanes
// interleaved accumulators (element i goes to lane i % kLanes) that are then combined in lane order. A single output
// over one long unit-stride run is cut into fixed kChunk-element chunks reduced in parallel and combined in chunk
// order. f32 sums accumulate in double.
#include <algorithm>
#include <vector>

#include "kernels/reduce/reduce_kernels.h"
#include "tensor/backend.h"
#include "tensor/runtime.h"

namespace cq::kernels {

ReducePlan make_reduce_plan(const Tensor& x, const std::vector<bool>& reduce_axis) {
  CQ_CHECK(x.dim() <= kMaxDims, "reduce: rank ", x.dim(), " exceeds ", kMaxDims, " for ", x.describe());
  ReducePlan p;
  p.kept.offset = x.offset();
  auto push = [](StridedLayout& l, int64_t size, int64_t stride) {
    if (size == 1) return;
    // Merge with the previous axis when the pair walks memory like one axis.
    if (l.ndim > 0 && l.strides[l.ndim - 1] == size * stride) {
      l.shape[l.ndim - 1] *= size;
      l.strides[l.ndim - 1] = stride;
      return;
    }
    l.shape[l.ndim] = size;
    l.strides[l.ndim++] = stride;
  };
  for (int64_t d = 0; d < x.dim(); ++d) {
    int64_t s = x.shape()[d];
    if (reduce_axis[d]) {
      push(p.red, s, x.strides()[d]);
      p.n_red *= s;
    } else {
      push(p.kept, s, x.strides()[d]);
      p.n_out *= s;
    }
  }
  return p;
}

namespace {

constexpr int kLanes = 8;
constexpr int64_t kChunk = 1 << 15;

// Reduces n elements row[0], row[stride], ... (reduced indices k0, k0+1, ...) into acc.
template <class T, class R>
void reduce_run(const R& r, typename R::acc_t& acc, const T* row, int64_t n, int64_t stride, int64_t k0, int64_t j) {
  using acc_t = typename R::acc_t;
  if (stride == 1 && n >= 2 * kLanes) {
    acc_t lane[kLanes];
    for (int l = 0; l < kLanes; ++l) lane[l] = r.init();
    int64_t i = 0;
    for (; i + kLanes <= n; i += kLanes)
      for (int l = 0; l < kLanes; ++l) r.add(lane[l], row[i + l], k0 + i + l, j);
    for (int l = 0; i < n; ++i, ++l) r.add(lane[l], row[i], k0 + i, j);
    acc_t s = lane[0];
    for (int l = 1; l < kLanes; ++l) s = r.combine(s, lane[l]);
    acc = r.combine(acc, s);
    return;
  }
  for (int64_t i = 0; i < n; ++i) r.add(acc, row[i * stride], k0 + i, j);
}

// All reduced elements of output j (base = its first element), row-major over the reduced axes.
template <class T, class R>
void reduce_output(const R& r, typename R::acc_t& acc, const T* base, const StridedLayout& red, int64_t n_red,
                   int64_t j) {
  if (n_red == 0) return;
  if (red.ndim == 0) {
    r.add(acc, base[0], 0, j);
    return;
  }
  int nd = red.ndim;
  int64_t inner = red.shape[nd - 1], istride = red.strides[nd - 1];
  int64_t idx[kMaxDims] = {};
  int64_t off = 0;
  for (int64_t k = 0; k < n_red; k += inner) {
    reduce_run(r, acc, base + off, inner, istride, k, j);
    for (int d = nd - 2; d >= 0; --d) {  // odometer over the outer reduced axes
      off += red.strides[d];
      if (++idx[d] < red.shape[d]) break;
      off -= red.strides[d] * red.shape[d];
      idx[d] = 0;
    }
  }
}

template <class T, class R>
void run_reduce(const R& r, const T* src, typename R::out_t* dst, const ReducePlan& p, int threads) {
  using acc_t = typename R::acc_t;
  if (p.n_out == 1 && p.red.ndim == 1 && p.red.strides[0] == 1 && p.n_red > 2 * kChunk) {
    const T* base = src + p.kept.offset;
    int64_t nchunks = (p.n_red + kChunk - 1) / kChunk;
    std::vector<acc_t> part(static_cast<size_t>(nchunks));
#pragma omp parallel for num_threads(threads) schedule(static)
    for (int64_t c = 0; c < nchunks; ++c) {
      int64_t k0 = c * kChunk, n = std::min(kChunk, p.n_red - k0);
      acc_t a = r.init();
      reduce_run(r, a, base + k0, n, 1, k0, 0);
      part[c] = a;
    }
    acc_t a = part[0];
    for (int64_t c = 1; c < nchunks; ++c) a = r.combine(a, part[c]);
    dst[0] = r.finish(a, 0);
    return;
  }
  int64_t n_out = p.n_out, n_red = p.n_red;
#pragma omp parallel for num_threads(threads) schedule(static) if (n_out > 1 && n_out * n_red > (1 << 15))
  for (int64_t j = 0; j < n_out; ++j) {
    acc_t a = r.init();
    reduce_output(r, a, src + p.kept.offset_of(j), p.red, n_red, j);
    dst[j] = r.finish(a, j);
  }
}

}  // namespace

void reduce_cpu(RedOp op, const Tensor& out, const Tensor& x, const ReducePlan& p, const Tensor& aux, double div) {
  if (p.n_out == 0) return;
  int threads = x.runtime().threads();
  dispatch_reducer(op, out, x, aux, div, [&](auto tag_, const auto& r) {
    using T = decltype(tag_);
    using R = std::decay_t<decltype(r)>;
    run_reduce<T>(r, static_cast<const T*>(x.storage()->data()), out.data<typename R::out_t>(), p, threads);
  });
}

void reduce_backward_cpu(reduce_math::BwdMode mode, const Tensor& gin, const Tensor& x, const Tensor& g,
                         const Tensor& a, const Tensor& b, double s) {
  const Shape& shape = gin.shape();
  int64_t n = gin.numel();
  StridedLayout gl = broadcast_layout(g, shape);
  StridedLayout xl = x.defined() ? layout_of(x) : gl;
  StridedLayout al = a.defined() ? broadcast_layout(a, shape) : gl;
  StridedLayout bl = b.defined() ? broadcast_layout(b, shape) : gl;
  dispatch_float(gin.dtype(), "reduce backward", [&](auto tag_) {
    using T = decltype(tag_);
    auto base = [](const Tensor& t) { return t.defined() ? static_cast<const T*>(t.storage()->data()) : nullptr; };
    const T* gp = base(g);
    const T* xp = x.defined() ? base(x) : gp;
    const T* ap = a.defined() ? base(a) : gp;
    const T* bp = b.defined() ? base(b) : gp;
    T* out = gin.data<T>();
    T sv = static_cast<T>(s);
    // Fixed chunks of the flat index; within a chunk the four offsets advance by an odometer over the shape
    // instead of being recomputed with div/mod per element.
    const StridedLayout* ls[4] = {&xl, &gl, &al, &bl};
    int nd = static_cast<int>(shape.size());
    int64_t nchunks = (n + kChunk - 1) / kChunk;
#pragma omp parallel for num_threads(gin.runtime().threads()) schedule(static) if (n > kChunk)
    for (int64_t c = 0; c < nchunks; ++c) {
      int64_t i0 = c * kChunk, i1 = std::min(n, i0 + kChunk);
      int64_t idx[kMaxDims] = {}, off[4];
      for (int q = 0; q < 4; ++q) off[q] = ls[q]->offset_of(i0);
      for (int64_t rem = i0, d = nd - 1; d >= 0; --d) {
        idx[d] = rem % shape[d];
        rem /= shape[d];
      }
      for (int64_t i = i0; i < i1; ++i) {
        out[i] = reduce_math::reduce_backward<T>(mode, xp[off[0]], gp[off[1]], ap[off[2]], bp[off[3]], sv);
        for (int d = nd - 1; d >= 0; --d) {
          for (int q = 0; q < 4; ++q) off[q] += ls[q]->strides[d];
          if (++idx[d] < shape[d]) break;
          for (int q = 0; q < 4; ++q) off[q] -= ls[q]->strides[d] * shape[d];
          idx[d] = 0;
        }
      }
    }
  });
}

}  // namespace cq::kernels
