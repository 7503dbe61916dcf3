// gather, index_select and one_hot: shape rules, index validation, device dispatch and the scatter-add backward rules.
// Index values are validated on the host before any kernel runs (for CUDA on a host copy of the index): an index
// outside its range must be an error naming it, never an out-of-bounds read or a silent mis-label.
#include <sstream>

#include "kernels/shape/shape.h"
#include "kernels/shape/shape_kernels.h"
#include "tensor/autograd.h"
#include "tensor/backend.h"

namespace cq {
namespace {

// "[i,j,k]": the coordinates of row-major element `linear` of `shape`.
std::string position_str(const Shape& shape, int64_t linear) {
  std::vector<int64_t> c(shape.size());
  for (size_t d = shape.size(); d-- > 0;) {
    c[d] = linear % shape[d];
    linear /= shape[d];
  }
  return shape_str(c);
}

// A contiguous host copy of a contiguous i64 index (the index itself when it is on the CPU).
Tensor host_index(const Tensor& idx) { return idx.device().is_cpu() ? idx : idx.to(Device::cpu()); }

// Throws at the first index value outside [0, limit), naming op, value, its position and what it indexes.
void check_index_range(const char* op, const Tensor& host_idx, int64_t limit, const std::string& what) {
  const int64_t* p = host_idx.data<int64_t>();
  const int64_t n = host_idx.numel();
  for (int64_t i = 0; i < n; ++i) {
    if (p[i] < 0 || p[i] >= limit)
      fail(op, ": index value ", p[i], " at position ", position_str(host_idx.shape(), i), " of index ",
           host_idx.describe(), " is out of range [0, ", limit, ") for ", what);
  }
}

void check_index_tensor(const char* op, const Tensor& x, const Tensor& index) {
  CQ_CHECK(index.defined() && x.defined(), op, ": undefined input");
  CQ_CHECK(index.dtype() == DType::i64, op, ": index must be i64, got ", index.describe(), " (x ", x.describe(), ")");
  check_same_device(op, {x, index});
  CQ_CHECK(x.dim() >= 1 && x.dim() <= kMaxDims, op, ": x must have rank 1..", kMaxDims, ", got ", x.describe());
}

std::string axis_str(int64_t a, const Tensor& x) {
  std::ostringstream os;
  os << "axis " << a << " of x " << x.describe();
  return os.str();
}

}  // namespace

Tensor gather(const Tensor& x, int64_t axis, const Tensor& index) {
  check_index_tensor("gather", x, index);
  const int64_t a = normalize_axis(axis, x.dim(), "gather");
  CQ_CHECK(index.dim() == x.dim(), "gather: index ", index.describe(), " must have the rank of x ", x.describe());
  for (int64_t d = 0; d < x.dim(); ++d)
    CQ_CHECK(d == a || index.shape()[d] <= x.shape()[d], "gather: index ", index.describe(), " is larger than x ",
             x.describe(), " along axis ", d, " (only the gather axis ", a, " may be larger)");
  Tensor idx = index.contiguous();
  check_index_range("gather", host_index(idx), x.shape()[a], axis_str(a, x));

  shape_math::GatherGeom g;
  g.ndim = static_cast<int>(x.dim());
  g.axis = static_cast<int>(a);
  g.x_offset = x.offset();
  for (int64_t d = 0; d < x.dim(); ++d) {
    g.idx_shape[d] = idx.shape()[d];
    g.x_shape[d] = x.shape()[d];
    g.x_strides[d] = x.strides()[d];
  }
  Tensor out = x.new_empty(idx.shape());
  if (x.device().is_cuda()) {
    CQ_CUDA_CALL("gather", kernels::gather_cuda(out, x, idx, g));
  } else {
    kernels::gather_cpu(out, x, idx, g);
  }
  Shape x_shape = x.shape();
  record("gather", out, {x}, [idx, g, x_shape](const Tensor& g_out) {
    Tensor gx = g_out.new_zeros(x_shape);
    Tensor go = g_out.contiguous();
    if (gx.device().is_cuda()) {
      CQ_CUDA_CALL("gather", kernels::gather_backward_cuda(gx, go, idx, g));
    } else {
      kernels::gather_backward_cpu(gx, go, idx, g);
    }
    return std::vector<Tensor>{gx};
  });
  return out;
}

Tensor index_select(const Tensor& x, int64_t axis, const Tensor& index) {
  check_index_tensor("index_select", x, index);
  const int64_t a = normalize_axis(axis, x.dim(), "index_select");
  CQ_CHECK(index.dim() == 1, "index_select: index must be 1-D, got ", index.describe(), " (x ", x.describe(), ")");
  Tensor idx = index.contiguous();
  Tensor hidx = host_index(idx);
  check_index_range("index_select", hidx, x.shape()[a], axis_str(a, x));

  Shape os = x.shape();
  os[a] = idx.numel();
  shape_math::IndexSelectGeom g;
  g.ndim = static_cast<int>(x.dim());
  g.axis = static_cast<int>(a);
  g.x_offset = x.offset();
  for (int64_t d = 0; d < x.dim(); ++d) {
    g.out_shape[d] = os[d];
    g.x_strides[d] = x.strides()[d];
  }
  Tensor out = x.new_empty(os);
  if (x.device().is_cuda()) {
    CQ_CUDA_CALL("index_select", kernels::index_select_cuda(out, x, idx, g));
  } else {
    kernels::index_select_cpu(out, x, idx, g);
  }
  Shape x_shape = x.shape();
  record("index_select", out, {x}, [hidx, a, x_shape](const Tensor& g_out) {
    int64_t outer = 1, inner = 1;
    for (int64_t d = 0; d < a; ++d) outer *= x_shape[d];
    for (size_t d = a + 1; d < x_shape.size(); ++d) inner *= x_shape[d];
    const int64_t n = x_shape[a], m = hidx.numel();
    // Positions grouped by index value (counting sort, stable): each x row sums its positions in increasing order.
    Tensor start = Tensor::empty(hidx.runtime_ptr(), {n + 1}, DType::i64, Device::cpu());
    Tensor rows = Tensor::empty(hidx.runtime_ptr(), {m}, DType::i64, Device::cpu());
    const int64_t* iv = hidx.data<int64_t>();
    int64_t* st = start.data<int64_t>();
    int64_t* rw = rows.data<int64_t>();
    std::fill(st, st + n + 1, 0);
    for (int64_t j = 0; j < m; ++j) ++st[iv[j] + 1];
    for (int64_t k = 0; k < n; ++k) st[k + 1] += st[k];
    std::vector<int64_t> fillp(st, st + n);
    for (int64_t j = 0; j < m; ++j) rw[fillp[iv[j]]++] = j;
    Tensor gx = g_out.new_empty(x_shape);
    Tensor go = g_out.contiguous();
    if (gx.device().is_cuda()) {
      CQ_CUDA_CALL("index_select", kernels::index_select_backward_cuda(gx, go, start.to(gx.device()),
                                                                        rows.to(gx.device()), outer, n, m, inner));
    } else {
      kernels::index_select_backward_cpu(gx, go, start, rows, outer, n, m, inner);
    }
    return std::vector<Tensor>{gx};
  });
  return out;
}

Tensor one_hot(const Tensor& index, int64_t classes, DType dt) {
  CQ_CHECK(index.defined(), "one_hot: undefined index");
  CQ_CHECK(index.dtype() == DType::i64, "one_hot: index must be i64, got ", index.describe());
  CQ_CHECK(classes >= 1, "one_hot: classes must be >= 1, got ", classes, " for index ", index.describe());
  Tensor idx = index.contiguous();
  std::ostringstream what;
  what << classes << " classes";
  check_index_range("one_hot", host_index(idx), classes, what.str());
  Shape os = index.shape();
  os.push_back(classes);
  Tensor out = index.new_empty(os, dt);
  if (out.numel() == 0) return out;
  if (index.device().is_cuda()) {
    CQ_CUDA_CALL("one_hot", kernels::one_hot_cuda(out, idx, classes));
  } else {
    kernels::one_hot_cpu(out, idx, classes);
  }
  return out;
}

}  // namespace cq
