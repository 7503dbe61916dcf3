// Resource limits of the image readers: a header declaring a huge size is refused before anything is allocated for
// it (PNG, palette/grey PNG masks, BMP, GIF, JPEG), the limit is an option (CQ_MAX_IMAGE_PIXELS), and a PNG mask
// whose zlib stream inflates past the header's size (a "zip bomb") is refused without inflating it.
#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>
#include <string>

#include "data/image_io.h"
#include "stb_image_write.h"
#include "tests/data/data_test_util.h"
#include "tests/support/test_util.h"

using namespace cq;
using cq::testing::contains;
using cq::testing::error_of;

namespace {

void put_be32(std::vector<uint8_t>& b, size_t at, uint32_t v) {
  for (int i = 0; i < 4; ++i) b[at + size_t(i)] = uint8_t(v >> (24 - 8 * i));
}
void put_le(std::vector<uint8_t>& b, size_t at, uint32_t v, int n) {
  for (int i = 0; i < n; ++i) b[at + size_t(i)] = uint8_t(v >> (8 * i));
}
void sink(void* ctx, void* data, int size) {
  auto* o = static_cast<std::vector<uint8_t>*>(ctx);
  o->insert(o->end(), static_cast<uint8_t*>(data), static_cast<uint8_t*>(data) + size);
}

int64_t vm_hwm_kib() {
  std::ifstream f("/proc/self/status");
  std::string line;
  while (std::getline(f, line))
    if (line.rfind("VmHWM:", 0) == 0) return std::atoll(line.c_str() + 6);
  return 0;
}

// Restores CQ_MAX_IMAGE_PIXELS when a test changed it (tests may share a process when run without ctest).
struct EnvGuard {
  std::string old;
  bool had;
  EnvGuard() : had(std::getenv("CQ_MAX_IMAGE_PIXELS") != nullptr) {
    if (had) old = std::getenv("CQ_MAX_IMAGE_PIXELS");
  }
  ~EnvGuard() {
    if (had) setenv("CQ_MAX_IMAGE_PIXELS", old.c_str(), 1);
    else unsetenv("CQ_MAX_IMAGE_PIXELS");
  }
};

// An 8x8 JPEG whose first Huffman table declares 400 codes (counts of 15- and 16-bit codes set to 200); empty if the
// encoder wrote no table.
std::vector<uint8_t> jpeg_with_400_code_huffman_table() {
  data::Image rgb(8, 8, 3, 90);
  std::vector<uint8_t> jpg;
  stbi_write_jpg_to_func(sink, &jpg, rgb.w, rgb.h, 3, rgb.px.data(), 90);
  for (size_t i = 2; i + 21 < jpg.size(); ++i)
    if (jpg[i] == 0xFF && jpg[i + 1] == 0xC4) {
      jpg[i + 5 + 14] = 200;
      jpg[i + 5 + 15] = 200;
      return jpg;
    }
  return {};
}

}  // namespace

TEST(ImageLimits, HugeDeclaredSizesAreRefusedBeforeDecoding) {
  EnvGuard g;
  unsetenv("CQ_MAX_IMAGE_PIXELS");
  cq::testing::TempDir d;
  data::Image rgb(8, 8, 3, 100);
  std::vector<uint8_t> png = data::encode_png(rgb);
  put_be32(png, 16, 50000);
  put_be32(png, 20, 50000);
  std::vector<uint8_t> grey = cq::testing::make_png(4, 4, 8, 0, std::vector<uint16_t>(16, 1));
  put_be32(grey, 16, 50000);
  put_be32(grey, 20, 50000);
  std::vector<uint8_t> mid_rgb = data::encode_png(rgb);
  std::vector<uint8_t> mid_grey = cq::testing::make_png(4, 4, 8, 0, std::vector<uint16_t>(16, 1));
  for (auto* m : {&mid_rgb, &mid_grey}) {
    put_be32(*m, 16, 12000);
    put_be32(*m, 20, 12000);
  }
  std::vector<uint8_t> bmp;
  stbi_write_bmp_to_func(sink, &bmp, rgb.w, rgb.h, 3, rgb.px.data());
  put_le(bmp, 2, 0, 4);  // no declared file size (else the truncation check answers first)
  put_le(bmp, 18, 50000, 4);
  put_le(bmp, 22, 50000, 4);
  std::vector<uint8_t> jpg;
  stbi_write_jpg_to_func(sink, &jpg, rgb.w, rgb.h, 3, rgb.px.data(), 90);
  for (size_t i = 0; i + 9 < jpg.size(); ++i)
    if (jpg[i] == 0xFF && jpg[i + 1] == 0xC0) {
      jpg[i + 5] = jpg[i + 6] = jpg[i + 7] = jpg[i + 8] = 0xFF;  // 65535 x 65535
      break;
    }
  std::vector<uint8_t> gif = cq::testing::make_gif(2, 2, {0, 1, 1, 0}, {0, 0, 0, 255, 255, 255});
  put_le(gif, 6, 50000, 2);
  put_le(gif, 8, 50000, 2);
  const int64_t hwm0 = vm_hwm_kib();
  for (const auto& kv : std::vector<std::pair<std::string, std::vector<uint8_t>>>{
           {"rgb.png", png}, {"grey.png", grey}, {"mid_rgb.png", mid_rgb}, {"mid_grey.png", mid_grey}, {"big.bmp", bmp}, {"big.jpg", jpg}, {"big.gif", gif}}) {
    const std::string p = d / kv.first;
    cq::testing::write_bytes(p, kv.second);
    for (int mode = 0; mode < 2; ++mode) {
      const std::string msg = error_of([&] { mode == 0 ? data::read_image(p) : data::read_mask(p); });
      // For 50000 x 50000 PNGs stb's own header check (2^28 pixels) or the raw PNG reader's may answer first, also
      // before any allocation; between 2^27 and 2^28 pixels ("mid") only ours does.
      const bool ours = contains(msg, "above the limit of 134217728") && contains(msg, "CQ_MAX_IMAGE_PIXELS");
      const bool mid = kv.first.rfind("mid", 0) == 0;
      EXPECT_TRUE(ours || (!mid && contains(msg, "too large"))) << kv.first << ": " << msg;
      EXPECT_TRUE(contains(msg, p)) << msg;
    }
  }
  // Nothing near the declared sizes (7.5 GB for 50000x50000 RGB) was allocated.
  EXPECT_LT(vm_hwm_kib() - hwm0, 64 * 1024);
}

TEST(ImageLimits, LimitIsAnOption) {
  EnvGuard g;
  cq::testing::TempDir d;
  const std::string p = d / "a.png";
  cq::testing::write_png_file(p, data::Image(8, 6, 3, 7));
  setenv("CQ_MAX_IMAGE_PIXELS", "48", 1);
  EXPECT_EQ(data::read_image(p).w, 6);
  setenv("CQ_MAX_IMAGE_PIXELS", "47", 1);
  EXPECT_TRUE(contains(error_of([&] { data::read_image(p); }), "6x8 = 48 pixels, above the limit of 47"));
  setenv("CQ_MAX_IMAGE_PIXELS", "lots", 1);
  EXPECT_TRUE(contains(error_of([&] { data::read_image(p); }), "CQ_MAX_IMAGE_PIXELS must be a positive integer"));
  unsetenv("CQ_MAX_IMAGE_PIXELS");
  EXPECT_EQ(data::max_image_pixels(), data::kDefaultMaxImagePixels);
}

// A grey PNG mask declaring 8x8 whose image data inflates to 8x4096 rows: refused, and only the header's size
// (plus one byte) is ever inflated.
TEST(ImageLimits, PngMaskInflatingPastItsSizeIsRefused) {
  cq::testing::TempDir d;
  std::vector<uint8_t> png = cq::testing::make_png(8, 4096, 8, 0, std::vector<uint16_t>(8 * 4096, 1));
  put_be32(png, 20, 8);
  const std::string p = d / "bomb.png";
  cq::testing::write_bytes(p, png);
  const std::string msg = error_of([&] { data::read_mask(p); });
  EXPECT_TRUE(contains(msg, "corrupt PNG image data")) << msg;
  EXPECT_TRUE(contains(msg, "8x8")) << msg;
  // The honest file still reads.
  const std::string ok = d / "ok.png";
  cq::testing::write_bytes(ok, cq::testing::make_png(8, 8, 8, 0, std::vector<uint16_t>(64, 1)));
  EXPECT_EQ(data::read_mask(ok).h, 8);
}

// Regression (fuzz target image, found by UBSan): a JPEG Huffman table whose 16 code counts sum past 256 made
// stb_image write past its tables; it is refused before stb sees it, by read_image, read_mask and probe_image alike.
TEST(ImageLimits, JpegHuffmanTableWithTooManyCodesIsRefused) {
  cq::testing::TempDir d;
  std::vector<uint8_t> jpg = jpeg_with_400_code_huffman_table();
  ASSERT_FALSE(jpg.empty());
  const std::string p = d / "bad_dht.jpg";
  cq::testing::write_bytes(p, jpg);
  for (int mode = 0; mode < 3; ++mode) {
    const std::string msg = error_of([&] {
      if (mode == 0) data::read_image(p);
      else if (mode == 1) data::read_mask(p);
      else data::probe_image(p);
    });
    EXPECT_TRUE(contains(msg, "corrupt JPEG (Huffman table declares")) << mode << ": " << msg;
  }
}

// Found by libFuzzer (dataset target): stb_image accepts 0xFF fill bytes before the start-of-image marker, which
// hid the same over-long Huffman table from the check above. The check now finds the SOI the way stb does.
TEST(ImageLimits, JpegWithFillBytesBeforeSoiStillHasItsTablesChecked) {
  cq::testing::TempDir d;
  std::vector<uint8_t> jpg = jpeg_with_400_code_huffman_table();
  ASSERT_FALSE(jpg.empty());
  jpg.insert(jpg.begin(), 40, 0xFF);  // fill bytes, then FF D8
  const std::string p = d / "fill_dht.jpg";
  cq::testing::write_bytes(p, jpg);
  const std::string msg = error_of([&] { data::read_image(p); });
  EXPECT_TRUE(contains(msg, "corrupt JPEG (Huffman table declares")) << msg;
}

// Found by libFuzzer (image target): a PNG whose few-KB zlib stream expands far beyond the size its header declares
// made stb_image grow its inflate buffer to 2 GiB. The data is now inflated into a buffer of the declared size first.
TEST(ImageLimits, PngDataExpandingBeyondItsHeaderIsRefused) {
  cq::testing::TempDir d;
  const int w = 16, h = 16;  // declared: 16 rows of 1 + 16*3 bytes; the stream below holds 1 MiB of zeros
  std::vector<uint8_t> ihdr;
  cq::testing::detail::put32(ihdr, w);
  cq::testing::detail::put32(ihdr, h);
  ihdr.insert(ihdr.end(), {8, 2, 0, 0, 0});  // 8-bit RGB, no interlace
  // (stored, not deflated: the test only needs more data than declared; the fuzzer's file did it in a few KB)
  std::vector<uint8_t> png = {137, 80, 78, 71, 13, 10, 26, 10};
  cq::testing::detail::chunk(png, "IHDR", ihdr);
  cq::testing::detail::chunk(png, "IDAT", cq::testing::detail::zlib_stored(std::vector<uint8_t>(1 << 20, 0)));
  cq::testing::detail::chunk(png, "IEND", {});
  const std::string p = d / "bomb.png";
  cq::testing::write_bytes(p, png);
  const std::string msg = error_of([&] { data::read_image(p); });
  EXPECT_TRUE(contains(msg, "bomb.png") && contains(msg, "more data than the header's size")) << msg;
}

// Found by libFuzzer after the fix above: a PNG declaring 60 x 33554437 pixels, which stb's own size check refuses in
// stbi_info (so the pixel limit was not applied), reached the bounded inflate, which sized its buffer from the
// header (2 GiB). The bounded inflate now applies the pixel limit itself.
TEST(ImageLimits, PngDeclaringMorePixelsThanStbAcceptsIsRefusedBeforeInflating) {
  cq::testing::TempDir d;
  std::vector<uint8_t> ihdr;
  cq::testing::detail::put32(ihdr, 60);
  cq::testing::detail::put32(ihdr, 33554437);
  ihdr.insert(ihdr.end(), {8, 2, 0, 0, 0});
  std::vector<uint8_t> png = {137, 80, 78, 71, 13, 10, 26, 10};
  cq::testing::detail::chunk(png, "IHDR", ihdr);
  cq::testing::detail::chunk(png, "IDAT", cq::testing::detail::zlib_stored(std::vector<uint8_t>(64, 0)));
  cq::testing::detail::chunk(png, "IEND", {});
  const std::string p = d / "tall.png";
  cq::testing::write_bytes(p, png);
  const std::string msg = error_of([&] { data::read_image(p); });
  EXPECT_TRUE(contains(msg, "tall.png") && contains(msg, "60x33554437")) << msg;
}
