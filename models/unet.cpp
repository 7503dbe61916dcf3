#include "models/unet.h"

#include "kernels/pool/pool.h"
#include "kernels/shape/shape.h"
#include "nn/init.h"

namespace cq::models {

namespace {
Conv2dParams same3x3() {
  Conv2dParams p;
  p.pad_l = p.pad_r = p.pad_t = p.pad_b = 1;
  return p;
}

// smp Conv2dReLU with use_batchnorm=True: conv without bias (the BN's shift replaces it), BN (PyTorch defaults
// eps 1e-5, momentum 0.1), ReLU. Initialised as smp's initialize_decoder. The ReLU runs inside the BN op (fused
// batch_norm_act); smp's third child, the parameter-free ReLU, therefore has no module here, and the state-dict
// names (conv1.0.weight, conv1.1.running_mean, ...) are unchanged.
std::shared_ptr<nn::Sequential> conv_bn_relu(Context& ctx, int64_t in, int64_t out) {
  auto seq = std::make_shared<nn::Sequential>();
  auto conv = std::make_shared<nn::Conv2d>(ctx, in, out, 3, 3, same3x3(), false);
  nn::init::kaiming_uniform_(ctx, conv->weight, 0.0, /*relu=*/true);
  seq->add(conv);
  seq->add(std::make_shared<nn::BatchNorm2d>(ctx, out, 1e-5, 0.1, NormAct::relu));  // weight 1, bias 0 already
  return seq;
}

// conv_bn_relu's Sequential run as one fused op in inference (nn::conv_bn_forward).
Tensor conv_bn(nn::Sequential& seq, const Tensor& x) {
  return nn::conv_bn_forward(static_cast<nn::Conv2d&>(seq.at(0)), static_cast<nn::BatchNorm2d&>(seq.at(1)), x);
}

// A ModuleList that also keeps typed handles (decoder.blocks.i).
class DecoderBlockList : public nn::Module {
 public:
  std::shared_ptr<UnetDecoderBlock> add(std::shared_ptr<UnetDecoderBlock> b) {
    return register_module(std::to_string(n_++), std::move(b));
  }

 private:
  int n_ = 0;
};
}  // namespace

UnetDecoderBlock::UnetDecoderBlock(Context& ctx, int64_t in, int64_t skip, int64_t out) {
  conv1_ = register_module("conv1", conv_bn_relu(ctx, in + skip, out));
  conv2_ = register_module("conv2", conv_bn_relu(ctx, out, out));
}

Tensor UnetDecoderBlock::forward(const Tensor& x, const Tensor& skip) {
  Tensor h = upsample_nearest2d(x, 2, 2);
  if (skip.defined()) h = concat({h, skip}, 1);  // smp order: upsampled first, then the skip
  return conv_bn(*conv2_, conv_bn(*conv1_, h));
}

UnetDecoder::UnetDecoder(Context& ctx, const std::vector<int64_t>& enc, const std::vector<int64_t>& dec) {
  CQ_CHECK(enc.size() == dec.size() + 1 && dec.size() >= 1, "UnetDecoder: ", enc.size(), " encoder taps need ",
           enc.size() - 1, " decoder channels, got ", dec.size());
  // smp: drop the input tap, reverse; head = deepest, skips = the rest, and no skip for the last block.
  std::vector<int64_t> rev(enc.rbegin(), enc.rend() - 1);
  auto list = register_module("blocks", std::make_shared<DecoderBlockList>());
  int64_t in = rev[0];
  for (size_t i = 0; i < dec.size(); ++i) {
    int64_t skip = i + 1 < rev.size() ? rev[i + 1] : 0;
    blocks_.push_back(list->add(std::make_shared<UnetDecoderBlock>(ctx, in, skip, dec[i])));
    in = dec[i];
  }
}

Tensor UnetDecoder::forward(const std::vector<Tensor>& taps) {
  CQ_CHECK(taps.size() == blocks_.size() + 1, "UnetDecoder: expected ", blocks_.size() + 1, " taps, got ",
           taps.size());
  Tensor x = taps.back();
  for (size_t i = 0; i < blocks_.size(); ++i) {
    // Block i takes tap (len-2-i) as skip; taps[0] (the input itself) is never a skip.
    size_t si = taps.size() - 2 - i;
    x = blocks_[i]->forward(x, si >= 1 ? taps[si] : Tensor());
  }
  return x;
}

UnetEfficientNetB2::UnetEfficientNetB2(Context& ctx, int64_t classes) : classes_(classes) {
  CQ_CHECK(classes >= 1, "unet_efficientnet_b2: classes must be >= 1, got ", classes);
  encoder_ = register_module("encoder", std::make_shared<EfficientNetB2Encoder>(ctx));
  std::vector<int64_t> enc(std::begin(EfficientNetB2Encoder::out_channels), std::end(EfficientNetB2Encoder::out_channels));
  decoder_ = register_module("decoder", std::make_shared<UnetDecoder>(ctx, enc, std::vector<int64_t>{256, 128, 64, 32, 16}));
  head_ = register_module("segmentation_head", std::make_shared<nn::Sequential>());
  auto conv = std::make_shared<nn::Conv2d>(ctx, 16, classes, 3, 3, same3x3(), true);
  nn::init::xavier_uniform_(ctx, conv->weight);
  nn::init::constant_(conv->bias, 0.0);
  head_->add(conv);
}

std::vector<Tensor> UnetEfficientNetB2::encode(const Tensor& x) { return encoder_->forward(x); }

Tensor UnetEfficientNetB2::decode(const std::vector<Tensor>& taps) { return decoder_->forward(taps); }

Tensor UnetEfficientNetB2::head(const Tensor& d) { return head_->forward(d); }

Tensor UnetEfficientNetB2::forward(const Tensor& x) {
  CQ_CHECK(x.dim() == 4 && x.size(1) == 3, "unet_efficientnet_b2: expected input [N,3,H,W], got ", x.describe());
  CQ_CHECK(x.size(2) % 32 == 0 && x.size(3) % 32 == 0, "unet_efficientnet_b2: input height and width must be ",
           "multiples of 32 (5 stride-2 stages), got ", x.describe(), "; pad the image (predict_padded does)");
  return head(decode(encode(x)));
}

bool UnetEfficientNetB2::is_unused_parameter(const std::string& name) {
  return name.rfind("encoder._conv_head.", 0) == 0 || name.rfind("encoder._bn1.", 0) == 0;
}

std::shared_ptr<UnetEfficientNetB2> unet_efficientnet_b2(Context& ctx, int64_t classes) {
  return std::make_shared<UnetEfficientNetB2>(ctx, classes);
}

}  // namespace cq::models
