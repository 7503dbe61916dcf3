#include "dist/overlapped_reducer.h"

#include <algorithm>
#include <chrono>
#include <cstring>

#include "dist/rank_order_sum.h"
#include "tensor/error.h"

namespace cq::dist {

OverlappedGradientReducer::OverlappedGradientReducer(Communicator& comm, std::vector<Tensor> params,
                                                     int64_t bucket_bytes)
    : comm_(comm), params_(std::move(params)) {
  CQ_CHECK(comm_.allows_helper_thread(), "OverlappedGradientReducer: ", comm_.describe(),
           " does not allow calls from a communication thread");
  const int64_t bucket_elems = std::max<int64_t>(bucket_bytes, 1024) / int64_t(sizeof(float));
  bucket_of_.assign(params_.size(), 0);
  // Reverse registration order: backward completes the last layers' gradients first.
  for (size_t k = params_.size(); k-- > 0;) {
    const Tensor& p = params_[k];
    CQ_CHECK(p.dtype() == DType::f32 && p.is_leaf(), "OverlappedGradientReducer: parameters must be f32 leaves, got ",
             p.describe());
    if (buckets_.empty() || (!buckets_.back().members.empty() &&
                             int64_t(buckets_.back().buf.size()) + p.numel() > bucket_elems))
      buckets_.emplace_back();
    Bucket& b = buckets_.back();
    b.members.push_back(k);
    b.offsets.push_back(int64_t(b.buf.size()));
    b.buf.resize(b.buf.size() + size_t(p.numel()));
    bucket_of_[k] = buckets_.size() - 1;
  }
  for (Bucket& b : buckets_) b.buf.resize(b.buf.size() + b.members.size());  // presence flags
  for (size_t k = 0; k < params_.size(); ++k) params_[k].set_post_accumulate_grad_hook([this, k] { on_ready(k); });
  thread_ = std::thread([this] { comm_loop(); });
}

OverlappedGradientReducer::~OverlappedGradientReducer() {
  for (const Tensor& p : params_) p.set_post_accumulate_grad_hook(nullptr);
  {
    std::lock_guard<std::mutex> lk(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  thread_.join();
}

int64_t OverlappedGradientReducer::gradient_bytes() const {
  int64_t n = 0;
  for (const Tensor& p : params_) n += p.numel() * int64_t(sizeof(float));
  return n;
}

void OverlappedGradientReducer::begin(double weight) {
  std::lock_guard<std::mutex> lk(mu_);
  CQ_CHECK(!armed_, "OverlappedGradientReducer: begin() twice without finish()");
  weight_ = weight;
  for (Bucket& b : buckets_) b.pending = int(b.members.size()), b.submitted = false;
  next_ = 0;
  error_ = nullptr;
  armed_ = true;
}

void OverlappedGradientReducer::on_ready(size_t param) {
  if (!armed_) return;  // a backward outside a training step (tests, gradient checks): nothing to send
  const size_t b = bucket_of_[param];
  if (--buckets_[b].pending == 0) pack(b);
}

void OverlappedGradientReducer::pack(size_t bi) {
  Bucket& b = buckets_[bi];
  const size_t flags = b.buf.size() - b.members.size();
  const bool exact = weight_ == 1.0;
  for (size_t m = 0; m < b.members.size(); ++m) {
    const Tensor& p = params_[b.members[m]];
    float* dst = b.buf.data() + b.offsets[m];
    const Tensor g = p.grad();
    if (!g.defined()) {
      std::fill(dst, dst + p.numel(), 0.0f);
      b.buf[flags + m] = 0.0f;
      continue;
    }
    const Tensor h = g.to(Device::cpu()).contiguous();
    const float* src = h.data<float>();
    // The product every reducer forms (dist/rank_order_sum.h); a weight of 1 leaves the bits, so copy them.
    if (exact)
      std::memcpy(dst, src, sizeof(float) * size_t(p.numel()));
    else
      for (int64_t i = 0; i < p.numel(); ++i) dst[i] = weighted_gradient(src[i], weight_);
    b.buf[flags + m] = 1.0f;
  }
  {
    std::lock_guard<std::mutex> lk(mu_);
    b.submitted = true;
  }
  cv_.notify_all();
}

void OverlappedGradientReducer::comm_loop() {
  std::unique_lock<std::mutex> lk(mu_);
  for (;;) {
    cv_.wait(lk, [&] { return stop_ || (armed_ && next_ < buckets_.size() && buckets_[next_].submitted && !error_); });
    if (stop_) return;
    Bucket& b = buckets_[next_];
    lk.unlock();
    std::exception_ptr err;
    try {
      comm_.sum_floats(b.buf.data(), int64_t(b.buf.size()));
    } catch (...) {
      err = std::current_exception();
    }
    lk.lock();
    if (err) error_ = err;
    else ++next_;
    cv_.notify_all();
  }
}

void OverlappedGradientReducer::finish() {
  CQ_CHECK(armed_, "OverlappedGradientReducer: finish() without begin()");
  const auto t0 = std::chrono::steady_clock::now();
  size_t early = 0;
  for (size_t bi = 0; bi < buckets_.size(); ++bi) {
    bool sent;
    {
      std::lock_guard<std::mutex> lk(mu_);
      sent = buckets_[bi].submitted;
    }
    if (sent) ++early;
    else pack(bi);  // members without a gradient on this rank go as zeros, flagged absent
  }
  std::exception_ptr err;
  {
    std::unique_lock<std::mutex> lk(mu_);
    cv_.wait(lk, [&] { return next_ == buckets_.size() || error_; });
    err = error_;
    armed_ = false;
  }
  last_wait_s_ = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  last_early_ = early;
  if (err) std::rethrow_exception(err);
  for (Bucket& b : buckets_) {
    const size_t flags = b.buf.size() - b.members.size();
    for (size_t m = 0; m < b.members.size(); ++m) {
      if (b.buf[flags + m] <= 0.0f) continue;  // no rank had a gradient: stays undefined, as in one process
      Tensor p = params_[b.members[m]];
      if (!p.grad().defined()) p.set_grad(p.new_zeros(p.shape()));
      Tensor g = p.grad();
      Tensor h = g.to(Device::cpu()).contiguous();
      std::memcpy(h.data<float>(), b.buf.data() + b.offsets[m], sizeof(float) * size_t(p.numel()));
      if (h.storage() != g.storage() || h.offset() != g.offset() || !g.is_contiguous()) g.copy_(h);
    }
  }
}

}  // namespace cq::dist
