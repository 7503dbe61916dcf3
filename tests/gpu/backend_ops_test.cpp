// CPU-vs-GPU parity harness over the op registry and the models (like ggml's test-backend-ops).
//   BackendOpsCpu/*    the CPU half, run everywhere: each case's reference forward and backward is finite, every
//                      input that asks for a gradient gets one, and 1 vs 2 threads agree bit for bit
//   BackendOpsCuda/*   the GPU half: the same case on CUDA against the CPU reference (per-case tolerance), and two
//                      GPU runs bit-identical (deterministic default); SKIPPED without a CUDA device
//   BackendModels*     U-Net (EfficientNet-B2) train step and Swin-V2 forward+backward, CPU vs CUDA
// Without a device one line at the end says how many GPU cases were skipped and why.
#include <gtest/gtest.h>

#include <atomic>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <map>
#include <set>

#include "models/swinv2.h"
#include "models/unet.h"
#include "tensor/autograd.h"
#include "tensor/cuda_backend.h"
#include "tensor/op_registry.h"
#include "tests/gpu/backend_ops_cases.h"
#include "tests/support/gradcheck.h"
#include "tests/support/test_util.h"

using namespace cq;
using cq::testing::OpCase;

namespace {

std::atomic<int> g_skipped{0};

// Prints the skip count once, after all tests of this process ran.
class SkipSummary : public ::testing::Environment {
 public:
  void TearDown() override {
    if (g_skipped > 0)
      std::printf("[ backend-ops ] %d CUDA parity case(s) SKIPPED: %s\n", g_skipped.load(),
                  cuda::unavailable_reason().c_str());
  }
};
[[maybe_unused]] ::testing::Environment* const kSummary = ::testing::AddGlobalTestEnvironment(new SkipSummary);

#define CQ_REQUIRE_CUDA_COUNTED()                                                                     \
  do {                                                                                                \
    if (!cuda::available()) {                                                                         \
      ++g_skipped;                                                                                    \
      GTEST_SKIP() << "no CUDA device (" << cuda::unavailable_reason() << "): GPU parity case skipped"; \
    }                                                                                                 \
  } while (0)

// Output, then each gradient (in input order), all on the CPU.
struct CaseRun {
  std::vector<Tensor> values;
  std::vector<std::string> names;
};

CaseRun run_case(const OpCase& c, Device dev, int threads) {
  Context ctx = cq::testing::make_ctx(threads, 1234);
  std::vector<Tensor> in = c.make(ctx), leaves, want;
  for (const Tensor& t : in) {
    Tensor l = t.detach().clone().to(dev).detach();
    if (t.requires_grad()) {
      l.set_requires_grad();
      want.push_back(l);
    }
    leaves.push_back(l);
  }
  CaseRun r;
  Tensor out = c.run(leaves);
  r.values.push_back(out.to(Device::cpu()));
  r.names.push_back("output");
  if (!want.empty() && is_floating(out.dtype()) && out.requires_grad()) {
    Tensor g = ctx.randn(out.shape(), out.dtype()).to(dev);  // the same upstream gradient on every device
    std::vector<Tensor> grads = cq::grad(out, want, g);
    for (size_t i = 0; i < grads.size(); ++i) {
      r.values.push_back(grads[i].defined() ? grads[i].to(Device::cpu()) : Tensor());
      r.names.push_back("grad of input " + std::to_string(i));
    }
  }
  return r;
}

bool finite(const Tensor& t) {
  if (!is_floating(t.dtype())) return true;
  for (double v : t.to(DType::f64).to_vector<double>())
    if (!std::isfinite(v)) return false;
  return true;
}

bool bit_equal(const Tensor& a, const Tensor& b) {
  if (a.shape() != b.shape() || a.dtype() != b.dtype()) return false;
  Tensor ac = a.contiguous(), bc = b.contiguous();
  return std::memcmp(ac.data_ptr(), bc.data_ptr(), static_cast<size_t>(ac.numel()) * ac.element_size()) == 0;
}

// |a - ref| <= tol * max(1, max|ref|) element-wise, as an assertion naming the worst difference.
::testing::AssertionResult close(const Tensor& a, const Tensor& ref, double tol) {
  if (a.shape() != ref.shape()) return ::testing::AssertionFailure() << "shape " << a.describe() << " vs " << ref.describe();
  std::vector<double> x = a.to(DType::f64).to_vector<double>(), y = ref.to(DType::f64).to_vector<double>();
  double scale = 1, worst = 0;
  for (double v : y) scale = std::max(scale, std::fabs(v));
  for (size_t i = 0; i < x.size(); ++i) worst = std::max(worst, std::fabs(x[i] - y[i]));
  if (worst <= tol * scale) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << "max |gpu - cpu| = " << worst << " > " << tol << " * " << scale;
}

class BackendOps : public ::testing::TestWithParam<OpCase> {};

std::string case_name(const ::testing::TestParamInfo<OpCase>& info) { return info.param.name; }

}  // namespace

TEST(BackendOpsRegistry, EveryOpHasACase) {
  std::set<std::string> covered;
  std::set<std::string> names;
  for (const OpCase& c : cq::testing::all_op_cases()) {
    covered.insert(c.op);
    EXPECT_TRUE(names.insert(c.name).second) << "duplicate case name " << c.name;
    EXPECT_NE(find_op(c.op.c_str()), nullptr) << "case " << c.name << " names unknown op " << c.op;
  }
  for (const OpInfo& op : kOps) EXPECT_TRUE(covered.count(op.name)) << "op '" << op.name << "' has no parity case";
}

TEST_P(BackendOps, CpuReference) {
  const OpCase& c = GetParam();
  CaseRun one = run_case(c, Device::cpu(), 1), two = run_case(c, Device::cpu(), 2);
  const OpInfo* info = find_op(c.op.c_str());
  ASSERT_NE(info, nullptr);
  if (info->differentiable) {
    EXPECT_GT(one.values.size(), 1u) << "a differentiable op produced no gradients";
  }
  for (size_t i = 0; i < one.values.size(); ++i) {
    ASSERT_TRUE(one.values[i].defined()) << one.names[i] << " undefined";
    EXPECT_TRUE(finite(one.values[i])) << one.names[i] << " not finite";
    EXPECT_TRUE(bit_equal(one.values[i], two.values[i])) << one.names[i] << ": 1 vs 2 threads differ";
  }
}

TEST_P(BackendOps, CudaMatchesCpu) {
  CQ_REQUIRE_CUDA_COUNTED();
  const OpCase& c = GetParam();
  CaseRun ref = run_case(c, Device::cpu(), 1), gpu = run_case(c, Device::cuda(0), 1);
  ASSERT_EQ(ref.values.size(), gpu.values.size());
  for (size_t i = 0; i < ref.values.size(); ++i) {
    ASSERT_TRUE(gpu.values[i].defined()) << gpu.names[i] << " undefined on CUDA";
    EXPECT_EQ(gpu.values[i].dtype(), ref.values[i].dtype()) << ref.names[i];
    EXPECT_TRUE(close(gpu.values[i], ref.values[i], c.tol)) << c.name << ": " << ref.names[i];
  }
  CaseRun again = run_case(c, Device::cuda(0), 1);
  for (size_t i = 0; i < gpu.values.size(); ++i)
    EXPECT_TRUE(bit_equal(gpu.values[i], again.values[i])) << c.name << ": " << gpu.names[i]
                                                          << " differs between two GPU runs";
}

INSTANTIATE_TEST_SUITE_P(BackendOps, BackendOps, ::testing::ValuesIn(cq::testing::all_op_cases()), case_name);

// ---- models ----

namespace {

// Deterministic non-trivial weights for any module: parameters N(0, 0.05^2) (1-D "weight"s, the norm scales, around
// 1), buffers left as constructed. The same seed gives the same model on every device.
void randomise(nn::Module& m, Context& host) {
  std::map<std::string, Tensor> sd;
  for (const auto& kv : m.named_parameters()) {
    Tensor r = host.randn(kv.second.shape()) * 0.05;
    const bool scale = kv.second.dim() == 1 && kv.first.size() >= 6 && kv.first.rfind("weight") == kv.first.size() - 6;
    sd[kv.first] = scale ? r + 1.0 : r;
  }
  for (const auto& kv : m.named_buffers()) sd[kv.first] = kv.second;
  m.load_state_dict(sd, true);
}

struct ModelRun {
  std::vector<std::pair<std::string, Tensor>> values;  // output then parameter gradients, on the CPU
};

template <class MakeFn, class ForwardFn>
ModelRun run_model(Device dev, MakeFn make, ForwardFn forward, const Shape& x_shape) {
  Context host = cq::testing::make_ctx(2, 99);
  auto model = make(host);
  randomise(*model, host);
  model->to(dev);
  model->train();
  Tensor x = host.randn(x_shape).to(dev);
  Tensor y = forward(*model, x);
  Tensor g = host.randn(y.shape()).to(dev);
  nn::NamedTensors params = model->named_parameters();
  std::vector<Tensor> ps;
  for (const auto& kv : params) ps.push_back(kv.second);
  std::vector<Tensor> grads = cq::grad(y, ps, g);
  ModelRun r;
  r.values.push_back({"output", y.to(Device::cpu())});
  for (size_t i = 0; i < grads.size(); ++i)
    if (grads[i].defined()) r.values.push_back({"grad " + params[i].first, grads[i].to(Device::cpu())});
  return r;
}

auto make_unet = [](Context& c) { return models::unet_efficientnet_b2(c, 3); };
auto unet_forward = [](models::UnetEfficientNetB2& m, const Tensor& x) { return m.forward(x); };

models::SwinV2Config small_swin() {
  models::SwinV2Config c;
  c.name = "parity";
  c.naming = models::SwinV2Naming::torchvision;
  c.embed_dim = 32;
  c.depths = {2, 2, 2, 2};
  c.num_heads = {1, 2, 4, 8};
  c.window_size = 8;
  c.num_classes = 10;
  c.img_size = 256;  // 256: every stage's map is a multiple of the window (no zero-padded tokens)
  return c;
}
auto make_swin = [](Context& c) { return models::swinv2(c, small_swin()); };
auto swin_forward = [](models::SwinV2& m, const Tensor& x) { return m.forward(x, true, false).logits; };

void compare_models(const ModelRun& cpu, const ModelRun& gpu, double tol) {
  ASSERT_EQ(cpu.values.size(), gpu.values.size());
  for (size_t i = 0; i < cpu.values.size(); ++i)
    EXPECT_TRUE(close(gpu.values[i].second, cpu.values[i].second, tol)) << cpu.values[i].first;
}

}  // namespace

TEST(BackendModelsCpu, UnetAndSwinReferencesAreFinite) {
  for (const auto& kv : run_model(Device::cpu(), make_unet, unet_forward, {2, 3, 64, 64}).values)
    EXPECT_TRUE(finite(kv.second)) << "unet " << kv.first;
  for (const auto& kv : run_model(Device::cpu(), make_swin, swin_forward, {1, 3, 256, 256}).values)
    EXPECT_TRUE(finite(kv.second)) << "swin " << kv.first;
}

// Tolerances: relative to the largest reference magnitude; deep nets compound float rounding of different
// summation orders (cuDNN vs im2col GEMM), so 1e-3 of scale for the gradients of 100+ layers.
TEST(BackendModelsCuda, UnetTrainStepMatchesCpu) {
  CQ_REQUIRE_CUDA_COUNTED();
  compare_models(run_model(Device::cpu(), make_unet, unet_forward, {2, 3, 64, 64}),
                 run_model(Device::cuda(0), make_unet, unet_forward, {2, 3, 64, 64}), 1e-3);
}

TEST(BackendModelsCuda, SwinForwardBackwardMatchesCpu) {
  CQ_REQUIRE_CUDA_COUNTED();
  compare_models(run_model(Device::cpu(), make_swin, swin_forward, {1, 3, 256, 256}),
                 run_model(Device::cuda(0), make_swin, swin_forward, {1, 3, 256, 256}), 1e-3);
}
