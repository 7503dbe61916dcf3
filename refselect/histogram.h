// Joint 8x8x8 colour histograms (512 bins) of u8 RGB images: the GRIS feature.
#pragma once
#include <cstdint>
#include <string>

#include "tensor/tensor.h"

namespace cq::dcin {

// Bin order. CvBgr is what cv2.calcHist([bgr], [0,1,2], ...) gives (the fixture's and the authors' order):
//   bin = (B>>5)*64 + (G>>5)*8 + (R>>5). Rgb: bin = (R>>5)*64 + (G>>5)*8 + (B>>5). Distances do not depend on it.
enum class HistOrder { CvBgr, Rgb };
// L2: h/||h||_2 (cv2.normalize default, the paper's GRIS); L1: counts / pixels (sum 1).
enum class HistNorm { L2, L1 };

struct HistOptions {
  HistOrder order = HistOrder::CvBgr;
  HistNorm norm = HistNorm::L2;
};

constexpr int kHistBins = 512;

// Raw counts of image (u8 HWC [H,W,3] RGB, contiguous, CPU or CUDA) into host counts[512] (overwritten).
// Deterministic (integer counts). On a GPU: privatised shared-memory bins (refselect/refselect_cuda.h).
void color_hist_counts(const Tensor& image, int64_t* counts, HistOrder order, int threads,
                       const std::string& what = "image");
// Normalised histogram written to out[512] (float). An image with no pixels is an error naming `what`.
void color_hist(const Tensor& image, float* out, const HistOptions& opts, int threads,
                const std::string& what = "image");
// Convenience: f32 [512] tensor on the CPU (whatever the image's device).
Tensor color_hist(const Tensor& image, const HistOptions& opts = {}, const std::string& what = "image");

}  // namespace cq::dcin
