// Batches for training and evaluation: decode + resize + (optional) per-sample transform on worker threads, a bounded
// number of batches ahead of the consumer, handed out in a fixed order.
//
// The batches form one stream across epochs: while the consumer finishes epoch e, workers already decode the first
// batches of e+1, so start_epoch(e+1) right after the end of e finds them ready (any other epoch restarts the stream).
//
// Determinism: the epoch's order is a Fisher-Yates shuffle driven by Rng(epoch_seed(seed, epoch)), and each sample's
// transform gets its own Rng(sample_seed(seed, epoch, dataset index)). Batch k of epoch e is therefore the same
// tensors whatever the number of workers, the prefetch depth or the thread timing.
#pragma once
#include <condition_variable>
#include <cstdint>
#include <exception>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

#include "data/dataset.h"
#include "tensor/rng.h"

namespace cq::data {

// A per-sample transform (augmentation): gets the resized uint8 sample and its own generator; returns a sample of the
// same output size (image 3 channels, mask and fov 1 channel).
using Transform = std::function<Sample(Sample, Rng&)>;

struct LoaderOptions {
  int batch_size = 2;
  int out_h = 0, out_w = 0;  // output size; 0,0 keeps the stored size (then a batch's samples must share it)
  int workers = 2;           // 0: decode on the caller's thread inside next()
  int prefetch = 2;          // batches decoded ahead of the consumer (>= 1), bounding memory
  uint64_t seed = 0;
  bool shuffle = true;
  bool drop_last = false;     // drop the final short batch
  bool cache = false;         // keep decoded+resized samples in memory (the transform still runs every epoch)
  bool keep_samples = false;  // also hand out the uint8 samples (after transform) in Batch::samples
  Transform transform;        // empty: none
  // > 0: every plane of a batch padded at the bottom/right (data::pad_bottom_right: black, background, outside the
  // fov) to the batch's largest height and width rounded up to this multiple (32 for the U-Net's native-size mode).
  int pad_multiple = 0;
  // Data parallelism (dist/): batch_size is the global batch; this loader hands out only part `shard` of `shards` of
  // each batch: samples [n*shard/shards, n*(shard+1)/shards) of a batch of n (a balanced split; a part may be empty
  // when n < shards). Order, transforms and seeds are those of the unsharded loader.
  int shard = 0, shards = 1;
};

struct Batch {
  int64_t epoch = 0, index = 0;  // index: position of this batch within its epoch
  std::vector<size_t> indices;   // dataset indices of its samples (empty: this shard has none of the batch)
  int64_t global_size = 0;       // samples of the whole batch over all shards (== indices.size() unsharded)
  Tensor images;                 // f32 [N,3,H,W], ImageNet-normalised
  Tensor masks;                  // i64 [N,H,W] class indices; undefined when the dataset has no masks
  Tensor fov;                    // u8 [N,H,W] 0/1; undefined when the dataset has no fov
  Tensor images2;                // f32 [N,3,H,W] second view (CQG x2) when the transform sets image2, else undefined
  std::vector<Sample> samples;   // when keep_samples
};

class Loader {
 public:
  Loader(Dataset ds, std::shared_ptr<Runtime> rt, LoaderOptions opts);
  ~Loader();
  Loader(const Loader&) = delete;
  Loader& operator=(const Loader&) = delete;

  // Begins epoch `epoch` (any order, any repeat; e+1 after finishing e keeps the prefetched batches).
  void start_epoch(int64_t epoch);
  // The next batch of the current epoch into *out; false when the epoch is done. Rethrows a worker's cq::Error.
  bool next(Batch* out);

  size_t batches_per_epoch() const;
  const Dataset& dataset() const { return ds_; }
  const LoaderOptions& options() const { return opts_; }
  // Dataset indices in the order epoch `epoch` visits them.
  std::vector<size_t> epoch_order(int64_t epoch) const;
  // One sample decoded, resized and transformed exactly as it would be in a batch of epoch `epoch`.
  Sample prepare(size_t index, int64_t epoch);

  static uint64_t epoch_seed(uint64_t seed, int64_t epoch);
  static uint64_t sample_seed(uint64_t seed, int64_t epoch, size_t index);

 private:
  struct Slot {
    Batch batch;
    std::exception_ptr error;
  };
  struct Job {
    int64_t epoch = 0, index = 0;
    std::vector<size_t> indices;
    size_t global_size = 0;
  };
  Batch build(const Job& j);
  Job job(int64_t seq);  // batch number seq of the stream; needs mu_ (or no workers)
  void worker_loop();

  Dataset ds_;
  std::shared_ptr<Runtime> rt_;
  LoaderOptions opts_;

  std::mutex cache_mu_;
  std::vector<std::optional<Sample>> cache_;

  std::mutex mu_;
  std::condition_variable work_cv_, ready_cv_;
  bool started_ = false, stop_ = false;
  uint64_t generation_ = 0;  // bumped by start_epoch so work of an abandoned epoch is dropped
  int64_t first_epoch_ = 0;  // the epoch the stream started at; stream position seq = batch seq % nbatches_ of
                             // epoch first_epoch_ + seq / nbatches_
  int64_t epoch_ = 0, nbatches_ = 1, next_claim_ = 0, next_return_ = 0;
  std::map<int64_t, std::vector<size_t>> orders_;  // epoch -> order, for the few epochs the stream spans
  std::map<int64_t, Slot> ready_;
  std::vector<std::thread> threads_;
};

}  // namespace cq::data
