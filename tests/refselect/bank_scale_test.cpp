// A reference bank of 10^6 entries: written, read back and queried within a stated memory bound. The names live in
// the safetensors header, whose 100 MiB limit bounds a bank at about 4 million entries of 20-character names; a
// bank past it is a clear error, never an out-of-memory kill.
#include <gtest/gtest.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <string>

#include "nn/json.h"
#include "nn/safetensors.h"
#include "refselect/bank.h"
#include "tensor/context.h"
#include "tests/support/test_util.h"

using namespace cq;
using cq::testing::contains;

namespace {
int64_t vm_hwm_kib() {
  std::ifstream f("/proc/self/status");
  std::string line;
  while (std::getline(f, line))
    if (line.rfind("VmHWM:", 0) == 0) return std::atoll(line.c_str() + 6);
  return 0;
}
}  // namespace

TEST(BankScale, MillionEntries) {
  constexpr int64_t kN = 1000000, kD = 8;
  const std::string path = cq::testing::temp_path("million.refbank");
  {
    // Written straight as a bank file (building 10^6 BankItems first would only measure the test's own vectors).
    Context ctx(ContextOptions{1, 0});
    Tensor e = ctx.empty({kN, kD}, DType::f32), c = ctx.zeros({kD}), s = ctx.zeros({kN, 32}, DType::u8);
    float* ep = e.data<float>();
    for (int64_t i = 0; i < kN; ++i) {  // rows L2-normalised, as a bank stores them
      double ss = 0;
      for (int64_t k = 0; k < kD; ++k) {
        ep[i * kD + k] = float((i * 7 + k * 13) % 101) - 50.0f + (k == 0 ? 0.5f : 0);
        ss += double(ep[i * kD + k]) * ep[i * kD + k];
      }
      for (int64_t k = 0; k < kD; ++k) ep[i * kD + k] = float(ep[i * kD + k] / std::sqrt(ss));
    }
    std::string names = "[";
    char buf[32];
    for (int64_t i = 0; i < kN; ++i) {
      std::snprintf(buf, sizeof buf, "%s\"ref_%07lld.png\"", i ? "," : "", (long long)i);
      names += buf;
    }
    names += "]";
    save_safetensors(path, {{"embeddings", e}, {"center", c}, {"sha256", s}},
                     {{"format", "cqseg-refbank"}, {"version", "2"}, {"embedder", "test"}, {"input_h", "32"},
                      {"input_w", "32"}, {"names", names}});
  }
  const int64_t hwm0 = vm_hwm_kib();
  const auto t0 = std::chrono::steady_clock::now();
  dcin::RefBank b = dcin::RefBank::load(path);
  ASSERT_EQ(b.size(), kN);
  std::vector<float> q(kD, 1.0f);
  const auto m = b.query("test", q.data(), kD, 5);
  ASSERT_EQ(m.size(), 5u);
  const int64_t grown = vm_hwm_kib() - hwm0;
  std::printf("[ scale    ] bank of %lld entries: load+query %.2f s, peak +%.1f MiB\n", (long long)kN,
              std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(), grown / 1024.0);
  int64_t bound_kib = 1024 * 1024;  // the stated bound: < 1 KiB per entry while loading
#if defined(__SANITIZE_ADDRESS__)
  bound_kib += 300 * 1024;  // quarantine and redzones
#endif
  EXPECT_LT(grown, bound_kib) << "KiB";
  std::remove(path.c_str());
}
