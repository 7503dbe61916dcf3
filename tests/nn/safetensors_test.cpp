#include "nn/safetensors.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>

#include "nn/json.h"
#include "tests/support/gradcheck.h"
#include "tests/support/shared.h"
#include "tests/support/test_util.h"

using namespace cq;

namespace {
std::vector<uint8_t> make_file(const std::string& header, size_t body) {
  std::vector<uint8_t> out(8 + header.size() + body, 0);
  uint64_t n = header.size();
  for (int i = 0; i < 8; ++i) out[i] = static_cast<uint8_t>(n >> (8 * i));
  std::memcpy(out.data() + 8, header.data(), header.size());
  return out;
}
std::string error_of(const std::vector<uint8_t>& bytes) {
  try {
    SafetensorsFile::from_buffer(bytes.data(), bytes.size(), "test.safetensors");
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}
}  // namespace

TEST(Safetensors, RoundTripAllDtypesAndMetadata) {
  Context ctx;
  Tensor a = ctx.randn({2, 3});
  Tensor b = ctx.randn({4}, DType::f64);
  Tensor c = ctx.from_vector(std::vector<int64_t>{5, -6, 7}, {3});
  Tensor d = ctx.from_vector(std::vector<double>{1, 255}, {2}, DType::u8);
  Tensor e = ctx.from_vector(std::vector<double>{-3, 9}, {2}, DType::i32);
  Tensor s = ctx.scalar(2.5);
  auto bytes = serialize_safetensors({{"b", b}, {"a", a.permute({1, 0})}, {"c", c}, {"d", d}, {"e", e}, {"s", s}},
                                     {{"producer", "cqseg"}});
  EXPECT_EQ((bytes[0] | (bytes[1] << 8)) % 8, 0);  // header padded to a multiple of 8
  auto f = SafetensorsFile::from_buffer(bytes.data(), bytes.size(), "mem");
  EXPECT_EQ(f.metadata().at("producer"), "cqseg");
  EXPECT_EQ(f.entries().size(), 6u);
  EXPECT_TRUE(cq::testing::allclose(f.load(ctx, "a"), a.permute({1, 0}).contiguous(), 0));
  EXPECT_TRUE(cq::testing::allclose(f.load(ctx, "b"), b, 0));
  EXPECT_EQ(f.load(ctx, "c").to_vector<int64_t>(), (std::vector<int64_t>{5, -6, 7}));
  EXPECT_EQ(f.load(ctx, "d").to_vector<uint8_t>(), (std::vector<uint8_t>{1, 255}));
  EXPECT_EQ(f.load(ctx, "e").dtype(), DType::i32);
  EXPECT_EQ(f.load(ctx, "s").dim(), 0);
  EXPECT_EQ(f.load(ctx, "s").item(), 2.5);
  EXPECT_THROW(f.load(ctx, "zz"), Error);
}

TEST(Safetensors, AtomicSaveAndMappedOpen) {
  Context ctx;
  std::string path = cq::testing::temp_path("cq_st_roundtrip.safetensors");
  Tensor a = ctx.randn({3, 5});
  save_safetensors(path, {{"w", a}});
  EXPECT_FALSE(cq::testing::path_exists(path + ".tmp"));
  auto f = SafetensorsFile::open(path);
  EXPECT_TRUE(cq::testing::allclose(f.load(ctx, "w"), a, 0));
  std::remove(path.c_str());
  try {
    SafetensorsFile::open(path);
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(path), std::string::npos) << e.what();
  }
}

TEST(Safetensors, HalfAndBfloatAndBoolWidened) {
  Context ctx;
  // F16 1.0 = 0x3C00, -2.0 = 0xC000, 2^-24 (subnormal) = 0x0001; BF16 1.0 = 0x3F80, -0.5 = 0xBF00; BOOL 0/7.
  std::string h = R"({"h":{"dtype":"F16","shape":[3],"data_offsets":[0,6]},)"
                  R"("b":{"dtype":"BF16","shape":[2],"data_offsets":[6,10]},)"
                  R"("t":{"dtype":"BOOL","shape":[2],"data_offsets":[10,12]}})";
  auto bytes = make_file(h, 12);
  uint8_t body[12] = {0x00, 0x3C, 0x00, 0xC0, 0x01, 0x00, 0x80, 0x3F, 0x00, 0xBF, 0, 7};
  std::memcpy(bytes.data() + 8 + h.size(), body, 12);
  auto f = SafetensorsFile::from_buffer(bytes.data(), bytes.size(), "mem");
  EXPECT_TRUE(cq::testing::allclose(f.load(ctx, "h"), {1.0, -2.0, 5.960464477539063e-08}, 0));
  EXPECT_TRUE(cq::testing::allclose(f.load(ctx, "b"), {1.0, -0.5}, 0));
  EXPECT_EQ(f.load(ctx, "t").to_vector<uint8_t>(), (std::vector<uint8_t>{0, 1}));
}

TEST(Safetensors, MalformedFilesGiveClearErrors) {
  auto expect_err = [](const std::vector<uint8_t>& bytes, const char* needle) {
    std::string e = error_of(bytes);
    EXPECT_NE(e.find(needle), std::string::npos) << "expected '" << needle << "', got: '" << e << "'";
    EXPECT_NE(e.find("test.safetensors"), std::string::npos) << e;
  };
  expect_err({1, 2, 3}, "too short");
  auto ok = make_file(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})", 8);
  EXPECT_EQ(error_of(ok), "");
  auto trunc = ok;
  trunc.resize(trunc.size() - 3);
  expect_err(trunc, "beyond the data section");
  auto hl = ok;
  hl[0] = 0xFF;
  hl[1] = 0xFF;
  expect_err(hl, "past the end");
  auto huge = ok;
  huge[6] = 1;
  expect_err(huge, "100 MiB");
  expect_err(make_file(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]})", 8), "not valid JSON");
  expect_err(make_file(R"({"a":{"dtype":"Q7","shape":[2],"data_offsets":[0,8]}})", 8), "unknown dtype");
  expect_err(make_file(R"({"a":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}})", 8), "does not match shape");
  expect_err(make_file(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[8,0]}})", 8), "begin > end");
  expect_err(make_file(R"({"a":{"dtype":"F32","shape":[-2],"data_offsets":[0,8]}})", 8), "non-negative");
  expect_err(make_file(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
                       R"("b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}})",
                       12),
             "overlap");
  expect_err(make_file(R"([1,2])", 0), "not a JSON object");
  expect_err(make_file(R"({"__metadata__":{"k":1}})", 0), "__metadata__");
  expect_err(make_file(R"({"a":{"dtype":"F32","shape":[2]}})", 8), "data_offsets");
}

// Randomised fuzzing of the parser: mutations of valid files (bit flips, byte writes, truncation, header-length edits)
// and random headers. Every input must either parse or raise cq::Error; under the asan preset this is the
// AddressSanitizer fuzz run (CQ_FUZZ_ITERS=100000).
TEST(Safetensors, FuzzedInputsNeverCrash) {
  Context ctx;
  Rng rng(99);
  long iters = 20000;
  if (const char* e = std::getenv("CQ_FUZZ_ITERS")) iters = std::atol(e);
  auto seed_file = serialize_safetensors(
      {{"w", ctx.randn({3, 4})}, {"i", ctx.from_vector(std::vector<int64_t>{1, 2}, {2})}}, {{"m", "v"}});
  const char* tokens[] = {"{", "}", "[", "]", ",", ":", "\"dtype\"", "\"F32\"", "\"shape\"", "\"data_offsets\"",
                          "0", "8", "-1", "1e309", "\"a\"", "\"__metadata__\"", "null", "true", "\"\\u00e9\"", " "};
  long parsed = 0, rejected = 0;
  for (long it = 0; it < iters; ++it) {
    std::vector<uint8_t> b;
    if (it % 4 == 3) {
      std::string h;
      int n = 1 + static_cast<int>(rng.below(30));
      for (int k = 0; k < n; ++k) h += tokens[rng.below(sizeof(tokens) / sizeof(tokens[0]))];
      b = make_file(h, rng.below(64));
    } else {
      b = seed_file;
      int muts = 1 + static_cast<int>(rng.below(4));
      for (int m = 0; m < muts; ++m) {
        switch (rng.below(4)) {
          case 0: b[rng.below(b.size())] ^= static_cast<uint8_t>(1u << rng.below(8)); break;
          case 1: b[rng.below(b.size())] = static_cast<uint8_t>(rng.below(256)); break;
          case 2: b.resize(rng.below(b.size() + 1)); break;
          case 3:
            if (b.size() >= 8) b[rng.below(8)] = static_cast<uint8_t>(rng.below(256));
            break;
        }
        if (b.empty()) break;
      }
    }
    try {
      auto f = SafetensorsFile::from_buffer(b.data(), b.size(), "fuzz");
      for (const auto& e : f.entries()) (void)f.load(ctx, e);
      parsed++;
    } catch (const Error&) {
      rejected++;
    }
  }
  EXPECT_EQ(parsed + rejected, iters);
  EXPECT_GT(rejected, 0);
  std::printf("  fuzz: %ld inputs, %ld parsed, %ld rejected with cq::Error\n", iters, parsed, rejected);
}

TEST(Safetensors, ReadsTheUnetFixture) {
  CQ_REQUIRE_SHARED("fixtures/unet_effb2.safetensors");
  Context ctx;
  auto f = SafetensorsFile::open(cq::testing::shared_dir() + "/fixtures/unet_effb2.safetensors");
  EXPECT_TRUE(f.contains("param/decoder.blocks.0.conv1.0.weight"));
  EXPECT_EQ(f.entry("param/decoder.blocks.0.conv1.0.weight").shape, (Shape{256, 472, 3, 3}));
  EXPECT_TRUE(f.metadata().count("settings"));
  Tensor t = f.load(ctx, "param/decoder.blocks.0.conv1.1.num_batches_tracked");
  EXPECT_EQ(t.dtype(), DType::i64);
  EXPECT_EQ(t.dim(), 0);
}

TEST(Json, ParseDumpAndErrors) {
  auto v = json::parse(R"({"a": [1, 2.5, "x\n\u00e9"], "b": {"c": null, "d": true}})");
  EXPECT_EQ(v.find("a")->as_array()[1].as_number(), 2.5);
  EXPECT_EQ(v.find("a")->as_array()[2].as_string(), "x\n\xc3\xa9");
  EXPECT_EQ(json::dump(v), R"({"a":[1,2.5,"x\n)" "\xc3\xa9" R"("],"b":{"c":null,"d":true}})");
  EXPECT_EQ(json::parse(json::dump(v, 2)).find("b")->find("d")->as_bool(), true);
  EXPECT_EQ(json::dump(json::Value::number(0.3)), "0.3");
  EXPECT_EQ(json::parse(json::dump(json::Value::number(0.1 + 0.2))).as_number(), 0.1 + 0.2);  // exact round trip
  EXPECT_THROW(json::parse("{\"a\":1,}"), Error);
  EXPECT_THROW(json::parse("[1] x"), Error);
  EXPECT_THROW(json::parse("{\"a\":1,\"a\":2}"), Error);
  EXPECT_THROW(json::parse(std::string(100, '[')), Error);
  EXPECT_THROW(json::parse("\"abc"), Error);
}
