// Resource limits of the safetensors reader: a header asking for 100 GB (in a file of a few bytes, or in a sparse
// file that really is 100 GB long) is handled without allocating it: a clear error for the short file, and a mapped
// (not read) tensor for the sparse one. Disk full while writing: a clear error and no file under the final name.
#include <gtest/gtest.h>
#include <sys/mount.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "nn/safetensors.h"
#include "tests/support/test_util.h"

using namespace cq;
using cq::testing::contains;
using cq::testing::error_of;

namespace {
std::vector<uint8_t> st_file(const std::string& header, size_t body) {
  std::vector<uint8_t> b(8 + header.size() + body, 0);
  const uint64_t n = header.size();
  std::memcpy(b.data(), &n, 8);
  std::memcpy(b.data() + 8, header.data(), header.size());
  return b;
}
int64_t vm_hwm_kib() {
  std::ifstream f("/proc/self/status");
  std::string line;
  while (std::getline(f, line))
    if (line.rfind("VmHWM:", 0) == 0) return std::atoll(line.c_str() + 6);
  return 0;
}
const char* kHuge = R"({"big":{"dtype":"F32","shape":[25000000000],"data_offsets":[0,100000000000]}})";
}  // namespace

TEST(SafetensorsLimits, HundredGigabyteHeaderInASmallFile) {
  const std::vector<uint8_t> b = st_file(kHuge, 64);
  const std::string msg = error_of([&] { SafetensorsFile::from_buffer(b.data(), b.size(), "huge.safetensors"); });
  EXPECT_TRUE(contains(msg, "huge.safetensors")) << msg;
  EXPECT_TRUE(contains(msg, "100000000000")) << msg;
  EXPECT_TRUE(contains(msg, "truncated")) << msg;
  // A header length field of 2^60: refused before reading it.
  std::vector<uint8_t> h = st_file("{}", 0);
  const uint64_t big = uint64_t(1) << 60;
  std::memcpy(h.data(), &big, 8);
  EXPECT_TRUE(contains(error_of([&] { SafetensorsFile::from_buffer(h.data(), h.size(), "x"); }), "100 MiB limit"));
}

// A sparse 100 GB file: opening maps it without reading; nothing near 100 GB becomes resident.
TEST(SafetensorsLimits, HundredGigabyteSparseFileIsMappedNotRead) {
  const std::string p = cq::testing::temp_path("sparse100g.safetensors");
  const std::vector<uint8_t> head = st_file(kHuge, 0);
  {
    std::FILE* f = std::fopen(p.c_str(), "wb");
    ASSERT_NE(f, nullptr);
    std::fwrite(head.data(), 1, head.size(), f);
    std::fclose(f);
  }
  std::error_code ec;
  std::filesystem::resize_file(p, head.size() + 100000000000ull, ec);
  if (ec) GTEST_SKIP() << "cannot make a sparse 100 GB file here: " << ec.message();
  const int64_t hwm0 = vm_hwm_kib();
  {
    SafetensorsFile f = SafetensorsFile::open(p);
    ASSERT_EQ(f.entries().size(), 1u);
    EXPECT_EQ(f.entry("big").nbytes, 100000000000ull);
  }
  EXPECT_LT(vm_hwm_kib() - hwm0, 64 * 1024);
  std::remove(p.c_str());
}

// Disk full: a 1 MiB tmpfs (needs root and mount rights; skipped otherwise) and /dev/full.
TEST(SafetensorsLimits, DiskFullLeavesNoFileUnderTheFinalName) {
  Context ctx;
  const Tensor big = ctx.zeros({1 << 19});  // 2 MiB of f32
  // /dev/full as the temp file is not possible (the name is path + ".tmp"), so a full file system is mounted.
  const std::string dir = cq::testing::temp_path("full_fs");
  std::filesystem::create_directories(dir);
  if (::mount("tmpfs", dir.c_str(), "tmpfs", 0, "size=1m") != 0)
    GTEST_SKIP() << "cannot mount a 1 MiB tmpfs (" << std::strerror(errno) << "); run as root to test disk full";
  const std::string path = dir + "/w.safetensors";
  const std::string msg = error_of([&] { save_safetensors(path, {{"w", big}}); });
  EXPECT_TRUE(contains(msg, "disk full")) << msg;
  EXPECT_FALSE(std::filesystem::exists(path));
  EXPECT_FALSE(std::filesystem::exists(path + ".tmp"));
  // A small file still fits afterwards (the failed write freed its space).
  save_safetensors(path, {{"w", ctx.zeros({4})}});
  EXPECT_TRUE(std::filesystem::exists(path));
  ::umount(dir.c_str());
}
