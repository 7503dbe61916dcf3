// EfficientNet-B2 encoder exactly as lukemelas/EfficientNet-PyTorch 0.7.1 builds it inside smp 0.3.x
// (segmentation_models_pytorch EfficientNetEncoder("efficientnet-b2")), with its parameter names (_conv_stem, _bn0,
// _blocks.i._depthwise_conv, ...) so smp state dicts load without renaming.
//
// Shapes: x [N,3,H,W] -> taps {x, f1 [N,32,H/2,W/2], f2 [N,24,H/4,W/4], f3 [N,48,H/8,W/8], f4 [N,120,H/16,W/16],
// f5 [N,352,H/32,W/32]} (sizes rounded up per stride-2 stage).
#pragma once
#include <array>
#include <memory>
#include <vector>

#include "nn/layers.h"

namespace cq::models {

// One MBConv block of the B2 configuration (after width 1.1 / depth 1.2 scaling).
struct MBConvConfig {
  int stage;           // 0..6
  int index_in_stage;  // 0..repeats-1
  int64_t in, out, expand, kernel, stride;
  int64_t expanded() const { return in * expand; }
  int64_t squeezed() const { return in / 4 > 1 ? in / 4 : 1; }  // max(1, int(in * se_ratio 0.25))
  bool residual() const { return stride == 1 && in == out; }
};

// The 23 blocks in order (stages (e,k,s,out,repeats) = (1,3,1,16,2) (6,3,2,24,3) (6,5,2,48,3) (6,3,2,88,4)
// (6,5,1,120,4) (6,5,2,208,5) (6,3,1,352,2); stem 32 channels, head 1408).
const std::vector<MBConvConfig>& efficientnet_b2_blocks();
constexpr int64_t kEffB2StemChannels = 32;
constexpr int64_t kEffB2HeadChannels = 1408;
constexpr int kEffB2StaticImageSize = 260;  // GlobalParams.image_size of efficientnet-b2

// TF "same" padding (left, right, top, bottom) for a square image_size, as lukemelas' Conv2dStaticSamePadding:
// total = max((ceil(size/stride) - 1) * stride + k - size, 0), left = total / 2, right = total - left.
std::array<int64_t, 4> static_same_padding(int64_t image_size, int64_t kernel, int64_t stride);

class MBConvBlock : public nn::Module {
 public:
  MBConvBlock(Context& ctx, const MBConvConfig& cfg, int64_t image_size);
  // drop_rate: drop-connect probability for this block (applied only on residual blocks in training).
  Tensor forward(const Tensor& x, double drop_rate);
  const MBConvConfig& config() const { return cfg_; }
  const Conv2dParams& depthwise_params() const { return depthwise_->params; }

 private:
  Context* ctx_;
  MBConvConfig cfg_;
  std::shared_ptr<nn::Conv2d> expand_conv_, depthwise_, se_reduce_, se_expand_, project_;
  std::shared_ptr<nn::BatchNorm2d> bn0_, bn1_, bn2_;
};

class EfficientNetB2Encoder : public nn::Module {
 public:
  explicit EfficientNetB2Encoder(Context& ctx);
  // The 6 taps {x, f1..f5} (smp's EfficientNetEncoder.forward).
  std::vector<Tensor> forward(const Tensor& x);
  // Global drop-connect rate (smp default 0.2); block i uses rate * i / 23. 0 disables drop-connect.
  void set_drop_connect_rate(double r);
  double drop_connect_rate() const { return drop_connect_rate_; }
  static constexpr int64_t out_channels[6] = {3, 32, 24, 48, 120, 352};
  const std::vector<std::shared_ptr<MBConvBlock>>& blocks() const { return blocks_; }
  const Conv2dParams& stem_params() const { return conv_stem_->params; }

 private:
  double drop_connect_rate_ = 0.2;
  std::shared_ptr<nn::Conv2d> conv_stem_, conv_head_;
  std::shared_ptr<nn::BatchNorm2d> bn0_, bn1_;
  std::vector<std::shared_ptr<MBConvBlock>> blocks_;
};

}  // namespace cq::models
