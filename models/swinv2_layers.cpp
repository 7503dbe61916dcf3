// Swin V2 building blocks other than attention: parameter factory, Linear/LayerNorm, MLP, PatchMergingV2, and the
// host-side tables (window plan, continuous-position-bias coordinates, relative index, shift mask).
#include <cmath>
#include <cstring>

#include "kernels/elementwise/elementwise.h"
#include "kernels/matmul/matmul.h"
#include "kernels/norm/norm.h"
#include "kernels/shape/shape.h"
#include "models/swinv2_detail.h"
#include "nn/init.h"

namespace cq::models::swinv2_detail {

Maker::Maker(Context& ctx, SwinV2Alloc alloc) : ctx_(ctx), alloc_(alloc) {
  if (alloc_ == SwinV2Alloc::shape_only) zero_ = ctx_.zeros({});
}

Tensor Maker::constant(const Shape& shape, double value) {
  if (alloc_ == SwinV2Alloc::shape_only) return zero_.expand(shape);
  return ctx_.full(shape, alloc_ == SwinV2Alloc::zeros ? 0.0 : value);
}

Tensor Maker::normal(const Shape& shape, double std) {
  Tensor t = constant(shape, 0.0);
  // timm/torchvision draw trunc_normal(std=0.02, a=-2, b=2): the absolute bounds are 100 std away, so a plain normal
  // is the same distribution in practice.
  if (alloc_ == SwinV2Alloc::init) nn::init::normal_(ctx_, t, 0.0, std);
  return t;
}

Tensor Maker::torch_conv_weight(const Shape& shape) {
  Tensor t = constant(shape, 0.0);
  if (alloc_ == SwinV2Alloc::init) nn::init::kaiming_uniform_(ctx_, t, std::sqrt(5.0), /*relu=*/false);
  return t;
}

Tensor Maker::torch_conv_bias(const Shape& shape, int64_t fan_in) {
  Tensor t = constant(shape, 0.0);
  if (alloc_ == SwinV2Alloc::init) {
    double b = 1.0 / std::sqrt(static_cast<double>(fan_in));
    nn::init::uniform_(ctx_, t, -b, b);
  }
  return t;
}

Affine::Affine(Tensor w, Tensor b) {
  weight = register_parameter("weight", std::move(w));
  if (b.defined()) bias = register_parameter("bias", std::move(b));
}

Tensor Affine::linear(const Tensor& x) const { return linear_act(x, 0); }

Tensor Affine::linear_act(const Tensor& x, int act) const {
  CQ_CHECK(act == 0 || act == 3, "swinv2 Linear: activation ", act, " (identity 0 or gelu 3)");
  bool fusable = !x.runtime().grad_enabled() && x.device().is_cpu() && x.dtype() == DType::f32 &&
                 weight.dtype() == DType::f32 && weight.dim() == 2 && x.dim() >= 1 && x.size(-1) == weight.size(1);
  if (fusable) return linear_act_infer(x, weight, bias, act);  // bias and GELU as the GEMM's epilogue
  CQ_CHECK(x.dim() >= 1 && weight.dim() == 2 && x.size(-1) == weight.size(1), "swinv2 Linear: input ",
           x.describe(), " does not end in ", weight.size(1), " features (weight ", weight.describe(), ")");
  Shape out_shape = x.shape();
  out_shape.back() = weight.size(0);
  Tensor y = matmul(x.reshape({-1, weight.size(1)}), weight.transpose(0, 1));
  if (bias.defined()) y = add(y, bias);
  y = y.reshape(out_shape);
  return act == 3 ? gelu(y) : y;
}

std::shared_ptr<Affine> make_linear(Maker& mk, int64_t in, int64_t out, bool bias) {
  return std::make_shared<Affine>(mk.normal({out, in}, 0.02), bias ? mk.constant({out}, 0.0) : Tensor());
}

Norm::Norm(Maker& mk, int64_t dim, double eps_, double weight_init) : eps(eps_) {
  weight = register_parameter("weight", mk.constant({dim}, weight_init));
  bias = register_parameter("bias", mk.constant({dim}, 0.0));
}

Tensor Norm::forward(const Tensor& x) const { return layer_norm(x, 1, weight, bias, eps); }

Mlp::Mlp(Maker& mk, SwinV2Naming naming, int64_t dim, int64_t hidden) {
  bool tv = naming == SwinV2Naming::torchvision;
  // torchvision's MLP is Sequential(Linear, GELU, Dropout, Linear, Dropout): the Linears are "0" and "3".
  fc1 = register_module(tv ? "0" : "fc1", make_linear(mk, dim, hidden, true));
  fc2 = register_module(tv ? "3" : "fc2", make_linear(mk, hidden, dim, true));
}

Tensor Mlp::forward(const Tensor& x) const { return fc2->linear(fc1->linear_act(x, 3)); }

PatchMerging::PatchMerging(Maker& mk, int64_t dim, double eps) {
  reduction = register_module("reduction", make_linear(mk, 4 * dim, 2 * dim, false));
  norm = register_module("norm", std::make_shared<Norm>(mk, 2 * dim, eps, 1.0));
}

Tensor PatchMerging::forward(const Tensor& x) const {
  CQ_CHECK(x.dim() == 4, "swinv2 PatchMerging: expected NHWC [B,H,W,C], got ", x.describe());
  const int64_t B = x.size(0), C = x.size(3);
  Tensor y = pad(x, {0, 0, 0, x.size(2) % 2, 0, x.size(1) % 2});
  const int64_t H = y.size(1), W = y.size(2);
  // [B, H/2, 2(dy), W/2, 2(dx), C] -> [B, H/2, W/2, dx, dy, C]: channel blocks in the order (dy,dx) = (0,0), (1,0),
  // (0,1), (1,1), which is torchvision's concat[x0::2,0::2, x1::2,0::2, x0::2,1::2, x1::2,1::2] and timm's
  // permute(0,1,3,4,2,5).
  y = y.reshape({B, H / 2, 2, W / 2, 2, C}).permute({0, 1, 3, 4, 2, 5}).reshape({B, H / 2, W / 2, 4 * C});
  return norm->forward(reduction->linear(y));
}

WindowPlan plan_window(SwinV2Naming naming, int64_t H, int64_t W, int64_t window, bool shifted) {
  WindowPlan p;
  auto ceil_to = [](int64_t n, int64_t m) { return (n + m - 1) / m * m; };
  if (naming == SwinV2Naming::torchvision) {
    p.wh = p.ww = window;
    p.hp = ceil_to(H, window);
    p.wp = ceil_to(W, window);
    p.sh = (shifted && window < p.hp) ? window / 2 : 0;
    p.sw = (shifted && window < p.wp) ? window / 2 : 0;
  } else {
    p.wh = H <= window ? H : window;
    p.ww = W <= window ? W : window;
    p.sh = (shifted && H > window) ? window / 2 : 0;
    p.sw = (shifted && W > window) ? window / 2 : 0;
    p.hp = ceil_to(H, p.wh);
    p.wp = ceil_to(W, p.ww);
  }
  return p;
}

std::vector<float> coords_table_values(int64_t wh, int64_t ww, int64_t div_h, int64_t div_w) {
  std::vector<float> out(static_cast<size_t>((2 * wh - 1) * (2 * ww - 1) * 2));
  auto f = [](int64_t d, int64_t div) {
    if (div <= 0) return 0.0f;
    // float32 steps as in torch: d / div, * 8, sign * log2(|t| + 1) / 3
    float t = static_cast<float>(d) / static_cast<float>(div);
    t = t * 8.0f;
    float s = t > 0 ? 1.0f : (t < 0 ? -1.0f : 0.0f);
    return s * std::log2(std::fabs(t) + 1.0f) / 3.0f;
  };
  size_t k = 0;
  for (int64_t dy = -(wh - 1); dy <= wh - 1; ++dy)
    for (int64_t dx = -(ww - 1); dx <= ww - 1; ++dx) {
      out[k++] = f(dy, div_h);
      out[k++] = f(dx, div_w);
    }
  return out;
}

std::vector<int64_t> position_index_values(int64_t wh, int64_t ww) {
  const int64_t n = wh * ww;
  std::vector<int64_t> out(static_cast<size_t>(n * n));
  for (int64_t i = 0; i < n; ++i)
    for (int64_t j = 0; j < n; ++j) {
      int64_t dy = i / ww - j / ww + wh - 1, dx = i % ww - j % ww + ww - 1;
      out[static_cast<size_t>(i * n + j)] = dy * (2 * ww - 1) + dx;
    }
  return out;
}

namespace {
// Python's a[lo:hi] bounds for a length-n axis (negative counts from the end, -0 is 0, hi "None" = n).
void py_slice(int64_t n, int64_t lo, int64_t hi, bool hi_none, int64_t& b, int64_t& e) {
  auto res = [n](int64_t v) { return v < 0 ? std::max<int64_t>(v + n, 0) : std::min(v, n); };
  b = res(lo);
  e = hi_none ? n : res(hi);
}
}  // namespace

std::vector<float> shift_mask_values(int64_t hp, int64_t wp, int64_t wh, int64_t ww, int64_t sh, int64_t sw) {
  std::vector<int64_t> label(static_cast<size_t>(hp * wp), 0);
  int64_t count = 0;
  const int64_t hs[3][2] = {{0, -wh}, {-wh, -sh}, {-sh, 0}};
  const int64_t ws[3][2] = {{0, -ww}, {-ww, -sw}, {-sw, 0}};
  for (int a = 0; a < 3; ++a)
    for (int c = 0; c < 3; ++c) {
      int64_t hb, he, wb, we;
      py_slice(hp, hs[a][0], hs[a][1], a == 2, hb, he);
      py_slice(wp, ws[c][0], ws[c][1], c == 2, wb, we);
      for (int64_t y = hb; y < he; ++y)
        for (int64_t x = wb; x < we; ++x) label[static_cast<size_t>(y * wp + x)] = count;
      ++count;
    }
  const int64_t nh = hp / wh, nw = wp / ww, n = wh * ww;
  std::vector<float> out(static_cast<size_t>(nh * nw * n * n));
  std::vector<int64_t> win(static_cast<size_t>(n));
  for (int64_t wy = 0; wy < nh; ++wy)
    for (int64_t wx = 0; wx < nw; ++wx) {
      for (int64_t t = 0; t < n; ++t)
        win[static_cast<size_t>(t)] = label[static_cast<size_t>((wy * wh + t / ww) * wp + wx * ww + t % ww)];
      float* m = out.data() + (wy * nw + wx) * n * n;
      for (int64_t i = 0; i < n; ++i)
        for (int64_t j = 0; j < n; ++j)
          m[i * n + j] = win[static_cast<size_t>(i)] == win[static_cast<size_t>(j)] ? 0.0f : -100.0f;
    }
  return out;
}

Tensor host_tensor(const Tensor& like, const std::vector<float>& v, const Shape& shape) {
  CQ_CHECK(shape_numel(shape) == static_cast<int64_t>(v.size()), "swinv2 host_tensor: ", v.size(),
           " values for shape ", shape_str(shape));
  Tensor t = Tensor::empty(like.runtime_ptr(), shape, DType::f32, Device::cpu());
  if (!v.empty()) std::memcpy(t.data_ptr(), v.data(), v.size() * sizeof(float));
  if (like.dtype() != DType::f32) t = t.to(like.dtype());
  return like.device().is_cpu() ? t : t.to(like.device());
}

Tensor host_tensor(const Tensor& like, const std::vector<int64_t>& v, const Shape& shape) {
  CQ_CHECK(shape_numel(shape) == static_cast<int64_t>(v.size()), "swinv2 host_tensor: ", v.size(),
           " values for shape ", shape_str(shape));
  Tensor t = Tensor::empty(like.runtime_ptr(), shape, DType::i64, Device::cpu());
  if (!v.empty()) std::memcpy(t.data_ptr(), v.data(), v.size() * sizeof(int64_t));
  return like.device().is_cpu() ? t : t.to(like.device());
}

}  // namespace cq::models::swinv2_detail
