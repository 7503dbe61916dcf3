// Training augmentations of the spec ("Augmentations"), following albumentations (which the authors used):
// geometric ones move image and mask together (image bicubic, mask nearest, constant-0 border), photometric ones
// change the 8-bit image only. Each is split into a draw step (all randomness, from cq::Rng) and an apply step, so
// CQG can apply one geometric draw to both views and only the second view gets photometric changes.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "data/augment_image.h"
#include "tensor/rng.h"

namespace cq::data {

// ---- geometric ----

// Probabilities and ranges; the defaults are the spec's constants. Tests set a probability to 0 or 1.
struct GeomConfig {
  double p_flip = 0.5;
  double p_shear = 0.5, shear_deg = 20.0;  // shear x and y each U(-20, 20) degrees
  double p_ssr = 0.5, shift_frac = 0.0625, scale_lo = 0.5, scale_hi = 1.5, rotate_deg = 20.0;
  double p_elastic = 0.5, elastic_alpha = 35.0, elastic_sigma = 5.0;
};

// One draw of the geometric chain: horizontal flip, then shear, then shift-scale-rotate, then elastic (in that
// order, as listed in the spec). Only the stages that fired are applied.
struct GeomParams {
  int h = 0, w = 0;  // the image size the draw is for (the elastic field and the centre depend on it)
  bool flip = false;
  bool shear = false;
  double shear_x_deg = 0, shear_y_deg = 0;
  bool ssr = false;
  double shift_x = 0, shift_y = 0;  // fractions of w and h
  double scale_x = 1, scale_y = 1, rotate_deg = 0;
  bool elastic = false;
  std::vector<float> dx, dy;  // h*w displacements in pixels (already smoothed and times alpha), used when elastic

  bool identity() const { return !flip && !shear && !ssr && !elastic; }
};

GeomParams draw_geometric(Rng& rng, int h, int w, const GeomConfig& cfg = {});

// For each output pixel the source coordinate to sample (NaN where some stage looked outside its input frame,
// which then reads the constant-0 border). All affine stages compose into one map so the image is resampled once.
struct SampleMap {
  int h = 0, w = 0;
  std::vector<float> x, y;  // h*w each
};
SampleMap build_sample_map(const GeomParams& p);

// Forward 2x3 matrices (input pixel -> output pixel, row-major a b c / d e f) of the affine stages about the image
// centre, in albumentations 1.3's Affine convention (skimage AffineTransform); exposed for tests.
std::vector<double> shear_forward_matrix(const GeomParams& p);
std::vector<double> ssr_forward_matrix(const GeomParams& p);

// Applies a draw to an image (bicubic) and, when mask is non-null and non-empty, to its mask (nearest) in place of
// the inputs' copies. The image and mask must have the draw's size.
void apply_geometric(U8Image& img, U8Image* mask, const GeomParams& p);
U8Image remap_bicubic(const U8Image& src, const SampleMap& m);
U8Image remap_nearest(const U8Image& src, const SampleMap& m);

// The elastic displacement field: U(-1, 1) per pixel and axis (all dx, then all dy), Gaussian-smoothed with
// scipy.ndimage.gaussian_filter semantics (radius int(4 sigma + 0.5), mode 'reflect'), times alpha.
void draw_elastic_field(Rng& rng, int h, int w, double alpha, double sigma, std::vector<float>& dx,
                        std::vector<float>& dy);
// 2-D separable Gaussian smoothing of an h x w float field in place (the smoothing step above).
void gaussian_smooth(std::vector<float>& f, int h, int w, double sigma);

// ---- photometric ----

struct PhotoConfig {
  double p_blur = 0.5;  // box blur, kernel uniformly one of {3, 5, 7, 9, 11}
  int blur_min = 3, blur_max = 11;
  double p_sharpen = 0.5, sharpen_alpha_lo = 0.3, sharpen_alpha_hi = 0.9, lightness_lo = 0.5, lightness_hi = 1.0;
  double p_noise = 0.5, noise_var_lo = 30.0, noise_var_hi = 90.0;  // sigma = sqrt(var), 0-255 units, per channel
  double p_bc = 0.5, brightness = 0.2, contrast = 0.2;
  double p_rgb = 0.5, rgb_shift = 20.0;
};

// One draw, applied in this order: blur, sharpen, noise, brightness/contrast, RGB shift. The noise values
// themselves are drawn at apply time (from the Rng given there).
struct PhotoParams {
  bool blur = false;
  int blur_k = 3;
  bool sharpen = false;
  double sharpen_alpha = 0, lightness = 1;
  bool noise = false;
  double noise_sigma = 0;
  bool bc = false;
  double contrast = 0, brightness = 0;  // out = img * (1 + contrast) + brightness * 255
  bool rgb = false;
  double shift[3] = {0, 0, 0};

  bool identity() const { return !blur && !sharpen && !noise && !bc && !rgb; }
};

PhotoParams draw_photometric(Rng& rng, const PhotoConfig& cfg = {});
// Needs c == 3 (RGB).
void apply_photometric(U8Image& img, const PhotoParams& p, Rng& noise_rng);

// The single ops (also used by apply_photometric), each mirroring its albumentations/OpenCV uint8 function.
void box_blur(U8Image& img, int k);                                // cv2.blur, BORDER_REFLECT_101, rounded
void sharpen(U8Image& img, double alpha, double lightness);        // albumentations Sharpen kernel, cv2.filter2D
void gauss_noise(U8Image& img, double sigma, Rng& rng);            // + N(0, sigma) per value, clip, truncate
void brightness_contrast(U8Image& img, double contrast, double brightness);  // LUT, clip, truncate
void rgb_shift(U8Image& img, const double shift[3]);               // LUT per channel, clip, truncate
// The 3x3 Sharpen kernel: (1 - alpha) * identity + alpha * [[-1,-1,-1],[-1,8+lightness,-1],[-1,-1,-1]].
void sharpen_kernel(double alpha, double lightness, float k[9]);

// ---- views for the training modes ----

enum class AugMode { base, aug, cqg };
AugMode aug_mode_from_string(const std::string& s);  // "base" | "aug" | "cqg"
const char* aug_mode_name(AugMode m);

struct AugConfig {
  GeomConfig geom;
  PhotoConfig photo;
};

// base: x1 = the input, x2 empty. aug: x1 = geometric + photometric, x2 empty. cqg: x1 = geometric,
// x2 = the same geometric draw + photometric. mask is the (geometrically transformed) mask shared by the views;
// pass an empty mask to transform images only.
struct Views {
  U8Image x1, x2, mask;
};
Views make_views(const U8Image& img, const U8Image& mask, AugMode mode, Rng& rng, const AugConfig& cfg = {});

}  // namespace cq::data
