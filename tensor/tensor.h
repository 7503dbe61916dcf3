// Tensor: a strided view (shape, strides in elements, offset) of refcounted storage, with a dtype, a device and
// autograd metadata. Copying a Tensor copies a handle; views share storage. Ops live in kernels/ as free functions.
#pragma once
#include <cstdint>
#include <initializer_list>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "tensor/device.h"
#include "tensor/dtype.h"
#include "tensor/error.h"

namespace cq {

using Shape = std::vector<int64_t>;
class Runtime;
class Allocator;
struct Node;

std::string shape_str(const Shape& s);
int64_t shape_numel(const Shape& s);
Shape contiguous_strides(const Shape& s);
// Resolves a possibly negative axis against rank; throws naming the op when out of range.
int64_t normalize_axis(int64_t axis, int64_t rank, const char* op);

class Storage {
 public:
  Storage(std::shared_ptr<Runtime> rt, Device dev, size_t nbytes);
  ~Storage();
  Storage(const Storage&) = delete;
  Storage& operator=(const Storage&) = delete;
  void* data() const { return data_; }
  size_t nbytes() const { return nbytes_; }
  Device device() const { return device_; }
  const std::shared_ptr<Runtime>& runtime() const { return rt_; }

 private:
  std::shared_ptr<Runtime> rt_;
  Allocator* alloc_;
  Device device_;
  void* data_ = nullptr;
  size_t nbytes_ = 0;
};

struct TensorImpl {
  std::shared_ptr<Storage> storage;
  Shape shape;
  Shape strides;
  int64_t offset = 0;
  DType dtype = DType::f32;
  bool requires_grad = false;
  std::shared_ptr<TensorImpl> grad;  // accumulated gradient (leaves, and non-leaves after retain_grad)
  std::shared_ptr<Node> grad_fn;     // the op that produced this tensor, when it is part of a graph
  // Leaves: called by backward as soon as this tensor's .grad holds the pass's whole contribution (every use in the
  // graph has delivered), while the rest of the pass still runs (PyTorch's post-accumulate-grad hook; data-parallel
  // training starts summing a bucket of gradients over the ranks there, overlapping communication with backward).
  std::function<void()> post_accumulate_grad_hook;
};

class Tensor {
 public:
  Tensor() = default;
  explicit Tensor(std::shared_ptr<TensorImpl> impl) : impl_(std::move(impl)) {}

  // Uninitialised contiguous tensor owned by runtime rt on device dev.
  static Tensor empty(const std::shared_ptr<Runtime>& rt, const Shape& shape, DType dt, Device dev);
  // Same runtime and device as this tensor.
  Tensor new_empty(const Shape& shape, DType dt) const;
  Tensor new_empty(const Shape& shape) const { return new_empty(shape, dtype()); }
  Tensor new_zeros(const Shape& shape, DType dt) const;
  Tensor new_zeros(const Shape& shape) const { return new_zeros(shape, dtype()); }
  Tensor new_full(const Shape& shape, double value, DType dt) const;
  Tensor new_full(const Shape& shape, double value) const { return new_full(shape, value, dtype()); }
  Tensor new_scalar(double value) const { return new_full({}, value, dtype()); }

  bool defined() const { return impl_ != nullptr; }
  const Shape& shape() const { return impl().shape; }
  const Shape& strides() const { return impl().strides; }
  int64_t offset() const { return impl().offset; }
  int64_t dim() const { return static_cast<int64_t>(impl().shape.size()); }
  int64_t size(int64_t axis) const;
  int64_t numel() const { return shape_numel(impl().shape); }
  DType dtype() const { return impl().dtype; }
  Device device() const { return impl().storage->device(); }
  bool is_contiguous() const;
  size_t element_size() const { return dtype_size(dtype()); }
  // "f32[2,3] cpu": used in every error message about this tensor.
  std::string describe() const;

  Runtime& runtime() const { return *impl().storage->runtime(); }
  const std::shared_ptr<Runtime>& runtime_ptr() const { return impl().storage->runtime(); }
  const std::shared_ptr<Storage>& storage() const { return impl().storage; }

  // Pointer to element 0 of this view (offset applied). data<T>() checks that T matches the dtype.
  void* data_ptr() const;
  template <class T>
  T* data() const {
    CQ_CHECK(dtype_of<T>::value == dtype(), "Tensor::data: asked for ", dtype_name(dtype_of<T>::value),
             " but tensor is ", describe());
    return static_cast<T*>(data_ptr());
  }
  // Element values copied to the host, in logical (row-major) order, converted to T.
  template <class T>
  std::vector<T> to_vector() const;
  double item() const;

  // ---- views (no copy; autograd-aware; defined in tensor/views.cpp) ----
  Tensor reshape(const Shape& shape) const;  // a view when strides allow, else a copy
  Tensor view(const Shape& shape) const;     // a view or an error
  Tensor permute(const std::vector<int64_t>& axes) const;
  Tensor transpose(int64_t a, int64_t b) const;
  Tensor slice(int64_t axis, int64_t start, int64_t end, int64_t step = 1) const;
  Tensor select(int64_t axis, int64_t index) const;  // slice of width 1, axis removed
  Tensor expand(const Shape& shape) const;  // broadcast size-1 axes (stride 0), may add leading axes
  Tensor unsqueeze(int64_t axis) const;
  Tensor squeeze(int64_t axis) const;
  Tensor flatten(int64_t start = 0, int64_t end = -1) const;

  // ---- copies (tensor/copy.cpp) ----
  Tensor contiguous() const;  // this tensor if already contiguous
  Tensor clone() const;
  Tensor to(DType dt) const;
  Tensor to(Device dev) const;
  // In-place copy of src's values (broadcast to this shape, cast to this dtype); no autograd.
  Tensor& copy_(const Tensor& src);
  Tensor& fill_(double value);
  Tensor& zero_() { return fill_(0.0); }

  // ---- autograd (tensor/autograd.cpp) ----
  bool requires_grad() const { return impl().requires_grad; }
  Tensor& set_requires_grad(bool on = true);
  bool is_leaf() const { return impl().grad_fn == nullptr; }
  const std::shared_ptr<Node>& grad_fn() const { return impl().grad_fn; }
  Tensor grad() const { return Tensor(impl().grad); }
  void set_grad(const Tensor& g) { impl().grad = g.impl_; }
  void zero_grad() { impl().grad.reset(); }
  // See TensorImpl::post_accumulate_grad_hook; an empty function removes it. Shared by every handle of this leaf.
  void set_post_accumulate_grad_hook(std::function<void()> hook) const {
    impl().post_accumulate_grad_hook = std::move(hook);
  }
  // Same storage, cut from the graph.
  Tensor detach() const;
  // Reverse-mode pass from this tensor; grad defaults to 1 for a one-element tensor. Saved tensors are freed as
  // each node runs unless retain_graph.
  void backward(const Tensor& grad = Tensor(), bool retain_graph = false) const;

  const std::shared_ptr<TensorImpl>& impl_ptr() const { return impl_; }
  TensorImpl& impl() const {
    CQ_CHECK(impl_, "Tensor: use of an undefined tensor");
    return *impl_;
  }
  bool same(const Tensor& o) const { return impl_ == o.impl_; }

 private:
  std::shared_ptr<TensorImpl> impl_;
};

// A tensor with explicit layout over existing storage (used by views and kernels).
Tensor make_view(const Tensor& base, const Shape& shape, const Shape& strides, int64_t offset);

}  // namespace cq
