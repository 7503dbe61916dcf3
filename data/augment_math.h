// Per-pixel sampling math of the geometric augmentations, shared by the CPU path (augment_geometric.cpp) and a
// later CUDA path: OpenCV's bicubic weights (cv2.warpAffine / cv2.remap with INTER_CUBIC, which albumentations
// calls), nearest sampling, 2x3 affine maps, and the border index rules used by the filters.
#pragma once
#include <cmath>
#include <cstddef>
#include <cstdint>

#include "tensor/hd.h"

namespace cq::data {

// x' = a x + b y + c, y' = d x + e y + f (pixel-centre coordinates: pixel (i, j) sits at x = i, y = j, as in OpenCV).
struct Affine2 {
  float a = 1, b = 0, c = 0, d = 0, e = 1, f = 0;
};

CQ_HD void affine_apply(const Affine2& m, float x, float y, float* ox, float* oy) {
  *ox = m.a * x + m.b * y + m.c;
  *oy = m.d * x + m.e * y + m.f;
}

// OpenCV's cubic convolution weights for the 4 taps at offsets -1, 0, 1, 2 from floor(x), t = x - floor(x),
// with A = -0.75 (cv::interpolateCubic). At t = 0 they are exactly (0, 1, 0, 0), so integer coordinates copy.
CQ_HD void cubic_weights(float t, float* w) {
  const float A = -0.75f;
  w[0] = ((A * (t + 1) - 5 * A) * (t + 1) + 8 * A) * (t + 1) - 4 * A;
  w[1] = ((A + 2) * t - (A + 3)) * t * t + 1;
  w[2] = ((A + 2) * (1 - t) - (A + 3)) * (1 - t) * (1 - t) + 1;
  w[3] = 1.f - w[0] - w[1] - w[2];
}

// Round half to even and saturate to [0, 255], as cv::saturate_cast<uchar>(float) does.
CQ_HD uint8_t saturate_u8(float v) {
  v = rintf(v);
  return static_cast<uint8_t>(v < 0.f ? 0.f : (v > 255.f ? 255.f : v));
}

// Bicubic sample of all c channels of an HWC u8 image at source (sx, sy) into out[0..c). Taps outside the image
// read 0: the constant-0 border of the spec (cv2.BORDER_CONSTANT, value 0). Coordinates far outside (or NaN, the
// "invalid" marker of a sampling map) give 0 without touching memory.
CQ_HD void sample_bicubic(const uint8_t* src, int h, int w, int c, float sx, float sy, float* out) {
  for (int ch = 0; ch < c; ++ch) out[ch] = 0.f;
  if (!(sx > -3.f && sx < w + 2.f && sy > -3.f && sy < h + 2.f)) return;
  const float fx = floorf(sx), fy = floorf(sy);
  const int x0 = static_cast<int>(fx) - 1, y0 = static_cast<int>(fy) - 1;
  float wx[4], wy[4];
  cubic_weights(sx - fx, wx);
  cubic_weights(sy - fy, wy);
  if (x0 >= 0 && y0 >= 0 && x0 + 3 < w && y0 + 3 < h) {  // interior: no border tests (most pixels)
    for (int j = 0; j < 4; ++j) {
      const uint8_t* row = src + (static_cast<size_t>(y0 + j) * w + x0) * c;
      for (int i = 0; i < 4; ++i) {
        const float wt = wy[j] * wx[i];
        for (int ch = 0; ch < c; ++ch) out[ch] += wt * row[i * c + ch];
      }
    }
    return;
  }
  for (int j = 0; j < 4; ++j) {
    const int y = y0 + j;
    if (y < 0 || y >= h || wy[j] == 0.f) continue;
    for (int i = 0; i < 4; ++i) {
      const int x = x0 + i;
      if (x < 0 || x >= w || wx[i] == 0.f) continue;
      const float wt = wy[j] * wx[i];
      const uint8_t* p = src + (static_cast<size_t>(y) * w + x) * c;
      for (int ch = 0; ch < c; ++ch) out[ch] += wt * p[ch];
    }
  }
}

// Nearest sample: the source pixel index of (sx, sy), or -1 when it falls outside (constant-0 border).
CQ_HD long long nearest_index(int h, int w, float sx, float sy) {
  if (!(sx > -1.f && sx < w + 1.f && sy > -1.f && sy < h + 1.f)) return -1;
  const int x = static_cast<int>(floorf(sx + 0.5f)), y = static_cast<int>(floorf(sy + 0.5f));
  if (x < 0 || x >= w || y < 0 || y >= h) return -1;
  return static_cast<long long>(y) * w + x;
}

// Whether an intermediate coordinate lies on the pixel footprint of a w x h frame: a stage that maps outside its
// input frame saw the constant-0 border there when albumentations warped stage by stage.
CQ_HD bool in_frame(int h, int w, float x, float y) { return x >= -0.5f && x < w - 0.5f && y >= -0.5f && y < h - 0.5f; }

// Border index rules. reflect101 (cv2.BORDER_REFLECT_101, "gfedcb|abcdefgh|gfedcba") is cv2.blur's and
// cv2.filter2D's default; reflect ("cba|abc|cba", scipy.ndimage mode 'reflect') is gaussian_filter's. Both loop so
// a radius larger than the image is still in range.
CQ_HD int reflect101(int i, int n) {
  if (n == 1) return 0;
  while (i < 0 || i >= n) i = i < 0 ? -i : 2 * n - 2 - i;
  return i;
}
CQ_HD int reflect_edge(int i, int n) {
  while (i < 0 || i >= n) i = i < 0 ? -i - 1 : 2 * n - 1 - i;
  return i;
}

}  // namespace cq::data
