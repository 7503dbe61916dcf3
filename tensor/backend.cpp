#include "tensor/backend.h"

namespace cq {

StridedLayout layout_of(const Tensor& t) {
  CQ_CHECK(t.dim() <= kMaxDims, "layout: rank ", t.dim(), " exceeds ", kMaxDims, " for ", t.describe());
  StridedLayout l;
  l.ndim = static_cast<int>(t.dim());
  for (int i = 0; i < l.ndim; ++i) {
    l.shape[i] = t.shape()[i];
    l.strides[i] = t.strides()[i];
  }
  l.offset = t.offset();
  return l;
}

StridedLayout broadcast_layout(const Tensor& t, const Shape& shape) {
  int64_t r = static_cast<int64_t>(shape.size());
  CQ_CHECK(r <= kMaxDims && t.dim() <= r, "broadcast: cannot view ", t.describe(), " as ", shape_str(shape));
  StridedLayout l;
  l.ndim = static_cast<int>(r);
  l.offset = t.offset();
  for (int64_t i = 0; i < r; ++i) {
    int64_t ti = i - (r - t.dim());
    l.shape[i] = shape[i];
    if (ti < 0) {
      l.strides[i] = 0;
    } else {
      int64_t s = t.shape()[ti];
      CQ_CHECK(s == shape[i] || s == 1, "broadcast: cannot view ", t.describe(), " as ", shape_str(shape));
      l.strides[i] = (s == 1 && shape[i] != 1) ? 0 : t.strides()[ti];
    }
  }
  return l;
}

Shape broadcast_shapes(const Shape& a, const Shape& b, const char* op) {
  size_t r = std::max(a.size(), b.size());
  Shape out(r);
  for (size_t i = 0; i < r; ++i) {
    int64_t da = i < r - a.size() ? 1 : a[i - (r - a.size())];
    int64_t db = i < r - b.size() ? 1 : b[i - (r - b.size())];
    CQ_CHECK(da == db || da == 1 || db == 1, op, ": shapes ", shape_str(a), " and ", shape_str(b),
             " do not broadcast");
    out[i] = da == 1 ? db : da;
  }
  return out;
}

void check_same_device(const char* op, const std::vector<Tensor>& ts) {
  for (size_t i = 1; i < ts.size(); ++i)
    CQ_CHECK(ts[i].device() == ts[0].device(), op, ": inputs on different devices: ", ts[0].describe(), " and ",
             ts[i].describe());
}

void check_same_dtype(const char* op, const std::vector<Tensor>& ts) {
  for (size_t i = 1; i < ts.size(); ++i)
    CQ_CHECK(ts[i].dtype() == ts[0].dtype(), op, ": dtype mismatch: ", ts[0].describe(), " and ", ts[i].describe());
}

}  // namespace cq
