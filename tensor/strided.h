// A tensor's layout flattened into a fixed-size struct that can be passed by value to a CUDA kernel; maps a
// row-major linear index of the logical shape to an element offset in storage.
#pragma once
#include <cstdint>

#include "tensor/hd.h"

namespace cq {

constexpr int kMaxDims = 8;

struct StridedLayout {
  int ndim = 0;
  int64_t shape[kMaxDims] = {};
  int64_t strides[kMaxDims] = {};
  int64_t offset = 0;

  CQ_HD int64_t offset_of(int64_t linear) const {
    int64_t off = offset;
    for (int d = ndim - 1; d >= 0; --d) {
      int64_t i = linear % shape[d];
      linear /= shape[d];
      off += i * strides[d];
    }
    return off;
  }
};

}  // namespace cq
