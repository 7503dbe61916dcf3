// CPU conv2d, forward and backward, for contiguous NCHW x [N, C_in, H, W], OIHW w [C_out, C_in/G, kh, kw],
// g / out [N, C_out, OH, OW]. Per image n and group grp (Cg = C_in/G input and Cog = C_out/G output channels,
// Kg = Cg*kh*kw, P = OH*OW):
//   forward   out_g [Cog, P]  = W_g [Cog, Kg] * col_g [Kg, P]          (+ bias, preloaded so GEMM adds onto it)
//   grad_w    gW_g  [Cog, Kg] += G_g [Cog, P] * col_g^T [P, Kg]         (images in order n = 0, 1, ...)
//   grad_x    dx_g = col2im(W_g^T [Kg, Cog] * G_g [Cog, P])
//   grad_bias gb[co] = sum over n, then over p, of g[n, co, p]
// col_g = im2col(x[n, grp]) (conv2d_math.h) except for 1x1 stride-1 unpadded convs, where it is x[n, grp] itself.
// col_g is never stored: the GEMM packs its panels straight from the image (implicit GEMM, im2col_source.h). For
// stride 1, dx_g is the full conv of G_g with the flipped weights (implicit GEMM too); other strides use col2im.
// Float stride-1 3x3/5x5 convolutions with wide rows skip the GEMM: 3x3 ones with >= 16 channels run Winograd
// F(2x2,3x3) (winograd.h), the others the direct kernel of direct_conv.h, which reads the padded image in place
// (both for the forward, the inference epilogue and the flipped-weight grad_x). Depthwise (G == C_in == C_out)
// uses the direct kernels of depthwise_cpu.cpp. Every output element is owned by one thread and summed in a fixed order, so results are
// bit-identical for any thread count.
#include <algorithm>
#include <type_traits>
#include <vector>

#include "kernels/conv2d/conv2d.h"
#include "kernels/conv2d/conv2d_math.h"
#include "kernels/conv2d/depthwise_cpu.h"
#include "kernels/conv2d/direct_conv.h"
#include "kernels/conv2d/im2col_source.h"
#include "kernels/conv2d/winograd.h"
#include "kernels/matmul/gemm.h"
#include "tensor/backend.h"
#include "tensor/runtime.h"

namespace cq::kernels {
namespace {

struct Geom {
  int64_t N, C, H, W, CO, kh, kw, OH, OW, G;
  int64_t Cg() const { return C / G; }
  int64_t Cog() const { return CO / G; }
  int64_t Kg() const { return Cg() * kh * kw; }
  int64_t P() const { return OH * OW; }
};

Geom geom_of(const Shape& x, const Shape& w, const Conv2dParams& p) {
  Geom g;
  g.N = x[0];
  g.C = x[1];
  g.H = x[2];
  g.W = x[3];
  g.CO = w[0];
  g.kh = w[2];
  g.kw = w[3];
  g.OH = conv_out_size(g.H, g.kh, p.stride_h, p.pad_t, p.pad_b);
  g.OW = conv_out_size(g.W, g.kw, p.stride_w, p.pad_l, p.pad_r);
  g.G = p.groups;
  return g;
}

Im2colGeom im2col_geom(const Geom& g, const Conv2dParams& p) {
  return Im2colGeom{g.Cg(), g.H, g.W, g.kh, g.kw, g.OH, g.OW, p.stride_h, p.stride_w, p.pad_t, p.pad_l};
}

bool is_pointwise(const Geom& g, const Conv2dParams& p) {
  return g.kh == 1 && g.kw == 1 && p.stride_h == 1 && p.stride_w == 1 && p.pad_l == 0 && p.pad_r == 0 &&
         p.pad_t == 0 && p.pad_b == 0;
}

// The direct (im2col-free) kernel: float, stride 1, one group, a real window, and output rows wide enough that its
// 32-column tiles are mostly full (deep 4x6 maps stay on the implicit GEMM).
bool use_direct(const Geom& g, const Conv2dParams& p, DType dt) {
  int64_t padded = (g.OW + 31) / 32 * 32;
  return dt == DType::f32 && g.G == 1 && p.stride_h == 1 && p.stride_w == 1 && g.kh * g.kw > 1 && g.OW >= 32 &&
         4 * padded <= 5 * g.OW && direct_conv::available();
}

// Winograd F(2x2, 3x3) (winograd.h): float 3x3 stride-1 one-group convs with enough channels. Preferred over the
// direct kernel where both apply.
bool use_winograd(const Geom& g, const Conv2dParams& p, DType dt) {
  return dt == DType::f32 && g.G == 1 && p.stride_h == 1 && p.stride_w == 1 && g.kh == 3 && g.kw == 3 &&
         winograd::preferred(g.C, g.CO, g.OH, g.OW);
}

bool is_depthwise(const Geom& g) { return g.G > 1 && g.G == g.C && g.CO == g.C; }

DepthwiseGeom depthwise_geom(const Geom& g, const Conv2dParams& p) {
  return DepthwiseGeom{g.N, g.C, g.H, g.W, g.kh, g.kw, g.OH, g.OW, p.stride_h, p.stride_w, p.pad_t, p.pad_l};
}

// Loops below go parallel only when there is enough work; results do not depend on it.
constexpr int64_t kParallelWork = int64_t(1) << 15;

// dx [C, H, W] (overwritten) = sum of col's entries onto the pixels they were read from. Each channel is one thread's,
// and within it the taps are added in (ki, kj, oh, ow) order.
template <class T>
void col2im(const Im2colGeom& m, const T* col, T* dx, int threads) {
  int64_t P = m.cols();
#pragma omp parallel for num_threads(threads) if (threads > 1 && m.rows() * P > kParallelWork)
  for (int64_t c = 0; c < m.C; ++c) {
    T* plane = dx + c * m.H * m.W;
    std::fill(plane, plane + m.H * m.W, T(0));
    for (int64_t ki = 0; ki < m.kh; ++ki)
      for (int64_t kj = 0; kj < m.kw; ++kj) {
        const T* src = col + ((c * m.kh + ki) * m.kw + kj) * P;
        int64_t lo, hi;
        conv_valid_range(m.W, kj, m.sw, m.pl, m.OW, &lo, &hi);
        for (int64_t oh = 0; oh < m.OH; ++oh) {
          int64_t ih = conv_in_coord(oh, ki, m.sh, m.pt);
          if (ih < 0 || ih >= m.H) continue;
          T* drow = plane + ih * m.W;
          const T* srow = src + oh * m.OW;
          for (int64_t ow = lo; ow <= hi; ++ow) drow[conv_in_coord(ow, kj, m.sw, m.pl)] += srow[ow];
        }
      }
  }
}

template <class T>
void grad_bias(const Geom& g, const T* gout, T* gb, int threads) {
#pragma omp parallel for num_threads(threads) if (threads > 1 && g.N * g.CO * g.P() > kParallelWork)
  for (int64_t co = 0; co < g.CO; ++co) {
    T acc = 0;
    for (int64_t n = 0; n < g.N; ++n) {
      const T* gp = gout + (n * g.CO + co) * g.P();
      for (int64_t q = 0; q < g.P(); ++q) acc += gp[q];
    }
    gb[co] = acc;
  }
}

}  // namespace

void conv2d_forward_cpu(const Tensor& out, const Tensor& x, const Tensor& w, const Tensor& bias,
                        const Conv2dParams& p) {
  Geom g = geom_of(x.shape(), w.shape(), p);
  int threads = x.runtime().threads();
  if (out.numel() == 0) return;
  dispatch_float(x.dtype(), "conv2d", [&](auto tag_) {
    using T = decltype(tag_);
    const T* px = x.data<T>();
    const T* pw = w.data<T>();
    const T* pb = bias.defined() ? bias.data<T>() : nullptr;
    T* po = out.data<T>();
    if (is_depthwise(g)) {
      depthwise_forward_cpu<T>(depthwise_geom(g, p), px, pw, pb, po, threads);
      return;
    }
    if constexpr (std::is_same_v<T, float>) {
      if (use_winograd(g, p, x.dtype())) {
        Tensor scratch = x.new_empty({winograd::scratch_floats(g.C, g.CO, g.OH, g.OW, threads)});
        for (int64_t n = 0; n < g.N; ++n)
          winograd::conv3x3(px + n * g.C * g.H * g.W, g.C, g.H, g.W, n == 0 ? pw : nullptr, g.CO, p.pad_t, p.pad_l,
                            po + n * g.CO * g.P(), g.OH, g.OW, nullptr, pb, 0, scratch.data<float>(), threads);
        return;
      }
      if (use_direct(g, p, x.dtype())) {
        Tensor scratch = x.new_empty({direct_conv::scratch_floats(g.C, g.CO, g.OH, g.OW, g.kh, g.kw, threads)});
        for (int64_t n = 0; n < g.N; ++n)
          direct_conv::conv_stride1(px + n * g.C * g.H * g.W, g.C, g.H, g.W, pw, g.CO, g.kh, g.kw, p.pad_t, p.pad_l,
                                    po + n * g.CO * g.P(), g.OH, g.OW, nullptr, pb, 0, scratch.data<float>(), threads);
        return;
      }
    }
    bool direct = is_pointwise(g, p);
    Im2colGeom m = im2col_geom(g, p);
    int64_t Cg = g.Cg(), Cog = g.Cog(), Kg = g.Kg(), P = g.P();
    for (int64_t n = 0; n < g.N; ++n)
      for (int64_t grp = 0; grp < g.G; ++grp) {
        const T* xg = px + (n * g.C + grp * Cg) * g.H * g.W;
        T* og = po + (n * g.CO + grp * Cog) * P;
        if (pb)
          for (int64_t co = 0; co < Cog; ++co) std::fill(og + co * P, og + (co + 1) * P, pb[grp * Cog + co]);
        const T* wg = pw + grp * Cog * Kg;
        if (direct) {
          gemm_cpu<T>(false, false, Cog, P, Kg, T(1), wg, Kg, xg, P, pb ? T(1) : T(0), og, P, threads);
        } else {
          gemm_cpu_implicit<T>(false, Cog, P, Kg, T(1), wg, Kg, Im2colSource<T>(m, xg), pb ? T(1) : T(0), og, P,
                               threads);
        }
      }
  });
}

void conv2d_scale_shift_act_cpu(const Tensor& out, const Tensor& x, const Tensor& w, const float* scale,
                                const float* shift, int act, const Conv2dParams& p, const float* residual) {
  Geom g = geom_of(x.shape(), w.shape(), p);
  CQ_CHECK(g.G == 1 && x.dtype() == DType::f32, "conv2d_scale_shift_act: groups 1 and f32 only");
  if (out.numel() == 0) return;
  int threads = x.runtime().threads();
  const float* px = x.data<float>();
  const float* pw = w.data<float>();
  float* po = out.data<float>();
  GemmEpilogue ep{scale, shift, act};
  Im2colGeom m = im2col_geom(g, p);
  int64_t Kg = g.Kg(), P = g.P();
  const bool wino = use_winograd(g, p, x.dtype()), dconv = !wino && use_direct(g, p, x.dtype());
  Tensor scratch = wino    ? x.new_empty({winograd::scratch_floats(g.C, g.CO, g.OH, g.OW, threads)})
                   : dconv ? x.new_empty({direct_conv::scratch_floats(g.C, g.CO, g.OH, g.OW, g.kh, g.kw, threads)})
                           : Tensor();
  for (int64_t n = 0; n < g.N; ++n) {
    const float* xn = px + n * g.C * g.H * g.W;
    float* on = po + n * g.CO * P;
    ep.residual = residual ? residual + n * g.CO * P : nullptr;
    ep.ld_residual = P;
    if (wino || dconv) {
      if (wino)
        winograd::conv3x3(xn, g.C, g.H, g.W, n == 0 ? pw : nullptr, g.CO, p.pad_t, p.pad_l, on, g.OH, g.OW, scale,
                          shift, act, scratch.data<float>(), threads);
      else
        direct_conv::conv_stride1(xn, g.C, g.H, g.W, pw, g.CO, g.kh, g.kw, p.pad_t, p.pad_l, on, g.OH, g.OW, scale,
                                  shift, act, scratch.data<float>(), threads);
      if (ep.residual) {  // (neither kernel's epilogue has a residual: one extra pass over the output)
        const float* rn = ep.residual;
#pragma omp parallel for num_threads(threads) schedule(static) if (g.CO * P > (1 << 15))
        for (int64_t i = 0; i < g.CO * P; ++i) on[i] = on[i] + rn[i];
      }
    } else if (is_pointwise(g, p)) {
      gemm_cpu_ep(false, false, g.CO, P, Kg, pw, Kg, xn, P, on, P, ep, threads);
    } else {
      gemm_cpu_implicit_ep(g.CO, P, Kg, pw, Kg, Im2colSource<float>(m, xn), on, P, ep, threads);
    }
  }
}

void conv2d_backward_cpu(const Tensor& gout, const Tensor& x, const Tensor& w, const Shape& x_shape,
                         const Shape& w_shape, const Conv2dParams& p, const Tensor& gx, const Tensor& gw,
                         const Tensor& gb) {
  Geom g = geom_of(x_shape, w_shape, p);
  int threads = gout.runtime().threads();
  dispatch_float(gout.dtype(), "conv2d", [&](auto tag_) {
    using T = decltype(tag_);
    const T* pg = gout.data<T>();
    if (is_depthwise(g)) {
      auto ptr = [](const Tensor& t) { return t.defined() ? t.data<T>() : nullptr; };
      depthwise_backward_cpu<T>(depthwise_geom(g, p), pg, ptr(x), ptr(w), ptr(gx), ptr(gw), ptr(gb), threads);
      return;
    }
    if (gb.defined()) grad_bias<T>(g, pg, gb.data<T>(), threads);
    if (!gx.defined() && !gw.defined()) return;
    bool direct = is_pointwise(g, p);
    Im2colGeom m = im2col_geom(g, p);
    int64_t Cg = g.Cg(), Cog = g.Cog(), Kg = g.Kg(), P = g.P();
    // grad_x of a stride-1 conv is the full conv of G with the flipped, transposed weights: implicit GEMM again,
    // no column matrix and no col2im. Other strides scatter a column matrix back (col2im).
    bool transposed_conv = !direct && gx.defined() && p.stride_h == 1 && p.stride_w == 1 && p.pad_t < g.kh &&
                           p.pad_b < g.kh && p.pad_l < g.kw && p.pad_r < g.kw;
    Im2colGeom mt{Cog, g.OH, g.OW, g.kh, g.kw, g.H, g.W, 1, 1, g.kh - 1 - p.pad_t, g.kw - 1 - p.pad_l};
    // From the runtime's caching allocator: a decoder conv's flipped weights are megabytes, every step.
    Tensor wflip_t = transposed_conv ? gout.new_empty({g.G * Cg * Cog * g.kh * g.kw}) : Tensor();
    T* wflip = transposed_conv ? wflip_t.data<T>() : nullptr;
    if (transposed_conv) {
      // wflip[grp][c][(co * kh + a) * kw + b] = w[grp * Cog + co][c][kh - 1 - a][kw - 1 - b]
      const T* pw = w.data<T>();
      int64_t kk = g.kh * g.kw;
      for (int64_t grp = 0; grp < g.G; ++grp)
        for (int64_t c = 0; c < Cg; ++c)
          for (int64_t co = 0; co < Cog; ++co)
            for (int64_t t = 0; t < kk; ++t)
              wflip[((grp * Cg + c) * Cog + co) * kk + t] = pw[((grp * Cog + co) * Cg + c) * kk + (kk - 1 - t)];
    }
    Tensor dscratch;  // padded G for the direct kernel's grad_x
    Tensor col;  // only for col2im; from the runtime's caching allocator (no page faults on every call)
    if (!direct && gx.defined() && !transposed_conv) col = gout.new_empty({Kg * P});
    if (gw.defined() && g.N == 0) Tensor(gw).zero_();  // (a handle copy: zero_ is non-const)
    for (int64_t n = 0; n < g.N; ++n)
      for (int64_t grp = 0; grp < g.G; ++grp) {
        const T* gg = pg + (n * g.CO + grp * Cog) * P;
        if (gw.defined()) {
          const T* xg = x.data<T>() + (n * g.C + grp * Cg) * g.H * g.W;
          T* gwg = gw.data<T>() + grp * Cog * Kg;
          T beta = n == 0 ? T(0) : T(1);
          if (direct) {
            gemm_cpu<T>(false, true, Cog, Kg, P, T(1), gg, P, xg, P, beta, gwg, Kg, threads);
          } else if (std::is_same_v<T, float> && gemm_nt_dot_preferred(Cog, Kg, P)) {
            // Dot products along the pixels straight from G and the im2col rows: no transposing packs.
            gemm_cpu_nt_rows(Cog, Kg, P, 1.0f, reinterpret_cast<const float*>(gg), P,
                             Im2colRows(m, reinterpret_cast<const float*>(xg)), float(beta),
                             reinterpret_cast<float*>(gwg), Kg, threads);
          } else {
            gemm_cpu_implicit<T>(false, Cog, Kg, P, T(1), gg, P, Im2colTransposedSource<T>(m, xg), beta, gwg, Kg,
                                 threads);
          }
        }
        if (gx.defined()) {
          T* dxg = gx.data<T>() + (n * g.C + grp * Cg) * g.H * g.W;
          const T* wg = w.data<T>() + grp * Cog * Kg;
          if (direct) {
            gemm_cpu<T>(true, false, Kg, P, Cog, T(1), wg, Kg, gg, P, T(0), dxg, P, threads);
          } else if (transposed_conv) {
            int64_t Kt = mt.rows();  // Cog * kh * kw
            Geom gt{1, Cog, g.OH, g.OW, Cg, g.kh, g.kw, g.H, g.W, 1};  // the flipped conv: G -> dx
            Conv2dParams pt1;
            if constexpr (std::is_same_v<T, float>) {
              if (use_winograd(gt, pt1, gout.dtype())) {  // (one group: the same weights for every image)
                const bool first = !dscratch.defined();
                if (first) dscratch = gout.new_empty({winograd::scratch_floats(Cog, Cg, g.H, g.W, threads)});
                winograd::conv3x3(gg, Cog, g.OH, g.OW, first ? wflip : nullptr, Cg, mt.pt, mt.pl, dxg, g.H, g.W,
                                  nullptr, nullptr, 0, dscratch.data<float>(), threads);
                continue;
              }
              if (use_direct(gt, pt1, gout.dtype())) {
                if (!dscratch.defined())
                  dscratch = gout.new_empty({direct_conv::scratch_floats(Cog, Cg, g.H, g.W, g.kh, g.kw, threads)});
                direct_conv::conv_stride1(gg, Cog, g.OH, g.OW, wflip + grp * Cg * Kt, Cg, g.kh, g.kw, mt.pt,
                                          mt.pl, dxg, g.H, g.W, nullptr, nullptr, 0, dscratch.data<float>(), threads);
                continue;
              }
            }
            gemm_cpu_implicit<T>(false, Cg, g.H * g.W, Kt, T(1), wflip + grp * Cg * Kt, Kt,
                                 Im2colSource<T>(mt, gg), T(0), dxg, g.H * g.W, threads);
          } else {
            T* pc = col.data<T>();
            gemm_cpu<T>(true, false, Kg, P, Cog, T(1), wg, Kg, gg, P, T(0), pc, P, threads);
            col2im<T>(m, pc, dxg, threads);
          }
        }
      }
  });
}

}  // namespace cq::kernels
