// CI short mode of the benchmarks (issue #6): `cqseg bench --quick --reps 1 --no-peer` runs every end-to-end item
// and writes bench.json / bench.md, and cq_bench runs the first registered case of every microbenchmark family with
// a tiny minimum time. No assertion on speed (speed is measured by the benchmarks, never asserted). Skips when the
// binaries are not built (cq_bench needs Google Benchmark).
#include <gtest/gtest.h>
#include <unistd.h>

#include <array>
#include <cstdio>
#include <set>
#include <string>

#include "nn/json.h"
#include "pipeline/run_files.h"
#include "tests/data/data_test_util.h"
#include "tests/support/cli.h"
#include "tests/support/test_util.h"

using cq::testing::contains;

namespace {

std::string cq_bench_path() {
  const std::string p = cq::testing::cqseg_path();
  return p.substr(0, p.find_last_of('/')) + "/cq_bench";
}

// stdout (and stderr) of a shell command, with its exit code.
cq::testing::CliRun shell(const std::string& cmd) {
  cq::testing::CliRun r;
  std::FILE* p = ::popen((cmd + " 2>&1").c_str(), "r");
  if (!p) return r;
  std::array<char, 4096> buf;
  size_t k;
  while ((k = std::fread(buf.data(), 1, buf.size(), p)) > 0) r.out.append(buf.data(), k);
  const int st = ::pclose(p);
  r.code = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
  return r;
}

}  // namespace

TEST(BenchCli, QuickRunWritesJsonAndMarkdown) {
  CQ_REQUIRE_CQSEG();
  cq::testing::TempDir t;
  const std::string out = t / "bench";
  const auto r = cq::testing::run_cqseg("bench --quick --reps 1 --no-peer --threads 2 --out '" + out + "'");
  ASSERT_EQ(r.code, 0) << r.out;
  std::printf("%s", r.out.c_str());
  EXPECT_TRUE(contains(r.out, "| item | cqseg median ms | peer median ms | ratio | cqseg peak RSS MiB |"));
  const cq::json::Value v = cq::json::parse(cq::pipeline::read_text(out + "/bench.json"));
  ASSERT_TRUE(v.find("items") && v.find("items")->is_array());
  std::set<std::string> seen;
  for (const auto& it : v.find("items")->as_array()) {
    const std::string name = it.find("item")->as_string();
    seen.insert(name);
    const cq::json::Value* ours = it.find("cqseg");
    ASSERT_TRUE(ours && ours->find("median_ms") && ours->find("median_ms")->is_number()) << name;
    EXPECT_GT(ours->find("median_ms")->as_number(), 0) << name;
    EXPECT_GT(ours->find("peak_rss_mib")->as_number(), 0) << name;
    EXPECT_TRUE(it.find("ratio")->is_null()) << name << ": no peer was asked for";
  }
  EXPECT_EQ(seen, (std::set<std::string>{"unet_train_base", "unet_train_cqg", "unet_eval", "swin_embed",
                                         "dcin_full"}));
  const std::string md = cq::pipeline::read_text(out + "/bench.md");
  EXPECT_TRUE(contains(md, "| unet_train_cqg |")) << md;
  EXPECT_TRUE(contains(md, "not requested (--no-peer)")) << md;
}

TEST(BenchCli, UsageErrors) {
  CQ_REQUIRE_CQSEG();
  auto r = cq::testing::run_cqseg("bench --items unet_eval,nope --no-peer");
  EXPECT_EQ(r.code, 2) << r.out;
  EXPECT_TRUE(contains(r.out, "unknown item 'nope'")) << r.out;
  r = cq::testing::run_cqseg("bench --peer-layout nwhc");
  EXPECT_EQ(r.code, 2) << r.out;
  r = cq::testing::run_cqseg("bench --reps 0");
  EXPECT_EQ(r.code, 2) << r.out;
  r = cq::testing::run_cqseg("bench --help");
  EXPECT_EQ(r.code, 0);
  EXPECT_TRUE(contains(r.out, "unet_train_cqg")) << r.out;
}

TEST(BenchCli, MicrobenchmarksShortMode) {
  const std::string bin = cq_bench_path();
  if (::access(bin.c_str(), X_OK) != 0) GTEST_SKIP() << "no cq_bench at " << bin << " (needs Google Benchmark)";
  const auto list = shell("'" + bin + "' --benchmark_list_tests");
  ASSERT_EQ(list.code, 0) << list.out;
  // The first registered case of every family (the name up to the first '/'): new families are covered unasked.
  std::set<std::string> families;
  std::string filter;
  size_t pos = 0;
  while (pos < list.out.size()) {
    const size_t nl = list.out.find('\n', pos);
    const std::string name = list.out.substr(pos, nl == std::string::npos ? std::string::npos : nl - pos);
    pos = nl == std::string::npos ? list.out.size() : nl + 1;
    if (name.rfind("BM_", 0) != 0) continue;
    const std::string fam = name.substr(0, name.find('/'));
    if (!families.insert(fam).second) continue;
    filter += (filter.empty() ? "" : "|") + name;
  }
  for (const char* f : {"BM_Sgemm", "BM_Conv3x3_64x256", "BM_Conv1x1", "BM_BatchNormAct", "BM_DcLoss",
                        "BM_AdamUnet", "BM_ColorTransfer", "BM_Hist8x8x8", "BM_Gris"})
    EXPECT_TRUE(families.count(f)) << f << " missing from cq_bench";
  const auto r = shell("OMP_WAIT_POLICY=PASSIVE CQ_BENCH_THREADS=2 '" + bin + "' --benchmark_min_time=0.001 "
                       "--benchmark_filter='^(" + filter + ")$'");
  ASSERT_EQ(r.code, 0) << r.out;
  std::printf("%s", r.out.c_str());
  for (const auto& f : families) EXPECT_TRUE(contains(r.out, f + "/") || contains(r.out, f + " ")) << f;
}
