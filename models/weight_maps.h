// Weight-name maps for EfficientNet-B2 checkpoints: the names torchvision (efficientnet_b2), timm (efficientnet_b2)
// and lukemelas/smp give the same tensors, so a classifier checkpoint from any of them initialises our smp-named
// encoder (encoder._conv_stem.weight, encoder._blocks.i._depthwise_conv.weight, ...).
//
// Layouts agree (conv weights OIHW, depthwise [C,1,k,k], BN vectors [C]) so mapping is renaming only. Note: the
// torchvision and timm networks pad symmetrically ((k-1)/2), lukemelas/smp with static TF-same padding; their weights
// load unchanged, but a stride-2 layer then samples a grid shifted by one pixel relative to the network they were
// trained in (as in smp itself when given such weights).
#pragma once
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "nn/module.h"

namespace cq::models {

enum class EffNetNaming { smp, torchvision, timm };
const char* effnet_naming_name(EffNetNaming n);

// Pairs (smp name, source name) for every encoder tensor, stem to head, BN running stats and num_batches_tracked
// included. smp names carry the "encoder." prefix; smp-format sources are the plain lukemelas names (the smp entry
// maps "encoder.X" <- "X").
std::vector<std::pair<std::string, std::string>> effnet_b2_name_pairs(EffNetNaming source);

// Guesses the naming from characteristic keys (features.0.0.weight: torchvision; conv_stem.weight: timm;
// _conv_stem.weight or encoder._conv_stem.weight: lukemelas/smp). Throws cq::Error naming the keys it looked for.
EffNetNaming detect_effnet_b2_naming(const std::map<std::string, Tensor>& sd);

struct MappedWeights {
  std::map<std::string, Tensor> tensors;  // smp names ("encoder.*")
  std::vector<std::string> ignored;       // classifier-only keys of the source (classifier.*, _fc.*)
};

// Renames a source state dict to smp encoder names. Strict: a key that is neither an encoder tensor nor a known
// classifier key, a missing encoder tensor (num_batches_tracked excepted: old checkpoints lack it) or a shape that is
// not that of EfficientNet-B2 throws cq::Error listing every problem. For smp sources an "encoder." prefix is
// accepted and decoder/head keys are rejected (load those with load_state_dict instead).
MappedWeights map_effnet_b2_to_smp(const std::map<std::string, Tensor>& sd, EffNetNaming source);

// Detects the naming, maps, and loads the encoder tensors into model (a Unet whose encoder is "encoder"),
// leaving every other tensor as it is. Returns the naming found.
EffNetNaming load_effnet_b2_encoder(nn::Module& model, const std::map<std::string, Tensor>& sd);

}  // namespace cq::models
