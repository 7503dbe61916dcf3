// Swin V2 window attention (cosine attention + continuous position bias) and the transformer block (window
// partition, cyclic shift, post-norm residuals).
#include <cmath>

#include "kernels/elementwise/elementwise.h"
#include "kernels/matmul/matmul.h"
#include "kernels/reduce/reduce.h"
#include "kernels/shape/shape.h"
#include "kernels/softmax/softmax.h"
#include "models/swinv2_detail.h"

namespace cq::models::swinv2_detail {

WindowAttention::WindowAttention(Maker& mk, SwinV2Naming naming_, int64_t dim_, int64_t heads_, int64_t window_,
                                 int64_t pretrained_window_)
    : naming(naming_), dim(dim_), heads(heads_), window(window_), pretrained_window(pretrained_window_) {
  CQ_CHECK(heads > 0 && dim % heads == 0, "swinv2 WindowAttention: dim ", dim, " not divisible by heads ", heads);
  const bool tv = naming == SwinV2Naming::torchvision;
  logit_scale = register_parameter("logit_scale", mk.constant({heads, 1, 1}, std::log(10.0)));
  if (tv) {
    qkv = register_module("qkv", make_linear(mk, dim, 3 * dim, true));
  } else {
    q_bias = register_parameter("q_bias", mk.constant({dim}, 0.0));
    v_bias = register_parameter("v_bias", mk.constant({dim}, 0.0));
    qkv = register_module("qkv", make_linear(mk, dim, 3 * dim, false));
  }
  proj = register_module("proj", make_linear(mk, dim, dim, true));
  auto cpb = std::make_shared<Container>();
  // nn.Sequential(Linear(2, 512), ReLU, Linear(512, heads, bias=False)): indices 0 and 2.
  cpb0 = cpb->register_module("0", make_linear(mk, 2, 512, true));
  cpb2 = cpb->register_module("2", make_linear(mk, 512, heads, false));
  register_module("cpb_mlp", cpb);
  if (tv) {
    // Persistent buffers in torchvision (so they are in its state dicts and checked when loading). Small (the
    // window is 8 in every torchvision preset), so they are allocated even in shape_only mode.
    Context& ctx = mk.ctx();
    Tensor like = ctx.zeros({});
    coords_table = register_buffer(
        "relative_coords_table",
        host_tensor(like, coords_table_values(window, window, window - 1, window - 1), {1, 2 * window - 1,
                                                                                       2 * window - 1, 2}));
    position_index = register_buffer("relative_position_index",
                                     host_tensor(like, position_index_values(window, window), {window * window *
                                                                                               window * window}));
  }
}

Tensor WindowAttention::position_bias(const Tensor& like, int64_t wh, int64_t ww) const {
  const int64_t n = wh * ww;
  Tensor table, index;
  if (coords_table.defined() && wh == window && ww == window) {
    table = coords_table.to(like.dtype());
    index = position_index;
  } else {
    // timm normalises by the pretrained window when it has one, else by the window in use.
    int64_t dh = (pretrained_window > 0 ? pretrained_window : wh) - 1;
    int64_t dw = (pretrained_window > 0 ? pretrained_window : ww) - 1;
    if (naming == SwinV2Naming::torchvision) dh = dw = window - 1;
    table = host_tensor(like, coords_table_values(wh, ww, dh, dw), {2 * wh - 1, 2 * ww - 1, 2});
    index = host_tensor(like, position_index_values(wh, ww), {n * n});
  }
  Tensor t = cpb2->linear(relu(cpb0->linear(table.reshape({-1, 2}))));  // [(2wh-1)(2ww-1), heads]
  Tensor b = index_select(t, 0, index).reshape({n, n, heads}).permute({2, 0, 1});
  return mul_scalar(sigmoid(b), 16.0);  // [heads, N, N]
}

namespace {
// F.normalize(t, dim=-1): t / max(||t||_2, 1e-12)
Tensor l2_normalize(const Tensor& t) {
  Tensor n = sqrt(sum(mul(t, t), {-1}, true));
  return div(t, clamp(n, 1e-12, INFINITY));
}
}  // namespace

Tensor WindowAttention::forward(const Tensor& xw, int64_t wh, int64_t ww, const Tensor& mask) const {
  const int64_t bw = xw.size(0), n = xw.size(1), c = xw.size(2), d = c / heads;
  CQ_CHECK(n == wh * ww && c == dim, "swinv2 WindowAttention: windows ", xw.describe(), " for a ", wh, "x", ww,
           " window and dim ", dim);
  // qkv bias = (q, 0, v): torchvision stores a full [3C] bias and zeroes its k third in forward; timm keeps k = 0.
  Tensor zeros_k = xw.new_zeros({c});
  Tensor qkv_bias = naming == SwinV2Naming::torchvision
                        ? concat({qkv->bias.slice(0, 0, c), zeros_k, qkv->bias.slice(0, 2 * c, 3 * c)}, 0)
                        : concat({q_bias, zeros_k, v_bias}, 0);
  Tensor qkv_out = add(matmul(xw.reshape({bw * n, c}), qkv->weight.transpose(0, 1)), qkv_bias);
  qkv_out = qkv_out.reshape({bw, n, 3, heads, d});
  Tensor q = qkv_out.select(2, 0).permute({0, 2, 1, 3});  // [Bw, h, N, d]
  Tensor k = qkv_out.select(2, 1).permute({0, 2, 1, 3});
  Tensor v = qkv_out.select(2, 2).permute({0, 2, 1, 3});
  Tensor attn = matmul(l2_normalize(q), l2_normalize(k).transpose(-2, -1));  // [Bw, h, N, N]
  Tensor scale = exp(clamp(logit_scale, -INFINITY, std::log(100.0)));    // [h, 1, 1]
  attn = add(mul(attn, scale), position_bias(xw, wh, ww));
  if (mask.defined()) {
    const int64_t nw = mask.size(0);
    CQ_CHECK(bw % nw == 0, "swinv2 WindowAttention: ", bw, " windows not a multiple of the mask's ", nw);
    attn = add(attn.reshape({bw / nw, nw, heads, n, n}), mask.reshape({nw, 1, n, n})).reshape({bw, heads, n, n});
  }
  attn = softmax(attn, -1);
  Tensor out = matmul(attn, v).transpose(1, 2).reshape({bw, n, c});  // heads back together per token
  return proj->linear(out);
}

Block::Block(Maker& mk, const SwinV2Config& cfg, int64_t dim, int64_t heads, int64_t pretrained_window,
             bool shifted_)
    : naming(cfg.naming), window(cfg.window_size), shifted(shifted_) {
  const bool tv = naming == SwinV2Naming::torchvision;
  // timm zero-initialises the post-norm LayerNorms of every block (_init_respostnorm); torchvision keeps 1/0.
  const double norm_w = tv ? 1.0 : 0.0;
  auto a = std::make_shared<WindowAttention>(mk, naming, dim, heads, window, pretrained_window);
  auto n1 = std::make_shared<Norm>(mk, dim, cfg.norm_eps, norm_w);
  auto n2 = std::make_shared<Norm>(mk, dim, cfg.norm_eps, norm_w);
  auto m = std::make_shared<Mlp>(mk, naming, dim, dim * cfg.mlp_ratio);
  if (tv) {  // registration in each library's order, so state_dict() lists as it does
    norm1 = register_module("norm1", n1);
    attn = register_module("attn", a);
    norm2 = register_module("norm2", n2);
    mlp = register_module("mlp", m);
  } else {
    attn = register_module("attn", a);
    norm1 = register_module("norm1", n1);
    mlp = register_module("mlp", m);
    norm2 = register_module("norm2", n2);
  }
}

WindowPlan Block::plan(int64_t H, int64_t W) const { return plan_window(naming, H, W, window, shifted); }

Tensor Block::forward(const Tensor& x) const {
  CQ_CHECK(x.dim() == 4 && x.size(3) == attn->dim, "swinv2 Block: expected NHWC [B,H,W,", attn->dim, "], got ",
           x.describe());
  const int64_t B = x.size(0), H = x.size(1), W = x.size(2), C = x.size(3);
  const WindowPlan p = plan(H, W);
  const bool shift = p.sh != 0 || p.sw != 0;
  const bool tv = naming == SwinV2Naming::torchvision;
  // torchvision pads then rolls the padded map; timm rolls the map then pads.
  Tensor y = x;
  if (tv) y = pad(y, {0, 0, 0, p.wp - W, 0, p.hp - H});
  if (shift) y = roll(y, {-p.sh, -p.sw}, {1, 2});
  if (!tv) y = pad(y, {0, 0, 0, p.wp - W, 0, p.hp - H});

  const int64_t nh = p.hp / p.wh, nw = p.wp / p.ww, n = p.wh * p.ww;
  Tensor windows = y.reshape({B, nh, p.wh, nw, p.ww, C}).permute({0, 1, 3, 2, 4, 5}).reshape({B * nh * nw, n, C});
  Tensor mask;
  if (shift) mask = host_tensor(x, shift_mask_values(p.hp, p.wp, p.wh, p.ww, p.sh, p.sw), {nh * nw, n, n});
  Tensor a = attn->forward(windows, p.wh, p.ww, mask);
  a = a.reshape({B, nh, nw, p.wh, p.ww, C}).permute({0, 1, 3, 2, 4, 5}).reshape({B, p.hp, p.wp, C});

  if (!tv) a = a.slice(1, 0, H).slice(2, 0, W);
  if (shift) a = roll(a, {p.sh, p.sw}, {1, 2});
  if (tv) a = a.slice(1, 0, H).slice(2, 0, W);

  Tensor out = add(x, norm1->forward(a));  // post-norm residuals
  return add(out, norm2->forward(mlp->forward(out)));
}

}  // namespace cq::models::swinv2_detail
