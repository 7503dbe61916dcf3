// Reductions over any subset of axes: sum, mean, max (amax), var, argmax.
//
// Shape rule: axes may be negative, must be distinct and in range; an empty list reduces every axis. The result has
// x's shape with the reduced axes removed, or kept with size 1 when keepdim (as PyTorch). A 0-dim x accepts axes
// {0} / {-1} (and {}) and gives a 0-dim result.
// dtypes: sum takes f32/f64 (result of the same dtype) and u8/i32/i64 (result i64, like PyTorch); mean and var take
// f32/f64; max takes every dtype (result of the same dtype); argmax takes every dtype (result i64).
// Determinism: each output is reduced in a fixed order that does not depend on the thread count (see reduce_cpu.cpp
// and reduce_cuda.cu); f32 sums accumulate in double.
#pragma once
#include <cstdint>
#include <vector>

#include "tensor/tensor.h"

namespace cq {

// axes: any subset (negative allowed, duplicates are an error); empty = all axes. keepdim as PyTorch.
Tensor sum(const Tensor& x, const std::vector<int64_t>& axes = {}, bool keepdim = false);
Tensor mean(const Tensor& x, const std::vector<int64_t>& axes = {}, bool keepdim = false);
// amax: the values; the gradient is split evenly among tied maxima (PyTorch amax). NaN propagates. Reducing an empty
// set is an error.
Tensor max(const Tensor& x, const std::vector<int64_t>& axes = {}, bool keepdim = false);
// Two-pass (mean, then the sum of squared deviations) divided by n - 1 when unbiased, else n (NaN when that is <= 0).
Tensor var(const Tensor& x, const std::vector<int64_t>& axes = {}, bool unbiased = true, bool keepdim = false);
// i64 index along axis of the first occurrence of the maximum (a NaN counts as the maximum); f32/f64/integer inputs.
Tensor argmax(const Tensor& x, int64_t axis, bool keepdim = false);

}  // namespace cq
