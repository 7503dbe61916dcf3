// View ops: new shape/strides/offset over the same storage, and their backward rules.
#include <algorithm>
#include <numeric>

#include "tensor/autograd.h"
#include "tensor/sum_to.h"

namespace cq {

namespace {
// Infers one -1 in a requested shape; checks the element count.
Shape resolve_shape(const Shape& req, int64_t numel, const char* op, const Tensor& t) {
  Shape s = req;
  int64_t known = 1, infer = -1;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == -1) {
      CQ_CHECK(infer < 0, op, ": more than one -1 in ", shape_str(req));
      infer = static_cast<int64_t>(i);
    } else {
      CQ_CHECK(s[i] >= 0, op, ": bad size in ", shape_str(req));
      known *= s[i];
    }
  }
  if (infer >= 0) {
    CQ_CHECK(known > 0 && numel % known == 0, op, ": cannot reshape ", t.describe(), " to ", shape_str(req));
    s[infer] = numel / known;
  }
  CQ_CHECK(shape_numel(s) == numel, op, ": cannot reshape ", t.describe(), " (", numel, " elements) to ",
           shape_str(req));
  return s;
}

// Strides for viewing (shape, strides) as new_shape without copying, or false (same rule as PyTorch's view).
bool view_strides(const Shape& shape, const Shape& strides, const Shape& new_shape, Shape& out) {
  out.assign(new_shape.size(), 0);
  if (shape_numel(shape) == 0 || shape.empty()) {  // empty, or a 0-dim scalar: any shape of the same count
    out = contiguous_strides(new_shape);
    return true;
  }
  int64_t view_d = static_cast<int64_t>(new_shape.size()) - 1;
  int64_t chunk_base_stride = strides.empty() ? 1 : strides.back();
  int64_t tensor_numel = 1, view_numel = 1;
  for (int64_t d = static_cast<int64_t>(shape.size()) - 1; d >= 0; --d) {
    tensor_numel *= shape[d];
    if (d == 0 || (shape[d - 1] != 1 && strides[d - 1] != tensor_numel * chunk_base_stride)) {
      while (view_d >= 0 && (view_numel < tensor_numel || new_shape[view_d] == 1)) {
        out[view_d] = view_numel * chunk_base_stride;
        view_numel *= new_shape[view_d];
        view_d--;
      }
      if (view_numel != tensor_numel) return false;
      if (d > 0) {
        chunk_base_stride = strides[d - 1];
        tensor_numel = 1;
        view_numel = 1;
      }
    }
  }
  return view_d == -1;
}

Tensor view_impl(const Tensor& t, const Shape& s, const Shape& st, const char* op) {
  Tensor out = make_view(t, s, st, t.offset());
  Shape in_shape = t.shape();
  record(op, out, {t}, [in_shape](const Tensor& g) { return std::vector<Tensor>{g.reshape(in_shape)}; });
  return out;
}
}  // namespace

Tensor Tensor::view(const Shape& shape_req) const {
  Shape s = resolve_shape(shape_req, numel(), "view", *this);
  Shape st;
  CQ_CHECK(view_strides(shape(), strides(), s, st), "view: ", describe(), " with strides ", shape_str(strides()),
           " cannot be viewed as ", shape_str(s), " without a copy (use reshape)");
  return view_impl(*this, s, st, "view");
}

Tensor Tensor::reshape(const Shape& shape_req) const {
  Shape s = resolve_shape(shape_req, numel(), "reshape", *this);
  if (s == shape()) return *this;
  Shape st;
  if (view_strides(shape(), strides(), s, st)) return view_impl(*this, s, st, "reshape");
  return contiguous().view(s);
}

Tensor Tensor::permute(const std::vector<int64_t>& axes) const {
  CQ_CHECK(static_cast<int64_t>(axes.size()) == dim(), "permute: ", axes.size(), " axes for ", describe());
  Shape s(dim()), st(dim());
  std::vector<int64_t> inv(dim(), -1);
  for (int64_t i = 0; i < dim(); ++i) {
    int64_t a = normalize_axis(axes[i], dim(), "permute");
    CQ_CHECK(inv[a] < 0, "permute: axis ", axes[i], " repeated");
    inv[a] = i;
    s[i] = shape()[a];
    st[i] = strides()[a];
  }
  Tensor out = make_view(*this, s, st, offset());
  record("permute", out, {*this}, [inv](const Tensor& g) { return std::vector<Tensor>{g.permute(inv)}; });
  return out;
}

Tensor Tensor::transpose(int64_t a, int64_t b) const {
  std::vector<int64_t> axes(dim());
  std::iota(axes.begin(), axes.end(), 0);
  std::swap(axes[normalize_axis(a, dim(), "transpose")], axes[normalize_axis(b, dim(), "transpose")]);
  return permute(axes);
}

Tensor Tensor::slice(int64_t axis, int64_t start, int64_t end, int64_t step) const {
  int64_t a = normalize_axis(axis, dim(), "slice");
  int64_t n = shape()[a];
  CQ_CHECK(step > 0, "slice: step must be positive, got ", step);
  if (start < 0) start += n;
  if (end < 0) end += n;
  start = std::clamp<int64_t>(start, 0, n);
  end = std::clamp<int64_t>(end, start, n);
  Shape s = shape(), st = strides();
  s[a] = (end - start + step - 1) / step;
  st[a] = strides()[a] * step;
  Tensor out = make_view(*this, s, st, offset() + start * strides()[a]);
  Shape in_shape = shape();
  record("slice", out, {*this}, [=](const Tensor& g) {
    Tensor full = g.new_zeros(in_shape);
    full.slice(a, start, end, step).copy_(g);
    return std::vector<Tensor>{full};
  });
  return out;
}

Tensor Tensor::select(int64_t axis, int64_t index) const {
  int64_t a = normalize_axis(axis, dim(), "select");
  int64_t n = shape()[a];
  CQ_CHECK(index >= -n && index < n, "select: index ", index, " out of range for axis ", axis, " of ", describe());
  if (index < 0) index += n;
  return slice(a, index, index + 1).squeeze(a);
}

Tensor Tensor::expand(const Shape& shape_req) const {
  int64_t r = static_cast<int64_t>(shape_req.size());
  CQ_CHECK(r >= dim(), "expand: cannot expand ", describe(), " to ", shape_str(shape_req));
  Shape s(r), st(r);
  for (int64_t i = 0; i < r; ++i) {
    int64_t ti = i - (r - dim());
    int64_t want = shape_req[i];
    if (ti < 0) {
      CQ_CHECK(want >= 0, "expand: bad size in ", shape_str(shape_req));
      s[i] = want;
      st[i] = 0;
      continue;
    }
    int64_t have = shape()[ti];
    if (want == -1) want = have;
    CQ_CHECK(have == want || have == 1, "expand: cannot expand ", describe(), " to ", shape_str(shape_req));
    s[i] = want;
    st[i] = (have == want) ? strides()[ti] : 0;
  }
  if (s == shape()) return *this;
  Tensor out = make_view(*this, s, st, offset());
  Shape in_shape = shape();
  record("expand", out, {*this}, [in_shape](const Tensor& g) { return std::vector<Tensor>{sum_to(g, in_shape)}; });
  return out;
}

Tensor Tensor::unsqueeze(int64_t axis) const {
  int64_t a = normalize_axis(axis, dim() + 1, "unsqueeze");
  Shape s = shape();
  s.insert(s.begin() + a, 1);
  return reshape(s);
}

Tensor Tensor::squeeze(int64_t axis) const {
  int64_t a = normalize_axis(axis, dim(), "squeeze");
  CQ_CHECK(shape()[a] == 1, "squeeze: axis ", axis, " of ", describe(), " has size ", shape()[a], ", not 1");
  Shape s = shape();
  s.erase(s.begin() + a);
  return reshape(s);
}

Tensor Tensor::flatten(int64_t start, int64_t end) const {
  if (dim() == 0) return reshape({1});
  int64_t a = normalize_axis(start, dim(), "flatten"), b = normalize_axis(end, dim(), "flatten");
  CQ_CHECK(a <= b, "flatten: start axis ", start, " after end axis ", end);
  Shape s(shape().begin(), shape().begin() + a);
  int64_t m = 1;
  for (int64_t i = a; i <= b; ++i) m *= shape()[i];
  s.push_back(m);
  s.insert(s.end(), shape().begin() + b + 1, shape().end());
  return reshape(s);
}

}  // namespace cq
