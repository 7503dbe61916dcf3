// EfficientNet-B2 weight-name maps (torchvision, timm, smp/lukemelas -> smp), each checked on a synthetic state
// dict built from our own encoder's shapes: every encoder tensor mapped, shapes equal, values carried, no leftovers.
#include "models/weight_maps.h"

#include <gtest/gtest.h>

#include <set>

#include "models/unet.h"
#include "tests/support/gradcheck.h"

using namespace cq;

namespace {
// The source-named state dict whose tensor k holds the value k + 0.5 everywhere (so a swapped name is detected),
// with our model's shape for that tensor, plus the source's classifier keys.
std::map<std::string, Tensor> synthetic(Context& ctx, models::EffNetNaming n, const nn::Module& model) {
  std::map<std::string, Tensor> shapes;
  for (auto& kv : model.state_dict()) shapes[kv.first] = kv.second;
  std::map<std::string, Tensor> sd;
  double k = 0;
  for (auto& p : models::effnet_b2_name_pairs(n)) {
    const Tensor& like = shapes.at(p.first);  // throws if the map names a tensor our encoder lacks
    sd[p.second] = ctx.full(like.shape(), like.dtype() == DType::i64 ? 3 : k + 0.5, like.dtype());
    k += 1;
  }
  if (n == models::EffNetNaming::torchvision) {
    sd["classifier.1.weight"] = ctx.zeros({1000, 1408});
    sd["classifier.1.bias"] = ctx.zeros({1000});
  } else if (n == models::EffNetNaming::timm) {
    sd["classifier.weight"] = ctx.zeros({1000, 1408});
    sd["classifier.bias"] = ctx.zeros({1000});
  }
  return sd;
}

void check_naming(models::EffNetNaming n) {
  Context ctx({1, 0});
  auto model = models::unet_efficientnet_b2(ctx, 5);
  auto sd = synthetic(ctx, n, *model);
  EXPECT_EQ(models::detect_effnet_b2_naming(sd), n);
  auto mapped = models::map_effnet_b2_to_smp(sd, n);
  // Every encoder tensor of the model is produced, with its shape, and nothing else.
  std::set<std::string> encoder_names;
  for (auto& kv : model->state_dict())
    if (kv.first.rfind("encoder.", 0) == 0) {
      encoder_names.insert(kv.first);
      ASSERT_TRUE(mapped.tensors.count(kv.first)) << "not mapped: " << kv.first;
      EXPECT_EQ(mapped.tensors.at(kv.first).shape(), kv.second.shape()) << kv.first;
    }
  EXPECT_EQ(mapped.tensors.size(), encoder_names.size());
  // 568 smp tensors minus the decoder's 5 blocks x 2 x (conv weight + 5 BN tensors) and the head's 2.
  EXPECT_EQ(encoder_names.size(), 568u - 60u - 2u);
  size_t expected_ignored = n == models::EffNetNaming::smp ? 0 : 2;
  EXPECT_EQ(mapped.ignored.size(), expected_ignored);
  // Load through the one-call helper and check values arrived under the right names.
  EXPECT_EQ(models::load_effnet_b2_encoder(*model, sd), n);
  std::map<std::string, Tensor> now;
  for (auto& kv : model->state_dict()) now[kv.first] = kv.second;
  for (auto& p : models::effnet_b2_name_pairs(n))
    EXPECT_TRUE(cq::testing::allclose(now.at(p.first), sd.at(p.second), 0)) << p.first << " <- " << p.second;
  std::printf("  %s: %zu encoder tensors mapped, %zu classifier keys ignored\n", models::effnet_naming_name(n),
              mapped.tensors.size(), mapped.ignored.size());
}
}  // namespace

TEST(UnetWeightMaps, Torchvision) { check_naming(models::EffNetNaming::torchvision); }
TEST(UnetWeightMaps, Timm) { check_naming(models::EffNetNaming::timm); }
TEST(UnetWeightMaps, SmpLukemelas) { check_naming(models::EffNetNaming::smp); }

TEST(UnetWeightMaps, SpotNames) {
  auto find = [](models::EffNetNaming n, const std::string& smp) {
    for (auto& p : models::effnet_b2_name_pairs(n))
      if (p.first == smp) return p.second;
    return std::string("<none>");
  };
  using N = models::EffNetNaming;
  EXPECT_EQ(find(N::torchvision, "encoder._conv_stem.weight"), "features.0.0.weight");
  EXPECT_EQ(find(N::torchvision, "encoder._blocks.0._depthwise_conv.weight"), "features.1.0.block.0.0.weight");
  EXPECT_EQ(find(N::torchvision, "encoder._blocks.0._se_reduce.bias"), "features.1.0.block.1.fc1.bias");
  EXPECT_EQ(find(N::torchvision, "encoder._blocks.2._expand_conv.weight"), "features.2.0.block.0.0.weight");
  EXPECT_EQ(find(N::torchvision, "encoder._blocks.4._bn2.running_var"), "features.2.2.block.3.1.running_var");
  EXPECT_EQ(find(N::torchvision, "encoder._bn1.weight"), "features.8.1.weight");
  EXPECT_EQ(find(N::timm, "encoder._bn0.weight"), "bn1.weight");
  EXPECT_EQ(find(N::timm, "encoder._blocks.1._project_conv.weight"), "blocks.0.1.conv_pw.weight");
  EXPECT_EQ(find(N::timm, "encoder._blocks.22._expand_conv.weight"), "blocks.6.1.conv_pw.weight");
  EXPECT_EQ(find(N::timm, "encoder._blocks.22._bn0.running_mean"), "blocks.6.1.bn1.running_mean");
  EXPECT_EQ(find(N::timm, "encoder._blocks.22._bn1.running_mean"), "blocks.6.1.bn2.running_mean");
  EXPECT_EQ(find(N::timm, "encoder._blocks.22._project_conv.weight"), "blocks.6.1.conv_pwl.weight");
  EXPECT_EQ(find(N::timm, "encoder._blocks.16._se_expand.weight"), "blocks.5.0.se.conv_expand.weight");
  EXPECT_EQ(find(N::timm, "encoder._bn1.bias"), "bn2.bias");
}

TEST(UnetWeightMaps, ErrorsListProblems) {
  Context ctx({1, 0});
  auto model = models::unet_efficientnet_b2(ctx, 5);
  auto sd = synthetic(ctx, models::EffNetNaming::timm, *model);
  sd.erase("blocks.3.2.conv_dw.weight");
  sd["blocks.9.0.conv_dw.weight"] = ctx.zeros({4});
  sd["conv_stem.weight"] = ctx.zeros({32, 3, 5, 5});
  sd.erase("bn1.num_batches_tracked");  // optional: old checkpoints lack it
  try {
    models::map_effnet_b2_to_smp(sd, models::EffNetNaming::timm);
    FAIL() << "expected cq::Error";
  } catch (const Error& e) {
    std::string msg = e.what();
    EXPECT_NE(msg.find("3 problem"), std::string::npos) << msg;
    EXPECT_NE(msg.find("missing blocks.3.2.conv_dw.weight"), std::string::npos) << msg;
    EXPECT_NE(msg.find("unexpected blocks.9.0.conv_dw.weight"), std::string::npos) << msg;
    EXPECT_NE(msg.find("conv_stem.weight has shape [32,3,5,5]"), std::string::npos) << msg;
  }
  std::map<std::string, Tensor> other{{"layer1.0.conv1.weight", ctx.zeros({1})}};
  EXPECT_THROW(models::detect_effnet_b2_naming(other), Error);
}
