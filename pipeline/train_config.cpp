#include "pipeline/train_config.h"

#include <cmath>
#include <cstdlib>
#include <set>
#include <sstream>

#include "tensor/error.h"

namespace cq::pipeline {
namespace {

bool parse_int(const std::string& s, long* out) {
  if (s.empty()) return false;
  char* end = nullptr;
  errno = 0;
  const long v = std::strtol(s.c_str(), &end, 10);
  if (errno != 0 || *end != '\0') return false;
  *out = v;
  return true;
}

}  // namespace

void parse_size(const std::string& text, int* h, int* w) {
  const size_t x = text.find('x');
  long a = 0, b = 0;
  if (x == std::string::npos || !parse_int(text.substr(0, x), &a) || !parse_int(text.substr(x + 1), &b) || a <= 0 ||
      b <= 0 || a > 16384 || b > 16384)
    fail("size '", text, "' is not HEIGHTxWIDTH with two positive integers (e.g. 512x768)");
  *h = int(a);
  *w = int(b);
}

void parse_lambdas(const std::string& text, double* l1, double* l2, double* l3) {
  double v[3];
  std::stringstream ss(text);
  std::string item;
  int n = 0;
  while (std::getline(ss, item, ',')) {
    char* end = nullptr;
    const double d = item.empty() ? NAN : std::strtod(item.c_str(), &end);
    if (n >= 3 || item.empty() || *end != '\0' || !std::isfinite(d) || d < 0)
      fail("lambdas '", text, "' must be three non-negative numbers l1,l2,l3 (e.g. 0.3,0.7,1.0)");
    v[n++] = d;
  }
  if (n != 3) fail("lambdas '", text, "' must be three non-negative numbers l1,l2,l3 (e.g. 0.3,0.7,1.0)");
  *l1 = v[0], *l2 = v[1], *l3 = v[2];
}

void TrainConfig::validate() const {
  CQ_CHECK(!data_root.empty(), "train: --data is required");
  CQ_CHECK(!out.empty(), "train: --out RUN_DIR is required");
  CQ_CHECK(mode == "base" || mode == "aug" || mode == "cqg", "train: --mode must be base, aug or cqg, got '", mode,
           "'");
  CQ_CHECK(classes >= 2 && classes <= 255, "train: --classes must be in 2..255, got ", classes);
  CQ_CHECK(epochs >= 1, "train: --epochs must be >= 1, got ", epochs);
  CQ_CHECK(batch >= 1, "train: --batch must be >= 1, got ", batch);
  CQ_CHECK(std::isfinite(lr) && lr > 0, "train: --lr must be a positive number, got ", lr);
  if (native_size)
    CQ_CHECK((height == 0 && width == 0) || (height > 0 && width > 0 && height <= 16384 && width <= 16384),
             "train: a native-size run records its images' size, got ", height, "x", width);
  else
    CQ_CHECK(height > 0 && width > 0 && height % 32 == 0 && width % 32 == 0, "train: --size must be multiples of 32 "
             "(the U-Net downsamples 5 times) or native, got ", height, "x", width);
  CQ_CHECK(std::isfinite(l1) && std::isfinite(l2) && std::isfinite(l3) && l1 >= 0 && l2 >= 0 && l3 >= 0,
           "train: --lambdas must be non-negative");
  CQ_CHECK(threads >= 0 && threads <= 1024, "train: --threads must be in 0..1024, got ", threads);
  CQ_CHECK(workers >= 0 && workers <= 64, "train: --workers must be in 0..64, got ", workers);
  compute_options();  // throws on a bad precision
  Device::parse(device);
  CQ_CHECK(max_steps >= 0 && max_val_batches >= 0, "train: step limits must be >= 0");
  CQ_CHECK(bn == "batch" || bn == "sync" || bn == "frozen", "train: --bn must be batch, sync or frozen, got '", bn,
           "'");
  CQ_CHECK(std::isfinite(drop_connect) && drop_connect >= 0 && drop_connect < 1,
           "train: --drop-connect must be in [0, 1), got ", drop_connect);
}

ComputeOptions TrainConfig::compute_options() const {
  ComputeOptions c;
  c.precision = parse_precision(precision);
  CQ_CHECK(c.precision != Precision::bf16, "train: precision bf16 is not implemented; use fp32 or tf32");
  c.deterministic = deterministic;
  return c;
}

json::Value TrainConfig::to_json() const {
  json::Value v = json::Value::object();
  v.set("data_root", json::Value::string(data_root));
  v.set("train_domain", json::Value::string(train_domain));
  v.set("train_split", json::Value::string(train_split));
  v.set("val_split", json::Value::string(val_split));
  v.set("mode", json::Value::string(mode));
  v.set("model", json::Value::string(model));
  v.set("classes", json::Value::number(classes));
  v.set("epochs", json::Value::number(epochs));
  v.set("batch", json::Value::number(batch));
  v.set("lr", json::Value::number(lr));
  v.set("height", json::Value::number(height));
  v.set("width", json::Value::number(width));
  v.set("native_size", json::Value::boolean(native_size));
  v.set("lambdas", json::Value::array({json::Value::number(l1), json::Value::number(l2), json::Value::number(l3)}));
  // As a string: a u64 seed can exceed the 2^53 a JSON number holds exactly.
  v.set("seed", json::Value::string(std::to_string(seed)));
  v.set("threads", json::Value::number(threads));
  v.set("workers", json::Value::number(workers));
  v.set("device", json::Value::string(device));
  v.set("precision", json::Value::string(precision));
  v.set("deterministic", json::Value::boolean(deterministic));
  v.set("skip_bad", json::Value::boolean(skip_bad));
  v.set("init_weights", json::Value::string(init_weights));
  v.set("out", json::Value::string(out));
  v.set("max_steps", json::Value::number(max_steps));
  v.set("max_val_batches", json::Value::number(max_val_batches));
  v.set("bn", json::Value::string(bn));
  v.set("drop_connect", json::Value::number(drop_connect));
  v.set("precise_bn", json::Value::boolean(precise_bn));
  return v;
}

TrainConfig TrainConfig::from_json(const json::Value& v) {
  CQ_CHECK(v.is_object(), "train config: expected a JSON object");
  TrainConfig c;
  const std::set<std::string> known = {"data_root", "train_domain", "train_split", "val_split", "mode", "model",
                                       "classes", "epochs", "batch", "lr", "height", "width", "native_size", "lambdas", "seed",
                                       "threads", "workers", "device", "precision", "deterministic", "skip_bad", "init_weights", "out", "max_steps",
                                       "max_val_batches", "bn", "drop_connect", "precise_bn"};
  for (const auto& kv : v.as_object())
    CQ_CHECK(known.count(kv.first), "train config: unknown key '", kv.first, "'");
  auto str = [&](const char* k, std::string& dst) {
    if (const json::Value* x = v.find(k)) dst = x->as_string();
  };
  auto integer = [&](const char* k, int& dst) {
    if (const json::Value* x = v.find(k)) dst = int(x->as_uint());
  };
  str("data_root", c.data_root);
  str("train_domain", c.train_domain);
  str("train_split", c.train_split);
  str("val_split", c.val_split);
  str("mode", c.mode);
  str("model", c.model);
  integer("classes", c.classes);
  integer("epochs", c.epochs);
  integer("batch", c.batch);
  if (const json::Value* x = v.find("lr")) c.lr = x->as_number();
  integer("height", c.height);
  integer("width", c.width);
  if (const json::Value* x = v.find("native_size")) c.native_size = x->as_bool();  // absent: older fixed-size runs
  if (const json::Value* x = v.find("lambdas")) {
    const auto& a = x->as_array();
    CQ_CHECK(a.size() == 3, "train config: lambdas must have 3 entries");
    c.l1 = a[0].as_number(), c.l2 = a[1].as_number(), c.l3 = a[2].as_number();
  }
  if (const json::Value* x = v.find("seed")) {
    const std::string& s = x->as_string();
    char* end = nullptr;
    c.seed = std::strtoull(s.c_str(), &end, 10);
    CQ_CHECK(!s.empty() && *end == '\0', "train config: bad seed '", s, "'");
  }
  integer("threads", c.threads);
  integer("workers", c.workers);
  str("device", c.device);  // absent in checkpoints older than the CUDA options: the defaults (cpu, fp32) apply
  str("precision", c.precision);
  if (const json::Value* x = v.find("deterministic")) c.deterministic = x->as_bool();
  if (const json::Value* x = v.find("skip_bad")) c.skip_bad = x->as_bool();
  str("init_weights", c.init_weights);
  str("out", c.out);
  integer("max_steps", c.max_steps);
  integer("max_val_batches", c.max_val_batches);
  str("bn", c.bn);  // absent in checkpoints older than the option: batch statistics, as they were trained
  if (const json::Value* x = v.find("drop_connect")) c.drop_connect = x->as_number();
  if (const json::Value* x = v.find("precise_bn")) c.precise_bn = x->as_bool();  // absent in older runs: off
  return c;
}

}  // namespace cq::pipeline
