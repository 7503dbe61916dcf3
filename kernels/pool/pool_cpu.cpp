#include <algorithm>
// Reference CPU kernels for global_avg_pool2d and upsample_nearest2d; threads split planes (or rows), and every
// output is computed by one thread in a fixed order.
#include "kernels/pool/pool_kernels.h"
#include "kernels/pool/pool_math.h"
#include "tensor/runtime.h"

namespace cq::kernels {
namespace {
constexpr int64_t kParallelMin = 1 << 15;
}

// x [planes, hw] -> y [planes].
void gap_forward_cpu(const Tensor& y, const Tensor& x, int64_t planes, int64_t hw) {
  dispatch_float(x.dtype(), "global_avg_pool2d", [&](auto tag_) {
    using scalar_t = decltype(tag_);
    const scalar_t* px = x.data<scalar_t>();
    scalar_t* py = y.data<scalar_t>();
#pragma omp parallel for num_threads(x.runtime().threads()) if (planes * hw > kParallelMin)
    for (int64_t p = 0; p < planes; ++p) {
      double s = 0;
      for (int64_t k = 0; k < hw; ++k) s += static_cast<double>(px[p * hw + k]);
      py[p] = static_cast<scalar_t>(poolmath::avg_of(s, hw));
    }
  });
}

// g [planes] -> dx [planes, hw].
void gap_backward_cpu(const Tensor& dx, const Tensor& g, int64_t planes, int64_t hw) {
  dispatch_float(dx.dtype(), "global_avg_pool2d", [&](auto tag_) {
    using scalar_t = decltype(tag_);
    const scalar_t* pg = g.data<scalar_t>();
    scalar_t* pdx = dx.data<scalar_t>();
#pragma omp parallel for num_threads(dx.runtime().threads()) if (planes * hw > kParallelMin)
    for (int64_t p = 0; p < planes; ++p) {
      const scalar_t v = static_cast<scalar_t>(poolmath::avg_grad(static_cast<double>(pg[p]), hw));
      for (int64_t k = 0; k < hw; ++k) pdx[p * hw + k] = v;
    }
  });
}

// x [planes, H, W] -> y [planes, H*sh, W*sw]; one output row per iteration.
void upsample_forward_cpu(const Tensor& y, const Tensor& x, int64_t planes, int64_t H, int64_t W, int64_t sh,
                          int64_t sw) {
  const int64_t OH = H * sh, OW = W * sw;
  dispatch_float(x.dtype(), "upsample_nearest2d", [&](auto tag_) {
    using scalar_t = decltype(tag_);
    const scalar_t* px = x.data<scalar_t>();
    scalar_t* py = y.data<scalar_t>();
#pragma omp parallel for num_threads(x.runtime().threads()) if (planes * OH * OW > kParallelMin)
    for (int64_t r = 0; r < planes * H; ++r) {
      // One input row fills sh output rows: build the first (each element repeated sw times, the U-Net's x2 case
      // without index arithmetic), then copy it.
      const scalar_t* src = px + r * W;
      scalar_t* dst = py + r * sh * OW;
      if (sw == 2) {
        for (int64_t j = 0; j < W; ++j) dst[2 * j] = dst[2 * j + 1] = src[j];
      } else {
        for (int64_t oj = 0; oj < OW; ++oj) dst[oj] = src[poolmath::nearest_src(oj, sw)];
      }
      for (int64_t k = 1; k < sh; ++k) std::copy(dst, dst + OW, dst + k * OW);
    }
  });
}

// g [planes, H*sh, W*sw] -> dx [planes, H, W].
void upsample_backward_cpu(const Tensor& dx, const Tensor& g, int64_t planes, int64_t H, int64_t W, int64_t sh,
                           int64_t sw) {
  const int64_t plane_out = H * sh * W * sw;
  dispatch_float(dx.dtype(), "upsample_nearest2d", [&](auto tag_) {
    using scalar_t = decltype(tag_);
    const scalar_t* pg = g.data<scalar_t>();
    scalar_t* pdx = dx.data<scalar_t>();
#pragma omp parallel for num_threads(dx.runtime().threads()) if (planes * plane_out > kParallelMin)
    for (int64_t r = 0; r < planes * H; ++r) {
      const int64_t p = r / H, i = r % H;
      const scalar_t* gp = pg + p * plane_out;
      for (int64_t j = 0; j < W; ++j) {
        double acc = 0;
        for (int64_t a = 0; a < sh; ++a)
          for (int64_t b = 0; b < sw; ++b)
            acc += static_cast<double>(gp[poolmath::upsampled_offset(i, j, a, b, W, sh, sw)]);
        pdx[r * W + j] = static_cast<scalar_t>(acc);
      }
    }
  });
}

}  // namespace cq::kernels
