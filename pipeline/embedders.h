// LRIS embedders wired to models (refselect/bank.h's Embedder), and reference banks built from image folders.
//
//  * Swin-V2 with published weights (the paper's swinv2_large_window12to24_192to384, or any preset of
//    models/swinv2.h): the image is resized to the preset's img_size square with PIL-style bilinear
//    (data::resize_bilinear, what timm's eval transform does on PIL images), ImageNet-normalised, and the embedding is
//    the global average of the final LayerNorm output (1536-d for L). Name "<preset>@<first 16 hex of the weights'
//    SHA-256>": two weight files for one preset give different embedders, and a bank refuses the other's queries.
//  * The trained U-Net's own encoder ("unet:CKPT"), so LRIS works offline: the image is resized bicubic to the
//    checkpoint's training size (as training saw it), ImageNet-normalised, and the embedding is the global average
//    pool of the deepest encoder features (352-d for EfficientNet-B2). Name "unet@<first 16 hex of the checkpoint's
//    SHA-256>".
#pragma once
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "data/image_io.h"
#include "models/swinv2.h"
#include "pipeline/dcin_model.h"
#include "refselect/bank.h"

namespace cq::pipeline {

enum class EmbedResize { bilinear, bicubic };

struct ImageEmbedder {
  dcin::Embedder e;  // name, input size, embed(normalised [1,3,H,W]) -> [1,D]
  EmbedResize resize = EmbedResize::bicubic;
  std::shared_ptr<void> keep;  // the model the embed function uses, kept alive with it

  // The embedder's input for an RGB image of any size: resized to e.input_h x e.input_w, normalised, [1,3,H,W].
  Tensor prepare(Context& ctx, const data::Image& rgb) const;
  // prepare + embed, as a host vector of D floats (not normalised; the bank normalises).
  std::vector<float> embed(Context& ctx, const data::Image& rgb) const;
};

// "unet:CKPT" or a Swin-V2 preset name (then weights is required). Errors name the spec and list the choices.
ImageEmbedder make_embedder(Context& ctx, const std::string& spec, const std::string& weights = "");
// The U-Net encoder of an already loaded checkpoint (shares the model).
ImageEmbedder unet_embedder(const std::shared_ptr<SegModel>& model);
std::string unet_embedder_name(const std::string& checkpoint_sha256);
// Swin-V2 preset with weights from a safetensors file (timm or torchvision names per the preset; a classifier head
// in the file is loaded and ignored; a "model." prefix on every name is stripped).
ImageEmbedder swin_embedder(Context& ctx, const std::string& preset, const std::string& weights);
// Any Swin-V2 configuration (cfg.num_classes is set from the file's head, if any) with weights under `prefix` (""
// = auto: none, or "model." when every name has it). The name is "<label>@<weights' SHA-256 prefix>".
ImageEmbedder swin_embedder(Context& ctx, models::SwinV2Config cfg, const std::string& weights,
                            const std::string& label, const std::string& prefix = "");
// A Swin-V2 model already built (tests use random weights); name is the embedder name.
ImageEmbedder swin_embedder(const std::shared_ptr<models::SwinV2>& model, const std::string& name);

// Image files of a folder, sorted by name (byte order), as absolute normalised paths. A folder holding an images/
// subfolder and no images of its own (a dataset split) lists images/. None found: cq::Error naming the folder.
std::vector<std::string> list_image_files(const std::string& dir);

// Embeds every file (progress bar on `progress` when not null) into a bank: item names are the absolute paths,
// digests the files' SHA-256.
dcin::RefBank build_bank(Context& ctx, const ImageEmbedder& emb, const std::vector<std::string>& files,
                         std::FILE* progress = stderr);

// The reference image of bank item i, read from its recorded path (or from images_dir/<file name> when images_dir
// is given) and checked against the recorded SHA-256: a changed or missing file is an error naming it.
data::Image load_bank_image(const dcin::RefBank& bank, int64_t i, const std::string& images_dir = "");
std::string bank_image_path(const dcin::RefBank& bank, int64_t i, const std::string& images_dir = "");

}  // namespace cq::pipeline
