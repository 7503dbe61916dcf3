#include "data/resize.h"

#include <algorithm>
#include <cmath>

#include "tensor/error.h"

namespace cq::data {
namespace {

constexpr int kCoefBits = 11;  // OpenCV INTER_RESIZE_COEF_BITS
constexpr int kCoefScale = 1 << kCoefBits;

// OpenCV's interpolateCubic, in float and in the same operation order, so coefficients round identically.
void cubic_coeffs(float x, float* c) {
  const float A = -0.75f;
  c[0] = ((A * (x + 1) - 5 * A) * (x + 1) + 8 * A) * (x + 1) - 4 * A;
  c[1] = ((A + 2) * x - (A + 3)) * x * x + 1;
  c[2] = ((A + 2) * (1 - x) - (A + 3)) * (1 - x) * (1 - x) + 1;
  c[3] = 1.f - c[0] - c[1] - c[2];
}

int16_t to_short(float v) {  // saturate_cast<short>(float): round half to even, then clamp
  const long r = std::lrint(v);
  return int16_t(std::min<long>(32767, std::max<long>(-32768, r)));
}

// For each destination index: the first of its 4 source taps (may lie outside [0,in): clamped when read) and the
// fixed-point weights.
struct Taps {
  std::vector<int> first;
  std::vector<int16_t> w;  // 4 per destination index
};

Taps cubic_taps(int in, int out) {
  const double inv_scale = double(out) / in, scale = 1.0 / inv_scale;
  Taps t;
  t.first.resize(out);
  t.w.resize(size_t(out) * 4);
  for (int d = 0; d < out; ++d) {
    float f = float((d + 0.5) * scale - 0.5);
    const int s = int(std::floor(f));
    f -= float(s);
    float c[4];
    cubic_coeffs(f, c);
    t.first[d] = s - 1;
    for (int k = 0; k < 4; ++k) t.w[size_t(d) * 4 + k] = to_short(c[k] * kCoefScale);
  }
  return t;
}

int clampi(int v, int lo, int hi) { return v < lo ? lo : (v > hi ? hi : v); }

void check_sizes(const Image& src, int out_h, int out_w, const char* op) {
  CQ_CHECK(src.h > 0 && src.w > 0 && src.c > 0 && src.px.size() == size_t(src.h) * src.w * src.c, op,
           ": bad source image ", src.h, "x", src.w, "x", src.c);
  CQ_CHECK(out_h > 0 && out_w > 0, op, ": output size must be positive, got ", out_h, "x", out_w);
}

}  // namespace

int nearest_source_index(int d, int in_size, int out_size) {
  const double inv_scale = double(out_size) / in_size, ifx = 1.0 / inv_scale;
  return std::min(int(std::floor(d * ifx)), in_size - 1);
}

Image resize_nearest(const Image& src, int out_h, int out_w) {
  check_sizes(src, out_h, out_w, "resize_nearest");
  std::vector<int> xs(out_w);
  for (int x = 0; x < out_w; ++x) xs[x] = nearest_source_index(x, src.w, out_w);
  Image dst(out_h, out_w, src.c);
  const int c = src.c;
  for (int y = 0; y < out_h; ++y) {
    const uint8_t* row = src.px.data() + size_t(nearest_source_index(y, src.h, out_h)) * src.w * c;
    uint8_t* o = dst.px.data() + size_t(y) * out_w * c;
    for (int x = 0; x < out_w; ++x)
      for (int k = 0; k < c; ++k) o[x * c + k] = row[xs[x] * c + k];
  }
  return dst;
}

Image resize_cubic(const Image& src, int out_h, int out_w) {
  check_sizes(src, out_h, out_w, "resize_cubic");
  if (out_h == src.h && out_w == src.w) return src;  // cv2.resize copies when the size is unchanged
  const Taps tx = cubic_taps(src.w, out_w), ty = cubic_taps(src.h, out_h);
  const int c = src.c, row_len = out_w * c;

  // Horizontal pass on every source row a destination row reads (integer sums, weights scaled by 2^11).
  std::vector<char> needed(src.h, 0);
  for (int y = 0; y < out_h; ++y)
    for (int k = 0; k < 4; ++k) needed[clampi(ty.first[y] + k, 0, src.h - 1)] = 1;
  std::vector<int32_t> hrows(size_t(src.h) * row_len);
  for (int sy = 0; sy < src.h; ++sy) {
    if (!needed[sy]) continue;
    const uint8_t* s = src.px.data() + size_t(sy) * src.w * c;
    int32_t* d = hrows.data() + size_t(sy) * row_len;
    for (int x = 0; x < out_w; ++x) {
      const int16_t* w = &tx.w[size_t(x) * 4];
      int idx[4];
      for (int k = 0; k < 4; ++k) idx[k] = clampi(tx.first[x] + k, 0, src.w - 1) * c;
      for (int ch = 0; ch < c; ++ch)
        d[x * c + ch] = s[idx[0] + ch] * w[0] + s[idx[1] + ch] * w[1] + s[idx[2] + ch] * w[2] + s[idx[3] + ch] * w[3];
    }
  }

  // Vertical pass: weights scaled by 2^11 again, so the sum carries 22 fraction bits; round half up, saturate.
  Image dst(out_h, out_w, c);
  constexpr int kShift = 2 * kCoefBits;
  for (int y = 0; y < out_h; ++y) {
    const int16_t* w = &ty.w[size_t(y) * 4];
    const int32_t* r[4];
    for (int k = 0; k < 4; ++k) r[k] = hrows.data() + size_t(clampi(ty.first[y] + k, 0, src.h - 1)) * row_len;
    uint8_t* o = dst.px.data() + size_t(y) * row_len;
    for (int i = 0; i < row_len; ++i) {
      // 64-bit: |sum| can exceed 2^31 for extreme overshoot rows (255 * 2048 * ~1.3 per pass, squared).
      const int64_t v = int64_t(r[0][i]) * w[0] + int64_t(r[1][i]) * w[1] + int64_t(r[2][i]) * w[2] +
                        int64_t(r[3][i]) * w[3];
      const int64_t q = (v + (int64_t(1) << (kShift - 1))) >> kShift;
      o[i] = uint8_t(q < 0 ? 0 : (q > 255 ? 255 : q));
    }
  }
  return dst;
}

Image pad_bottom_right(const Image& src, int out_h, int out_w) {
  CQ_CHECK(out_h >= src.h && out_w >= src.w, "pad_bottom_right: target ", out_h, "x", out_w, " is smaller than the ",
           src.h, "x", src.w, " image");
  if (out_h == src.h && out_w == src.w) return src;
  Image dst(out_h, out_w, src.c, 0);
  const size_t row = size_t(src.w) * size_t(src.c);
  for (int y = 0; y < src.h; ++y)
    std::copy(src.px.begin() + ptrdiff_t(size_t(y) * row), src.px.begin() + ptrdiff_t(size_t(y + 1) * row),
              dst.px.begin() + ptrdiff_t(size_t(y) * size_t(out_w) * size_t(src.c)));
  return dst;
}

}  // namespace cq::data
