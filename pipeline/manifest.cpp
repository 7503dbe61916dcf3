#include "pipeline/manifest.h"

#include <unistd.h>

#include <ctime>

#include "data/sha256.h"
#include "pipeline/run_files.h"

namespace cq::pipeline {
namespace {

std::string relative_to(const std::string& path, const std::string& root) {
  std::string r = root;
  while (r.size() > 1 && r.back() == '/') r.pop_back();
  if (path.size() > r.size() && path.compare(0, r.size(), r) == 0 && path[r.size()] == '/')
    return path.substr(r.size() + 1);
  return path;
}

json::Value hash_split(const data::Dataset& ds, const std::string& root) {
  json::Value files = json::Value::array();
  for (const data::SampleFiles& f : ds.all_files())
    for (const std::string* p : {&f.image, &f.mask, &f.fov}) {
      if (p->empty()) continue;
      json::Value e = json::Value::object();
      e.set("file", json::Value::string(relative_to(*p, root)));
      e.set("sha256", json::Value::string(data::sha256_file(*p)));
      files.push(std::move(e));
    }
  json::Value v = json::Value::object();
  v.set("dir", json::Value::string(ds.dir()));
  v.set("samples", json::Value::number(double(ds.size())));
  v.set("files", std::move(files));
  json::Value warn = json::Value::array();
  for (const std::string& w : ds.warnings()) warn.push(json::Value::string(w));
  v.set("warnings", std::move(warn));
  return v;
}

std::string now_utc() {
  std::time_t t = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

}  // namespace

std::string source_revision() {
  const std::string rev = build_source_revision();
  if (rev != "unknown") return rev;
  char exe[4096];
  const ssize_t n = ::readlink("/proc/self/exe", exe, sizeof exe - 1);
  if (n <= 0) return rev;
  std::string p(exe, size_t(n));
  return git_revision(p.substr(0, p.find_last_of('/')));
}

json::Value make_manifest(const TrainConfig& cfg, const data::Loader& train, const data::Loader& val, int threads) {
  json::Value m = json::Value::object();
  m.set("program", json::Value::string("cqseg train"));
  m.set("version", json::Value::string("0.1.0"));
  m.set("created", json::Value::string(now_utc()));
  m.set("config", cfg.to_json());
  m.set("git_revision", json::Value::string(source_revision()));
  m.set("build", build_info());
  m.set("numerics", numerics_info());
  m.set("threads", json::Value::number(threads));
  m.set("workers", json::Value::number(cfg.workers));
  json::Value d = json::Value::object();
  d.set("train", hash_split(train.dataset(), cfg.data_root));
  d.set("val", hash_split(val.dataset(), cfg.data_root));
  m.set("data", std::move(d));
  if (cfg.init_weights.empty()) {
    m.set("init_weights", json::Value());
  } else {
    json::Value w = json::Value::object();
    w.set("file", json::Value::string(cfg.init_weights));
    w.set("sha256", json::Value::string(data::sha256_file(cfg.init_weights)));
    m.set("init_weights", std::move(w));
  }
  m.set("resumes", json::Value::array());
  return m;
}

void write_manifest(const TrainConfig& cfg, const data::Loader& train, const data::Loader& val, int threads) {
  write_text_atomic(cfg.out + "/manifest.json", json::dump(make_manifest(cfg, train, val, threads), 2) + "\n");
}

void note_resume(const TrainConfig& cfg, int64_t at_epoch, int threads) {
  const std::string path = cfg.out + "/manifest.json";
  json::Value m = json::Value::object();
  if (file_exists(path)) m = json::parse(read_text(path));
  if (!m.find("resumes") || !m.find("resumes")->is_array()) m.set("resumes", json::Value::array());
  json::Value r = json::Value::object();
  r.set("at_epoch", json::Value::number(double(at_epoch)));
  r.set("epochs", json::Value::number(cfg.epochs));
  r.set("threads", json::Value::number(threads));
  r.set("workers", json::Value::number(cfg.workers));
  r.set("git_revision", json::Value::string(source_revision()));
  r.set("time", json::Value::string(now_utc()));
  json::Value resumes = *m.find("resumes");
  resumes.push(std::move(r));
  m.set("resumes", std::move(resumes));
  write_text_atomic(path, json::dump(m, 2) + "\n");
}

}  // namespace cq::pipeline
