// CPU passes of the colour transfer and the device dispatch (see colorxfer.h for the semantics).
#include "colorxfer/colorxfer.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

#include "colorxfer/colorxfer_cpu.h"
#include "colorxfer/colorxfer_cuda.h"
#include "colorxfer/colorxfer_math.h"
#include "tensor/runtime.h"

namespace cq::dcin {

using namespace cxmath;

ColorSpace parse_color_space(const std::string& s) {
  if (s == "lab-reinhard") return ColorSpace::LabReinhard;
  if (s == "lab-cv") return ColorSpace::LabCv;
  fail("colour space '", s, "' unknown (expected lab-reinhard or lab-cv)");
}

const char* color_space_name(ColorSpace cs) { return cs == ColorSpace::LabReinhard ? "lab-reinhard" : "lab-cv"; }

namespace detail {
void check_image(const Tensor& image, const std::string& what) {
  CQ_CHECK(image.defined(), what, ": no image");
  CQ_CHECK(image.dtype() == DType::u8 && image.dim() == 3 && image.size(2) == 3, what,
           ": expected a u8 RGB image [H,W,3], got ", image.describe());
  CQ_CHECK(image.is_contiguous(), what, ": image must be contiguous, got ", image.describe());
}
}  // namespace detail

namespace {

int threads_of(const Tensor& t) { return std::max(1, t.runtime().threads()); }

// Pivot for the shifted sums: lab of mid grey, close to typical pixels so sum(x^2) - n*mean^2 does not cancel.
void rh_pivot(float K[3]) { rh_rgb_to_lab(128, 128, 128, K); }

struct LinTable {
  float v[256];
  LinTable() {
    for (int i = 0; i < 256; ++i) v[i] = srgb_to_linear(static_cast<float>(i) / 255.0f);
  }
};

// The byte order trick of the authors' code: the RGB array is read as BGR, so byte 2 plays red and byte 0 blue.
inline void cv_pixel_to_lab8(const uint8_t* p, const float* lin, uint8_t out[3]) {
  cv_linear_to_lab8(lin[p[2]], lin[p[1]], lin[p[0]], out);
}
inline void cv_lab8_to_pixel(const uint8_t* lab, uint8_t* p) {
  uint8_t rgb[3];
  cv_lab8_to_rgb(lab[0], lab[1], lab[2], rgb);
  p[0] = rgb[2];
  p[1] = rgb[1];
  p[2] = rgb[0];
}

ColorStats finish_rh(const std::vector<double>& rows, int64_t H, const float K[3]) {
  ColorStats st;
  double s[7] = {0, 0, 0, 0, 0, 0, 0};
  for (int64_t h = 0; h < H; ++h)  // rows in order: the same sum for any thread count
    for (int k = 0; k < 7; ++k) s[k] += rows[h * 7 + k];
  st.count = static_cast<int64_t>(s[6]);
  if (st.count == 0) return st;
  const double n = s[6];
  for (int c = 0; c < 3; ++c) {
    const double m = s[c] / n;
    st.mean[c] = m + K[c];
    st.std[c] = std::sqrt(std::max(0.0, s[3 + c] / n - m * m));
  }
  return st;
}

// lab-cv statistics exactly as numpy computes np.mean / np.std(axis=(0,1)) of the uint8 Lab array: the mean from the
// exact integer sum; the variance as a float64 sum of (v - mean)^2 over the pixels in row-major order (numpy's
// reduction over the two outer axes is sequential, not pairwise). Matching that order bit for bit matters: the
// transfer truncates, and the reference transferred to itself lands on integers where one ulp flips a level.
// lab: n pixels of 8-bit Lab; rgb (may be null): the image, for the mask.
ColorStats finish_cv(const uint8_t* lab, const uint8_t* rgb, int64_t n, int thr, const int64_t sums[3], int64_t count) {
  ColorStats st;
  st.count = count;
  if (count == 0) return st;
  const double cnt = static_cast<double>(count);
  double m[3], ss[3] = {0, 0, 0};
  for (int c = 0; c < 3; ++c) m[c] = static_cast<double>(sums[c]) / cnt;
  for (int64_t i = 0; i < n; ++i) {
    if (rgb && !in_mask(rgb + 3 * i, thr)) continue;
    const uint8_t* p = lab + 3 * i;
    for (int c = 0; c < 3; ++c) {
      const double d = static_cast<double>(p[c]) - m[c];
      ss[c] += d * d;
    }
  }
  for (int c = 0; c < 3; ++c) {
    st.mean[c] = m[c];
    st.std[c] = std::sqrt(ss[c] / cnt);
  }
  return st;
}

// Integer sums and count of the mask pixels of an 8-bit Lab buffer (exact, so any split of the work gives them).
void lab8_sums(const uint8_t* lab, const uint8_t* rgb, int64_t n, int thr, int64_t sums[3], int64_t* count) {
  int64_t s0 = 0, s1 = 0, s2 = 0, k = 0;
  for (int64_t i = 0; i < n; ++i) {
    if (rgb && !in_mask(rgb + 3 * i, thr)) continue;
    s0 += lab[3 * i], s1 += lab[3 * i + 1], s2 += lab[3 * i + 2], ++k;
  }
  sums[0] = s0, sums[1] = s1, sums[2] = s2, *count = k;
}

Affine rh_affine(const ColorStats& in, const ColorStats& ref) {
  Affine A;
  for (int c = 0; c < 3; ++c) {
    const double k = in.std[c] < kReinhardStdFloor ? 0.0 : ref.std[c] / std::max(in.std[c], kReinhardStdFloor);
    A.scale[c] = static_cast<float>(k);
    A.shift[c] = static_cast<float>(ref.mean[c] - in.mean[c] * k);
  }
  return A;
}

void cv_lut(const ColorStats& in, const ColorStats& ref, uint8_t lut[3 * 256]) {
  for (int c = 0; c < 3; ++c)
    for (int v = 0; v < 256; ++v) lut[c * 256 + v] = cv_match_value(v, in.mean[c], in.std[c], ref.mean[c], ref.std[c]);
}

void check_ref(const ColorStats& ref, ColorSpace space, int thr, const std::string& what) {
  CQ_CHECK(ref.count > 0, what, ": the reference has no pixels",
           thr >= 0 ? " with max(R,G,B) > " + std::to_string(thr) : std::string(), " to take statistics from");
  (void)space;
}

// Input with no statistics pixels (all outside the mask): returned unchanged, as documented.
bool passthrough(const ColorStats& in) { return in.count == 0; }

}  // namespace

ColorStats color_stats(const Tensor& image, const TransferOptions& opts, const std::string& what) {
  detail::check_image(image, what);
  const int64_t H = image.size(0), W = image.size(1);
  const int thr = opts.mask_threshold;
  ColorStats st;
  if (opts.space == ColorSpace::LabReinhard) {
    float K[3];
    rh_pivot(K);
    std::vector<double> rows(static_cast<size_t>(H) * 7, 0.0);
    if (image.device().is_cuda()) {
#ifdef CQ_CUDA
      cudaimpl::rh_row_sums(image, thr, K, rows.data());
#endif
    } else {
      cpuimpl::rh_row_sums(image.data<uint8_t>(), H, W, thr, K, rows.data(), threads_of(image));
    }
    st = finish_rh(rows, H, K);
  } else {
    // Fused conversion pass into an 8-bit Lab buffer (parallel), then the numpy-order reduction (see finish_cv).
    const int64_t n = H * W;
    std::vector<uint8_t> lab(static_cast<size_t>(n) * 3);
    const LinTable lin;
    Tensor host_rgb = image;
    if (image.device().is_cuda()) {
#ifdef CQ_CUDA
      cudaimpl::cv_lab8(image, lin.v, lab.data());
      host_rgb = image.to(Device::cpu());
#endif
    } else {
      const uint8_t* px = image.data<uint8_t>();
      uint8_t* lp = lab.data();
#pragma omp parallel for num_threads(threads_of(image)) schedule(static)
      for (int64_t i = 0; i < n; ++i) cv_pixel_to_lab8(px + 3 * i, lin.v, lp + 3 * i);
    }
    const uint8_t* rgb = thr >= 0 ? host_rgb.data<uint8_t>() : nullptr;
    int64_t sums[3], count;
    lab8_sums(lab.data(), rgb, n, thr, sums, &count);
    st = finish_cv(lab.data(), rgb, n, thr, sums, count);
  }
  st.space = opts.space;
  st.mask_threshold = thr;
  return st;
}

namespace {

template <class OutT, class PixelFn>
void transform_cpu(const Tensor& image, const Tensor& out, int thr, PixelFn fn) {
  const int64_t n = image.size(0) * image.size(1);
  const uint8_t* src = image.data<uint8_t>();
  OutT* dst = out.data<OutT>();
#pragma omp parallel for num_threads(threads_of(image)) schedule(static)
  for (int64_t i = 0; i < n; ++i) fn(src + 3 * i, dst + 3 * i, in_mask(src + 3 * i, thr));
}

void check_pair(const Tensor& image, const ColorStats& ref, const std::string& what) {
  detail::check_image(image, what);
  check_ref(ref, ref.space, ref.mask_threshold, what);
}

}  // namespace

Tensor color_transfer(const Tensor& image, const ColorStats& ref, const std::string& what) {
  check_pair(image, ref, what);
  TransferOptions opts{ref.space, ref.mask_threshold};
  const ColorStats in = color_stats(image, opts, what);
  if (passthrough(in)) return image.clone();
  Tensor out = image.new_empty(image.shape(), DType::u8);
  const int thr = ref.mask_threshold;
  if (ref.space == ColorSpace::LabReinhard) {
    const Affine A = rh_affine(in, ref);
    if (image.device().is_cuda()) {
#ifdef CQ_CUDA
      cudaimpl::rh_transfer(image, out, A, thr);
#endif
      return out;
    }
    cpuimpl::rh_transform_u8(image.data<uint8_t>(), out.data<uint8_t>(), image.size(0) * image.size(1), A, thr,
                             threads_of(image));
    return out;
  }
  uint8_t lut[3 * 256];
  cv_lut(in, ref, lut);
  const LinTable lin;
  if (image.device().is_cuda()) {
#ifdef CQ_CUDA
    cudaimpl::cv_transfer(image, out, lin.v, lut, thr);
#endif
    return out;
  }
  transform_cpu<uint8_t>(image, out, thr, [&](const uint8_t* p, uint8_t* o, bool m) {
    if (!m) {
      o[0] = p[0], o[1] = p[1], o[2] = p[2];
      return;
    }
    uint8_t lab[3];
    cv_pixel_to_lab8(p, lin.v, lab);
    for (int c = 0; c < 3; ++c) lab[c] = lut[c * 256 + lab[c]];
    cv_lab8_to_pixel(lab, o);
  });
  return out;
}

Tensor color_transfer(const Tensor& image, const Tensor& reference, const TransferOptions& opts) {
  const ColorStats ref = color_stats(reference, opts, "reference");
  check_ref(ref, opts.space, opts.mask_threshold, "reference");
  return color_transfer(image, ref);
}

Tensor color_transfer_reinhard_f32(const Tensor& image, const ColorStats& ref, const std::string& what) {
  check_pair(image, ref, what);
  CQ_CHECK(ref.space == ColorSpace::LabReinhard, what, ": the float result exists for lab-reinhard only, got ",
           color_space_name(ref.space), " statistics");
  const ColorStats in = color_stats(image, {ref.space, ref.mask_threshold}, what);
  Tensor out = image.new_empty(image.shape(), DType::f32);
  const Affine A = rh_affine(in, ref);
  const bool pass = passthrough(in);
  const int thr = pass ? 256 : ref.mask_threshold;  // 256: nothing is in the mask, every pixel is copied
  if (image.device().is_cuda()) {
#ifdef CQ_CUDA
    cudaimpl::rh_transfer(image, out, A, thr);
#endif
    return out;
  }
  cpuimpl::rh_transform_f32(image.data<uint8_t>(), out.data<float>(), image.size(0) * image.size(1), A, thr,
                           threads_of(image));
  return out;
}

Tensor cv_rgb_to_lab8(const Tensor& image) {
  detail::check_image(image, "cv_rgb_to_lab8");
  Tensor img = image.to(Device::cpu());
  Tensor out = img.new_empty(img.shape(), DType::u8);
  const LinTable lin;
  transform_cpu<uint8_t>(img, out, -1, [&](const uint8_t* p, uint8_t* o, bool) { cv_pixel_to_lab8(p, lin.v, o); });
  return out;
}

Tensor cv_lab8_to_rgb(const Tensor& lab) {
  detail::check_image(lab, "cv_lab8_to_rgb");
  Tensor l = lab.to(Device::cpu());
  Tensor out = l.new_empty(l.shape(), DType::u8);
  transform_cpu<uint8_t>(l, out, -1, [&](const uint8_t* p, uint8_t* o, bool) { cv_lab8_to_pixel(p, o); });
  return out;
}

ColorStats cv_lab8_stats(const Tensor& lab) {
  detail::check_image(lab, "cv_lab8_stats");
  Tensor l = lab.to(Device::cpu());
  const int64_t n = l.size(0) * l.size(1);
  int64_t sums[3], count;
  lab8_sums(l.data<uint8_t>(), nullptr, n, -1, sums, &count);
  ColorStats st = finish_cv(l.data<uint8_t>(), nullptr, n, -1, sums, count);
  st.space = ColorSpace::LabCv;
  return st;
}

Tensor cv_match_lab8(const Tensor& lab, const ColorStats& in, const ColorStats& ref) {
  detail::check_image(lab, "cv_match_lab8");
  Tensor l = lab.to(Device::cpu());
  uint8_t lut[3 * 256];
  cv_lut(in, ref, lut);
  Tensor out = l.new_empty(l.shape(), DType::u8);
  transform_cpu<uint8_t>(l, out, -1, [&](const uint8_t* p, uint8_t* o, bool) {
    for (int c = 0; c < 3; ++c) o[c] = lut[c * 256 + p[c]];
  });
  return out;
}

}  // namespace cq::dcin
