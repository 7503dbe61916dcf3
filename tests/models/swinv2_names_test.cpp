// Swin V2 presets: full parameter-name/shape tables against the libraries' own state_dict() listings
// (shared/fixtures/swinv2_tv_tsb_keys.json, swinv2_timm_large_w12to24_keys.json) and parameter counts (SPEC.md).
#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <map>
#include <sstream>
#include <string>

#include "models/swinv2.h"
#include "models/swinv2_detail.h"
#include "nn/json.h"
#include "tests/support/shared.h"

using namespace cq;
using namespace cq::models;

namespace {

json::Value read_json(const std::string& rel) {
  std::ifstream in(cq::testing::shared_dir() + "/" + rel);
  std::stringstream ss;
  ss << in.rdbuf();
  return json::parse(ss.str());
}

// name -> "F32[96,3,4,4]"
using Table = std::map<std::string, std::string>;

Table table_of_listing(const json::Value& state_dict) {
  Table t;
  for (auto& row : state_dict.as_array()) {
    auto& r = row.as_array();
    Shape s;
    for (auto& d : r[1].as_array()) s.push_back(static_cast<int64_t>(d.as_uint()));
    t[r[0].as_string()] = r[2].as_string() + shape_str(s);
  }
  return t;
}

Table table_of_model(const SwinV2& m) {
  Table t;
  for (auto& kv : m.state_dict())
    t[kv.first] = std::string(kv.second.dtype() == DType::i64 ? "I64" : "F32") + shape_str(kv.second.shape());
  return t;
}

// Both ways: every listed entry exists with the same dtype and shape, and the model has nothing else.
void expect_same_table(const std::string& what, const Table& ours, const Table& ref) {
  int missing = 0, extra = 0, differ = 0;
  for (auto& kv : ref) {
    auto it = ours.find(kv.first);
    if (it == ours.end()) {
      if (++missing <= 5) ADD_FAILURE() << what << ": missing " << kv.first << " " << kv.second;
    } else if (it->second != kv.second) {
      if (++differ <= 5) ADD_FAILURE() << what << ": " << kv.first << " is " << it->second << ", listed " << kv.second;
    }
  }
  for (auto& kv : ours)
    if (!ref.count(kv.first) && ++extra <= 5) ADD_FAILURE() << what << ": unexpected " << kv.first << " " << kv.second;
  std::printf("  %-40s %zu entries listed, %zu built: %d missing, %d unexpected, %d differ\n", what.c_str(),
              ref.size(), ours.size(), missing, extra, differ);
}

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

}  // namespace

// Allocated builds (zeros: no random init, as for loading a checkpoint) of the full torchvision T/S/B.
TEST(SwinV2Names, TorchvisionTSBMatchListing) {
  CQ_REQUIRE_SHARED("fixtures/swinv2_tv_tsb_keys.json");
  json::Value j = read_json("fixtures/swinv2_tv_tsb_keys.json");
  Context ctx;
  for (const char* name : {"swin_v2_t", "swin_v2_s", "swin_v2_b"}) {
    const json::Value& m = *j.find("models")->find(name);
    auto t0 = std::chrono::steady_clock::now();
    SwinV2Config cfg = swinv2_preset(name);
    cfg.alloc = SwinV2Alloc::zeros;
    auto model = swinv2(ctx, cfg);
    Table ours = table_of_model(*model);
    expect_same_table(name, ours, table_of_listing(*m.find("state_dict")));
    EXPECT_EQ(ours.size(), m.find("num_state_dict_entries")->as_uint()) << name;
    EXPECT_EQ(static_cast<uint64_t>(model->num_parameters()), m.find("num_params")->as_uint()) << name;
    std::printf("  %s: %lld parameters, built in %.2f s\n", name, static_cast<long long>(model->num_parameters()),
                seconds_since(t0));
  }
}

// timm swinv2_large_window12to24_192to384 with its 1000-class head: allocated (zeros, ~790 MB) — and the same table
// from a shape_only build, which allocates nothing.
TEST(SwinV2Names, TimmLargeMatchesListing) {
  CQ_REQUIRE_SHARED("fixtures/swinv2_timm_large_w12to24_keys.json");
  json::Value j = read_json("fixtures/swinv2_timm_large_w12to24_keys.json");
  Table ref = table_of_listing(*j.find("state_dict"));
  Context ctx;
  SwinV2Config cfg = swinv2_preset("swinv2_large_window12to24_192to384");
  for (auto alloc : {SwinV2Alloc::shape_only, SwinV2Alloc::zeros}) {
    auto t0 = std::chrono::steady_clock::now();
    cfg.alloc = alloc;
    auto model = swinv2(ctx, cfg);
    std::string what = std::string("swinv2_large_window12to24_192to384 ") +
                       (alloc == SwinV2Alloc::zeros ? "(allocated)" : "(shape_only)");
    expect_same_table(what, table_of_model(*model), ref);
    EXPECT_EQ(static_cast<uint64_t>(model->num_parameters()), j.find("num_params")->as_uint());
    std::printf("  built in %.2f s, CPU memory now %.1f MB\n", seconds_since(t0),
                static_cast<double>(ctx.memory().current) / 1048576.0);
  }
  // The listing's per-block window plan at 384x384 (window 24 shrunk to 24 and 12 in stages 3-4, shifts dropped).
  const json::Value& windows = *j.find("windows");
  int checked = 0;
  for (auto& kv : windows.as_object()) {
    auto r = kv.second.find("input_resolution")->as_array();
    auto w = kv.second.find("window")->as_array();
    auto s = kv.second.find("shift")->as_array();
    auto pw = kv.second.find("pretrained_window")->as_array();
    int stage = kv.first[7] - '0';
    int blk = std::stoi(kv.first.substr(kv.first.rfind('.') + 1));
    auto p = swinv2_detail::plan_window(SwinV2Naming::timm, static_cast<int64_t>(r[0].as_uint()),
                                        static_cast<int64_t>(r[1].as_uint()), cfg.window_size, blk % 2 == 1);
    EXPECT_EQ(p.wh, static_cast<int64_t>(w[0].as_uint())) << kv.first;
    EXPECT_EQ(p.sh, static_cast<int64_t>(s[0].as_uint())) << kv.first;
    EXPECT_EQ(p.sw, static_cast<int64_t>(s[1].as_uint())) << kv.first;
    EXPECT_EQ(cfg.pretrained_window_sizes[stage], static_cast<int64_t>(pw[0].as_uint())) << kv.first;
    ++checked;
  }
  EXPECT_EQ(checked, 24);
}

// SPEC.md counts, from shape_only builds (no parameter memory; the counts are the products of the built shapes).
TEST(SwinV2Names, ParameterCountsFromSpec) {
  Context ctx;
  const std::pair<const char*, int64_t> with_head[] = {
      {"swin_v2_t", 28351570},
      {"swin_v2_s", 49737442},
      {"swin_v2_b", 87930848},
      {"swinv2_tiny_window8_256", 28347154},
      {"swinv2_small_window8_256", 49728418},
      {"swinv2_base_window8_256", 87918816},
      {"swinv2_large_window12to24_192to384", 196739932},
      {"swinv2_large_window12to16_192to256", 196739932},
  };
  for (auto& [name, count] : with_head) {
    SwinV2Config cfg = swinv2_preset(name);
    cfg.alloc = SwinV2Alloc::shape_only;
    EXPECT_EQ(swinv2(ctx, cfg)->num_parameters(), count) << name;
  }
  for (const char* name : {"swinv2_large_window12to24_192to384", "swinv2_large_window12to16_192to256",
                           "swinv2_large_window12_192"}) {
    SwinV2Config cfg = swinv2_preset(name);
    cfg.alloc = SwinV2Alloc::shape_only;
    cfg.num_classes = 0;  // backbone only
    auto m = swinv2(ctx, cfg);
    EXPECT_EQ(m->num_parameters(), 195202932) << name;
    EXPECT_EQ(m->num_features(), 1536) << name;
  }
  // The 22k-class preset: backbone + Linear(1536, 21841).
  SwinV2Config cfg = swinv2_preset("swinv2_large_window12_192");
  cfg.alloc = SwinV2Alloc::shape_only;
  EXPECT_EQ(swinv2(ctx, cfg)->num_parameters(), 195202932 + 1536 * 21841 + 21841);
  EXPECT_LT(ctx.memory().current, size_t(64) << 20) << "shape_only builds should hold almost no memory";
}

TEST(SwinV2Names, ErrorsAreExplained) {
  Context ctx;
  EXPECT_THROW(swinv2_preset("swin_v2_xl"), Error);
  SwinV2Config cfg = swinv2_preset("swin_v2_t");
  cfg.alloc = SwinV2Alloc::shape_only;
  auto m = swinv2(ctx, cfg);
  EXPECT_THROW(m->forward(ctx.zeros({1, 3, 64, 64})), Error);
  EXPECT_THROW(load_swinv2(*m, {}), Error);
  cfg.alloc = SwinV2Alloc::zeros;
  cfg.depths = {2, 2};
  EXPECT_THROW(swinv2(ctx, cfg), Error);  // 2 depths, 4 head counts
  cfg = swinv2_preset("swin_v2_t");
  cfg.alloc = SwinV2Alloc::zeros;
  auto z = swinv2(ctx, cfg);
  EXPECT_THROW(z->forward(ctx.zeros({1, 1, 64, 64})), Error);  // wrong channel count
  EXPECT_THROW(load_swinv2(*z, {{"norm.weight", ctx.zeros({768})}}), Error);  // strict: everything else missing
}
