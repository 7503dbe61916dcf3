// A small PNG reader for single-sample PNGs (grey of any bit depth, palette) that returns the STORED values: the
// palette index, the unscaled 1/2/4-bit value, the 16-bit value. stb_image cannot: it expands palettes to colours and
// scales low bit depths to 0..255, which is right for pictures and wrong for label masks. Inflate is stb's zlib.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace cq::data {

struct PngHeader {
  int w = 0, h = 0, depth = 0, color_type = -1, interlace = 0;
};

// True and the header when bytes start with a PNG signature and a well-formed IHDR; false otherwise.
bool png_header(const std::vector<uint8_t>& bytes, PngHeader* out);

// Decodes a grey (colour type 0) or palette (3) PNG into raw values, one per pixel, row-major; `path` is only for
// messages. Throws cq::Error naming the file on truncated or corrupt data.
std::vector<uint16_t> decode_png_raw(const std::vector<uint8_t>& bytes, const std::string& path, PngHeader* hdr);

// For any PNG about to be decoded by stb_image: inflates its image data into a buffer of exactly the size the header
// implies (+1 byte) and throws cq::Error naming the file when the stream is corrupt or expands beyond it. stb's own
// inflate grows its buffer without bound (a few KB "zip bomb" made it allocate 2 GiB; found by libFuzzer), so this
// bounds the memory a PNG can make cqseg allocate to its declared size, which check_image_size already limits.
// Files that are not PNGs, or whose chunk structure stb will reject anyway, are left to stb.
void check_png_inflate_bound(const std::vector<uint8_t>& bytes, const std::string& path);

}  // namespace cq::data
