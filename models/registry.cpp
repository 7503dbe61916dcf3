#include "models/registry.h"

#include <functional>
#include <utility>

#include "kernels/shape/shape.h"
#include "models/unet.h"

namespace cq::models {

namespace {
using Factory = std::function<std::shared_ptr<SegmentationModel>(Context&, int64_t)>;

// The table lives in a function (no global objects); order is the order model_names() lists.
const std::vector<std::pair<std::string, Factory>>& table() {
  static const std::vector<std::pair<std::string, Factory>> t = {
      {"unet_efficientnet_b2",
       [](Context& ctx, int64_t k) -> std::shared_ptr<SegmentationModel> { return unet_efficientnet_b2(ctx, k); }},
  };
  return t;
}
}  // namespace

std::vector<std::string> model_names() {
  std::vector<std::string> out;
  for (const auto& kv : table()) out.push_back(kv.first);
  return out;
}

std::shared_ptr<SegmentationModel> make_model(Context& ctx, const std::string& name, int64_t classes) {
  for (const auto& kv : table())
    if (kv.first == name) return kv.second(ctx, classes);
  std::string known;
  for (const auto& n : model_names()) known += (known.empty() ? "" : ", ") + n;
  fail("make_model: unknown model '", name, "' (known: ", known, ")");
}

Tensor SegmentationModel::predict_padded(const Tensor& x) {
  CQ_CHECK(x.dim() == 4, "predict_padded: expected input [N,C,H,W], got ", x.describe());
  const int64_t m = size_multiple(), h = x.size(2), w = x.size(3);
  const int64_t ph = (m - h % m) % m, pw = (m - w % m) % m;
  NoGradGuard ng(x.runtime());
  // Zeros at the bottom and right keep the image's top-left pixel grid aligned with the network's strides.
  Tensor in = (ph || pw) ? pad(x, {0, pw, 0, ph}, 0.0) : x;
  Tensor y = forward(in);
  if (!ph && !pw) return y;
  return y.slice(2, 0, h).slice(3, 0, w).contiguous();
}

}  // namespace cq::models
