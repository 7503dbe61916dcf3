// --init-weights FILE (safetensors): what a run starts from instead of random initialisation.
//  - a cqseg training checkpoint (model/... tensors): the whole model;
//  - a full smp Unet state dict (has decoder.* or segmentation_head.* names): the whole model, strict;
//  - an EfficientNet-B2 classifier or encoder checkpoint in smp/lukemelas, timm or torchvision names: the encoder only
//    (models/weight_maps.h), the decoder and head keep their initialisation.
#pragma once
#include <string>

#include "nn/module.h"

namespace cq::pipeline {

// Returns a short description of what was loaded ("encoder (torchvision names)", ...). Throws cq::Error naming the
// file on unreadable files or names/shapes that fit none of the above.
std::string load_init_weights(Context& ctx, nn::Module& model, const std::string& path);

}  // namespace cq::pipeline
