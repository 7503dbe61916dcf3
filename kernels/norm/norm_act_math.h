// Per-element math of batch_norm_act shared by its CPU kernels and any CUDA code: the activation applied to the
// normalised value z and its derivative written in terms of z (the backward recomputes z from x rather than saving
// it). Relu and silu are the elementwise family's own functors, so fused and unfused results agree.
#pragma once
#include "kernels/elementwise/elementwise_math.h"
#include "tensor/hd.h"

namespace cq {

enum class NormAct { identity, relu, silu };

namespace normact {

struct Identity {
  template <class T> CQ_HD T operator()(T z) const { return z; }
  template <class T> CQ_HD T grad(T g, T) const { return g; }
};
// ew::Relu's derivative reads the output relu(z), which is positive exactly where z is: it takes z as well.
struct Relu : ew::Relu {
  template <class T> CQ_HD T grad(T g, T z) const { return ew::keep_or_zero(z > T(0), g); }
};
using Silu = ew::Silu;  // its derivative already reads the input z

// Calls v(functor) for act (host side: picks the loop instantiation once).
template <class V>
decltype(auto) visit_act(NormAct act, V&& v) {
  switch (act) {
    case NormAct::relu: return v(Relu{});
    case NormAct::silu: return v(Silu{});
    case NormAct::identity: break;
  }
  return v(Identity{});
}

}  // namespace normact
}  // namespace cq
