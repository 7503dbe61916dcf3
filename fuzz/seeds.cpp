// Seeds: small valid files made by the library's own writers, and the same files with headers declaring huge sizes.
#include "fuzz/seeds.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "data/image_io.h"
#include "nn/json.h"
#include "nn/safetensors.h"
#include "pipeline/run_files.h"
#include "pipeline/train_config.h"
#include "refselect/bank.h"
#include "stb_image_write.h"
#include "tensor/context.h"

namespace cq::fuzz {
namespace {

Bytes str_bytes(const std::string& s) { return Bytes(s.begin(), s.end()); }

data::Image test_image(int h, int w, int c, int levels) {
  data::Image im(h, w, c);
  for (size_t i = 0; i < im.px.size(); ++i) im.px[i] = uint8_t((i * 37 + i / 5) % levels);
  return im;
}

void sink(void* ctx, void* data, int size) {
  auto* o = static_cast<Bytes*>(ctx);
  o->insert(o->end(), static_cast<uint8_t*>(data), static_cast<uint8_t*>(data) + size);
}

Bytes jpeg(const data::Image& im) {
  Bytes out;
  stbi_write_jpg_to_func(sink, &out, im.w, im.h, im.c, im.px.data(), 90);
  return out;
}

Bytes bmp(const data::Image& im) {
  Bytes out;
  stbi_write_bmp_to_func(sink, &out, im.w, im.h, im.c, im.px.data());
  return out;
}

// 2x2 GIF89a, 2-colour palette (stb_image_write has no GIF encoder).
Bytes gif() {
  return {0x47, 0x49, 0x46, 0x38, 0x39, 0x61, 0x02, 0x00, 0x02, 0x00, 0x80, 0x00, 0x00, 0x00, 0x00, 0x00, 0xFF,
          0xFF, 0xFF, 0x2C, 0x00, 0x00, 0x00, 0x00, 0x02, 0x00, 0x02, 0x00, 0x00, 0x02, 0x03, 0x84, 0x1D, 0x05,
          0x00, 0x3B};
}

void put_be32(Bytes& b, size_t at, uint32_t v) {
  for (int i = 0; i < 4; ++i) b[at + size_t(i)] = uint8_t(v >> (24 - 8 * i));
}
void put_le(Bytes& b, size_t at, uint32_t v, int n) {
  for (int i = 0; i < n; ++i) b[at + size_t(i)] = uint8_t(v >> (8 * i));
}

// The same files with headers declaring 50000 x 50000 (or the format's maximum).
Bytes huge_png(Bytes b) {
  put_be32(b, 16, 50000);
  put_be32(b, 20, 50000);
  return b;
}
Bytes huge_bmp(Bytes b) {
  put_le(b, 18, 50000, 4);
  put_le(b, 22, 50000, 4);
  return b;
}
Bytes huge_gif(Bytes b) {
  put_le(b, 6, 0xFFFF, 2);
  put_le(b, 8, 0xFFFF, 2);
  put_le(b, 24, 0xFFFF, 2);
  put_le(b, 26, 0xFFFF, 2);
  return b;
}
Bytes huge_jpeg(Bytes b) {
  for (size_t i = 0; i + 9 < b.size(); ++i)
    if (b[i] == 0xFF && b[i + 1] == 0xC0) {  // SOF0: length(2) precision(1) height(2) width(2)
      b[i + 5] = b[i + 6] = b[i + 7] = b[i + 8] = 0xFF;
      break;
    }
  return b;
}

Bytes st_file(const std::string& header, size_t body) {
  Bytes b(8 + header.size() + body, 0);
  put_le(b, 0, uint32_t(header.size()), 4);
  std::memcpy(b.data() + 8, header.data(), header.size());
  return b;
}

Bytes join_args(const std::vector<std::string>& args) {
  Bytes b;
  for (size_t i = 0; i < args.size(); ++i) {
    if (i) b.push_back(0);
    b.insert(b.end(), args[i].begin(), args[i].end());
  }
  return b;
}

}  // namespace

TreeSpec decode_tree(const uint8_t* d, size_t n) {
  static const char kChars[] = "abcdefghijklmnopqrstuvwxyz0123456789._-";
  static const char* kFolders[] = {"images", "masks", "fov", ""};
  TreeSpec t;
  if (n == 0) return t;
  const uint8_t flags = d[0];
  for (int i = 0; i < 3; ++i)
    if (flags & (1 << i)) t.folders.insert(kFolders[i]);
  t.classes = 2 + (flags >> 3 & 3) % 3;
  t.skip_bad = flags & 32;
  t.require_masks = !(flags & 64);
  size_t pos = 1;
  while (pos + 2 <= n && t.files.size() < 16) {
    TreeFile f;
    f.folder = kFolders[d[pos] % 4];
    const size_t len = 1 + d[pos + 1] % 16;
    pos += 2;
    for (size_t i = 0; i < len && pos < n; ++i, ++pos) f.name += kChars[d[pos] % (sizeof kChars - 1)];
    if (f.name.empty() || f.name == "." || f.name == "..") f.name = "_" + f.name;
    size_t clen = 0;
    if (pos + 2 <= n) clen = size_t(d[pos]) | size_t(d[pos + 1]) << 8;
    pos += 2;
    if (pos > n) pos = n;
    clen = std::min(clen, n - pos);
    f.content.assign(d + pos, d + pos + clen);
    pos += clen;
    t.files.push_back(std::move(f));
  }
  return t;
}

Bytes encode_tree(const TreeSpec& t) {
  static const char* kFolders[] = {"images", "masks", "fov", ""};
  static const char kChars[] = "abcdefghijklmnopqrstuvwxyz0123456789._-";
  uint8_t flags = 0;
  for (int i = 0; i < 3; ++i)
    if (t.folders.count(kFolders[i])) flags |= uint8_t(1 << i);
  flags |= uint8_t((t.classes - 2) << 3);
  if (t.skip_bad) flags |= 32;
  if (!t.require_masks) flags |= 64;
  Bytes b{flags};
  for (const TreeFile& f : t.files) {
    int folder = 3;
    for (int i = 0; i < 3; ++i)
      if (f.folder == kFolders[i]) folder = i;
    b.push_back(uint8_t(folder));
    b.push_back(uint8_t(f.name.size() - 1));
    for (char c : f.name) b.push_back(uint8_t(std::strchr(kChars, c) - kChars));
    b.push_back(uint8_t(f.content.size() & 0xFF));
    b.push_back(uint8_t(f.content.size() >> 8));
    b.insert(b.end(), f.content.begin(), f.content.end());
  }
  return b;
}

std::vector<Bytes> seeds_safetensors(Env& env) {
  Context& c = *env.ctx;
  std::vector<Bytes> s;
  s.push_back(serialize_safetensors({{"w", c.randn({3, 4})}, {"b", c.full({4}, 0.5, DType::f64)},
                                     {"i", c.from_vector(std::vector<int64_t>{1, -2}, {2})}},
                                    {{"format", "pt"}}));
  s.push_back(st_file(R"({"h":{"dtype":"F16","shape":[2],"data_offsets":[0,4]},)"
                      R"("b":{"dtype":"BF16","shape":[2],"data_offsets":[4,8]},)"
                      R"("o":{"dtype":"BOOL","shape":[2],"data_offsets":[8,10]},)"
                      R"("s":{"dtype":"I8","shape":[2],"data_offsets":[10,12]},)"
                      R"("t":{"dtype":"I16","shape":[1],"data_offsets":[12,14]},)"
                      R"("u":{"dtype":"I32","shape":[],"data_offsets":[14,18]}})", 18));
  // A header asking for 100 GB of data in a small file.
  s.push_back(st_file(R"({"big":{"dtype":"F32","shape":[25000000000],"data_offsets":[0,100000000000]}})", 16));
  return s;
}

std::vector<Bytes> seeds_image(Env&) {
  const data::Image rgb = test_image(8, 6, 3, 256), grey = test_image(5, 7, 1, 2);
  const Bytes png_rgb = data::encode_png(rgb), png_grey = data::encode_png(grey);
  const Bytes j = jpeg(rgb), b = bmp(rgb), g = gif();
  return {png_rgb, png_grey, data::encode_png(test_image(4, 4, 4, 256)), j, b, bmp(test_image(3, 5, 1, 256)), g,
          huge_png(png_rgb), huge_png(png_grey), huge_jpeg(j), huge_bmp(b), huge_gif(g)};
}

std::vector<Bytes> seeds_dataset(Env&) {
  const Bytes img = data::encode_png(test_image(8, 8, 3, 256)), mask = data::encode_png(test_image(8, 8, 1, 2));
  data::Image m255 = test_image(8, 8, 1, 2);
  for (uint8_t& v : m255.px) v = v ? 255 : 0;
  TreeSpec a;
  a.folders = {"images", "masks"};
  a.files = {{"images", "a.png", img}, {"masks", "a.png", mask}, {"images", "b.bmp", bmp(test_image(8, 8, 3, 256))},
             {"masks", "b.png", data::encode_png(m255)}};
  TreeSpec b = a;
  b.folders.insert("fov");
  b.files.push_back({"fov", "a.png", mask});
  b.files.push_back({"fov", "b.gif", gif()});
  b.files.push_back({"", "readme.txt", str_bytes("notes")});
  TreeSpec c;
  c.folders = {"images"};
  c.require_masks = false;
  c.files = {{"images", "x.jpg", jpeg(test_image(8, 8, 3, 256))}, {"images", "y.gif", gif()}};
  return {encode_tree(a), encode_tree(b), encode_tree(c)};
}

std::vector<Bytes> seeds_bank(Env& env) {
  std::vector<dcin::BankItem> items;
  for (int i = 0; i < 3; ++i)
    items.push_back({"ref" + std::to_string(i) + ".png", {1.0f + i, -0.5f, 0.25f * i, 2.0f},
                     std::string(63, "0123456789abcdef"[i]) + "f"});
  const std::string path = env.scratch + "/seed_bank.safetensors";
  dcin::RefBank::build("fuzz-embedder", 32, 32, items).save(path);
  return {data::read_file_bytes(path)};
}

std::vector<Bytes> seeds_config(Env&) {
  pipeline::TrainConfig cfg;
  cfg.data_root = "/data";
  cfg.out = "/runs/a";
  pipeline::EpochRecord r;
  r.epoch = 1;
  r.train_loss = 0.5;
  r.best = true;
  pipeline::EpochRecord r2 = r;
  r2.epoch = 2;
  r2.train_dc1 = std::nan("");
  json::Value m = json::Value::object();
  m.set("config", cfg.to_json());
  m.set("resumes", json::Value::array());
  return {str_bytes(json::dump(cfg.to_json())), str_bytes(pipeline::log_jsonl({r, r2})),
          str_bytes(json::dump(m, 2))};
}

std::vector<Bytes> seeds_cli(Env&) {
  return {join_args({"--data", "root", "--out", "run", "--size", "512x768", "--lambdas", "0.3,0.7,1.0", "--epochs",
                     "3", "--seed", "7"}),
          join_args({"--resume=run", "--device", "cpu", "--threads", "2", "--mode", "aug", "--skip-bad"}),
          join_args({"--device=cuda:1", "--precision", "tf32", "--fast-nondeterministic", "--refs", "a,b,,c", "x"})};
}

}  // namespace cq::fuzz
