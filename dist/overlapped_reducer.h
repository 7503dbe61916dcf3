// The gradient sum of data-parallel training overlapped with the backward pass (docs/DISTRIBUTED.md), as PyTorch DDP
// does it: parameters are grouped into buckets of about bucket_bytes in reverse registration order (the order
// backward produces their gradients); each parameter's post-accumulate-grad hook (tensor/tensor.h) counts down its
// bucket, and a complete bucket is packed (times the rank's share) and handed to a communication thread, which sums
// the buckets over the ranks in bucket order while backward goes on computing the earlier layers' gradients.
//
// The result is bit-identical to GradientReducer::reduce after backward: each element is the same fixed rank-order
// sum (Communicator::sum_floats) of the same weighted values; only when it is sent differs. Presence travels with the
// data (one float per parameter at the end of each bucket), so a parameter without a gradient on some rank gets
// zeros there, and one no rank touched keeps an undefined gradient, as in GradientReducer.
//
// Threading: between begin() and finish() only the communication thread calls the Communicator (the caller must not:
// synchronised BatchNorm, which sums inside backward, uses GradientReducer instead). The communicator must allow
// calls from a second thread (Communicator::allows_helper_thread; MPI_THREAD_SERIALIZED for MPI).
#pragma once
#include <condition_variable>
#include <cstdint>
#include <exception>
#include <mutex>
#include <thread>
#include <vector>

#include "dist/communicator.h"
#include "tensor/tensor.h"

namespace cq::dist {

class OverlappedGradientReducer {
 public:
  // params: f32 leaves (the model's parameters, in registration order). Installs hooks on them (the destructor
  // removes them). comm must outlive this object.
  OverlappedGradientReducer(Communicator& comm, std::vector<Tensor> params, int64_t bucket_bytes = int64_t(4) << 20);
  ~OverlappedGradientReducer();
  OverlappedGradientReducer(const OverlappedGradientReducer&) = delete;
  OverlappedGradientReducer& operator=(const OverlappedGradientReducer&) = delete;

  // Before backward: gradients completed from now on are scaled by weight (this rank's share of the global batch)
  // and sent as their buckets fill. The parameters' gradients must be cleared (zero_grad) before.
  void begin(double weight);
  // After backward (or without one, on a rank whose shard of the batch is empty): sends the buckets still open,
  // waits for every sum and writes the summed gradients back. Rethrows a communication error.
  void finish();

  int64_t gradient_bytes() const;
  size_t buckets() const { return buckets_.size(); }
  // Of the last step: seconds finish() waited for the sums after backward (the communication left exposed), and
  // buckets that were already sent when backward ended.
  double last_wait_seconds() const { return last_wait_s_; }
  size_t last_sent_during_backward() const { return last_early_; }

 private:
  struct Bucket {
    std::vector<size_t> members;   // parameter indices
    std::vector<int64_t> offsets;  // of each member in buf; the presence flags follow the data
    std::vector<float> buf;
    int pending = 0;               // members whose gradient is not complete yet
    bool submitted = false;        // packed and handed to the communication thread
  };
  void on_ready(size_t param);
  void pack(size_t bucket);  // caller holds no lock; marks submitted under the lock
  void comm_loop();

  Communicator& comm_;
  std::vector<Tensor> params_;
  std::vector<size_t> bucket_of_;
  std::vector<Bucket> buckets_;
  double weight_ = 1;
  bool armed_ = false;  // between begin() and finish(): hooks pack

  std::mutex mu_;
  std::condition_variable cv_;
  size_t next_ = 0;  // the bucket the communication thread sums next
  bool stop_ = false;
  std::exception_ptr error_;
  std::thread thread_;

  double last_wait_s_ = 0;
  size_t last_early_ = 0;
};

}  // namespace cq::dist
