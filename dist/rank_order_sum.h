// The deterministic cross-rank sum of one element, shared by the MPI path (rank 0 adds the received parts) and the
// NCCL path (every GPU adds the all-gathered parts): rank 0's value, plus rank 1's, ..., in rank order, in float.
// One formula, so both paths give the same bits for the same inputs, and the CPU tests cover the GPU kernel's math.
#pragma once
#include <cstdint>

#include "tensor/hd.h"

namespace cq::dist {

// parts: n_ranks rows of `stride` floats (row r = rank r's bucket); returns the sum of column i in rank order.
CQ_HD float rank_order_sum(const float* parts, int n_ranks, int64_t stride, int64_t i) {
  float s = parts[i];
  for (int r = 1; r < n_ranks; ++r) s += parts[int64_t(r) * stride + i];
  return s;
}

// A gradient element as the reducers send it: g times the rank's share, formed in double and rounded once (so a
// weight of 1 leaves g's bits unchanged).
CQ_HD float weighted_gradient(float g, double weight) { return float(double(g) * weight); }

}  // namespace cq::dist
