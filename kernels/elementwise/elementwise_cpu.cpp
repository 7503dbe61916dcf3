// CPU kernels of the elementwise family. Shapes: unary out[n] = f(x[n]) (contiguous); broadcasting ops
// out[S] = f(a[Sa], b[Sb]) with Sa, Sb broadcastable to S (any strides), out contiguous.
// Contiguous and scalar-broadcast cases are plain loops the compiler vectorises (f32 relu / sigmoid / silu and add /
// mul through the per-ISA loops of elementwise_simd.cpp); the general case walks the merged broadcast plan in tiles
// of one inner row segment. Every output element is computed independently, so results
// do not depend on the thread count.
#include <algorithm>
#include <type_traits>

#include "kernels/elementwise/elementwise_kernels.h"
#include "kernels/elementwise/elementwise_simd.h"
#include "tensor/runtime.h"

namespace cq::kernels {
namespace {

constexpr int64_t kParallelMin = 1 << 15;  // below this, thread start-up costs more than the loop
constexpr int64_t kTile = 4096;

template <int64_t V>
using Const = std::integral_constant<int64_t, V>;

// Calls loop(sa, sb) with compile-time strides for the common cases (contiguous, or one side broadcast along the
// inner row) so those loops vectorise, and runtime strides otherwise.
template <class Loop>
inline void with_strides(int64_t sa, int64_t sb, Loop&& loop) {
  if (sa == 1 && sb == 1) {
    loop(Const<1>{}, Const<1>{});
  } else if (sa == 1 && sb == 0) {
    loop(Const<1>{}, Const<0>{});
  } else if (sa == 0 && sb == 1) {
    loop(Const<0>{}, Const<1>{});
  } else {
    loop(sa, sb);
  }
}

// Runs body(out_index, in_offsets, inner_strides, len) over tiles of the plan's innermost axis, in parallel.
template <int N, class Body>
void for_each_tile(const BroadcastPlan<N>& p, int threads, Body&& body) {
  if (p.n == 0) return;
  int nd = p.layouts[0].ndim;
  int64_t inner = nd ? p.layouts[0].shape[nd - 1] : 1;
  StridedLayout outer[N];
  int64_t istr[N];
  for (int k = 0; k < N; ++k) {
    outer[k] = p.layouts[k];
    outer[k].ndim = nd ? nd - 1 : 0;
    istr[k] = nd ? p.layouts[k].strides[nd - 1] : 0;
  }
  int64_t rows = p.n / inner, nb = (inner + kTile - 1) / kTile, tiles = rows * nb;
#pragma omp parallel for num_threads(threads) if (p.n > kParallelMin)
  for (int64_t t = 0; t < tiles; ++t) {
    int64_t r = t / nb, s = (t - r * nb) * kTile, len = std::min(kTile, inner - s);
    int64_t off[N];
    for (int k = 0; k < N; ++k) off[k] = outer[k].offset_of(r) + s * istr[k];
    body(r * inner + s, off, istr, len);
  }
}

// out[i] = f(a[i], b[i]) over a broadcast plan; a, b are storage base pointers (the plan holds the offsets).
template <class T, class O, class F>
void binary_apply(const BroadcastPlan<2>& p, O* o, const T* a, const T* b, int threads, F f) {
  int64_t n = p.n;
  const T* a0 = a + p.layouts[0].offset;
  const T* b0 = b + p.layouts[1].offset;
  if (p.contiguous[0] && p.contiguous[1]) {
#pragma omp parallel for num_threads(threads) if (n > kParallelMin)
    for (int64_t i = 0; i < n; ++i) o[i] = f(a0[i], b0[i]);
    return;
  }
  if (p.contiguous[0] && p.scalar[1]) {
    const T bv = *b0;
#pragma omp parallel for num_threads(threads) if (n > kParallelMin)
    for (int64_t i = 0; i < n; ++i) o[i] = f(a0[i], bv);
    return;
  }
  if (p.scalar[0] && p.contiguous[1]) {
    const T av = *a0;
#pragma omp parallel for num_threads(threads) if (n > kParallelMin)
    for (int64_t i = 0; i < n; ++i) o[i] = f(av, b0[i]);
    return;
  }
  for_each_tile(p, threads, [&](int64_t oi, const int64_t* off, const int64_t* st, int64_t len) {
    O* op = o + oi;
    const T* ap = a + off[0];
    const T* bp = b + off[1];
    with_strides(st[0], st[1], [&](auto sa, auto sb) {
      for (int64_t i = 0; i < len; ++i) op[i] = f(ap[i * sa], bp[i * sb]);
    });
  });
}

template <class T, bool NA, bool NB, class F>
void binary_grad_apply(const BroadcastPlan<2>& p, T* ga, T* gb, const T* g, const T* a, const T* b, int threads,
                       F f) {
  for_each_tile(p, threads, [&](int64_t oi, const int64_t* off, const int64_t* st, int64_t len) {
    const T* gp = g + oi;
    const T* ap = a + off[0];
    const T* bp = b + off[1];
    with_strides(st[0], st[1], [&](auto sa, auto sb) {
      for (int64_t i = 0; i < len; ++i) {
        T x, y;
        f.grad(gp[i], ap[i * sa], bp[i * sb], x, y);
        if (NA) ga[oi + i] = x;
        if (NB) gb[oi + i] = y;
      }
    });
  });
}

template <class T>
const T* base_of(const Tensor& t) {
  return static_cast<const T*>(t.storage()->data());
}

// Runs fn(start, len) over [0, n) in blocks, in parallel (blocks are independent: any thread count gives the same
// result).
template <class Fn>
void for_blocks(int64_t n, int threads, Fn&& fn) {
  const int64_t nb = (n + kTile - 1) / kTile;
#pragma omp parallel for num_threads(threads) if (n > kParallelMin)
  for (int64_t blk = 0; blk < nb; ++blk) {
    const int64_t s = blk * kTile;
    fn(s, std::min(kTile, n - s));
  }
}

// The f32 add / mul fast path (elementwise_simd.h) for plans whose inner strides are 0 or 1; false when the plan
// needs the general loop.
bool binary_f32_fast(ew::BinaryOp op, const BroadcastPlan<2>& p, float* o, const float* a, const float* b,
                     int threads) {
  if (!simd::has_binary_f32(op)) return false;
  const float* a0 = a + p.layouts[0].offset;
  const float* b0 = b + p.layouts[1].offset;
  const bool flat[2] = {p.contiguous[0] || p.scalar[0], p.contiguous[1] || p.scalar[1]};
  if (flat[0] && flat[1]) {
    const int64_t sa = p.scalar[0] ? 0 : 1, sb = p.scalar[1] ? 0 : 1;
    for_blocks(p.n, threads, [&](int64_t s, int64_t len) {
      simd::binary_f32(op, a0 + s * sa, sa, b0 + s * sb, sb, o + s, len);
    });
    return true;
  }
  const int nd = p.layouts[0].ndim;
  if (nd == 0) return false;
  const int64_t ia = p.layouts[0].strides[nd - 1], ib = p.layouts[1].strides[nd - 1];
  if ((ia != 0 && ia != 1) || (ib != 0 && ib != 1)) return false;
  for_each_tile(p, threads, [&](int64_t oi, const int64_t* off, const int64_t* st, int64_t len) {
    simd::binary_f32(op, a + off[0], st[0], b + off[1], st[1], o + oi, len);
  });
  return true;
}

}  // namespace

void unary_cpu(ew::UnaryOp op, ew::UnaryParams prm, const Tensor& out, const Tensor& x) {
  int64_t n = out.numel();
  int threads = out.runtime().threads();
  dispatch_float(x.dtype(), "elementwise", [&](auto tag_) {
    using scalar_t = decltype(tag_);
    const scalar_t* xp = x.data<scalar_t>();
    scalar_t* yp = out.data<scalar_t>();
    if constexpr (std::is_same_v<scalar_t, float>) {
      if (simd::has_unary_f32(op)) {
        for_blocks(n, threads, [&](int64_t s, int64_t len) { simd::unary_f32(op, xp + s, yp + s, len); });
        return;
      }
    }
    ew::visit_unary(op, prm, [&](auto f) {
#pragma omp parallel for num_threads(threads) if (n > kParallelMin)
      for (int64_t i = 0; i < n; ++i) yp[i] = f(xp[i]);
    });
  });
}

void unary_grad_cpu(ew::UnaryOp op, ew::UnaryParams prm, const Tensor& gx, const Tensor& g, const Tensor& s) {
  int64_t n = gx.numel();
  int threads = gx.runtime().threads();
  dispatch_float(gx.dtype(), "elementwise backward", [&](auto tag_) {
    using scalar_t = decltype(tag_);
    const scalar_t* gp = g.data<scalar_t>();
    const scalar_t* sp = s.data<scalar_t>();
    scalar_t* dp = gx.data<scalar_t>();
    if constexpr (std::is_same_v<scalar_t, float>) {
      if (simd::has_unary_f32(op)) {
        for_blocks(n, threads, [&](int64_t b, int64_t len) { simd::unary_grad_f32(op, gp + b, sp + b, dp + b, len); });
        return;
      }
    }
    ew::visit_unary(op, prm, [&](auto f) {
#pragma omp parallel for num_threads(threads) if (n > kParallelMin)
      for (int64_t i = 0; i < n; ++i) dp[i] = f.grad(gp[i], sp[i]);
    });
  });
}

void binary_cpu(ew::BinaryOp op, const Tensor& out, const Tensor& a, const Tensor& b) {
  const Tensor* ins[2] = {&a, &b};
  BroadcastPlan<2> p = make_plan(ins, out.shape());
  int threads = out.runtime().threads();
  dispatch_float(out.dtype(), "elementwise", [&](auto tag_) {
    using scalar_t = decltype(tag_);
    if constexpr (std::is_same_v<scalar_t, float>) {
      if (binary_f32_fast(op, p, out.data<float>(), base_of<float>(a), base_of<float>(b), threads)) return;
    }
    ew::visit_binary(op, [&](auto f) {
      binary_apply<scalar_t>(p, out.data<scalar_t>(), base_of<scalar_t>(a), base_of<scalar_t>(b), threads, f);
    });
  });
}

void binary_grad_cpu(ew::BinaryOp op, const Tensor& ga, const Tensor& gb, const Tensor& g, const Tensor& a,
                     const Tensor& b) {
  const Tensor* ins[2] = {&a, &b};
  BroadcastPlan<2> p = make_plan(ins, g.shape());
  int threads = g.runtime().threads();
  dispatch_float(g.dtype(), "elementwise backward", [&](auto tag_) {
    using scalar_t = decltype(tag_);
    const scalar_t* gp = g.data<scalar_t>();
    const scalar_t* ap = base_of<scalar_t>(a);
    const scalar_t* bp = base_of<scalar_t>(b);
    scalar_t* gap = ga.defined() ? ga.data<scalar_t>() : nullptr;
    scalar_t* gbp = gb.defined() ? gb.data<scalar_t>() : nullptr;
    ew::visit_binary(op, [&](auto f) {
      if (gap && gbp) {
        binary_grad_apply<scalar_t, true, true>(p, gap, gbp, gp, ap, bp, threads, f);
      } else if (gap) {
        binary_grad_apply<scalar_t, true, false>(p, gap, gbp, gp, ap, bp, threads, f);
      } else if (gbp) {
        binary_grad_apply<scalar_t, false, true>(p, gap, gbp, gp, ap, bp, threads, f);
      }
    });
  });
}

void compare_cpu(ew::CompareOp op, const Tensor& out, const Tensor& a, const Tensor& b) {
  const Tensor* ins[2] = {&a, &b};
  BroadcastPlan<2> p = make_plan(ins, out.shape());
  int threads = out.runtime().threads();
  dispatch_all(a.dtype(), "compare", [&](auto tag_) {
    using scalar_t = decltype(tag_);
    ew::visit_compare(op, [&](auto f) {
      binary_apply<scalar_t>(p, out.data<uint8_t>(), base_of<scalar_t>(a), base_of<scalar_t>(b), threads, f);
    });
  });
}

void where_cpu(const Tensor& out, const Tensor& cond, const Tensor& a, const Tensor& b) {
  const Tensor* ins[3] = {&cond, &a, &b};
  BroadcastPlan<3> p = make_plan(ins, out.shape());
  int threads = out.runtime().threads();
  const uint8_t* c = base_of<uint8_t>(cond);
  dispatch_all(out.dtype(), "where", [&](auto tag_) {
    using scalar_t = decltype(tag_);
    scalar_t* o = out.data<scalar_t>();
    const scalar_t* ap = base_of<scalar_t>(a);
    const scalar_t* bp = base_of<scalar_t>(b);
    if (p.contiguous[0] && p.contiguous[1] && p.contiguous[2]) {
      const uint8_t* c0 = c + p.layouts[0].offset;
      const scalar_t* a0 = ap + p.layouts[1].offset;
      const scalar_t* b0 = bp + p.layouts[2].offset;
      int64_t n = p.n;
#pragma omp parallel for num_threads(threads) if (n > kParallelMin)
      for (int64_t i = 0; i < n; ++i) o[i] = ew::select(c0[i], a0[i], b0[i]);
      return;
    }
    for_each_tile(p, threads, [&](int64_t oi, const int64_t* off, const int64_t* st, int64_t len) {
      for (int64_t i = 0; i < len; ++i)
        o[oi + i] = ew::select(c[off[0] + i * st[0]], ap[off[1] + i * st[1]], bp[off[2] + i * st[2]]);
    });
  });
}

}  // namespace cq::kernels
