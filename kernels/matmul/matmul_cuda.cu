// CUDA matmul through cuBLAS strided-batched GEMM.
//   out [B..., M, N] = a [B..., M, K] x b [B..., K, N]   (a, b broadcast views; out contiguous)
// cuBLAS is column-major: a row-major C[M,N] is a column-major C^T[N,M], so we ask for C^T = op(B)^T op(A)^T.
// The handle is the Runtime's cached one for the device (tensor/cuda_resources.h). Precision fp32 keeps
// CUBLAS_DEFAULT_MATH (no TF32), so results match the CPU to float rounding; tf32 switches to TF32 tensor-core math.
// f64 GEMMs are unaffected by the precision setting.
#include <cublas_v2.h>

#include "kernels/matmul/matmul.h"
#include "kernels/matmul/matmul_math.h"
#include "tensor/backend.h"
#include "tensor/cuda_check.h"
#include "tensor/cuda_resources.h"

namespace cq::kernels {
namespace {

void cublas_check(cublasStatus_t s, const char* what) {
  if (s != CUBLAS_STATUS_SUCCESS) fail("matmul: cuBLAS error ", static_cast<int>(s), " in ", what);
}

// An operand as (pointer offset, ld, trans, batch stride): usable in place when its matrix layout is BLAS-compatible
// and its batch axes advance by one uniform stride (0 for a broadcast matrix); otherwise a contiguous copy.
struct Operand {
  Tensor t;
  MatOperand m;
  int64_t batch_stride = 0;
};

bool uniform_batch_stride(const Tensor& t, int64_t& stride) {
  int64_t r = t.dim();
  bool found = false;
  int64_t expect = 0;
  stride = 0;
  // Walk batch axes from the innermost: each non-trivial axis must continue the previous one's progression.
  for (int64_t i = r - 3; i >= 0; --i) {
    int64_t n = t.shape()[i], s = t.strides()[i];
    if (n == 1) continue;
    if (!found) {
      stride = s;
      expect = s * n;
      found = true;
    } else {
      if (stride == 0 ? s != 0 : s != expect) return false;
      expect = s * n;
    }
  }
  return true;
}

Operand prepare(const Tensor& t) {
  int64_t r = t.dim();
  Operand o;
  o.t = t;
  o.m = mat_operand(t.shape()[r - 2], t.shape()[r - 1], t.strides()[r - 2], t.strides()[r - 1]);
  if (o.m.ok && uniform_batch_stride(t, o.batch_stride)) return o;
  o.t = t.contiguous();
  o.m = mat_operand(o.t.shape()[r - 2], o.t.shape()[r - 1], o.t.strides()[r - 2], o.t.strides()[r - 1]);
  o.batch_stride = o.t.shape()[r - 2] * o.t.shape()[r - 1];
  return o;
}

}  // namespace

void matmul_cuda(const Tensor& out, const Tensor& a_in, const Tensor& b_in) {
  int64_t r = out.dim();
  int64_t M = out.shape()[r - 2], N = out.shape()[r - 1], K = a_in.shape()[r - 1];
  if (out.numel() == 0) return;
  int64_t batch = out.numel() / (M * N);
  if (K == 0) {
    Tensor(out).zero_();  // (a handle copy: zero_ is non-const)
    return;
  }
  cublasHandle_t h = cuda::cublas_for(out);  // also makes out's device current
  Operand a = prepare(a_in), b = prepare(b_in);
  CQ_CHECK(M <= INT32_MAX && N <= INT32_MAX && K <= INT32_MAX && batch <= INT32_MAX && a.m.ld <= INT32_MAX &&
               b.m.ld <= INT32_MAX,
           "matmul: sizes exceed cuBLAS's 32-bit limits: a ", a_in.describe(), ", b ", b_in.describe());
  cublasOperation_t op_b = b.m.trans ? CUBLAS_OP_T : CUBLAS_OP_N;
  cublasOperation_t op_a = a.m.trans ? CUBLAS_OP_T : CUBLAS_OP_N;
  int m = static_cast<int>(N), n = static_cast<int>(M), k = static_cast<int>(K);
  int ldb = static_cast<int>(b.m.ld), lda = static_cast<int>(a.m.ld), ldc = static_cast<int>(N);
  int count = static_cast<int>(batch);
  long long sb = b.batch_stride, sa = a.batch_stride, sc = M * N;
  dispatch_float(out.dtype(), "matmul", [&](auto tag_) {
    using scalar_t = decltype(tag_);
    const scalar_t one = 1, zero = 0;
    const scalar_t* pb = static_cast<const scalar_t*>(b.t.storage()->data()) + b.t.offset();
    const scalar_t* pa = static_cast<const scalar_t*>(a.t.storage()->data()) + a.t.offset();
    scalar_t* pc = out.data<scalar_t>();
    if constexpr (sizeof(scalar_t) == 4) {
      cublas_check(cublasSgemmStridedBatched(h, op_b, op_a, m, n, k, &one, pb, ldb, sb, pa, lda, sa, &zero, pc,
                                             ldc, sc, count),
                   "cublasSgemmStridedBatched");
    } else {
      cublas_check(cublasDgemmStridedBatched(h, op_b, op_a, m, n, k, &one, pb, ldb, sb, pa, lda, sa, &zero, pc,
                                             ldc, sc, count),
                   "cublasDgemmStridedBatched");
    }
  });
}

}  // namespace cq::kernels
