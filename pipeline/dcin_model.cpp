#include "pipeline/dcin_model.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "data/resize.h"
#include "data/sha256.h"
#include "nn/json.h"
#include "nn/safetensors.h"
#include "pipeline/checkpoint.h"
#include "tensor/error.h"

namespace cq::pipeline {

SegModel load_seg_model(Context& ctx, const std::string& path) {
  SafetensorsFile f = SafetensorsFile::open(path);
  const auto& md = f.metadata();
  auto fmt = md.find("format");
  CQ_CHECK(fmt != md.end() && fmt->second == kCheckpointFormat, path,
           ": not a cqseg training checkpoint (metadata format is '",
           fmt == md.end() ? std::string("<absent>") : fmt->second, "', expected '", kCheckpointFormat,
           "'; train one with cqseg train)");
  auto cfg = md.find("config");
  CQ_CHECK(cfg != md.end(), path, ": checkpoint has no config metadata");
  SegModel m;
  m.path = path;
  try {
    m.cfg = TrainConfig::from_json(json::parse(cfg->second));
  } catch (const Error& e) {
    fail(path, ": checkpoint config does not parse: ", e.what());
  }
  auto mode = md.find("mode");
  m.mode = mode != md.end() ? mode->second : m.cfg.mode;
  std::string dir = path.substr(0, path.find_last_of('/') == std::string::npos ? 0 : path.find_last_of('/'));
  while (dir.size() > 1 && dir.back() == '/') dir.pop_back();
  m.run_name = dir.empty() ? "." : dir.substr(dir.find_last_of('/') == std::string::npos ? 0
                                                                                           : dir.find_last_of('/') + 1);
  m.sha256 = data::sha256_file(path);
  m.net = models::make_model(ctx, m.cfg.model, m.cfg.classes);
  std::map<std::string, Tensor> sd;
  for (const SafetensorsEntry& e : f.entries())
    if (e.name.rfind("model/", 0) == 0) sd[e.name.substr(6)] = f.load(ctx, e);
  CQ_CHECK(!sd.empty(), path, ": checkpoint holds no model/ tensors");
  try {
    m.net->load_state_dict(sd, /*strict=*/true);
  } catch (const Error& e) {
    fail(path, ": weights do not fit model ", m.cfg.model, " with ", m.cfg.classes, " classes: ", e.what());
  }
  m.net->eval();
  return m;
}

namespace {

// The image as a native-size model sees it before padding.
data::Image fit_native(const SegModel& m, const data::Image& rgb) {
  if (rgb.h == m.height() && rgb.w == m.width()) return rgb;
  // The largest size with the image's aspect that fits the training images' size: the same scale of anatomy as
  // in training when the field of view fills the frame as it did there.
  const double s = std::min(double(m.height()) / rgb.h, double(m.width()) / rgb.w);
  const int h = std::max(1, int(std::lround(rgb.h * s))), w = std::max(1, int(std::lround(rgb.w * s)));
  return data::resize_cubic(rgb, std::min(h, m.height()), std::min(w, m.width()));
}

}  // namespace

Logits predict_logits(Context& ctx, SegModel& m, const data::Image& rgb) {
  CQ_CHECK(rgb.c == 3 && rgb.h > 0 && rgb.w > 0, "predict: expected an RGB image, got ", rgb.h, "x", rgb.w, "x",
           rgb.c);
  CQ_CHECK(m.height() > 0 && m.width() > 0, m.path, ": checkpoint records no image size");
  data::Image in;
  int out_h = m.height(), out_w = m.width();
  if (m.cfg.native_size) {
    // Padded with black in 8-bit space, as the training loader pads (data::pad_bottom_right), then cropped back.
    const data::Image fit = fit_native(m, rgb);
    out_h = fit.h, out_w = fit.w;
    const int64_t k = m.net->size_multiple();
    in = data::pad_bottom_right(fit, int((fit.h + k - 1) / k * k), int((fit.w + k - 1) / k * k));
  } else {
    in = (rgb.h == m.height() && rgb.w == m.width()) ? rgb : data::resize_cubic(rgb, m.height(), m.width());
  }
  auto ng = ctx.no_grad();
  const Tensor x = data::images_to_tensor(ctx, {in}).to(ctx.device());
  Tensor y = m.net->predict_padded(x);
  if (y.size(2) != out_h || y.size(3) != out_w) y = y.slice(2, 0, out_h).slice(3, 0, out_w);
  y = y.to(Device::cpu()).to(DType::f32).contiguous();
  CQ_CHECK(y.dim() == 4 && y.size(0) == 1 && y.size(2) == out_h && y.size(3) == out_w, "predict: model returned ",
           y.describe());
  Logits l;
  l.k = int(y.size(1)), l.h = int(y.size(2)), l.w = int(y.size(3));
  l.v.assign(y.data<float>(), y.data<float>() + y.numel());
  return l;
}

Logits average_logits(const Logits& a, const Logits& b) {
  CQ_CHECK(a.k == b.k && a.h == b.h && a.w == b.w && a.v.size() == b.v.size(), "average_logits: shapes differ (",
           a.k, "x", a.h, "x", a.w, " vs ", b.k, "x", b.h, "x", b.w, ")");
  Logits r = a;
  for (size_t i = 0; i < r.v.size(); ++i) r.v[i] = 0.5f * (a.v[i] + b.v[i]);
  return r;
}

data::Image argmax_mask(const Logits& l) {
  CQ_CHECK(l.k >= 1 && l.k <= 256 && l.v.size() == size_t(l.k) * l.h * l.w, "argmax_mask: bad logits ", l.k, "x",
           l.h, "x", l.w);
  data::Image m(l.h, l.w, 1);
  const size_t plane = size_t(l.h) * size_t(l.w);
  for (size_t p = 0; p < plane; ++p) {
    int best = 0;
    float bv = l.v[p];
    for (int c = 1; c < l.k; ++c) {
      const float v = l.v[size_t(c) * plane + p];
      if (v > bv) best = c, bv = v;  // strictly greater: the first maximum wins (as DiceCounter::add)
    }
    m.px[p] = uint8_t(best);
  }
  return m;
}

Tensor image_to_hwc(Context& ctx, const data::Image& rgb) {
  CQ_CHECK(rgb.c == 3 && rgb.px.size() == size_t(rgb.h) * rgb.w * 3, "image_to_hwc: expected RGB, got ", rgb.h, "x",
           rgb.w, "x", rgb.c);
  // Filled on the host, then moved: with --device cuda the colour transfer runs on the GPU.
  Tensor t = Tensor::empty(ctx.runtime_ptr(), {rgb.h, rgb.w, 3}, DType::u8, Device::cpu());
  std::memcpy(t.data<uint8_t>(), rgb.px.data(), rgb.px.size());
  return t.to(ctx.device());
}

data::Image hwc_to_image(const Tensor& hwc) {
  const Tensor t = hwc.to(Device::cpu()).contiguous();
  CQ_CHECK(t.dtype() == DType::u8 && t.dim() == 3 && t.size(2) == 3, "hwc_to_image: expected u8 [H,W,3], got ",
           t.describe());
  data::Image im(int(t.size(0)), int(t.size(1)), 3);
  std::memcpy(im.px.data(), t.data<uint8_t>(), im.px.size());
  return im;
}

}  // namespace cq::pipeline
