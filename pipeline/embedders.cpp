#include "pipeline/embedders.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <limits>

#include "data/dataset.h"
#include "data/resize.h"
#include "data/sha256.h"
#include "nn/safetensors.h"
#include "pipeline/progress.h"
#include "tensor/error.h"

namespace cq::pipeline {
namespace fs = std::filesystem;

namespace {

std::string lower_ext(const fs::path& p) {
  std::string e = p.extension().string();
  if (!e.empty() && e[0] == '.') e.erase(0, 1);
  for (char& c : e) c = char(std::tolower(static_cast<unsigned char>(c)));
  return e;
}

std::vector<std::string> images_in(const fs::path& dir) {
  std::vector<std::string> out;
  std::error_code ec;
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec))
    if (it->is_regular_file(ec) && data::is_image_ext(lower_ext(it->path())))
      out.push_back(fs::absolute(it->path()).lexically_normal().string());
  CQ_CHECK(!ec, "cannot list ", dir.string(), ": ", ec.message());
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace

Tensor ImageEmbedder::prepare(Context& ctx, const data::Image& rgb) const {
  CQ_CHECK(rgb.c == 3, "embedder ", e.name, ": expected an RGB image");
  data::Image in = rgb;
  if (rgb.h != e.input_h || rgb.w != e.input_w)
    in = resize == EmbedResize::bilinear ? data::resize_bilinear(rgb, e.input_h, e.input_w)
                                         : data::resize_cubic(rgb, e.input_h, e.input_w);
  return data::images_to_tensor(ctx, {in}).to(ctx.device());
}

std::vector<float> ImageEmbedder::embed(Context& ctx, const data::Image& rgb) const {
  CQ_CHECK(e.embed, "embedder ", e.name, " has no embed function");
  const Tensor v = e.embed(prepare(ctx, rgb)).to(Device::cpu()).to(DType::f32).contiguous();
  CQ_CHECK(v.dim() == 1 || (v.dim() == 2 && v.size(0) == 1), "embedder ", e.name, " returned ", v.describe());
  return std::vector<float>(v.data<float>(), v.data<float>() + v.numel());
}

std::string unet_embedder_name(const std::string& sha) { return "unet@" + sha.substr(0, 16); }

ImageEmbedder unet_embedder(const std::shared_ptr<SegModel>& model) {
  CQ_CHECK(model && model->net, "unet embedder: no model");
  ImageEmbedder ie;
  ie.e.name = unet_embedder_name(model->sha256);
  ie.e.input_h = model->input_height();
  ie.e.input_w = model->input_width();
  ie.resize = EmbedResize::bicubic;  // the training loader's resize: the encoder sees what it was trained on
  ie.keep = model;
  SegModel* m = model.get();
  ie.e.embed = [m](const Tensor& x) {
    NoGradGuard ng(x.runtime());
    // Global average pool of the deepest tap [1,C,h,w], summed in double in a fixed order.
    const Tensor f = m->net->encode(x).back().to(Device::cpu()).to(DType::f32).contiguous();
    CQ_CHECK(f.dim() == 4 && f.size(0) == 1, "unet embedder: deepest features are ", f.describe());
    const int64_t C = f.size(1), P = f.size(2) * f.size(3);
    Tensor out = Tensor::empty(f.runtime_ptr(), {1, C}, DType::f32, Device::cpu());
    const float* src = f.data<float>();
    for (int64_t c = 0; c < C; ++c) {
      double s = 0;
      for (int64_t p = 0; p < P; ++p) s += src[c * P + p];
      out.data<float>()[c] = float(s / double(P));
    }
    return out;
  };
  return ie;
}

ImageEmbedder swin_embedder(const std::shared_ptr<models::SwinV2>& model, const std::string& name) {
  CQ_CHECK(model, "swin embedder: no model");
  ImageEmbedder ie;
  ie.e.name = name;
  ie.e.input_h = ie.e.input_w = int(model->config().img_size);
  ie.resize = EmbedResize::bilinear;
  ie.keep = model;
  models::SwinV2* m = model.get();
  ie.e.embed = [m](const Tensor& x) {
    NoGradGuard ng(x.runtime());
    return m->embed(x);
  };
  return ie;
}

ImageEmbedder swin_embedder(Context& ctx, models::SwinV2Config cfg, const std::string& weights,
                            const std::string& label, const std::string& prefix_in) {
  CQ_CHECK(!weights.empty(), "embedder ", label, ": --weights FILE.safetensors is required (the published ",
           label, " weights converted to safetensors; see tools/)");
  SafetensorsFile f = SafetensorsFile::open(weights);
  // Some exports prefix every name with "model."; the classifier head, when present, sets num_classes so the
  // strict load accepts the file (the head is never run for an embedding).
  std::string prefix = prefix_in;
  if (prefix.empty()) {
    bool all_model = !f.entries().empty();
    for (const SafetensorsEntry& e : f.entries()) all_model = all_model && e.name.rfind("model.", 0) == 0;
    if (all_model) prefix = "model.";
  }
  const std::string head = cfg.naming == models::SwinV2Naming::timm ? "head.fc.weight" : "head.weight";
  cfg.num_classes = f.contains(prefix + head) ? f.entry(prefix + head).shape.at(0) : 0;
  cfg.alloc = models::SwinV2Alloc::zeros;
  auto model = models::swinv2(ctx, cfg);
  try {
    models::load_swinv2(*model, ctx, f, prefix);
  } catch (const Error& e) {
    fail("embedder ", label, ": ", weights, " does not hold ", label, " weights: ", e.what());
  }
  model->eval();
  return swin_embedder(model, label + "@" + data::sha256_file(weights).substr(0, 16));
}

ImageEmbedder swin_embedder(Context& ctx, const std::string& preset, const std::string& weights) {
  return swin_embedder(ctx, models::swinv2_preset(preset), weights, preset);  // unknown presets throw listing them
}

ImageEmbedder make_embedder(Context& ctx, const std::string& spec, const std::string& weights) {
  if (spec.rfind("unet:", 0) == 0) {
    const std::string ckpt = spec.substr(5);
    CQ_CHECK(!ckpt.empty(), "embedder 'unet:': give the checkpoint, e.g. unet:RUN_DIR/best.safetensors");
    CQ_CHECK(weights.empty(), "embedder ", spec, ": --weights is for Swin-V2 embedders (the checkpoint is in the name)");
    return unet_embedder(std::make_shared<SegModel>(load_seg_model(ctx, ckpt)));
  }
  const auto names = models::swinv2_preset_names();
  if (std::find(names.begin(), names.end(), spec) == names.end()) {
    std::string list;
    for (const auto& n : names) list += " " + n;
    fail("unknown embedder '", spec, "': use unet:CKPT (the trained U-Net's encoder) or a Swin-V2 preset:", list);
  }
  return swin_embedder(ctx, spec, weights);
}

std::vector<std::string> list_image_files(const std::string& dir) {
  std::error_code ec;
  CQ_CHECK(fs::is_directory(dir, ec), dir, ": not a folder of images");
  std::vector<std::string> out = images_in(dir);
  if (out.empty() && fs::is_directory(fs::path(dir) / "images", ec)) out = images_in(fs::path(dir) / "images");
  CQ_CHECK(!out.empty(), dir, ": no images (png, jpg, jpeg, bmp, gif) in the folder or its images/ subfolder");
  return out;
}

dcin::RefBank build_bank(Context& ctx, const ImageEmbedder& emb, const std::vector<std::string>& files,
                         std::FILE* progress) {
  CQ_CHECK(!files.empty(), "reference bank: no images given");
  std::vector<dcin::BankItem> items;
  items.reserve(files.size());
  Progress bar(progress, "bank " + emb.e.name, int64_t(files.size()));
  for (size_t i = 0; i < files.size(); ++i) {
    dcin::BankItem it;
    it.name = files[i];
    it.sha256 = data::sha256_file(files[i]);
    it.embedding = emb.embed(ctx, data::read_image(files[i]));
    items.push_back(std::move(it));
    bar.update(int64_t(i + 1), std::numeric_limits<double>::quiet_NaN());
  }
  bar.finish();
  return dcin::RefBank::build(emb.e.name, emb.e.input_h, emb.e.input_w, items);
}

std::string bank_image_path(const dcin::RefBank& bank, int64_t i, const std::string& images_dir) {
  CQ_CHECK(i >= 0 && i < bank.size(), "reference bank: item ", i, " out of range (", bank.size(), " items)");
  const std::string& name = bank.names()[size_t(i)];
  if (images_dir.empty()) return name;
  return (fs::path(images_dir) / fs::path(name).filename()).string();
}

data::Image load_bank_image(const dcin::RefBank& bank, int64_t i, const std::string& images_dir) {
  const std::string path = bank_image_path(bank, i, images_dir);
  std::error_code ec;
  CQ_CHECK(fs::is_regular_file(path, ec), "reference bank: image ", path,
           " not found (moved? pass the folder that now holds the bank's images)");
  const std::string sha = data::sha256_file(path);
  CQ_CHECK(sha == bank.sha256(i), "reference bank: ", path, " has SHA-256 ", sha, " but the bank recorded ",
           bank.sha256(i), " (the file changed since the bank was built; rebuild it with cqseg refs bank)");
  return data::read_image(path);
}

}  // namespace cq::pipeline
