#include "pipeline/overlay.h"

#include <algorithm>
#include <cmath>

#include "data/resize.h"
#include "tensor/error.h"

namespace cq::pipeline {

std::array<uint8_t, 3> class_color(int c) {
  static const uint8_t kTable[10][3] = {{0, 0, 0},     {255, 0, 0},   {0, 255, 0},   {0, 0, 255},   {255, 255, 0},
                                        {0, 255, 255}, {255, 0, 255}, {255, 128, 0}, {128, 0, 255}, {255, 255, 255}};
  if (c >= 0 && c < 10) return {kTable[c][0], kTable[c][1], kTable[c][2]};
  // A fixed integer hash (no randomness), bright enough to see on black.
  uint32_t h = uint32_t(c) * 2654435761u;
  h ^= h >> 15;
  return {uint8_t(64 + (h & 0xbf)), uint8_t(64 + ((h >> 8) & 0xbf)), uint8_t(64 + ((h >> 16) & 0xbf))};
}

data::Image colorize_mask(const data::Image& mask) {
  CQ_CHECK(mask.c == 1, "colorize_mask: expected a 1-channel class map, got ", mask.c, " channels");
  data::Image out(mask.h, mask.w, 3);
  for (size_t p = 0; p < mask.px.size(); ++p) {
    const auto col = class_color(mask.px[p]);
    for (int ch = 0; ch < 3; ++ch) out.px[p * 3 + size_t(ch)] = col[size_t(ch)];
  }
  return out;
}

data::Image overlay_mask(const data::Image& rgb, const data::Image& mask, double alpha) {
  CQ_CHECK(rgb.c == 3 && mask.c == 1 && rgb.h == mask.h && rgb.w == mask.w, "overlay_mask: image ", rgb.h, "x", rgb.w,
           "x", rgb.c, " and class map ", mask.h, "x", mask.w, "x", mask.c, " do not fit");
  CQ_CHECK(alpha >= 0 && alpha <= 1, "overlay_mask: alpha must be in [0,1], got ", alpha);
  data::Image out = rgb;
  for (size_t p = 0; p < mask.px.size(); ++p) {
    if (mask.px[p] == 0) continue;
    const auto col = class_color(mask.px[p]);
    for (int ch = 0; ch < 3; ++ch) {
      const double v = (1 - alpha) * rgb.px[p * 3 + size_t(ch)] + alpha * col[size_t(ch)];
      out.px[p * 3 + size_t(ch)] = uint8_t(std::min(255.0, std::floor(v + 0.5)));
    }
  }
  return out;
}

data::Image compose_sheet(const std::vector<std::vector<data::Image>>& rows, int tile_h, int gap) {
  CQ_CHECK(!rows.empty() && tile_h > 0 && gap >= 0, "compose_sheet: nothing to compose");
  std::vector<std::vector<data::Image>> scaled(rows.size());
  std::vector<int> col_w;
  for (size_t r = 0; r < rows.size(); ++r)
    for (size_t c = 0; c < rows[r].size(); ++c) {
      const data::Image& t = rows[r][c];
      CQ_CHECK(t.c == 3 && t.h > 0 && t.w > 0, "compose_sheet: tile ", r, ",", c, " is not an RGB image");
      const int w = std::max(1, int(std::lround(double(t.w) * tile_h / t.h)));
      scaled[r].push_back(t.h == tile_h && t.w == w ? t : data::resize_cubic(t, tile_h, w));
      if (col_w.size() <= c) col_w.push_back(0);
      col_w[c] = std::max(col_w[c], w);
    }
  int W = gap, H = gap + int(rows.size()) * (tile_h + gap);
  for (int w : col_w) W += w + gap;
  data::Image sheet(H, W, 3, 64);
  for (size_t r = 0; r < scaled.size(); ++r) {
    int x0 = gap;
    const int y0 = gap + int(r) * (tile_h + gap);
    for (size_t c = 0; c < scaled[r].size(); ++c) {
      const data::Image& t = scaled[r][c];
      for (int y = 0; y < t.h; ++y)
        std::copy_n(&t.px[size_t(y) * t.w * 3], size_t(t.w) * 3, &sheet.px[(size_t(y0 + y) * W + size_t(x0)) * 3]);
      x0 += col_w[c] + gap;
    }
  }
  return sheet;
}

}  // namespace cq::pipeline
