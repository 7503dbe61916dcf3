// Loading Swin V2 state dicts: torchvision's stored position tables are verified against ours; timm's
// non-persistent entries of older checkpoints are dropped (see swinv2.h).
#include <cmath>
#include <string>

#include "models/swinv2.h"

namespace cq::models {

namespace {
bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// Stored table vs the one we compute: same shape, f32 values within 1e-6 (float32 results of one formula; the
// library's log2 and ours may differ by an ulp), integer indices exactly.
void check_table(const std::string& key, const Tensor& stored, const Tensor& ours, const std::string& model) {
  CQ_CHECK(stored.shape() == ours.shape(), "load_swinv2 '", model, "': ", key, " has shape ",
           shape_str(stored.shape()), " in the checkpoint but ", shape_str(ours.shape()),
           " for this model's window (a checkpoint for another window size?)");
  const bool is_index = ours.dtype() == DType::i64;
  if (is_index) {
    CQ_CHECK(stored.dtype() == DType::i64 || stored.dtype() == DType::i32, "load_swinv2 '", model, "': ", key,
             " is ", stored.describe(), ", expected an integer index");
    auto a = stored.to_vector<int64_t>(), b = ours.to_vector<int64_t>();
    for (size_t i = 0; i < a.size(); ++i)
      CQ_CHECK(a[i] == b[i], "load_swinv2 '", model, "': ", key, " differs from the recomputed index at element ",
               i, " (stored ", a[i], ", expected ", b[i], "); the checkpoint is corrupted or for another window");
  } else {
    auto a = stored.to_vector<double>(), b = ours.to_vector<double>();
    for (size_t i = 0; i < a.size(); ++i)
      CQ_CHECK(std::fabs(a[i] - b[i]) <= 1e-6, "load_swinv2 '", model, "': ", key,
               " differs from the recomputed table at element ", i, " (stored ", a[i], ", expected ", b[i],
               "); the checkpoint is corrupted or for another window");
  }
}
}  // namespace

void load_swinv2(SwinV2& model, const std::map<std::string, Tensor>& state_dict) {
  const SwinV2Config& cfg = model.config();
  CQ_CHECK(cfg.alloc != SwinV2Alloc::shape_only, "load_swinv2 '", cfg.name,
           "': the model was built shape_only (no parameter memory)");
  std::map<std::string, Tensor> sd = state_dict;
  if (cfg.naming == SwinV2Naming::torchvision) {
    for (auto& kv : model.named_buffers()) {
      if (!ends_with(kv.first, ".relative_coords_table") && !ends_with(kv.first, ".relative_position_index"))
        continue;
      auto it = sd.find(kv.first);
      if (it != sd.end()) check_table(kv.first, it->second, kv.second, cfg.name);  // missing: strict load reports
    }
  } else {
    // timm's checkpoint_filter_fn: these are recomputed at build time, never loaded.
    for (auto it = sd.begin(); it != sd.end();) {
      const std::string& k = it->first;
      if (ends_with(k, ".relative_position_index") || ends_with(k, ".relative_coords_table") ||
          ends_with(k, ".attn_mask") || ends_with(k, ".k_bias"))
        it = sd.erase(it);
      else
        ++it;
    }
  }
  model.load_state_dict(sd, /*strict=*/true);
}

void load_swinv2(SwinV2& model, Context& ctx, const SafetensorsFile& file, const std::string& prefix) {
  std::map<std::string, Tensor> sd;
  for (const auto& e : file.entries()) {
    if (e.name.compare(0, prefix.size(), prefix) != 0) continue;
    sd.emplace(e.name.substr(prefix.size()), file.load(ctx, e));
  }
  CQ_CHECK(!sd.empty(), "load_swinv2: ", file.path(), " holds no tensor named '", prefix, "...'");
  load_swinv2(model, sd);
}

}  // namespace cq::models
