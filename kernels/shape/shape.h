// Shape ops: concatenation, padding, rolling, gathering and one-hot encoding. Forward ops accept every dtype
// (f32, f64, u8, i32, i64) and non-contiguous inputs; gradients flow to floating inputs only.
//
// Shape rules (r = rank, negative axes count from the end):
//   concat:       xs[k] [..., n_k, ...] (same rank, dtype, device; equal sizes off the axis) -> [..., sum n_k, ...]
//   pad:          pads.size() even and <= 2r; pair p (0-based) applies to axis r-1-p: size n -> n + before + after,
//                 which must stay >= 0 (negative pads crop)
//   roll:         shifts.size() == axes.size() > 0 (an axis may repeat: its shifts add up); axes empty with one shift
//                 rolls the flattened tensor (torch.roll without dims); shape unchanged
//   gather:       x [s_0..s_{r-1}], index i64 [t_0..t_{r-1}] with t_d <= s_d for d != axis -> [t_0..t_{r-1}]
//   index_select: x [..., n, ...], index i64 [m] -> [..., m, ...]
//   one_hot:      index i64 [...] -> [..., classes] of dtype dt (classes >= 1)
// Index values must lie in [0, size along the axis) (no negative wrap-around); anything else throws cq::Error naming
// the op, the value and its position.
#pragma once
#include <cstdint>
#include <vector>

#include "tensor/tensor.h"

namespace cq {

// All inputs same dtype/device and same shape except along axis (negative allowed).
Tensor concat(const std::vector<Tensor>& xs, int64_t axis);
// Constant padding, PyTorch F.pad order: pads = {last_before, last_after, second_last_before, second_last_after, ...};
// negative pads crop. value fills the new cells.
Tensor pad(const Tensor& x, const std::vector<int64_t>& pads, double value = 0.0);
// torch.roll: elements shifted along each axis with wrap-around; shifts may be negative or exceed the size.
Tensor roll(const Tensor& x, const std::vector<int64_t>& shifts, const std::vector<int64_t>& axes);
// torch.gather: index i64 of the same rank as x (sizes <= x's except along axis); out[i][j] = x[index[i][j]][j] (axis 0).
Tensor gather(const Tensor& x, int64_t axis, const Tensor& index);
// torch.index_select: index i64 1-D; repeated indices allowed (their gradients add up, deterministically).
Tensor index_select(const Tensor& x, int64_t axis, const Tensor& index);
// Appends a class axis: index i64 [...] -> [..., classes] of dtype dt with 1 at the index. Any index outside
// [0, classes) throws cq::Error naming the bad value and position (never a silent mis-label).
Tensor one_hot(const Tensor& index, int64_t classes, DType dt = DType::f32);

}  // namespace cq
