// Helpers for the data tests: a temporary folder, raw file writing, and hand-made PNG / GIF encoders for the formats
// stb_image_write cannot produce (palette PNG, 1/2/4/16-bit grey, Adam7 interlace, GIF) so the readers can be tested
// on every kind of mask file found in the wild.
#pragma once
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

#include "data/image_io.h"

namespace cq::testing {

class TempDir {
 public:
  TempDir() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "cq_data_XXXXXX").string();
    path_ = ::mkdtemp(tmpl.data()) ? tmpl : std::string();
  }
  ~TempDir() {
    std::error_code ec;
    if (!path_.empty()) std::filesystem::remove_all(path_, ec);
  }
  const std::string& path() const { return path_; }
  std::string operator/(const std::string& rel) const { return path_ + "/" + rel; }

 private:
  std::string path_;
};

inline void write_bytes(const std::string& path, const std::vector<uint8_t>& b) {
  std::filesystem::create_directories(std::filesystem::path(path).parent_path());
  FILE* f = std::fopen(path.c_str(), "wb");
  if (!f) return;
  if (!b.empty()) std::fwrite(b.data(), 1, b.size(), f);  // data() of an empty vector may be null (UBSan)
  std::fclose(f);
}

inline void write_png_file(const std::string& path, const data::Image& img) {
  write_bytes(path, data::encode_png(img));
}

// ---- a minimal PNG encoder: stored (uncompressed) deflate blocks, every row filter type in turn ----
namespace detail {
inline uint32_t crc32(const uint8_t* p, size_t n, uint32_t c = 0xffffffffu) {
  for (size_t i = 0; i < n; ++i) {
    c ^= p[i];
    for (int k = 0; k < 8; ++k) c = (c >> 1) ^ (0xedb88320u & (0u - (c & 1u)));
  }
  return c;
}
inline void put32(std::vector<uint8_t>& o, uint32_t v) {
  for (int s = 24; s >= 0; s -= 8) o.push_back(uint8_t(v >> s));
}
inline void chunk(std::vector<uint8_t>& o, const char* type, const std::vector<uint8_t>& data) {
  put32(o, uint32_t(data.size()));
  std::vector<uint8_t> td(type, type + 4);
  td.insert(td.end(), data.begin(), data.end());
  o.insert(o.end(), td.begin(), td.end());
  put32(o, crc32(td.data(), td.size()) ^ 0xffffffffu);
}
inline std::vector<uint8_t> zlib_stored(const std::vector<uint8_t>& raw) {
  std::vector<uint8_t> z = {0x78, 0x01};
  size_t pos = 0;
  do {
    const size_t n = std::min<size_t>(65535, raw.size() - pos);
    z.push_back(pos + n == raw.size() ? 1 : 0);
    z.push_back(uint8_t(n & 255));
    z.push_back(uint8_t(n >> 8));
    z.push_back(uint8_t(~n & 255));
    z.push_back(uint8_t((~n >> 8) & 255));
    z.insert(z.end(), raw.begin() + pos, raw.begin() + pos + n);
    pos += n;
  } while (pos < raw.size());
  uint32_t a = 1, b = 0;
  for (uint8_t v : raw) a = (a + v) % 65521, b = (b + a) % 65521;
  put32(z, (b << 16) | a);
  return z;
}
inline int paeth(int a, int b, int c) {
  int p = a + b - c, pa = std::abs(p - a), pb = std::abs(p - b), pc = std::abs(p - c);
  return (pa <= pb && pa <= pc) ? a : (pb <= pc ? b : c);
}
// Packs and filters one (sub-)image of w x h samples.
inline void add_rows(std::vector<uint8_t>& out, const std::vector<uint16_t>& v, int w, int h, int depth) {
  const size_t rb = (size_t(w) * depth + 7) / 8;
  const int bpp = depth >= 8 ? depth / 8 : 1;
  std::vector<uint8_t> prev(rb, 0);
  for (int y = 0; y < h; ++y) {
    std::vector<uint8_t> row(rb, 0);
    for (int x = 0; x < w; ++x) {
      const uint16_t s = v[size_t(y) * w + x];
      if (depth == 16) row[2 * x] = uint8_t(s >> 8), row[2 * x + 1] = uint8_t(s);
      else if (depth == 8) row[x] = uint8_t(s);
      else row[x * depth / 8] |= uint8_t(s << (8 - depth * (x % (8 / depth) + 1)));
    }
    const int f = y % 5;
    out.push_back(uint8_t(f));
    for (size_t i = 0; i < rb; ++i) {
      const int a = i >= size_t(bpp) ? row[i - bpp] : 0, b = prev[i], c = i >= size_t(bpp) ? prev[i - bpp] : 0;
      const int pred = f == 0 ? 0 : f == 1 ? a : f == 2 ? b : f == 3 ? (a + b) / 2 : paeth(a, b, c);
      out.push_back(uint8_t(row[i] - pred));
    }
    prev = row;
  }
}
}  // namespace detail

// A grey (color_type 0) or palette (3) PNG with the given samples (row-major, h*w), optionally Adam7-interlaced.
inline std::vector<uint8_t> make_png(int w, int h, int depth, int color_type, const std::vector<uint16_t>& v,
                                     const std::vector<uint8_t>& palette_rgb = {}, bool interlace = false) {
  std::vector<uint8_t> o = {137, 80, 78, 71, 13, 10, 26, 10}, ihdr;
  detail::put32(ihdr, uint32_t(w));
  detail::put32(ihdr, uint32_t(h));
  ihdr.insert(ihdr.end(), {uint8_t(depth), uint8_t(color_type), 0, 0, uint8_t(interlace ? 1 : 0)});
  detail::chunk(o, "IHDR", ihdr);
  if (color_type == 3) detail::chunk(o, "PLTE", palette_rgb);
  std::vector<uint8_t> raw;
  if (!interlace) {
    detail::add_rows(raw, v, w, h, depth);
  } else {
    const int P[7][4] = {{0, 0, 8, 8}, {4, 0, 8, 8}, {0, 4, 4, 8}, {2, 0, 4, 4}, {0, 2, 2, 4}, {1, 0, 2, 2}, {0, 1, 1, 2}};
    for (auto& p : P) {
      const int pw = (w - p[0] + p[2] - 1) / p[2], ph = (h - p[1] + p[3] - 1) / p[3];
      if (pw <= 0 || ph <= 0) continue;
      std::vector<uint16_t> sub;
      for (int y = 0; y < ph; ++y)
        for (int x = 0; x < pw; ++x) sub.push_back(v[size_t(p[1] + y * p[3]) * w + p[0] + x * p[2]]);
      detail::add_rows(raw, sub, pw, ph, depth);
    }
  }
  detail::chunk(o, "IDAT", detail::zlib_stored(raw));
  detail::chunk(o, "IEND", {});
  return o;
}

// A single-frame GIF with a 256-entry palette; LZW codes stay 9 bits wide by sending a clear code every 250 pixels.
inline std::vector<uint8_t> make_gif(int w, int h, const std::vector<uint8_t>& idx, const std::vector<uint8_t>& pal) {
  std::vector<uint8_t> o = {'G', 'I', 'F', '8', '9', 'a', uint8_t(w), uint8_t(w >> 8), uint8_t(h), uint8_t(h >> 8),
                            0xF7, 0, 0};
  for (int i = 0; i < 256 * 3; ++i) o.push_back(i < int(pal.size()) ? pal[i] : 0);
  o.insert(o.end(), {0x2C, 0, 0, 0, 0, uint8_t(w), uint8_t(w >> 8), uint8_t(h), uint8_t(h >> 8), 0, 8});
  std::vector<uint8_t> bytes;
  uint32_t acc = 0;
  int nbits = 0;
  auto emit = [&](int code) {
    acc |= uint32_t(code) << nbits;
    nbits += 9;
    while (nbits >= 8) bytes.push_back(uint8_t(acc)), acc >>= 8, nbits -= 8;
  };
  for (size_t i = 0; i < idx.size(); ++i) {
    if (i % 250 == 0) emit(256);
    emit(idx[i]);
  }
  emit(257);
  if (nbits > 0) bytes.push_back(uint8_t(acc));
  for (size_t pos = 0; pos < bytes.size(); pos += 255) {
    const size_t n = std::min<size_t>(255, bytes.size() - pos);
    o.push_back(uint8_t(n));
    o.insert(o.end(), bytes.begin() + pos, bytes.begin() + pos + n);
  }
  o.insert(o.end(), {0, 0x3B});
  return o;
}

}  // namespace cq::testing
