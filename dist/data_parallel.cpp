#include "dist/data_parallel.h"

#include <cstring>

#include "tensor/error.h"

namespace cq::dist {
namespace {

// The host copy of t to read or write in place; write_back() stores it into t when it is not t's own memory.
struct Host {
  Tensor dev, h;
  explicit Host(const Tensor& t) : dev(t), h(t.to(Device::cpu()).contiguous()) {}
  void write_back() {
    if (h.storage() != dev.storage() || h.offset() != dev.offset() || !dev.is_contiguous()) dev.copy_(h);
  }
};

template <class T>
void sum(Communicator& c, T* p, int64_t n);
template <>
void sum<float>(Communicator& c, float* p, int64_t n) { c.sum_floats(p, n); }
template <>
void sum<double>(Communicator& c, double* p, int64_t n) { c.sum_doubles(p, n); }

template <class T>
void reduce_typed(Communicator& comm, const std::vector<Tensor>& ps, const std::vector<char>& present, double weight,
                  int64_t bucket_elems) {
  std::vector<T> buf;
  std::vector<size_t> members;
  auto flush = [&] {
    if (members.empty()) return;
    sum<T>(comm, buf.data(), int64_t(buf.size()));
    size_t off = 0;
    for (size_t i : members) {
      const Tensor& p = ps[i];
      Tensor g = p.grad();
      Host h(g);
      std::memcpy(h.h.data<T>(), buf.data() + off, sizeof(T) * size_t(p.numel()));
      h.write_back();
      off += size_t(p.numel());
    }
    buf.clear();
    members.clear();
  };
  for (size_t i = 0; i < ps.size(); ++i) {
    if (!present[i]) continue;
    const Tensor& p = ps[i];
    if (!p.grad().defined()) Tensor(p).set_grad(p.new_zeros(p.shape()));  // (a handle copy) another rank touched it
    if (!buf.empty() && int64_t(buf.size()) + p.numel() > bucket_elems) flush();
    Host h(p.grad());
    const T* g = h.h.data<T>();
    const size_t off = buf.size();
    buf.resize(off + size_t(p.numel()));
    // weight == 1 (one rank, or an even split folded elsewhere) multiplies exactly, leaving the bits unchanged.
    for (int64_t k = 0; k < p.numel(); ++k) buf[off + size_t(k)] = T(g[k] * weight);
    members.push_back(i);
  }
  flush();
}

}  // namespace

void broadcast_module(Communicator& comm, nn::Module& m) {
  if (comm.size() == 1) return;
  for (auto& kv : m.state_dict()) {
    Host h(kv.second);
    comm.broadcast(h.h.data_ptr(), h.h.numel() * int64_t(h.h.element_size()), 0);
    h.write_back();
  }
}

void average_buffers(Communicator& comm, nn::Module& m) {
  if (comm.size() == 1) return;
  for (auto& kv : m.named_buffers()) {
    const DType dt = kv.second.dtype();
    Host h(kv.second);
    if (dt != DType::f32 && dt != DType::f64) {
      // Counters (num_batches_tracked) can differ by the steps a rank had an empty shard: rank 0's count wins.
      comm.broadcast(h.h.data_ptr(), h.h.numel() * int64_t(h.h.element_size()), 0);
      h.write_back();
      continue;
    }
    std::vector<double> v = h.h.to_vector<double>();
    comm.sum_doubles(v.data(), int64_t(v.size()));
    for (double& x : v) x /= comm.size();
    if (dt == DType::f32) {
      float* p = h.h.data<float>();
      for (size_t i = 0; i < v.size(); ++i) p[i] = float(v[i]);
    } else {
      std::memcpy(h.h.data<double>(), v.data(), v.size() * sizeof(double));
    }
    h.write_back();
  }
}

GradientReducer::GradientReducer(std::vector<Tensor> params, int64_t bucket_bytes)
    : params_(std::move(params)), bucket_bytes_(std::max<int64_t>(bucket_bytes, 1024)) {
  for (const Tensor& p : params_)
    CQ_CHECK(p.dtype() == params_.front().dtype() && (p.dtype() == DType::f32 || p.dtype() == DType::f64),
             "GradientReducer: parameters must all be f32 or all f64, got ", p.describe());
}

int64_t GradientReducer::gradient_bytes() const {
  int64_t n = 0;
  for (const Tensor& p : params_) n += p.numel() * int64_t(p.element_size());
  return n;
}

void GradientReducer::reduce(Communicator& comm, double weight) {
  if (params_.empty()) return;
  // Which parameters have a gradient on any rank (one float per parameter; summed, so > 0 means somewhere).
  std::vector<float> flags(params_.size());
  for (size_t i = 0; i < params_.size(); ++i) flags[i] = params_[i].grad().defined() ? 1.0f : 0.0f;
  comm.sum_floats(flags.data(), int64_t(flags.size()));
  std::vector<char> present(params_.size());
  for (size_t i = 0; i < params_.size(); ++i) present[i] = flags[i] > 0;
  const int64_t esz = int64_t(params_.front().element_size());
  if (params_.front().dtype() == DType::f32)
    reduce_typed<float>(comm, params_, present, weight, bucket_bytes_ / esz);
  else
    reduce_typed<double>(comm, params_, present, weight, bucket_bytes_ / esz);
}

}  // namespace cq::dist
