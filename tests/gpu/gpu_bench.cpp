// cq_gpu_bench: the GPU benchmarks of tests/gpu/run.sh, one line per measurement ("name value unit [note]").
//   unet_train_step_b2_256x256   forward + Dice/CE loss + backward + fused Adam, median ms of --reps
//   unet_infer_b1_512x768        eval-mode forward under no_grad, median ms
//   color_transfer_4096x4096     lab-reinhard, u8 in/out on the GPU: GB/s over the bytes the passes must move
//                                (statistics read + transform read + write = 9 bytes per pixel), and % of HBM peak
//   histogram_4096x4096          8x8x8 counts, GB/s over the 3 bytes per pixel read
//   gris_n16000                  GRIS over 16000 random 512-bin histograms (GEMM tiles + fused epilogue), ms
// Options: --reps N (default 10), --peak-gbs X (HBM peak for the percentage; default 4800, an H200),
// --precision fp32|tf32, --fast-nondeterministic. Without a CUDA device it prints why and exits 0.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "colorxfer/colorxfer.h"
#include "losses/losses.h"
#include "models/unet.h"
#include "nn/adam.h"
#include "refselect/gris.h"
#include "refselect/histogram.h"
#include "tensor/context.h"
#include "tensor/cuda_backend.h"

using namespace cq;

namespace {

struct Opts {
  int reps = 10;
  double peak_gbs = 4800;
  ComputeOptions compute;
};

template <class F>
double median_ms(int reps, F&& f) {
  f();  // warm-up: handles, cuDNN algorithm choice, allocator cache
  f();
  cuda::synchronize();
  std::vector<double> ts;
  for (int i = 0; i < reps; ++i) {
    const auto t0 = std::chrono::steady_clock::now();
    f();
    cuda::synchronize();
    ts.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
  }
  std::sort(ts.begin(), ts.end());
  return ts[ts.size() / 2];
}

Context gpu_ctx(const Opts& o) {
  ContextOptions co;
  co.threads = 0;
  co.seed = 1;
  co.device = Device::cuda(0);
  co.compute = o.compute;
  return Context(co);
}

void unet_train(const Opts& o) {
  Context ctx = gpu_ctx(o);
  auto model = models::unet_efficientnet_b2(ctx, 2);
  model->train();
  nn::Adam adam(model->named_parameters());
  const Tensor x = ctx.randn({2, 3, 256, 256});
  const Tensor y = ctx.randint(0, 2, {2, 256, 256});
  const double ms = median_ms(o.reps, [&] {
    adam.zero_grad();
    Tensor loss = losses::dc_loss(model->forward(x), y);
    loss.backward();
    adam.step();
  });
  std::printf("unet_train_step_b2_256x256 %.2f ms\n", ms);
}

void unet_infer(const Opts& o) {
  Context ctx = gpu_ctx(o);
  auto model = models::unet_efficientnet_b2(ctx, 2);
  model->eval();
  const Tensor x = ctx.randn({1, 3, 512, 768});
  auto ng = ctx.no_grad();
  const double ms = median_ms(o.reps, [&] { model->forward(x); });
  std::printf("unet_infer_b1_512x768 %.2f ms\n", ms);
}

Tensor random_image(Context& ctx, int64_t h, int64_t w) {
  Tensor host = Tensor::empty(ctx.runtime_ptr(), {h, w, 3}, DType::u8, Device::cpu());
  uint8_t* p = host.data<uint8_t>();
  uint64_t s = 88172645463325252ull;
  for (int64_t i = 0; i < h * w * 3; ++i) {
    s ^= s << 13, s ^= s >> 7, s ^= s << 17;
    p[i] = static_cast<uint8_t>(s >> 24);
  }
  return host.to(ctx.device());
}

void color_and_hist(const Opts& o) {
  Context ctx = gpu_ctx(o);
  const int64_t H = 4096, W = 4096, px = H * W;
  const Tensor img = random_image(ctx, H, W), ref = random_image(ctx, 512, 512);
  const dcin::TransferOptions topt;  // lab-reinhard, all pixels
  const dcin::ColorStats rs = dcin::color_stats(ref, topt, "reference");
  const double ms = median_ms(o.reps, [&] { dcin::color_transfer(img, rs); });
  const double gbs = 9.0 * px / (ms * 1e-3) / 1e9;
  std::printf("color_transfer_4096x4096 %.1f GB/s (%.2f ms, %.0f%% of %.0f GB/s HBM peak)\n", gbs, ms,
              100.0 * gbs / o.peak_gbs, o.peak_gbs);
  int64_t counts[dcin::kHistBins];
  const double hms = median_ms(o.reps, [&] { dcin::color_hist_counts(img, counts, dcin::HistOrder::CvBgr, 1); });
  std::printf("histogram_4096x4096 %.1f GB/s (%.2f ms)\n", 3.0 * px / (hms * 1e-3) / 1e9, hms);
}

void gris(const Opts& o) {
  Context ctx = gpu_ctx(o);
  const int64_t N = 16000, D = dcin::kHistBins;
  const Tensor X = ctx.rand({N, D}, 0.0, 1.0);
  dcin::GrisResult r;
  const double ms = median_ms(std::max(3, o.reps / 3), [&] { r = dcin::gris_select(X, 4096); });
  std::printf("gris_n16000 %.1f ms (chosen %lld)\n", ms, static_cast<long long>(r.index));
}

}  // namespace

int main(int argc, char** argv) {
  Opts o;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--reps" && i + 1 < argc) o.reps = std::max(1, std::atoi(argv[++i]));
    else if (a == "--peak-gbs" && i + 1 < argc) o.peak_gbs = std::atof(argv[++i]);
    else if (a == "--precision" && i + 1 < argc) o.compute.precision = parse_precision(argv[++i]);
    else if (a == "--fast-nondeterministic") o.compute.deterministic = false;
    else {
      std::fprintf(stderr, "usage: cq_gpu_bench [--reps N] [--peak-gbs X] [--precision fp32|tf32] "
                           "[--fast-nondeterministic]\n");
      return 2;
    }
  }
  if (!cuda::available()) {
    std::printf("cq_gpu_bench: SKIPPED, no CUDA device (%s)\n", cuda::unavailable_reason().c_str());
    return 0;
  }
  try {
    std::printf("# precision %s, %s\n", precision_name(o.compute.precision),
                o.compute.deterministic ? "deterministic" : "fast-nondeterministic");
    unet_train(o);
    unet_infer(o);
    color_and_hist(o);
    gris(o);
  } catch (const Error& e) {
    std::fprintf(stderr, "cq_gpu_bench: error: %s\n", e.what());
    return 1;
  }
  return 0;
}
