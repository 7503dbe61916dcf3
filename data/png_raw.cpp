#include "data/png_raw.h"

#include <cstdlib>
#include <cstring>

#include "data/image_io.h"
#include "stb_image.h"
#include "tensor/error.h"

namespace cq::data {
namespace {

const uint8_t kSig[8] = {137, 80, 78, 71, 13, 10, 26, 10};

uint32_t be32(const uint8_t* p) {
  return (uint32_t(p[0]) << 24) | (uint32_t(p[1]) << 16) | (uint32_t(p[2]) << 8) | uint32_t(p[3]);
}

int paeth(int a, int b, int c) {
  int p = a + b - c, pa = std::abs(p - a), pb = std::abs(p - b), pc = std::abs(p - c);
  if (pa <= pb && pa <= pc) return a;
  return pb <= pc ? b : c;
}

// Undoes the per-row filters of one (sub-)image of w x h pixels starting at in[*pos]; appends the raw rows to rows.
void unfilter(const uint8_t* in, size_t in_len, size_t* pos, int w, int h, int bits_per_px,
              std::vector<uint8_t>* rows, const std::string& path) {
  const size_t row_bytes = (static_cast<size_t>(w) * bits_per_px + 7) / 8;
  const int bpp = bits_per_px >= 8 ? bits_per_px / 8 : 1;  // filter distance in bytes
  std::vector<uint8_t> prev(row_bytes, 0), cur(row_bytes);
  for (int y = 0; y < h; ++y) {
    CQ_CHECK(*pos + 1 + row_bytes <= in_len, path, ": PNG image data is truncated (row ", y, " of ", h, ")");
    const int f = in[(*pos)++];
    std::memcpy(cur.data(), in + *pos, row_bytes);
    *pos += row_bytes;
    for (size_t i = 0; i < row_bytes; ++i) {
      const int a = i >= size_t(bpp) ? cur[i - bpp] : 0, b = prev[i], c = i >= size_t(bpp) ? prev[i - bpp] : 0;
      switch (f) {
        case 0: break;
        case 1: cur[i] = uint8_t(cur[i] + a); break;
        case 2: cur[i] = uint8_t(cur[i] + b); break;
        case 3: cur[i] = uint8_t(cur[i] + ((a + b) >> 1)); break;
        case 4: cur[i] = uint8_t(cur[i] + paeth(a, b, c)); break;
        default: fail(path, ": corrupt PNG (row filter type ", f, ")");
      }
    }
    rows->insert(rows->end(), cur.begin(), cur.end());
    prev.swap(cur);
  }
}

uint16_t sample(const uint8_t* row, int x, int depth) {
  if (depth == 8) return row[x];
  if (depth == 16) return uint16_t((row[2 * x] << 8) | row[2 * x + 1]);
  const int per_byte = 8 / depth, shift = 8 - depth * (x % per_byte + 1);
  return uint16_t((row[x / per_byte] >> shift) & ((1 << depth) - 1));
}

}  // namespace

bool png_header(const std::vector<uint8_t>& b, PngHeader* out) {
  if (b.size() < 33 || std::memcmp(b.data(), kSig, 8) != 0) return false;
  if (be32(&b[8]) != 13 || std::memcmp(&b[12], "IHDR", 4) != 0) return false;
  out->w = int(be32(&b[16]) & 0x7fffffff);
  out->h = int(be32(&b[20]) & 0x7fffffff);
  out->depth = b[24];
  out->color_type = b[25];
  out->interlace = b[28];
  return true;
}

std::vector<uint16_t> decode_png_raw(const std::vector<uint8_t>& b, const std::string& path, PngHeader* hdr) {
  PngHeader H;
  CQ_CHECK(png_header(b, &H), path, ": not a PNG file (bad signature or IHDR)");
  CQ_CHECK(H.color_type == 0 || H.color_type == 3, path, ": decode_png_raw handles grey or palette PNGs, not colour type ",
           H.color_type);
  const bool depth_ok = H.color_type == 0 ? (H.depth == 1 || H.depth == 2 || H.depth == 4 || H.depth == 8 ||
                                             H.depth == 16)
                                          : (H.depth == 1 || H.depth == 2 || H.depth == 4 || H.depth == 8);
  CQ_CHECK(depth_ok, path, ": corrupt PNG (bit depth ", H.depth, " for colour type ", H.color_type, ")");
  CQ_CHECK(H.w > 0 && H.h > 0 && H.w <= (1 << 24) && H.h <= (1 << 24) && int64_t(H.w) * H.h <= (int64_t(1) << 31),
           path, ": PNG size ", H.w, "x", H.h, " is empty or too large");
  CQ_CHECK(H.interlace == 0 || H.interlace == 1, path, ": corrupt PNG (interlace method ", H.interlace, ")");
  check_image_size(H.w, H.h, path);  // before the output buffer below is sized from the header

  // Walk the chunks, gathering IDAT; a file that ends before IEND is truncated.
  std::vector<uint8_t> z;
  size_t pos = 8;
  bool saw_iend = false, saw_plte = false;
  while (pos + 8 <= b.size()) {
    const uint32_t len = be32(&b[pos]);
    const char* type = reinterpret_cast<const char*>(&b[pos + 4]);
    CQ_CHECK(len <= b.size() && pos + 12 + size_t(len) <= b.size(), path, ": PNG is truncated (chunk ",
             std::string(type, 4), " runs past the end of the file)");
    const uint8_t* data = &b[pos + 8];
    if (std::memcmp(type, "IDAT", 4) == 0) z.insert(z.end(), data, data + len);
    if (std::memcmp(type, "PLTE", 4) == 0) saw_plte = true;
    if (std::memcmp(type, "IEND", 4) == 0) {
      saw_iend = true;
      break;
    }
    pos += 12 + size_t(len);
  }
  CQ_CHECK(saw_iend, path, ": PNG is truncated (no IEND chunk)");
  CQ_CHECK(!z.empty(), path, ": corrupt PNG (no IDAT data)");
  CQ_CHECK(H.color_type != 3 || saw_plte, path, ": corrupt PNG (palette image without PLTE chunk)");

  // Adam7 passes (x0, y0, dx, dy); a non-interlaced image is one pass covering every pixel.
  static const int kAdam7[7][4] = {{0, 0, 8, 8}, {4, 0, 8, 8}, {0, 4, 4, 8}, {2, 0, 4, 4},
                                   {0, 2, 2, 4}, {1, 0, 2, 2}, {0, 1, 1, 2}};
  static const int kWhole[1][4] = {{0, 0, 1, 1}};
  const int npass = H.interlace ? 7 : 1;
  // Inflate into a buffer of exactly the size the header implies (+1 byte, so that extra data is noticed): a
  // zlib stream that expands further (a "zip bomb") cannot make us allocate more than the image needs.
  size_t expected = 0;
  for (int p = 0; p < npass; ++p) {
    const int* P = H.interlace ? kAdam7[p] : kWhole[0];
    const int pw = (H.w - P[0] + P[2] - 1) / P[2], ph = (H.h - P[1] + P[3] - 1) / P[3];
    if (pw > 0 && ph > 0) expected += size_t(ph) * (1 + (size_t(pw) * H.depth + 7) / 8);
  }
  CQ_CHECK(z.size() < size_t(1) << 31 && expected < size_t(1) << 31, path, ": PNG is too large to decode");
  std::vector<uint8_t> inflated(expected + 1);
  const int out_len = stbi_zlib_decode_buffer(reinterpret_cast<char*>(inflated.data()), int(inflated.size()),
                                              reinterpret_cast<const char*>(z.data()), int(z.size()));
  // -1: a corrupt stream, or more data than the header's size holds (no encoder writes that; stop rather than guess).
  CQ_CHECK(out_len >= 0, path, ": corrupt PNG image data (zlib: ", stbi_failure_reason(),
           "; the header declares ", H.w, "x", H.h, ")");
  inflated.resize(size_t(out_len));

  std::vector<uint16_t> out(size_t(H.w) * H.h);
  size_t ipos = 0;
  for (int p = 0; p < npass; ++p) {
    const int* P = H.interlace ? kAdam7[p] : kWhole[0];
    const int pw = (H.w - P[0] + P[2] - 1) / P[2], ph = (H.h - P[1] + P[3] - 1) / P[3];
    if (pw <= 0 || ph <= 0) continue;  // empty passes carry no bytes at all
    std::vector<uint8_t> rows;
    unfilter(inflated.data(), inflated.size(), &ipos, pw, ph, H.depth, &rows, path);
    const size_t row_bytes = (size_t(pw) * H.depth + 7) / 8;
    for (int y = 0; y < ph; ++y)
      for (int x = 0; x < pw; ++x)
        out[size_t(P[1] + y * P[3]) * H.w + P[0] + x * P[2]] = sample(&rows[y * row_bytes], x, H.depth);
  }
  if (hdr) *hdr = H;
  return out;
}

void check_png_inflate_bound(const std::vector<uint8_t>& b, const std::string& path) {
  PngHeader H;
  if (!png_header(b, &H)) return;
  static const int kChannels[7] = {1, 0, 3, 1, 2, 0, 4};  // by colour type (0 grey, 2 RGB, 3 palette, 4 GA, 6 RGBA)
  if (H.color_type < 0 || H.color_type > 6 || kChannels[H.color_type] == 0 || H.w <= 0 || H.h <= 0 ||
      (H.depth != 1 && H.depth != 2 && H.depth != 4 && H.depth != 8 && H.depth != 16))
    return;  // stb refuses these itself
  check_image_size(H.w, H.h, path);  // the buffer below is sized from the header (stbi_info may have failed on it)
  std::vector<uint8_t> z;
  for (size_t pos = 8; pos + 8 <= b.size();) {
    const uint32_t len = be32(&b[pos]);
    if (len > b.size() || pos + 12 + size_t(len) > b.size()) break;  // truncated: stb reports it
    if (std::memcmp(&b[pos + 4], "IDAT", 4) == 0) z.insert(z.end(), &b[pos + 8], &b[pos + 8] + len);
    if (std::memcmp(&b[pos + 4], "IEND", 4) == 0) break;
    pos += 12 + size_t(len);
  }
  if (z.empty()) return;
  const int bits = kChannels[H.color_type] * H.depth;
  static const int kAdam7[7][4] = {{0, 0, 8, 8}, {4, 0, 8, 8}, {0, 4, 4, 8}, {2, 0, 4, 4},
                                   {0, 2, 2, 4}, {1, 0, 2, 2}, {0, 1, 1, 2}};
  static const int kWhole[1][4] = {{0, 0, 1, 1}};
  size_t expected = 0;
  for (int p = 0; p < (H.interlace ? 7 : 1); ++p) {
    const int* P = H.interlace ? kAdam7[p] : kWhole[0];
    const int64_t pw = (int64_t(H.w) - P[0] + P[2] - 1) / P[2], ph = (int64_t(H.h) - P[1] + P[3] - 1) / P[3];
    if (pw > 0 && ph > 0) expected += size_t(ph) * (1 + (size_t(pw) * bits + 7) / 8);
  }
  CQ_CHECK(z.size() < size_t(1) << 31 && expected < size_t(1) << 31, path, ": PNG is too large to decode");
  std::vector<uint8_t> inflated(expected + 1);
  const int out_len = stbi_zlib_decode_buffer(reinterpret_cast<char*>(inflated.data()), int(inflated.size()),
                                              reinterpret_cast<const char*>(z.data()), int(z.size()));
  // stb reports a stream that outgrows the buffer as "output buffer limit": the data holds more than the header's size.
  const bool too_much = out_len < 0 ? std::strcmp(stbi_failure_reason(), "output buffer limit") == 0
                                    : size_t(out_len) > expected;
  CQ_CHECK(!too_much, path, ": PNG image data expands to more data than the header's size (", H.w, "x", H.h,
           ", ", expected, " bytes of rows)");
  CQ_CHECK(out_len >= 0, path, ": corrupt PNG image data (zlib: ", stbi_failure_reason(), "; the header declares ", H.w,
           "x", H.h, ")");
}

}  // namespace cq::data
