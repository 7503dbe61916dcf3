// CPU matmul: one blocked GEMM per batch matrix, or a single GEMM when a 2-D right operand lets the batch fold into M.
//   out [B..., M, N] = a [B..., M, K] x b [B..., K, N]   (a, b broadcast views; out contiguous)
#include <vector>

#include "kernels/matmul/gemm.h"
#include "kernels/matmul/matmul.h"
#include "kernels/matmul/matmul_math.h"
#include "tensor/backend.h"
#include "tensor/runtime.h"

namespace cq::kernels {
namespace {

// Batch-axis layout of an operand (its last two axes dropped): offset_of(i) gives matrix i's first element.
StridedLayout batch_layout(const Tensor& t) {
  StridedLayout l = layout_of(t);
  l.ndim -= 2;
  return l;
}

Tensor usable(const Tensor& t, MatOperand& m) {
  int64_t r = t.dim();
  m = mat_operand(t.shape()[r - 2], t.shape()[r - 1], t.strides()[r - 2], t.strides()[r - 1]);
  if (m.ok) return t;
  // Materialises broadcast batch axes too, which is what we want for a copy we make anyway.
  Tensor c = t.contiguous();
  m = mat_operand(c.shape()[r - 2], c.shape()[r - 1], c.strides()[r - 2], c.strides()[r - 1]);
  return c;
}

bool all_zero_batch_strides(const Tensor& t) {
  for (int64_t i = 0; i + 2 < t.dim(); ++i)
    if (t.shape()[i] != 1 && t.strides()[i] != 0) return false;
  return true;
}

}  // namespace

void matmul_cpu(const Tensor& out, const Tensor& a_in, const Tensor& b_in) {
  int64_t r = out.dim();
  int64_t M = out.shape()[r - 2], N = out.shape()[r - 1], K = a_in.shape()[r - 1];
  int64_t batch = out.numel() / std::max<int64_t>(M * N, 1);
  if (out.numel() == 0) return;
  MatOperand ma, mb;
  Tensor a = usable(a_in, ma), b = usable(b_in, mb);
  int threads = out.runtime().threads();
  dispatch_float(out.dtype(), "matmul", [&](auto tag_) {
    using scalar_t = decltype(tag_);
    const scalar_t* pa = static_cast<const scalar_t*>(a.storage()->data());
    const scalar_t* pb = static_cast<const scalar_t*>(b.storage()->data());
    scalar_t* pc = out.data<scalar_t>();
    // x[B..., M, K] @ w[K, N] (Linear): the batch is just more rows of one GEMM when a is contiguous.
    if (batch > 1 && all_zero_batch_strides(b) && a.is_contiguous()) {
      gemm_cpu<scalar_t>(false, mb.trans, batch * M, N, K, scalar_t(1), pa + a.offset(), K, pb + b.offset(), mb.ld,
                         scalar_t(0), pc, N, threads);
      return;
    }
    StridedLayout la = batch_layout(a), lb = batch_layout(b);
    // Many small matrices (attention heads, windows): one GEMM per thread; otherwise threads inside each GEMM.
    // Either way each matrix is computed by the same deterministic GEMM, so the choice cannot change results.
    bool per_matrix = batch >= threads && M * N * K < (int64_t(1) << 21);
    if (per_matrix) {
#pragma omp parallel for num_threads(threads) schedule(static) if (threads > 1)
      for (int64_t i = 0; i < batch; ++i)
        gemm_cpu<scalar_t>(ma.trans, mb.trans, M, N, K, scalar_t(1), pa + la.offset_of(i), ma.ld, pb + lb.offset_of(i),
                           mb.ld, scalar_t(0), pc + i * M * N, N, 1);
    } else {
      for (int64_t i = 0; i < batch; ++i)
        gemm_cpu<scalar_t>(ma.trans, mb.trans, M, N, K, scalar_t(1), pa + la.offset_of(i), ma.ld, pb + lb.offset_of(i),
                           mb.ld, scalar_t(0), pc + i * M * N, N, threads);
    }
  });
}

}  // namespace cq::kernels
