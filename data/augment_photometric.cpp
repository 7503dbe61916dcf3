// Photometric augmentations on 8-bit images, each mirroring the uint8 path of its albumentations 1.3 transform:
// Blur (cv2.blur), Sharpen (cv2.filter2D), GaussNoise, RandomBrightnessContrast and RGBShift (float LUTs, clipped
// and truncated by astype(uint8)). Results stay in [0, 255].
#include <algorithm>
#include <cmath>

#include "data/augment.h"
#include "data/augment_math.h"
#include "tensor/error.h"

namespace cq::data {
namespace {

void check_image(const U8Image& img, const char* op) {
  CQ_CHECK(img.h >= 1 && img.w >= 1 && img.c >= 1 && img.size() == size_t(img.h) * img.w * img.c, op, ": image ",
           img.h, "x", img.w, "x", img.c, " with ", img.size(), " bytes");
}

// clip then truncate toward zero: numpy's np.clip(x, 0, 255).astype(np.uint8).
uint8_t clip_trunc(float v) { return static_cast<uint8_t>(v < 0.f ? 0.f : (v > 255.f ? 255.f : v)); }

// The image with an r-pixel reflect101 border on every side (as cv2.blur / cv2.filter2D extend it), so the filters
// below run without per-tap border tests.
std::vector<uint8_t> pad_reflect101(const U8Image& img, int r, int& pw) {
  pw = img.w + 2 * r;
  const int ph = img.h + 2 * r, c = img.c;
  std::vector<uint8_t> out(size_t(ph) * pw * c);
  for (int y = 0; y < ph; ++y) {
    const int sy = reflect101(y - r, img.h);
    for (int x = 0; x < pw; ++x) {
      const uint8_t* s = &img.px[(size_t(sy) * img.w + reflect101(x - r, img.w)) * c];
      std::copy(s, s + c, &out[(size_t(y) * pw + x) * c]);
    }
  }
  return out;
}

}  // namespace

void box_blur(U8Image& img, int k) {
  check_image(img, "box_blur");
  CQ_CHECK(k >= 1 && k % 2 == 1, "box_blur: kernel size ", k, " (must be odd and positive)");
  const int r = k / 2, h = img.h, w = img.w, c = img.c;
  int pw = 0;
  const std::vector<uint8_t> pad = pad_reflect101(img, r, pw);
  const int ph = h + 2 * r, rowlen = w * c;
  // Integer window sums along x (sliding), then along y (sliding over rows); one rounding at the end, as OpenCV's
  // boxFilter does (k*k is odd, so sum / (k*k) is never a tie).
  std::vector<int> rows(size_t(ph) * rowlen);
  for (int y = 0; y < ph; ++y) {
    const uint8_t* in = &pad[size_t(y) * pw * c];
    int* out = &rows[size_t(y) * rowlen];
    for (int ch = 0; ch < c; ++ch) {
      int s = 0;
      for (int t = 0; t < k; ++t) s += in[t * c + ch];
      out[ch] = s;
      for (int x = 1; x < w; ++x) out[x * c + ch] = s += in[(x + k - 1) * c + ch] - in[(x - 1) * c + ch];
    }
  }
  const double scale = 1.0 / (double(k) * k);
  std::vector<int> col(rows.begin(), rows.begin() + rowlen);
  for (int t = 1; t < k; ++t)
    for (int i = 0; i < rowlen; ++i) col[i] += rows[size_t(t) * rowlen + i];
  for (int y = 0; y < h; ++y) {
    if (y > 0)
      for (int i = 0; i < rowlen; ++i) col[i] += rows[size_t(y + k - 1) * rowlen + i] - rows[size_t(y - 1) * rowlen + i];
    uint8_t* out = &img.px[size_t(y) * rowlen];
    for (int i = 0; i < rowlen; ++i) out[i] = saturate_u8(float(std::nearbyint(col[i] * scale)));
  }
}

void sharpen_kernel(double alpha, double lightness, float k[9]) {
  for (int i = 0; i < 9; ++i) {
    const double nochange = i == 4 ? 1.0 : 0.0;
    const double effect = i == 4 ? 8.0 + lightness : -1.0;
    k[i] = float((1.0 - alpha) * nochange + alpha * effect);
  }
}

void sharpen(U8Image& img, double alpha, double lightness) {
  check_image(img, "sharpen");
  float k[9];
  sharpen_kernel(alpha, lightness, k);
  int pw = 0;
  const std::vector<uint8_t> pad = pad_reflect101(img, 1, pw);
  // Row at a time: each of the 9 taps adds a shifted padded row, which the compiler vectorises.
  const int c = img.c, rowlen = img.w * c;
  std::vector<float> acc(rowlen);
  for (int y = 0; y < img.h; ++y) {
    std::fill(acc.begin(), acc.end(), 0.f);
    for (int j = 0; j < 3; ++j)
      for (int i = 0; i < 3; ++i) {
        const float kv = k[j * 3 + i];
        const uint8_t* in = &pad[(size_t(y + j) * pw + i) * c];
        for (int q = 0; q < rowlen; ++q) acc[q] += kv * in[q];
      }
    uint8_t* out = &img.px[size_t(y) * rowlen];
    for (int q = 0; q < rowlen; ++q) out[q] = saturate_u8(acc[q]);
  }
}

void gauss_noise(U8Image& img, double sigma, Rng& rng) {
  check_image(img, "gauss_noise");
  CQ_CHECK(sigma >= 0 && std::isfinite(sigma), "gauss_noise: sigma ", sigma);
  for (auto& v : img.px) v = clip_trunc(float(double(v) + sigma * rng.normal()));
}

void brightness_contrast(U8Image& img, double contrast, double brightness) {
  check_image(img, "brightness_contrast");
  uint8_t lut[256];
  const float a = float(1.0 + contrast), b = float(brightness * 255.0);
  for (int v = 0; v < 256; ++v) lut[v] = clip_trunc(float(v) * a + b);
  for (auto& v : img.px) v = lut[v];
}

void rgb_shift(U8Image& img, const double shift[3]) {
  check_image(img, "rgb_shift");
  CQ_CHECK(img.c == 3, "rgb_shift: needs an RGB image, got ", img.c, " channels");
  uint8_t lut[3][256];
  for (int ch = 0; ch < 3; ++ch)
    for (int v = 0; v < 256; ++v) lut[ch][v] = clip_trunc(float(v) + float(shift[ch]));
  for (size_t i = 0; i < img.px.size(); i += 3)
    for (int ch = 0; ch < 3; ++ch) img.px[i + ch] = lut[ch][img.px[i + ch]];
}

PhotoParams draw_photometric(Rng& rng, const PhotoConfig& cfg) {
  CQ_CHECK(cfg.blur_min >= 1 && cfg.blur_min % 2 == 1 && cfg.blur_max >= cfg.blur_min && cfg.blur_max % 2 == 1,
           "draw_photometric: blur kernel range ", cfg.blur_min, "..", cfg.blur_max, " (odd, min <= max)");
  PhotoParams p;
  if ((p.blur = rng.bernoulli(cfg.p_blur)))
    p.blur_k = cfg.blur_min + 2 * int(rng.below(uint64_t((cfg.blur_max - cfg.blur_min) / 2 + 1)));
  if ((p.sharpen = rng.bernoulli(cfg.p_sharpen))) {
    p.sharpen_alpha = rng.uniform(cfg.sharpen_alpha_lo, cfg.sharpen_alpha_hi);
    p.lightness = rng.uniform(cfg.lightness_lo, cfg.lightness_hi);
  }
  if ((p.noise = rng.bernoulli(cfg.p_noise))) p.noise_sigma = std::sqrt(rng.uniform(cfg.noise_var_lo, cfg.noise_var_hi));
  if ((p.bc = rng.bernoulli(cfg.p_bc))) {
    // albumentations draws alpha = 1 + U(-contrast, contrast) then beta = U(-brightness, brightness)
    p.contrast = rng.uniform(-cfg.contrast, cfg.contrast);
    p.brightness = rng.uniform(-cfg.brightness, cfg.brightness);
  }
  if ((p.rgb = rng.bernoulli(cfg.p_rgb)))
    for (auto& s : p.shift) s = rng.uniform(-cfg.rgb_shift, cfg.rgb_shift);
  return p;
}

void apply_photometric(U8Image& img, const PhotoParams& p, Rng& noise_rng) {
  check_image(img, "apply_photometric");
  // Checked even for an identity draw, so a grayscale input fails on the first sample, not at random.
  CQ_CHECK(img.c == 3, "apply_photometric: needs an RGB image, got ", img.c, " channels");
  if (p.identity()) return;
  if (p.blur) box_blur(img, p.blur_k);
  if (p.sharpen) sharpen(img, p.sharpen_alpha, p.lightness);
  if (p.noise) gauss_noise(img, p.noise_sigma, noise_rng);
  if (p.bc) brightness_contrast(img, p.contrast, p.brightness);
  if (p.rgb) rgb_shift(img, p.shift);
}

}  // namespace cq::data
