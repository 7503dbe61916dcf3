// Per-pixel colour-transfer math shared by the CPU passes (colorxfer.cpp) and the CUDA kernels (colorxfer_cuda.cu).
// Everything here is CQ_HD and free of allocation so both backends compute the same formula.
//
// lab-reinhard (Reinhard et al. 2001, the paper): x = RGB/255; LMS = M x; logLMS = log10(max(LMS, 1/255));
//   lab = diag(1/sqrt3, 1/sqrt6, 1/sqrt2) [[1,1,1],[1,1,-2],[1,-1,0]] logLMS. Inverse: the exact inverse of that
//   matrix, 10^x, then the paper's published (rounded) M^-1, clip [0,1].
// lab-cv (the authors' code): cv2.cvtColor(u8, COLOR_BGR2LAB) applied to an RGB array, so byte 0 (R) is read as blue.
//   We evaluate OpenCV's float formula (sRGB gamma, D65-normalised XYZ, cube root with the linear toe) and round to
//   the 8-bit Lab encoding (L*255/100, a+128, b+128). OpenCV's own 8U path is fixed point with LUT interpolation, so
//   this lands within +-2 Lab levels of it (the manifest's stage tolerance); see colorxfer.h.
#pragma once
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "tensor/hd.h"

namespace cq::dcin::cxmath {

// ---- scalar helpers (device builds use the CUDA math library, hosts libm) ----
CQ_HD float clampf(float v, float lo, float hi) { return v < lo ? lo : (v > hi ? hi : v); }
// Host: branch-free log2/exp2 from the float's bits plus short polynomials, so the pixel loops stay inline and the
// compiler can vectorise them (libm calls cannot be). Accuracy ~2 ulp, far inside the 1e-5 output tolerance.
// Device: the CUDA math library.
CQ_HD float bits_to_float(uint32_t u) {
  float f;
  memcpy(&f, &u, 4);
  return f;
}
CQ_HD uint32_t float_to_bits(float f) {
  uint32_t u;
  memcpy(&u, &f, 4);
  return u;
}
// log2 of a positive normal float: x = m 2^e with m in [sqrt(1/2), sqrt(2)); log(m) = 2 atanh(r), r = (m-1)/(m+1),
// |r| <= 0.172, odd series to r^9 (next term 3e-10 relative).
CQ_HD float fast_log2(float x) {
  uint32_t u = float_to_bits(x);
  const int32_t e = static_cast<int32_t>((u >> 23) & 0xff) - 127;
  float m = bits_to_float((u & 0x007fffffu) | 0x3f800000u);  // [1, 2)
  // Selects between constants (not between computed values) so the loop stays if-convertible.
  const float big = m > 1.41421356f ? 1.0f : 0.0f;
  m = m * (m > 1.41421356f ? 0.5f : 1.0f);
  const float r = (m - 1.0f) / (m + 1.0f), r2 = r * r;
  const float p = 2.0f + r2 * (0.66666667f + r2 * (0.4f + r2 * (0.28571429f + r2 * 0.22222222f)));
  return (static_cast<float>(e) + big) + r * p * 1.44269504088896340736f;  // ln -> log2
}
// 2^x for |x| < 126: n = round(x), f = x - n in [-1/2, 1/2], 2^f by its Taylor series in f ln2 to degree 7.
CQ_HD float fast_exp2(float x) {
  x = x < -126.0f ? -126.0f : (x > 126.0f ? 126.0f : x);
  // floor(x + 1/2) by truncation of a positive value (vectorises without SSE4.1's roundps).
  const float n = static_cast<float>(static_cast<int32_t>(x + 127.5f) - 127);
  const float t = (x - n) * 0.69314718055994530942f;
  const float p =
      1.0f + t * (1.0f + t * (0.5f + t * (1.6666667e-1f + t * (4.1666667e-2f + t * (8.3333333e-3f +
                                                                                      t * (1.3888889e-3f + t * 1.9841270e-4f))))));
  return p * bits_to_float(static_cast<uint32_t>(static_cast<int32_t>(n) + 127) << 23);
}
CQ_HD float log10_f(float v) {
#if defined(__CUDA_ARCH__)
  return log10f(v);
#else
  return fast_log2(v) * 0.30102999566398119521f;
#endif
}
// 10^v = 2^(v log2 10): one rounding of the product (relative ~1e-6 at |v| ~ 3), inside the 1e-5 tolerance.
CQ_HD float exp10_f(float v) {
#if defined(__CUDA_ARCH__)
  return exp2f(v * 3.32192809488736234787f);
#else
  return fast_exp2(v * 3.32192809488736234787f);
#endif
}

// ---- lab-reinhard ----
constexpr float kInv255 = 1.0f / 255.0f;
constexpr float kLmsFloor = 1.0f / 255.0f;
constexpr float kInvSqrt3 = 0.57735026918962576451f;
constexpr float kInvSqrt6 = 0.40824829046386301637f;
constexpr float kInvSqrt2 = 0.70710678118654752440f;

// RGB bytes -> l, alpha, beta (scalar outputs: the form the CPU's vectorised block loops use).
CQ_HD void rh_rgb_to_lab3(float r8, float g8, float b8, float& l, float& al, float& be) {
  const float r = r8 * kInv255, g = g8 * kInv255, b = b8 * kInv255;
  float L = 0.3811f * r + 0.5783f * g + 0.0402f * b;
  float M = 0.1967f * r + 0.7244f * g + 0.0782f * b;
  float S = 0.0241f * r + 0.1288f * g + 0.8444f * b;
  // The floor keeps black (LMS = 0) finite: log10(1/255) = -2.4065 instead of -inf.
  L = log10_f(L > kLmsFloor ? L : kLmsFloor);
  M = log10_f(M > kLmsFloor ? M : kLmsFloor);
  S = log10_f(S > kLmsFloor ? S : kLmsFloor);
  l = (L + M + S) * kInvSqrt3;
  al = (L + M - 2.0f * S) * kInvSqrt6;
  be = (L - M) * kInvSqrt2;
}
CQ_HD void rh_rgb_to_lab(float r8, float g8, float b8, float lab[3]) { rh_rgb_to_lab3(r8, g8, b8, lab[0], lab[1], lab[2]); }

// l, alpha, beta -> RGB in [0,1] (clipped).
CQ_HD void rh_lab_to_rgb3(float l, float al, float be, float& R, float& G, float& B) {
  const float a = l * kInvSqrt3, b = al * kInvSqrt6, c = be * kInvSqrt2;  // sqrt3/3 = 1/sqrt3 etc.
  const float L = exp10_f(a + b + c), M = exp10_f(a + b - c), S = exp10_f(a - 2.0f * b);
  R = clampf(4.4679f * L - 3.5873f * M + 0.1193f * S, 0.0f, 1.0f);
  G = clampf(-1.2186f * L + 2.3809f * M - 0.1624f * S, 0.0f, 1.0f);
  B = clampf(0.0497f * L - 0.2439f * M + 1.2045f * S, 0.0f, 1.0f);
}
CQ_HD void rh_lab_to_rgb(const float lab[3], float rgb[3]) {
  rh_lab_to_rgb3(lab[0], lab[1], lab[2], rgb[0], rgb[1], rgb[2]);
}

// [0,1] -> byte, round half up (as the reference: floor(v*255+0.5)).
// (Truncation equals floor here: v >= 0.)
CQ_HD uint8_t unit_to_u8(float v) { return static_cast<uint8_t>(static_cast<int32_t>(v * 255.0f + 0.5f)); }

// Statistics matching as out = lab * scale + shift (scale = s_ref/s_in, shift = m_ref - m_in*scale, from doubles).
struct Affine {
  float scale[3];
  float shift[3];
};

CQ_HD void rh_transfer_pixel(const uint8_t* in, const Affine& A, float out[3]) {
  float lab[3];
  rh_rgb_to_lab(in[0], in[1], in[2], lab);
  for (int c = 0; c < 3; ++c) lab[c] = lab[c] * A.scale[c] + A.shift[c];
  rh_lab_to_rgb(lab, out);
}

// max(R,G,B) > threshold; threshold < 0 means "no mask" (every pixel counts).
CQ_HD bool in_mask(const uint8_t* p, int threshold) {
  if (threshold < 0) return true;
  int m = p[0] > p[1] ? p[0] : p[1];
  m = m > p[2] ? m : p[2];
  return m > threshold;
}

// ---- lab-cv: OpenCV's float RGB<->Lab formula (color_lab.cpp RGB2Lab_f / Lab2RGB_f constants) ----
// sRGB -> XYZ (D65) rows divided by the white point (0.950456, 1, 1.088754).
constexpr float kXn = 0.950456f, kZn = 1.088754f;
constexpr float kLabThresh = 0.008856f;
constexpr float kLabK = 7.787f;
constexpr float k16_116 = 16.0f / 116.0f;

CQ_HD float srgb_to_linear(float x) {  // x in [0,1]
  return x <= 0.04045f ? x / 12.92f : powf((x + 0.055f) / 1.055f, 2.4f);
}
CQ_HD float linear_to_srgb(float x) {
  return x <= 0.0031308f ? 12.92f * x : 1.055f * powf(x, 1.0f / 2.4f) - 0.055f;
}
CQ_HD float lab_f(float t) { return t > kLabThresh ? cbrtf(t) : kLabK * t + k16_116; }

// Linear RGB (from a 256-entry table of srgb_to_linear(i/255)) -> 8-bit Lab, rounded half up and saturated.
CQ_HD void cv_linear_to_lab8(float R, float G, float B, uint8_t out[3]) {
  const float X = (0.412453f * R + 0.357580f * G + 0.180423f * B) / kXn;
  const float Y = 0.212671f * R + 0.715160f * G + 0.072169f * B;
  const float Z = (0.019334f * R + 0.119193f * G + 0.950227f * B) / kZn;
  const float fx = lab_f(X), fy = lab_f(Y), fz = lab_f(Z);
  const float L = Y > kLabThresh ? 116.0f * fy - 16.0f : 903.3f * Y;
  const float a = 500.0f * (fx - fy), b = 200.0f * (fy - fz);
  out[0] = static_cast<uint8_t>(clampf(floorf(L * (255.0f / 100.0f) + 0.5f), 0.0f, 255.0f));
  out[1] = static_cast<uint8_t>(clampf(floorf(a + 128.0f + 0.5f), 0.0f, 255.0f));
  out[2] = static_cast<uint8_t>(clampf(floorf(b + 128.0f + 0.5f), 0.0f, 255.0f));
}

// 8-bit Lab -> sRGB bytes (r, g, b in the formula's sense), OpenCV's Lab2RGB_f then round half up.
CQ_HD void cv_lab8_to_rgb(uint8_t L8, uint8_t a8, uint8_t b8, uint8_t out[3]) {
  const float L = L8 * (100.0f / 255.0f), a = a8 - 128.0f, b = b8 - 128.0f;
  const float lThresh = 0.008856f * 903.3f;
  const float fThresh = kLabK * kLabThresh + k16_116;
  float y, fy;
  if (L <= lThresh) {
    y = L / 903.3f;
    fy = kLabK * y + k16_116;
  } else {
    fy = (L + 16.0f) / 116.0f;
    y = fy * fy * fy;
  }
  float fxz[2] = {a / 500.0f + fy, fy - b / 200.0f};
  for (int j = 0; j < 2; ++j)
    fxz[j] = fxz[j] <= fThresh ? (fxz[j] - k16_116) / kLabK : fxz[j] * fxz[j] * fxz[j];
  const float x = fxz[0] * kXn, z = fxz[1] * kZn;
  const float rgb[3] = {3.240479f * x - 1.53715f * y - 0.498535f * z,
                        -0.969256f * x + 1.875991f * y + 0.041556f * z,
                        0.055648f * x - 0.204043f * y + 1.057311f * z};
  for (int c = 0; c < 3; ++c) out[c] = unit_to_u8(linear_to_srgb(clampf(rgb[c], 0.0f, 1.0f)));
}

// Per-channel matching of 8-bit Lab exactly as numpy in float64: (v-m_in)/s_in*s_ref+m_ref, clip [0,255], truncate.
// Evaluated once per (channel, value) into a 256-entry table. s_in == 0 (constant channel) maps every value to the
// reference mean (truncated): the rule colorxfer.h documents, instead of numpy's 0/0 = NaN.
CQ_HD uint8_t cv_match_value(int v, double m_in, double s_in, double m_ref, double s_ref) {
  double o;
  if (s_in > 0.0) {
#if defined(__CUDA_ARCH__)
    // No contraction into FMA: the truncation must see numpy's rounding sequence.
    o = __dadd_rn(__dmul_rn(__ddiv_rn(__dadd_rn(static_cast<double>(v), -m_in), s_in), s_ref), m_ref);
#else
    o = (static_cast<double>(v) - m_in) / s_in * s_ref + m_ref;
#endif
  } else {
    o = m_ref;
  }
  if (o < 0.0) o = 0.0;
  if (o > 255.0) o = 255.0;
  return static_cast<uint8_t>(o);
}

}  // namespace cq::dcin::cxmath
