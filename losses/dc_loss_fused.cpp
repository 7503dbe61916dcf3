// See dc_loss_fused.h. Formulas (p = softmax(z) over classes, g = one_hot(t), per sample n and class c, sums over
// the P = H*W pixels; M = N*P pixels in all):
//   CE   = -(1/M) sum log p_t                 Dice = (1/(N*C)) sum_{n,c} (1 - 2 I_nc / S_nc)
//   I_nc = sum p_c g_c,  S_nc = (sum g_c^2 + sum p_c^2) + 1e-6
// Gradient with respect to the logits, per pixel of sample n (delta_c = g_c):
//   dCE/dz_c   = (p_c - g_c) / M
//   dDice/dp_c = q_c = (1/(N*C)) (-2 g_c / S_nc + 4 I_nc p_c / S_nc^2),   dDice/dz_c = p_c (q_c - sum_c' p_c' q_c')
#include "losses/dc_loss_fused.h"

#include <algorithm>
#include <cmath>
#include <type_traits>
#include <vector>

#include "kernels/softmax/softmax_math.h"
#include "tensor/autograd.h"
#include "tensor/runtime.h"

namespace cq::losses {
namespace {

constexpr int64_t kTile = 64;  // pixels side by side (unit-stride inner loops, as the softmax kernels)

struct Geometry {
  int64_t N, C, P, tiles_per_sample;
  int64_t tasks() const { return N * tiles_per_sample; }
};

// Forward: probabilities into prob, and per task (sample n, tile of pixels) the partial sums
// part[task] = {sum log p_t, I_0..I_{C-1}, sum p_0^2.., sum g_0..} in double.
template <class T>
void forward_tiles(const Geometry& g, const T* z, const int64_t* t, T* prob, double* part, int threads) {
  using namespace softmax_math;
  const int64_t stride = 1 + 3 * g.C;
#pragma omp parallel for num_threads(threads) schedule(static) if (g.N * g.C * g.P > (1 << 14))
  for (int64_t task = 0; task < g.tasks(); ++task) {
    const int64_t n = task / g.tiles_per_sample, i0 = (task % g.tiles_per_sample) * kTile;
    const int64_t w = std::min(kTile, g.P - i0);
    const T* zb = z + n * g.C * g.P + i0;
    T* pb = prob + n * g.C * g.P + i0;
    const int64_t* tb = t + n * g.P + i0;
    T m[kTile];
    double s[kTile], logs[kTile];
    for (int64_t i = 0; i < w; ++i) {
      m[i] = lowest<T>();
      s[i] = 0.0;
    }
    for (int64_t c = 0; c < g.C; ++c)
      for (int64_t i = 0; i < w; ++i) m[i] = max_step(m[i], zb[c * g.P + i]);
    for (int64_t c = 0; c < g.C; ++c)
      for (int64_t i = 0; i < w; ++i) {
        const T e = shifted_exp(zb[c * g.P + i], m[i]);
        pb[c * g.P + i] = e;
        s[i] += static_cast<double>(e);
      }
    for (int64_t i = 0; i < w; ++i) {
      logs[i] = std::log(s[i]);
      s[i] = 1.0 / s[i];
    }
    double* out = part + task * stride;
    double ce = 0.0;
    for (int64_t i = 0; i < w; ++i) ce += static_cast<double>(log_softmax_out(zb[tb[i] * g.P + i], m[i], logs[i]));
    out[0] = ce;
    for (int64_t c = 0; c < g.C; ++c) {
      double inter = 0.0, pred = 0.0, ground = 0.0;
      for (int64_t i = 0; i < w; ++i) {
        const T p = softmax_out(pb[c * g.P + i], s[i]);
        pb[c * g.P + i] = p;
        const bool hit = tb[i] == c;
        inter += hit ? static_cast<double>(p) : 0.0;
        pred += static_cast<double>(p * p);
        ground += hit ? 1.0 : 0.0;
      }
      out[1 + c] = inter;
      out[1 + g.C + c] = pred;
      out[1 + 2 * g.C + c] = ground;
    }
  }
}

// Backward: grad[n, c, i] = go * (dCE/dz + dDice/dz) (header comment), from the saved probabilities.
template <class T>
void backward_tiles(const Geometry& g, const T* prob, const int64_t* t, const double* inter, const double* denom,
                    double go, T* grad, int threads) {
  const double inv_m = 1.0 / static_cast<double>(g.N * g.P), inv_nc = 1.0 / static_cast<double>(g.N * g.C);
#pragma omp parallel for num_threads(threads) schedule(static) if (g.N * g.C * g.P > (1 << 14))
  for (int64_t task = 0; task < g.tasks(); ++task) {
    const int64_t n = task / g.tiles_per_sample, i0 = (task % g.tiles_per_sample) * kTile;
    const int64_t w = std::min(kTile, g.P - i0);
    const T* pb = prob + n * g.C * g.P + i0;
    const int64_t* tb = t + n * g.P + i0;
    T* gb = grad + n * g.C * g.P + i0;
    double dot[kTile];
    for (int64_t i = 0; i < w; ++i) dot[i] = 0.0;
    // q_c, kept in grad's storage between the two passes (as double it would need a second buffer).
    for (int64_t c = 0; c < g.C; ++c) {
      const double S = denom[n * g.C + c], I = inter[n * g.C + c];
      const double a = -2.0 * inv_nc / S, b = 4.0 * inv_nc * I / (S * S);
      for (int64_t i = 0; i < w; ++i) {
        const double p = static_cast<double>(pb[c * g.P + i]);
        const double q = (tb[i] == c ? a : 0.0) + b * p;
        dot[i] += p * q;
      }
    }
    for (int64_t c = 0; c < g.C; ++c) {
      const double S = denom[n * g.C + c], I = inter[n * g.C + c];
      const double a = -2.0 * inv_nc / S, b = 4.0 * inv_nc * I / (S * S);
      for (int64_t i = 0; i < w; ++i) {
        const double p = static_cast<double>(pb[c * g.P + i]);
        const bool hit = tb[i] == c;
        const double q = (hit ? a : 0.0) + b * p;
        const double d = (p - (hit ? 1.0 : 0.0)) * inv_m + p * (q - dot[i]);
        gb[c * g.P + i] = static_cast<T>(go * d);
      }
    }
  }
}

template <class T>
Tensor run(const Tensor& logits_in, const Tensor& target_in) {
  Tensor z = logits_in.contiguous(), t = target_in.contiguous();
  const Shape& s = z.shape();
  Geometry g{s[0], s[1], s[2] * s[3], (s[2] * s[3] + kTile - 1) / kTile};
  const int threads = z.runtime().threads();
  Tensor prob = z.new_empty(s);
  const int64_t stride = 1 + 3 * g.C;
  std::vector<double> part(static_cast<size_t>(g.tasks() * stride));
  forward_tiles<T>(g, z.data<T>(), t.data<int64_t>(), prob.data<T>(), part.data(), threads);
  // Partial sums combined in task order (fixed), then the loss in the composed version's order and precision:
  // the [N, C] sums rounded to T, per = 1 - (2 * I) / ((G + P) + 1e-6) in T, means accumulated in double.
  double ce = 0.0;
  std::vector<double> inter(static_cast<size_t>(g.N * g.C), 0.0), pred(inter.size(), 0.0), ground(inter.size(), 0.0);
  for (int64_t task = 0; task < g.tasks(); ++task) {
    const double* p = part.data() + task * stride;
    const int64_t n = task / g.tiles_per_sample;
    ce += p[0];
    for (int64_t c = 0; c < g.C; ++c) {
      inter[n * g.C + c] += p[1 + c];
      pred[n * g.C + c] += p[1 + g.C + c];
      ground[n * g.C + c] += p[1 + 2 * g.C + c];
    }
  }
  std::vector<double> denom(inter.size());
  double dice = 0.0;
  for (size_t k = 0; k < inter.size(); ++k) {
    const T I = static_cast<T>(inter[k]), Sg = static_cast<T>(ground[k]), Sp = static_cast<T>(pred[k]);
    const T S = (Sg + Sp) + static_cast<T>(1e-6);
    dice += static_cast<double>(T(1) - (T(2) * I) / S);
    denom[k] = static_cast<double>(S);
    inter[k] = static_cast<double>(I);
  }
  const T ce_t = static_cast<T>(-(ce / static_cast<double>(g.N * g.P)));
  const T dice_t = static_cast<T>(dice / static_cast<double>(g.N * g.C));
  Tensor loss = z.new_scalar(static_cast<double>(ce_t + dice_t));
  Tensor saved_prob = prob, saved_t = t;
  record("dc_loss", loss, {logits_in},
         [g, saved_prob, saved_t, inter = std::move(inter), denom = std::move(denom)](const Tensor& go) {
           Tensor grad = saved_prob.new_empty(saved_prob.shape());
           const double gv = go.to(Device::cpu()).item();
           backward_tiles<T>(g, saved_prob.data<T>(), saved_t.data<int64_t>(), inter.data(), denom.data(), gv,
                             grad.data<T>(), saved_prob.runtime().threads());
           return std::vector<Tensor>{grad};
         });
  return loss;
}

}  // namespace

bool dc_loss_fused_supported(const Tensor& logits) {
  return logits.device().is_cpu() && (logits.dtype() == DType::f32 || logits.dtype() == DType::f64);
}

Tensor dc_loss_fused(const Tensor& logits, const Tensor& target) {
  return dispatch_float(logits.dtype(), "dc_loss", [&](auto tag) { return run<decltype(tag)>(logits, target); });
}

}  // namespace cq::losses
