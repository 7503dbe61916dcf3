// A procedural segmentation dataset built into cqseg, so the method can be shown on a bare machine with no downloads:
// pictures of a throat-like scene as an endoscope or phone camera sees it (the layout of the paper's throat images),
// K = 5 classes, and the same scenes seen through other "cameras" (domains).
//
// Classes (mask values):  0 background (palate, cheeks, the dark surround), 1 tongue, 2 uvula, 3 tonsils (two, left
// and right), 4 pharynx (the posterior wall). Every scene holds all five. Regions are star-shaped blobs around a
// jittered throat layout, bounded by smooth random curves (a few low harmonics of the polar radius), drawn back to
// front: pharynx, tonsils, uvula, tongue. Each class has its own colour (jittered per image) and texture (multi-octave
// value noise at its own scales: fine papillae on the tongue, crypts on the tonsils, vessels on the pharynx), over
// soft camera lighting with a dark circular field-of-view border.
//
// Domains change appearance only; the layout distribution is the same everywhere (what DCIN and CQG are about):
//   HQ   the source camera: sharp, well exposed, neutral colour (train / val / test splits);
//   LQ   a low-quality capture: under-exposed, yellow-green colour cast, defocus blur, sensor noise, JPEG quality ~25
//        (real JPEG: stb_image_write's encoder, decoded again with stb_image);
//   CAM  another camera: a different 3x3 colour response (channel cross-talk), cooler white balance, another tone
//        curve (gamma) and stronger lens vignetting.
// Each domain's parameters are fixed means with a small per-image jitter (captures vary within a device).
//
// Determinism: every number comes from cq::Rng seeded by a hash of (seed, domain, split, index), so a sample is a
// pure function of those and the size: the same seed gives the same bytes, in any order of generation.
#pragma once
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "data/image_io.h"

namespace cq::data::synth {

constexpr int kClasses = 5;
// "background", "tongue", "uvula", "tonsils", "pharynx"; throws for c outside 0..4.
const char* class_name(int c);

enum class Domain { hq, lq, cam };
// "HQ", "LQ", "CAM" (the folder names).
const char* domain_name(Domain d);
// Case-sensitive folder name -> Domain; anything else throws listing the names.
Domain parse_domain(const std::string& name);

struct Scene {
  Image image;  // RGB
  Image mask;   // 1 channel, class indices 0..4
};

// The layout and its HQ rendering, from one seed (h >= 16, w >= 16).
Scene render_scene(uint64_t seed, int h, int w);
// The appearance of domain d for an HQ image (HQ: a copy). Mask-free: the shift never moves anything.
Image apply_domain(const Image& hq, Domain d, uint64_t seed);
// JPEG round trip at quality q (1..100) through stb_image_write and stb_image.
Image jpeg_roundtrip(const Image& img, int quality);

// The seed of one sample: a hash of (seed, domain, split, index). Splits and domains get different scenes.
uint64_t sample_seed(uint64_t seed, Domain d, const std::string& split, int index);
// render_scene(sample_seed(...)) then apply_domain.
Scene make_sample(uint64_t seed, Domain d, const std::string& split, int index, int h, int w);

struct DatasetSpec {
  std::string root;   // written as <root>/<domain>/<split>/{images,masks}/<stem>.png
  uint64_t seed = 0;
  int height = 96, width = 128;
  int train = 40, val = 10, test = 20;  // HQ splits
  std::vector<Domain> targets{Domain::lq, Domain::cam};
  int target_test = 20;                 // <target>/test
};

struct WrittenSplit {
  std::string domain, split, dir;
  int images = 0;
};

// Writes every split (creating folders; existing files of the same names are replaced), calling on_sample(done,
// total) after each sample (progress bars). Throws cq::Error naming the file that could not be written.
std::vector<WrittenSplit> write_dataset(const DatasetSpec& spec,
                                        const std::function<void(int64_t, int64_t)>& on_sample = {});

// Pixels per class of a mask (kClasses counts); a value >= kClasses throws.
std::vector<int64_t> class_histogram(const Image& mask);

}  // namespace cq::data::synth
