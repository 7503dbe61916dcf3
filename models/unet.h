// U-Net with an EfficientNet-B2 encoder, as segmentation_models_pytorch 0.3.x builds Unet("efficientnet-b2",
// classes=K): encoder depth 5, decoder channels (256,128,64,32,16), batch-norm decoder, no attention, no activation.
// Parameter names are smp's (encoder.*, decoder.blocks.i.conv{1,2}.{0,1}.*, segmentation_head.0.*), so an smp
// state dict loads with load_state_dict(strict).
#pragma once
#include <memory>
#include <vector>

#include "models/efficientnet.h"
#include "models/registry.h"

namespace cq::models {

// smp DecoderBlock: nearest x2 upsample, concat [x, skip] on channels, then twice (conv3x3 no bias, BN, ReLU).
// conv1 / conv2 are Sequential(Conv2d, BatchNorm2d with the ReLU fused) so their names are conv1.0.weight,
// conv1.1.running_mean as smp's.
class UnetDecoderBlock : public nn::Module {
 public:
  UnetDecoderBlock(Context& ctx, int64_t in, int64_t skip, int64_t out);
  Tensor forward(const Tensor& x, const Tensor& skip);  // skip may be undefined (the last block)

 private:
  std::shared_ptr<nn::Sequential> conv1_, conv2_;
};

class UnetDecoder : public nn::Module {
 public:
  // encoder_channels: the 6 taps' channels {3, 32, 24, 48, 120, 352}.
  UnetDecoder(Context& ctx, const std::vector<int64_t>& encoder_channels, const std::vector<int64_t>& decoder_channels);
  // taps {x, f1..f5} -> [N, decoder_channels.back(), H, W].
  Tensor forward(const std::vector<Tensor>& taps);

 private:
  std::vector<std::shared_ptr<UnetDecoderBlock>> blocks_;
};

class UnetEfficientNetB2 : public SegmentationModel {
 public:
  UnetEfficientNetB2(Context& ctx, int64_t classes);
  // x [N,3,H,W] with H, W multiples of 32 -> logits [N,K,H,W]; other sizes throw cq::Error.
  Tensor forward(const Tensor& x) override;
  // The 6 taps {x, f1 (/2,32), f2 (/4,24), f3 (/8,48), f4 (/16,120), f5 (/32,352)}; any H, W.
  std::vector<Tensor> encode(const Tensor& x) override;
  // Decoder output before the head, [N,16,H,W].
  Tensor decode(const std::vector<Tensor>& taps);
  Tensor head(const Tensor& decoder_out);
  int64_t classes() const override { return classes_; }
  int64_t size_multiple() const override { return 32; }
  void set_drop_connect_rate(double rate) override { encoder_->set_drop_connect_rate(rate); }
  EfficientNetB2Encoder& encoder() { return *encoder_; }
  // Parameters that forward never reads (the encoder's classifier head: encoder._conv_head, encoder._bn1).
  static bool is_unused_parameter(const std::string& name);

 private:
  int64_t classes_;
  std::shared_ptr<EfficientNetB2Encoder> encoder_;
  std::shared_ptr<UnetDecoder> decoder_;
  std::shared_ptr<nn::Sequential> head_;
};

// smp.Unet("efficientnet-b2", encoder_weights=None, classes=K) with smp's initialisation (decoder convs
// kaiming_uniform fan_in/relu, decoder BN 1/0, head xavier_uniform with bias 0, encoder PyTorch defaults), drawn
// from ctx's generator. Encoder drop-connect rate 0.2 (smp's default).
std::shared_ptr<UnetEfficientNetB2> unet_efficientnet_b2(Context& ctx, int64_t classes);

}  // namespace cq::models
