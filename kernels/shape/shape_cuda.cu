// CUDA kernels of the shape family: one thread per output element (grid-stride), index mapping from shape_math.h.
// Contiguous concat inputs are 2-D memcpys (one row per outer index). The backward kernels compute each x-gradient
// element as a sum in a fixed order (no atomics), giving the same bits as the CPU kernels.
#include <algorithm>

#include "kernels/shape/shape_kernels.h"
#include "tensor/backend.h"
#include "tensor/cuda_check.h"

namespace cq::kernels {
namespace {

using namespace shape_math;

int grid_for(int64_t n) { return static_cast<int>(std::min<int64_t>(cuda::blocks_for(n), 65535)); }

#define CQ_GRID_STRIDE(i, n) \
  for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < (n); i += (int64_t)gridDim.x * blockDim.x)

template <class T>
__global__ void concat_strided_kernel(T* d, const T* s, StridedLayout l, int64_t inner_in, int64_t out_row,
                                      int64_t col, int64_t n) {
  CQ_GRID_STRIDE(i, n) { d[concat_dst(i, inner_in, out_row, col)] = s[l.offset_of(i)]; }
}

template <class T>
__global__ void pad_kernel(T* d, const T* s, PadGeom g, T v, int64_t n) {
  CQ_GRID_STRIDE(i, n) {
    int64_t off = pad_elem_src(g, i);
    d[i] = off < 0 ? v : s[off];
  }
}

template <class T>
__global__ void roll_kernel(T* d, const T* s, RollGeom g, int64_t n) {
  CQ_GRID_STRIDE(i, n) { d[i] = s[roll_elem_src(g, i)]; }
}

template <class T>
__global__ void gather_kernel(T* d, const T* s, const int64_t* idx, GatherGeom g, int64_t n) {
  CQ_GRID_STRIDE(i, n) { d[i] = s[gather_src(g, i, idx[i])]; }
}

template <class T>
__global__ void gather_backward_kernel(T* gx, const T* gout, const int64_t* idx, GatherGeom g, int64_t step,
                                       int64_t len, int64_t n) {
  CQ_GRID_STRIDE(e, n) {
    int64_t base = 0, target = 0;
    gx[e] = gather_grad_column(g, e, &base, &target) ? gather_grad_sum(gout, idx, base, step, len, target) : T(0);
  }
}

template <class T>
__global__ void index_select_kernel(T* d, const T* s, const int64_t* idx, IndexSelectGeom g, int64_t n) {
  CQ_GRID_STRIDE(i, n) { d[i] = s[index_select_src(g, i, idx)]; }
}

template <class T>
__global__ void index_select_backward_kernel(T* gx, const T* gout, const int64_t* start, const int64_t* rows,
                                             int64_t n_axis, int64_t m, int64_t inner, int64_t n) {
  CQ_GRID_STRIDE(e, n) { gx[e] = index_select_grad_elem(gout, start, rows, e, n_axis, m, inner); }
}

template <class T>
__global__ void one_hot_kernel(T* d, const int64_t* idx, int64_t classes, int64_t n) {
  CQ_GRID_STRIDE(i, n) { d[i] = one_hot_value(idx, i, classes) ? T(1) : T(0); }
}

#undef CQ_GRID_STRIDE

}  // namespace

void concat_cuda(const Tensor& out, const std::vector<Tensor>& xs, int64_t axis) {
  if (out.numel() == 0) return;
  const Shape& os = out.shape();
  int64_t outer = 1, inner = 1;
  for (int64_t d = 0; d < axis; ++d) outer *= os[d];
  for (int64_t d = axis + 1; d < out.dim(); ++d) inner *= os[d];
  const int64_t out_row = os[axis] * inner;
  const size_t es = out.element_size();
  char* dst = static_cast<char*>(out.data_ptr());
  int64_t col = 0;
  for (const Tensor& x : xs) {
    const int64_t inner_in = x.shape()[axis] * inner;
    if (inner_in == 0) continue;
    if (x.is_contiguous()) {
      // Stream 0, like every kernel launch of the engine, so it is ordered with them.
      CQ_CUDA_CHECK(cudaMemcpy2DAsync(dst + col * es, out_row * es, x.data_ptr(), inner_in * es, inner_in * es,
                                      static_cast<size_t>(outer), cudaMemcpyDeviceToDevice, 0));
    } else {
      const StridedLayout l = layout_of(x);
      const int64_t n = x.numel();
      dispatch_all(out.dtype(), "concat", [&](auto tag_) {
        using scalar_t = decltype(tag_);
        concat_strided_kernel<scalar_t><<<grid_for(n), cuda::kBlock>>>(
            out.data<scalar_t>(), static_cast<const scalar_t*>(x.storage()->data()), l, inner_in, out_row, col, n);
      });
      CQ_CUDA_LAUNCH_CHECK("concat");
    }
    col += inner_in;
  }
}

void pad_cuda(const Tensor& out, const Tensor& x, const PadGeom& g, double value) {
  const int64_t n = out.numel();
  if (n == 0) return;
  dispatch_all(out.dtype(), "pad", [&](auto tag_) {
    using scalar_t = decltype(tag_);
    pad_kernel<scalar_t><<<grid_for(n), cuda::kBlock>>>(out.data<scalar_t>(),
                                                        static_cast<const scalar_t*>(x.storage()->data()), g,
                                                        static_cast<scalar_t>(value), n);
  });
  CQ_CUDA_LAUNCH_CHECK("pad");
}

void roll_cuda(const Tensor& out, const Tensor& x, const RollGeom& g) {
  const int64_t n = out.numel();
  if (n == 0) return;
  dispatch_all(out.dtype(), "roll", [&](auto tag_) {
    using scalar_t = decltype(tag_);
    roll_kernel<scalar_t><<<grid_for(n), cuda::kBlock>>>(out.data<scalar_t>(),
                                                         static_cast<const scalar_t*>(x.storage()->data()), g, n);
  });
  CQ_CUDA_LAUNCH_CHECK("roll");
}

void gather_cuda(const Tensor& out, const Tensor& x, const Tensor& index, const GatherGeom& g) {
  const int64_t n = out.numel();
  if (n == 0) return;
  dispatch_all(out.dtype(), "gather", [&](auto tag_) {
    using scalar_t = decltype(tag_);
    gather_kernel<scalar_t><<<grid_for(n), cuda::kBlock>>>(
        out.data<scalar_t>(), static_cast<const scalar_t*>(x.storage()->data()), index.data<int64_t>(), g, n);
  });
  CQ_CUDA_LAUNCH_CHECK("gather");
}

void gather_backward_cuda(const Tensor& gx, const Tensor& gout, const Tensor& index, const GatherGeom& g) {
  const int64_t n = gx.numel();
  if (n == 0) return;
  const int64_t step = gather_idx_axis_stride(g), len = g.idx_shape[g.axis];
  dispatch_float(gx.dtype(), "gather", [&](auto tag_) {
    using scalar_t = decltype(tag_);
    gather_backward_kernel<scalar_t><<<grid_for(n), cuda::kBlock>>>(
        gx.data<scalar_t>(), gout.data<scalar_t>(), index.data<int64_t>(), g, step, len, n);
  });
  CQ_CUDA_LAUNCH_CHECK("gather backward");
}

void index_select_cuda(const Tensor& out, const Tensor& x, const Tensor& index, const IndexSelectGeom& g) {
  const int64_t n = out.numel();
  if (n == 0) return;
  dispatch_all(out.dtype(), "index_select", [&](auto tag_) {
    using scalar_t = decltype(tag_);
    index_select_kernel<scalar_t><<<grid_for(n), cuda::kBlock>>>(
        out.data<scalar_t>(), static_cast<const scalar_t*>(x.storage()->data()), index.data<int64_t>(), g, n);
  });
  CQ_CUDA_LAUNCH_CHECK("index_select");
}

void index_select_backward_cuda(const Tensor& gx, const Tensor& gout, const Tensor& start, const Tensor& rows,
                                int64_t outer, int64_t n_axis, int64_t m, int64_t inner) {
  const int64_t n = gx.numel();
  if (n == 0) return;
  dispatch_float(gx.dtype(), "index_select", [&](auto tag_) {
    using scalar_t = decltype(tag_);
    index_select_backward_kernel<scalar_t><<<grid_for(n), cuda::kBlock>>>(
        gx.data<scalar_t>(), gout.data<scalar_t>(), start.data<int64_t>(), rows.data<int64_t>(), n_axis, m, inner,
        n);
  });
  CQ_CUDA_LAUNCH_CHECK("index_select backward");
}

void one_hot_cuda(const Tensor& out, const Tensor& index, int64_t classes) {
  const int64_t n = out.numel();
  if (n == 0) return;
  dispatch_all(out.dtype(), "one_hot", [&](auto tag_) {
    using scalar_t = decltype(tag_);
    one_hot_kernel<scalar_t><<<grid_for(n), cuda::kBlock>>>(out.data<scalar_t>(), index.data<int64_t>(), classes, n);
  });
  CQ_CUDA_LAUNCH_CHECK("one_hot");
}

}  // namespace cq::kernels
