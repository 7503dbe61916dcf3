// The backward engine: collects the graph reachable from the output, runs each node once all the gradient flowing
// into it has arrived (dependency counting), accumulates into leaves, and releases each node's saved tensors.
#include "tensor/autograd.h"

#include <queue>
#include <unordered_map>

#include "tensor/copy_kernels.h"
#include "tensor/backend.h"
#include "tensor/op_registry.h"

namespace cq {

namespace {
struct Pending {
  Tensor grad;
  bool owned = false;  // true once grad is a buffer of ours that may be added into in place
};

void add_into(const Tensor& dst, const Tensor& src) {
  if (dst.device().is_cuda()) {
    CQ_CUDA_CALL("backward", kernels::add_into_cuda(dst, src));
  } else {
    kernels::add_into_cpu(dst, src);
  }
}

// Adds g into slot p; the first contribution is kept by reference (it may alias another node's gradient), a second
// one first makes a private buffer that later ones add into in place.
void accumulate(Pending& p, Tensor g) {
  if (!p.grad.defined()) {
    p.grad = std::move(g);  // moved in, so a gradient nobody else holds stays unshared (see own())
    return;
  }
  if (!p.owned) {
    Tensor c = p.grad.new_empty(p.grad.shape());
    c.copy_(p.grad);
    p.grad = c;
    p.owned = true;
  }
  add_into(p.grad, g.contiguous());
}

// A gradient that will be stored in .grad: never an alias of a tensor the graph may still hand elsewhere. A gradient
// nothing else references (no saved tensor, no other view of its memory) is taken as it is, as PyTorch's
// AccumulateGrad steals a uniquely referenced gradient: the copy would cost a pass over memory per leaf per step.
Tensor own(const Pending& p) {
  if (p.owned) return p.grad;
  const TensorImpl& g = p.grad.impl();
  if (p.grad.impl_ptr().use_count() == 1 && g.storage.use_count() == 1 && g.offset == 0 && p.grad.is_contiguous())
    return p.grad;
  Tensor c = p.grad.new_empty(p.grad.shape());
  c.copy_(p.grad);
  return c;
}

void check_grad(const Node& node, size_t i, const Tensor& g) {
  const Edge& e = node.inputs[i];
  CQ_CHECK(g.shape() == e.shape, "backward of ", node.name, ": gradient for input ", i, " has shape ",
           shape_str(g.shape()), " but the input has shape ", shape_str(e.shape));
  CQ_CHECK(g.dtype() == e.dtype, "backward of ", node.name, ": gradient for input ", i, " is ", g.describe(),
           " but the input is ", dtype_name(e.dtype));
}

// Runs the engine. With capture == nullptr gradients accumulate into leaves' .grad; otherwise only into capture
// (keyed by leaf impl or by the producing node of a non-leaf).
void run_backward(const Tensor& root, const Tensor& grad_root, bool retain,
                  std::unordered_map<const void*, Pending>* capture) {
  Tensor g0 = grad_root;
  if (!g0.defined()) {
    CQ_CHECK(root.numel() == 1, "backward: grad can be implicit only for a one-element output, got ",
             root.describe());
    g0 = root.new_full(root.shape(), 1.0);
  }
  CQ_CHECK(g0.shape() == root.shape(), "backward: grad ", g0.describe(), " does not match output ", root.describe());
  NoGradGuard ng(root.runtime());

  if (!root.grad_fn()) {
    CQ_CHECK(root.requires_grad(), "backward: tensor ", root.describe(), " does not require grad");
    if (capture) {
      accumulate((*capture)[root.impl_ptr().get()], g0);
    } else {
      Pending p{root.grad(), false};
      accumulate(p, g0);
      root.impl().grad = own(p).impl_ptr();
      if (root.impl().post_accumulate_grad_hook) root.impl().post_accumulate_grad_hook();
    }
    return;
  }

  // Dependency counts over the reachable graph, and the number of edges into each leaf (a leaf's gradient is
  // complete, and committed to .grad, once every node that uses it has run).
  std::unordered_map<Node*, int> deps;
  std::unordered_map<TensorImpl*, int> leaf_uses;
  std::vector<Node*> stack{root.grad_fn().get()};
  deps[root.grad_fn().get()] = 0;
  while (!stack.empty()) {
    Node* n = stack.back();
    stack.pop_back();
    for (auto& e : n->inputs) {
      if (e.leaf) leaf_uses[e.leaf.get()]++;
      if (!e.node) continue;
      auto it = deps.find(e.node.get());
      if (it == deps.end()) {
        deps[e.node.get()] = 1;
        stack.push_back(e.node.get());
      } else {
        it->second++;
      }
    }
  }

  std::unordered_map<Node*, Pending> grads;
  accumulate(grads[root.grad_fn().get()], g0);
  auto later_first = [](Node* a, Node* b) { return a->sequence < b->sequence; };
  std::priority_queue<Node*, std::vector<Node*>, decltype(later_first)> ready(later_first);
  ready.push(root.grad_fn().get());
  std::unordered_map<TensorImpl*, Pending> leaf_grads;
  std::vector<std::shared_ptr<TensorImpl>> leaf_order;
  // Stores a leaf's accumulated gradient in .grad (adding into an existing .grad in place: it is ours, own() made it)
  // and runs its hook. The same arithmetic whenever it happens, so committing early changes no value.
  auto commit = [&](const std::shared_ptr<TensorImpl>& leaf) {
    auto it = leaf_grads.find(leaf.get());
    if (it == leaf_grads.end()) return;  // no gradient reached it (or already committed)
    if (leaf->grad) {
      add_into(Tensor(leaf->grad), it->second.grad.contiguous());
    } else {
      leaf->grad = own(it->second).impl_ptr();
    }
    leaf_grads.erase(it);
    if (leaf->post_accumulate_grad_hook) leaf->post_accumulate_grad_hook();
  };

  while (!ready.empty()) {
    Node* n = ready.top();
    ready.pop();
    Tensor g = grads[n].grad;
    grads.erase(n);
    if (capture) {
      auto it = capture->find(n);
      if (it != capture->end()) accumulate(it->second, g);
    }
    CQ_CHECK(n->backward, "backward through ", n->name,
             " a second time: its saved tensors were freed (pass retain_graph=true to the first backward)");
    std::vector<Tensor> in_grads = n->backward(g);
    CQ_CHECK(in_grads.size() == n->inputs.size(), "backward of ", n->name, " returned ", in_grads.size(),
             " gradients for ", n->inputs.size(), " inputs");
    if (!retain) n->backward = nullptr;  // frees the saved tensors now
    for (size_t i = 0; i < n->inputs.size(); ++i) {
      Edge& e = n->inputs[i];
      if (e.node) {
        if (in_grads[i].defined()) {
          check_grad(*n, i, in_grads[i]);
          accumulate(grads[e.node.get()], std::move(in_grads[i]));
        }
        if (--deps[e.node.get()] == 0) {
          if (grads[e.node.get()].grad.defined()) {
            ready.push(e.node.get());
          } else {
            grads.erase(e.node.get());  // nothing flows here: the subgraph gets no gradient
          }
        }
      } else if (e.leaf) {
        if (in_grads[i].defined()) {
          check_grad(*n, i, in_grads[i]);
          if (capture) {
            auto it = capture->find(e.leaf.get());
            if (it != capture->end()) accumulate(it->second, in_grads[i]);
          } else {
            auto it = leaf_grads.find(e.leaf.get());
            if (it == leaf_grads.end()) leaf_order.push_back(e.leaf);
            accumulate(leaf_grads[e.leaf.get()], std::move(in_grads[i]));
          }
        }
        if (!capture && --leaf_uses[e.leaf.get()] == 0) commit(e.leaf);
      }
    }
  }
  // Leaves some of whose users never ran (no gradient flowed into those nodes) are complete now.
  for (auto& leaf : leaf_order) commit(leaf);
}
}  // namespace

bool needs_grad(const std::vector<Tensor>& inputs) {
  bool any = false;
  for (const auto& t : inputs)
    if (t.defined() && t.requires_grad()) any = true;
  return any && inputs[0].runtime().grad_enabled();
}

void record(const char* op, Tensor& out, const std::vector<Tensor>& inputs, Node::Backward backward) {
  bool any = false;
  const Tensor* first = nullptr;
  for (const auto& t : inputs) {
    if (!t.defined()) continue;
    if (!first) first = &t;
    if (t.requires_grad()) any = true;
  }
  if (!any || !first->runtime().grad_enabled()) return;
  const OpInfo* info = find_op(op);
  CQ_CHECK(info && info->differentiable, "autograd: op '", op,
           "' records a backward node but is not listed as differentiable in tensor/op_registry.h");
  auto node = std::make_shared<Node>();
  node->name = op;
  node->backward = std::move(backward);
  node->out_shape = out.shape();
  node->sequence = first->runtime().next_sequence();
  node->inputs.reserve(inputs.size());
  for (const auto& t : inputs) {
    Edge e;
    if (t.defined() && t.requires_grad()) {
      if (t.grad_fn()) {
        e.node = t.grad_fn();
      } else {
        e.leaf = t.impl_ptr();
      }
      e.shape = t.shape();
      e.dtype = t.dtype();
    }
    node->inputs.push_back(std::move(e));
  }
  out.impl().grad_fn = std::move(node);
  out.impl().requires_grad = true;
}

void Tensor::backward(const Tensor& grad, bool retain_graph) const { run_backward(*this, grad, retain_graph, nullptr); }

std::vector<Tensor> grad(const Tensor& output, const std::vector<Tensor>& inputs, const Tensor& grad_output,
                         bool retain_graph) {
  std::unordered_map<const void*, Pending> capture;
  std::vector<const void*> keys;
  for (const auto& t : inputs) {
    CQ_CHECK(t.requires_grad(), "grad: input ", t.describe(), " does not require grad");
    const void* k = t.grad_fn() ? static_cast<const void*>(t.grad_fn().get()) : t.impl_ptr().get();
    keys.push_back(k);
    capture[k];
  }
  run_backward(output, grad_output, retain_graph, &capture);
  std::vector<Tensor> out;
  for (size_t i = 0; i < inputs.size(); ++i) {
    Tensor g = capture[keys[i]].grad;
    out.push_back(g.defined() ? g.detach() : inputs[i].new_zeros(inputs[i].shape()));
  }
  return out;
}

}  // namespace cq
