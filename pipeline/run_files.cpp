#include "pipeline/run_files.h"

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <limits>
#include <sstream>

#include "kernels/conv2d/winograd.h"
#include "kernels/matmul/gemm.h"
#include "tensor/error.h"

namespace cq::pipeline {
namespace {

json::Value num(double d) { return json::Value::number(d); }  // NaN/inf dump as null
double num_of(const json::Value& v, const char* key) {
  const json::Value* x = v.find(key);
  if (!x || x->is_null()) return std::numeric_limits<double>::quiet_NaN();
  return x->as_number();
}

std::string trim(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r' || s.back() == ' ')) s.pop_back();
  return s;
}

}  // namespace

json::Value EpochRecord::to_json() const {
  json::Value v = json::Value::object();
  v.set("epoch", num(epoch));
  v.set("train_loss", num(train_loss));
  v.set("train_dc1", num(train_dc1));
  v.set("train_dc2", num(train_dc2));
  v.set("train_mse", num(train_mse));
  v.set("val_loss", num(val_loss));
  v.set("val_dice", num(val_dice));
  v.set("val_dice_mean", num(val_dice_mean));
  v.set("seconds", num(seconds));
  v.set("steps", num(steps));
  v.set("steps_per_s", num(steps_per_s));
  v.set("best", json::Value::boolean(best));
  return v;
}

EpochRecord EpochRecord::from_json(const json::Value& v) {
  EpochRecord r;
  r.epoch = int(v.find("epoch") ? v.find("epoch")->as_uint() : 0);
  r.train_loss = num_of(v, "train_loss");
  r.train_dc1 = num_of(v, "train_dc1");
  r.train_dc2 = num_of(v, "train_dc2");
  r.train_mse = num_of(v, "train_mse");
  r.val_loss = num_of(v, "val_loss");
  r.val_dice = num_of(v, "val_dice");
  r.val_dice_mean = num_of(v, "val_dice_mean");
  r.seconds = num_of(v, "seconds");
  r.steps = int(v.find("steps") ? v.find("steps")->as_uint() : 0);
  r.steps_per_s = num_of(v, "steps_per_s");
  r.best = v.find("best") && v.find("best")->as_bool();
  return r;
}

bool file_exists(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0;
}

void make_dirs(const std::string& dir) {
  std::string cur;
  std::stringstream ss(dir);
  std::string part;
  if (!dir.empty() && dir[0] == '/') cur = "/";
  while (std::getline(ss, part, '/')) {
    if (part.empty()) continue;
    cur += part + "/";
    if (::mkdir(cur.c_str(), 0777) != 0 && errno != EEXIST)
      fail("cannot create directory '", cur, "': ", std::strerror(errno));
  }
  struct stat st;
  CQ_CHECK(::stat(dir.c_str(), &st) == 0 && S_ISDIR(st.st_mode), "'", dir, "' is not a directory");
}

void check_writable_dir(const std::string& dir) {
  const std::string probe = dir + "/.cqseg_write_probe";
  std::FILE* f = std::fopen(probe.c_str(), "wb");
  if (!f) fail("output folder '", dir, "' is not writable: ", std::strerror(errno));
  // A few KiB, flushed to the device: a full disk fails here, not after the first epoch.
  const std::string block(4096, '\n');
  bool ok = std::fwrite(block.data(), 1, block.size(), f) == block.size() && std::fflush(f) == 0;
  const int e = ok ? 0 : errno;
  ok = (std::fclose(f) == 0) && ok;
  std::remove(probe.c_str());
  if (!ok) fail("output folder '", dir, "' cannot be written to: ", std::strerror(e ? e : errno), " (disk full?)");
}

int64_t peak_rss_bytes() {
  std::ifstream f("/proc/self/status");
  std::string line;
  while (std::getline(f, line))
    if (line.rfind("VmHWM:", 0) == 0) return int64_t(std::strtoll(line.c_str() + 6, nullptr, 10)) * 1024;
  return 0;
}

void write_text_atomic(const std::string& path, const std::string& text) {
  const std::string tmp = path + ".tmp";
  std::FILE* f = std::fopen(tmp.c_str(), "wb");
  if (!f) fail("cannot write '", tmp, "': ", std::strerror(errno));
  // Flushed to the device before the rename, so after a crash the name holds the old or the new text, whole.
  const bool ok = std::fwrite(text.data(), 1, text.size(), f) == text.size() && std::fflush(f) == 0 &&
                  ::fsync(::fileno(f)) == 0;
  const bool closed = std::fclose(f) == 0;
  if (!ok || !closed) {
    std::remove(tmp.c_str());
    fail("write error on '", tmp, "' (disk full?)");
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    const int e = errno;
    std::remove(tmp.c_str());
    fail("cannot rename '", tmp, "' to '", path, "': ", std::strerror(e));
  }
}

std::string read_text(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) fail("cannot read '", path, "'");
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

std::string log_jsonl(const std::vector<EpochRecord>& records) {
  std::string s;
  for (const EpochRecord& r : records) s += json::dump(r.to_json()) + "\n";
  return s;
}

std::vector<EpochRecord> parse_log_jsonl(const std::string& text, const std::string& path) {
  std::vector<EpochRecord> out;
  std::stringstream ss(text);
  std::string line;
  int n = 0;
  while (std::getline(ss, line)) {
    ++n;
    if (trim(line).empty()) continue;
    try {
      out.push_back(EpochRecord::from_json(json::parse(line)));
    } catch (const Error& e) {
      fail(path, " line ", n, ": ", e.what());
    }
  }
  return out;
}

std::string loss_curve_svg(const std::vector<EpochRecord>& records, const std::string& title) {
  const double W = 640, H = 400, left = 70, right = 130, top = 40, bottom = 50;
  const double pw = W - left - right, ph = H - top - bottom;
  double lo = std::numeric_limits<double>::infinity(), hi = -lo;
  for (const EpochRecord& r : records)
    for (double v : {r.train_loss, r.val_loss})
      if (std::isfinite(v)) lo = std::min(lo, v), hi = std::max(hi, v);
  if (!std::isfinite(lo)) lo = 0, hi = 1;
  if (hi - lo < 1e-9) lo -= 0.5, hi += 0.5;
  const double pad = 0.05 * (hi - lo);
  lo = std::max(0.0, lo - pad), hi += pad;
  const int max_epoch = records.empty() ? 1 : std::max(1, records.back().epoch);
  auto X = [&](double e) { return left + (max_epoch <= 1 ? pw / 2 : pw * (e - 1) / (max_epoch - 1)); };
  auto Y = [&](double v) { return top + ph * (1 - (v - lo) / (hi - lo)); };
  std::ostringstream o;
  o.setf(std::ios::fixed);
  o.precision(2);
  o << "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" << W << "\" height=\"" << H << "\" viewBox=\"0 0 " << W
    << " " << H << "\" font-family=\"sans-serif\" font-size=\"12\">\n";
  o << "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n";
  std::string t;
  for (char c : title) t += c == '<' ? std::string("&lt;") : c == '&' ? std::string("&amp;") : std::string(1, c);
  o << "<text x=\"" << W / 2 << "\" y=\"22\" text-anchor=\"middle\" font-size=\"14\">" << t << "</text>\n";
  o << "<rect x=\"" << left << "\" y=\"" << top << "\" width=\"" << pw << "\" height=\"" << ph
    << "\" fill=\"none\" stroke=\"#333\"/>\n";
  for (int i = 0; i <= 4; ++i) {  // y ticks with labels
    const double v = lo + (hi - lo) * i / 4.0;
    o << "<line x1=\"" << left << "\" x2=\"" << left + pw << "\" y1=\"" << Y(v) << "\" y2=\"" << Y(v)
      << "\" stroke=\"#ddd\"/>\n";
    o.precision(3);
    o << "<text x=\"" << left - 6 << "\" y=\"" << Y(v) + 4 << "\" text-anchor=\"end\">" << v << "</text>\n";
    o.precision(2);
  }
  const int step = std::max(1, max_epoch / 10);
  for (int e = 1; e <= max_epoch; e += step)
    o << "<text x=\"" << X(e) << "\" y=\"" << top + ph + 18 << "\" text-anchor=\"middle\">" << e << "</text>\n";
  o << "<text x=\"" << left + pw / 2 << "\" y=\"" << H - 12 << "\" text-anchor=\"middle\">epoch</text>\n";
  o << "<text x=\"18\" y=\"" << top + ph / 2 << "\" text-anchor=\"middle\" transform=\"rotate(-90 18 " << top + ph / 2
    << ")\">loss</text>\n";
  struct Series {
    const char* name;
    const char* colour;
    double EpochRecord::*field;
  };
  const Series series[] = {{"train", "#1f77b4", &EpochRecord::train_loss}, {"validation", "#d62728", &EpochRecord::val_loss}};
  int row = 0;
  for (const Series& s : series) {
    std::ostringstream pts;
    pts.setf(std::ios::fixed);
    pts.precision(2);
    for (const EpochRecord& r : records)
      if (std::isfinite(r.*s.field)) pts << X(r.epoch) << "," << Y(r.*s.field) << " ";
    o << "<polyline class=\"" << s.name << "\" fill=\"none\" stroke=\"" << s.colour << "\" stroke-width=\"2\" points=\""
      << pts.str() << "\"/>\n";
    for (const EpochRecord& r : records)
      if (std::isfinite(r.*s.field))
        o << "<circle cx=\"" << X(r.epoch) << "\" cy=\"" << Y(r.*s.field) << "\" r=\"3\" fill=\"" << s.colour
          << "\"/>\n";
    const double ly = top + 14 + 20 * row++;
    o << "<line x1=\"" << left + pw + 12 << "\" x2=\"" << left + pw + 36 << "\" y1=\"" << ly << "\" y2=\"" << ly
      << "\" stroke=\"" << s.colour << "\" stroke-width=\"2\"/>\n";
    o << "<text x=\"" << left + pw + 42 << "\" y=\"" << ly + 4 << "\">" << s.name << "</text>\n";
  }
  o << "</svg>\n";
  return o.str();
}

namespace {

std::string dirname_of(const std::string& p) {
  const size_t s = p.find_last_of('/');
  if (s == std::string::npos) return ".";
  return s == 0 ? "/" : p.substr(0, s);
}

bool read_line(const std::string& path, std::string* out) {
  std::ifstream f(path);
  if (!f) return false;
  std::getline(f, *out);
  *out = trim(*out);
  return true;
}

bool is_sha(const std::string& s) {
  return s.size() == 40 && std::all_of(s.begin(), s.end(), [](char c) { return std::isxdigit((unsigned char)c); });
}

}  // namespace

std::string git_revision(const std::string& start_dir) {
  std::string dir = start_dir.empty() ? "." : start_dir;
  std::string gitdir;
  for (int depth = 0; depth < 64; ++depth) {
    struct stat st;
    const std::string g = dir + "/.git";
    if (::stat(g.c_str(), &st) == 0) {
      if (S_ISDIR(st.st_mode)) {
        gitdir = g;
      } else {
        std::string line;  // a worktree or submodule: "gitdir: <path>"
        if (!read_line(g, &line) || line.rfind("gitdir: ", 0) != 0) return "unknown";
        gitdir = line.substr(8);
        if (!gitdir.empty() && gitdir[0] != '/') gitdir = dir + "/" + gitdir;
      }
      break;
    }
    char real[4096];
    if (!::realpath(dir.c_str(), real)) return "unknown";
    if (std::string(real) == "/") return "unknown";
    dir = dirname_of(real);
  }
  if (gitdir.empty()) return "unknown";
  std::string head;
  if (!read_line(gitdir + "/HEAD", &head)) return "unknown";
  if (is_sha(head)) return head;  // detached
  if (head.rfind("ref: ", 0) != 0) return "unknown";
  const std::string ref = head.substr(5);
  // Worktrees keep per-worktree HEAD but share refs with the main repository ("commondir").
  std::string common = gitdir, c;
  if (read_line(gitdir + "/commondir", &c)) common = c[0] == '/' ? c : gitdir + "/" + c;
  for (const std::string& base : {gitdir, common}) {
    std::string sha;
    if (read_line(base + "/" + ref, &sha) && is_sha(sha)) return sha;
  }
  std::ifstream packed(common + "/packed-refs");
  std::string line;
  while (std::getline(packed, line)) {
    line = trim(line);
    if (line.size() > 41 && line[40] == ' ' && line.substr(41) == ref && is_sha(line.substr(0, 40)))
      return line.substr(0, 40);
  }
  return "unknown";
}

json::Value build_info() {
  json::Value v = json::Value::object();
#if defined(__clang__)
  v.set("compiler", json::Value::string(std::string("clang ") + __clang_version__));
#elif defined(__GNUC__)
  v.set("compiler", json::Value::string(std::string("gcc ") + __VERSION__));
#else
  v.set("compiler", json::Value::string("unknown"));
#endif
#if defined(CQ_CUDA)
  v.set("cq_cuda", json::Value::boolean(true));
#else
  v.set("cq_cuda", json::Value::boolean(false));
#endif
  // CMake's build type is not compiled in; these two flags are what distinguish Release from Debug builds.
#if defined(NDEBUG)
  v.set("ndebug", json::Value::boolean(true));
#else
  v.set("ndebug", json::Value::boolean(false));
#endif
#if defined(__OPTIMIZE__)
  v.set("optimized", json::Value::boolean(true));
#else
  v.set("optimized", json::Value::boolean(false));
#endif
  v.set("build_type", json::Value::string(
#if defined(NDEBUG) && defined(__OPTIMIZE__)
                          "Release"
#elif defined(__OPTIMIZE__)
                          "optimized with assertions"
#else
                          "Debug"
#endif
                          ));
  v.set("cplusplus", json::Value::number(double(__cplusplus)));
  v.set("source_revision", json::Value::string(build_source_revision()));
  v.set("source_modified", json::Value::boolean(build_source_modified()));
  return v;
}

json::Value numerics_info() {
  json::Value v = json::Value::object();
  v.set("cpu_isa", json::Value::string(kernels::cpu_isa_name(kernels::cpu_isa())));
  v.set("conv_winograd", json::Value::boolean(kernels::winograd::enabled()));
  return v;
}

}  // namespace cq::pipeline
