// The layout and HQ rendering of one synthetic throat scene (data/synthetic.h).
#include <algorithm>
#include <cmath>
#include <vector>

#include "data/synthetic.h"
#include "tensor/error.h"
#include "tensor/rng.h"

namespace cq::data::synth {
namespace {

constexpr double kPi = 3.14159265358979323846;

double smoothstep(double e0, double e1, double x) {
  const double t = std::clamp((x - e0) / (e1 - e0), 0.0, 1.0);
  return t * t * (3 - 2 * t);
}

// Multi-octave value noise on an h x w grid: random lattice values in [-1, 1] every `cell` pixels, smoothstep-
// interpolated, octaves at half the cell and half the amplitude each; the sum is scaled back to about [-1, 1].
std::vector<float> fractal_noise(Rng& rng, int h, int w, double cell, int octaves) {
  std::vector<float> out(size_t(h) * w, 0.f);
  double amp = 1, total = 0;
  for (int o = 0; o < octaves; ++o, cell *= 0.5, amp *= 0.5) {
    const double c = std::max(cell, 1.5);
    const int gh = int(h / c) + 3, gw = int(w / c) + 3;
    std::vector<float> lat(size_t(gh) * gw);
    for (auto& v : lat) v = float(rng.uniform(-1, 1));
    const double oy = rng.uniform(0, 1), ox = rng.uniform(0, 1);  // lattice offset: octaves do not align
    for (int y = 0; y < h; ++y) {
      const double fy = y / c + oy;
      const int iy = int(fy);
      const double ty = smoothstep(0, 1, fy - iy);
      for (int x = 0; x < w; ++x) {
        const double fx = x / c + ox;
        const int ix = int(fx);
        const double tx = smoothstep(0, 1, fx - ix);
        const float* r0 = &lat[size_t(iy) * gw + ix];
        const float* r1 = r0 + gw;
        const double top = r0[0] + (r0[1] - r0[0]) * tx, bot = r1[0] + (r1[1] - r1[0]) * tx;
        out[size_t(y) * w + x] += float(amp * (top + (bot - top) * ty));
      }
    }
    total += amp;
  }
  for (auto& v : out) v = float(v / total * 1.6);  // sums of octaves rarely reach the extremes; widen a little
  return out;
}

// A star-shaped region: an ellipse (centre, radii in pixels, rotation) whose polar radius is modulated by
// harmonics 2..6 (smooth random boundary), optionally widened toward its lower end (teardrop, the uvula).
struct Blob {
  double cy = 0, cx = 0, ry = 1, rx = 1, rot = 0, tear = 0;
  double amp[5] = {0, 0, 0, 0, 0}, phase[5] = {0, 0, 0, 0, 0};

  void roughen(Rng& rng, double a) {
    for (int k = 0; k < 5; ++k) {
      amp[k] = rng.uniform(0, a) / (1 + 0.5 * k);
      phase[k] = rng.uniform(0, 2 * kPi);
    }
  }
  // depth in (0, 1] inside (1 at the centre, -> 0 at the boundary), <= 0 outside.
  double depth(double y, double x) const {
    const double dy = y - cy, dx = x - cx, c = std::cos(rot), s = std::sin(rot);
    const double u = (dx * c + dy * s) / rx, v = (-dx * s + dy * c) / ry;
    const double rho = std::sqrt(u * u + v * v);
    const double th = std::atan2(v, u);
    double r = 1;
    for (int k = 0; k < 5; ++k) r += amp[k] * std::cos((k + 2) * th + phase[k]);
    r *= 1 + tear * std::sin(th);  // sin > 0 below the centre (rows grow downward)
    return 1 - rho / std::max(r, 0.2);
  }
};

struct Layout {
  Blob pharynx, tonsil[2], uvula, tongue;
  double arch_y0 = 0, arch_k = 0, arch_cx = 0;  // soft palate: rows above arch_y0 + arch_k (x - arch_cx)^2
  double fov_cy = 0, fov_cx = 0, fov_ry = 1, fov_rx = 1;
};

Layout draw_layout(Rng& rng, int h, int w) {
  // The whole throat: scale, shift and a small roll of the camera, applied to a canonical layout in [0,1]^2.
  const double s = rng.uniform(0.88, 1.12), du = rng.uniform(-0.05, 0.05), dv = rng.uniform(-0.05, 0.05);
  const double roll = rng.uniform(-8, 8) * kPi / 180, cr = std::cos(roll), sr = std::sin(roll);
  auto place = [&](Blob& b, double u, double v, double ru, double rv, double rough) {
    const double pu = u - 0.5, pv = v - 0.5;
    b.cx = (0.5 + du + s * (pu * cr - pv * sr)) * w;
    b.cy = (0.5 + dv + s * (pu * sr + pv * cr)) * h;
    b.rx = s * ru * w * rng.uniform(0.88, 1.12);
    b.ry = s * rv * h * rng.uniform(0.88, 1.12);
    b.rot = roll + rng.uniform(-0.12, 0.12);
    b.roughen(rng, rough);
  };
  Layout L;
  place(L.pharynx, 0.5 + rng.uniform(-0.03, 0.03), 0.40, 0.25, 0.27, 0.10);
  const double sep = rng.uniform(0.19, 0.24), tv = rng.uniform(0.50, 0.56);
  place(L.tonsil[0], 0.5 - sep, tv + rng.uniform(-0.03, 0.03), 0.085, 0.15, 0.16);
  place(L.tonsil[1], 0.5 + sep, tv + rng.uniform(-0.03, 0.03), 0.085, 0.15, 0.16);
  // The uvula hangs from the middle of the soft palate: its narrow top starts just above the arch.
  const double arch = rng.uniform(0.20, 0.25), tear = rng.uniform(0.3, 0.5), uv_ry = 0.11;
  place(L.uvula, 0.5 + rng.uniform(-0.02, 0.02), arch + uv_ry * (1 - tear) - 0.02, 0.045, uv_ry, 0.05);
  L.uvula.tear = tear;
  place(L.tongue, 0.5 + rng.uniform(-0.04, 0.04), rng.uniform(0.98, 1.04), 0.46, 0.38, 0.06);
  L.arch_cx = (0.5 + du) * w;
  L.arch_y0 = (0.5 + dv + s * (arch - 0.5)) * h;
  L.arch_k = rng.uniform(0.9, 1.4) * h / (w * w);
  L.fov_cy = h * (0.5 + rng.uniform(-0.02, 0.02));
  L.fov_cx = w * (0.5 + rng.uniform(-0.02, 0.02));
  L.fov_ry = h * rng.uniform(0.56, 0.62);
  L.fov_rx = w * rng.uniform(0.50, 0.56);
  return L;
}

// Class of each pixel and the depth inside its region (for dome shading), painted back to front.
void label(const Layout& L, int y, int x, int* cls, double* depth) {
  *cls = 0, *depth = 0;
  double d;
  if ((d = L.pharynx.depth(y, x)) > 0) *cls = 4, *depth = d;
  for (const Blob& t : L.tonsil)
    if ((d = t.depth(y, x)) > 0) *cls = 3, *depth = d;
  const double dx = x - L.arch_cx;
  if (y < L.arch_y0 + L.arch_k * dx * dx) *cls = 0, *depth = 0;  // the soft palate hides the top of the pharynx
  if ((d = L.uvula.depth(y, x)) > 0) *cls = 2, *depth = d;
  if ((d = L.tongue.depth(y, x)) > 0) *cls = 1, *depth = d;
}

struct ClassLook {
  double rgb[3];
  double cell, amp;  // texture: noise scale (pixels at 96 rows) and strength
};
// HQ colours (sRGB 0..255): mucosa pinks and reds, as in throat photographs, each class its own hue and texture.
constexpr ClassLook kLooks[kClasses] = {
    {{176, 92, 90}, 14, 0.10},    // background: palate and cheeks
    {{222, 134, 138}, 2.5, 0.14}, // tongue: fine papillae
    {{240, 162, 160}, 10, 0.05},  // uvula: smooth
    {{208, 150, 102}, 5, 0.10},   // tonsils: crypts (dark spots added below)
    {{148, 50, 58}, 12, 0.12},    // pharynx: mottled, with vessels (added below)
};

}  // namespace

const char* class_name(int c) {
  static const char* const kNames[kClasses] = {"background", "tongue", "uvula", "tonsils", "pharynx"};
  CQ_CHECK(c >= 0 && c < kClasses, "synthetic data: class ", c, " out of range 0..", kClasses - 1);
  return kNames[c];
}

Scene render_scene(uint64_t seed, int h, int w) {
  CQ_CHECK(h >= 16 && w >= 16 && h <= 8192 && w <= 8192, "synthetic data: size ", h, "x", w,
           " out of range (16..8192 per side)");
  Rng rng(seed);
  const Layout L = draw_layout(rng, h, w);
  const double px = std::min(h, w) / 96.0;  // texture scales follow the picture size

  double col[kClasses][3];
  const double bright = 1 + 0.05 * rng.normal();
  for (int c = 0; c < kClasses; ++c)
    for (int ch = 0; ch < 3; ++ch) col[c][ch] = kLooks[c].rgb[ch] * bright * (1 + 0.04 * rng.normal());
  std::vector<std::vector<float>> tex(kClasses);
  for (int c = 0; c < kClasses; ++c) tex[c] = fractal_noise(rng, h, w, kLooks[c].cell * px, 3);
  const std::vector<float> crypts = fractal_noise(rng, h, w, 4 * px, 2);
  const std::vector<float> vessels = fractal_noise(rng, h, w, 16 * px, 3);
  const std::vector<float> light = fractal_noise(rng, h, w, 48 * px, 2);
  // Specular glints on the wet, dome-shaped uvula and tongue (where the camera's light reflects).
  struct Glint {
    double y, x, sigma;
  };
  std::vector<Glint> glints = {{L.uvula.cy + L.uvula.ry * 0.3, L.uvula.cx - L.uvula.rx * 0.3, 1.2 * px},
                               {L.tongue.cy - L.tongue.ry * rng.uniform(0.6, 0.8),
                                L.tongue.cx + L.tongue.rx * rng.uniform(-0.3, 0.3), 2.0 * px}};

  Scene sc{Image(h, w, 3), Image(h, w, 1)};
  std::vector<float> rgb(size_t(h) * w * 3);
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x) {
      int c;
      double depth;
      label(L, y, x, &c, &depth);
      sc.mask.at(y, x) = uint8_t(c);
      const size_t i = size_t(y) * w + x;
      double f = 1 + kLooks[c].amp * tex[c][i];
      if (c == 3 && crypts[i] > 0.3) f *= 0.72;                                   // tonsil crypts
      if (c == 1) f *= 1 - 0.12 * std::exp(-std::pow((x - L.tongue.cx) / (3 * px), 2));  // median groove
      double vessel = 0;
      if (c == 4) vessel = smoothstep(0.88, 0.97, 1 - std::fabs(vessels[i]));  // thin ridges of the noise
      const double dome = c == 0 ? 0.88 : 0.78 + 0.22 * std::sqrt(depth);
      // Camera light: brightest at the centre of the field of view, with slow unevenness.
      const double fy = (y - L.fov_cy) / L.fov_ry, fx = (x - L.fov_cx) / L.fov_rx, r2 = fy * fy + fx * fx;
      const double lit = (1 - 0.28 * r2) * (1 + 0.06 * light[i]);
      const double fov = std::max(0.03, smoothstep(1.0, 0.82, std::sqrt(r2)));  // dark border outside the lens
      double glint = 0;
      for (const Glint& g : glints) {
        const double dy = y - g.y, dx = x - g.x;
        glint = std::max(glint, 0.7 * std::exp(-(dy * dy + dx * dx) / (2 * g.sigma * g.sigma)));
      }
      if (c != 1 && c != 2) glint = 0;
      for (int ch = 0; ch < 3; ++ch) {
        double v = col[c][ch] * f * dome;
        if (vessel > 0) v = v * (1 - vessel) + vessel * (ch == 0 ? 190.0 : 40.0);
        v = (v * (1 - glint) + glint * 250) * lit * fov;
        rgb[i * 3 + ch] = float(v);
      }
    }
  // A slight [1 2 1] blur: lens softness, so region edges are not one-pixel steps (the mask stays hard).
  std::vector<float> tmp(rgb.size());
  for (int pass = 0; pass < 2; ++pass) {
    const bool vert = pass == 1;
    for (int y = 0; y < h; ++y)
      for (int x = 0; x < w; ++x)
        for (int ch = 0; ch < 3; ++ch) {
          const int y0 = vert ? std::max(y - 1, 0) : y, y1 = vert ? std::min(y + 1, h - 1) : y;
          const int x0 = vert ? x : std::max(x - 1, 0), x1 = vert ? x : std::min(x + 1, w - 1);
          tmp[(size_t(y) * w + x) * 3 + ch] = 0.25f * rgb[(size_t(y0) * w + x0) * 3 + ch] +
                                              0.5f * rgb[(size_t(y) * w + x) * 3 + ch] +
                                              0.25f * rgb[(size_t(y1) * w + x1) * 3 + ch];
        }
    rgb.swap(tmp);
  }
  for (size_t i = 0; i < rgb.size(); ++i) sc.image.px[i] = uint8_t(std::lround(std::clamp(rgb[i], 0.f, 255.f)));
  return sc;
}

std::vector<int64_t> class_histogram(const Image& mask) {
  CQ_CHECK(mask.c == 1, "synthetic data: class_histogram needs a 1-channel mask, got ", mask.c, " channels");
  std::vector<int64_t> n(kClasses, 0);
  for (uint8_t v : mask.px) {
    CQ_CHECK(v < kClasses, "synthetic data: mask value ", int(v), " is not a class (0..", kClasses - 1, ")");
    ++n[v];
  }
  return n;
}

}  // namespace cq::data::synth
