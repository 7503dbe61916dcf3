// The fuzz targets of targets.h. Each run_* calls the library the way cqseg does and maps cq::Error to "rejected";
// every other outcome is left to escape. Seeds are built here from the library's own writers (so they track the
// formats) plus hand-made headers declaring huge sizes.
#include "fuzz/targets.h"

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>

#include <unistd.h>

#include "apps/cli_args.h"
#include "data/dataset.h"
#include "data/image_io.h"
#include "fuzz/seeds.h"
#include "nn/json.h"
#include "nn/safetensors.h"
#include "pipeline/run_files.h"
#include "pipeline/train_config.h"
#include "refselect/bank.h"
#include "tensor/context.h"
#include "tensor/error.h"

namespace cq::fuzz {
namespace fs = std::filesystem;

void write_bytes(const std::string& path, const uint8_t* data, size_t size) {
  FILE* f = std::fopen(path.c_str(), "wb");
  CQ_CHECK(f != nullptr, "fuzz: cannot write ", path, ": ", std::strerror(errno));
  const size_t w = size ? std::fwrite(data, 1, size, f) : 0;
  const bool ok = std::fclose(f) == 0 && w == size;
  CQ_CHECK(ok, "fuzz: write failed on ", path);
}

Env Env::make() {
  // Every input becomes a file: on a disk-backed /tmp that is 15-30x slower than on tmpfs, so /dev/shm first.
  const char* tmp = std::getenv("TMPDIR");
  const std::string base = ::access("/dev/shm", W_OK) == 0 ? "/dev/shm" : tmp && *tmp ? tmp : "/tmp";
  std::string templ = base + "/cq_fuzz_XXXXXX";
  CQ_CHECK(mkdtemp(templ.data()) != nullptr, "fuzz: cannot create a scratch folder: ", std::strerror(errno));
  Env e;
  e.scratch = templ;
  e.ctx = std::make_shared<Context>(ContextOptions{1, 0});
  if (!std::getenv("CQ_MAX_IMAGE_PIXELS")) setenv("CQ_MAX_IMAGE_PIXELS", "65536", 1);
  return e;
}

void Env::cleanup() const {
  std::error_code ec;
  fs::remove_all(scratch, ec);
}

namespace {

template <class F>
bool accepted(F&& f) {
  try {
    f();
    return true;
  } catch (const Error&) {
    return false;
  }
}

// ---- safetensors reader: header validation, then every (small) tensor converted to an engine tensor ----
bool run_safetensors(Env& env, const uint8_t* d, size_t n) {
  return accepted([&] {
    SafetensorsFile f = SafetensorsFile::from_buffer(d, n, "fuzz");
    for (const SafetensorsEntry& e : f.entries())
      if (e.nbytes <= (1u << 20)) f.load(*env.ctx, e);
  });
}

// ---- image decoders, through the three calls the data pipeline makes ----
bool run_image(Env& env, const uint8_t* d, size_t n) {
  const std::string path = env.scratch + "/image";
  write_bytes(path, d, n);
  bool ok = accepted([&] { data::probe_image(path); });
  ok = accepted([&] { data::read_image(path); }) && ok;
  ok = accepted([&] {
         data::Image m = data::read_mask(path);
         data::mask_to_classes(m, 2, path);
       }) && ok;
  return ok;
}

// ---- dataset scanner: the input describes a small folder tree (see seeds.h), scanned and every sample loaded ----
bool run_dataset(Env& env, const uint8_t* d, size_t n) {
  const std::string dir = env.scratch + "/dataset";
  std::error_code ec;
  fs::remove_all(dir, ec);
  const TreeSpec t = decode_tree(d, n);
  fs::create_directories(dir);
  for (const char* sub : {"images", "masks", "fov"})
    if (t.folders.count(sub)) fs::create_directories(dir + "/" + sub);
  for (const TreeFile& f : t.files) {
    if (!t.folders.count(f.folder) && !f.folder.empty()) continue;
    const std::string p = dir + "/" + (f.folder.empty() ? "" : f.folder + "/") + f.name;
    write_bytes(p, f.content.data(), f.content.size());
  }
  return accepted([&] {
    data::DatasetOptions o;
    o.classes = t.classes;
    o.skip_bad = t.skip_bad;
    o.require_masks = t.require_masks;
    o.print_warnings = false;
    data::Dataset ds = data::Dataset::open_dir(dir, o);
    for (size_t i = 0; i < ds.size(); ++i) ds.load(i);
  });
}

// ---- reference-bank reader, then one query with the bank's own dimension ----
bool run_bank(Env& env, const uint8_t* d, size_t n) {
  const std::string path = env.scratch + "/bank.safetensors";
  write_bytes(path, d, n);
  return accepted([&] {
    dcin::RefBank b = dcin::RefBank::load(path);
    if (b.dim() > 0 && b.dim() <= 4096 && b.size() > 0) {
      std::vector<float> q(size_t(b.dim()), 1.0f);
      q[0] = -2.0f;
      b.query(b.embedder(), q.data(), b.dim(), 3);
    }
  });
}

// ---- run config (checkpoint metadata), log.jsonl and manifest text, as --resume reads them ----
bool run_config(Env& env, const uint8_t* d, size_t n) {
  const std::string text(reinterpret_cast<const char*>(d), n);
  bool ok = accepted([&] {
    pipeline::TrainConfig c = pipeline::TrainConfig::from_json(json::parse(text));
    c.validate();
    c.compute_options();
    json::parse(json::dump(c.to_json()));
  });
  ok = accepted([&] { pipeline::parse_log_jsonl(text, "log.jsonl"); }) && ok;
  ok = accepted([&] {
         json::Value m = json::parse(text);
         json::parse(json::dump(m, 2));
       }) && ok;
  return ok;
}

// ---- command-line parser: NUL-separated arguments through the option layer cqseg train uses ----
bool run_cli(Env&, const uint8_t* d, size_t n) {
  std::vector<std::string> args{"train"};
  std::string cur;
  for (size_t i = 0; i < n && args.size() < 64; ++i) {
    if (d[i] == 0) {
      args.push_back(cur);
      cur.clear();
    } else {
      cur += char(d[i]);
    }
  }
  if (!cur.empty()) args.push_back(cur);
  std::vector<char*> argv;
  for (std::string& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  using apps::UsageError;
  try {
    static const std::set<std::string> kValued = apps::with(
        {"data", "mode", "epochs", "batch", "lr", "size", "lambdas", "seed", "threads", "classes", "workers", "out",
         "resume", "max-steps", "k", "refs"},
        apps::kDeviceValued);
    static const std::set<std::string> kFlags = apps::with({"skip-bad", "quiet"}, apps::kDeviceFlags);
    const apps::ParsedArgs p = apps::parse_args(int(args.size()), argv.data(), 1, kValued, kFlags, true, "train");
    pipeline::TrainConfig cfg;
    for (const auto& kv : p.opts) {
      const std::string& k = kv.first;
      const std::string& v = kv.second;
      if (k == "epochs" || k == "batch" || k == "threads" || k == "classes" || k == "workers" || k == "k")
        apps::parse_long(k, v, 0, 100000);
      else if (k == "seed") apps::parse_long(k, v, 0, 0x7fffffffffffffffL);
      else if (k == "size") apps::as_usage_error([&] { pipeline::parse_size(v, &cfg.height, &cfg.width); });
      else if (k == "lambdas") apps::as_usage_error([&] { pipeline::parse_lambdas(v, &cfg.l1, &cfg.l2, &cfg.l3); });
      else if (k == "refs") apps::split_csv(v);
      else if (k == "mode") cfg.mode = v;
    }
    apps::parse_device_choice(p);
    cfg.data_root = "x";
    cfg.out = "y";
    apps::as_usage_error([&] { cfg.validate(); });
    return true;
  } catch (const UsageError&) {
    return false;
  }
}

}  // namespace

const std::vector<Target>& targets() {
  static const std::vector<Target> kTargets = {
      {"safetensors", "safetensors reader (weights, checkpoints)", run_safetensors, seeds_safetensors},
      {"image", "PNG/JPEG/BMP/GIF decoders as read_image/read_mask call them", run_image, seeds_image},
      {"dataset", "dataset scanner over a generated folder tree", run_dataset, seeds_dataset},
      {"bank", "LRIS reference-bank reader", run_bank, seeds_bank},
      {"config", "run config / log.jsonl / manifest JSON readers", run_config, seeds_config},
      {"cli", "command-line option parser", run_cli, seeds_cli},
  };
  return kTargets;
}

const Target* find_target(const std::string& name) {
  for (const Target& t : targets())
    if (name == t.name) return &t;
  return nullptr;
}

}  // namespace cq::fuzz
