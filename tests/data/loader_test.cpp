// Loader: order, determinism across worker counts, error propagation; timing on the real data (disabled by default:
// run with --gtest_also_run_disabled_tests --gtest_filter='*LoaderTiming*').
#include "data/loader.h"

#include <gtest/gtest.h>

#include <chrono>
#include <set>
#include <thread>

#include "data/resize.h"
#include "tensor/context.h"
#include "tests/data/data_test_util.h"
#include "tests/support/shared.h"
#include "tests/support/test_util.h"

using namespace cq;
using namespace cq::data;
using cq::testing::contains;
using cq::testing::error_of;
using cq::testing::TempDir;

namespace {

// n samples of varying stored sizes (so resizing matters), stems s00..s(n-1).
struct SmallSet {
  TempDir tmp;
  Dataset ds;
  explicit SmallSet(int n = 7) {
    for (int k = 0; k < n; ++k) {
      const int h = 20 + k, w = 30 - k;
      Image img(h, w, 3), m(h, w, 1), fov(h, w, 1, 255);
      for (size_t i = 0; i < img.px.size(); ++i) img.px[i] = uint8_t((i * 29 + k * 53) % 256);
      for (size_t i = 0; i < m.px.size(); ++i) m.px[i] = uint8_t(((i / w) + k) % 3 == 0 ? 255 : 0);
      char stem[8];
      std::snprintf(stem, sizeof stem, "s%02d", k);
      cq::testing::write_png_file(tmp / ("d/images/" + std::string(stem) + ".png"), img);
      cq::testing::write_png_file(tmp / ("d/masks/" + std::string(stem) + ".png"), m);
      cq::testing::write_png_file(tmp / ("d/fov/" + std::string(stem) + ".png"), fov);
    }
    DatasetOptions o;
    o.print_warnings = false;
    ds = Dataset::open_dir(tmp / "d", o);
  }
};

// A transform that uses its generator for geometry and pixel values: horizontal flip p=.5 and noise.
Sample noisy_flip(Sample s, Rng& rng) {
  if (rng.bernoulli(0.5)) {
    for (Image* im : {&s.image, &s.mask, &s.fov}) {
      Image out(im->h, im->w, im->c);
      for (int y = 0; y < im->h; ++y)
        for (int x = 0; x < im->w; ++x)
          for (int c = 0; c < im->c; ++c) out.at(y, x, c) = im->at(y, im->w - 1 - x, c);
      *im = std::move(out);
    }
  }
  for (uint8_t& v : s.image.px) v = uint8_t(std::min(255.0, std::max(0.0, v + 10.0 * rng.normal())));
  return s;
}

struct Flat {
  std::vector<size_t> indices;
  std::vector<float> images;
  std::vector<int64_t> masks;
  std::vector<uint8_t> fov;
};

std::vector<Flat> run_epochs(const Dataset& ds, LoaderOptions o, int epochs) {
  Context ctx = cq::testing::make_ctx();
  Loader loader(ds, ctx.runtime_ptr(), o);
  std::vector<Flat> out;
  for (int e = 0; e < epochs; ++e) {
    loader.start_epoch(e);
    Batch b;
    int64_t k = 0;
    while (loader.next(&b)) {
      EXPECT_EQ(b.epoch, e);
      EXPECT_EQ(b.index, k++);
      out.push_back({b.indices, b.images.to_vector<float>(), b.masks.to_vector<int64_t>(), b.fov.to_vector<uint8_t>()});
    }
    EXPECT_EQ(size_t(k), loader.batches_per_epoch());
  }
  return out;
}

LoaderOptions opts(int workers, uint64_t seed = 5) {
  LoaderOptions o;
  o.batch_size = 3;
  o.out_h = 16;
  o.out_w = 24;
  o.workers = workers;
  o.seed = seed;
  o.transform = noisy_flip;
  return o;
}

}  // namespace

TEST(DataLoader, OrderAndShapes) {
  SmallSet s(7);
  LoaderOptions o = opts(2);
  o.shuffle = false;
  o.transform = nullptr;
  std::vector<Flat> r = run_epochs(s.ds, o, 1);
  ASSERT_EQ(r.size(), 3u);  // 3 + 3 + 1
  EXPECT_EQ(r[0].indices, (std::vector<size_t>{0, 1, 2}));
  EXPECT_EQ(r[2].indices, (std::vector<size_t>{6}));
  // Batch content = decode + cubic/nearest resize + normalisation of those samples.
  Context ctx = cq::testing::make_ctx();
  Sample s1 = s.ds.load(1);
  Tensor want = images_to_tensor(ctx, {resize_cubic(s1.image, 16, 24)});
  std::vector<float> w = want.to_vector<float>();
  EXPECT_EQ(std::vector<float>(r[0].images.begin() + w.size(), r[0].images.begin() + 2 * w.size()), w);
  Image m1 = resize_nearest(s1.mask, 16, 24);
  EXPECT_EQ(r[0].masks[16 * 24 + 5], int64_t(m1.px[5]));

  o.drop_last = true;
  EXPECT_EQ(run_epochs(s.ds, o, 1).size(), 2u);
  Context c2 = cq::testing::make_ctx();
  Loader l(s.ds, c2.runtime_ptr(), o);
  Batch b;
  EXPECT_TRUE(contains(error_of([&] { l.next(&b); }), "start_epoch"));
  l.start_epoch(0);
  ASSERT_TRUE(l.next(&b));
  EXPECT_EQ(b.images.shape(), (Shape{3, 3, 16, 24}));
  EXPECT_EQ(b.masks.shape(), (Shape{3, 16, 24}));
  EXPECT_EQ(b.masks.dtype(), DType::i64);
  EXPECT_EQ(b.fov.dtype(), DType::u8);
}

// pad_multiple without resizing (the trainer's --size native): each batch padded bottom/right to its largest size
// rounded up, the picture black, mask background, fov outside; the stored pixels unchanged at the top-left.
TEST(DataLoader, PadMultipleKeepsPixelsAndPadsWithZeros) {
  SmallSet s(7);  // sample k is (20+k) x (30-k)
  Context ctx = cq::testing::make_ctx();
  LoaderOptions o;
  o.batch_size = 3, o.workers = 1, o.shuffle = false, o.pad_multiple = 16;
  Loader l(s.ds, ctx.runtime_ptr(), o);
  l.start_epoch(0);
  Batch b;
  ASSERT_TRUE(l.next(&b));  // samples 0..2: heights 20..22 -> 32, widths 30..28 -> 32
  EXPECT_EQ(b.images.shape(), (Shape{3, 3, 32, 32}));
  ASSERT_TRUE(l.next(&b));  // samples 3..5: heights 23..25 -> 32, widths 27..25 -> 32
  ASSERT_TRUE(l.next(&b));  // sample 6 alone: 26 x 24 -> 32 x 32
  EXPECT_EQ(b.masks.shape(), (Shape{1, 32, 32}));
  const Sample raw = s.ds.load(6);
  const std::vector<float> got = b.images.to_vector<float>();
  const std::vector<int64_t> m = b.masks.to_vector<int64_t>();
  const std::vector<uint8_t> f = b.fov.to_vector<uint8_t>();
  const Image black(1, 1, 3, 0);
  const std::vector<float> black_n = images_to_tensor(ctx, {black}).to_vector<float>();  // per channel
  const std::vector<float> want = images_to_tensor(ctx, {raw.image}).to_vector<float>();
  for (int c = 0; c < 3; ++c)
    for (int y = 0; y < 32; ++y)
      for (int x = 0; x < 32; ++x) {
        const size_t i = (size_t(c) * 32 + y) * 32 + x;
        const bool in = y < raw.image.h && x < raw.image.w;
        ASSERT_EQ(got[i], in ? want[(size_t(c) * raw.image.h + y) * raw.image.w + x] : black_n[c]) << c << y << x;
        if (c == 0) {
          ASSERT_EQ(m[size_t(y) * 32 + x], in ? int64_t(raw.mask.at(y, x)) : 0);
          ASSERT_EQ(f[size_t(y) * 32 + x], in ? 1 : 0);
        }
      }
  LoaderOptions bad = o;
  bad.pad_multiple = -1;
  EXPECT_TRUE(contains(error_of([&] { Loader x(s.ds, ctx.runtime_ptr(), bad); }), "pad_multiple"));
}

TEST(DataLoader, ShuffleIsAPermutationPerEpoch) {
  SmallSet s(7);
  Context ctx = cq::testing::make_ctx();
  Loader l(s.ds, ctx.runtime_ptr(), opts(0));
  std::set<std::vector<size_t>> orders;
  for (int e = 0; e < 5; ++e) {
    std::vector<size_t> ord = l.epoch_order(e);
    EXPECT_EQ(std::set<size_t>(ord.begin(), ord.end()).size(), 7u);
    orders.insert(ord);
    EXPECT_EQ(ord, l.epoch_order(e));
  }
  EXPECT_GE(orders.size(), 4u);  // epochs differ (7! orders: a repeat is unlikely)
  std::vector<Flat> r = run_epochs(s.ds, opts(2), 1);
  std::vector<size_t> seen;
  for (const Flat& f : r) seen.insert(seen.end(), f.indices.begin(), f.indices.end());
  EXPECT_EQ(seen, l.epoch_order(0));
}

// Same seed -> the same batches, bit for bit, with 0, 1 or 3 workers and any prefetch depth; another seed differs.
TEST(DataLoader, DeterministicAcrossWorkerCounts) {
  SmallSet s(7);
  const std::vector<Flat> ref = run_epochs(s.ds, opts(1), 2);
  for (int workers : {0, 3}) {
    LoaderOptions o = opts(workers);
    o.prefetch = workers == 3 ? 4 : 1;
    o.cache = workers == 3;  // caching the resized samples must not change anything either
    const std::vector<Flat> got = run_epochs(s.ds, o, 2);
    ASSERT_EQ(got.size(), ref.size());
    for (size_t i = 0; i < ref.size(); ++i) {
      EXPECT_EQ(got[i].indices, ref[i].indices) << "workers " << workers << " batch " << i;
      EXPECT_EQ(got[i].images, ref[i].images) << "workers " << workers << " batch " << i;
      EXPECT_EQ(got[i].masks, ref[i].masks);
      EXPECT_EQ(got[i].fov, ref[i].fov);
    }
  }
  const std::vector<Flat> other = run_epochs(s.ds, opts(1, 6), 2);
  EXPECT_NE(other[0].images, ref[0].images);
  // Epoch 1 differs from epoch 0 for the same sample (its generator depends on the epoch).
  EXPECT_NE(Loader::sample_seed(5, 0, 3), Loader::sample_seed(5, 1, 3));
}

TEST(DataLoader, AbandonedEpochAndRestart) {
  SmallSet s(7);
  Context ctx = cq::testing::make_ctx();
  const std::vector<Flat> ref = run_epochs(s.ds, opts(2), 2);
  Loader l(s.ds, ctx.runtime_ptr(), opts(2));
  Batch b;
  l.start_epoch(0);
  ASSERT_TRUE(l.next(&b));  // leave epoch 0 after one batch; its prefetched work is dropped
  l.start_epoch(1);
  ASSERT_TRUE(l.next(&b));
  EXPECT_EQ(b.epoch, 1);
  EXPECT_EQ(b.images.to_vector<float>(), ref[3].images);  // epoch 1's first batch
  while (l.next(&b)) {
  }
  EXPECT_FALSE(l.next(&b));  // stays at the end until the next start_epoch
  // Finishing epoch 1 and asking for epoch 1 again (not 2) restarts the stream at epoch 1.
  l.start_epoch(1);
  ASSERT_TRUE(l.next(&b));
  EXPECT_EQ(b.epoch, 1);
  EXPECT_EQ(b.index, 0);
  EXPECT_EQ(b.images.to_vector<float>(), ref[3].images);
}

TEST(DataLoader, ErrorsReachTheConsumer) {
  SmallSet s(4);
  for (int workers : {0, 2}) {
    LoaderOptions o = opts(workers);
    o.transform = [](Sample smp, Rng&) -> Sample {
      if (smp.stem == "s02") fail("augment: broken on ", smp.stem);
      return smp;
    };
    o.shuffle = false;
    Context ctx = cq::testing::make_ctx();
    Loader l(s.ds, ctx.runtime_ptr(), o);
    l.start_epoch(0);
    Batch b;
    EXPECT_TRUE(contains(error_of([&] { l.next(&b); }), "broken on s02"));
    // A transform that changes the size is caught with the sample named.
    o.transform = [](Sample smp, Rng&) { smp.mask = Image(3, 3, 1); return smp; };
    Loader l2(s.ds, ctx.runtime_ptr(), o);
    l2.start_epoch(0);
    const std::string e = error_of([&] { l2.next(&b); });
    EXPECT_TRUE(contains(e, "s00") && contains(e, "mask")) << e;
  }
  // Without require_masks a sample may lack its mask: a batch with it is refused, naming the sample.
  std::filesystem::remove(s.tmp / "d/masks/s01.png");
  DatasetOptions dopt;
  dopt.print_warnings = false;
  dopt.require_masks = false;
  Dataset partial = Dataset::open_dir(s.tmp / "d", dopt);
  LoaderOptions po = opts(1);
  po.shuffle = false;
  Context ctx = cq::testing::make_ctx();
  Loader pl(partial, ctx.runtime_ptr(), po);
  pl.start_epoch(0);
  Batch pb;
  const std::string pe = error_of([&] { pl.next(&pb); });
  EXPECT_TRUE(contains(pe, "'s01'") && contains(pe, "no mask")) << pe;
  LoaderOptions bad = opts(1);
  bad.batch_size = 0;
  EXPECT_TRUE(contains(error_of([&] { Loader(s.ds, ctx.runtime_ptr(), bad); }), "batch_size"));
}

TEST(DataLoader, KeepSamplesMatchesTensors) {
  SmallSet s(3);
  LoaderOptions o = opts(1);
  o.keep_samples = true;
  Context ctx = cq::testing::make_ctx();
  Loader l(s.ds, ctx.runtime_ptr(), o);
  l.start_epoch(0);
  Batch b;
  ASSERT_TRUE(l.next(&b));
  ASSERT_EQ(b.samples.size(), 3u);
  EXPECT_EQ(images_to_tensor(ctx, {b.samples[1].image}).to_vector<float>(),
            b.images.select(0, 1).contiguous().to_vector<float>());
  EXPECT_EQ(b.samples[1].index, b.indices[1]);
}

// Measurements for the report (DRIVE/train, 2-core machine): decode + resize time per image, and how long a trainer
// that spends 200 ms per batch waits in next() with 0 vs 2 workers.
TEST(DataLoader, DISABLED_LoaderTiming) {
  CQ_REQUIRE_SHARED("data/fundus/DRIVE/train/images");
  using clock = std::chrono::steady_clock;
  auto ms = [](clock::duration d) { return std::chrono::duration<double, std::milli>(d).count(); };
  DatasetOptions dopt;
  dopt.print_warnings = false;
  Dataset ds = Dataset::open(cq::testing::shared_dir() + "/data/fundus", "DRIVE", "train", dopt);
  double t_decode = 0;
  std::vector<Sample> samples;
  for (size_t i = 0; i < ds.size(); ++i) {
    auto t0 = clock::now();
    samples.push_back(ds.load(i));
    t_decode += ms(clock::now() - t0);
  }
  std::printf("decode (image + mask + fov, 565x584 PNG): %.1f ms per sample\n", t_decode / ds.size());
  for (auto [h, w] : {std::pair<int, int>{256, 256}, {512, 768}, {768, 512}}) {
    auto t0 = clock::now();
    for (const Sample& s : samples) {
      resize_cubic(s.image, h, w);
      resize_nearest(s.mask, h, w);
      resize_nearest(s.fov, h, w);
    }
    std::printf("resize to %dx%d (HxW; cubic image + nearest mask, fov): %.2f ms per sample\n", h, w,
                ms(clock::now() - t0) / ds.size());
  }
  for (int workers : {0, 2}) {
    Context ctx = cq::testing::make_ctx();
    LoaderOptions o;
    o.batch_size = 2;
    o.out_h = 768;
    o.out_w = 512;
    o.workers = workers;
    o.seed = 1;
    Loader l(ds, ctx.runtime_ptr(), o);
    for (int e = 0; e < 2; ++e) {
      l.start_epoch(e);
      Batch b;
      double wait = 0, first = 0, worst_later = 0;
      int n = 0;
      for (;;) {
        auto t0 = clock::now();
        if (!l.next(&b)) break;
        const double w = ms(clock::now() - t0);
        wait += w;
        if (n == 0) first = w;
        else worst_later = std::max(worst_later, w);
        ++n;
        std::this_thread::sleep_for(std::chrono::milliseconds(200));  // the training step
      }
      std::printf("workers %d epoch %d: %d batches of 2 at 768x512, trainer waited %.1f ms per batch (first %.1f, "
                  "later ones at most %.1f)\n", workers, e, n, wait / n, first, worst_later);
    }
  }
}
