// Determinism across runs and thread counts: a small network touching every heavy op family (conv2d incl.
// depthwise, batch_norm in training, activations, pooling, upsampling, concat, matmul, softmax, reductions), forward
// and backward, gives bit-identical outputs, gradients and BN running statistics with 1 and 2 threads, twice each.
#include <gtest/gtest.h>

#include "kernels/conv2d/conv2d.h"
#include "kernels/elementwise/elementwise.h"
#include "kernels/matmul/matmul.h"
#include "kernels/norm/norm.h"
#include "kernels/pool/pool.h"
#include "kernels/reduce/reduce.h"
#include "kernels/shape/shape.h"
#include "kernels/softmax/softmax.h"
#include "tensor/context.h"

using namespace cq;

namespace {
std::vector<std::vector<float>> run_once(int threads) {
  ContextOptions o;
  o.threads = threads;
  o.seed = 2024;
  Context ctx(o);
  Tensor x = ctx.randn({2, 8, 32, 48}).set_requires_grad();
  Tensor w1 = mul_scalar(ctx.randn({16, 8, 3, 3}), 0.1).detach().set_requires_grad();
  Tensor wd = mul_scalar(ctx.randn({16, 1, 5, 5}), 0.1).detach().set_requires_grad();
  Tensor g = ctx.ones({16}).set_requires_grad(), b = ctx.zeros({16}).set_requires_grad();
  Tensor rm = ctx.zeros({16}), rv = ctx.ones({16});
  Tensor wl = mul_scalar(ctx.randn({16, 5}), 0.1).detach().set_requires_grad();

  Conv2dParams p1;
  p1.stride_h = p1.stride_w = 2;
  p1.pad_l = 0, p1.pad_r = 1, p1.pad_t = 0, p1.pad_b = 1;
  Tensor h = conv2d(x, w1, Tensor(), p1);
  h = silu(batch_norm(h, g, b, rm, rv, true, 0.01, 1e-3));
  Conv2dParams pd;
  pd.pad_l = pd.pad_r = pd.pad_t = pd.pad_b = 2;
  pd.groups = 16;
  Tensor d = conv2d(h, wd, Tensor(), pd);
  Tensor gate = sigmoid(global_avg_pool2d(d));
  Tensor up = upsample_nearest2d(mul(d, gate), 2, 2);
  Tensor cat = concat({up, x}, 1);  // [2, 24, 32, 48]
  Tensor feat = mean(cat.slice(1, 0, 16), {2, 3});  // [2, 16]
  Tensor logits = matmul(feat, wl);                 // [2, 5]
  Tensor loss = add(sum(mul(softmax(logits, 1), log_softmax(logits, 1))), mean(relu(cat)));
  loss.backward();
  return {loss.to_vector<float>(), x.grad().to_vector<float>(), w1.grad().to_vector<float>(),
          wd.grad().to_vector<float>(), g.grad().to_vector<float>(), wl.grad().to_vector<float>(),
          rm.to_vector<float>(), rv.to_vector<float>()};
}
}  // namespace

TEST(Determinism, BitIdenticalAcrossRunsAndThreadCounts) {
  auto a = run_once(1), b = run_once(1), c = run_once(2), d = run_once(2);
  const char* names[] = {"loss", "grad x", "grad w1", "grad wd", "grad bn weight", "grad wl", "running_mean",
                         "running_var"};
  for (size_t i = 0; i < a.size(); ++i) {
    EXPECT_EQ(a[i], b[i]) << names[i] << ": two runs with 1 thread differ";
    EXPECT_EQ(c[i], d[i]) << names[i] << ": two runs with 2 threads differ";
    EXPECT_EQ(a[i], c[i]) << names[i] << ": 1 thread vs 2 threads differ";
  }
  ASSERT_FALSE(a[1].empty());
}

// Saved activations are freed by backward: after forward+backward of the network above, the allocator's live
// bytes are back to the leaves, their gradients and the BN statistics (no activation outlives the graph).
TEST(Memory, ForwardBackwardPeakReleased) {
  Context ctx;
  Tensor x = ctx.randn({2, 8, 64, 64}).set_requires_grad();
  Tensor w = mul_scalar(ctx.randn({32, 8, 3, 3}), 0.1).detach().set_requires_grad();
  Tensor rm = ctx.zeros({32}), rv = ctx.ones({32});
  size_t base = ctx.memory().current;
  ctx.runtime().cpu_allocator().reset_peak();
  size_t before_backward;
  {
    Conv2dParams p;
    p.pad_l = p.pad_r = p.pad_t = p.pad_b = 1;
    Tensor h = relu(batch_norm(conv2d(x, w, Tensor(), p), Tensor(), Tensor(), rm, rv, true, 0.1, 1e-5));
    Tensor loss = mean(mul(h, h));
    before_backward = ctx.memory().current;
    loss.backward();
  }
  size_t grads = static_cast<size_t>(x.numel() + w.numel()) * 4;
  size_t peak = ctx.memory().peak;
  size_t after = ctx.memory().current;
  std::printf("  memory: base %zu B, before backward %zu B, peak %zu B, after backward %zu B (grads %zu B)\n", base,
              before_backward, peak, after, grads);
  EXPECT_GT(before_backward, base + 2 * (2 * 32 * 64 * 64 * 4));  // the graph held the conv and relu outputs
  EXPECT_LE(after, base + grads + 4096);                        // all of them released; only grads remain
}
