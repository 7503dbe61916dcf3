#include "models/efficientnet.h"

#include "kernels/elementwise/elementwise.h"
#include "kernels/pool/pool.h"

namespace cq::models {

namespace {
// lukemelas' BatchNorm settings: momentum = 1 - 0.99, eps = 1e-3.
constexpr double kBnEps = 1e-3;
constexpr double kBnMomentum = 0.01;

int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

Conv2dParams conv_params(int64_t stride, const std::array<int64_t, 4>& lrtb, int64_t groups = 1) {
  Conv2dParams p;
  p.stride_h = p.stride_w = stride;
  p.pad_l = lrtb[0];
  p.pad_r = lrtb[1];
  p.pad_t = lrtb[2];
  p.pad_b = lrtb[3];
  p.groups = groups;
  return p;
}
}  // namespace

const std::vector<MBConvConfig>& efficientnet_b2_blocks() {
  static const std::vector<MBConvConfig> blocks = [] {
    // (expand, kernel, stride, out, repeats) per stage, already scaled for B2 (width 1.1, depth 1.2).
    struct Stage {
      int64_t e, k, s, o, r;
    };
    const Stage stages[7] = {{1, 3, 1, 16, 2},  {6, 3, 2, 24, 3},  {6, 5, 2, 48, 3},  {6, 3, 2, 88, 4},
                             {6, 5, 1, 120, 4}, {6, 5, 2, 208, 5}, {6, 3, 1, 352, 2}};
    std::vector<MBConvConfig> out;
    int64_t in = kEffB2StemChannels;
    for (int s = 0; s < 7; ++s)
      for (int j = 0; j < stages[s].r; ++j) {
        // Repeats after the first take the stage's output as input and stride 1 (lukemelas' block_args update).
        out.push_back({s, j, in, stages[s].o, stages[s].e, stages[s].k, j == 0 ? stages[s].s : 1});
        in = stages[s].o;
      }
    return out;
  }();
  return blocks;
}

std::array<int64_t, 4> static_same_padding(int64_t size, int64_t k, int64_t s) {
  int64_t total = (ceil_div(size, s) - 1) * s + k - size;
  if (total < 0) total = 0;
  return {total / 2, total - total / 2, total / 2, total - total / 2};
}

MBConvBlock::MBConvBlock(Context& ctx, const MBConvConfig& cfg, int64_t image_size) : ctx_(&ctx), cfg_(cfg) {
  const int64_t mid = cfg.expanded();
  const std::array<int64_t, 4> none{0, 0, 0, 0};
  if (cfg.expand != 1) {
    expand_conv_ = register_module("_expand_conv", std::make_shared<nn::Conv2d>(ctx, cfg.in, mid, 1, 1,
                                                                                conv_params(1, none), false));
    bn0_ = register_module("_bn0", std::make_shared<nn::BatchNorm2d>(ctx, mid, kBnEps, kBnMomentum, NormAct::silu));
  }
  // The padding is fixed here from the build-time image size (lukemelas' static-same convolution), not from the
  // size of the tensor seen at run time.
  depthwise_ = register_module(
      "_depthwise_conv",
      std::make_shared<nn::Conv2d>(ctx, mid, mid, cfg.kernel, cfg.kernel,
                                   conv_params(cfg.stride, static_same_padding(image_size, cfg.kernel, cfg.stride), mid),
                                   false));
  bn1_ = register_module("_bn1", std::make_shared<nn::BatchNorm2d>(ctx, mid, kBnEps, kBnMomentum, NormAct::silu));
  const int64_t sq = cfg.squeezed();
  se_reduce_ = register_module("_se_reduce",
                               std::make_shared<nn::Conv2d>(ctx, mid, sq, 1, 1, conv_params(1, none), true));
  se_expand_ = register_module("_se_expand",
                               std::make_shared<nn::Conv2d>(ctx, sq, mid, 1, 1, conv_params(1, none), true));
  project_ = register_module("_project_conv", std::make_shared<nn::Conv2d>(ctx, mid, cfg.out, 1, 1,
                                                                           conv_params(1, none), false));
  bn2_ = register_module("_bn2", std::make_shared<nn::BatchNorm2d>(ctx, cfg.out, kBnEps, kBnMomentum));
}

Tensor MBConvBlock::forward(const Tensor& input, double drop_rate) {
  Tensor x = input;
  // _bn0 and _bn1 apply the swish themselves (fused batch_norm_act).
  if (expand_conv_) x = nn::conv_bn_forward(*expand_conv_, *bn0_, x);
  x = bn1_->forward(depthwise_->forward(x));
  x = nn::squeeze_excite(x, *se_reduce_, *se_expand_, "silu");
  // In evaluation the skip is added in the projection's epilogue (drop-connect is the identity there).
  if (cfg_.residual() && !is_training()) return nn::conv_bn_forward(*project_, *bn2_, x, input);
  x = nn::conv_bn_forward(*project_, *bn2_, x);
  if (cfg_.residual()) {
    // lukemelas applies drop-connect only where the skip exists, and only in training.
    x = nn::drop_path(*ctx_, x, drop_rate, is_training());
    x = add(x, input);
  }
  return x;
}

EfficientNetB2Encoder::EfficientNetB2Encoder(Context& ctx) {
  int64_t image = kEffB2StaticImageSize;
  conv_stem_ = register_module("_conv_stem",
                               std::make_shared<nn::Conv2d>(ctx, 3, kEffB2StemChannels, 3, 3,
                                                            conv_params(2, static_same_padding(image, 3, 2)), false));
  bn0_ = register_module("_bn0", std::make_shared<nn::BatchNorm2d>(ctx, kEffB2StemChannels, kBnEps, kBnMomentum,
                                                                    NormAct::silu));
  image = ceil_div(image, 2);
  auto list = register_module("_blocks", std::make_shared<nn::ModuleList>());
  for (const auto& cfg : efficientnet_b2_blocks()) {
    blocks_.push_back(list->add(std::make_shared<MBConvBlock>(ctx, cfg, image)));
    image = ceil_div(image, cfg.stride);  // the next block sees the reduced size (calculate_output_image_size)
  }
  // Classifier head convolution: stored (so smp state dicts load strictly) but never run by smp's encoder.
  int64_t last = efficientnet_b2_blocks().back().out;
  conv_head_ = register_module("_conv_head", std::make_shared<nn::Conv2d>(ctx, last, kEffB2HeadChannels, 1, 1,
                                                                          conv_params(1, {0, 0, 0, 0}), false));
  bn1_ = register_module("_bn1", std::make_shared<nn::BatchNorm2d>(ctx, kEffB2HeadChannels, kBnEps, kBnMomentum));
}

void EfficientNetB2Encoder::set_drop_connect_rate(double r) {
  CQ_CHECK(r >= 0 && r < 1, "EfficientNetB2Encoder: drop-connect rate must be in [0, 1), got ", r);
  drop_connect_rate_ = r;
}

std::vector<Tensor> EfficientNetB2Encoder::forward(const Tensor& x) {
  CQ_CHECK(x.dim() == 4 && x.size(1) == 3, "EfficientNetB2Encoder: expected input [N,3,H,W], got ", x.describe());
  std::vector<Tensor> taps{x};
  Tensor h = nn::conv_bn_forward(*conv_stem_, *bn0_, x);  // BN + swish, fused
  taps.push_back(h);
  // smp's stage ends: after blocks 4, 7, 15 and 22.
  const size_t tap_after[] = {4, 7, 15, 22};
  size_t next_tap = 0;
  const double n = static_cast<double>(blocks_.size());
  for (size_t i = 0; i < blocks_.size(); ++i) {
    h = blocks_[i]->forward(h, drop_connect_rate_ * static_cast<double>(i) / n);
    if (next_tap < 4 && i == tap_after[next_tap]) {
      taps.push_back(h);
      ++next_tap;
    }
  }
  return taps;
}

}  // namespace cq::models
