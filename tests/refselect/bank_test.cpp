// LRIS reference bank: build / save / load, top-1 and top-k cosine search, embedder refusal, malformed files.
#include "refselect/bank.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>

#include "nn/safetensors.h"
#include "data/sha256.h"
#include "tests/support/test_util.h"

using namespace cq;
using namespace cq::dcin;

namespace {
std::vector<BankItem> items(int n, int d, uint64_t seed) {
  Rng rng(seed);
  std::vector<BankItem> v;
  for (int i = 0; i < n; ++i) {
    BankItem it;
    it.name = "img" + std::to_string(i) + ".png";
    for (int k = 0; k < d; ++k) it.embedding.push_back(static_cast<float>(rng.normal() * (1 + i)));
    it.sha256 = data::sha256_hex(it.name);
    v.push_back(it);
  }
  return v;
}
std::string tmp(const std::string& name) { return ::testing::TempDir() + "/" + name; }
std::string load_error(const std::string& path) {
  return cq::testing::error_of([&] { RefBank::load(path); });
}
}  // namespace

TEST(RefBank, BuildSaveLoadQuery) {
  auto its = items(7, 16, 1);
  RefBank b = RefBank::build("unet-encoder", 64, 48, its);
  EXPECT_EQ(b.size(), 7);
  EXPECT_EQ(b.dim(), 16);
  const std::string path = tmp("bank_roundtrip.safetensors");
  b.save(path);
  RefBank l = RefBank::load(path);
  EXPECT_EQ(l.embedder(), "unet-encoder");
  EXPECT_EQ(l.input_h(), 64);
  EXPECT_EQ(l.input_w(), 48);
  EXPECT_EQ(l.names(), b.names());
  for (int i = 0; i < 7; ++i) {
    EXPECT_EQ(l.sha256(i), its[i].sha256);
    double n2 = 0;
    for (int k = 0; k < 16; ++k) n2 += double(l.embedding(i)[k]) * l.embedding(i)[k];
    EXPECT_NEAR(n2, 1.0, 1e-6);
  }
  // Each item finds itself (any positive scaling of the query: cosine).
  for (int i = 0; i < 7; ++i) {
    std::vector<float> q = its[i].embedding;
    for (float& v : q) v *= 3.5f;
    BankMatch m = l.query1("unet-encoder", q);
    EXPECT_EQ(m.index, i);
    EXPECT_EQ(m.name, its[i].name);
    EXPECT_NEAR(m.score, 1.0f, 1e-5);
  }
  // Top-k: descending scores, k clamped to N.
  auto top = l.query("unet-encoder", its[2].embedding.data(), 16, 10);
  ASSERT_EQ(top.size(), 7u);
  EXPECT_EQ(top[0].index, 2);
  for (size_t i = 1; i < top.size(); ++i) EXPECT_GE(top[i - 1].score, top[i].score);
  std::remove(path.c_str());
}

TEST(RefBank, TiesPickLowerIndex) {
  auto its = items(3, 4, 2);
  its[2].embedding = its[0].embedding;
  RefBank b = RefBank::build("e", 8, 8, its);
  auto top = b.query("e", its[0].embedding.data(), 4, 2);
  EXPECT_EQ(top[0].index, 0);
  EXPECT_EQ(top[1].index, 2);
}

TEST(RefBank, RefusesOtherEmbedderNamingBoth) {
  RefBank b = RefBank::build("swinv2-tiny", 256, 256, items(3, 8, 3));
  std::vector<float> q(8, 1.0f);
  std::string e = cq::testing::error_of([&] { b.query1("unet-encoder", q); });
  EXPECT_TRUE(cq::testing::contains(e, "'swinv2-tiny'") && cq::testing::contains(e, "'unet-encoder'")) << e;
  e = cq::testing::error_of([&] { b.query("swinv2-tiny", q.data(), 7, 1); });
  EXPECT_TRUE(cq::testing::contains(e, "7 values")) << e;
}

TEST(RefBank, EmbedderInterface) {
  Context ctx = cq::testing::make_ctx(1);
  auto its = items(4, 3, 4);
  RefBank b = RefBank::build("mean-rgb", 4, 5, its);
  // A toy embedder: per-channel means of the image, shifted to look like item 1's embedding direction.
  Embedder e{"mean-rgb", 4, 5, [&](const Tensor& x) {
               (void)x;
               return ctx.from_vector(its[1].embedding, {1, 3});
             }};
  auto m = b.query(e, ctx.zeros({1, 3, 4, 5}), 1);
  EXPECT_EQ(m[0].index, 1);
  std::string err = cq::testing::error_of([&] { b.query(e, ctx.zeros({1, 3, 5, 5}), 1); });
  EXPECT_TRUE(cq::testing::contains(err, "[1,3,4,5]")) << err;
  Embedder other{"swin", 4, 5, e.embed};
  err = cq::testing::error_of([&] { b.query(other, ctx.zeros({1, 3, 4, 5}), 1); });
  EXPECT_TRUE(cq::testing::contains(err, "'mean-rgb'") && cq::testing::contains(err, "'swin'")) << err;
}

TEST(RefBank, BuildRejectsBadItems) {
  auto its = items(3, 4, 5);
  its[1].embedding.assign(4, 0.0f);
  EXPECT_TRUE(cq::testing::contains(cq::testing::error_of([&] { RefBank::build("e", 8, 8, its); }),
                                    "img1.png: embedding is zero"));
  its = items(3, 4, 5);
  its[2].embedding.pop_back();
  EXPECT_TRUE(cq::testing::contains(cq::testing::error_of([&] { RefBank::build("e", 8, 8, its); }), "img2.png"));
  its = items(3, 4, 5);
  its[0].sha256 = "xyz";
  EXPECT_TRUE(cq::testing::contains(cq::testing::error_of([&] { RefBank::build("e", 8, 8, its); }), "SHA-256"));
  its = items(3, 4, 5);
  its[1].name = its[0].name;
  EXPECT_TRUE(cq::testing::contains(cq::testing::error_of([&] { RefBank::build("e", 8, 8, its); }), "twice"));
  EXPECT_TRUE(cq::testing::contains(cq::testing::error_of([&] { RefBank::build("e", 8, 8, {}); }), "no images"));
}

TEST(RefBank, MalformedFilesGiveClearErrors) {
  Context ctx = cq::testing::make_ctx(1);
  const std::string p = tmp("bank_bad.safetensors");
  RefBank good = RefBank::build("e", 8, 8, items(2, 4, 6));
  // Truncated file.
  good.save(p);
  {
    std::ifstream in(p, std::ios::binary);
    std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    std::ofstream out(p, std::ios::binary | std::ios::trunc);
    out.write(bytes.data(), static_cast<std::streamsize>(bytes.size() - 10));
  }
  EXPECT_TRUE(cq::testing::contains(load_error(p), p)) << load_error(p);
  Tensor emb = ctx.zeros({2, 4});
  emb.data<float>()[0] = 1, emb.data<float>()[4] = 1;
  Tensor sha = ctx.zeros({2, 32}, DType::u8);
  std::map<std::string, std::string> md = {{"format", "cqseg-refbank"}, {"version", "1"}, {"embedder", "e"},
                                           {"input_h", "8"}, {"input_w", "8"}, {"names", R"(["a","b"])"}};
  auto expect_err = [&](std::vector<std::pair<std::string, Tensor>> ts, std::map<std::string, std::string> m,
                        const std::string& part) {
    save_safetensors(p, ts, m);
    std::string e = load_error(p);
    EXPECT_TRUE(cq::testing::contains(e, p) && cq::testing::contains(e, part)) << e;
  };
  save_safetensors(p, {{"embeddings", emb}, {"sha256", sha}}, md);
  EXPECT_EQ(RefBank::load(p).size(), 2);  // the hand-made file is valid
  auto m2 = md;
  m2.erase("format");
  expect_err({{"embeddings", emb}, {"sha256", sha}}, m2, "not a cqseg reference bank");
  m2 = md;
  m2["version"] = "9";
  expect_err({{"embeddings", emb}, {"sha256", sha}}, m2, "version '9' unsupported");
  m2 = md;
  m2["names"] = R"(["a"])";
  expect_err({{"embeddings", emb}, {"sha256", sha}}, m2, "1 names for 2 embeddings");
  m2 = md;
  m2["names"] = "[oops";
  expect_err({{"embeddings", emb}, {"sha256", sha}}, m2, "not valid JSON");
  m2 = md;
  m2["input_h"] = "-3";
  expect_err({{"embeddings", emb}, {"sha256", sha}}, m2, "input_h");
  expect_err({{"embeddings", emb.to(DType::f64)}, {"sha256", sha}}, md, "must be F32");
  expect_err({{"embeddings", emb}}, md, "'sha256' required");
  expect_err({{"embeddings", emb}, {"sha256", ctx.zeros({2, 31}, DType::u8)}}, md, "'sha256' must be U8");
  expect_err({{"embeddings", ctx.ones({2, 4})}, {"sha256", sha}}, md, "not L2-normalised");
  std::remove(p.c_str());
}
