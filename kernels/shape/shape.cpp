// concat, pad and roll: shape rules, device dispatch and backward rules (each backward is the same family of op:
// slices, the opposite pad, the opposite roll).
#include "kernels/shape/shape.h"

#include "kernels/shape/shape_kernels.h"
#include "tensor/autograd.h"
#include "tensor/backend.h"

namespace cq {

Tensor concat(const std::vector<Tensor>& xs, int64_t axis) {
  CQ_CHECK(!xs.empty(), "concat: needs at least one input");
  for (size_t k = 0; k < xs.size(); ++k) CQ_CHECK(xs[k].defined(), "concat: input ", k, " is an undefined tensor");
  check_same_device("concat", xs);
  check_same_dtype("concat", xs);
  const Tensor& x0 = xs[0];
  CQ_CHECK(x0.dim() >= 1, "concat: inputs need rank >= 1, got ", x0.describe());
  const int64_t a = normalize_axis(axis, x0.dim(), "concat");
  Shape os = x0.shape();
  os[a] = 0;
  std::vector<int64_t> sizes;
  for (size_t k = 0; k < xs.size(); ++k) {
    const Tensor& x = xs[k];
    bool ok = x.dim() == x0.dim();
    for (int64_t d = 0; ok && d < x.dim(); ++d) ok = d == a || x.shape()[d] == x0.shape()[d];
    CQ_CHECK(ok, "concat: input ", k, " ", x.describe(), " does not match input 0 ", x0.describe(),
             " off axis ", axis, " (all sizes but the concatenation axis must be equal)");
    sizes.push_back(x.shape()[a]);
    os[a] += x.shape()[a];
  }
  Tensor out = x0.new_empty(os);
  if (x0.device().is_cuda()) {
    CQ_CUDA_CALL("concat", kernels::concat_cuda(out, xs, a));
  } else {
    kernels::concat_cpu(out, xs, a);
  }
  record("concat", out, xs, [a, sizes](const Tensor& g) {
    std::vector<Tensor> grads;
    int64_t off = 0;
    for (int64_t n : sizes) {
      grads.push_back(g.slice(a, off, off + n));
      off += n;
    }
    return grads;
  });
  return out;
}

Tensor pad(const Tensor& x, const std::vector<int64_t>& pads, double value) {
  const int64_t r = x.dim();
  const int64_t np = static_cast<int64_t>(pads.size()) / 2;
  CQ_CHECK(pads.size() % 2 == 0 && np <= r, "pad: pads ", shape_str(pads),
           " must hold (before, after) pairs for at most every axis of ", x.describe());
  CQ_CHECK(r <= kMaxDims, "pad: rank ", r, " exceeds ", kMaxDims, " for ", x.describe());
  Shape os = x.shape();
  shape_math::PadGeom g;
  g.ndim = r == 0 ? 1 : static_cast<int>(r);
  g.in_offset = x.offset();
  g.out_shape[0] = g.in_shape[0] = 1;  // a scalar pads as one element of a rank-1 tensor
  for (int64_t d = 0; d < r; ++d) {
    g.in_shape[d] = x.shape()[d];
    g.in_strides[d] = x.strides()[d];
  }
  for (int64_t p = 0; p < np; ++p) {
    int64_t ax = r - 1 - p;
    os[ax] += pads[2 * p] + pads[2 * p + 1];
    CQ_CHECK(os[ax] >= 0, "pad: pads ", shape_str(pads), " crop axis ", ax, " of ", x.describe(), " below zero");
    g.before[ax] = pads[2 * p];
  }
  for (int64_t d = 0; d < r; ++d) g.out_shape[d] = os[d];
  Tensor out = x.new_empty(os);
  if (x.device().is_cuda()) {
    CQ_CUDA_CALL("pad", kernels::pad_cuda(out, x, g, value));
  } else {
    kernels::pad_cpu(out, x, g, value);
  }
  std::vector<int64_t> back(pads.size());
  for (size_t i = 0; i < pads.size(); ++i) back[i] = -pads[i];
  // The opposite pad crops the added cells and gives zero gradient to the cropped ones.
  record("pad", out, {x}, [back](const Tensor& g_out) { return std::vector<Tensor>{pad(g_out, back, 0.0)}; });
  return out;
}

Tensor roll(const Tensor& x, const std::vector<int64_t>& shifts, const std::vector<int64_t>& axes) {
  if (axes.empty()) {
    CQ_CHECK(shifts.size() == 1, "roll: without axes exactly one shift is expected (flattened roll), got ",
             shifts.size(), " for ", x.describe());
    return roll(x.reshape({x.numel()}), shifts, {0}).reshape(x.shape());
  }
  CQ_CHECK(shifts.size() == axes.size(), "roll: ", shifts.size(), " shifts for ", axes.size(), " axes of ",
           x.describe());
  const int64_t r = x.dim();
  CQ_CHECK(r <= kMaxDims, "roll: rank ", r, " exceeds ", kMaxDims, " for ", x.describe());
  shape_math::RollGeom g;
  g.ndim = static_cast<int>(r);
  g.in_offset = x.offset();
  for (int64_t d = 0; d < r; ++d) {
    g.shape[d] = x.shape()[d];
    g.in_strides[d] = x.strides()[d];
  }
  for (size_t i = 0; i < axes.size(); ++i) {
    int64_t a = normalize_axis(axes[i], r, "roll");
    int64_t n = x.shape()[a];
    if (n > 0) g.shift[a] = shape_math::wrap(g.shift[a] + shape_math::wrap(shifts[i], n), n);
  }
  Tensor out = x.new_empty(x.shape());
  if (x.device().is_cuda()) {
    CQ_CUDA_CALL("roll", kernels::roll_cuda(out, x, g));
  } else {
    kernels::roll_cpu(out, x, g);
  }
  std::vector<int64_t> back(shifts.size());
  for (size_t i = 0; i < shifts.size(); ++i) back[i] = -shifts[i];
  record("roll", out, {x}, [back, axes](const Tensor& g_out) { return std::vector<Tensor>{roll(g_out, back, axes)}; });
  return out;
}

}  // namespace cq
