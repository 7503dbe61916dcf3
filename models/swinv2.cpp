// Swin V2 presets, assembly under torchvision or timm names, and the forward pass (see swinv2.h).
#include "models/swinv2.h"

#include <sstream>

#include "kernels/conv2d/conv2d.h"
#include "kernels/reduce/reduce.h"
#include "models/swinv2_detail.h"

namespace cq::models {

using namespace swinv2_detail;

namespace {
SwinV2Config make(const std::string& name, SwinV2Naming naming, int64_t dim, std::vector<int64_t> depths,
                  std::vector<int64_t> heads, int64_t window, std::vector<int64_t> pretrained, int64_t img,
                  int64_t classes) {
  SwinV2Config c;
  c.name = name;
  c.naming = naming;
  c.embed_dim = dim;
  c.depths = std::move(depths);
  c.num_heads = std::move(heads);
  c.window_size = window;
  c.pretrained_window_sizes = std::move(pretrained);
  c.img_size = img;
  c.num_classes = classes;
  return c;
}
}  // namespace

std::vector<std::string> swinv2_preset_names() {
  return {"swin_v2_t",
          "swin_v2_s",
          "swin_v2_b",
          "swinv2_tiny_window8_256",
          "swinv2_small_window8_256",
          "swinv2_base_window8_256",
          "swinv2_large_window12to24_192to384",
          "swinv2_large_window12to16_192to256",
          "swinv2_large_window12_192"};
}

SwinV2Config swinv2_preset(const std::string& name) {
  const auto tv = SwinV2Naming::torchvision, tm = SwinV2Naming::timm;
  const std::vector<int64_t> z{0, 0, 0, 0}, l_pre{12, 12, 12, 6};
  // Head dim 32 throughout (SPEC): heads = channels / 32 per stage.
  if (name == "swin_v2_t") return make(name, tv, 96, {2, 2, 6, 2}, {3, 6, 12, 24}, 8, z, 256, 1000);
  if (name == "swin_v2_s") return make(name, tv, 96, {2, 2, 18, 2}, {3, 6, 12, 24}, 8, z, 256, 1000);
  if (name == "swin_v2_b") return make(name, tv, 128, {2, 2, 18, 2}, {4, 8, 16, 32}, 8, z, 256, 1000);
  if (name == "swinv2_tiny_window8_256") return make(name, tm, 96, {2, 2, 6, 2}, {3, 6, 12, 24}, 8, z, 256, 1000);
  if (name == "swinv2_small_window8_256")
    return make(name, tm, 96, {2, 2, 18, 2}, {3, 6, 12, 24}, 8, z, 256, 1000);
  if (name == "swinv2_base_window8_256")
    return make(name, tm, 128, {2, 2, 18, 2}, {4, 8, 16, 32}, 8, z, 256, 1000);
  if (name == "swinv2_large_window12to24_192to384")
    return make(name, tm, 192, {2, 2, 18, 2}, {6, 12, 24, 48}, 24, l_pre, 384, 1000);
  if (name == "swinv2_large_window12to16_192to256")
    return make(name, tm, 192, {2, 2, 18, 2}, {6, 12, 24, 48}, 16, l_pre, 256, 1000);
  // The ImageNet-22k pretrain (timm's ms_in22k tag): 21841 classes.
  if (name == "swinv2_large_window12_192")
    return make(name, tm, 192, {2, 2, 18, 2}, {6, 12, 24, 48}, 12, z, 192, 21841);
  std::ostringstream os;
  for (auto& n : swinv2_preset_names()) os << " " << n;
  fail("swinv2_preset: unknown model '", name, "'; known:", os.str());
}

SwinV2::SwinV2(Context& ctx, const SwinV2Config& cfg) : cfg_(cfg) {
  const size_t ns = cfg.depths.size();
  CQ_CHECK(ns > 0 && cfg.num_heads.size() == ns, "swinv2: ", ns, " stage depths but ", cfg.num_heads.size(),
           " head counts (config '", cfg.name, "')");
  if (cfg_.pretrained_window_sizes.empty()) cfg_.pretrained_window_sizes.assign(ns, 0);
  CQ_CHECK(cfg_.pretrained_window_sizes.size() == ns, "swinv2: ", cfg_.pretrained_window_sizes.size(),
           " pretrained window sizes for ", ns, " stages (config '", cfg.name, "')");
  CQ_CHECK(cfg.embed_dim > 0 && cfg.patch_size > 0 && cfg.window_size > 0 && cfg.in_chans > 0 &&
               cfg.mlp_ratio > 0 && cfg.num_classes >= 0,
           "swinv2: bad config '", cfg.name, "' (embed_dim ", cfg.embed_dim, ", patch ", cfg.patch_size, ", window ",
           cfg.window_size, ", in_chans ", cfg.in_chans, ", mlp_ratio ", cfg.mlp_ratio, ", classes ",
           cfg.num_classes, ")");
  const bool tv = cfg.naming == SwinV2Naming::torchvision;
  Maker mk(ctx, cfg.alloc);
  const int64_t c0 = cfg.embed_dim, p = cfg.patch_size;
  patch_proj_ = std::make_shared<Affine>(mk.torch_conv_weight({c0, cfg.in_chans, p, p}),
                                         mk.torch_conv_bias({c0}, cfg.in_chans * p * p));
  patch_norm_ = std::make_shared<Norm>(mk, c0, cfg.norm_eps, 1.0);
  auto pe = std::make_shared<Container>();
  std::shared_ptr<Container> features, layers;
  if (tv) {
    // features.0 = Sequential(Conv2d, Permute, LayerNorm)
    pe->register_module("0", patch_proj_);
    pe->register_module("2", patch_norm_);
    features = register_module("features", std::make_shared<Container>());
    features->register_module("0", pe);
  } else {
    pe->register_module("proj", patch_proj_);
    pe->register_module("norm", patch_norm_);
    register_module("patch_embed", pe);
    layers = register_module("layers", std::make_shared<Container>());
  }
  int64_t dim = c0;
  for (size_t i = 0; i < ns; ++i) {
    CQ_CHECK(cfg.depths[i] > 0 && cfg.num_heads[i] > 0, "swinv2: stage ", i, " has depth ", cfg.depths[i],
             " and ", cfg.num_heads[i], " heads");
    Stage st;
    if (i > 0) {
      st.merge = std::make_shared<PatchMerging>(mk, dim, cfg.norm_eps);
      dim *= 2;
    }
    auto blocks = std::make_shared<Container>();
    for (int64_t j = 0; j < cfg.depths[i]; ++j) {
      st.blocks.push_back(std::make_shared<Block>(mk, cfg_, dim, cfg.num_heads[i], cfg_.pretrained_window_sizes[i],
                                                  j % 2 == 1));
      blocks->register_module(std::to_string(j), st.blocks.back());
    }
    if (tv) {  // features.{2i} = merge before stage i, features.{2i+1} = stage i's blocks
      if (st.merge) features->register_module(std::to_string(2 * i), st.merge);
      features->register_module(std::to_string(2 * i + 1), blocks);
    } else {  // layers.i = (downsample, blocks)
      auto layer = std::make_shared<Container>();
      if (st.merge) layer->register_module("downsample", st.merge);
      layer->register_module("blocks", blocks);
      layers->register_module(std::to_string(i), layer);
    }
    stages_.push_back(std::move(st));
  }
  num_features_ = dim;
  norm_ = register_module("norm", std::make_shared<Norm>(mk, dim, cfg.norm_eps, 1.0));
  if (cfg.num_classes > 0) {
    head_ = make_linear(mk, dim, cfg.num_classes, true);
    if (tv) {
      register_module("head", head_);
    } else {
      auto head = register_module("head", std::make_shared<Container>());  // timm ClassifierHead: head.fc
      head->register_module("fc", head_);
    }
  }
  eval();  // no dropout or stochastic depth here; train() only changes the flag
}

Block& SwinV2::block(size_t stage, size_t index) {
  CQ_CHECK(stage < stages_.size() && index < stages_[stage].blocks.size(), "swinv2: no block ", index,
           " in stage ", stage);
  return *stages_[stage].blocks[index];
}

SwinV2Output SwinV2::forward(const Tensor& x, bool with_logits, bool keep_features) {
  CQ_CHECK(cfg_.alloc != SwinV2Alloc::shape_only, "swinv2 '", cfg_.name,
           "': built shape_only (no parameter memory); build with SwinV2Alloc::init or zeros to run it");
  const int64_t p = cfg_.patch_size;
  CQ_CHECK(x.dim() == 4 && x.size(1) == cfg_.in_chans && x.size(2) >= p && x.size(3) >= p, "swinv2 '", cfg_.name,
           "': expected input [B, ", cfg_.in_chans, ", H, W] with H, W >= ", p, ", got ", x.describe());
  const bool tv = cfg_.naming == SwinV2Naming::torchvision;
  SwinV2Output out;
  auto keep = [&](const std::string& name, const Tensor& t) {
    if (keep_features) out.features.emplace_back(name, t);
  };
  Conv2dParams cp;
  cp.stride_h = cp.stride_w = p;
  Tensor y = conv2d(x, patch_proj_->weight, patch_proj_->bias, cp).permute({0, 2, 3, 1});  // NHWC from here on
  y = patch_norm_->forward(y);
  keep(tv ? "features.0" : "patch_embed", y);
  for (size_t i = 0; i < stages_.size(); ++i) {
    if (stages_[i].merge) {
      y = stages_[i].merge->forward(y);
      if (tv) keep("features." + std::to_string(2 * i), y);
    }
    for (auto& b : stages_[i].blocks) y = b->forward(y);
    keep(tv ? "features." + std::to_string(2 * i + 1) : "layers." + std::to_string(i), y);
  }
  y = norm_->forward(y);
  keep("norm", y);
  out.embedding = mean(y, {1, 2});
  if (with_logits && head_) out.logits = head_->linear(out.embedding);
  return out;
}

std::shared_ptr<SwinV2> swinv2(Context& ctx, const SwinV2Config& cfg) { return std::make_shared<SwinV2>(ctx, cfg); }

}  // namespace cq::models
