// Index arithmetic shared by every conv2d kernel (CPU now, any CUDA helper later): the output-size rule and the
// im2col mapping between a column-matrix element and the input pixel it reads.
#pragma once
#include <cstdint>

#include "tensor/hd.h"

namespace cq::kernels {

// Output length along one axis: floor((in + pad_lo + pad_hi - k) / stride) + 1 (<= 0 means no valid window).
CQ_HD int64_t conv_out_size(int64_t in, int64_t k, int64_t stride, int64_t pad_lo, int64_t pad_hi) {
  int64_t span = in + pad_lo + pad_hi - k;
  return span < 0 ? 0 : span / stride + 1;
}

// Input coordinate read by output position o at kernel tap t (may fall in the padding: < 0 or >= in).
CQ_HD int64_t conv_in_coord(int64_t o, int64_t t, int64_t stride, int64_t pad_lo) { return o * stride - pad_lo + t; }

// Output positions o in [lo, hi] whose tap t reads inside [0, in) (hi < lo when none): the loop bounds that let the
// direct kernels skip padding without a branch per element.
CQ_HD void conv_valid_range(int64_t in, int64_t t, int64_t stride, int64_t pad_lo, int64_t out, int64_t* lo,
                            int64_t* hi) {
  int64_t a = pad_lo - t, b = in - 1 + pad_lo - t;
  *lo = a <= 0 ? 0 : (a + stride - 1) / stride;
  *hi = b < 0 ? -1 : (b / stride < out - 1 ? b / stride : out - 1);
}

// The im2col matrix of one image (one group): [C * kh * kw, OH * OW], row r = (c * kh + ki) * kw + kj and column
// q = oh * OW + ow hold x[c, oh*sh - pt + ki, ow*sw - pl + kj], zero in the padding. col2im is its transpose-sum.
struct Im2colGeom {
  int64_t C, H, W, kh, kw, OH, OW, sh, sw, pt, pl;

  CQ_HD int64_t rows() const { return C * kh * kw; }
  CQ_HD int64_t cols() const { return OH * OW; }
  // Offset in the [C, H, W] image of element (r, q), or -1 when it reads padding.
  CQ_HD int64_t src_offset(int64_t r, int64_t q) const {
    int64_t kj = r % kw, ki = (r / kw) % kh, c = r / (kw * kh);
    int64_t ih = conv_in_coord(q / OW, ki, sh, pt), iw = conv_in_coord(q % OW, kj, sw, pl);
    if (ih < 0 || ih >= H || iw < 0 || iw >= W) return -1;
    return (c * H + ih) * W + iw;
  }
};

}  // namespace cq::kernels
