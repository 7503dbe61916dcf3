// Numerical fault detection for training (--check-numerics, and always before a checkpoint is written): finds the
// first NaN or infinity in a tensor and names where it is, so a diverging run stops at the step and tensor where the
// fault appears instead of an epoch later as a NaN loss or, worse, a poisoned checkpoint.
#pragma once
#include <string>
#include <utility>
#include <vector>

#include "tensor/tensor.h"

namespace cq::pipeline {

struct NonFinite {
  int64_t count = 0;        // non-finite values in the tensor
  int64_t first_index = -1; // flat (row-major) index of the first one
  double first_value = 0;   // NaN, +inf or -inf
};
// Floating tensors on any device (copied to the host); integer tensors are always finite (count 0).
NonFinite find_nonfinite(const Tensor& t);

// "" when every tensor is finite; else a message naming the first offending tensor: "<what> '<name>' [shape]: 3 of 40
// values are non-finite (first: NaN at flat index 7)".
std::string describe_nonfinite(const std::vector<std::pair<std::string, Tensor>>& tensors, const std::string& what);

}  // namespace cq::pipeline
