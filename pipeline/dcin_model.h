// Inference with a trained checkpoint, as DCIN, `cqseg segment` and `cqseg eval` run it.
//
// Size policy (documented in `cqseg segment --help`): the model always predicts at the size it was trained at (the
// checkpoint config's height x width): the (colour-normalised) 8-bit input is resized there with bicubic interpolation
// (data::resize_cubic, as the training loader does), ImageNet-normalised and run in eval mode. Logits stay at that
// size: DCIN's logit averaging happens there, argmax gives the class map, and only the class map is resized back to
// the image's own size with nearest-neighbour sampling (data::resize_nearest), so every output pixel holds a class
// the model predicted. Metrics are computed at the image's own size against its original mask.
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "data/image_io.h"
#include "models/registry.h"
#include "pipeline/train_config.h"
#include "tensor/context.h"

namespace cq::pipeline {

// A checkpoint ready for inference (model weights only; optimizer state is not read).
struct SegModel {
  std::string path;     // the checkpoint file
  std::string sha256;   // of the file (names the U-Net embedder of this model, recorded in reports)
  std::string mode;     // base | aug | cqg (checkpoint metadata, else the config's)
  std::string run_name; // the checkpoint's directory name
  TrainConfig cfg;      // the training config stored in the checkpoint
  std::shared_ptr<models::SegmentationModel> net;  // in eval mode
  int height() const { return cfg.height; }  // native-size runs: the training images' size (not a multiple of 32)
  int width() const { return cfg.width; }
  // The network's input size for whole-image uses (embedders): the training size, rounded up to multiples of 32.
  int input_height() const { return (cfg.height + 31) / 32 * 32; }
  int input_width() const { return (cfg.width + 31) / 32 * 32; }
  int classes() const { return cfg.classes; }
};

// Reads a cqseg training checkpoint (pipeline/checkpoint.h). Errors name the file and what is wrong.
SegModel load_seg_model(Context& ctx, const std::string& path);

// Native-size runs (TrainConfig::native_size) instead fit the image into the training images' size keeping its aspect
// (bicubic; unchanged when it already has that size), pad it at the bottom/right with black to multiples of 32 as
// the training loader did, and crop the logits back: logits are at the fitted size.
//
// Logits of one image at the model's size, f32 on the host, layout [K,H,W].
struct Logits {
  int k = 0, h = 0, w = 0;
  std::vector<float> v;
  float at(int c, int y, int x) const { return v[(size_t(c) * size_t(h) + size_t(y)) * size_t(w) + size_t(x)]; }
};

// rgb: any size, 3 channels. Resized bicubic to the model's size, normalised, eval forward without gradients.
Logits predict_logits(Context& ctx, SegModel& m, const data::Image& rgb);
// Element-wise mean of two logit maps of one shape (full DCIN: GRIS and LRIS predictions); a shape mismatch throws.
Logits average_logits(const Logits& a, const Logits& b);
// Per pixel the class with the largest logit (the first on ties, as torch.argmax): 1-channel image of class indices.
data::Image argmax_mask(const Logits& l);

// data::Image <-> u8 HWC tensors on the host (the colour transfer's image type).
Tensor image_to_hwc(Context& ctx, const data::Image& rgb);
data::Image hwc_to_image(const Tensor& hwc);

}  // namespace cq::pipeline
