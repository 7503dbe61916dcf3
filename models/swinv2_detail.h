// Internals of models/swinv2: the modules a SwinV2 is assembled from and the window/table helpers. Exposed for the
// model's own .cpp files and its tests; users go through models/swinv2.h.
#pragma once
#include <cstdint>
#include <memory>
#include <vector>

#include "models/swinv2.h"

namespace cq::models::swinv2_detail {

// A plain module whose children are added by the builder (torchvision's "features", timm's "layers.i.blocks", ...).
class Container : public nn::Module {
 public:
  using nn::Module::register_module;
};

// Creates parameters per SwinV2Alloc (see swinv2.h).
class Maker {
 public:
  Maker(Context& ctx, SwinV2Alloc alloc);
  Tensor constant(const Shape& shape, double value);
  Tensor normal(const Shape& shape, double std);  // init: N(0, std); zeros: 0
  Tensor torch_conv_weight(const Shape& shape);   // init: PyTorch's Conv2d default (kaiming_uniform a=sqrt(5))
  Tensor torch_conv_bias(const Shape& shape, int64_t fan_in);
  SwinV2Alloc alloc() const { return alloc_; }
  Context& ctx() { return ctx_; }

 private:
  Context& ctx_;
  SwinV2Alloc alloc_;
  Tensor zero_;  // shape_only: the one element every parameter views
};

// weight and optional bias: a Linear (weight [out, in]) or the patch-embedding conv (weight [out, in, p, p]).
class Affine : public nn::Module {
 public:
  Affine(Tensor weight, Tensor bias);
  Tensor linear(const Tensor& x) const;  // x [..., in] -> [..., out]
  // act(linear(x)), act 0 identity or 3 gelu; in inference on CPU f32 one fused op (linear_act_infer).
  Tensor linear_act(const Tensor& x, int act) const;
  Tensor weight, bias;
};
std::shared_ptr<Affine> make_linear(Maker& mk, int64_t in, int64_t out, bool bias);

class Norm : public nn::Module {
 public:
  Norm(Maker& mk, int64_t dim, double eps, double weight_init);
  Tensor forward(const Tensor& x) const;  // LayerNorm over the last axis
  Tensor weight, bias;
  double eps;
};

// Window and shift of one block for a feature map H x W, and the padded size the windows tile.
struct WindowPlan {
  int64_t wh = 0, ww = 0;  // window
  int64_t sh = 0, sw = 0;  // cyclic shift (0 = none)
  int64_t hp = 0, wp = 0;  // padded feature size (multiples of the window)
};
// torchvision: window kept, map padded up to it, shift dropped on an axis where window >= padded size.
// timm: window = min(window, size) per axis, shift dropped where size <= window; padded only if still needed.
WindowPlan plan_window(SwinV2Naming naming, int64_t H, int64_t W, int64_t window, bool shifted);

// [2wh-1, 2ww-1, 2] (dy, dx) float32 values sign(t)*log2(|t|+1)/3, t = 8*d/div, computed in float32 in the order
// torchvision/timm use. div_h/div_w = (pretrained) window - 1; a zero divisor (a 1-wide window) gives t = 0.
std::vector<float> coords_table_values(int64_t wh, int64_t ww, int64_t div_h, int64_t div_w);
// [wh*ww * wh*ww]: (dy + wh-1) * (2ww-1) + (dx + ww-1) for token pairs (i, j), d = coord_i - coord_j.
std::vector<int64_t> position_index_values(int64_t wh, int64_t ww);
// [nW, N, N] 0 / -100: tokens from different regions of the cyclically shifted padded map never attend to each
// other. Regions follow the libraries' Python slices (0,-w), (-w,-s), (-s,None) per axis, quirks included (s = 0
// makes the last slice the whole axis).
std::vector<float> shift_mask_values(int64_t hp, int64_t wp, int64_t wh, int64_t ww, int64_t sh, int64_t sw);

class WindowAttention : public nn::Module {
 public:
  WindowAttention(Maker& mk, SwinV2Naming naming, int64_t dim, int64_t heads, int64_t window,
                  int64_t pretrained_window);
  // xw [Bw, N, C] windows (N = wh*ww); mask [nW, N, N] or undefined. -> [Bw, N, C]
  Tensor forward(const Tensor& xw, int64_t wh, int64_t ww, const Tensor& mask) const;
  // 16*sigmoid(cpb_mlp(coords)) gathered to [heads, N, N] for a wh x ww window.
  Tensor position_bias(const Tensor& like, int64_t wh, int64_t ww) const;

  SwinV2Naming naming;
  int64_t dim, heads, window, pretrained_window;
  Tensor logit_scale;       // [heads, 1, 1]
  Tensor q_bias, v_bias;    // timm
  std::shared_ptr<Affine> qkv, proj, cpb0, cpb2;  // torchvision's qkv has the [3C] bias
  Tensor coords_table;      // torchvision buffers for the configured window: [1, 2w-1, 2w-1, 2] f32
  Tensor position_index;    //   and [N*N] i64
};

class Mlp : public nn::Module {
 public:
  Mlp(Maker& mk, SwinV2Naming naming, int64_t dim, int64_t hidden);
  Tensor forward(const Tensor& x) const;  // fc2(gelu(fc1(x)))
  std::shared_ptr<Affine> fc1, fc2;
};

class Block : public nn::Module {
 public:
  Block(Maker& mk, const SwinV2Config& cfg, int64_t dim, int64_t heads, int64_t pretrained_window, bool shifted);
  Tensor forward(const Tensor& x) const;  // x [B, H, W, C] -> same shape
  WindowPlan plan(int64_t H, int64_t W) const;
  SwinV2Naming naming;
  int64_t window;
  bool shifted;
  std::shared_ptr<WindowAttention> attn;
  std::shared_ptr<Norm> norm1, norm2;
  std::shared_ptr<Mlp> mlp;
};

class PatchMerging : public nn::Module {
 public:
  PatchMerging(Maker& mk, int64_t dim, double eps);
  Tensor forward(const Tensor& x) const;  // [B, H, W, C] -> [B, ceil(H/2), ceil(W/2), 2C]
  std::shared_ptr<Affine> reduction;
  std::shared_ptr<Norm> norm;
};

// A host-computed table as a tensor on like's device.
Tensor host_tensor(const Tensor& like, const std::vector<float>& v, const Shape& shape);
Tensor host_tensor(const Tensor& like, const std::vector<int64_t>& v, const Shape& shape);

}  // namespace cq::models::swinv2_detail
