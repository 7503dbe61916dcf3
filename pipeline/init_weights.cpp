#include "pipeline/init_weights.h"

#include "models/weight_maps.h"
#include "nn/safetensors.h"
#include "tensor/error.h"

namespace cq::pipeline {

std::string load_init_weights(Context& ctx, nn::Module& model, const std::string& path) {
  SafetensorsFile f = SafetensorsFile::open(path);
  std::map<std::string, Tensor> sd;
  bool ours = false, full = false;
  for (const SafetensorsEntry& e : f.entries()) {
    if (e.name.rfind("model/", 0) == 0) ours = true;
    if (e.name.rfind("decoder.", 0) == 0 || e.name.rfind("segmentation_head.", 0) == 0) full = true;
  }
  try {
    for (const SafetensorsEntry& e : f.entries()) {
      if (ours && e.name.rfind("model/", 0) != 0) continue;  // optimizer and RNG state are not weights
      sd[ours ? e.name.substr(6) : e.name] = f.load(ctx, e);
    }
    if (ours || full) {
      model.load_state_dict(sd, true);
      return ours ? "whole model (cqseg checkpoint)" : "whole model (smp state dict)";
    }
    const models::EffNetNaming n = models::load_effnet_b2_encoder(model, sd);
    return std::string("encoder (") + models::effnet_naming_name(n) + " names)";
  } catch (const Error& e) {
    fail("--init-weights ", path, ": ", e.what());
  }
}

}  // namespace cq::pipeline
