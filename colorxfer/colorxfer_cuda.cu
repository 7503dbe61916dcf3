// CUDA passes of the colour transfer: the same per-pixel math as the CPU (colorxfer_math.h). Statistics come back to
// the host as per-row partial sums (reduced in a fixed tree order per row, then summed over rows in order on the
// host) or as integer histograms, so results are deterministic run to run.
#include <cstring>

#include "colorxfer/colorxfer_cuda.h"
#include "tensor/cuda_check.h"

namespace cq::dcin::cudaimpl {

namespace {
using namespace cxmath;

constexpr int kRowThreads = 256;

struct Pivot {
  float K[3];
};
struct CvTables {
  float lin[256];
  uint8_t lut[3 * 256];
};

__global__ void rh_row_sums_kernel(const uint8_t* img, int64_t W, int thr, Pivot pv, double* rows) {
  __shared__ double sh[7][kRowThreads];
  double s[7] = {0, 0, 0, 0, 0, 0, 0};
  const uint8_t* row = img + blockIdx.x * W * 3;
  for (int64_t w = threadIdx.x; w < W; w += kRowThreads) {
    const uint8_t* p = row + 3 * w;
    if (!in_mask(p, thr)) continue;
    float lab[3];
    rh_rgb_to_lab(p[0], p[1], p[2], lab);
    for (int c = 0; c < 3; ++c) {
      const double d = static_cast<double>(lab[c]) - pv.K[c];
      s[c] += d;
      s[3 + c] += d * d;
    }
    s[6] += 1;
  }
  for (int k = 0; k < 7; ++k) sh[k][threadIdx.x] = s[k];
  __syncthreads();
  for (int stride = kRowThreads / 2; stride > 0; stride >>= 1) {
    if (threadIdx.x < stride)
      for (int k = 0; k < 7; ++k) sh[k][threadIdx.x] += sh[k][threadIdx.x + stride];
    __syncthreads();
  }
  if (threadIdx.x < 7) rows[blockIdx.x * 7 + threadIdx.x] = sh[threadIdx.x][0];
}

__global__ void cv_lab8_kernel(const uint8_t* img, uint8_t* lab, int64_t n, CvTables tb) {
  for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < n; i += (int64_t)gridDim.x * blockDim.x) {
    const uint8_t* p = img + 3 * i;
    cv_linear_to_lab8(tb.lin[p[2]], tb.lin[p[1]], tb.lin[p[0]], lab + 3 * i);  // the RGB array read as BGR
  }
}

template <class OutT>
__global__ void rh_transfer_kernel(const uint8_t* img, OutT* out, int64_t n, Affine A, int thr) {
  for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < n; i += (int64_t)gridDim.x * blockDim.x) {
    const uint8_t* p = img + 3 * i;
    OutT* o = out + 3 * i;
    if (!in_mask(p, thr)) {
      for (int c = 0; c < 3; ++c) {
        if constexpr (sizeof(OutT) == 1)
          o[c] = p[c];
        else
          o[c] = static_cast<float>(p[c]) / 255.0f;
      }
      continue;
    }
    float rgb[3];
    rh_transfer_pixel(p, A, rgb);
    for (int c = 0; c < 3; ++c) {
      if constexpr (sizeof(OutT) == 1)
        o[c] = unit_to_u8(rgb[c]);
      else
        o[c] = rgb[c];
    }
  }
}

__global__ void cv_transfer_kernel(const uint8_t* img, uint8_t* out, int64_t n, CvTables tb, int thr) {
  for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < n; i += (int64_t)gridDim.x * blockDim.x) {
    const uint8_t* p = img + 3 * i;
    uint8_t* o = out + 3 * i;
    if (!in_mask(p, thr)) {
      o[0] = p[0], o[1] = p[1], o[2] = p[2];
      continue;
    }
    uint8_t lab[3], rgb[3];
    cv_linear_to_lab8(tb.lin[p[2]], tb.lin[p[1]], tb.lin[p[0]], lab);
    cv_lab8_to_rgb(tb.lut[lab[0]], tb.lut[256 + lab[1]], tb.lut[512 + lab[2]], rgb);
    o[0] = rgb[2], o[1] = rgb[1], o[2] = rgb[0];
  }
}

int grid_for(int64_t n) {
  const int64_t b = (n + cuda::kBlock - 1) / cuda::kBlock;
  return static_cast<int>(b < 4096 ? (b > 0 ? b : 1) : 4096);
}
}  // namespace

void rh_row_sums(const Tensor& image, int thr, const float K[3], double* rows_host) {
  const int64_t H = image.size(0), W = image.size(1);
  if (H == 0) return;
  Tensor rows = image.new_empty({H * 7}, DType::f64);
  Pivot pv{{K[0], K[1], K[2]}};
  rh_row_sums_kernel<<<static_cast<unsigned>(H), kRowThreads>>>(image.data<uint8_t>(), W, thr, pv,
                                                                 rows.data<double>());
  CQ_CUDA_LAUNCH_CHECK("color_stats(lab-reinhard)");
  Tensor h = rows.to(Device::cpu());
  std::memcpy(rows_host, h.data<double>(), sizeof(double) * H * 7);
}

void cv_lab8(const Tensor& image, const float* lin, uint8_t* lab_host) {
  const int64_t n = image.size(0) * image.size(1);
  if (n == 0) return;
  Tensor lab = image.new_empty(image.shape(), DType::u8);
  CvTables tb;
  std::memcpy(tb.lin, lin, sizeof(tb.lin));
  std::memset(tb.lut, 0, sizeof(tb.lut));
  cv_lab8_kernel<<<grid_for(n), cuda::kBlock>>>(image.data<uint8_t>(), lab.data<uint8_t>(), n, tb);
  CQ_CUDA_LAUNCH_CHECK("color_stats(lab-cv)");
  Tensor h = lab.to(Device::cpu());
  std::memcpy(lab_host, h.data<uint8_t>(), static_cast<size_t>(n) * 3);
}

void rh_transfer(const Tensor& image, const Tensor& out, const Affine& A, int thr) {
  const int64_t n = image.size(0) * image.size(1);
  if (n == 0) return;
  if (out.dtype() == DType::u8)
    rh_transfer_kernel<uint8_t><<<grid_for(n), cuda::kBlock>>>(image.data<uint8_t>(), out.data<uint8_t>(), n, A, thr);
  else
    rh_transfer_kernel<float><<<grid_for(n), cuda::kBlock>>>(image.data<uint8_t>(), out.data<float>(), n, A, thr);
  CQ_CUDA_LAUNCH_CHECK("color_transfer(lab-reinhard)");
}

void cv_transfer(const Tensor& image, const Tensor& out, const float* lin, const uint8_t* lut, int thr) {
  const int64_t n = image.size(0) * image.size(1);
  if (n == 0) return;
  CvTables tb;
  std::memcpy(tb.lin, lin, sizeof(tb.lin));
  std::memcpy(tb.lut, lut, sizeof(tb.lut));
  cv_transfer_kernel<<<grid_for(n), cuda::kBlock>>>(image.data<uint8_t>(), out.data<uint8_t>(), n, tb, thr);
  CQ_CUDA_LAUNCH_CHECK("color_transfer(lab-cv)");
}

}  // namespace cq::dcin::cudaimpl
