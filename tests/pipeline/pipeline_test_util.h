// A tiny generated segmentation dataset for trainer tests: coloured noise with a disc of another colour, mask 0/255
// on the disc, in <root>/<domain>/<split>/{images,masks}.
#pragma once
#include <cstring>
#include <map>
#include <string>

#include "data/image_io.h"
#include "nn/safetensors.h"
#include "pipeline/train_config.h"
#include "tensor/rng.h"
#include "tests/data/data_test_util.h"

namespace cq::testing {

inline void make_synthetic_split(const std::string& root, const std::string& domain, const std::string& split, int n,
                                 int h, int w, uint64_t seed) {
  Rng rng(seed);
  for (int i = 0; i < n; ++i) {
    data::Image img(h, w, 3), mask(h, w, 1);
    const double cy = rng.uniform(0.3, 0.7) * h, cx = rng.uniform(0.3, 0.7) * w, r = rng.uniform(0.15, 0.3) * h;
    for (int y = 0; y < h; ++y)
      for (int x = 0; x < w; ++x) {
        const bool in = (y - cy) * (y - cy) + (x - cx) * (x - cx) < r * r;
        mask.at(y, x) = in ? 255 : 0;
        for (int c = 0; c < 3; ++c)
          img.at(y, x, c) = uint8_t((in ? 160 + 40 * c : 40 + 30 * c) + int(rng.below(40)));
      }
    const std::string stem = "s" + std::to_string(i);
    write_png_file(root + "/" + domain + "/" + split + "/images/" + stem + ".png", img);
    write_png_file(root + "/" + domain + "/" + split + "/masks/" + stem + ".png", mask);
  }
}

// 4 training and 2 validation images of 40x48 (resized to the run's size).
inline void make_synthetic_dataset(const std::string& root) {
  make_synthetic_split(root, "SYN", "train", 4, 40, 48, 1);
  make_synthetic_split(root, "SYN", "val", 2, 40, 48, 2);
}

inline pipeline::TrainConfig tiny_config(const std::string& root, const std::string& out, const std::string& mode) {
  pipeline::TrainConfig c;
  c.data_root = root;
  c.train_domain = "SYN";
  c.train_split = "train";
  c.val_split = "val";
  c.mode = mode;
  c.epochs = 1;
  c.batch = 2;
  c.height = 32, c.width = 32;
  c.threads = 2;
  c.workers = 1;
  c.seed = 3;
  c.out = out;
  return c;
}

// Every tensor of two safetensors files, byte for byte (metadata is not compared: it names the run directory).
// Returns "" when identical, else the first difference.
inline std::string compare_tensors(const std::string& a, const std::string& b) {
  SafetensorsFile fa = SafetensorsFile::open(a), fb = SafetensorsFile::open(b);
  if (fa.entries().size() != fb.entries().size()) return "different tensor counts";
  for (size_t i = 0; i < fa.entries().size(); ++i) {
    const SafetensorsEntry &x = fa.entries()[i], &y = fb.entries()[i];
    if (x.name != y.name) return "names differ: " + x.name + " vs " + y.name;
    if (x.nbytes != y.nbytes || std::memcmp(x.data, y.data, x.nbytes) != 0) return "tensor differs: " + x.name;
  }
  return "";
}

inline std::vector<std::string> list_dir(const std::string& dir) {
  std::vector<std::string> out;
  for (const auto& e : std::filesystem::directory_iterator(dir)) out.push_back(e.path().filename().string());
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace cq::testing
