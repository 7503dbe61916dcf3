// The cases of the CPU-vs-GPU parity harness (tests/gpu/backend_ops_test.cpp), one or more per op of the registry
// (tensor/op_registry.h), in the spirit of ggml's test-backend-ops: each case builds its inputs on the CPU from a
// seeded Context and names the op it exercises; the harness runs it forward (and backward, for differentiable ops)
// on the CPU and on CUDA and compares with the case's tolerance.
#pragma once
#include <functional>
#include <ostream>
#include <string>
#include <vector>

#include "kernels/conv2d/conv2d.h"
#include "kernels/elementwise/elementwise.h"
#include "kernels/matmul/matmul.h"
#include "kernels/norm/norm.h"
#include "kernels/norm/norm_act.h"
#include "kernels/pool/channel_gate.h"
#include "kernels/pool/pool.h"
#include "nn/sync_batch_norm.h"
#include "kernels/reduce/reduce.h"
#include "kernels/shape/shape.h"
#include "kernels/softmax/softmax.h"
#include "losses/losses.h"
#include "tensor/context.h"
#include "tensor/sum_to.h"

namespace cq::testing {

struct OpCase {
  std::string name;  // unique, a valid gtest name: the op, then a variant
  std::string op;    // the registry name it covers
  // f32 tolerance: every |gpu - cpu| <= tol * max(1, max|cpu|) (per output and per gradient).
  double tol = 1e-5;
  std::function<std::vector<Tensor>(Context&)> make;  // CPU inputs; requires_grad marks what gets a gradient
  std::function<Tensor(const std::vector<Tensor>&)> run;
};

// gtest prints a parameter with this (instead of its bytes).
inline void PrintTo(const OpCase& c, std::ostream* os) { *os << c.name << " (" << c.op << ")"; }

namespace cases {

inline Tensor leaf(Tensor t) {
  t.set_requires_grad();
  return t;
}
// Positive values away from 0 (log, sqrt, div, pow).
inline Tensor pos(Context& c, const Shape& s) { return c.rand(s, 0.5, 2.0); }
// Small integers as floats: comparisons then see ties.
inline Tensor ints(Context& c, const Shape& s) { return c.randint(0, 3, s).to(DType::f32); }

using Fn1 = std::function<Tensor(const Tensor&)>;
using Fn2 = std::function<Tensor(const Tensor&, const Tensor&)>;

inline OpCase unary(const std::string& op, Fn1 f, bool positive = false, double tol = 1e-5) {
  return {op, op, tol,
          [positive](Context& c) { return std::vector<Tensor>{leaf(positive ? pos(c, {3, 4, 5}) : c.randn({3, 4, 5}))}; },
          [f](const std::vector<Tensor>& in) { return f(in[0]); }};
}

// b broadcast against a ([2,3,4] and [3,1]), so the backward's sum_to runs too.
inline OpCase binary(const std::string& op, Fn2 f, bool b_positive = false, bool a_positive = false) {
  return {op + "_broadcast", op, 1e-5,
          [=](Context& c) {
            return std::vector<Tensor>{leaf(a_positive ? pos(c, {2, 3, 4}) : c.randn({2, 3, 4})),
                                       leaf(b_positive ? pos(c, {3, 1}) : c.randn({3, 1}))};
          },
          [f](const std::vector<Tensor>& in) { return f(in[0], in[1]); }};
}

inline OpCase compare(const std::string& op, Fn2 f) {
  return {op, op, 0.0, [](Context& c) { return std::vector<Tensor>{ints(c, {4, 5}), ints(c, {5})}; },
          [f](const std::vector<Tensor>& in) { return f(in[0], in[1]); }};
}

inline OpCase one(const std::string& name, const std::string& op, double tol,
                  std::function<std::vector<Tensor>(Context&)> make, std::function<Tensor(const std::vector<Tensor>&)> run) {
  return {name, op, tol, std::move(make), std::move(run)};
}

}  // namespace cases

inline std::vector<OpCase> all_op_cases() {
  using namespace cases;
  using V = std::vector<Tensor>;
  auto x345 = [](Context& c) { return V{leaf(c.randn({3, 4, 5}))}; };
  std::vector<OpCase> v;
  // tensor/: views and copies
  v.push_back(one("view", "view", 0, x345, [](const V& i) { return i[0].view({12, 5}); }));
  v.push_back(one("reshape_copy", "reshape", 0, x345, [](const V& i) { return i[0].permute({0, 2, 1}).reshape({3, 20}); }));
  v.push_back(one("permute", "permute", 0, x345, [](const V& i) { return i[0].permute({2, 0, 1}).contiguous(); }));
  v.push_back(one("slice_step", "slice", 0, x345, [](const V& i) { return i[0].slice(2, 1, 5, 2).contiguous(); }));
  v.push_back(one("expand", "expand", 0, [](Context& c) { return V{leaf(c.randn({4, 1}))}; },
                  [](const V& i) { return i[0].expand({2, 4, 3}).contiguous(); }));
  v.push_back(one("contiguous", "contiguous", 0, x345, [](const V& i) { return i[0].transpose(0, 2).contiguous(); }));
  v.push_back(one("clone", "clone", 0, x345, [](const V& i) { return i[0].clone(); }));
  v.push_back(one("to_dtype", "to_dtype", 0, x345, [](const V& i) { return i[0].to(DType::f64); }));
  v.push_back(one("to_device", "to_device", 0, x345, [](const V& i) { return i[0].to(Device::cpu()); }));
  v.push_back(one("sum_to", "sum_to", 1e-5, x345, [](const V& i) { return sum_to(i[0], {4, 1}); }));
  // elementwise unary
  v.push_back(unary("relu", [](const Tensor& x) { return relu(x); }));
  v.push_back(unary("sigmoid", [](const Tensor& x) { return sigmoid(x); }));
  v.push_back(unary("silu", [](const Tensor& x) { return silu(x); }));
  v.push_back(unary("gelu", [](const Tensor& x) { return gelu(x); }));
  v.push_back(unary("exp", [](const Tensor& x) { return exp(x); }));
  v.push_back(unary("log", [](const Tensor& x) { return log(x); }, true));
  v.push_back(unary("sqrt", [](const Tensor& x) { return sqrt(x); }, true));
  v.push_back(unary("rsqrt", [](const Tensor& x) { return rsqrt(x); }, true));
  v.push_back(unary("neg", [](const Tensor& x) { return neg(x); }));
  v.push_back(unary("abs", [](const Tensor& x) { return abs(x); }));
  v.push_back(unary("clamp", [](const Tensor& x) { return clamp(x, -0.5, 0.7); }));
  v.push_back(unary("pow_scalar", [](const Tensor& x) { return pow_scalar(x, 2.5); }, true));
  v.push_back(unary("add_scalar", [](const Tensor& x) { return add_scalar(x, 0.25); }));
  v.push_back(unary("mul_scalar", [](const Tensor& x) { return mul_scalar(x, -1.5); }));
  // elementwise binary (broadcasting)
  v.push_back(binary("add", [](const Tensor& a, const Tensor& b) { return add(a, b); }));
  v.push_back(binary("sub", [](const Tensor& a, const Tensor& b) { return sub(a, b); }));
  v.push_back(binary("mul", [](const Tensor& a, const Tensor& b) { return mul(a, b); }));
  v.push_back(binary("div", [](const Tensor& a, const Tensor& b) { return div(a, b); }, true));
  v.push_back(binary("pow", [](const Tensor& a, const Tensor& b) { return pow(a, b); }, false, true));
  v.push_back(binary("maximum", [](const Tensor& a, const Tensor& b) { return maximum(a, b); }));
  v.push_back(binary("minimum", [](const Tensor& a, const Tensor& b) { return minimum(a, b); }));
  v.push_back(one("where", "where", 1e-6,
                  [](Context& c) { return V{c.randn({4, 5}), leaf(c.randn({4, 5})), leaf(c.randn({5}))}; },
                  [](const V& i) { return where(gt(i[0], i[0].new_zeros({})), i[1], i[2]); }));
  v.push_back(compare("eq", [](const Tensor& a, const Tensor& b) { return eq(a, b); }));
  v.push_back(compare("ne", [](const Tensor& a, const Tensor& b) { return ne(a, b); }));
  v.push_back(compare("lt", [](const Tensor& a, const Tensor& b) { return lt(a, b); }));
  v.push_back(compare("le", [](const Tensor& a, const Tensor& b) { return le(a, b); }));
  v.push_back(compare("gt", [](const Tensor& a, const Tensor& b) { return gt(a, b); }));
  v.push_back(compare("ge", [](const Tensor& a, const Tensor& b) { return ge(a, b); }));
  // reductions
  auto big = [](Context& c) { return V{leaf(c.randn({4, 33, 17}))}; };
  v.push_back(one("sum_axis", "sum", 1e-5, big, [](const V& i) { return sum(i[0], {1}); }));
  v.push_back(one("sum_all", "sum", 1e-5, big, [](const V& i) { return sum(i[0]); }));
  v.push_back(one("mean_axes", "mean", 1e-5, big, [](const V& i) { return mean(i[0], {0, 2}, true); }));
  v.push_back(one("max_axis", "max", 1e-6, big, [](const V& i) { return max(i[0], {2}); }));
  v.push_back(one("max_ties", "max", 1e-6, [](Context& c) { return V{leaf(ints(c, {6, 7}))}; },
                  [](const V& i) { return max(i[0], {1}); }));
  v.push_back(one("var_axis", "var", 1e-5, big, [](const V& i) { return var(i[0], {2}); }));
  v.push_back(one("argmax", "argmax", 0, big, [](const V& i) { return argmax(i[0], 1); }));
  // softmax
  v.push_back(one("softmax", "softmax", 1e-5, big, [](const V& i) { return softmax(i[0], 1); }));
  v.push_back(one("log_softmax", "log_softmax", 1e-5, big, [](const V& i) { return log_softmax(i[0], -1); }));
  // matmul (cuBLAS; K = 64 sums)
  v.push_back(one("matmul_batched_broadcast", "matmul", 1e-4,
                  [](Context& c) { return V{leaf(c.randn({2, 5, 64})), leaf(c.randn({64, 7}))}; },
                  [](const V& i) { return matmul(i[0], i[1]); }));
  v.push_back(one("matmul_transposed", "matmul", 1e-4,
                  [](Context& c) { return V{leaf(c.randn({3, 9, 6})), leaf(c.randn({3, 8, 6}))}; },
                  [](const V& i) { return matmul(i[0], i[1].transpose(1, 2)); }));
  // conv2d (cuDNN): strided with TF "same" asymmetric padding, depthwise, grouped 1x1
  v.push_back(one("conv2d_stride2_asym_pad", "conv2d", 1e-4,
                  [](Context& c) { return V{leaf(c.randn({2, 4, 9, 11})), leaf(c.randn({6, 4, 3, 3})), leaf(c.randn({6}))}; },
                  [](const V& i) {
                    Conv2dParams p;
                    p.stride_h = p.stride_w = 2;
                    p.pad_l = 0, p.pad_r = 1, p.pad_t = 0, p.pad_b = 1;
                    return conv2d(i[0], i[1], i[2], p);
                  }));
  v.push_back(one("conv2d_depthwise5x5", "conv2d", 1e-4,
                  [](Context& c) { return V{leaf(c.randn({2, 8, 12, 10})), leaf(c.randn({8, 1, 5, 5}))}; },
                  [](const V& i) {
                    Conv2dParams p;
                    p.pad_l = p.pad_r = p.pad_t = p.pad_b = 2;
                    p.groups = 8;
                    return conv2d(i[0], i[1], Tensor(), p);
                  }));
  v.push_back(one("conv2d_grouped1x1", "conv2d", 1e-4,
                  [](Context& c) { return V{leaf(c.randn({2, 6, 7, 5})), leaf(c.randn({4, 3, 1, 1})), leaf(c.randn({4}))}; },
                  [](const V& i) {
                    Conv2dParams p;
                    p.groups = 2;
                    return conv2d(i[0], i[1], i[2], p);
                  }));
  // norms
  v.push_back(one("batch_norm_train", "batch_norm", 1e-4,
                  [](Context& c) {
                    return V{leaf(c.randn({3, 5, 7, 9})), leaf(c.randn({5})), leaf(c.randn({5})), c.randn({5}),
                             c.rand({5}, 0.5, 2.0)};
                  },
                  [](const V& i) { return batch_norm(i[0], i[1], i[2], i[3], i[4], true, 0.1, 1e-5); }));
  v.push_back(one("batch_norm_eval", "batch_norm", 1e-5,
                  [](Context& c) {
                    return V{leaf(c.randn({3, 5, 7, 9})), leaf(c.randn({5})), leaf(c.randn({5})), c.randn({5}),
                             c.rand({5}, 0.5, 2.0)};
                  },
                  [](const V& i) { return batch_norm(i[0], i[1], i[2], i[3], i[4], false, 0.1, 1e-5); }));
  v.push_back(one("batch_norm_act_silu_train", "batch_norm_act", 1e-4,
                  [](Context& c) {
                    return V{leaf(c.randn({3, 5, 7, 9})), leaf(c.randn({5})), leaf(c.randn({5})), c.randn({5}),
                             c.rand({5}, 0.5, 2.0)};
                  },
                  [](const V& i) {
                    return batch_norm_act(i[0], i[1], i[2], i[3], i[4], true, 0.1, 1e-5, NormAct::silu);
                  }));
  // Synchronised BatchNorm with a one-process group (identity sums); on CUDA it runs through host copies.
  v.push_back(one("sync_batch_norm_act_silu", "sync_batch_norm_act", 1e-5,
                  [](Context& c) {
                    return V{leaf(c.randn({3, 5, 7, 9})), leaf(c.randn({5})), leaf(c.randn({5})), c.randn({5}),
                             c.rand({5}, 0.5, 2.0)};
                  },
                  [](const V& i) {
                    return nn::sync_batch_norm_act(i[0], i[1], i[2], i[3], i[4], 0.1, 1e-5, NormAct::silu,
                                                   [](double*, int64_t) {});
                  }));
  v.push_back(one("batch_norm_act_relu_eval", "batch_norm_act", 1e-5,
                  [](Context& c) {
                    return V{leaf(c.randn({3, 5, 7, 9})), leaf(c.randn({5})), leaf(c.randn({5})), c.randn({5}),
                             c.rand({5}, 0.5, 2.0)};
                  },
                  [](const V& i) {
                    return batch_norm_act(i[0], i[1], i[2], i[3], i[4], false, 0.1, 1e-5, NormAct::relu);
                  }));
  v.push_back(one("layer_norm", "layer_norm", 1e-4,
                  [](Context& c) { return V{leaf(c.randn({6, 7, 96})), leaf(c.randn({96})), leaf(c.randn({96}))}; },
                  [](const V& i) { return layer_norm(i[0], 1, i[1], i[2], 1e-5); }));
  // pool
  v.push_back(one("global_avg_pool2d", "global_avg_pool2d", 1e-5, [](Context& c) { return V{leaf(c.randn({2, 3, 9, 13}))}; },
                  [](const V& i) { return global_avg_pool2d(i[0]); }));
  v.push_back(one("upsample_nearest2d", "upsample_nearest2d", 1e-6, [](Context& c) { return V{leaf(c.randn({2, 3, 4, 5}))}; },
                  [](const V& i) { return upsample_nearest2d(i[0], 2, 3); }));
  // shape
  v.push_back(one("concat", "concat", 0, [](Context& c) { return V{leaf(c.randn({2, 3, 4})), leaf(c.randn({2, 5, 4}))}; },
                  [](const V& i) { return concat({i[0], i[1]}, 1); }));
  v.push_back(one("pad_asym_crop", "pad", 0, x345, [](const V& i) { return pad(i[0], {1, 2, -1, 1}, 0.5); }));
  v.push_back(one("roll", "roll", 0, x345, [](const V& i) { return roll(i[0], {1, -7}, {1, 2}); }));
  v.push_back(one("gather", "gather", 1e-6,
                  [](Context& c) { return V{leaf(c.randn({4, 6})), c.randint(0, 6, {4, 9})}; },
                  [](const V& i) { return gather(i[0], 1, i[1]); }));
  v.push_back(one("index_select_repeats", "index_select", 1e-6,
                  [](Context& c) { return V{leaf(c.randn({5, 3, 2})), c.from_vector(std::vector<int64_t>{4, 0, 4, 4, 2}, {5})}; },
                  [](const V& i) { return index_select(i[0], 0, i[1]); }));
  v.push_back(one("one_hot", "one_hot", 0, [](Context& c) { return V{c.randint(0, 5, {3, 7})}; },
                  [](const V& i) { return one_hot(i[0], 5); }));
  v.push_back(one("channel_gate", "channel_gate", 1e-6,
                  [](Context& c) { return V{leaf(c.randn({2, 3, 4, 5})), leaf(c.randn({2, 3, 1, 1}))}; },
                  [](const V& i) { return channel_gate(i[0], i[1]); }));
  // The fused CPU DC loss against the GPU's composed one (softmax, log_softmax, gather, one_hot, sums).
  v.push_back(one("dc_loss", "dc_loss", 1e-5,
                  [](Context& c) { return V{leaf(c.randn({2, 4, 5, 6})), c.randint(0, 4, {2, 5, 6})}; },
                  [](const V& i) { return losses::dc_loss(i[0], i[1]); }));
  return v;
}

}  // namespace cq::testing
