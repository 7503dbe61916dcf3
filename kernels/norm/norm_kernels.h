// Kernel entry points behind kernels/norm/norm.h (CPU in norm_cpu.cpp, CUDA in norm_cuda.cu; same contracts).
// Every tensor argument is contiguous; mean and rstd are f64; weight, bias and running tensors may be undefined
// (= 1, 0, no update).
#pragma once
#include <cstdint>

#include "kernels/norm/norm_act_math.h"
#include "tensor/tensor.h"

namespace cq::kernels {

// Batch norm views x as [N, C, S].
struct BnDims {
  int64_t N, C, S;
};

// mean, rstd [C] <- batch statistics of x [N,C,S]; running_mean/var [C] (x's dtype) updated in place when defined.
void bn_stats_cpu(const Tensor& x, const Tensor& mean, const Tensor& rstd, const Tensor& running_mean,
                  const Tensor& running_var, BnDims d, double momentum, double eps);
// mean, rstd [C] <- running statistics.
void bn_eval_stats_cpu(const Tensor& mean, const Tensor& rstd, const Tensor& running_mean, const Tensor& running_var,
                       double eps);
// y [N,C,S] = (x - mean) * rstd * weight + bias.
void bn_apply_cpu(const Tensor& y, const Tensor& x, const Tensor& mean, const Tensor& rstd, const Tensor& weight,
                  const Tensor& bias, BnDims d);
// dx [N,C,S], dweight, dbias [C] (x's dtype) from g [N,C,S]; batch_stats selects the training formula.
void bn_backward_cpu(const Tensor& dx, const Tensor& dweight, const Tensor& dbias, const Tensor& g, const Tensor& x,
                     const Tensor& mean, const Tensor& rstd, const Tensor& weight, BnDims d, bool batch_stats);
// x, y [M, D]; mean, rstd [M]; weight, bias [D].
void ln_forward_cpu(const Tensor& y, const Tensor& mean, const Tensor& rstd, const Tensor& x, const Tensor& weight,
                    const Tensor& bias, int64_t M, int64_t D, double eps);
// dx [M, D]; dweight, dbias [D] (either may be undefined: not computed).
void ln_backward_cpu(const Tensor& dx, const Tensor& dweight, const Tensor& dbias, const Tensor& g, const Tensor& x,
                     const Tensor& mean, const Tensor& rstd, const Tensor& weight, int64_t M, int64_t D);

// batch_norm_act (norm_act_cpu.cpp): batch statistics like bn_stats_cpu (same contract, faster loops); y [N,C,S] =
// act((x - mean) * rstd * weight + bias); backward: dx [N,C,S] and dweight, dbias [C] (always written) from g.
void bna_stats_cpu(const Tensor& x, const Tensor& mean, const Tensor& rstd, const Tensor& running_mean,
                   const Tensor& running_var, BnDims d, double momentum, double eps);
void bna_apply_cpu(const Tensor& y, const Tensor& x, const Tensor& mean, const Tensor& rstd, const Tensor& weight,
                   const Tensor& bias, BnDims d, NormAct act);
void bna_backward_cpu(const Tensor& dx, const Tensor& dweight, const Tensor& dbias, const Tensor& g, const Tensor& x,
                      const Tensor& mean, const Tensor& rstd, const Tensor& weight, const Tensor& bias, BnDims d,
                      bool batch_stats, NormAct act);

#ifdef CQ_CUDA
void bn_stats_cuda(const Tensor& x, const Tensor& mean, const Tensor& rstd, const Tensor& running_mean,
                   const Tensor& running_var, BnDims d, double momentum, double eps);
void bn_eval_stats_cuda(const Tensor& mean, const Tensor& rstd, const Tensor& running_mean, const Tensor& running_var,
                        double eps);
void bn_apply_cuda(const Tensor& y, const Tensor& x, const Tensor& mean, const Tensor& rstd, const Tensor& weight,
                   const Tensor& bias, BnDims d);
void bn_backward_cuda(const Tensor& dx, const Tensor& dweight, const Tensor& dbias, const Tensor& g, const Tensor& x,
                      const Tensor& mean, const Tensor& rstd, const Tensor& weight, BnDims d, bool batch_stats);
void ln_forward_cuda(const Tensor& y, const Tensor& mean, const Tensor& rstd, const Tensor& x, const Tensor& weight,
                     const Tensor& bias, int64_t M, int64_t D, double eps);
void ln_backward_cuda(const Tensor& dx, const Tensor& dweight, const Tensor& dbias, const Tensor& g, const Tensor& x,
                      const Tensor& mean, const Tensor& rstd, const Tensor& weight, int64_t M, int64_t D);
#endif

}  // namespace cq::kernels
