// The per-mode views of a training sample (base / aug / cqg), built from the geometric and photometric draws.
#include "data/augment.h"

#include "tensor/error.h"

namespace cq::data {

AugMode aug_mode_from_string(const std::string& s) {
  if (s == "base") return AugMode::base;
  if (s == "aug") return AugMode::aug;
  if (s == "cqg") return AugMode::cqg;
  fail("augmentation mode '", s, "' is not one of base, aug, cqg");
}

const char* aug_mode_name(AugMode m) {
  switch (m) {
    case AugMode::base: return "base";
    case AugMode::aug: return "aug";
    case AugMode::cqg: return "cqg";
  }
  return "?";
}

Views make_views(const U8Image& img, const U8Image& mask, AugMode mode, Rng& rng, const AugConfig& cfg) {
  CQ_CHECK(img.h >= 1 && img.w >= 1 && img.c >= 1 && img.size() == size_t(img.h) * img.w * img.c,
           "make_views: image ", img.h, "x", img.w, "x", img.c, " with ", img.size(), " bytes");
  CQ_CHECK(mask.empty() || (mask.h == img.h && mask.w == img.w), "make_views: mask ", mask.h, "x", mask.w,
           " does not match image ", img.h, "x", img.w);
  CQ_CHECK(mode == AugMode::base || img.c == 3, "make_views: mode ", aug_mode_name(mode),
           " needs an RGB image, got ", img.c, " channels");
  Views v;
  v.x1 = img;
  v.mask = mask;
  if (mode == AugMode::base) return v;
  // Draw order is fixed (geometric, then photometric, then the noise values) so a seed gives the same views.
  const GeomParams g = draw_geometric(rng, img.h, img.w, cfg.geom);
  const PhotoParams ph = draw_photometric(rng, cfg.photo);
  apply_geometric(v.x1, &v.mask, g);
  if (mode == AugMode::cqg) v.x2 = v.x1;
  apply_photometric(mode == AugMode::cqg ? v.x2 : v.x1, ph, rng);
  return v;
}

}  // namespace cq::data
