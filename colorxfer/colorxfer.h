// Colour transfer toward a reference image (DCIN's normalisation step): match each channel's mean and population
// standard deviation in a decorrelated colour space to those of a reference.
//
// Images are u8 HWC [H,W,3] RGB tensors (CPU; the transform also runs on CUDA tensors in CUDA builds).
// Two passes, each fused over pixels: color_stats() (colour conversion + double accumulation, deterministic for any
// thread count) and color_transfer() (conversion + matching + inverse + clip + quantise in one go). For lab-cv the
// statistics pass writes the 8-bit Lab image and reduces it in numpy's order (sequential float64 sum of squared
// deviations), which makes the matching stage bit-exact with the authors' numpy code, even for the reference
// transferred to itself.
//
// Colour spaces (SPEC "DCIN"):
//   lab-reinhard  the paper's l-alpha-beta (see colorxfer_math.h). Matches the fixture at its tolerances (abs 1e-5).
//   lab-cv        the authors' code: OpenCV 8-bit CIELAB of the RGB array read as BGR, float64 matching, clip to
//                 [0,255] and truncate, back to RGB. We implement OpenCV's FLOAT formula, not a bit-exact port of its
//                 fixed-point 8U tables, and meet the manifest's stage-by-stage tolerances instead: RGB->Lab8 within
//                 +-2, matching exact given the Lab8, Lab8->RGB within +-1. End to end this differs from cv2 by up to
//                 ~16 levels on some pixels (the manifest measures the same for any float formula).
//
// Statistics mask: with mask_threshold >= 0 only pixels with max(R,G,B) > mask_threshold count toward the
// statistics (of both images), and output pixels outside the input's mask are the input unchanged.
//
// Degenerate inputs (defined results, never NaN):
//   * a channel whose std is below the floor (1e-6 for lab-reinhard; exactly 0 for lab-cv, whose values are
//     integers) is "constant": every output value of that channel becomes the reference's mean (scale 0);
//     so an all-black unmasked image becomes the reference's mean colour.
//   * an input with no pixel inside the mask (e.g. all black with a threshold) is returned unchanged.
//   * a reference with no pixel inside the mask is an error (nothing to match toward).
#pragma once
#include <cstdint>
#include <string>

#include "tensor/tensor.h"

namespace cq::dcin {

enum class ColorSpace { LabReinhard, LabCv };

// "lab-reinhard" or "lab-cv"; anything else throws naming the accepted values.
ColorSpace parse_color_space(const std::string& s);
const char* color_space_name(ColorSpace cs);

struct ColorStats {
  ColorSpace space = ColorSpace::LabReinhard;
  int mask_threshold = -1;  // the mask these statistics were computed under (-1: none)
  int64_t count = 0;        // pixels that counted
  double mean[3] = {0, 0, 0};
  double std[3] = {0, 0, 0};  // population std, before any floor
};

struct TransferOptions {
  ColorSpace space = ColorSpace::LabReinhard;
  int mask_threshold = -1;  // < 0: statistics over all pixels; the paper's fundus setting is 10
};

// The floor below which a lab-reinhard channel counts as constant (the fixture's std floor).
constexpr double kReinhardStdFloor = 1e-6;

// Statistics of image (u8 HWC [H,W,3] RGB, CPU or CUDA) in opts.space under opts.mask_threshold. `what` names the
// image in error messages (a file name, "reference", ...).
ColorStats color_stats(const Tensor& image, const TransferOptions& opts, const std::string& what = "image");

// Transfer image toward the reference statistics; returns a new u8 HWC tensor on image's device. ref must have
// been computed with the same space and mask threshold (checked).
Tensor color_transfer(const Tensor& image, const ColorStats& ref, const std::string& what = "image");
// Convenience: statistics of reference, then the transfer.
Tensor color_transfer(const Tensor& image, const Tensor& reference, const TransferOptions& opts);

// lab-reinhard only: the float result, f32 HWC RGB in [0,1] (outside the mask: input/255). CPU or CUDA.
Tensor color_transfer_reinhard_f32(const Tensor& image, const ColorStats& ref, const std::string& what = "image");

// ---- stages of lab-cv, exposed for the stage-by-stage parity tests and tools ----
// cv2.cvtColor(image, COLOR_BGR2LAB) by the float formula (u8 HWC -> u8 HWC (L,a,b)); CPU.
Tensor cv_rgb_to_lab8(const Tensor& image);
// cv2.cvtColor(lab, COLOR_LAB2BGR) by the float formula, output in the same channel order as the original image.
Tensor cv_lab8_to_rgb(const Tensor& lab);
// Statistics of an 8-bit Lab image (all pixels), as numpy's mean/std in float64.
ColorStats cv_lab8_stats(const Tensor& lab);
// Matching of an 8-bit Lab image toward target statistics (float64 formula, clip, truncate); CPU.
Tensor cv_match_lab8(const Tensor& lab, const ColorStats& in, const ColorStats& ref);

namespace detail {
// Validates an image tensor (u8, [H,W,3], contiguous) and names `what` and the problem otherwise.
void check_image(const Tensor& image, const std::string& what);
}  // namespace detail

}  // namespace cq::dcin
