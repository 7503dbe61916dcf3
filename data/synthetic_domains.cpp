// Domain shifts of the synthetic dataset and writing it as a dataset folder (data/synthetic.h).
#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>

#include "data/synthetic.h"
#include "stb_image.h"
#include "stb_image_write.h"
#include "tensor/error.h"
#include "tensor/rng.h"

namespace cq::data::synth {
namespace {

// splitmix64 finaliser: mixes the parts of a sample's identity into one well-spread seed.
uint64_t mix(uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

uint64_t hash_string(const std::string& s) {  // FNV-1a, fixed across platforms
  uint64_t h = 1469598103934665603ULL;
  for (unsigned char c : s) h = (h ^ c) * 1099511628211ULL;
  return h;
}

std::vector<float> to_float(const Image& img) {
  std::vector<float> f(img.px.size());
  for (size_t i = 0; i < f.size(); ++i) f[i] = img.px[i] / 255.f;
  return f;
}

Image to_image(const std::vector<float>& f, int h, int w) {
  Image out(h, w, 3);
  for (size_t i = 0; i < f.size(); ++i) out.px[i] = uint8_t(std::lround(std::clamp(f[i], 0.f, 1.f) * 255));
  return out;
}

// Separable Gaussian blur of an interleaved RGB float image (clamped border): camera defocus.
void gaussian_blur(std::vector<float>& f, int h, int w, double sigma) {
  const int r = std::max(1, int(std::ceil(3 * sigma)));
  std::vector<double> k(size_t(2 * r + 1));
  double sum = 0;
  for (int i = -r; i <= r; ++i) sum += k[size_t(i + r)] = std::exp(-i * i / (2 * sigma * sigma));
  for (auto& v : k) v /= sum;
  std::vector<float> tmp(f.size());
  for (int pass = 0; pass < 2; ++pass) {
    for (int y = 0; y < h; ++y)
      for (int x = 0; x < w; ++x)
        for (int ch = 0; ch < 3; ++ch) {
          double acc = 0;
          for (int i = -r; i <= r; ++i) {
            const int yy = pass ? std::clamp(y + i, 0, h - 1) : y, xx = pass ? x : std::clamp(x + i, 0, w - 1);
            acc += k[size_t(i + r)] * f[(size_t(yy) * w + xx) * 3 + ch];
          }
          tmp[(size_t(y) * w + x) * 3 + ch] = float(acc);
        }
    f.swap(tmp);
  }
}

// LQ: a poor capture. Under-exposure, a yellow-green cast with lifted blacks (haze), defocus, sensor noise, JPEG.
Image shift_lq(const Image& hq, Rng& rng) {
  const int h = hq.h, w = hq.w;
  std::vector<float> f = to_float(hq);
  const double exposure = 0.58 * (1 + 0.06 * rng.normal());
  const double cast[3] = {1.0 + 0.03 * rng.normal(), 1.10 + 0.03 * rng.normal(), 0.72 + 0.03 * rng.normal()};
  const double haze[3] = {0.035, 0.045, 0.02};
  for (size_t i = 0; i < f.size(); ++i) f[i] = float(f[i] * exposure * cast[i % 3] + haze[i % 3]);
  gaussian_blur(f, h, w, std::min(h, w) / 96.0 * rng.uniform(0.9, 1.3));
  const double sigma = rng.uniform(0.025, 0.035);
  for (auto& v : f) v = float(v + sigma * rng.normal());
  return jpeg_roundtrip(to_image(f, h, w), int(rng.uniform(20, 30)));
}

// CAM: another camera. Linearise (gamma 2.2), its own colour response (cross-talk between the channels), cooler
// white balance and stronger lens vignetting, then its own tone curve (gamma 1.7: flatter, brighter mid-tones).
Image shift_cam(const Image& hq, Rng& rng) {
  const int h = hq.h, w = hq.w;
  std::vector<float> f = to_float(hq);
  const double m[3][3] = {{0.78, 0.26, -0.04}, {0.12, 0.92, -0.04}, {0.04, 0.30, 0.66}};
  double wb[3] = {0.80, 1.0, 1.30};
  for (auto& g : wb) g *= 1 + 0.03 * rng.normal();
  const double exposure = 1.05 * (1 + 0.04 * rng.normal()), vig = rng.uniform(0.45, 0.55);
  const double gamma = rng.uniform(1.6, 1.8);
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x) {
      const double dy = (y - 0.5 * (h - 1)) / (0.5 * h), dx = (x - 0.5 * (w - 1)) / (0.5 * w);
      const double v = exposure * (1 - vig * 0.5 * (dy * dy + dx * dx));
      float* p = &f[(size_t(y) * w + x) * 3];
      double lin[3];
      for (int c = 0; c < 3; ++c) lin[c] = std::pow(double(p[c]), 2.2);
      for (int c = 0; c < 3; ++c) {
        const double o = (m[c][0] * lin[0] + m[c][1] * lin[1] + m[c][2] * lin[2]) * wb[c] * v;
        p[c] = float(std::pow(std::clamp(o, 0.0, 1.0), 1 / gamma));
      }
    }
  return to_image(f, h, w);
}

void jpeg_sink(void* ctx, void* data, int size) {
  auto* out = static_cast<std::vector<uint8_t>*>(ctx);
  const auto* b = static_cast<const uint8_t*>(data);
  out->insert(out->end(), b, b + size);
}

}  // namespace

const char* domain_name(Domain d) {
  switch (d) {
    case Domain::hq: return "HQ";
    case Domain::lq: return "LQ";
    case Domain::cam: return "CAM";
  }
  return "?";
}

Domain parse_domain(const std::string& name) {
  for (Domain d : {Domain::hq, Domain::lq, Domain::cam})
    if (name == domain_name(d)) return d;
  fail("synthetic data: unknown domain '", name, "' (HQ, LQ or CAM)");
}

Image jpeg_roundtrip(const Image& img, int quality) {
  CQ_CHECK(img.c == 3 && !img.empty(), "synthetic data: JPEG needs a non-empty RGB image");
  CQ_CHECK(quality >= 1 && quality <= 100, "synthetic data: JPEG quality ", quality, " out of 1..100");
  std::vector<uint8_t> bytes;
  CQ_CHECK(stbi_write_jpg_to_func(jpeg_sink, &bytes, img.w, img.h, 3, img.px.data(), quality) != 0,
           "synthetic data: JPEG encoding failed");
  int w = 0, h = 0, n = 0;
  uint8_t* p = stbi_load_from_memory(bytes.data(), int(bytes.size()), &w, &h, &n, 3);
  CQ_CHECK(p != nullptr, "synthetic data: JPEG decoding failed (stb_image: ", stbi_failure_reason(), ")");
  Image out(h, w, 3);
  std::memcpy(out.px.data(), p, out.px.size());
  stbi_image_free(p);
  CQ_CHECK(h == img.h && w == img.w, "synthetic data: JPEG round trip changed the size");
  return out;
}

Image apply_domain(const Image& hq, Domain d, uint64_t seed) {
  CQ_CHECK(hq.c == 3 && !hq.empty(), "synthetic data: a domain shift needs a non-empty RGB image");
  Rng rng(mix(seed ^ 0x5deece66dULL));
  switch (d) {
    case Domain::hq: return hq;
    case Domain::lq: return shift_lq(hq, rng);
    case Domain::cam: return shift_cam(hq, rng);
  }
  return hq;
}

uint64_t sample_seed(uint64_t seed, Domain d, const std::string& split, int index) {
  return mix(mix(mix(seed) ^ (uint64_t(d) + 1) * 0x632be59bd9b4e019ULL) ^ hash_string(split)) ^ mix(uint64_t(index));
}

Scene make_sample(uint64_t seed, Domain d, const std::string& split, int index, int h, int w) {
  const uint64_t s = sample_seed(seed, d, split, index);
  Scene sc = render_scene(s, h, w);
  if (d != Domain::hq) sc.image = apply_domain(sc.image, d, s);
  return sc;
}

std::vector<WrittenSplit> write_dataset(const DatasetSpec& spec,
                                        const std::function<void(int64_t, int64_t)>& on_sample) {
  CQ_CHECK(!spec.root.empty(), "synthetic data: no output folder given");
  CQ_CHECK(spec.train > 0 && spec.val > 0 && spec.test > 0 && spec.target_test > 0,
           "synthetic data: every split needs at least one image (train ", spec.train, ", val ", spec.val, ", test ",
           spec.test, ", target test ", spec.target_test, ")");
  struct Job {
    Domain d;
    std::string split;
    int n;
  };
  std::vector<Job> jobs = {{Domain::hq, "train", spec.train}, {Domain::hq, "val", spec.val},
                           {Domain::hq, "test", spec.test}};
  for (Domain d : spec.targets) {
    CQ_CHECK(d != Domain::hq, "synthetic data: HQ is the source domain, not a target");
    jobs.push_back({d, "test", spec.target_test});
  }
  int64_t total = 0, done = 0;
  for (const Job& j : jobs) total += j.n;
  std::vector<WrittenSplit> out;
  for (const Job& j : jobs) {
    const std::string dir = spec.root + "/" + domain_name(j.d) + "/" + j.split;
    std::error_code ec;
    for (const char* sub : {"/images", "/masks"}) {
      std::filesystem::create_directories(dir + sub, ec);
      CQ_CHECK(!ec, dir, sub, ": cannot create the folder (", ec.message(), ")");
    }
    for (int i = 0; i < j.n; ++i) {
      const Scene sc = make_sample(spec.seed, j.d, j.split, i, spec.height, spec.width);
      std::string num = std::to_string(i);
      const std::string stem = j.split + "_" + std::string(num.size() < 3 ? 3 - num.size() : 0, '0') + num;
      write_png(dir + "/images/" + stem + ".png", sc.image);
      write_png(dir + "/masks/" + stem + ".png", sc.mask);
      if (on_sample) on_sample(++done, total);
    }
    out.push_back({domain_name(j.d), j.split, dir, j.n});
  }
  return out;
}

}  // namespace cq::data::synth
