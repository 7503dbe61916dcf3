// The post-accumulate-grad hook: called once per leaf per backward, as soon as the leaf's .grad holds the whole
// pass's gradient (every use delivered), before the rest of the pass ends; committing early changes no value.
#include <gtest/gtest.h>

#include <vector>

#include "kernels/elementwise/elementwise.h"
#include "kernels/reduce/reduce.h"
#include "tensor/autograd.h"
#include "tensor/context.h"

using namespace cq;

namespace {
Tensor leaf(Context& ctx, std::vector<float> v) {
  Tensor t = Tensor::empty(ctx.runtime_ptr(), {int64_t(v.size())}, DType::f32, Device::cpu());
  std::copy(v.begin(), v.end(), t.data<float>());
  return t.set_requires_grad();
}
}  // namespace

TEST(AutogradHook, FiresOnceWhenEveryUseHasDeliveredInBackwardOrder) {
  Context ctx({1, 0});
  Tensor a = leaf(ctx, {1, 2}), b = leaf(ctx, {3, 4}), c = leaf(ctx, {5, 6});
  std::vector<std::string> order;
  std::vector<float> a_seen;
  a.set_post_accumulate_grad_hook([&] {
    order.push_back("a");
    a_seen = a.grad().to_vector<float>();
  });
  b.set_post_accumulate_grad_hook([&] { order.push_back("b"); });
  c.set_post_accumulate_grad_hook([&] { order.push_back("c"); });
  // a is used twice (deep and shallow), b deep only, c shallow only: c completes first, a only after the deep part.
  Tensor deep = sum(mul(mul(a, b), b));
  Tensor y = add(sum(mul(a, c)), deep);
  y.backward();
  ASSERT_EQ(order.size(), 3u);
  EXPECT_EQ(order[0], "c");
  EXPECT_EQ(a_seen, a.grad().to_vector<float>());            // complete when the hook saw it
  EXPECT_EQ(a_seen, (std::vector<float>{5 + 9, 6 + 16}));     // c + b^2
  EXPECT_EQ(b.grad().to_vector<float>(), (std::vector<float>{2 * 1 * 3, 2 * 2 * 4}));
  // A second backward accumulates into .grad and fires again; grad() (capture mode) fires nothing.
  order.clear();
  add(sum(mul(a, c)), sum(mul(mul(a, b), b))).backward();
  EXPECT_EQ(order.size(), 3u);
  EXPECT_EQ(a.grad().to_vector<float>(), (std::vector<float>{28, 44}));
  order.clear();
  grad(sum(mul(a, c)), {a});
  EXPECT_TRUE(order.empty());
  // Removing the hook.
  a.set_post_accumulate_grad_hook(nullptr);
  sum(a).backward();
  EXPECT_TRUE(order.empty());
}
