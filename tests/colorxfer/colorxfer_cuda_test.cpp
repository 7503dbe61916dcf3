// GPU colour transfer against the CPU passes and the fixture (SKIPPED without a CUDA device).
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>

#include "colorxfer/colorxfer.h"
#include "nn/safetensors.h"
#include "tensor/cuda_backend.h"
#include "tests/support/shared.h"
#include "tests/support/test_util.h"

using namespace cq;
using namespace cq::dcin;

TEST(ColorXferCuda, MatchesCpuAndFixture) {
  if (!cuda::available()) GTEST_SKIP() << "no CUDA device";
  CQ_REQUIRE_SHARED("fixtures/colorxfer.safetensors");
  Context ctx = cq::testing::make_ctx(2);
  auto f = SafetensorsFile::open(cq::testing::shared_dir() + "/fixtures/colorxfer.safetensors");
  const Device gpu = Device::cuda(0);
  for (ColorSpace cs : {ColorSpace::LabReinhard, ColorSpace::LabCv}) {
    for (int thr : {-1, 10}) {
      TransferOptions o{cs, thr};
      Tensor ref = f.load(ctx, "img/DRIVE_01");
      ColorStats rc = color_stats(ref, o), rg = color_stats(ref.to(gpu), o);
      for (int c = 0; c < 3; ++c) {
        EXPECT_NEAR(rc.mean[c], rg.mean[c], 1e-7);
        EXPECT_NEAR(rc.std[c], rg.std[c], 1e-7);
      }
      for (const char* n : {"DRIVE_01", "CHASEDB1_01L", "DRIVE-LQ_05"}) {
        Tensor img = f.load(ctx, std::string("img/") + n);
        Tensor gout = color_transfer(img.to(gpu), rg, n);
        EXPECT_TRUE(gout.device().is_cuda());
        auto a = color_transfer(img, rc, n).to_vector<uint8_t>(), b = gout.to(Device::cpu()).to_vector<uint8_t>();
        int mx = 0;
        int64_t diff = 0;
        for (size_t i = 0; i < a.size(); ++i) {
          int e = std::abs(int(a[i]) - int(b[i]));
          mx = std::max(mx, e);
          diff += e != 0;
        }
        std::printf("cuda %s thr %d %-14s u8 vs cpu: max %d, %lld differ\n", color_space_name(cs), thr, n, mx,
                    (long long)diff);
        // Device libm (log10f, exp2f, cbrtf, powf) differs from glibc by ulps: a rounding may flip by one level.
        EXPECT_LE(mx, cs == ColorSpace::LabCv ? 2 : 1);
        EXPECT_LE(diff, static_cast<int64_t>(a.size() / 200));
        if (cs == ColorSpace::LabReinhard) {
          auto fg = color_transfer_reinhard_f32(img.to(gpu), rg, n).to(Device::cpu()).to_vector<float>();
          auto want = f.load(ctx, std::string(thr < 0 ? "lab_rh/" : "lab_rh_masked/") + n).to_vector<float>();
          double e = 0;
          for (size_t i = 0; i < fg.size(); ++i) e = std::max(e, std::fabs(double(fg[i]) - want[i]));
          std::printf("cuda lab-reinhard thr %d %-14s float vs fixture max abs %.3g\n", thr, n, e);
          EXPECT_LE(e, 1e-5);
        }
      }
    }
  }
}
