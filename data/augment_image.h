// The plain 8-bit image the augmentations work on: rows of pixels, channels interleaved (HWC), as decoded by stb
// and as albumentations sees a uint8 numpy array. Masks use the same type with c == 1 (class index per pixel).
#pragma once
#include <cstddef>
#include <cstdint>
#include <vector>

namespace cq::data {

struct U8Image {
  int h = 0, w = 0, c = 0;
  std::vector<uint8_t> px;  // size h*w*c, index (y*w + x)*c + ch

  U8Image() = default;
  U8Image(int h_, int w_, int c_, uint8_t fill = 0)
      : h(h_), w(w_), c(c_), px(static_cast<size_t>(h_) * w_ * c_, fill) {}

  bool empty() const { return px.empty(); }
  size_t size() const { return px.size(); }
  uint8_t& at(int y, int x, int ch = 0) { return px[(static_cast<size_t>(y) * w + x) * c + ch]; }
  uint8_t at(int y, int x, int ch = 0) const { return px[(static_cast<size_t>(y) * w + x) * c + ch]; }
};

}  // namespace cq::data
