// The table of every op that records an autograd node (and of the ops that by nature have no gradient). One place
// to see what the engine can differentiate; record() refuses names missing here, and tests/kernels/registry_test.cpp
// fails unless each differentiable op has a float64 gradient check named GradCheck.<op>.
#pragma once
#include <cstddef>
#include <cstring>

namespace cq {

struct OpInfo {
  const char* name;
  const char* family;    // the kernels/ folder (or tensor/) that implements it
  bool differentiable;   // false: no gradient by nature (integer or boolean result); a Forward.<op> test is required
};

inline constexpr OpInfo kOps[] = {
    // tensor/: views and copies
    {"view", "tensor", true}, {"reshape", "tensor", true}, {"permute", "tensor", true},
    {"slice", "tensor", true}, {"expand", "tensor", true}, {"contiguous", "tensor", true},
    {"clone", "tensor", true}, {"to_dtype", "tensor", true}, {"to_device", "tensor", true},
    {"sum_to", "tensor", true},
    // kernels/elementwise: unary
    {"relu", "elementwise", true}, {"sigmoid", "elementwise", true}, {"silu", "elementwise", true},
    {"gelu", "elementwise", true}, {"exp", "elementwise", true}, {"log", "elementwise", true},
    {"sqrt", "elementwise", true}, {"rsqrt", "elementwise", true}, {"neg", "elementwise", true},
    {"abs", "elementwise", true}, {"clamp", "elementwise", true}, {"pow_scalar", "elementwise", true},
    {"add_scalar", "elementwise", true}, {"mul_scalar", "elementwise", true},
    // kernels/elementwise: binary with broadcasting
    {"add", "elementwise", true}, {"sub", "elementwise", true}, {"mul", "elementwise", true},
    {"div", "elementwise", true}, {"pow", "elementwise", true}, {"maximum", "elementwise", true},
    {"minimum", "elementwise", true}, {"where", "elementwise", true},
    {"eq", "elementwise", false}, {"ne", "elementwise", false}, {"lt", "elementwise", false},
    {"le", "elementwise", false}, {"gt", "elementwise", false}, {"ge", "elementwise", false},
    // kernels/reduce
    {"sum", "reduce", true}, {"mean", "reduce", true}, {"max", "reduce", true}, {"var", "reduce", true},
    {"argmax", "reduce", false},
    // kernels/softmax
    {"softmax", "softmax", true}, {"log_softmax", "softmax", true},
    // kernels/matmul, kernels/conv2d
    {"matmul", "matmul", true}, {"conv2d", "conv2d", true},
    // kernels/norm
    {"batch_norm", "norm", true}, {"layer_norm", "norm", true}, {"batch_norm_act", "norm", true},
    // nn/sync_batch_norm (data parallel: statistics summed over the process group)
    {"sync_batch_norm_act", "nn", true},
    // losses/dc_loss_fused (the CPU DC loss as one op)
    {"dc_loss", "losses", true},
    // kernels/pool
    {"global_avg_pool2d", "pool", true}, {"upsample_nearest2d", "pool", true}, {"channel_gate", "pool", true},
    // kernels/shape
    {"concat", "shape", true}, {"pad", "shape", true}, {"roll", "shape", true}, {"gather", "shape", true},
    {"index_select", "shape", true}, {"one_hot", "shape", false},
};

inline const OpInfo* find_op(const char* name) {
  for (const auto& op : kOps)
    if (std::strcmp(op.name, name) == 0) return &op;
  return nullptr;
}

}  // namespace cq
