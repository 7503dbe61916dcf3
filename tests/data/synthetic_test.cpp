// The built-in synthetic dataset (data/synthetic.h): same seed -> same bytes, every class in every mask, the domain
// shift is measurable in colour while the layouts are alike, and the folder loads as a normal dataset.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <filesystem>

#include "data/dataset.h"
#include "data/synthetic.h"
#include "tests/data/data_test_util.h"
#include "tests/support/test_util.h"

namespace synth = cq::data::synth;
using cq::data::Image;
using cq::testing::contains;
using cq::testing::error_of;

namespace {

// Mean of each RGB channel over n samples of a domain's test split.
std::array<double, 3> mean_rgb(synth::Domain d, int n, int h, int w) {
  std::array<double, 3> m{0, 0, 0};
  double count = 0;
  for (int i = 0; i < n; ++i) {
    const synth::Scene s = synth::make_sample(1, d, "test", i, h, w);
    for (size_t p = 0; p < s.image.px.size(); ++p) m[p % 3] += s.image.px[p];
    count += double(s.image.px.size()) / 3;
  }
  for (auto& v : m) v /= count;
  return m;
}

// Fraction of pixels per class over n samples.
std::vector<double> class_fractions(synth::Domain d, int n, int h, int w) {
  std::vector<double> f(synth::kClasses, 0);
  double total = 0;
  for (int i = 0; i < n; ++i) {
    const std::vector<int64_t> c = synth::class_histogram(synth::make_sample(1, d, "test", i, h, w).mask);
    for (int k = 0; k < synth::kClasses; ++k) f[size_t(k)] += double(c[size_t(k)]), total += double(c[size_t(k)]);
  }
  for (auto& v : f) v /= total;
  return f;
}

}  // namespace

TEST(Synthetic, SameSeedSameBytesOtherSeedOtherScene) {
  for (synth::Domain d : {synth::Domain::hq, synth::Domain::lq, synth::Domain::cam}) {
    const synth::Scene a = synth::make_sample(5, d, "train", 3, 48, 64);
    const synth::Scene b = synth::make_sample(5, d, "train", 3, 48, 64);
    EXPECT_EQ(a.image.px, b.image.px) << synth::domain_name(d);
    EXPECT_EQ(a.mask.px, b.mask.px) << synth::domain_name(d);
    EXPECT_NE(a.image.px, synth::make_sample(6, d, "train", 3, 48, 64).image.px);
    EXPECT_NE(a.image.px, synth::make_sample(5, d, "train", 4, 48, 64).image.px);
    EXPECT_NE(a.mask.px, synth::make_sample(5, d, "val", 3, 48, 64).mask.px);
  }
  // Whole folders: two writes of one spec are byte-identical file by file.
  cq::testing::TempDir t1, t2;
  synth::DatasetSpec spec;
  spec.height = 32, spec.width = 64, spec.train = 2, spec.val = 1, spec.test = 1, spec.target_test = 2;
  spec.seed = 9;
  spec.root = t1.path();
  int64_t calls = 0, last_total = 0;
  const auto splits = synth::write_dataset(spec, [&](int64_t done, int64_t total) { calls = done, last_total = total; });
  EXPECT_EQ(calls, 8);
  EXPECT_EQ(last_total, 8);
  ASSERT_EQ(splits.size(), 5u);
  spec.root = t2.path();
  synth::write_dataset(spec);
  int files = 0;
  for (const auto& e : std::filesystem::recursive_directory_iterator(t1.path())) {
    if (!e.is_regular_file()) continue;
    const std::string rel = std::filesystem::relative(e.path(), t1.path()).string();
    EXPECT_EQ(cq::data::read_file_bytes(e.path().string()), cq::data::read_file_bytes(t2 / rel)) << rel;
    ++files;
  }
  EXPECT_EQ(files, 16);
}

TEST(Synthetic, EveryClassInEveryMask) {
  for (synth::Domain d : {synth::Domain::hq, synth::Domain::lq, synth::Domain::cam})
    for (int i = 0; i < 12; ++i) {
      const synth::Scene s = synth::make_sample(0, d, "test", i, 96, 128);
      ASSERT_EQ(s.image.h, 96);
      ASSERT_EQ(s.image.w, 128);
      ASSERT_EQ(s.image.c, 3);
      ASSERT_EQ(s.mask.c, 1);
      const std::vector<int64_t> c = synth::class_histogram(s.mask);
      for (int k = 0; k < synth::kClasses; ++k)
        EXPECT_GT(c[size_t(k)], 20) << synth::domain_name(d) << " sample " << i << " class " << synth::class_name(k);
    }
}

TEST(Synthetic, DomainShiftInColourNotInLayout) {
  const int n = 10, h = 96, w = 128;
  const auto hq = mean_rgb(synth::Domain::hq, n, h, w), lq = mean_rgb(synth::Domain::lq, n, h, w),
             cam = mean_rgb(synth::Domain::cam, n, h, w);
  std::printf("mean RGB  HQ %.1f %.1f %.1f  LQ %.1f %.1f %.1f  CAM %.1f %.1f %.1f\n", hq[0], hq[1], hq[2], lq[0],
              lq[1], lq[2], cam[0], cam[1], cam[2]);
  double d_lq = 0, d_cam = 0;
  for (int c = 0; c < 3; ++c) d_lq += std::fabs(hq[size_t(c)] - lq[size_t(c)]), d_cam += std::fabs(hq[size_t(c)] - cam[size_t(c)]);
  EXPECT_GT(d_lq, 30) << "LQ mean colour too close to HQ";
  EXPECT_GT(d_cam, 20) << "CAM mean colour too close to HQ";
  // LQ is darker; CAM is bluer relative to red than HQ (cooler white balance).
  EXPECT_LT(lq[0] + lq[1] + lq[2], hq[0] + hq[1] + hq[2] - 40);
  EXPECT_GT(cam[2] / cam[0], hq[2] / hq[0] + 0.1);
  // The same layout distribution: class fractions of HQ and CAM test (other scenes) agree closely.
  const auto fh = class_fractions(synth::Domain::hq, 20, h, w), fc = class_fractions(synth::Domain::cam, 20, h, w);
  for (int k = 0; k < synth::kClasses; ++k) {
    std::printf("class %-10s HQ %.3f CAM %.3f\n", synth::class_name(k), fh[size_t(k)], fc[size_t(k)]);
    EXPECT_NEAR(fh[size_t(k)], fc[size_t(k)], 0.04) << synth::class_name(k);
  }
  // Appearance only: a domain shift keeps the size and never depends on anything but the image and the seed.
  const synth::Scene s = synth::render_scene(42, 64, 96);
  const Image cam1 = synth::apply_domain(s.image, synth::Domain::cam, 1);
  EXPECT_EQ(cam1.px, synth::apply_domain(s.image, synth::Domain::cam, 1).px);
  EXPECT_EQ(synth::apply_domain(s.image, synth::Domain::hq, 1).px, s.image.px);
  EXPECT_EQ(cam1.h, 64);
  EXPECT_EQ(cam1.w, 96);
}

TEST(Synthetic, FolderLoadsAsDataset) {
  cq::testing::TempDir t;
  synth::DatasetSpec spec;
  spec.root = t.path();
  spec.height = 64, spec.width = 96, spec.train = 3, spec.val = 1, spec.test = 2, spec.target_test = 2;
  synth::write_dataset(spec);
  cq::data::DatasetOptions o;
  o.classes = synth::kClasses;
  for (const char* dom : {"HQ", "LQ", "CAM"}) {
    const cq::data::Dataset ds = cq::data::Dataset::open(t.path(), dom, "test", o);
    ASSERT_EQ(ds.size(), 2u) << dom;
    EXPECT_EQ(ds.files(0).stem, "test_000");
    const cq::data::Sample smp = ds.load(1);
    EXPECT_EQ(smp.image.h, 64);
    EXPECT_EQ(smp.image.w, 96);
    EXPECT_EQ(smp.mask.px, synth::make_sample(0, synth::parse_domain(dom), "test", 1, 64, 96).mask.px);
    EXPECT_EQ(smp.image.px, synth::make_sample(0, synth::parse_domain(dom), "test", 1, 64, 96).image.px);
  }
  EXPECT_EQ(cq::data::Dataset::open(t.path(), "HQ", "train", o).size(), 3u);
  // With K = 4 the pharynx (4) is not a class: the dataset check names the file.
  o.classes = 4;
  EXPECT_TRUE(contains(error_of([&] { cq::data::Dataset::open(t.path(), "HQ", "train", o); }), "masks/train_"));
}

TEST(Synthetic, JpegAndBadInput) {
  const synth::Scene s = synth::render_scene(3, 48, 64);
  const Image j = synth::jpeg_roundtrip(s.image, 20);
  ASSERT_EQ(j.h, 48);
  ASSERT_EQ(j.w, 64);
  double diff = 0;
  for (size_t i = 0; i < j.px.size(); ++i) diff += std::fabs(double(j.px[i]) - s.image.px[i]);
  diff /= double(j.px.size());
  std::printf("JPEG q20 mean abs change %.2f\n", diff);
  EXPECT_GT(diff, 0.5);
  EXPECT_LT(diff, 20);
  EXPECT_TRUE(contains(error_of([&] { synth::jpeg_roundtrip(s.image, 0); }), "quality 0"));
  EXPECT_TRUE(contains(error_of([&] { synth::jpeg_roundtrip(s.mask, 50); }), "RGB"));
  EXPECT_TRUE(contains(error_of([&] { synth::render_scene(0, 8, 64); }), "8x64"));
  EXPECT_TRUE(contains(error_of([&] { synth::parse_domain("hq"); }), "HQ, LQ or CAM"));
  EXPECT_TRUE(contains(error_of([&] { synth::class_name(5); }), "class 5"));
  Image bad(4, 4, 1, 7);
  EXPECT_TRUE(contains(error_of([&] { synth::class_histogram(bad); }), "mask value 7"));
  synth::DatasetSpec spec;
  EXPECT_TRUE(contains(error_of([&] { synth::write_dataset(spec); }), "no output folder"));
  spec.root = "/tmp/x";
  spec.val = 0;
  EXPECT_TRUE(contains(error_of([&] { synth::write_dataset(spec); }), "at least one image"));
  spec.val = 1;
  spec.targets = {synth::Domain::hq};
  EXPECT_TRUE(contains(error_of([&] { synth::write_dataset(spec); }), "not a target"));
}
