#include "pipeline/checkpoint.h"

#include <cstring>

#include "nn/safetensors.h"
#include "tensor/error.h"

namespace cq::pipeline {
namespace {

std::string fmt_double(double d) {
  char buf[40];
  std::snprintf(buf, sizeof buf, "%.17g", d);
  return buf;
}

}  // namespace

void save_checkpoint(const std::string& path, const nn::Module& model, const nn::Adam& adam, const Rng& rng,
                     const CheckpointState& st, const std::map<std::string, std::string>& extra_metadata) {
  std::vector<std::pair<std::string, Tensor>> ts;
  Context host({1, 0});  // small host tensors for the scalars
  for (const auto& kv : model.state_dict()) ts.emplace_back("model/" + kv.first, kv.second.detach());
  for (const auto& kv : adam.state_dict()) ts.emplace_back("optim/" + kv.first, kv.second);
  const Rng::State rs = rng.state();
  std::vector<int64_t> words(4);
  for (int i = 0; i < 4; ++i) std::memcpy(&words[size_t(i)], &rs.s[size_t(i)], 8);  // u64 bits kept exactly
  ts.emplace_back("rng/state", host.from_vector(words, {4}));
  ts.emplace_back("rng/spare", host.full({}, rs.spare, DType::f64));
  ts.emplace_back("rng/has_spare", host.from_vector(std::vector<int64_t>{rs.has_spare ? 1 : 0}, {}));
  ts.emplace_back("train/epoch", host.from_vector(std::vector<int64_t>{st.epoch}, {}));
  ts.emplace_back("train/global_step", host.from_vector(std::vector<int64_t>{st.global_step}, {}));
  ts.emplace_back("train/best_epoch", host.from_vector(std::vector<int64_t>{st.best_epoch}, {}));
  ts.emplace_back("train/best_val_loss", host.full({}, st.best_val_loss, DType::f64));
  std::map<std::string, std::string> meta = extra_metadata;
  meta["format"] = kCheckpointFormat;
  meta["config"] = st.config_json;
  meta["epoch"] = std::to_string(st.epoch);
  meta["best_val_loss"] = fmt_double(st.best_val_loss);
  save_safetensors(path, ts, meta);
}

LoadedCheckpoint load_checkpoint(Context& ctx, const std::string& path) {
  SafetensorsFile f = SafetensorsFile::open(path);
  auto it = f.metadata().find("format");
  CQ_CHECK(it != f.metadata().end() && it->second == kCheckpointFormat, path,
           ": not a cqseg training checkpoint (metadata format is '",
           it == f.metadata().end() ? std::string("<absent>") : it->second, "', expected '", kCheckpointFormat, "')");
  LoadedCheckpoint c;
  c.metadata = f.metadata();
  auto cfg = f.metadata().find("config");
  CQ_CHECK(cfg != f.metadata().end(), path, ": checkpoint has no config metadata");
  c.state.config_json = cfg->second;
  for (const SafetensorsEntry& e : f.entries()) {
    if (e.name.rfind("model/", 0) == 0) c.model[e.name.substr(6)] = f.load(ctx, e);
    if (e.name.rfind("optim/", 0) == 0) c.optim[e.name.substr(6)] = f.load(ctx, e);
  }
  CQ_CHECK(!c.model.empty(), path, ": checkpoint holds no model/ tensors");
  auto need = [&](const char* name, DType dt, int64_t numel) {
    CQ_CHECK(f.contains(name), path, ": checkpoint lacks '", name, "'");
    Tensor t = f.load(ctx, name);
    CQ_CHECK(t.dtype() == dt && t.numel() == numel, path, ": '", name, "' is ", t.describe(), ", expected ",
             dtype_name(dt), " with ", numel, " values");
    return t;
  };
  const std::vector<int64_t> words = need("rng/state", DType::i64, 4).to_vector<int64_t>();
  for (int i = 0; i < 4; ++i) std::memcpy(&c.rng.s[size_t(i)], &words[size_t(i)], 8);
  c.rng.spare = need("rng/spare", DType::f64, 1).item();
  c.rng.has_spare = need("rng/has_spare", DType::i64, 1).item() != 0;
  c.state.epoch = int64_t(need("train/epoch", DType::i64, 1).item());
  c.state.global_step = int64_t(need("train/global_step", DType::i64, 1).item());
  c.state.best_epoch = int64_t(need("train/best_epoch", DType::i64, 1).item());
  c.state.best_val_loss = need("train/best_val_loss", DType::f64, 1).item();
  return c;
}

}  // namespace cq::pipeline
