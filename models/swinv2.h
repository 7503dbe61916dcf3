// Swin Transformer V2 (Liu et al. 2022), the LRIS embedding model (SPEC.md "Embedding model for LRIS"), built with
// either torchvision's or timm's parameter names and each library's behaviour where they differ:
//
//   torchvision (swin_v2_t/s/b)         timm (swinv2_*_window*, swinv2_large_*)
//   features.0.0 conv, features.0.2 LN  patch_embed.proj, patch_embed.norm
//   features.{1,3,5,7} = stages          layers.i.blocks.j
//   features.{2,4,6} = PatchMergingV2     layers.i.downsample (at the START of stages 1-3)
//     after stages 0-2
//   attn.qkv.bias [3C] (k third zeroed  attn.q_bias, attn.v_bias (k bias = 0)
//     in forward)
//   relative_coords_table/_index are     tables are not in the state dict
//     persistent buffers (checked on load)
//   windows larger than the feature map  the window shrinks to the feature map (and the shift is dropped)
//     are kept: the map is zero-padded     when the map is not larger than the window; padding only
//     and padded tokens attend unmasked    when a larger map is not a multiple of the window
//   pad, then roll                        roll, then pad (shift mask on the padded map: timm's
//                                           dynamic_mask path; timm's static mask cannot pad at all)
//   cpb coords normalised by window-1     by pretrained_window-1 (window-1 when the pretrained window is 0)
//   mlp.0 / mlp.3, head                   mlp.fc1 / mlp.fc2, head.fc
//
// Both compute: patch embed conv4x4 s4 + LayerNorm; per block x = x + LN(attn(x)), x = x + LN(mlp(x)) (post-norm),
// MLP Linear(C,4C) exact GELU Linear(4C,C); cosine window attention normalize(q).normalize(k)^T *
// exp(min(logit_scale, ln 100)) + 16*sigmoid(cpb_mlp(log-spaced coords)) (+ the -100 mask of shifted windows), shift
// = window/2 on odd blocks; PatchMergingV2 = concat[x(0::2,0::2), x(1::2,0::2), x(0::2,1::2), x(1::2,1::2)] ->
// Linear(4C,2C, no bias) -> LayerNorm (odd sizes zero-padded first); final LayerNorm, embedding = its mean over H, W;
// logits = head(embedding).
//
// Window/shift are decided per forward from the actual feature size (timm's rule is applied to the current input,
// as timm's set_input_size would), so one model runs at any input size; the position-bias tables for the window in
// use are computed on the fly.
//
// INPUT NORMALISATION IS THE CALLER'S: the model takes x [B, 3, H, W] f32 already normalised as the weights expect
// (all presets: RGB in [0,1], then ImageNet mean (0.485,0.456,0.406) / std (0.229,0.224,0.225)), at the preset's
// img_size for the published numbers (swin_v2_*: 256 (torchvision resizes to 260 and centre-crops 256);
// swinv2_*_window8_256: 256; swinv2_large_window12to24_192to384: 384 (SPEC: bilinear resize); ..._192to256: 256;
// ..._window12_192: 192). H and W are floored to multiples of the patch size by the stride-4 patch conv.
#pragma once
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "nn/module.h"
#include "nn/safetensors.h"

namespace cq::models {

enum class SwinV2Naming { torchvision, timm };

// How parameters are created. init: each library's initialisation (trunc-normal-like std 0.02 Linear weights drawn
// as plain normals, zero biases, LayerNorm 1/0 — timm's block norms 0/0 as its _init_respostnorm —, logit_scale
// ln 10, PyTorch default conv init). zeros: allocated and zero (fast; for loading a checkpoint). shape_only: no
// memory — every parameter is a stride-0 view of one zero, with the right shape, so names, shapes and counts of
// even the largest model can be listed without allocating it; such a model refuses to run forward or load.
enum class SwinV2Alloc { init, zeros, shape_only };

struct SwinV2Config {
  std::string name = "custom";
  SwinV2Naming naming = SwinV2Naming::torchvision;
  int64_t in_chans = 3;
  int64_t patch_size = 4;
  int64_t embed_dim = 96;                      // channels of stage 0; doubled by each merge
  std::vector<int64_t> depths{2, 2, 6, 2};      // blocks per stage
  std::vector<int64_t> num_heads{3, 6, 12, 24};
  int64_t window_size = 8;
  std::vector<int64_t> pretrained_window_sizes{0, 0, 0, 0};  // timm only: cpb coordinate normaliser, 0 = window
  int64_t mlp_ratio = 4;
  int64_t num_classes = 1000;  // 0 = no classifier head (embedding only)
  int64_t img_size = 256;      // the input side the preset's weights are meant for (see the input note above)
  double norm_eps = 1e-5;
  SwinV2Alloc alloc = SwinV2Alloc::init;
};

// Presets by the library's model name: torchvision "swin_v2_t", "swin_v2_s", "swin_v2_b"; timm
// "swinv2_tiny_window8_256", "swinv2_small_window8_256", "swinv2_base_window8_256",
// "swinv2_large_window12to24_192to384", "swinv2_large_window12to16_192to256", "swinv2_large_window12_192".
// Unknown names throw listing the known ones.
SwinV2Config swinv2_preset(const std::string& name);
std::vector<std::string> swinv2_preset_names();

namespace swinv2_detail {
class Block;
class PatchMerging;
class Affine;
class Norm;
}  // namespace swinv2_detail

struct SwinV2Output {
  Tensor embedding;  // [B, C_last]: mean over H, W of the final LayerNorm output (the LRIS embedding)
  Tensor logits;     // [B, num_classes] when the model has a head and logits were asked for; else undefined
  // Only when asked for: NHWC activations under the library's module names (torchvision "features.0" ..
  // "features.7", "norm"; timm "patch_embed", "layers.0" .. "layers.3", "norm").
  std::vector<std::pair<std::string, Tensor>> features;
};

class SwinV2 : public nn::Module {
 public:
  SwinV2(Context& ctx, const SwinV2Config& cfg);
  const SwinV2Config& config() const { return cfg_; }
  int64_t num_features() const { return num_features_; }  // embedding width = embed_dim * 2^(stages-1)

  // x [B, in_chans, H, W] (normalised by the caller, see above).
  SwinV2Output forward(const Tensor& x, bool with_logits = true, bool keep_features = false);
  Tensor embed(const Tensor& x) { return forward(x, false, false).embedding; }

  // Block (stage, index) for tests and loaders.
  swinv2_detail::Block& block(size_t stage, size_t index);
  size_t num_stages() const { return stages_.size(); }

 private:
  struct Stage {
    std::shared_ptr<swinv2_detail::PatchMerging> merge;  // before the blocks (null for stage 0)
    std::vector<std::shared_ptr<swinv2_detail::Block>> blocks;
  };
  SwinV2Config cfg_;
  int64_t num_features_ = 0;
  std::shared_ptr<swinv2_detail::Affine> patch_proj_;  // conv weight [C, in, p, p], bias [C]
  std::shared_ptr<swinv2_detail::Norm> patch_norm_;
  std::vector<Stage> stages_;
  std::shared_ptr<swinv2_detail::Norm> norm_;
  std::shared_ptr<swinv2_detail::Affine> head_;  // null without a head
};

// Builds the model (parameters per cfg.alloc).
std::shared_ptr<SwinV2> swinv2(Context& ctx, const SwinV2Config& cfg);

// Loads a state dict under the model's naming (strict: every parameter present, nothing unknown). torchvision: the
// stored relative_coords_table (|diff| <= 1e-6, they are float32 results of the same formula) and
// relative_position_index (exact) must equal the ones we compute, else cq::Error naming the key and the first
// differing element — a checkpoint for another window size or a corrupted file is never silently used. timm: the
// non-persistent relative_position_index, relative_coords_table, attn_mask and k_bias entries that older timm
// checkpoints carry are dropped, as timm's checkpoint_filter_fn does. prefix is stripped from the file's names
// (e.g. "param/" in the fixtures, "model." in some exports); names without it are ignored.
void load_swinv2(SwinV2& model, Context& ctx, const SafetensorsFile& file, const std::string& prefix = "");
void load_swinv2(SwinV2& model, const std::map<std::string, Tensor>& state_dict);

}  // namespace cq::models
