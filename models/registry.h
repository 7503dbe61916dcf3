// Model registry: segmentation models by name, and the interface every segmentation model offers the pipeline.
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "nn/layers.h"

namespace cq::models {

// A segmentation network: forward(x [N,3,H,W]) -> logits [N,K,H,W].
class SegmentationModel : public nn::Layer {
 public:
  virtual int64_t classes() const = 0;
  // forward needs H and W to be multiples of this (32 for a depth-5 U-Net).
  virtual int64_t size_multiple() const = 0;
  // Encoder features, shallowest first (for LRIS: global average pool of the last one).
  virtual std::vector<Tensor> encode(const Tensor& x) = 0;
  // Drop-connect / stochastic-depth rate of the encoder (0 disables it); only training mode uses it.
  virtual void set_drop_connect_rate(double rate) = 0;

  // Any H, W: zero-pads the bottom and right up to the next multiple of size_multiple(), runs forward, and crops
  // the logits back to [N,K,H,W]. Runs in whatever mode the model is in, without recording gradients.
  Tensor predict_padded(const Tensor& x);
};

// Builds the named model with K output classes (K >= 1), initialised as its reference library initialises it.
std::shared_ptr<SegmentationModel> make_model(Context& ctx, const std::string& name, int64_t classes);
// The names make_model accepts.
std::vector<std::string> model_names();

}  // namespace cq::models
