// Image resizing as OpenCV's cv2.resize does it, because the reference pipeline (albumentations) resizes with
// OpenCV and a model trained on one interpolation sees a small but real shift under another.
//
// resize_cubic = cv2.INTER_CUBIC on 8-bit images: half-pixel centres (src = (dst+0.5)*in/out - 0.5, computed in float
// as OpenCV does), Keys kernel a = -0.75 with 4 taps also when shrinking (no antialiasing), border pixels replicated,
// and OpenCV's fixed-point arithmetic (coefficients rounded to 1/2048, result rounded and saturated to 0..255). It
// matches OpenCV's scalar code bit for bit; OpenCV's SIMD vertical pass rounds in float and can differ by 1 on exact
// ties (see tests/data/resize_test.cpp for the measured agreement).
//
// resize_nearest = cv2.INTER_NEAREST: src = min(floor(dst * (1 / (out/in))), in-1), with OpenCV's double arithmetic
// (for masks: values are copied, never blended).
#pragma once
#include "data/image_io.h"

namespace cq::data {

Image resize_cubic(const Image& src, int out_h, int out_w);
// Bilinear as PIL's Image.resize(BILINEAR) does it (what timm's and torchvision's eval transforms run on PIL images,
// e.g. the Swin-V2 LRIS embedder's 384x384 input): a triangle filter whose support widens with the downscale factor
// (antialiased when shrinking, plain half-pixel bilinear when enlarging), separable, horizontal pass first with an
// 8-bit intermediate, weights normalised per output pixel. Float weights (PIL uses 22-bit fixed point), so results
// can differ from PIL by 1 on rounding ties. Border handling: taps outside the image are dropped, not replicated.
Image resize_bilinear(const Image& src, int out_h, int out_w);
Image resize_nearest(const Image& src, int out_h, int out_w);

// src placed at the top-left of an out_h x out_w image (>= src's size) filled with zeros: black for a picture,
// background for a mask, outside for a field of view. Bottom/right so the pixel grid stays aligned with the U-Net's
// strides (as SegmentationModel::predict_padded).
Image pad_bottom_right(const Image& src, int out_h, int out_w);

// The source index cv2.INTER_NEAREST reads for destination index d (exposed for tests).
int nearest_source_index(int d, int in_size, int out_size);

}  // namespace cq::data
