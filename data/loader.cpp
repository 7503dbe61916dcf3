#include "data/loader.h"

#include <algorithm>
#include <numeric>

#include "data/resize.h"
#include "tensor/error.h"

namespace cq::data {
namespace {

uint64_t mix64(uint64_t z) {  // splitmix64's finaliser: a bijection that scatters nearby inputs
  z += 0x9e3779b97f4a7c15ULL;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

void check_sample(const Sample& s, int h, int w, bool masks, bool fov) {
  const std::string where = "loader: sample '" + s.stem + "' after transform: ";
  CQ_CHECK(s.image.c == 3 && s.image.px.size() == size_t(s.image.h) * s.image.w * 3, where, "image must be RGB, is ",
           s.image.c, "-channel ", s.image.h, "x", s.image.w);
  CQ_CHECK(h == 0 || (s.image.h == h && s.image.w == w), where, "image is ", s.image.h, "x", s.image.w,
           " (HxW), expected ", h, "x", w);
  if (masks)
    CQ_CHECK(s.mask.c == 1 && s.mask.h == s.image.h && s.mask.w == s.image.w, where, "mask is ", s.mask.c,
             "-channel ", s.mask.h, "x", s.mask.w, ", image ", s.image.h, "x", s.image.w);
  if (fov)
    CQ_CHECK(s.fov.c == 1 && s.fov.h == s.image.h && s.fov.w == s.image.w, where, "fov is ", s.fov.c, "-channel ",
             s.fov.h, "x", s.fov.w, ", image ", s.image.h, "x", s.image.w);
  if (!s.image2.empty())
    CQ_CHECK(s.image2.c == 3 && s.image2.h == s.image.h && s.image2.w == s.image.w, where, "second view is ",
             s.image2.c, "-channel ", s.image2.h, "x", s.image2.w, ", image ", s.image.h, "x", s.image.w);
}

}  // namespace

uint64_t Loader::epoch_seed(uint64_t seed, int64_t epoch) {
  return mix64(mix64(seed ^ 0x6c6f616465727368ULL) + uint64_t(epoch));  // tag keeps it apart from sample seeds
}
uint64_t Loader::sample_seed(uint64_t seed, int64_t epoch, size_t index) {
  return mix64(mix64(mix64(seed ^ 0x73616d706c65ULL) + uint64_t(epoch)) + uint64_t(index));
}

Loader::Loader(Dataset ds, std::shared_ptr<Runtime> rt, LoaderOptions opts)
    : ds_(std::move(ds)), rt_(std::move(rt)), opts_(std::move(opts)) {
  CQ_CHECK(rt_ != nullptr, "Loader: no runtime given");
  CQ_CHECK(opts_.batch_size >= 1, "Loader: batch_size must be >= 1, got ", opts_.batch_size);
  CQ_CHECK(opts_.workers >= 0 && opts_.workers <= 64, "Loader: workers must be in 0..64, got ", opts_.workers);
  CQ_CHECK(opts_.pad_multiple >= 0 && opts_.pad_multiple <= 1024, "Loader: pad_multiple must be in 0..1024, got ",
           opts_.pad_multiple);
  CQ_CHECK(opts_.prefetch >= 1, "Loader: prefetch must be >= 1, got ", opts_.prefetch);
  CQ_CHECK(opts_.shards >= 1 && opts_.shard >= 0 && opts_.shard < opts_.shards, "Loader: shard ", opts_.shard,
           " of ", opts_.shards, " is out of range");
  CQ_CHECK((opts_.out_h == 0) == (opts_.out_w == 0) && opts_.out_h >= 0 && opts_.out_w >= 0,
           "Loader: output size must be both positive or both 0 (keep), got ", opts_.out_h, "x", opts_.out_w);
  CQ_CHECK(ds_.size() > 0, "Loader: dataset ", ds_.dir(), " is empty");
  CQ_CHECK(batches_per_epoch() > 0, "Loader: drop_last with batch_size ", opts_.batch_size, " leaves no batch of ",
           ds_.size(), " samples in ", ds_.dir());
  cache_.resize(ds_.size());
  for (int i = 0; i < opts_.workers; ++i) threads_.emplace_back([this] { worker_loop(); });
}

Loader::~Loader() {
  {
    std::lock_guard<std::mutex> lk(mu_);
    stop_ = true;
  }
  work_cv_.notify_all();
  for (std::thread& t : threads_) t.join();
}

size_t Loader::batches_per_epoch() const {
  const size_t n = ds_.size(), b = size_t(opts_.batch_size);
  return opts_.drop_last ? n / b : (n + b - 1) / b;
}

std::vector<size_t> Loader::epoch_order(int64_t epoch) const {
  std::vector<size_t> order(ds_.size());
  std::iota(order.begin(), order.end(), size_t(0));
  if (opts_.shuffle) {
    Rng rng(epoch_seed(opts_.seed, epoch));
    for (size_t i = order.size(); i > 1; --i) std::swap(order[i - 1], order[rng.below(i)]);
  }
  return order;
}

Loader::Job Loader::job(int64_t seq) {
  Job j;
  j.epoch = first_epoch_ + seq / nbatches_;
  j.index = seq % nbatches_;
  auto it = orders_.find(j.epoch);
  if (it == orders_.end()) {
    while (orders_.size() > 2) orders_.erase(orders_.begin());  // the stream only moves forward
    it = orders_.emplace(j.epoch, epoch_order(j.epoch)).first;
  }
  const std::vector<size_t>& order = it->second;
  const size_t lo = size_t(j.index) * opts_.batch_size, hi = std::min(order.size(), lo + size_t(opts_.batch_size));
  const size_t n = hi - lo, k = size_t(opts_.shards), r = size_t(opts_.shard);
  j.global_size = n;
  j.indices.assign(order.begin() + lo + n * r / k, order.begin() + lo + n * (r + 1) / k);
  return j;
}

void Loader::start_epoch(int64_t epoch) {
  {
    std::lock_guard<std::mutex> lk(mu_);
    const bool continues = started_ && epoch == epoch_ + 1 && next_return_ == (epoch_ - first_epoch_ + 1) * nbatches_;
    epoch_ = epoch;
    if (!continues) {  // a jump (or the first call): drop the stream and start a new one at this epoch
      ++generation_;
      started_ = true;
      first_epoch_ = epoch;
      nbatches_ = int64_t(batches_per_epoch());
      next_claim_ = next_return_ = 0;
      ready_.clear();
      orders_.clear();
    }
  }
  work_cv_.notify_all();
}

Sample Loader::prepare(size_t index, int64_t epoch) {
  Sample s;
  bool cached = false;
  if (opts_.cache) {
    std::lock_guard<std::mutex> lk(cache_mu_);
    if (cache_[index]) s = *cache_[index], cached = true;
  }
  if (!cached) {
    s = ds_.load(index);
    if (opts_.out_h > 0) {
      // Bicubic for the picture, nearest for label planes: a label must never be a blend of two classes.
      s.image = resize_cubic(s.image, opts_.out_h, opts_.out_w);
      if (!s.mask.empty()) s.mask = resize_nearest(s.mask, opts_.out_h, opts_.out_w);
      if (!s.fov.empty()) s.fov = resize_nearest(s.fov, opts_.out_h, opts_.out_w);
    }
    if (opts_.cache) {
      std::lock_guard<std::mutex> lk(cache_mu_);
      cache_[index] = s;
    }
  }
  if (opts_.transform) {
    Rng rng(sample_seed(opts_.seed, epoch, index));
    s = opts_.transform(std::move(s), rng);
  }
  check_sample(s, opts_.out_h, opts_.out_w, !ds_.files(index).mask.empty(), !ds_.files(index).fov.empty());
  return s;
}

Batch Loader::build(const Job& j) {
  const int64_t epoch = j.epoch, index = j.index;
  const std::vector<size_t>& indices = j.indices;
  Batch b;
  b.epoch = epoch;
  b.index = index;
  b.indices = indices;
  b.global_size = int64_t(j.global_size);
  if (indices.empty()) return b;  // a shard with no sample of this (short) batch
  std::vector<Sample> samples;
  samples.reserve(indices.size());
  for (size_t i : indices) samples.push_back(prepare(i, epoch));
  std::vector<Image> images, masks, fovs, images2;
  // A second view is all or nothing within a batch (one transform makes every sample).
  size_t n2 = 0;
  for (const Sample& s : samples) n2 += s.image2.empty() ? 0 : 1;
  CQ_CHECK(n2 == 0 || n2 == samples.size(), "loader: the transform set a second view for ", n2, " of ",
           samples.size(), " samples of batch ", index);
  if (opts_.pad_multiple > 0) {
    const int m = opts_.pad_multiple;
    int h = 0, w = 0;
    for (const Sample& s : samples) h = std::max(h, s.image.h), w = std::max(w, s.image.w);
    h = (h + m - 1) / m * m, w = (w + m - 1) / m * m;
    for (Sample& s : samples) {
      s.image = pad_bottom_right(s.image, h, w);
      if (!s.image2.empty()) s.image2 = pad_bottom_right(s.image2, h, w);
      if (!s.mask.empty()) s.mask = pad_bottom_right(s.mask, h, w);
      if (!s.fov.empty()) s.fov = pad_bottom_right(s.fov, h, w);
    }
  }
  for (Sample& s : samples) {
    // Without require_masks a folder may lack some masks; a batch cannot mix labelled and unlabelled samples.
    CQ_CHECK(!ds_.has_masks() || !s.mask.empty(), "loader: sample '", s.stem, "' of ", ds_.dir(),
             " has no mask while the dataset has a masks folder (give every image a mask, or none)");
    images.push_back(std::move(s.image));
    if (n2 > 0) images2.push_back(std::move(s.image2));
    if (ds_.has_masks()) masks.push_back(std::move(s.mask));
    if (ds_.has_fov()) fovs.push_back(std::move(s.fov));
  }
  b.images = images_to_tensor(rt_, images);
  if (!images2.empty()) b.images2 = images_to_tensor(rt_, images2);
  if (!masks.empty()) b.masks = masks_to_tensor(rt_, masks);
  if (!fovs.empty()) b.fov = planes_to_u8_tensor(rt_, fovs);
  if (opts_.keep_samples) {
    for (size_t k = 0; k < samples.size(); ++k) {
      samples[k].image = std::move(images[k]);
      if (!images2.empty()) samples[k].image2 = std::move(images2[k]);
      if (!masks.empty()) samples[k].mask = std::move(masks[k]);
      if (!fovs.empty()) samples[k].fov = std::move(fovs[k]);
    }
    b.samples = std::move(samples);
  }
  return b;
}

void Loader::worker_loop() {
  std::unique_lock<std::mutex> lk(mu_);
  for (;;) {
    work_cv_.wait(lk, [&] {
      return stop_ || (started_ && next_claim_ < next_return_ + opts_.prefetch);
    });
    if (stop_) return;
    const int64_t b = next_claim_++;
    const uint64_t gen = generation_;
    const Job j = job(b);
    lk.unlock();
    Slot slot;
    try {
      slot.batch = build(j);
    } catch (...) {
      slot.error = std::current_exception();  // handed to the consumer at this batch's turn
    }
    lk.lock();
    if (gen == generation_) {
      ready_[b] = std::move(slot);
      ready_cv_.notify_all();
    }
  }
}

bool Loader::next(Batch* out) {
  CQ_CHECK(out != nullptr, "Loader::next: null output");
  std::unique_lock<std::mutex> lk(mu_);
  CQ_CHECK(started_, "Loader::next: call start_epoch first");
  const int64_t b = next_return_;
  if (b >= (epoch_ - first_epoch_ + 1) * nbatches_) return false;  // this epoch is done
  if (threads_.empty()) {
    next_return_++;
    const Job j = job(b);
    lk.unlock();
    *out = build(j);
    return true;
  }
  ready_cv_.wait(lk, [&] { return ready_.count(b) != 0; });
  Slot slot = std::move(ready_[b]);
  ready_.erase(b);
  next_return_++;
  lk.unlock();
  work_cv_.notify_one();  // one slot opened: one worker is enough (waking all cost the trainer scheduler ticks)
  if (slot.error) std::rethrow_exception(slot.error);
  *out = std::move(slot.batch);
  return true;
}

}  // namespace cq::data
