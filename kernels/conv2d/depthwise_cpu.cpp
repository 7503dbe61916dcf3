// Direct depthwise convolution on the CPU, one (image, channel) plane at a time.
//
// Each plane is first copied into a small zero-padded buffer (it stays in L1/L2), so the convolution loops need no
// bounds checks. For a horizontal stride S > 1 the buffer stores every row as S column phases side by side (phase p
// holds columns p, p+S, p+2S, ...), so the tap (ki, kj) of output column ow reads element ow + kj/S of phase kj%S:
// contiguous loads for every stride. The loops run along the output row (the vectorised axis) and sum the taps in
// (ki, kj) order, starting from the bias; 3x3 and 5x5 kernels at stride 1 and 2 get fully unrolled instances.
//   forward   out  = conv(pad(x), w)                                    stride (sh, sw)
//   grad_x    dx   = conv(dilate(g), flip(w)), stride 1, where dilate() puts g's elements sh / sw apart with
//                    kh-1-pt / kw-1-pl zeros in front (the transposed convolution as a plain one)
//   grad_w    gw[t] = sum over images, rows and columns of g * the tap-t window of pad(x), accumulated in fixed
//                    lanes (column ow goes to lane ow % L, L = 64 bytes of T) and the lanes summed in order at the end
//   grad_b    gb   = the same lanes over g alone
// Planes (forward, grad_x) or channels (grad_w, grad_b) are split between threads; within one the order is fixed, so
// results are bit-identical for any thread count. The hot loops are compiled per ISA (kernels/cpu_clones.h).
#include "kernels/conv2d/depthwise_cpu.h"

#include <string.h>

#include <algorithm>
#include <type_traits>
#include <vector>

#include "kernels/cpu_clones.h"
#include "kernels/matmul/gemm.h"

// The lane vectors below are passed between always-inlined helpers only, never across an ABI boundary.
#pragma GCC diagnostic ignored "-Wpsabi"

namespace cq::kernels {
namespace {

// Below this many multiply-adds the OpenMP fork costs more than it saves; results do not depend on it.
constexpr int64_t kParallelWork = int64_t(1) << 15;

// A padded plane buffer: `rows` rows of S phases of Ws elements each (row stride S * Ws).
struct Buf {
  int64_t rows, S, Ws;
  int64_t stride() const { return S * Ws; }
  int64_t size() const { return rows * S * Ws; }
};

// Where a source plane [SH, SW] lands in the buffer: source (a, b) -> buffer row a*dh + off_h, column b*dw + off_w
// (offsets may be negative: those elements are dropped, as are ones past the buffer).
struct Place {
  int64_t SH, SW, dh, dw, off_h, off_w;
};

// The conv loops' geometry: output [OH, OW], vertical stride sh, kernel kh x kw.
struct ConvShape {
  int64_t OH, OW, sh, kh, kw;
};

// ---- pack: source plane -> zero-padded (and dilated / phase-split) buffer ----
template <class T>
CQ_ALWAYS_INLINE void pack_impl(const T* __restrict src, const Place& pl, const Buf& b, T* __restrict buf) {
  const int64_t Wb = b.stride(), S = b.S, Ws = b.Ws, dw = pl.dw;
  // Source columns [b0, b1) land inside [0, Wb).
  const int64_t b0 = pl.off_w >= 0 ? 0 : (-pl.off_w + dw - 1) / dw;
  const int64_t lim = Wb - pl.off_w;
  int64_t b1 = lim <= 0 ? 0 : (lim + dw - 1) / dw;
  if (b1 > pl.SW) b1 = pl.SW;
  for (int64_t r = 0; r < b.rows; ++r) {
    T* __restrict row = buf + r * Wb;
    const int64_t a = r - pl.off_h;
    if (a < 0 || a % pl.dh != 0 || a / pl.dh >= pl.SH || b0 >= b1) {
      for (int64_t c = 0; c < Wb; ++c) row[c] = T(0);
      continue;
    }
    const T* __restrict s = src + (a / pl.dh) * pl.SW;
    if (S == 1 && dw == 1) {
      // The common case: copy the row and zero only the padding around it.
      const int64_t c0 = b0 + pl.off_w, c1 = b1 + pl.off_w;
      for (int64_t c = 0; c < c0; ++c) row[c] = T(0);
      for (int64_t c = c0; c < c1; ++c) row[c] = s[c - pl.off_w];
      for (int64_t c = c1; c < Wb; ++c) row[c] = T(0);
      continue;
    }
    for (int64_t c = 0; c < Wb; ++c) row[c] = T(0);
    if (S == 2 && dw == 1) {
      // Buffer column c = j + off_w goes to phase c & 1, index c >> 1.
      const int64_t c0 = b0 + pl.off_w, c1 = b1 + pl.off_w;
      for (int64_t p = 0; p < 2; ++p) {
        T* __restrict d = row + p * Ws;
        const int64_t jlo = (c0 - p + 1) / 2, jend = (c1 - p + 1) / 2;
        for (int64_t j = jlo; j < jend; ++j) d[j] = s[2 * j + p - pl.off_w];
      }
    } else if (S == 1 && dw == 2) {
      T* __restrict d = row + pl.off_w;
      for (int64_t j = b0; j < b1; ++j) d[2 * j] = s[j];
    } else {
      for (int64_t j = b0; j < b1; ++j) {
        const int64_t c = j * dw + pl.off_w;
        row[(c % S) * Ws + c / S] = s[j];
      }
    }
  }
}

// ---- conv: out [OH, OW] = bias + sum over taps of w[t] * buffer window ----
template <class T, int K, int S>
CQ_ALWAYS_INLINE void conv_fixed(const T* __restrict buf, const Buf& b, const ConvShape& cs, const T* w, T bias,
                                 T* __restrict out) {
  T wr[K * K];
  for (int t = 0; t < K * K; ++t) wr[t] = w[t];
  const int64_t Wb = b.stride(), Ws = b.Ws, OW = cs.OW;
  for (int64_t oh = 0; oh < cs.OH; ++oh) {
    const T* r[K];
    for (int ki = 0; ki < K; ++ki) r[ki] = buf + (oh * cs.sh + ki) * Wb;
    T* __restrict o = out + oh * OW;
#pragma omp simd
    for (int64_t ow = 0; ow < OW; ++ow) {
      T acc = bias;
      for (int ki = 0; ki < K; ++ki)
        for (int kj = 0; kj < K; ++kj) acc += wr[ki * K + kj] * r[ki][(kj % S) * Ws + kj / S + ow];
      o[ow] = acc;
    }
  }
}

template <class T>
CQ_ALWAYS_INLINE void conv_generic(const T* __restrict buf, const Buf& b, const ConvShape& cs, const T* w, T bias,
                                   T* __restrict out) {
  const int64_t Wb = b.stride(), Ws = b.Ws, S = b.S, OW = cs.OW;
  for (int64_t oh = 0; oh < cs.OH; ++oh) {
    T* __restrict o = out + oh * OW;
    for (int64_t ow = 0; ow < OW; ++ow) o[ow] = bias;
    for (int64_t ki = 0; ki < cs.kh; ++ki) {
      const T* r = buf + (oh * cs.sh + ki) * Wb;
      for (int64_t kj = 0; kj < cs.kw; ++kj) {
        const T wv = w[ki * cs.kw + kj];
        const T* __restrict s = r + (kj % S) * Ws + kj / S;
        for (int64_t ow = 0; ow < OW; ++ow) o[ow] += wv * s[ow];
      }
    }
  }
}

template <class T>
CQ_ALWAYS_INLINE void conv_impl(const T* buf, const Buf& b, const ConvShape& cs, const T* w, T bias, T* out) {
  const bool square = cs.kh == cs.kw;
  if (square && cs.kh == 3 && b.S == 1) return conv_fixed<T, 3, 1>(buf, b, cs, w, bias, out);
  if (square && cs.kh == 3 && b.S == 2) return conv_fixed<T, 3, 2>(buf, b, cs, w, bias, out);
  if (square && cs.kh == 5 && b.S == 1) return conv_fixed<T, 5, 1>(buf, b, cs, w, bias, out);
  if (square && cs.kh == 5 && b.S == 2) return conv_fixed<T, 5, 2>(buf, b, cs, w, bias, out);
  conv_generic<T>(buf, b, cs, w, bias, out);
}

// ---- grad_w: acc [(kh*kw + 1) lane vectors] += per-lane sums of g * tap windows (the last: g alone, for bias) ----
// Lane vectors are GCC vector types of 64 bytes (16 floats / 8 doubles): one AVX-512 register, two AVX2 ones or four
// SSE ones, with the same per-lane arithmetic in every clone.
template <class T>
struct LaneVec {
  typedef T type __attribute__((vector_size(64)));
  static constexpr int64_t kN = 64 / sizeof(T);
};

template <class V, class T>
CQ_ALWAYS_INLINE V load_vec(const T* p) {
  V v;
  memcpy(&v, p, sizeof v);
  return v;
}
template <class V, class T>
CQ_ALWAYS_INLINE void store_vec(T* p, const V& v) {
  memcpy(p, &v, sizeof v);
}

template <class T, int K, int SF>
CQ_ALWAYS_INLINE void wgrad_lanes(const T* __restrict buf, const Buf& b, const ConvShape& cs, const T* __restrict g,
                                  T* __restrict acc) {
  using V = typename LaneVec<T>::type;
  constexpr int64_t L = LaneVec<T>::kN;
  constexpr int KK = K * K + 1;  // K == 0: runtime kernel, accumulators stay in acc
  const int64_t KH = K ? K : cs.kh, KW = K ? K : cs.kw, S = SF ? SF : b.S;
  const int64_t taps = KH * KW;
  const int64_t Wb = b.stride(), Ws = b.Ws, OW = cs.OW;
  V a[KK > 1 ? KK : 1];
  if (K)
    for (int t = 0; t < KK; ++t) a[t] = load_vec<V>(acc + t * L);
  for (int64_t oh = 0; oh < cs.OH; ++oh) {
    const T* __restrict gr = g + oh * OW;
    const T* row0 = buf + oh * cs.sh * Wb;
    int64_t ow0 = 0;
    for (; ow0 + L <= OW; ow0 += L) {
      const V gv = load_vec<V>(gr + ow0);
      if (K) {
        for (int ki = 0; ki < K; ++ki)
          for (int kj = 0; kj < K; ++kj)
            a[ki * K + kj] += gv * load_vec<V>(row0 + ki * Wb + (kj % S) * Ws + kj / S + ow0);
        a[KK - 1] += gv;
      } else {
        for (int64_t ki = 0; ki < KH; ++ki)
          for (int64_t kj = 0; kj < KW; ++kj) {
            T* at = acc + (ki * KW + kj) * L;
            store_vec(at, load_vec<V>(at) + gv * load_vec<V>(row0 + ki * Wb + (kj % S) * Ws + kj / S + ow0));
          }
        T* ab = acc + taps * L;
        store_vec(ab, load_vec<V>(ab) + gv);
      }
    }
    // The row's last OW % L columns: lanes 0 .. n-1, element by element.
    const int64_t n = OW - ow0;
    if (n == 0) continue;
    if (K) {
      for (int t = 0; t < KK; ++t) store_vec(acc + t * L, a[t]);
    }
    for (int64_t ki = 0; ki < KH; ++ki)
      for (int64_t kj = 0; kj < KW; ++kj) {
        const T* s = row0 + ki * Wb + (kj % S) * Ws + kj / S + ow0;
        T* at = acc + (ki * KW + kj) * L;
        for (int64_t l = 0; l < n; ++l) at[l] += gr[ow0 + l] * s[l];
      }
    for (int64_t l = 0; l < n; ++l) acc[taps * L + l] += gr[ow0 + l];
    if (K)
      for (int t = 0; t < KK; ++t) a[t] = load_vec<V>(acc + t * L);
  }
  if (K)
    for (int t = 0; t < KK; ++t) store_vec(acc + t * L, a[t]);
}

template <class T>
CQ_ALWAYS_INLINE void wgrad_impl(const T* buf, const Buf& b, const ConvShape& cs, const T* g, T* acc) {
  const bool square = cs.kh == cs.kw;
  if (square && cs.kh == 3 && b.S == 1) return wgrad_lanes<T, 3, 1>(buf, b, cs, g, acc);
  if (square && cs.kh == 3 && b.S == 2) return wgrad_lanes<T, 3, 2>(buf, b, cs, g, acc);
  if (square && cs.kh == 5 && b.S == 1) return wgrad_lanes<T, 5, 1>(buf, b, cs, g, acc);
  if (square && cs.kh == 5 && b.S == 2) return wgrad_lanes<T, 5, 2>(buf, b, cs, g, acc);
  wgrad_lanes<T, 0, 0>(buf, b, cs, g, acc);
}

// acc [one lane vector] += g [rows, OW] by lane, as the bias lanes of wgrad_lanes.
template <class T>
CQ_ALWAYS_INLINE void sum_lanes_impl(const T* __restrict g, int64_t rows, int64_t OW, T* __restrict acc) {
  using V = typename LaneVec<T>::type;
  constexpr int64_t L = LaneVec<T>::kN;
  for (int64_t r = 0; r < rows; ++r) {
    const T* __restrict gr = g + r * OW;
    int64_t ow0 = 0;
    V a = load_vec<V>(acc);
    for (; ow0 + L <= OW; ow0 += L) a += load_vec<V>(gr + ow0);
    store_vec(acc, a);
    for (int64_t l = 0; l < OW - ow0; ++l) acc[l] += gr[ow0 + l];
  }
}

// The per-ISA entry points (one set per element type; the templates above are inlined into each clone).
CQ_CPU_CLONES void pack_plane(const float* src, const Place& pl, const Buf& b, float* buf) { pack_impl(src, pl, b, buf); }
CQ_CPU_CLONES void pack_plane(const double* src, const Place& pl, const Buf& b, double* buf) {
  pack_impl(src, pl, b, buf);
}
CQ_CPU_CLONES void conv_plane(const float* buf, const Buf& b, const ConvShape& cs, const float* w, float bias,
                              float* out) {
  conv_impl(buf, b, cs, w, bias, out);
}
CQ_CPU_CLONES void conv_plane(const double* buf, const Buf& b, const ConvShape& cs, const double* w, double bias,
                              double* out) {
  conv_impl(buf, b, cs, w, bias, out);
}
CQ_CPU_CLONES void wgrad_plane(const float* buf, const Buf& b, const ConvShape& cs, const float* g, float* acc) {
  wgrad_impl(buf, b, cs, g, acc);
}
CQ_CPU_CLONES void wgrad_plane(const double* buf, const Buf& b, const ConvShape& cs, const double* g, double* acc) {
  wgrad_impl(buf, b, cs, g, acc);
}
CQ_CPU_CLONES void sum_lanes(const float* g, int64_t rows, int64_t OW, float* acc) { sum_lanes_impl(g, rows, OW, acc); }
CQ_CPU_CLONES void sum_lanes(const double* g, int64_t rows, int64_t OW, double* acc) {
  sum_lanes_impl(g, rows, OW, acc);
}

// The forward buffer: rows and columns of pad(x) that some output window reads, split into sw phases.
Buf forward_buf(const DepthwiseGeom& g) { return Buf{(g.OH - 1) * g.sh + g.kh, g.sw, g.OW + (g.kw - 1) / g.sw}; }
Place forward_place(const DepthwiseGeom& g) { return Place{g.H, g.W, 1, 1, g.pt, g.pl}; }

template <class T>
T lane_total(const T* lanes) {
  T s = 0;
  for (int64_t l = 0; l < LaneVec<T>::kN; ++l) s += lanes[l];
  return s;
}

// The unbuffered AVX-512 kernel (depthwise_avx512.cpp) applies: float, stride 1, square K in {3, 5}, "same" padding.
bool same_plane_fast(const DepthwiseGeom& g, int64_t pt, int64_t pl) {
  return g.sh == 1 && g.sw == 1 && g.kh == g.kw && (g.kh == 3 || g.kh == 5) && pt == g.kh / 2 && pl == g.kw / 2 &&
         g.OH == g.H && g.OW == g.W && g.W <= 8192 && cpu_isa() == CpuIsa::avx512;
}

}  // namespace

bool depthwise_same_plane_avx512(const float* src, int64_t H, int64_t W, int K, const float* w, float bias,
                                 float* out);
bool depthwise_same_wgrad_avx512(const float* x, const float* g, int64_t H, int64_t W, int K, float* acc);

template <class T>
void depthwise_forward_cpu(const DepthwiseGeom& g, const T* x, const T* w, const T* bias, T* out, int threads) {
  if (g.N * g.C * g.OH * g.OW == 0) return;
  const Buf b = forward_buf(g);
  const Place pl = forward_place(g);
  const ConvShape cs{g.OH, g.OW, g.sh, g.kh, g.kw};
  const int64_t planes = g.N * g.C, kk = g.kh * g.kw;
  if constexpr (std::is_same_v<T, float>) {
    if (same_plane_fast(g, g.pt, g.pl)) {
#pragma omp parallel for num_threads(threads) schedule(static) if (threads > 1 && planes * g.OH * g.OW * kk > kParallelWork)
      for (int64_t nc = 0; nc < planes; ++nc) {
        const int64_t c = nc % g.C;
        depthwise_same_plane_avx512(x + nc * g.H * g.W, g.H, g.W, int(g.kh), w + c * kk, bias ? bias[c] : 0.0f,
                                    out + nc * g.OH * g.OW);
      }
      return;
    }
  }
#pragma omp parallel num_threads(threads) if (threads > 1 && planes * g.OH * g.OW * kk > kParallelWork)
  {
    std::vector<T> buf(static_cast<size_t>(b.size()));
#pragma omp for schedule(static)
    for (int64_t nc = 0; nc < planes; ++nc) {
      const int64_t c = nc % g.C;
      pack_plane(x + nc * g.H * g.W, pl, b, buf.data());
      conv_plane(buf.data(), b, cs, w + c * kk, bias ? bias[c] : T(0), out + nc * g.OH * g.OW);
    }
  }
}

template <class T>
void depthwise_backward_cpu(const DepthwiseGeom& g, const T* gout, const T* x, const T* w, T* gx, T* gw, T* gb,
                            int threads) {
  const int64_t planes = g.N * g.C, kk = g.kh * g.kw, P = g.OH * g.OW;
  const bool par = threads > 1 && planes * P * kk > kParallelWork;
  if (gx) {
    // The transposed convolution: dilate g into a buffer the size of pad(x) and run a stride-1 conv with the
    // flipped kernel (reversing the flattened kh*kw taps flips both axes).
    const Buf b{g.H + g.kh - 1, 1, g.W + g.kw - 1};
    const Place pl{g.OH, g.OW, g.sh, g.sw, g.kh - 1 - g.pt, g.kw - 1 - g.pl};
    const ConvShape cs{g.H, g.W, 1, g.kh, g.kw};
    std::vector<T> wf(static_cast<size_t>(g.C * kk));
    for (int64_t c = 0; c < g.C; ++c)
      for (int64_t t = 0; t < kk; ++t) wf[c * kk + t] = w[c * kk + kk - 1 - t];
    bool done = false;
    if constexpr (std::is_same_v<T, float>) {
      // Stride 1 with "same" padding: the transposed convolution is the same-padded one with the flipped kernel.
      if (same_plane_fast(g, g.kh - 1 - g.pt, g.kw - 1 - g.pl)) {
#pragma omp parallel for num_threads(threads) schedule(static) if (par)
        for (int64_t nc = 0; nc < planes; ++nc)
          depthwise_same_plane_avx512(gout + nc * P, g.H, g.W, int(g.kh), wf.data() + (nc % g.C) * kk, 0.0f,
                                      gx + nc * g.H * g.W);
        done = true;
      }
    }
    if (!done) {
#pragma omp parallel num_threads(threads) if (par)
      {
        std::vector<T> buf(static_cast<size_t>(b.size()));
#pragma omp for schedule(static)
        for (int64_t nc = 0; nc < planes; ++nc) {
          const int64_t c = nc % g.C;
          pack_plane(gout + nc * P, pl, b, buf.data());
          conv_plane(buf.data(), b, cs, wf.data() + c * kk, T(0), gx + nc * g.H * g.W);
        }
      }
    }
  }
  if (!gw && !gb) return;
  bool fast_w = false;
  if constexpr (std::is_same_v<T, float>) fast_w = gw && same_plane_fast(g, g.pt, g.pl);
  const Buf b = forward_buf(g);
  const Place pl = forward_place(g);
  const ConvShape cs{g.OH, g.OW, g.sh, g.kh, g.kw};
#pragma omp parallel num_threads(threads) if (par)
  {
    std::vector<T> buf(gw && !fast_w ? static_cast<size_t>(b.size()) : 0);
    constexpr int64_t L = LaneVec<T>::kN;
    std::vector<T> acc(static_cast<size_t>((kk + 1) * L));
#pragma omp for schedule(static)
    for (int64_t c = 0; c < g.C; ++c) {
      std::fill(acc.begin(), acc.end(), T(0));
      for (int64_t n = 0; n < g.N; ++n) {
        const T* gp = gout + (n * g.C + c) * P;
        if (fast_w) {  // the same lanes in the same order, read from x in place (depthwise_avx512.cpp)
          if constexpr (std::is_same_v<T, float>)
            depthwise_same_wgrad_avx512(x + (n * g.C + c) * g.H * g.W, gp, g.H, g.W, int(g.kh), acc.data());
        } else if (gw) {
          pack_plane(x + (n * g.C + c) * g.H * g.W, pl, b, buf.data());
          wgrad_plane(buf.data(), b, cs, gp, acc.data());
        } else {
          sum_lanes(gp, g.OH, g.OW, acc.data() + kk * L);
        }
      }
      if (gw)
        for (int64_t t = 0; t < kk; ++t) gw[c * kk + t] = lane_total(acc.data() + t * L);
      if (gb) gb[c] = lane_total(acc.data() + kk * L);
    }
  }
}

template void depthwise_forward_cpu<float>(const DepthwiseGeom&, const float*, const float*, const float*, float*,
                                           int);
template void depthwise_forward_cpu<double>(const DepthwiseGeom&, const double*, const double*, const double*,
                                            double*, int);
template void depthwise_backward_cpu<float>(const DepthwiseGeom&, const float*, const float*, const float*, float*,
                                            float*, float*, int);
template void depthwise_backward_cpu<double>(const DepthwiseGeom&, const double*, const double*, const double*,
                                             double*, double*, double*, int);

}  // namespace cq::kernels
