// Reverse-mode autograd over a dynamic graph. Each differentiable op records one Node holding a closure that maps the
// output's gradient to its inputs' gradients; the closure owns the tensors it saved, and the engine drops it right
// after it runs, so saved activations are freed during backward rather than after it.
#pragma once
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "tensor/runtime.h"
#include "tensor/tensor.h"

namespace cq {

struct Edge {
  std::shared_ptr<Node> node;        // the producing op of a non-leaf input
  std::shared_ptr<TensorImpl> leaf;  // a leaf input that requires grad (gradient accumulates into it)
  Shape shape;                       // the input's shape (backward results are checked against it)
  DType dtype = DType::f32;
  bool active() const { return node || leaf; }
};

struct Node {
  using Backward = std::function<std::vector<Tensor>(const Tensor& grad_out)>;
  std::string name;
  std::vector<Edge> inputs;
  Backward backward;  // empty once run (saved tensors released)
  Shape out_shape;
  uint64_t sequence = 0;  // creation order; ties in the engine's ready queue run newest first
};

// True when grad mode is on for x's runtime and any of the inputs requires grad.
bool needs_grad(const std::vector<Tensor>& inputs);

// Attaches a backward node to out. inputs are the op's tensor inputs in the order backward returns gradients;
// backward may return an undefined Tensor for inputs that get no gradient. Does nothing when !needs_grad(inputs).
void record(const char* op, Tensor& out, const std::vector<Tensor>& inputs, Node::Backward backward);

// Disables graph recording on a runtime for the scope's lifetime (restores the previous mode on exit).
class NoGradGuard {
 public:
  explicit NoGradGuard(Runtime& rt) : rt_(rt), prev_(rt.grad_enabled()) { rt.set_grad_enabled(false); }
  ~NoGradGuard() { rt_.set_grad_enabled(prev_); }
  NoGradGuard(const NoGradGuard&) = delete;
  NoGradGuard& operator=(const NoGradGuard&) = delete;

 private:
  Runtime& rt_;
  bool prev_;
};

// Gradients of outputs w.r.t. inputs without touching .grad of anything (used by gradient checks and losses).
std::vector<Tensor> grad(const Tensor& output, const std::vector<Tensor>& inputs, const Tensor& grad_output = Tensor(),
                         bool retain_graph = false);

}  // namespace cq
