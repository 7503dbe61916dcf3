// --device / --precision / --fast-nondeterministic: parsing, the errors without a GPU, and the CLI plumbing. Runs
// on any machine; the "no device" cases skip where a GPU is present and vice versa.
#include <gtest/gtest.h>

#include "apps/cli_args.h"
#include "pipeline/train_config.h"
#include "tensor/context.h"
#include "tensor/cuda_backend.h"
#include "tests/support/cli.h"
#include "tests/support/test_util.h"

using namespace cq;
using cq::testing::error_of;

TEST(DeviceOptions, ParseDevice) {
  EXPECT_EQ(Device::parse("cpu"), Device::cpu());
  EXPECT_EQ(Device::parse("cuda"), Device::cuda(0));
  EXPECT_EQ(Device::parse("cuda:3"), Device::cuda(3));
  for (const char* bad : {"gpu", "cuda:", "cuda:-1", "cuda:x", "CUDA", "cuda:123456", ""})
    EXPECT_NE(error_of([&] { Device::parse(bad); }).find("device must be cpu, cuda or cuda:N"), std::string::npos)
        << bad;
}

TEST(DeviceOptions, ParsePrecisionAndBf16IsRefused) {
  EXPECT_EQ(parse_precision("fp32"), Precision::fp32);
  EXPECT_EQ(parse_precision("tf32"), Precision::tf32);
  EXPECT_NE(error_of([] { parse_precision("fp16"); }).find("fp32, tf32 or bf16"), std::string::npos);
  Runtime rt(1);
  ComputeOptions c;
  c.precision = Precision::bf16;
  EXPECT_NE(error_of([&] { rt.set_compute(c); }).find("bf16 is not implemented"), std::string::npos);
  c.precision = Precision::tf32;
  c.deterministic = false;
  rt.set_compute(c);
  EXPECT_EQ(rt.compute().precision, Precision::tf32);
  EXPECT_FALSE(rt.compute().deterministic);
}

TEST(DeviceOptions, CliChoice) {
  using apps::ParsedArgs;
  auto parse = [](std::map<std::string, std::string> o) {
    ParsedArgs a;
    a.opts = std::move(o);
    return apps::parse_device_choice(a);
  };
  apps::DeviceChoice d = parse({});
  EXPECT_TRUE(d.device.is_cpu());
  EXPECT_EQ(d.compute.precision, Precision::fp32);
  EXPECT_TRUE(d.compute.deterministic);
  d = parse({{"device", "cuda:1"}, {"precision", "tf32"}, {"fast-nondeterministic", "1"}});
  EXPECT_EQ(d.device, Device::cuda(1));
  EXPECT_EQ(d.compute.precision, Precision::tf32);
  EXPECT_FALSE(d.compute.deterministic);
  auto usage = [&](std::map<std::string, std::string> o) {
    try {
      parse(std::move(o));
    } catch (const apps::UsageError& e) {
      return e.msg;
    }
    return std::string();
  };
  EXPECT_NE(usage({{"device", "gpu"}}).find("--device"), std::string::npos);
  EXPECT_NE(usage({{"precision", "bf16"}, {"device", "cuda"}}).find("bf16 is not implemented"), std::string::npos);
  EXPECT_NE(usage({{"precision", "tf32"}}).find("applies to --device cuda only"), std::string::npos);
  EXPECT_NE(usage({{"fast-nondeterministic", "1"}}).find("applies to --device cuda only"), std::string::npos);
}

TEST(DeviceOptions, ContextWithoutGpuSaysWhy) {
  if (cuda::available()) GTEST_SKIP() << "a CUDA device is present";
  ContextOptions o;
  o.device = Device::cuda(0);
  const std::string msg = error_of([&] { Context c(o); });
  EXPECT_NE(msg.find("--device cuda:0: no CUDA device found ("), std::string::npos) << msg;
  EXPECT_FALSE(cuda::unavailable_reason().empty());
}

TEST(DeviceOptions, ContextRejectsAMissingDeviceIndex) {
  if (!cuda::available()) GTEST_SKIP() << "no CUDA device";
  ContextOptions o;
  o.device = Device::cuda(cuda::device_count());
  EXPECT_NE(error_of([&] { Context c(o); }).find("device not present"), std::string::npos);
}

TEST(DeviceOptions, TrainConfigCarriesDeviceAndReadsOldConfigs) {
  pipeline::TrainConfig c;
  c.data_root = "d";
  c.out = "o";
  c.device = "cuda:1";
  c.precision = "tf32";
  c.deterministic = false;
  const pipeline::TrainConfig r = pipeline::TrainConfig::from_json(c.to_json());
  EXPECT_EQ(r.device, "cuda:1");
  EXPECT_EQ(r.precision, "tf32");
  EXPECT_FALSE(r.deterministic);
  json::Value old = json::Value::object();  // a config written before the device options existed
  const json::Value full = c.to_json();
  for (const auto& kv : full.as_object())
    if (kv.first != "device" && kv.first != "precision" && kv.first != "deterministic") old.set(kv.first, kv.second);
  const pipeline::TrainConfig o = pipeline::TrainConfig::from_json(old);
  EXPECT_EQ(o.device, "cpu");
  EXPECT_EQ(o.precision, "fp32");
  EXPECT_TRUE(o.deterministic);
  c.precision = "bf16";
  EXPECT_NE(error_of([&] { c.validate(); }).find("bf16"), std::string::npos);
}

TEST(DeviceOptions, EveryCommandTakesTheDeviceOptions) {
  CQ_REQUIRE_CQSEG();
  // A malformed device is a usage error (2) in every command that computes.
  for (const char* cmd : {"train", "eval", "segment x.png", "refs gris", "demo"}) {
    const auto r = cq::testing::run_cqseg(std::string(cmd) + " --device gpu");
    EXPECT_EQ(r.code, 2) << cmd << ": " << r.out;
    EXPECT_NE(r.out.find("--device"), std::string::npos) << cmd << ": " << r.out;
  }
  for (const char* cmd : {"train", "eval", "segment", "refs gris", "demo"}) {
    const auto r = cq::testing::run_cqseg(std::string(cmd) + " --help");
    EXPECT_NE(r.out.find("--device cpu|cuda[:N]"), std::string::npos) << cmd;
    EXPECT_NE(r.out.find("--fast-nondeterministic"), std::string::npos) << cmd;
  }
  const auto p = cq::testing::run_cqseg("refs gris --images /nonexistent --precision tf32");
  EXPECT_EQ(p.code, 2) << p.out;
  EXPECT_NE(p.out.find("applies to --device cuda only"), std::string::npos) << p.out;
}

TEST(DeviceOptions, CudaWithoutGpuIsARuntimeErrorNamingTheReason) {
  CQ_REQUIRE_CQSEG();
  if (cuda::available()) GTEST_SKIP() << "a CUDA device is present";
  // refs bank makes its Context (on the device) before reading any image.
  const auto q = cq::testing::run_cqseg("refs bank --images /nonexistent --embedder x --out /dev/null --device cuda:0");
  EXPECT_EQ(q.code, 1) << q.out;
  EXPECT_NE(q.out.find("no CUDA device found"), std::string::npos) << q.out;
}
