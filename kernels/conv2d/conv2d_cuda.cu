// CUDA conv2d through cuDNN (legacy convolution API, cuDNN 9), NCHW / OIHW, f32 and f64.
//   forward  y = conv(x, w) (+ bias via cudnnAddTensor)
//   backward gx = BackwardData(w, g), gw = BackwardFilter(x, g), gb = sum_to(g, [1, C_out, 1, 1])
// cuDNN pads symmetrically only, so asymmetric padding (TF "same": (0,1,0,1)) runs on an explicitly zero-padded copy
// of x with cuDNN padding 0, and grad_x is cropped back out of the padded gradient.
// Layout: NCHW is kept. Every engine tensor is NCHW; NHWC would need a transpose before and after each convolution
// (two extra passes over every activation), and cuDNN's NHWC advantage is for tensor-core math on half/bf16 data,
// which f32 tensors do not have. Depthwise convolutions (groups == C) go through the same grouped descriptor.
// Determinism (Runtime compute().deterministic, the default): only deterministic algorithms are tried (cuDNN
// documents BWD_DATA_ALGO_0 and BWD_FILTER_ALGO_0/3 as non-deterministic; every forward algorithm is deterministic).
// --fast-nondeterministic: cuDNN's heuristic ranking (cudnnGet*Algorithm_v7), first one that runs.
// Precision: fp32 runs in CUDNN_FMA_MATH (no TF32), so the GPU matches the CPU reference to float rounding; tf32
// allows tensor-core math (CUDNN_TENSOR_OP_MATH). The handle and workspace are the Runtime's cached ones.
#include <cudnn.h>

#include <climits>
#include <vector>

#include "kernels/conv2d/conv2d.h"
#include "kernels/conv2d/conv2d_math.h"
#include "tensor/backend.h"
#include "tensor/cuda_check.h"
#include "tensor/cuda_resources.h"
#include "tensor/sum_to.h"

namespace cq::kernels {
namespace {

void cudnn_check(cudnnStatus_t s, const char* what) {
  if (s != CUDNN_STATUS_SUCCESS) fail("conv2d: cuDNN error ", cudnnGetErrorString(s), " in ", what);
}
#define CQ_CUDNN(expr) cudnn_check((expr), #expr)

int to_int(int64_t v) {
  CQ_CHECK(v >= 0 && v <= INT_MAX, "conv2d: size ", v, " exceeds cuDNN's 32-bit descriptor limit");
  return static_cast<int>(v);
}

cudnnDataType_t cudnn_type(DType dt) { return dt == DType::f64 ? CUDNN_DATA_DOUBLE : CUDNN_DATA_FLOAT; }

class TensorDesc {
 public:
  TensorDesc(DType dt, int64_t n, int64_t c, int64_t h, int64_t w) {
    CQ_CUDNN(cudnnCreateTensorDescriptor(&d_));
    CQ_CUDNN(cudnnSetTensor4dDescriptor(d_, CUDNN_TENSOR_NCHW, cudnn_type(dt), to_int(n), to_int(c), to_int(h),
                                        to_int(w)));
  }
  ~TensorDesc() { cudnnDestroyTensorDescriptor(d_); }
  TensorDesc(const TensorDesc&) = delete;
  TensorDesc& operator=(const TensorDesc&) = delete;
  operator cudnnTensorDescriptor_t() const { return d_; }

 private:
  cudnnTensorDescriptor_t d_ = nullptr;
};

class FilterDesc {
 public:
  FilterDesc(DType dt, const Shape& w) {
    CQ_CUDNN(cudnnCreateFilterDescriptor(&d_));
    CQ_CUDNN(cudnnSetFilter4dDescriptor(d_, cudnn_type(dt), CUDNN_TENSOR_NCHW, to_int(w[0]), to_int(w[1]),
                                        to_int(w[2]), to_int(w[3])));
  }
  ~FilterDesc() { cudnnDestroyFilterDescriptor(d_); }
  FilterDesc(const FilterDesc&) = delete;
  FilterDesc& operator=(const FilterDesc&) = delete;
  operator cudnnFilterDescriptor_t() const { return d_; }

 private:
  cudnnFilterDescriptor_t d_ = nullptr;
};

class ConvDesc {
 public:
  ConvDesc(DType dt, int64_t pad_h, int64_t pad_w, const Conv2dParams& p, bool tf32) {
    CQ_CUDNN(cudnnCreateConvolutionDescriptor(&d_));
    CQ_CUDNN(cudnnSetConvolution2dDescriptor(d_, to_int(pad_h), to_int(pad_w), to_int(p.stride_h), to_int(p.stride_w),
                                             1, 1, CUDNN_CROSS_CORRELATION, cudnn_type(dt)));
    CQ_CUDNN(cudnnSetConvolutionGroupCount(d_, to_int(p.groups)));
    CQ_CUDNN(cudnnSetConvolutionMathType(d_, tf32 && dt == DType::f32 ? CUDNN_TENSOR_OP_MATH : CUDNN_FMA_MATH));
  }
  ~ConvDesc() { cudnnDestroyConvolutionDescriptor(d_); }
  ConvDesc(const ConvDesc&) = delete;
  ConvDesc& operator=(const ConvDesc&) = delete;
  operator cudnnConvolutionDescriptor_t() const { return d_; }

 private:
  cudnnConvolutionDescriptor_t d_ = nullptr;
};

// Scaling factors: cuDNN reads them as double for double data and as float otherwise.
struct Scalars {
  float f1 = 1.f, f0 = 0.f;
  double d1 = 1.0, d0 = 0.0;
  bool dbl;
  explicit Scalars(DType dt) : dbl(dt == DType::f64) {}
  const void* one() const { return dbl ? static_cast<const void*>(&d1) : static_cast<const void*>(&f1); }
  const void* zero() const { return dbl ? static_cast<const void*>(&d0) : static_cast<const void*>(&f0); }
};

// The geometry cuDNN sees: the input as given with symmetric padding, or an explicitly padded input with padding 0.
struct PadPlan {
  bool explicit_pad;
  int64_t Hp, Wp;          // the input extent cuDNN sees
  int64_t cudnn_ph, cudnn_pw;
};

PadPlan plan(const Shape& x, const Conv2dParams& p) {
  PadPlan pl;
  pl.explicit_pad = p.pad_t != p.pad_b || p.pad_l != p.pad_r;
  pl.Hp = pl.explicit_pad ? x[2] + p.pad_t + p.pad_b : x[2];
  pl.Wp = pl.explicit_pad ? x[3] + p.pad_l + p.pad_r : x[3];
  pl.cudnn_ph = pl.explicit_pad ? 0 : p.pad_t;
  pl.cudnn_pw = pl.explicit_pad ? 0 : p.pad_l;
  return pl;
}

Tensor padded_input(const Tensor& x, const Conv2dParams& p, const PadPlan& pl) {
  if (!pl.explicit_pad) return x;
  Tensor xp = x.new_zeros({x.shape()[0], x.shape()[1], pl.Hp, pl.Wp});
  xp.slice(2, p.pad_t, p.pad_t + x.shape()[2]).slice(3, p.pad_l, p.pad_l + x.shape()[3]).copy_(x);
  return xp;
}

// What one call needs from the runtime: the device's cuDNN handle and workspace, and the compute options.
struct Env {
  cuda::DeviceResources& res;
  cudnnHandle_t h;
  bool tf32;
  bool deterministic;
  explicit Env(const Tensor& t)
      : res(cuda::resources_for(t)),
        h(res.cudnn()),
        tf32(t.runtime().compute().precision == Precision::tf32),
        deterministic(t.runtime().compute().deterministic) {}
};

// Workspace above this is not worth it for an algorithm choice (the fallback algorithms need little or none).
constexpr size_t kMaxWorkspace = size_t(1) << 30;

// The candidate algorithms: the fixed deterministic list, or cuDNN's heuristic ranking (then the fixed list).
template <class Algo, class Perf, class HeurFn>
std::vector<Algo> candidates(const Env& env, std::vector<Algo> fixed, HeurFn heuristic) {
  if (env.deterministic) return fixed;
  Perf perf[16];
  int got = 0;
  std::vector<Algo> out;
  if (heuristic(perf, 16, &got) == CUDNN_STATUS_SUCCESS)
    for (int i = 0; i < got; ++i)
      if (perf[i].status == CUDNN_STATUS_SUCCESS) out.push_back(perf[i].algo);
  out.insert(out.end(), fixed.begin(), fixed.end());
  return out;
}

// Runs the first algorithm of `algos` that cuDNN accepts for this geometry; errors list the last refusal.
template <class Algo, class SizeFn, class RunFn>
void run_first_supported(const char* what, Env& env, const std::vector<Algo>& algos, SizeFn size_of, RunFn run) {
  cudnnStatus_t last = CUDNN_STATUS_NOT_SUPPORTED;
  for (Algo a : algos) {
    size_t bytes = 0;
    last = size_of(a, &bytes);
    if (last != CUDNN_STATUS_SUCCESS) continue;
    if (bytes > kMaxWorkspace) {
      last = CUDNN_STATUS_NOT_SUPPORTED;
      continue;
    }
    last = run(a, env.res.workspace(bytes), bytes);
    if (last == CUDNN_STATUS_SUCCESS) return;
    if (last != CUDNN_STATUS_NOT_SUPPORTED) break;
  }
  cudnn_check(last, what);
}

}  // namespace

void conv2d_forward_cuda(const Tensor& out, const Tensor& x, const Tensor& w, const Tensor& bias,
                         const Conv2dParams& p) {
  if (out.numel() == 0) return;
  Env env(x);
  cudnnHandle_t h = env.h;
  DType dt = x.dtype();
  PadPlan pl = plan(x.shape(), p);
  Tensor xin = padded_input(x, p, pl);
  const Shape& os = out.shape();
  TensorDesc xd(dt, x.shape()[0], x.shape()[1], pl.Hp, pl.Wp), yd(dt, os[0], os[1], os[2], os[3]);
  FilterDesc wd(dt, w.shape());
  ConvDesc cd(dt, pl.cudnn_ph, pl.cudnn_pw, p, env.tf32);
  int on, oc, oh, ow;
  CQ_CUDNN(cudnnGetConvolution2dForwardOutputDim(cd, xd, wd, &on, &oc, &oh, &ow));
  CQ_CHECK(on == os[0] && oc == os[1] && oh == os[2] && ow == os[3], "conv2d: cuDNN output [", on, ",", oc, ",", oh,
           ",", ow, "] differs from ", out.describe());
  Scalars s(dt);
  auto algos = candidates<cudnnConvolutionFwdAlgo_t, cudnnConvolutionFwdAlgoPerf_t>(
      env,
      {CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_PRECOMP_GEMM, CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_GEMM,
       CUDNN_CONVOLUTION_FWD_ALGO_GEMM},
      [&](cudnnConvolutionFwdAlgoPerf_t* perf, int n, int* got) {
        return cudnnGetConvolutionForwardAlgorithm_v7(h, xd, wd, cd, yd, n, got, perf);
      });
  run_first_supported<cudnnConvolutionFwdAlgo_t>(
      "cudnnConvolutionForward", env, algos,
      [&](cudnnConvolutionFwdAlgo_t a, size_t* bytes) {
        return cudnnGetConvolutionForwardWorkspaceSize(h, xd, wd, cd, yd, a, bytes);
      },
      [&](cudnnConvolutionFwdAlgo_t a, void* ws, size_t bytes) {
        return cudnnConvolutionForward(h, s.one(), xd, xin.data_ptr(), wd, w.data_ptr(), cd, a, ws, bytes,
                                       s.zero(), yd, out.data_ptr());
      });
  if (bias.defined()) {
    TensorDesc bd(dt, 1, os[1], 1, 1);
    CQ_CUDNN(cudnnAddTensor(h, s.one(), bd, bias.data_ptr(), s.one(), yd, out.data_ptr()));
  }
}

void conv2d_backward_cuda(const Tensor& g, const Tensor& x, const Tensor& w, const Shape& x_shape,
                          const Shape& w_shape, const Conv2dParams& p, const Tensor& gx, const Tensor& gw,
                          const Tensor& gb) {
  CQ_CUDA_CHECK(cudaSetDevice(g.device().index));
  DType dt = g.dtype();
  const Shape& gs = g.shape();
  if (gb.defined()) Tensor(gb).copy_(sum_to(g, {1, gs[1], 1, 1}).reshape({gs[1]}));
  if (!gx.defined() && !gw.defined()) return;
  if (g.numel() == 0) {
    if (gx.defined()) Tensor(gx).zero_();
    if (gw.defined()) Tensor(gw).zero_();
    return;
  }
  PadPlan pl = plan(x_shape, p);
  Env env(g);
  cudnnHandle_t h = env.h;
  TensorDesc xd(dt, x_shape[0], x_shape[1], pl.Hp, pl.Wp), gd(dt, gs[0], gs[1], gs[2], gs[3]);
  FilterDesc wd(dt, w_shape);
  ConvDesc cd(dt, pl.cudnn_ph, pl.cudnn_pw, p, env.tf32);
  Scalars s(dt);
  if (gx.defined()) {
    Tensor gxp = pl.explicit_pad ? g.new_empty({x_shape[0], x_shape[1], pl.Hp, pl.Wp}) : gx;
    auto algos = candidates<cudnnConvolutionBwdDataAlgo_t, cudnnConvolutionBwdDataAlgoPerf_t>(
        env,
        {CUDNN_CONVOLUTION_BWD_DATA_ALGO_1, CUDNN_CONVOLUTION_BWD_DATA_ALGO_FFT_TILING,
         CUDNN_CONVOLUTION_BWD_DATA_ALGO_FFT},
        [&](cudnnConvolutionBwdDataAlgoPerf_t* perf, int n, int* got) {
          return cudnnGetConvolutionBackwardDataAlgorithm_v7(h, wd, gd, cd, xd, n, got, perf);
        });
    run_first_supported<cudnnConvolutionBwdDataAlgo_t>(
        "cudnnConvolutionBackwardData", env, algos,
        [&](cudnnConvolutionBwdDataAlgo_t a, size_t* bytes) {
          return cudnnGetConvolutionBackwardDataWorkspaceSize(h, wd, gd, cd, xd, a, bytes);
        },
        [&](cudnnConvolutionBwdDataAlgo_t a, void* ws, size_t bytes) {
          return cudnnConvolutionBackwardData(h, s.one(), wd, w.data_ptr(), gd, g.data_ptr(), cd, a, ws, bytes,
                                              s.zero(), xd, gxp.data_ptr());
        });
    if (pl.explicit_pad)
      Tensor(gx).copy_(gxp.slice(2, p.pad_t, p.pad_t + x_shape[2]).slice(3, p.pad_l, p.pad_l + x_shape[3]));
  }
  if (gw.defined()) {
    Tensor xin = padded_input(x, p, pl);
    auto algos = candidates<cudnnConvolutionBwdFilterAlgo_t, cudnnConvolutionBwdFilterAlgoPerf_t>(
        env,
        {CUDNN_CONVOLUTION_BWD_FILTER_ALGO_1, CUDNN_CONVOLUTION_BWD_FILTER_ALGO_FFT_TILING,
         CUDNN_CONVOLUTION_BWD_FILTER_ALGO_FFT},
        [&](cudnnConvolutionBwdFilterAlgoPerf_t* perf, int n, int* got) {
          return cudnnGetConvolutionBackwardFilterAlgorithm_v7(h, xd, gd, cd, wd, n, got, perf);
        });
    run_first_supported<cudnnConvolutionBwdFilterAlgo_t>(
        "cudnnConvolutionBackwardFilter", env, algos,
        [&](cudnnConvolutionBwdFilterAlgo_t a, size_t* bytes) {
          return cudnnGetConvolutionBackwardFilterWorkspaceSize(h, xd, gd, cd, wd, a, bytes);
        },
        [&](cudnnConvolutionBwdFilterAlgo_t a, void* ws, size_t bytes) {
          return cudnnConvolutionBackwardFilter(h, s.one(), xd, xin.data_ptr(), gd, g.data_ptr(), cd, a, ws, bytes,
                                                s.zero(), wd, gw.data_ptr());
        });
  }
}

}  // namespace cq::kernels
