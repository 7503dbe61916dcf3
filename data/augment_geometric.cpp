// Geometric augmentations: draw, the composed sampling map, and bicubic / nearest remapping (constant-0 border).
// The affine stages follow albumentations 1.3's Affine (skimage AffineTransform about the centre
// (w/2 - 0.5, h/2 - 0.5)); elastic follows its ElasticTransform without the affine part, as the spec lists it.
#include <cmath>
#include <limits>

#include "data/augment.h"
#include "data/augment_math.h"
#include "tensor/error.h"

namespace cq::data {
namespace {

constexpr double kPi = 3.14159265358979323846;
double rad(double deg) { return deg * kPi / 180.0; }

// 3x3 row-major homogeneous matrices in double: composing in double keeps the per-pixel float map exact enough.
struct M3 {
  double m[9] = {1, 0, 0, 0, 1, 0, 0, 0, 1};
};
M3 mul(const M3& A, const M3& B) {  // A @ B: apply B first
  M3 r;
  for (int i = 0; i < 3; ++i)
    for (int j = 0; j < 3; ++j) {
      double s = 0;
      for (int k = 0; k < 3; ++k) s += A.m[i * 3 + k] * B.m[k * 3 + j];
      r.m[i * 3 + j] = s;
    }
  return r;
}
M3 make(double a, double b, double c, double d, double e, double f) {
  M3 r;
  r.m[0] = a, r.m[1] = b, r.m[2] = c, r.m[3] = d, r.m[4] = e, r.m[5] = f;
  return r;
}
M3 translate(double tx, double ty) { return make(1, 0, tx, 0, 1, ty); }
// skimage AffineTransform(scale, rotation, shear, translation) as in skimage <= 0.20, which albumentations 1.3 used.
M3 sk_affine(double sx, double sy, double rot, double shear, double tx, double ty) {
  return make(sx * std::cos(rot), -sy * std::sin(rot + shear), tx, sx * std::sin(rot), sy * std::cos(rot + shear), ty);
}
// matrix_to_center @ transforms @ topleft: the transform acts about the image centre.
M3 about_centre(const GeomParams& p, const M3& t) {
  const double cx = p.w / 2.0 - 0.5, cy = p.h / 2.0 - 0.5;
  return mul(translate(cx, cy), mul(t, translate(-cx, -cy)));
}
M3 shear_fwd(const GeomParams& p) {
  // Shear in y is done as rotate(-90) -> shear -> rotate(90), then shear in x (albumentations' construction).
  const M3 shear_y = mul(sk_affine(1, 1, kPi / 2, 0, 0, 0),
                         mul(sk_affine(1, 1, 0, rad(p.shear_y_deg), 0, 0), sk_affine(1, 1, -kPi / 2, 0, 0, 0)));
  return about_centre(p, mul(sk_affine(1, 1, 0, rad(p.shear_x_deg), 0, 0), shear_y));
}
M3 ssr_fwd(const GeomParams& p) {
  return about_centre(p, sk_affine(p.scale_x, p.scale_y, rad(p.rotate_deg), 0, p.shift_x * p.w, p.shift_y * p.h));
}
M3 flip_fwd(const GeomParams& p) { return make(-1, 0, p.w - 1.0, 0, 1, 0); }
M3 inverse(const M3& A) {
  const double* m = A.m;
  const double det = m[0] * m[4] - m[1] * m[3];
  CQ_CHECK(std::fabs(det) > 1e-12, "augment: singular affine stage (det ", det, ")");
  const double a = m[4] / det, b = -m[1] / det, d = -m[3] / det, e = m[0] / det;
  return make(a, b, -(a * m[2] + b * m[5]), d, e, -(d * m[2] + e * m[5]));
}
Affine2 to_f(const M3& A) {
  Affine2 r;
  r.a = float(A.m[0]), r.b = float(A.m[1]), r.c = float(A.m[2]);
  r.d = float(A.m[3]), r.e = float(A.m[4]), r.f = float(A.m[5]);
  return r;
}
std::vector<double> to_vec(const M3& A) { return {A.m[0], A.m[1], A.m[2], A.m[3], A.m[4], A.m[5]}; }

void check_size(const GeomParams& p, const U8Image& img, const char* what) {
  CQ_CHECK(img.h == p.h && img.w == p.w && img.c >= 1 && img.size() == size_t(img.h) * img.w * img.c,
           "apply_geometric: ", what, " is ", img.h, "x", img.w, "x", img.c, " (", img.size(),
           " bytes) but the draw is for ", p.h, "x", p.w);
}

}  // namespace

std::vector<double> shear_forward_matrix(const GeomParams& p) { return to_vec(shear_fwd(p)); }
std::vector<double> ssr_forward_matrix(const GeomParams& p) { return to_vec(ssr_fwd(p)); }

void gaussian_smooth(std::vector<float>& f, int h, int w, double sigma) {
  CQ_CHECK(h >= 1 && w >= 1 && f.size() == size_t(h) * w && sigma > 0, "gaussian_smooth: field of ", f.size(),
           " values for ", h, "x", w, ", sigma ", sigma);
  const int r = int(4.0 * sigma + 0.5);  // scipy truncate=4.0
  // Float accumulation (scipy uses double): the field is random noise scaled to pixels, where the difference is
  // far below any sampling effect, and float runs twice as wide in SIMD.
  std::vector<float> k(2 * r + 1);
  double sum = 0;
  for (int i = -r; i <= r; ++i) sum += std::exp(-0.5 * i * i / (sigma * sigma));
  for (int i = -r; i <= r; ++i) k[i + r] = float(std::exp(-0.5 * i * i / (sigma * sigma)) / sum);
  std::vector<float> tmp(size_t(h) * w, 0.f);
  // Along y (rows of weights times whole rows, so the inner loop runs over contiguous x).
  for (int y = 0; y < h; ++y) {
    float* out = &tmp[size_t(y) * w];
    for (int t = -r; t <= r; ++t) {
      const float* in = &f[size_t(reflect_edge(y + t, h)) * w];
      const float kw = k[t + r];
      for (int x = 0; x < w; ++x) out[x] += kw * in[x];
    }
  }
  // Along x, through a reflect-padded copy of each row.
  std::vector<float> row(w + 2 * r);
  for (int y = 0; y < h; ++y) {
    const float* in = &tmp[size_t(y) * w];
    for (int i = 0; i < w + 2 * r; ++i) row[i] = in[reflect_edge(i - r, w)];
    float* out = &f[size_t(y) * w];
    for (int x = 0; x < w; ++x) out[x] = 0.f;
    for (int t = 0; t <= 2 * r; ++t) {
      const float kw = k[t];
      const float* src = &row[t];
      for (int x = 0; x < w; ++x) out[x] += kw * src[x];
    }
  }
}

void draw_elastic_field(Rng& rng, int h, int w, double alpha, double sigma, std::vector<float>& dx,
                        std::vector<float>& dy) {
  CQ_CHECK(h >= 1 && w >= 1, "draw_elastic_field: size ", h, "x", w);
  for (auto* f : {&dx, &dy}) {
    f->resize(size_t(h) * w);
    for (auto& v : *f) v = float(rng.uniform(-1.0, 1.0));
  }
  for (auto* f : {&dx, &dy}) {
    gaussian_smooth(*f, h, w, sigma);
    for (auto& v : *f) v = float(v * alpha);
  }
}

GeomParams draw_geometric(Rng& rng, int h, int w, const GeomConfig& cfg) {
  CQ_CHECK(h >= 1 && w >= 1, "draw_geometric: image size ", h, "x", w);
  GeomParams p;
  p.h = h, p.w = w;
  p.flip = rng.bernoulli(cfg.p_flip);
  if ((p.shear = rng.bernoulli(cfg.p_shear))) {
    p.shear_x_deg = rng.uniform(-cfg.shear_deg, cfg.shear_deg);
    p.shear_y_deg = rng.uniform(-cfg.shear_deg, cfg.shear_deg);
  }
  if ((p.ssr = rng.bernoulli(cfg.p_ssr))) {
    p.shift_x = rng.uniform(-cfg.shift_frac, cfg.shift_frac);
    p.shift_y = rng.uniform(-cfg.shift_frac, cfg.shift_frac);
    p.scale_x = rng.uniform(cfg.scale_lo, cfg.scale_hi);
    p.scale_y = rng.uniform(cfg.scale_lo, cfg.scale_hi);
    p.rotate_deg = rng.uniform(-cfg.rotate_deg, cfg.rotate_deg);
  }
  if ((p.elastic = rng.bernoulli(cfg.p_elastic)))
    draw_elastic_field(rng, h, w, cfg.elastic_alpha, cfg.elastic_sigma, p.dx, p.dy);
  return p;
}

SampleMap build_sample_map(const GeomParams& p) {
  CQ_CHECK(p.h >= 1 && p.w >= 1, "build_sample_map: size ", p.h, "x", p.w);
  const size_t n = size_t(p.h) * p.w;
  CQ_CHECK(!p.elastic || (p.dx.size() == n && p.dy.size() == n), "build_sample_map: elastic field has ",
           p.dx.size(), "/", p.dy.size(), " values for ", p.h, "x", p.w);
  // Inverse affine stages, last stage first. Adjacent affines are not merged blindly: between stages the
  // intermediate point must stay on the frame, as when albumentations warped (and cropped) stage by stage.
  std::vector<Affine2> inv;
  if (p.ssr) inv.push_back(to_f(inverse(ssr_fwd(p))));
  if (p.shear) inv.push_back(to_f(inverse(shear_fwd(p))));
  if (p.flip) inv.push_back(to_f(inverse(flip_fwd(p))));  // grid-exact: never leaves the frame, so no crop check
  SampleMap m;
  m.h = p.h, m.w = p.w;
  m.x.resize(n), m.y.resize(n);
  const float nan = std::numeric_limits<float>::quiet_NaN();
  const size_t n_inv = inv.size();
  // After inverting stage s (or the elastic stage, s = -1), the point is on the previous stage's output frame; it
  // must lie there only if a resampling stage remains (the flip maps the grid onto itself, so it never crops).
  const size_t n_resampling = n_inv - (p.flip ? 1 : 0);
  for (int y = 0; y < p.h; ++y)
    for (int x = 0; x < p.w; ++x) {
      const size_t i = size_t(y) * p.w + x;
      float sx = float(x), sy = float(y);
      bool ok = true;
      if (p.elastic) {
        sx += p.dx[i], sy += p.dy[i];
        ok = n_resampling == 0 || in_frame(p.h, p.w, sx, sy);
      }
      for (size_t s = 0; ok && s < n_inv; ++s) {
        affine_apply(inv[s], sx, sy, &sx, &sy);
        if (s + 1 < n_resampling) ok = in_frame(p.h, p.w, sx, sy);
      }
      m.x[i] = ok ? sx : nan;
      m.y[i] = ok ? sy : nan;
    }
  return m;
}

U8Image remap_bicubic(const U8Image& src, const SampleMap& m) {
  CQ_CHECK(src.c >= 1 && src.c <= 4 && src.size() == size_t(src.h) * src.w * src.c,
           "remap_bicubic: image ", src.h, "x", src.w, "x", src.c, " with ", src.size(), " bytes (1-4 channels)");
  CQ_CHECK(m.x.size() == size_t(m.h) * m.w && m.y.size() == m.x.size(), "remap_bicubic: malformed map");
  U8Image out(m.h, m.w, src.c);
  float v[4];
  for (size_t i = 0; i < m.x.size(); ++i) {
    sample_bicubic(src.px.data(), src.h, src.w, src.c, m.x[i], m.y[i], v);
    for (int ch = 0; ch < src.c; ++ch) out.px[i * src.c + ch] = saturate_u8(v[ch]);
  }
  return out;
}

U8Image remap_nearest(const U8Image& src, const SampleMap& m) {
  CQ_CHECK(src.c >= 1 && src.size() == size_t(src.h) * src.w * src.c, "remap_nearest: image ", src.h, "x", src.w,
           "x", src.c, " with ", src.size(), " bytes");
  CQ_CHECK(m.x.size() == size_t(m.h) * m.w && m.y.size() == m.x.size(), "remap_nearest: malformed map");
  U8Image out(m.h, m.w, src.c);
  for (size_t i = 0; i < m.x.size(); ++i) {
    const long long j = nearest_index(src.h, src.w, m.x[i], m.y[i]);
    if (j < 0) continue;  // constant-0 border
    for (int ch = 0; ch < src.c; ++ch) out.px[i * src.c + ch] = src.px[size_t(j) * src.c + ch];
  }
  return out;
}

void apply_geometric(U8Image& img, U8Image* mask, const GeomParams& p) {
  check_size(p, img, "image");
  const bool has_mask = mask && !mask->empty();
  if (has_mask) check_size(p, *mask, "mask");
  if (p.identity()) return;  // bit-exact, and no work
  const SampleMap m = build_sample_map(p);
  img = remap_bicubic(img, m);
  if (has_mask) *mask = remap_nearest(*mask, m);
}

}  // namespace cq::data
