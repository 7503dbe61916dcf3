// Initialisers with PyTorch's formulas, drawn from the Context's Rng, so a model trained from scratch starts the
// way smp/timm/torchvision models start (not the same numbers: PyTorch's generator differs).
#pragma once
#include "tensor/context.h"

namespace cq::nn::init {

// fan_in / fan_out of a weight [out, in, *kernel] as torch.nn.init._calculate_fan_in_and_fan_out.
int64_t fan_in(const Tensor& w);
int64_t fan_out(const Tensor& w);
void uniform_(Context& ctx, Tensor& t, double lo, double hi);
void normal_(Context& ctx, Tensor& t, double mean, double std);
void constant_(Tensor& t, double v);
// kaiming_uniform_(mode=fan_in, nonlinearity): bound = gain * sqrt(3 / fan_in); gain relu = sqrt(2),
// leaky_relu(a) = sqrt(2 / (1 + a^2)). PyTorch's Conv/Linear default is leaky_relu with a = sqrt(5).
void kaiming_uniform_(Context& ctx, Tensor& w, double a = 0.0, bool relu = true);
void xavier_uniform_(Context& ctx, Tensor& w, double gain = 1.0);
// PyTorch's default Conv2d/Linear reset_parameters(): kaiming_uniform(a=sqrt(5)) for w, U(-1/sqrt(fan_in), ..) bias.
void torch_default_(Context& ctx, Tensor& w, Tensor* bias);

}  // namespace cq::nn::init
