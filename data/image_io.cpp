// The one translation unit that holds stb_image / stb_image_write's implementations (others include the headers
// for declarations only).
#define STB_IMAGE_IMPLEMENTATION
#define STB_IMAGE_WRITE_IMPLEMENTATION
// stb_image's own decoders for formats we never accept would only widen the attack surface of a bad file.
#define STBI_NO_PSD
#define STBI_NO_HDR
#define STBI_NO_PIC
#define STBI_NO_PNM
#define STBI_NO_TGA
#include "data/image_io.h"

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "data/png_raw.h"
// stb is third-party code compiled under our -Wall -Wextra: silence it there only.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"
#pragma GCC diagnostic ignored "-Wunused-function"
#pragma GCC diagnostic ignored "-Wsign-compare"
#pragma GCC diagnostic ignored "-Wunused-but-set-variable"
#include "stb_image.h"
#include "stb_image_write.h"
#pragma GCC diagnostic pop
#include "tensor/context.h"

namespace cq::data {
namespace {

// Offset just past a JPEG's start-of-image marker, or 0 when b is not a JPEG. stb_image accepts any number of 0xFF
// fill bytes before the D8 (found by libFuzzer: such a file bypassed the table check below), so this does too.
size_t jpeg_soi_end(const std::vector<uint8_t>& b) {
  if (b.size() < 3 || b[0] != 0xFF) return 0;
  size_t i = 1;
  while (i < b.size() && b[i] == 0xFF) ++i;
  return i + 1 < b.size() && b[i] == 0xD8 ? i + 1 : 0;
}
bool is_jpeg(const std::vector<uint8_t>& b) { return jpeg_soi_end(b) != 0; }
bool is_bmp(const std::vector<uint8_t>& b) { return b.size() >= 14 && b[0] == 'B' && b[1] == 'M'; }

// stb_image 2.27 (Debian's) trusts a JPEG Huffman table's 16 code counts: counts summing past 256 make
// stbi__build_huffman and the DHT reader write past the table's 257/256-entry arrays, inside the decoder's heap
// object (UBSan bounds report; ASan cannot see an overflow that stays inside one allocation). Found by fuzzing
// (fuzz/, target image). So the marker segments are walked here first and such a table is refused.
void check_jpeg_tables(const std::vector<uint8_t>& b, const std::string& path) {
  size_t i = jpeg_soi_end(b);
  while (i + 4 <= b.size()) {
    if (b[i] != 0xFF) {  // entropy-coded data: skip to the next marker (FF 00 is a stuffed byte, FF D0-D7 restarts)
      ++i;
      continue;
    }
    const uint8_t m = b[i + 1];
    if (m == 0x00 || m == 0xFF || (m >= 0xD0 && m <= 0xD7) || m == 0x01) {
      i += m == 0xFF ? 1 : 2;
      continue;
    }
    if (m == 0xD9) return;  // end of image
    const size_t len = size_t(b[i + 2]) << 8 | b[i + 3];
    CQ_CHECK(len >= 2, path, ": corrupt JPEG (marker segment of length ", len, ")");
    const size_t end = std::min(b.size(), i + 2 + len);
    if (m == 0xC4) {
      for (size_t p = i + 4; p < end;) {  // one or more tables: class/id byte, 16 counts, the symbols
        CQ_CHECK(p + 17 <= end, path, ": corrupt JPEG (truncated Huffman table)");
        size_t n = 0;
        for (int k = 1; k <= 16; ++k) n += b[p + size_t(k)];
        CQ_CHECK(n <= 256, path, ": corrupt JPEG (Huffman table declares ", n, " codes, at most 256)");
        p += 17 + n;
      }
    }
    i += 2 + len;
  }
}

// stb decodes a BMP missing its last rows without complaint (the rest is zeros): a silently corrupt training image.
// A JPEG cut short usually fails in stb ("expected marker"), but stb pads missing entropy data in some cases, so an
// explicit end-of-image check makes it certain. These checks run before decoding.
void check_complete(const std::vector<uint8_t>& b, const std::string& path) {
  if (is_jpeg(b)) {
    // Entropy-coded data stuffs 0xFF as FF 00, so FF DA / FF D9 byte pairs are real markers: the image is complete
    // when an end-of-image marker follows its last start-of-scan.
    size_t last_sos = 0, last_eoi = 0;
    for (size_t i = jpeg_soi_end(b); i + 1 < b.size(); ++i) {
      if (b[i] != 0xFF) continue;
      if (b[i + 1] == 0xDA) last_sos = i;
      if (b[i + 1] == 0xD9) last_eoi = i;
    }
    CQ_CHECK(last_sos != 0, path, ": corrupt JPEG (no start-of-scan marker)");
    CQ_CHECK(last_eoi > last_sos, path, ": JPEG is truncated (no end-of-image marker after the last scan)");
    check_jpeg_tables(b, path);
  } else if (is_bmp(b)) {
    const uint32_t declared = uint32_t(b[2]) | uint32_t(b[3]) << 8 | uint32_t(b[4]) << 16 | uint32_t(b[5]) << 24;
    CQ_CHECK(declared == 0 || declared <= b.size(), path, ": BMP is truncated (header says ", declared,
             " bytes, file has ", b.size(), ")");
  }
}

uint8_t* stb_decode(const std::vector<uint8_t>& b, const std::string& path, int req, int* w, int* h, int* n) {
  CQ_CHECK(!b.empty(), path, ": file is empty");
  check_complete(b, path);
  // The declared size, checked before stb allocates for it (a header that stb cannot read fails in the decode).
  int iw = 0, ih = 0, ic = 0;
  if (stbi_info_from_memory(b.data(), int(b.size()), &iw, &ih, &ic)) check_image_size(iw, ih, path);
  check_png_inflate_bound(b, path);  // after the size check: the bounded buffer is as large as the header says
  uint8_t* p = stbi_load_from_memory(b.data(), int(b.size()), w, h, n, req);
  CQ_CHECK(p != nullptr, path, ": cannot decode image (stb_image: ", stbi_failure_reason(), ")");
  return p;
}

Image take(uint8_t* p, int w, int h, int c) {
  Image img(h, w, c);
  std::memcpy(img.px.data(), p, img.px.size());
  stbi_image_free(p);
  return img;
}

Image raw_png_mask(const std::vector<uint8_t>& b, const std::string& path) {
  PngHeader H;
  std::vector<uint16_t> v = decode_png_raw(b, path, &H);
  Image m(H.h, H.w, 1);
  for (size_t i = 0; i < v.size(); ++i) {
    if (v[i] > 255) {
      const size_t y = i / H.w, x = i % H.w;
      fail(path, ": mask value ", v[i], " at pixel (x=", x, ", y=", y, ") does not fit 8 bits (16-bit mask)");
    }
    m.px[i] = uint8_t(v[i]);
  }
  return m;
}

Tensor u8_planes(const std::shared_ptr<Runtime>& rt, const std::vector<Image>& v, DType dt, const char* what) {
  CQ_CHECK(!v.empty(), what, ": no images given");
  const int h = v[0].h, w = v[0].w;
  for (const Image& m : v)
    CQ_CHECK(m.c == 1 && m.h == h && m.w == w, what, ": every plane must be 1-channel ", h, "x", w, ", got ", m.c,
             "-channel ", m.h, "x", m.w);
  Tensor t = Tensor::empty(rt, {int64_t(v.size()), h, w}, dt, Device::cpu());
  const size_t n = size_t(h) * w;
  for (size_t i = 0; i < v.size(); ++i) {
    if (dt == DType::i64)
      mask_to_i64(v[i], t.data<int64_t>() + i * n);
    else
      std::memcpy(t.data<uint8_t>() + i * n, v[i].px.data(), n);
  }
  return t;
}

}  // namespace

int64_t max_image_pixels() {
  // Read per call (cheap next to a decode) so a process-wide override needs no global state in the library.
  if (const char* e = std::getenv("CQ_MAX_IMAGE_PIXELS")) {
    char* end = nullptr;
    const long long v = std::strtoll(e, &end, 10);
    CQ_CHECK(*e != '\0' && *end == '\0' && v > 0, "CQ_MAX_IMAGE_PIXELS must be a positive integer, got '", e, "'");
    return int64_t(v);
  }
  return kDefaultMaxImagePixels;
}

void check_image_size(int64_t w, int64_t h, const std::string& path) {
  CQ_CHECK(w > 0 && h > 0, path, ": image header declares an empty size ", w, "x", h);
  const int64_t limit = max_image_pixels();
  CQ_CHECK(w <= limit / h, path, ": image header declares ", w, "x", h, " = ", w * h, " pixels, above the limit of ",
           limit, " (set CQ_MAX_IMAGE_PIXELS to raise it)");
}

std::vector<uint8_t> read_file_bytes(const std::string& path) {
  FILE* f = std::fopen(path.c_str(), "rb");
  CQ_CHECK(f != nullptr, path, ": cannot open (", std::strerror(errno), ")");
  std::vector<uint8_t> out;
  uint8_t buf[1 << 16];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, f)) > 0) out.insert(out.end(), buf, buf + n);
  const bool err = std::ferror(f) != 0;
  std::fclose(f);
  CQ_CHECK(!err, path, ": read error");
  return out;
}

ImageInfo probe_image(const std::string& path) {
  std::vector<uint8_t> b = read_file_bytes(path);
  CQ_CHECK(!b.empty(), path, ": file is empty");
  if (is_jpeg(b)) check_jpeg_tables(b, path);  // stbi_info parses the tables too
  ImageInfo info;
  CQ_CHECK(stbi_info_from_memory(b.data(), int(b.size()), &info.w, &info.h, &info.channels), path,
           ": not a readable image (stb_image: ", stbi_failure_reason(), ")");
  return info;
}

Image read_image_channels(const std::string& path, int channels) {
  CQ_CHECK(channels == 1 || channels == 3 || channels == 4, "read_image: channels must be 1, 3 or 4, got ", channels);
  std::vector<uint8_t> b = read_file_bytes(path);
  int w, h, n;
  uint8_t* p = stb_decode(b, path, channels, &w, &h, &n);
  return take(p, w, h, channels);
}

Image read_image(const std::string& path) { return read_image_channels(path, 3); }

Image read_mask(const std::string& path) {
  std::vector<uint8_t> b = read_file_bytes(path);
  PngHeader H;
  if (png_header(b, &H) && (H.color_type == 0 || H.color_type == 3)) return raw_png_mask(b, path);
  int w, h, n;
  uint8_t* p = stb_decode(b, path, 0, &w, &h, &n);
  Image src = take(p, w, h, n);
  if (n == 1) return src;
  Image m(h, w, 1);
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x) {
      const uint8_t g = src.at(y, x, 0);
      if (n >= 3 && (src.at(y, x, 1) != g || src.at(y, x, 2) != g))
        fail(path, ": colour mask is not supported: pixel (x=", x, ", y=", y, ") is (", int(g), ",",
             int(src.at(y, x, 1)), ",", int(src.at(y, x, 2)), "); masks must be grey or palette PNG class indices");
      m.at(y, x) = g;  // grey (+alpha) or grey-valued colour: the grey value, alpha ignored
    }
  return m;
}

std::vector<uint8_t> encode_png(const Image& img) {
  CQ_CHECK(img.c >= 1 && img.c <= 4 && img.h > 0 && img.w > 0 && img.px.size() == size_t(img.h) * img.w * img.c,
           "encode_png: bad image ", img.h, "x", img.w, "x", img.c, " with ", img.px.size(), " bytes");
  std::vector<uint8_t> out;
  auto sink = [](void* ctx, void* data, int size) {
    auto* o = static_cast<std::vector<uint8_t>*>(ctx);
    o->insert(o->end(), static_cast<uint8_t*>(data), static_cast<uint8_t*>(data) + size);
  };
  const int ok = stbi_write_png_to_func(sink, &out, img.w, img.h, img.c, img.px.data(), img.w * img.c);
  CQ_CHECK(ok != 0, "encode_png: stb_image_write failed for a ", img.h, "x", img.w, "x", img.c, " image");
  return out;
}

void write_png(const std::string& path, const Image& img) {
  std::vector<uint8_t> bytes = encode_png(img);
  // Written to path.tmp and renamed: a full disk or a crash never leaves a half PNG under the final name.
  const std::string tmp = path + ".tmp";
  FILE* f = std::fopen(tmp.c_str(), "wb");
  CQ_CHECK(f != nullptr, path, ": cannot open for writing (", std::strerror(errno), ")");
  const size_t n = std::fwrite(bytes.data(), 1, bytes.size(), f);
  const bool flushed = std::fflush(f) == 0;
  const int err = errno;
  const bool closed = std::fclose(f) == 0;
  if (n != bytes.size() || !flushed || !closed) {
    std::remove(tmp.c_str());
    fail(path, ": write failed (", std::strerror(err ? err : errno), "; disk full?)");
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    const int e = errno;
    std::remove(tmp.c_str());
    fail(path, ": cannot rename ", tmp, " over it (", std::strerror(e), ")");
  }
}

void normalize_to_chw(const Image& img, float* dst) {
  CQ_CHECK(img.c == 3, "normalize_to_chw: expected a 3-channel image, got ", img.c, " channels");
  const size_t n = size_t(img.h) * img.w;
  for (int c = 0; c < 3; ++c) {
    // (v/255 - mean)/std as one multiply-add per pixel through a 256-entry table: same float value every time.
    float lut[256];
    for (int v = 0; v < 256; ++v) lut[v] = (float(v) / 255.0f - kImageNetMean[c]) / kImageNetStd[c];
    float* d = dst + c * n;
    const uint8_t* s = img.px.data() + c;
    for (size_t i = 0; i < n; ++i) d[i] = lut[s[3 * i]];
  }
}

void mask_to_i64(const Image& mask, int64_t* dst) {
  CQ_CHECK(mask.c == 1, "mask_to_i64: expected a 1-channel mask, got ", mask.c, " channels");
  for (size_t i = 0; i < mask.px.size(); ++i) dst[i] = mask.px[i];
}

Tensor images_to_tensor(const std::shared_ptr<Runtime>& rt, const std::vector<Image>& images) {
  CQ_CHECK(!images.empty(), "images_to_tensor: no images given");
  const int h = images[0].h, w = images[0].w;
  for (const Image& im : images)
    CQ_CHECK(im.c == 3 && im.h == h && im.w == w, "images_to_tensor: every image must be RGB ", h, "x", w, ", got ",
             im.c, "-channel ", im.h, "x", im.w);
  Tensor t = Tensor::empty(rt, {int64_t(images.size()), 3, h, w}, DType::f32, Device::cpu());
  for (size_t i = 0; i < images.size(); ++i) normalize_to_chw(images[i], t.data<float>() + i * 3 * size_t(h) * w);
  return t;
}
Tensor images_to_tensor(Context& ctx, const std::vector<Image>& images) {
  return images_to_tensor(ctx.runtime_ptr(), images);
}
Tensor masks_to_tensor(const std::shared_ptr<Runtime>& rt, const std::vector<Image>& masks) {
  return u8_planes(rt, masks, DType::i64, "masks_to_tensor");
}
Tensor masks_to_tensor(Context& ctx, const std::vector<Image>& masks) {
  return masks_to_tensor(ctx.runtime_ptr(), masks);
}
Tensor planes_to_u8_tensor(const std::shared_ptr<Runtime>& rt, const std::vector<Image>& planes) {
  return u8_planes(rt, planes, DType::u8, "planes_to_u8_tensor");
}

Image tensor_to_image(const Tensor& t) {
  CQ_CHECK((t.dim() == 3 && t.size(0) == 3) || (t.dim() == 4 && t.size(0) == 1 && t.size(1) == 3),
           "tensor_to_image: expected f32 [3,H,W] or [1,3,H,W], got ", t.describe());
  const int h = int(t.size(-2)), w = int(t.size(-1));
  std::vector<float> v = t.to_vector<float>();
  Image img(h, w, 3);
  const size_t n = size_t(h) * w;
  for (int c = 0; c < 3; ++c)
    for (size_t i = 0; i < n; ++i) {
      const double x = (double(v[c * n + i]) * kImageNetStd[c] + kImageNetMean[c]) * 255.0;
      img.px[3 * i + c] = uint8_t(std::lround(std::fmin(255.0, std::fmax(0.0, x))));
    }
  return img;
}

Image tensor_to_mask(const Tensor& t, int scale) {
  CQ_CHECK(t.dim() == 2 || (t.dim() == 3 && t.size(0) == 1), "tensor_to_mask: expected [H,W] or [1,H,W], got ",
           t.describe());
  const int h = int(t.size(-2)), w = int(t.size(-1));
  std::vector<double> v = t.to_vector<double>();
  Image m(h, w, 1);
  for (size_t i = 0; i < v.size(); ++i) {
    const double x = v[i] * scale;
    CQ_CHECK(x >= 0 && x <= 255, "tensor_to_mask: value ", v[i], " x scale ", scale, " at index ", i,
             " is outside [0,255]");
    m.px[i] = uint8_t(std::lround(x));
  }
  return m;
}

}  // namespace cq::data
