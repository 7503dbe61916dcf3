// How a strided matrix operand maps onto a BLAS-style (pointer, leading dimension, transpose flag) triple; shared by
// the CPU GEMM path and the cuBLAS path so both read strided views the same way.
#pragma once
#include <cstdint>

#include "tensor/hd.h"

namespace cq::kernels {

struct MatOperand {
  bool ok = false;     // false: the layout needs a contiguous copy first
  bool trans = false;  // true: stored column-major (element (r, c) at r * 1 + c * ld)
  int64_t ld = 0;
};

// A rows x cols matrix with strides (rs, cs) in elements. Row-major (cs == 1) or column-major (rs == 1) with a
// leading dimension that keeps rows (columns) from overlapping is usable in place; size-1 axes take any stride.
CQ_HD MatOperand mat_operand(int64_t rows, int64_t cols, int64_t rs, int64_t cs) {
  MatOperand m;
  if (cols == 1 || cs == 1) {
    int64_t ld = rows == 1 ? cols : rs;
    if (ld >= cols && ld >= 1) {
      m.ok = true;
      m.ld = ld;
      return m;
    }
  }
  if (rows == 1 || rs == 1) {
    int64_t ld = cols == 1 ? rows : cs;
    if (ld >= rows && ld >= 1) {
      m.ok = true;
      m.trans = true;
      m.ld = ld;
    }
  }
  return m;
}

}  // namespace cq::kernels
