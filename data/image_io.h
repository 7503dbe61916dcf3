// Image files <-> 8-bit images <-> tensors. Decoding is stb_image (PNG, JPEG, BMP, GIF first frame); writing is PNG
// via stb_image_write. Every failure is a cq::Error naming the file and the decoder's reason, never a crash.
//
// Images are always read as RGB (grey is replicated, alpha dropped). Masks are read as one channel of RAW values,
// because a mask value is a class index, not a brightness:
//  - palette PNG: the palette index of each pixel (decoded here, stb would expand it to colours);
//  - grey PNG of bit depth 1/2/4: the stored value (stb scales 1-bit 1 to 255; we undo that, so 0/1 stays 0/1);
//  - 16-bit grey PNG: the stored value, which must be < 256;
//  - any other format or colour type (GIF, BMP, RGB(A) PNG, JPEG): the grey value; a pixel whose R, G, B differ is
//    an error (a colour-coded mask would otherwise be silently mislabelled through a luminance formula).
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "tensor/tensor.h"

namespace cq {
class Context;
class Runtime;
}  // namespace cq

namespace cq::data {

// An 8-bit image, channels interleaved (HWC), rows top to bottom.
struct Image {
  int h = 0, w = 0, c = 0;
  std::vector<uint8_t> px;

  Image() = default;
  Image(int h_, int w_, int c_, uint8_t fill = 0)
      : h(h_), w(w_), c(c_), px(static_cast<size_t>(h_) * w_ * c_, fill) {}
  bool empty() const { return px.empty(); }
  size_t size() const { return px.size(); }
  uint8_t& at(int y, int x, int ch = 0) { return px[(static_cast<size_t>(y) * w + x) * c + ch]; }
  uint8_t at(int y, int x, int ch = 0) const { return px[(static_cast<size_t>(y) * w + x) * c + ch]; }
};

// Decoded-size limit: a header may declare any size (50000x50000 in a 100-byte file), and decoders allocate for the
// declared size before they find the data missing. Every decode first reads the header and refuses more than
// max_image_pixels() pixels with a cq::Error naming the file, so a hostile header costs nothing. Default 2^27 pixels
// (e.g. 11585x11585; about 0.5 GiB as RGBA, the largest buffer stb makes); the environment variable
// CQ_MAX_IMAGE_PIXELS (a positive integer) overrides it for a process.
constexpr int64_t kDefaultMaxImagePixels = int64_t(1) << 27;
int64_t max_image_pixels();
// Throws naming `path` when w x h exceeds max_image_pixels() (or either side is not positive).
void check_image_size(int64_t w, int64_t h, const std::string& path);

// Header facts read without decoding the pixels (stbi_info): colour channels as stored (1 grey, 2 grey+alpha,
// 3 RGB, 4 RGBA; palette PNG and GIF report 3 or 4).
struct ImageInfo {
  int h = 0, w = 0, channels = 0;
};
ImageInfo probe_image(const std::string& path);

// RGB, 3 channels.
Image read_image(const std::string& path);
// One channel of raw values (see above).
Image read_mask(const std::string& path);
// 1 (grey), 3 (RGB) or 4 (RGBA) channels; stb's conversions (luminance for colour -> grey).
Image read_image_channels(const std::string& path, int channels);
// PNG with img.c channels (1..4).
void write_png(const std::string& path, const Image& img);
// Encoded PNG bytes (for tests and for writing through other channels).
std::vector<uint8_t> encode_png(const Image& img);

// Whole file contents; a cq::Error naming the file when it cannot be read.
std::vector<uint8_t> read_file_bytes(const std::string& path);

// ImageNet normalisation of SPEC.md: x = (v/255 - mean[c]) / std[c].
constexpr float kImageNetMean[3] = {0.485f, 0.456f, 0.406f};
constexpr float kImageNetStd[3] = {0.229f, 0.224f, 0.225f};

// Writes the normalised CHW planes of a 3-channel image to dst (3*h*w floats).
void normalize_to_chw(const Image& img, float* dst);
// Writes a 1-channel image as i64 class indices (h*w values).
void mask_to_i64(const Image& mask, int64_t* dst);

// f32 [N,3,H,W] normalised; all images 3-channel and of one size. CPU tensors of runtime rt.
Tensor images_to_tensor(const std::shared_ptr<Runtime>& rt, const std::vector<Image>& images);
Tensor images_to_tensor(Context& ctx, const std::vector<Image>& images);
// i64 [N,H,W]; all masks 1-channel and of one size.
Tensor masks_to_tensor(const std::shared_ptr<Runtime>& rt, const std::vector<Image>& masks);
Tensor masks_to_tensor(Context& ctx, const std::vector<Image>& masks);
// u8 [N,H,W] (field-of-view masks, kept as stored).
Tensor planes_to_u8_tensor(const std::shared_ptr<Runtime>& rt, const std::vector<Image>& planes);

// Inverse of the normalisation: f32 [3,H,W] or [1,3,H,W] (any device) -> RGB image, rounded and clamped.
Image tensor_to_image(const Tensor& t);
// Integer or float [H,W] or [1,H,W] class map -> 1-channel image; values must lie in [0,255] (times scale, e.g.
// 255 to view a binary mask).
Image tensor_to_mask(const Tensor& t, int scale = 1);

}  // namespace cq::data
