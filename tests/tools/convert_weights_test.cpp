// tools/convert_weights.py: its pure-Python safetensors writer (needs only /usr/bin/python3), and a PyTorch
// checkpoint round trip (needs python3-torch; SKIPPED with a message otherwise). Files are read back with our own
// cq::SafetensorsFile.
#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>
#include <vector>

#include "nn/safetensors.h"
#include "tensor/context.h"
#include "tests/support/shared.h"
#include "tests/support/test_util.h"

using namespace cq;

namespace {
const char* kPython = "/usr/bin/python3";

std::string tool() { return std::string(CQ_SOURCE_DIR) + "/tools/convert_weights.py"; }
std::string tmp(const std::string& name) { return cq::testing::temp_path("cq_convert_" + name); }

bool run_ok(const std::string& cmd) { return std::system(cmd.c_str()) == 0; }
bool python_has(const std::string& module) {
  return cq::testing::path_exists(kPython) &&
         run_ok(std::string(kPython) + " -c 'import " + module + "' >/dev/null 2>&1");
}

// Runs a Python script (written to a temp file) with the tool's folder on sys.path; true on exit status 0.
bool run_python(const std::string& name, const std::string& body) {
  std::string path = tmp(name + ".py");
  std::ofstream(path) << "import sys\nsys.path.insert(0, '" << CQ_SOURCE_DIR << "/tools')\n" << body;
  return run_ok(std::string(kPython) + " " + path);
}

std::vector<double> values(Context& ctx, const SafetensorsFile& f, const std::string& name) {
  return f.load(ctx, name).to_vector<double>();
}
}  // namespace

TEST(ConvertWeights, PurePythonWriter) {
  if (!cq::testing::path_exists(kPython)) GTEST_SKIP() << kPython << " is missing: converter writer not tested";
  std::string out = tmp("writer.safetensors");
  ASSERT_TRUE(run_python("writer", "import struct, convert_weights as cw\n"
                                   "cw.write_safetensors('" + out + "', [\n"
                                   "  ('b.weight', 'F32', [2, 2], struct.pack('<4f', 1.5, -2, 0.25, 8)),\n"
                                   "  ('a.count', 'I64', [], struct.pack('<q', -7)),\n"
                                   "  ('c', 'U8', [3], bytes([0, 128, 255])),\n"
                                   "  ('d', 'F64', [0, 3], b'')], {'producer': 'test'})\n"
                                   "try:\n"
                                   "  cw.write_safetensors('" + out + ".bad', [('x', 'F32', [3], b'1234')])\n"
                                   "  sys.exit(3)\n"
                                   "except cw.ConvertError as e:\n"
                                   "  assert 'expected 12' in str(e), e\n"));
  Context ctx;
  auto f = SafetensorsFile::open(out);
  EXPECT_EQ(f.metadata().at("producer"), "test");
  ASSERT_EQ(f.entries().size(), 4u);
  EXPECT_EQ(f.entry("b.weight").shape, (Shape{2, 2}));
  EXPECT_EQ(values(ctx, f, "b.weight"), (std::vector<double>{1.5, -2, 0.25, 8}));
  EXPECT_EQ(f.load(ctx, "a.count").dim(), 0);
  EXPECT_EQ(f.load(ctx, "a.count").to_vector<int64_t>(), (std::vector<int64_t>{-7}));
  EXPECT_EQ(values(ctx, f, "c"), (std::vector<double>{0, 128, 255}));
  EXPECT_EQ(f.entry("d").shape, (Shape{0, 3}));
  // Header length is a multiple of 8 and the larger elements come first (alignment).
  std::ifstream in(out, std::ios::binary);
  unsigned char n[8];
  in.read(reinterpret_cast<char*>(n), 8);
  EXPECT_EQ(n[0] % 8, 0);
  EXPECT_LT(f.entry("b.weight").data, f.entry("c").data);
  EXPECT_LT(f.entry("a.count").data, f.entry("b.weight").data);
  std::remove(out.c_str());
}

TEST(ConvertWeights, TorchCheckpointRoundTrip) {
  if (!python_has("torch"))
    GTEST_SKIP() << "python3-torch is missing (" << kPython
                 << " -c 'import torch' failed): PyTorch checkpoint conversion not tested";
  std::string junk = tmp("junk.pth");  // no state dict in it
  std::string pth = tmp("ckpt.pth"), pth_opt = tmp("ckpt_opt.pth"), out = tmp("ckpt.safetensors"), out32 = tmp("ckpt32.safetensors");
  // A DataParallel-style checkpoint: 'module.' prefixes, the state dict under 'state_dict' next to other entries;
  // f32 / f64 / f16 / bf16 / i64 / bool tensors, a 0-dim buffer and a non-contiguous (transposed) tensor.
  ASSERT_TRUE(run_python("make", "import torch, collections\n"
                                 "sd = collections.OrderedDict()\n"
                                 "sd['module.conv.weight'] = torch.arange(24, dtype=torch.float32).reshape(2,3,2,2)*0.5\n"
                                 "sd['module.bn.num_batches_tracked'] = torch.tensor(7)\n"
                                 "sd['module.x64'] = torch.arange(3, dtype=torch.float64) / 3\n"
                                 "sd['module.h'] = torch.tensor([1.5, -2.0, 65504.0], dtype=torch.float16)\n"
                                 "sd['module.bf'] = torch.tensor([1.0, -0.5], dtype=torch.bfloat16)\n"
                                 "sd['module.fc.weight'] = torch.arange(6, dtype=torch.float32).reshape(2,3).t()\n"
                                 "sd['module.mask'] = torch.tensor([True, False, True])\n"
                                 "torch.save({'epoch': 3, 'state_dict': sd}, '" + pth + "')\n"
                                 "torch.save({'epoch': 3, 'state_dict': sd, 'optimizer': {'lr': 0.1}}, '" + pth_opt +
                                     "')\n"
                                 "torch.save({'epoch': 1}, '" + junk + "')\n"));
  ASSERT_TRUE(run_ok(std::string(kPython) + " " + tool() + " " + pth + " " + out + " --prefix-strip module."));
  Context ctx;
  {
    auto f = SafetensorsFile::open(out);
    std::vector<std::string> names;
    for (const auto& e : f.entries()) names.push_back(e.name);
    EXPECT_EQ(names, (std::vector<std::string>{"bf", "bn.num_batches_tracked", "conv.weight", "fc.weight", "h", "mask",
                                               "x64"}));
    EXPECT_EQ(f.entry("conv.weight").dtype, StDType::F32);
    EXPECT_EQ(f.entry("conv.weight").shape, (Shape{2, 3, 2, 2}));
    std::vector<double> conv = values(ctx, f, "conv.weight");
    for (size_t i = 0; i < conv.size(); ++i) EXPECT_EQ(conv[i], 0.5 * i);
    EXPECT_EQ(f.entry("bn.num_batches_tracked").dtype, StDType::I64);
    EXPECT_EQ(f.entry("bn.num_batches_tracked").shape, Shape{});
    EXPECT_EQ(f.load(ctx, "bn.num_batches_tracked").to_vector<int64_t>(), (std::vector<int64_t>{7}));
    EXPECT_EQ(f.entry("x64").dtype, StDType::F64);
    EXPECT_EQ(values(ctx, f, "x64"), (std::vector<double>{0.0, 1.0 / 3, 2.0 / 3}));
    EXPECT_EQ(f.entry("h").dtype, StDType::F16);
    EXPECT_EQ(values(ctx, f, "h"), (std::vector<double>{1.5, -2.0, 65504.0}));
    EXPECT_EQ(f.entry("bf").dtype, StDType::BF16);
    EXPECT_EQ(values(ctx, f, "bf"), (std::vector<double>{1.0, -0.5}));
    EXPECT_EQ(f.entry("fc.weight").shape, (Shape{3, 2}));  // the transposed view, written in its own C order
    EXPECT_EQ(values(ctx, f, "fc.weight"), (std::vector<double>{0, 3, 1, 4, 2, 5}));
    EXPECT_EQ(f.entry("mask").dtype, StDType::BOOL);
    EXPECT_EQ(values(ctx, f, "mask"), (std::vector<double>{1, 0, 1}));
    EXPECT_EQ(f.metadata().at("format"), "pt");
  }
  // --dtype f32: floating tensors become F32, integer and bool tensors keep their dtype; names keep the prefix.
  // This checkpoint also holds a Python float, which torch 1.13's weights_only unpickler rejects: --allow-pickle.
  ASSERT_TRUE(run_ok(std::string(kPython) + " " + tool() + " " + pth_opt + " " + out32 +
                     " --dtype f32 --key state_dict --allow-pickle"));
  {
    auto f = SafetensorsFile::open(out32);
    EXPECT_EQ(f.entry("module.x64").dtype, StDType::F32);
    EXPECT_EQ(f.entry("module.h").dtype, StDType::F32);
    EXPECT_EQ(f.entry("module.bf").dtype, StDType::F32);
    EXPECT_EQ(f.entry("module.bn.num_batches_tracked").dtype, StDType::I64);
    EXPECT_EQ(f.entry("module.mask").dtype, StDType::BOOL);
    EXPECT_EQ(values(ctx, f, "module.x64")[1], static_cast<double>(1.0f / 3.0f));
  }
  // A file with no state dict is an error (exit status 1), not an empty output.
  EXPECT_FALSE(run_ok(std::string(kPython) + " " + tool() + " " + junk + " " + tmp("junk.safetensors") +
                      " 2>/dev/null"));
  EXPECT_FALSE(cq::testing::path_exists(tmp("junk.safetensors")));
  for (const auto& p : {pth, pth_opt, out, out32, junk}) std::remove(p.c_str());
}
