#include "tensor/tensor.h"

#include <cstring>
#include <sstream>

#include "tensor/autograd.h"
#include "tensor/cuda_backend.h"
#include "tensor/runtime.h"

namespace cq {

std::string shape_str(const Shape& s) {
  std::ostringstream os;
  os << "[";
  for (size_t i = 0; i < s.size(); ++i) os << (i ? "," : "") << s[i];
  os << "]";
  return os.str();
}

int64_t shape_numel(const Shape& s) {
  int64_t n = 1;
  for (int64_t d : s) n *= d;
  return n;
}

Shape contiguous_strides(const Shape& s) {
  Shape st(s.size());
  int64_t acc = 1;
  for (int64_t i = static_cast<int64_t>(s.size()) - 1; i >= 0; --i) {
    st[i] = acc;
    acc *= s[i];
  }
  return st;
}

int64_t normalize_axis(int64_t axis, int64_t rank, const char* op) {
  int64_t a = axis < 0 ? axis + rank : axis;
  CQ_CHECK(a >= 0 && a < rank, op, ": axis ", axis, " out of range for rank ", rank);
  return a;
}

Storage::Storage(std::shared_ptr<Runtime> rt, Device dev, size_t nbytes)
    : rt_(std::move(rt)), alloc_(&rt_->allocator(dev)), device_(dev), nbytes_(nbytes) {
  data_ = alloc_->allocate(nbytes);
}

Storage::~Storage() { alloc_->deallocate(data_, nbytes_); }

Tensor Tensor::empty(const std::shared_ptr<Runtime>& rt, const Shape& shape, DType dt, Device dev) {
  CQ_CHECK(rt, "Tensor::empty: no runtime");
  CQ_CHECK(dt != DType::bf16 && dt != DType::f16, "Tensor::empty: dtype ", dtype_name(dt),
           " is reserved; no kernel computes in it yet");
  CQ_CHECK(shape.size() <= static_cast<size_t>(8), "Tensor::empty: rank ", shape.size(), " > 8 for shape ",
           shape_str(shape));
  for (int64_t d : shape) CQ_CHECK(d >= 0, "Tensor::empty: negative size in shape ", shape_str(shape));
  auto impl = std::make_shared<TensorImpl>();
  impl->storage = std::make_shared<Storage>(rt, dev, static_cast<size_t>(shape_numel(shape)) * dtype_size(dt));
  impl->shape = shape;
  impl->strides = contiguous_strides(shape);
  impl->dtype = dt;
  return Tensor(std::move(impl));
}

Tensor Tensor::new_empty(const Shape& shape, DType dt) const { return empty(runtime_ptr(), shape, dt, device()); }

Tensor Tensor::new_zeros(const Shape& shape, DType dt) const {
  Tensor t = new_empty(shape, dt);
  t.fill_(0.0);
  return t;
}

Tensor Tensor::new_full(const Shape& shape, double value, DType dt) const {
  Tensor t = new_empty(shape, dt);
  t.fill_(value);
  return t;
}

int64_t Tensor::size(int64_t axis) const { return shape()[normalize_axis(axis, dim(), "Tensor::size")]; }

bool Tensor::is_contiguous() const {
  int64_t expect = 1;
  for (int64_t i = dim() - 1; i >= 0; --i) {
    if (shape()[i] == 1) continue;
    if (strides()[i] != expect) return false;
    expect *= shape()[i];
  }
  return true;
}

std::string Tensor::describe() const {
  if (!defined()) return "undefined";
  return std::string(dtype_name(dtype())) + shape_str(shape()) + " " + device().str();
}

void* Tensor::data_ptr() const {
  return static_cast<char*>(impl().storage->data()) + offset() * static_cast<int64_t>(element_size());
}

template <class T>
std::vector<T> Tensor::to_vector() const {
  Tensor c = to(Device::cpu()).to(dtype_of<T>::value).contiguous();
  std::vector<T> out(static_cast<size_t>(c.numel()));
  if (!out.empty()) std::memcpy(out.data(), c.data_ptr(), out.size() * sizeof(T));
  return out;
}
template std::vector<float> Tensor::to_vector<float>() const;
template std::vector<double> Tensor::to_vector<double>() const;
template std::vector<uint8_t> Tensor::to_vector<uint8_t>() const;
template std::vector<int32_t> Tensor::to_vector<int32_t>() const;
template std::vector<int64_t> Tensor::to_vector<int64_t>() const;

double Tensor::item() const {
  CQ_CHECK(numel() == 1, "Tensor::item: tensor ", describe(), " has ", numel(), " elements, not 1");
  return to_vector<double>()[0];
}

Tensor make_view(const Tensor& base, const Shape& shape, const Shape& strides, int64_t offset) {
  auto impl = std::make_shared<TensorImpl>();
  impl->storage = base.storage();
  impl->shape = shape;
  impl->strides = strides;
  impl->offset = offset;
  impl->dtype = base.dtype();
  return Tensor(std::move(impl));
}

Tensor& Tensor::set_requires_grad(bool on) {
  CQ_CHECK(!on || is_floating(dtype()), "Tensor::set_requires_grad: only floating tensors can require grad, got ",
           describe());
  CQ_CHECK(is_leaf() || on, "Tensor::set_requires_grad(false) on a non-leaf: use detach()");
  impl().requires_grad = on;
  return *this;
}

Tensor Tensor::detach() const { return make_view(*this, shape(), strides(), offset()); }

}  // namespace cq
