#include "refselect/gris.h"

#include <algorithm>
#include <cmath>

#include "kernels/matmul/gemm.h"
#include "refselect/refselect_cuda.h"
#include "tensor/backend.h"
#include "tensor/runtime.h"

namespace cq::dcin {

namespace detail {

void for_each_distance_tile(const float* X, int64_t N, int64_t D, const GrisOptions& opts, const TileFn& fn,
                            const std::function<bool(int64_t)>& want) {
  CQ_CHECK(N >= 1 && D >= 1, "gris: need at least one feature row of positive length, got N=", N, " D=", D);
  const int64_t B = std::max<int64_t>(16, opts.block);
  const int nt = std::max(1, opts.threads);
  std::vector<float> sq(static_cast<size_t>(N));
  for (int64_t i = 0; i < N; ++i) {
    double s = 0;
    for (int64_t k = 0; k < D; ++k) s += static_cast<double>(X[i * D + k]) * X[i * D + k];
    sq[i] = static_cast<float>(s);
  }
  std::vector<float> tile(static_cast<size_t>(std::min(B, N)) * std::min(B, N));
  int64_t seq = 0;
  for (int64_t i0 = 0; i0 < N; i0 += B) {
    const int64_t ni = std::min(B, N - i0);
    for (int64_t j0 = i0; j0 < N; j0 += B, ++seq) {
      if (want && !want(seq)) continue;
      const int64_t nj = std::min(B, N - j0);
      float* T = tile.data();
      // T = X[i0:i0+ni] X[j0:j0+nj]^T (the library's deterministic GEMM).
      kernels::gemm_cpu<float>(false, true, ni, nj, D, 1.0f, X + i0 * D, D, X + j0 * D, D, 0.0f, T, nj, nt);
#pragma omp parallel for num_threads(nt) schedule(static)
      for (int64_t r = 0; r < ni; ++r) {
        const float a = sq[i0 + r];
        const float* b = sq.data() + j0;
        float* t = T + r * nj;
        for (int64_t c = 0; c < nj; ++c) {
          const float d2 = a + b[c] - 2.0f * t[c];
          t[c] = std::sqrt(d2 > 0.0f ? d2 : 0.0f);
        }
        if (i0 == j0) t[r] = 0.0f;  // the diagonal is exactly 0, not sqrt of a rounding residue
      }
      fn(i0, ni, j0, nj, T, nj);
    }
  }
}

}  // namespace detail

std::vector<double> gris_partial(const float* X, int64_t N, int64_t D, const GrisOptions& opts, int part,
                                 int parts) {
  CQ_CHECK(parts >= 1 && part >= 0 && part < parts, "gris_partial: part ", part, " of ", parts);
  std::vector<double> out;
  const int nt = std::max(1, opts.threads);
  detail::for_each_distance_tile(
      X, N, D, opts,
      [&](int64_t i0, int64_t ni, int64_t j0, int64_t nj, const float* T, int64_t ldt) {
        const size_t base = out.size();
        out.resize(base + size_t(ni) + (i0 == j0 ? 0 : size_t(nj)), 0.0);
        double* rows = out.data() + base;
        // Row sums: 8 fixed lanes (vectorisable, and the same order whatever the thread count).
#pragma omp parallel for num_threads(nt) schedule(static)
        for (int64_t r = 0; r < ni; ++r) {
          const float* t = T + r * ldt;
          double lane[8] = {0, 0, 0, 0, 0, 0, 0, 0};
          int64_t c = 0;
          for (; c + 8 <= nj; c += 8)
            for (int l = 0; l < 8; ++l) lane[l] += t[c + l];
          for (; c < nj; ++c) lane[c % 8] += t[c];
          rows[r] = ((lane[0] + lane[1]) + (lane[2] + lane[3])) + ((lane[4] + lane[5]) + (lane[6] + lane[7]));
        }
        if (i0 == j0) return;
        // Off-diagonal tile: by symmetry its columns are rows of block j0. Each thread owns a column range and
        // walks the rows in order.
        double* col = rows + ni;
#pragma omp parallel for num_threads(nt) schedule(static)
        for (int64_t cb = 0; cb < nj; cb += 64) {
          const int64_t ce = std::min(nj, cb + 64);
          for (int64_t r = 0; r < ni; ++r)
            for (int64_t c = cb; c < ce; ++c) col[c] += T[r * ldt + c];
        }
      },
      [&](int64_t t) { return t % parts == part; });
  return out;
}

GrisResult gris_combine(const std::vector<std::vector<double>>& partials, int64_t N, const GrisOptions& opts) {
  const int parts = int(partials.size());
  CQ_CHECK(parts >= 1 && N >= 1, "gris_combine: need at least one part and one row");
  const int64_t B = std::max<int64_t>(16, opts.block);
  std::vector<size_t> pos(size_t(parts), 0);
  std::vector<double> sum(static_cast<size_t>(N), 0.0);
  int64_t seq = 0;
  for (int64_t i0 = 0; i0 < N; i0 += B) {
    const int64_t ni = std::min(B, N - i0);
    for (int64_t j0 = i0; j0 < N; j0 += B, ++seq) {
      const int64_t nj = std::min(B, N - j0);
      const std::vector<double>& p = partials[size_t(seq % parts)];
      size_t& k = pos[size_t(seq % parts)];
      const size_t need = size_t(ni) + (i0 == j0 ? 0 : size_t(nj));
      CQ_CHECK(k + need <= p.size(), "gris_combine: part ", seq % parts, " holds ", p.size(),
               " values, too few for its tiles (different N or block on the ranks?)");
      for (int64_t r = 0; r < ni; ++r) sum[size_t(i0 + r)] += p[k + size_t(r)];
      if (i0 != j0)
        for (int64_t c = 0; c < nj; ++c) sum[size_t(j0 + c)] += p[k + size_t(ni + c)];
      k += need;
    }
  }
  for (int i = 0; i < parts; ++i)
    CQ_CHECK(pos[size_t(i)] == partials[size_t(i)].size(), "gris_combine: part ", i, " holds more values than its tiles");
  GrisResult res;
  res.mean_dist.resize(static_cast<size_t>(N));
  for (int64_t i = 0; i < N; ++i) res.mean_dist[i] = sum[i] / static_cast<double>(N);
  res.index = std::min_element(res.mean_dist.begin(), res.mean_dist.end()) - res.mean_dist.begin();
  return res;
}

GrisResult gris_select(const float* X, int64_t N, int64_t D, const GrisOptions& opts) {
  return gris_combine({gris_partial(X, N, D, opts, 0, 1)}, N, opts);
}

namespace {
void check_feats(const Tensor& h, const char* op, bool cpu_only) {
  CQ_CHECK(h.defined() && h.dtype() == DType::f32 && h.dim() == 2 && (!cpu_only || h.device().is_cpu()), op,
           ": expected f32 [N,D] features", cpu_only ? " on the CPU" : "", ", got ",
           h.defined() ? h.describe() : std::string("nothing"));
}
}  // namespace

GrisResult gris_select(const Tensor& hists, int64_t block) {
  check_feats(hists, "gris_select", false);
  Tensor h = hists.contiguous();
  if (h.device().is_cuda()) {
    CQ_CUDA_CALL("gris_select", return cudaimpl::gris_select(h, block));
  }
  return gris_select(h.data<float>(), h.size(0), h.size(1), {block, h.runtime().threads()});
}

Tensor pairwise_distances(const Tensor& hists, int64_t block) {
  check_feats(hists, "pairwise_distances", true);
  Tensor h = hists.contiguous();
  const int64_t N = h.size(0);
  Tensor out = h.new_empty({N, N});
  float* o = out.data<float>();
  detail::for_each_distance_tile(h.data<float>(), N, h.size(1), {block, h.runtime().threads()},
                                 [&](int64_t i0, int64_t ni, int64_t j0, int64_t nj, const float* T, int64_t ldt) {
                                   for (int64_t r = 0; r < ni; ++r)
                                     for (int64_t c = 0; c < nj; ++c) {
                                       o[(i0 + r) * N + j0 + c] = T[r * ldt + c];
                                       o[(j0 + c) * N + i0 + r] = T[r * ldt + c];
                                     }
                                 });
  return out;
}

}  // namespace cq::dcin
