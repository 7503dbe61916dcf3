// The non-GEMM ops of a U-Net training step through their public entry points: BatchNorm (training statistics) +
// activation, softmax + cross-entropy + Dice (the DC loss), and one Adam step over all U-Net parameters. Forward and
// forward+backward where it applies. Peers: bench/peers/torch_micro.py.
#include <string>

#include "bench/bench_util.h"
#include "kernels/norm/norm_act.h"
#include "kernels/elementwise/elementwise.h"
#include "kernels/norm/norm.h"
#include "losses/losses.h"
#include "models/registry.h"
#include "nn/adam.h"

namespace {

// BN (training mode, batch statistics, running stats updated) + SiLU (act 0) or ReLU (act 1) on 1x192x128x128
// (an MBConv expansion output of the encoder at 512x512-class sizes; the shape of issue #6's depthwise figure).
// Args: {act, backward}
void BM_BatchNormAct(benchmark::State& st) {
  cq::Context ctx = cq::bench::make_ctx(cq::bench::env_threads());
  const int64_t C = 192;
  cq::Tensor x = ctx.randn({1, C, 128, 128}), g = ctx.randn({1, C, 128, 128});
  cq::Tensor w = ctx.ones({C}), b = ctx.zeros({C}), rm = ctx.zeros({C}), rv = ctx.ones({C});
  const bool bwd = st.range(1) != 0;
  if (bwd) x.set_requires_grad(), w.set_requires_grad(), b.set_requires_grad();
  for (auto _ : st) {
    // The fused op the models run (kernels/norm/norm_act.h), not batch_norm followed by a separate activation.
    cq::Tensor y = cq::batch_norm_act(x, w, b, rm, rv, true, 0.1, 1e-5,
                                      st.range(0) == 0 ? cq::NormAct::silu : cq::NormAct::relu);
    if (bwd) {
      y.backward(g);
      benchmark::DoNotOptimize(x.grad().data_ptr());
      x.zero_grad(), w.zero_grad(), b.zero_grad();
    } else {
      benchmark::DoNotOptimize(y.data_ptr());
    }
  }
  st.SetLabel(st.range(0) == 0 ? "bn+silu" : "bn+relu");
  // Bytes a fused pass must move: read x, write y (forward); backward also reads g, x and writes gx.
  st.counters["GBps_min"] = benchmark::Counter(double(x.numel()) * 4 * (bwd ? 5 : 2) * 1e-9,
                                               benchmark::Counter::kIsIterationInvariantRate);
  cq::bench::set_memory_counter(st, ctx);
}
BENCHMARK(BM_BatchNormAct)->ArgNames({"act", "bwd"})->Args({0, 0})->Args({0, 1})->Args({1, 0})->Args({1, 1})
    ->Unit(benchmark::kMillisecond)->UseRealTime();

// The DC loss (softmax + cross-entropy + squared Dice, losses::dc_loss) on logits [2,5,256,256] (training batch),
// forward and forward+backward to the logits.
void BM_DcLoss(benchmark::State& st) {
  cq::Context ctx = cq::bench::make_ctx(cq::bench::env_threads());
  cq::Tensor logits = ctx.randn({2, 5, 256, 256});
  const cq::Tensor y = ctx.randint(0, 5, {2, 256, 256});
  const bool bwd = st.range(0) != 0;
  if (bwd) logits.set_requires_grad();
  for (auto _ : st) {
    cq::Tensor loss = cq::losses::dc_loss(logits, y);
    if (bwd) {
      loss.backward();
      benchmark::DoNotOptimize(logits.grad().data_ptr());
      logits.zero_grad();
    } else {
      benchmark::DoNotOptimize(loss.item());
    }
  }
  cq::bench::set_memory_counter(st, ctx);
}
BENCHMARK(BM_DcLoss)->ArgNames({"bwd"})->Arg(0)->Arg(1)->Unit(benchmark::kMillisecond)->UseRealTime();

// One Adam step over the U-Net EfficientNet-B2's trained parameters (K=5, 9.5M, as the PyTorch peer's), gradients
// preset.
void BM_AdamUnet(benchmark::State& st) {
  cq::Context ctx = cq::bench::make_ctx(cq::bench::env_threads());
  auto model = cq::models::make_model(ctx, "unet_efficientnet_b2", 5);
  // Only the parameters a training step reaches get a gradient (Adam skips the others, e.g. the encoder's unused
  // classifier-side conv head), found by one small training step.
  model->train();
  cq::losses::dc_loss(model->forward(ctx.randn({2, 3, 64, 64})), ctx.randint(0, 5, {2, 64, 64})).backward();
  int64_t n = 0;
  for (auto& kv : model->named_parameters()) {
    if (!kv.second.grad().defined()) continue;
    kv.second.set_grad(ctx.randn(kv.second.shape()) * 1e-3);
    n += kv.second.numel();
  }
  cq::nn::Adam adam(model->named_parameters());
  for (auto _ : st) adam.step();
  st.SetLabel(std::to_string(n) + " params");
  // Minimum traffic: read p, g, m, v and write p, m, v (7 floats per parameter).
  st.counters["GBps_min"] =
      benchmark::Counter(double(n) * 4 * 7 * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
  cq::bench::set_memory_counter(st, ctx);
}
BENCHMARK(BM_AdamUnet)->Unit(benchmark::kMillisecond)->UseRealTime();

}  // namespace
