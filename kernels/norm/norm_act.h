// batch_norm_act: batch normalisation followed by an activation, as one op (one pass over memory each way instead of
// three, and only the BN input saved for backward: the pre-activation is recomputed there).
#pragma once
#include "kernels/norm/norm_act_math.h"
#include "tensor/tensor.h"

namespace cq {

// Same contract as batch_norm (kernels/norm/norm.h): x [N, C, *], weight / bias / running stats [C] (any may be
// undefined as there), training or eval, PyTorch running-stat semantics; then y = act(bn(x)). Gradients wrt x,
// weight and bias. Bit-identical for any thread count on the CPU.
Tensor batch_norm_act(const Tensor& x, const Tensor& weight, const Tensor& bias, const Tensor& running_mean,
                      const Tensor& running_var, bool training, double momentum, double eps, NormAct act);

// "identity", "relu", "silu" (also "swish"); throws cq::Error naming the accepted ones otherwise.
NormAct norm_act_from_name(const std::string& name);
const char* norm_act_name(NormAct act);

}  // namespace cq
