// Model registry: names, construction, unknown-name errors.
#include "models/registry.h"

#include <gtest/gtest.h>

#include "models/unet.h"

using namespace cq;

TEST(ModelRegistry, ListsAndBuildsUnetEfficientNetB2) {
  auto names = models::model_names();
  ASSERT_EQ(names, (std::vector<std::string>{"unet_efficientnet_b2"}));
  Context ctx({1, 0});
  auto m = models::make_model(ctx, "unet_efficientnet_b2", 5);
  ASSERT_TRUE(m);
  EXPECT_EQ(m->classes(), 5);
  EXPECT_EQ(m->size_multiple(), 32);
  EXPECT_EQ(m->num_parameters(), 10046871);
  EXPECT_NE(dynamic_cast<models::UnetEfficientNetB2*>(m.get()), nullptr);
  // Same seed through the registry or the direct factory: the same weights.
  Context ctx2({1, 0});
  auto direct = models::unet_efficientnet_b2(ctx2, 5);
  auto a = m->state_dict(), b = direct->state_dict();
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); i += 37) {
    EXPECT_EQ(a[i].first, b[i].first);
    EXPECT_EQ(a[i].second.to_vector<double>(), b[i].second.to_vector<double>()) << a[i].first;
  }
}

TEST(ModelRegistry, UnknownNameListsKnownOnes) {
  Context ctx({1, 0});
  try {
    models::make_model(ctx, "unet_resnet34", 2);
    FAIL() << "expected cq::Error";
  } catch (const Error& e) {
    std::string msg = e.what();
    EXPECT_NE(msg.find("unet_resnet34"), std::string::npos) << msg;
    EXPECT_NE(msg.find("unet_efficientnet_b2"), std::string::npos) << msg;
  }
  EXPECT_THROW(models::make_model(ctx, "unet_efficientnet_b2", 0), Error);
}
