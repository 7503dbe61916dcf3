// PIL-style antialiased bilinear resize (see data/resize.h).
#include <algorithm>
#include <cmath>
#include <vector>

#include "data/resize.h"
#include "tensor/error.h"

namespace cq::data {
namespace {

// Per output index: first source index and normalised weights (as PIL's precompute_coeffs with the triangle filter).
struct Coeffs {
  std::vector<int> first, count;
  std::vector<float> w;  // ksize per output index
  int ksize = 0;
};

Coeffs triangle_coeffs(int in, int out) {
  const double scale = double(in) / out;
  const double fscale = std::max(scale, 1.0);
  const double support = 1.0 * fscale;  // the triangle filter's support is 1
  Coeffs c;
  c.ksize = int(std::ceil(support)) * 2 + 1;
  c.first.resize(size_t(out));
  c.count.resize(size_t(out));
  c.w.assign(size_t(out) * size_t(c.ksize), 0.f);
  for (int d = 0; d < out; ++d) {
    const double center = (d + 0.5) * scale;
    int x0 = int(center - support + 0.5), x1 = int(center + support + 0.5);
    x0 = std::max(x0, 0);
    x1 = std::min(x1, in);
    double sum = 0;
    std::vector<double> ww;
    for (int x = x0; x < x1; ++x) {
      const double t = std::fabs((x - center + 0.5) / fscale);
      const double v = t < 1.0 ? 1.0 - t : 0.0;
      ww.push_back(v);
      sum += v;
    }
    c.first[size_t(d)] = x0;
    c.count[size_t(d)] = std::min(x1 - x0, c.ksize);
    for (size_t k = 0; k < ww.size() && int(k) < c.ksize; ++k)
      c.w[size_t(d) * size_t(c.ksize) + k] = float(sum > 0 ? ww[k] / sum : 0.0);
  }
  return c;
}

uint8_t clamp_u8(float v) {
  const float r = std::nearbyint(v);
  return uint8_t(r < 0.f ? 0.f : (r > 255.f ? 255.f : r));
}

}  // namespace

Image resize_bilinear(const Image& src, int out_h, int out_w) {
  CQ_CHECK(src.h > 0 && src.w > 0 && src.c > 0 && src.px.size() == size_t(src.h) * src.w * src.c,
           "resize_bilinear: bad source image ", src.h, "x", src.w, "x", src.c);
  CQ_CHECK(out_h > 0 && out_w > 0, "resize_bilinear: output size must be positive, got ", out_h, "x", out_w);
  const int C = src.c;
  // Horizontal pass: [src.h, out_w] with 8-bit rounding, as PIL keeps an 8-bit intermediate image.
  const Coeffs cx = triangle_coeffs(src.w, out_w);
  Image mid(src.h, out_w, C);
  for (int y = 0; y < src.h; ++y)
    for (int x = 0; x < out_w; ++x) {
      const float* w = cx.w.data() + size_t(x) * size_t(cx.ksize);
      for (int ch = 0; ch < C; ++ch) {
        float acc = 0.f;
        for (int k = 0; k < cx.count[size_t(x)]; ++k) acc += w[k] * src.at(y, cx.first[size_t(x)] + k, ch);
        mid.at(y, x, ch) = clamp_u8(acc);
      }
    }
  const Coeffs cy = triangle_coeffs(src.h, out_h);
  Image out(out_h, out_w, C);
  for (int y = 0; y < out_h; ++y) {
    const float* w = cy.w.data() + size_t(y) * size_t(cy.ksize);
    for (int x = 0; x < out_w; ++x)
      for (int ch = 0; ch < C; ++ch) {
        float acc = 0.f;
        for (int k = 0; k < cy.count[size_t(y)]; ++k) acc += w[k] * mid.at(cy.first[size_t(y)] + k, x, ch);
        out.at(y, x, ch) = clamp_u8(acc);
      }
  }
  return out;
}

}  // namespace cq::data
