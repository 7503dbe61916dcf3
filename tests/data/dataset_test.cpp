// Dataset listing, mask semantics and every kind of bad data, on generated folders; plus the real fundus data.
#include "data/dataset.h"

#include <gtest/gtest.h>

#include <set>

#include "tests/data/data_test_util.h"
#include "tests/support/shared.h"
#include "tests/support/test_util.h"

using namespace cq;
using namespace cq::data;
using cq::testing::contains;
using cq::testing::error_of;
using cq::testing::TempDir;

namespace {

Image rgb_image(int h, int w, int seed) {
  Image img(h, w, 3);
  for (size_t i = 0; i < img.px.size(); ++i) img.px[i] = uint8_t((i * 31 + seed * 17) % 256);
  return img;
}
Image binary_mask(int h, int w, uint8_t on) {
  Image m(h, w, 1);
  for (size_t i = 0; i < m.px.size(); ++i) m.px[i] = (i % 3 == 0) ? on : 0;
  return m;
}

// <tmp>/D/train/{images,masks,fov}/<stem>.png with good 6x5 samples a, b, c.
struct Tree {
  TempDir tmp;
  std::string dir = tmp / "D/train";
  Tree() {
    for (const char* s : {"b", "a", "c"}) add(s);
  }
  void add(const std::string& stem, int h = 6, int w = 5) {
    cq::testing::write_png_file(dir + "/images/" + stem + ".png", rgb_image(h, w, stem[0]));
    cq::testing::write_png_file(dir + "/masks/" + stem + ".png", binary_mask(h, w, 255));
    cq::testing::write_png_file(dir + "/fov/" + stem + ".png", Image(h, w, 1, 255));
  }
  std::string img(const std::string& stem) const { return dir + "/images/" + stem + ".png"; }
  std::string mask(const std::string& stem) const { return dir + "/masks/" + stem + ".png"; }
};

DatasetOptions quiet(bool skip = false, int classes = 2) {
  DatasetOptions o;
  o.skip_bad = skip;
  o.classes = classes;
  o.print_warnings = false;
  return o;
}

// Bad data stops with an error naming `file` (and `what`); with skip_bad the sample goes, the rest stay, and one
// warning names the file.
void expect_bad(const Tree& t, const std::string& file, const std::string& what, size_t left = 2) {
  const std::string e = error_of([&] { Dataset::open_dir(t.dir, quiet()); });
  EXPECT_TRUE(contains(e, file) && contains(e, what)) << "error: " << e << "\nexpected file " << file << " and '"
                                                        << what << "'";
  Dataset d = Dataset::open_dir(t.dir, quiet(true));
  EXPECT_EQ(d.size(), left);
  ASSERT_EQ(d.warnings().size(), 1u);
  EXPECT_TRUE(contains(d.warnings()[0], file)) << d.warnings()[0];
}

}  // namespace

TEST(DataDataset, ListsByStemAndLoadsClasses) {
  Tree t;
  cq::testing::write_bytes(t.dir + "/images/notes.txt", {'x'});
  cq::testing::write_bytes(t.dir + "/images/.hidden.png", {'x'});
  cq::testing::write_png_file(t.dir + "/masks/orphan.png", binary_mask(6, 5, 255));
  Dataset d = Dataset::open(t.tmp.path(), "D", "train", quiet());
  ASSERT_EQ(d.size(), 3u);
  EXPECT_EQ(d.files(0).stem, "a");
  EXPECT_EQ(d.files(1).stem, "b");
  EXPECT_EQ(d.files(2).stem, "c");
  EXPECT_TRUE(d.has_masks() && d.has_fov());
  ASSERT_EQ(d.warnings().size(), 2u);  // notes.txt ignored, orphan mask ignored; hidden file silent
  EXPECT_TRUE(contains(d.warnings()[0], "notes.txt"));
  EXPECT_TRUE(contains(d.warnings()[1], "orphan.png"));
  Sample s = d.load(1);
  EXPECT_EQ(s.stem, "b");
  EXPECT_EQ(s.image.px, rgb_image(6, 5, 'b').px);
  EXPECT_EQ(s.mask.px, binary_mask(6, 5, 1).px);  // 0/255 -> 0/1
  EXPECT_EQ(s.fov.px, std::vector<uint8_t>(30, 1));
  EXPECT_TRUE(contains(error_of([&] { d.load(3); }), "out of range"));
}

TEST(DataDataset, MaskValueSemantics) {
  Image m = binary_mask(2, 3, 1);
  mask_to_classes(m, 2, "m.png");  // 0/1 stays
  EXPECT_EQ(m.px, binary_mask(2, 3, 1).px);
  m = binary_mask(2, 3, 255);
  mask_to_classes(m, 2, "m.png");
  EXPECT_EQ(m.px, binary_mask(2, 3, 1).px);
  m = Image(1, 3, 1);
  m.px = {0, 2, 1};
  mask_to_classes(m, 3, "m.png");
  EXPECT_EQ(m.px, (std::vector<uint8_t>{0, 2, 1}));
  m.px = {0, 1, 255};  // 255 with other values is not the binary convention
  std::string e = error_of([&] { mask_to_classes(m, 2, "dir/m.png"); });
  EXPECT_TRUE(contains(e, "dir/m.png") && contains(e, "value 255") && contains(e, "x=2, y=0")) << e;
  m.px = {0, 255, 255};  // 0/255 only maps for K = 2
  e = error_of([&] { mask_to_classes(m, 3, "m.png"); });
  EXPECT_TRUE(contains(e, "value 255") && contains(e, "0..2")) << e;
}

TEST(DataDataset, PaletteAndOneBitMasksInADataset) {
  Tree t;
  std::vector<uint16_t> idx(30);
  for (size_t i = 0; i < idx.size(); ++i) idx[i] = uint16_t(i % 3);
  cq::testing::write_bytes(t.mask("a"), cq::testing::make_png(5, 6, 8, 3, idx, {0, 0, 0, 9, 9, 9, 200, 0, 0}));
  std::vector<uint16_t> bits(30);
  for (size_t i = 0; i < bits.size(); ++i) bits[i] = uint16_t(i % 2);
  cq::testing::write_bytes(t.mask("b"), cq::testing::make_png(5, 6, 1, 0, bits));
  cq::testing::write_png_file(t.mask("c"), binary_mask(6, 5, 2));
  Dataset d = Dataset::open_dir(t.dir, quiet(false, 3));
  EXPECT_EQ(d.load(0).mask.px, std::vector<uint8_t>(idx.begin(), idx.end()));
  EXPECT_EQ(d.load(1).mask.px, std::vector<uint8_t>(bits.begin(), bits.end()));
  EXPECT_EQ(d.load(2).mask.px, binary_mask(6, 5, 2).px);
  // With K = 2 the palette mask's index 2 is out of range: named with file, value and pixel.
  const std::string e = error_of([&] { Dataset::open_dir(t.dir, quiet(false, 2)); });
  EXPECT_TRUE(contains(e, "masks/a.png") && contains(e, "value 2") && contains(e, "x=2, y=0")) << e;
}

TEST(DataDataset, BadUnreadableImage) {
  Tree t;
  cq::testing::write_bytes(t.img("b"), {'n', 'o', 't', ' ', 'a', 'n', ' ', 'i', 'm', 'a', 'g', 'e'});
  expect_bad(t, "images/b.png", "not a readable image");
}

TEST(DataDataset, BadTruncatedImage) {
  Tree t;
  t.add("b", 60, 50);
  std::vector<uint8_t> png = encode_png(rgb_image(60, 50, 1));
  png.resize(png.size() / 2);
  cq::testing::write_bytes(t.img("b"), png);
  expect_bad(t, "images/b.png", "cannot decode");
}

TEST(DataDataset, BadTruncatedMask) {
  Tree t;
  std::vector<uint8_t> png = encode_png(binary_mask(6, 5, 255));
  png.resize(png.size() - 20);
  cq::testing::write_bytes(t.mask("c"), png);
  expect_bad(t, "masks/c.png", "truncated");
}

TEST(DataDataset, BadMissingMask) {
  Tree t;
  std::filesystem::remove(t.mask("a"));
  expect_bad(t, "masks/a.png", "mask missing");
}

TEST(DataDataset, BadMaskSize) {
  Tree t;
  cq::testing::write_png_file(t.mask("c"), binary_mask(6, 4, 255));
  expect_bad(t, "masks/c.png", "4x6 (WxH) but its image");
}

TEST(DataDataset, BadMaskValue) {
  Tree t;
  Image m = binary_mask(6, 5, 1);
  m.at(4, 3) = 7;
  cq::testing::write_png_file(t.mask("b"), m);
  expect_bad(t, "masks/b.png", "value 7 at pixel (x=3, y=4)");
}

TEST(DataDataset, BadMissingFov) {
  Tree t;
  std::filesystem::remove(t.dir + "/fov/c.png");
  expect_bad(t, "fov/c.png", "field-of-view mask missing");
}

TEST(DataDataset, BadMixedChannelCounts) {
  Tree t;
  cq::testing::write_png_file(t.img("a"), binary_mask(6, 5, 80));  // a grey image among RGB ones
  expect_bad(t, "images/a.png", "mixed channel counts");
}

TEST(DataDataset, BadEmptyFolderAndMissingFolders) {
  TempDir tmp;
  std::filesystem::create_directories(tmp / "D/x/images");
  std::filesystem::create_directories(tmp / "D/x/masks");
  for (bool skip : {false, true}) {
    const std::string e = error_of([&] { Dataset::open_dir(tmp / "D/x", quiet(skip)); });
    EXPECT_TRUE(contains(e, "D/x/images") && contains(e, "no images")) << e;
  }
  std::string e = error_of([&] { Dataset::open_dir(tmp / "nope", quiet()); });
  EXPECT_TRUE(contains(e, "nope") && contains(e, "not found")) << e;
  std::filesystem::remove(tmp / "D/x/masks");
  e = error_of([&] { Dataset::open_dir(tmp / "D/x", quiet()); });
  EXPECT_TRUE(contains(e, "masks folder not found")) << e;
  // Every sample bad and skipped: still an error, naming the first reason.
  Tree t;
  for (const char* s : {"a", "b", "c"}) std::filesystem::remove(t.mask(s));
  e = error_of([&] { Dataset::open_dir(t.dir, quiet(true)); });
  EXPECT_TRUE(contains(e, "no usable samples") && contains(e, "masks/a.png")) << e;
}

TEST(DataDataset, BadDuplicateStem) {
  Tree t;
  cq::testing::write_bytes(t.dir + "/images/a.bmp", {'B', 'M'});
  const std::string e = error_of([&] { Dataset::open_dir(t.dir, quiet(true)); });
  EXPECT_TRUE(contains(e, "stem 'a'") && contains(e, "a.bmp") && contains(e, "a.png")) << e;
}

TEST(DataDataset, ImagesWithoutMasksForPrediction) {
  Tree t;
  std::filesystem::remove_all(t.dir + "/masks");
  DatasetOptions o = quiet();
  o.require_masks = false;
  Dataset d = Dataset::open_dir(t.dir, o);
  EXPECT_EQ(d.size(), 3u);
  EXPECT_FALSE(d.has_masks());
  EXPECT_TRUE(d.load(0).mask.empty());
}

TEST(DataDataset, RealFundusListing) {
  CQ_REQUIRE_SHARED("data/fundus/DRIVE/train/images");
  CQ_REQUIRE_SHARED("data/fundus/CHASEDB1/dev/images");
  const std::string root = cq::testing::shared_dir() + "/data/fundus";
  struct Want {
    const char* domain;
    const char* split;
    size_t n;
    const char* first;
    int h, w;
  };
  for (const Want& want : {Want{"DRIVE", "train", 20, "21", 584, 565}, Want{"CHASEDB1", "dev", 14, "Image_01L", 960, 999}}) {
    Dataset d = Dataset::open(root, want.domain, want.split, quiet());
    ASSERT_EQ(d.size(), want.n) << want.domain;
    EXPECT_TRUE(d.warnings().empty());
    EXPECT_TRUE(d.has_fov());
    EXPECT_EQ(d.files(0).stem, want.first);
    for (size_t i = 1; i < d.size(); ++i) EXPECT_LT(d.files(i - 1).stem, d.files(i).stem);
    Sample s = d.load(0);
    EXPECT_EQ(s.image.h, want.h);
    EXPECT_EQ(s.image.w, want.w);
    std::set<int> values(s.mask.px.begin(), s.mask.px.end()), fov(s.fov.px.begin(), s.fov.px.end());
    EXPECT_EQ(values, (std::set<int>{0, 1})) << want.domain;  // 0/255 (DRIVE) and 1-bit 0/1 (CHASEDB1) alike
    EXPECT_EQ(fov, (std::set<int>{0, 1}));
    size_t vessel = 0;
    for (uint8_t v : s.mask.px) vessel += v;
    const double frac = double(vessel) / s.mask.px.size();
    std::printf("%s/%s: %zu samples, first %s %dx%d, vessel fraction %.3f\n", want.domain, want.split, d.size(),
                s.stem.c_str(), s.image.w, s.image.h, frac);
    EXPECT_GT(frac, 0.03);
    EXPECT_LT(frac, 0.2);
  }
}
