// cqseg bench: end-to-end timings of the training step, inference, the LRIS embedder and full DCIN, next to the
// PyTorch peers when /usr/bin/python3 has torch (issue #6). Each measurement runs in a child process of its own
// (this binary with the hidden --item option, or the peer script), so the peak RSS wait4() reports is that item's
// alone; ours and the peer alternate item by item so machine noise hits both alike.
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include "apps/bench_items.h"
#include "apps/cli_args.h"
#include "apps/commands.h"
#include "nn/json.h"
#include "pipeline/run_files.h"
#include "tensor/error.h"

namespace cq::apps {
namespace {
namespace fs = std::filesystem;

const char* kHelp =
    "usage: cqseg bench [--quick] [--threads N] [--reps R] [--out DIR] [--items A,B] [--no-peer]\n"
    "                   [--peer-layout nhwc|nchw|both]\n"
    "\n"
    "Times, as medians of R repetitions after warm-up, with the peak RSS of each item's process:\n"
    "  unet_train_base  U-Net EfficientNet-B2 training step (forward, DC loss, backward, Adam), batch 2, 256x256, K=5\n"
    "  unet_train_cqg   the CQG step (two forward passes, CQG loss, backward, Adam), same sizes\n"
    "  unet_eval        U-Net inference at 1x3x512x768\n"
    "  swin_embed       Swin-V2-T embedding at 256x256\n"
    "  dcin_full        full DCIN (GRIS + LRIS + ensemble) on one 584x565 image with a 512x768 model\n"
    "When /usr/bin/python3 (or $CQ_PYTHON) imports torch, torchvision and cv2, the PyTorch peers run in the same\n"
    "sitting, alternating with ours: ../shared/peers/torch_unet.py (train, cqg, eval; both memory layouts, the\n"
    "faster counts), bench/peers/torch_swin.py and bench/peers/torch_dcin.py. The shared folder is $CQ_SHARED, else\n"
    "../shared beside the source tree. Prints a markdown table (item, medians, ratio cqseg/peer, peak RSS) and\n"
    "writes DIR/bench.json and DIR/bench.md. The microbenchmarks are the cq_bench program (bench/*_bench.cpp);\n"
    "tools/perf_report.sh runs everything and regenerates docs/PERFORMANCE.md's tables.\n"
    "\n"
    "options:\n"
    "  --quick        small sizes (train 64x64, inference 128x192, DCIN 128x192), no warm-up: a smoke run\n"
    "  --threads N    compute threads for ours and the peer, 0 = all cores               [0]\n"
    "  --reps R       timed repetitions per item                                          [5]\n"
    "  --out DIR      where bench.json and bench.md go                                   [bench_out]\n"
    "  --items LIST   comma-separated subset of the items above                          [all]\n"
    "  --no-peer      ours only\n"
    "  --peer-layout  memory layout(s) of the U-Net peer                                 [both]\n";

struct Proc {
  int code = -1;
  std::string out;     // stdout and stderr together
  double rss_mib = 0;  // the child's peak RSS (wait4)
};

// Runs argv as a child with extra environment variables, collecting its output and peak RSS.
Proc spawn(const std::vector<std::string>& argv, const std::vector<std::pair<std::string, std::string>>& env) {
  int fds[2];
  CQ_CHECK(::pipe(fds) == 0, "bench: pipe failed: ", std::strerror(errno));
  std::fflush(nullptr);
  const pid_t pid = ::fork();
  CQ_CHECK(pid >= 0, "bench: fork failed: ", std::strerror(errno));
  if (pid == 0) {
    ::dup2(fds[1], 1);
    ::dup2(fds[1], 2);
    ::close(fds[0]);
    ::close(fds[1]);
    for (const auto& kv : env) ::setenv(kv.first.c_str(), kv.second.c_str(), 1);
    std::vector<char*> a;
    for (const auto& s : argv) a.push_back(const_cast<char*>(s.c_str()));
    a.push_back(nullptr);
    ::execvp(a[0], a.data());
    std::fprintf(stderr, "cannot run %s: %s\n", a[0], std::strerror(errno));
    ::_exit(127);
  }
  ::close(fds[1]);
  Proc p;
  char buf[4096];
  ssize_t n;
  while ((n = ::read(fds[0], buf, sizeof buf)) > 0 || (n < 0 && errno == EINTR))
    if (n > 0) p.out.append(buf, size_t(n));
  ::close(fds[0]);
  int st = 0;
  struct rusage ru {};
  while (::wait4(pid, &st, 0, &ru) < 0 && errno == EINTR) {
  }
  p.code = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + (WIFSIGNALED(st) ? WTERMSIG(st) : 0);
  p.rss_mib = double(ru.ru_maxrss) / 1024.0;  // KiB on Linux
  return p;
}

std::string self_exe() {
  char buf[4096];
  const ssize_t n = ::readlink("/proc/self/exe", buf, sizeof buf - 1);
  CQ_CHECK(n > 0, "bench: cannot read /proc/self/exe");
  return std::string(buf, size_t(n));
}

bool exists(const std::string& p) {
  std::error_code ec;
  return fs::exists(p, ec);
}

// The source tree: the first folder above the binary (build/<preset>/cqseg) that holds bench/peers.
std::string source_dir() {
  fs::path d = fs::path(self_exe()).parent_path();
  for (int i = 0; i < 5 && !d.empty(); ++i, d = d.parent_path())
    if (exists((d / "bench/peers/torch_swin.py").string())) return d.string();
  return "";
}

std::string last_lines(const std::string& s, int k) {
  size_t pos = s.size();
  for (int i = 0; i <= k && pos != std::string::npos && pos > 0; ++i) pos = s.rfind('\n', pos - 1);
  return pos == std::string::npos ? s : s.substr(pos + 1);
}

// The number after the last "median" in a peer's output ("median 412.3 ms", "median_ms 412.3"); < 0 if none.
double parse_median(const std::string& out) {
  const size_t at = out.rfind("median");
  if (at == std::string::npos) return -1;
  size_t i = at + 6;
  while (i < out.size() && (out[i] == '_' || out[i] == ' ' || std::isalpha(static_cast<unsigned char>(out[i])))) ++i;
  char* end = nullptr;
  const double v = std::strtod(out.c_str() + i, &end);
  return end == out.c_str() + i ? -1 : v;
}

double median(std::vector<double> v) {
  if (v.empty()) return -1;
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

struct Run {
  std::string label;  // peer: layout or script; ours: "cqseg"
  double median_ms = -1, min_ms = -1, max_ms = -1, rss_mib = 0, alloc_peak_mib = -1;
  std::vector<double> ms;
  std::string error;
};

// Ours: this binary in --item mode, which prints "CQBENCH ms=a,b,c alloc_peak_mib=x".
Run run_ours(const std::string& item, int threads, int reps, bool quick) {
  std::vector<std::string> argv = {self_exe(), "bench", "--item", item, "--threads", std::to_string(threads),
                                   "--reps", std::to_string(reps)};
  if (quick) argv.push_back("--quick");
  const Proc p = spawn(argv, {});
  Run r;
  r.label = "cqseg";
  r.rss_mib = p.rss_mib;
  const size_t at = p.out.rfind("CQBENCH ms=");
  if (p.code != 0 || at == std::string::npos) fail("bench: item ", item, " failed (exit ", p.code, "):\n", p.out);
  const char* s = p.out.c_str() + at + 11;
  char* end = nullptr;
  while (true) {
    r.ms.push_back(std::strtod(s, &end));
    if (*end != ',') break;
    s = end + 1;
  }
  const size_t ap = p.out.find("alloc_peak_mib=", at);
  if (ap != std::string::npos) r.alloc_peak_mib = std::strtod(p.out.c_str() + ap + 15, nullptr);
  r.median_ms = median(r.ms);
  r.min_ms = *std::min_element(r.ms.begin(), r.ms.end());
  r.max_ms = *std::max_element(r.ms.begin(), r.ms.end());
  return r;
}

struct PeerCmd {
  std::string label;
  std::vector<std::string> argv;
};

struct Setup {
  int threads = 0, reps = 5;
  bool quick = false, peer = true;
  std::vector<std::string> layouts = {"nhwc", "nchw"};
  std::string python, shared, source;
};

std::vector<PeerCmd> peer_cmds(const std::string& item, const Setup& s) {
  const std::string T = std::to_string(s.threads), R = std::to_string(s.reps);
  const std::string unet = s.shared + "/peers/torch_unet.py";
  const bench::Sizes z = bench::item_sizes(s.quick);
  auto hw = [](int h, int w) { return std::to_string(h) + "x" + std::to_string(w); };
  const std::string train_hw = hw(z.train_h, z.train_w), eval_hw = hw(z.eval_h, z.eval_w);
  std::vector<PeerCmd> out;
  if (item == "unet_train_base" || item == "unet_train_cqg" || item == "unet_eval") {
    const bool eval = item == "unet_eval";
    const std::string mode = eval ? "eval" : item == "unet_train_cqg" ? "cqg" : "train";
    for (const auto& l : s.layouts)
      out.push_back({l, {s.python, unet, "--mode", mode, "--batch", eval ? "1" : "2", "--hw", eval ? eval_hw : train_hw,
                         "--classes", "5", "--threads", T, "--reps", R, "--layout", l}});
  } else if (item == "swin_embed") {
    out.push_back({"torch_swin", {s.python, s.source + "/bench/peers/torch_swin.py", "--threads", T, "--hw",
                                  std::to_string(z.swin), "--reps", R}});
  } else if (item == "dcin_full") {
    out.push_back({"torch_dcin", {s.python, s.source + "/bench/peers/torch_dcin.py", "--threads", T, "--reps", R,
                                  "--model-hw", hw(z.dcin_h, z.dcin_w), "--image-hw", hw(z.img_h, z.img_w),
                                  "--bank", std::to_string(z.bank)}});
  }
  return out;
}

// The peer script's path (argv[1]) must exist; a missing one is a message, not a failure.
Run run_peer(const PeerCmd& c, const Setup& s) {
  Run r;
  r.label = c.label;
  if (!exists(c.argv[1])) {
    r.error = "peer script " + c.argv[1] + " not found (set CQ_SHARED to the shared folder)";
    return r;
  }
  const Proc p = spawn(c.argv, {{"OPENBLAS_NUM_THREADS", "1"}, {"CQ_SHARED", s.shared}});
  r.rss_mib = p.rss_mib;
  r.median_ms = p.code == 0 ? parse_median(p.out) : -1;
  if (r.median_ms < 0) r.error = "peer failed (exit " + std::to_string(p.code) + "): " + last_lines(p.out, 3);
  return r;
}

std::string fmt(double v, int prec = 1) {
  if (v < 0) return "-";
  char b[64];
  std::snprintf(b, sizeof b, "%.*f", prec, v);
  return b;
}

json::Value run_json(const Run& r) {
  json::Value v = json::Value::object();
  v.set("label", json::Value::string(r.label));
  if (!r.error.empty()) v.set("error", json::Value::string(r.error));
  v.set("median_ms", r.median_ms < 0 ? json::Value() : json::Value::number(r.median_ms));
  if (r.min_ms >= 0) v.set("min_ms", json::Value::number(r.min_ms)), v.set("max_ms", json::Value::number(r.max_ms));
  if (!r.ms.empty()) {
    json::Value a = json::Value::array();
    for (double x : r.ms) a.push(json::Value::number(x));
    v.set("times_ms", std::move(a));
  }
  v.set("peak_rss_mib", json::Value::number(r.rss_mib));
  if (r.alloc_peak_mib >= 0) v.set("alloc_peak_mib", json::Value::number(r.alloc_peak_mib));
  return v;
}

std::string cpu_model() {
  const std::string t = exists("/proc/cpuinfo") ? pipeline::read_text("/proc/cpuinfo") : "";
  const size_t at = t.find("model name");
  if (at == std::string::npos) return "unknown";
  const size_t c = t.find(':', at), e = t.find('\n', at);
  return c == std::string::npos ? "unknown" : t.substr(c + 2, e - c - 2);
}

int item_mode(const ParsedArgs& a) {
  bench::ItemOptions o;
  o.threads = int(parse_long("threads", a.get("threads", "2"), 1, 1024));
  o.reps = int(parse_long("reps", a.get("reps", "5"), 1, 100000));
  o.quick = a.has("quick");
  o.warmup = o.quick ? 0 : 2;
  const bench::ItemResult r = bench::run_item(a.get("item"), o);
  std::string line = "CQBENCH ms=";
  for (size_t i = 0; i < r.ms.size(); ++i) line += (i ? "," : "") + fmt(r.ms[i], 3);
  std::printf("%s alloc_peak_mib=%s\n", line.c_str(), fmt(r.alloc_peak_mib, 1).c_str());
  return 0;
}

}  // namespace

int cmd_bench(int argc, char** argv) {
  try {
    const ParsedArgs a = parse_args(argc, argv, 1, {"threads", "reps", "out", "items", "peer-layout", "item"},
                                    {"quick", "no-peer"}, false, "bench");
    if (a.has("help")) {
      std::fputs(kHelp, stdout);
      return 0;
    }
    if (a.has("item")) return item_mode(a);
    Setup s;
    s.quick = a.has("quick");
    s.peer = !a.has("no-peer");
    s.threads = int(parse_long("threads", a.get("threads", "0"), 0, 1024));
    if (s.threads == 0) s.threads = int(std::max(1u, std::thread::hardware_concurrency()));
    s.reps = int(parse_long("reps", a.get("reps", "5"), 1, 100000));
    const std::string layout = a.get("peer-layout", "both");
    if (layout == "nhwc" || layout == "nchw")
      s.layouts = {layout};
    else if (layout != "both")
      throw UsageError{"--peer-layout expects nhwc, nchw or both, got '" + layout + "'"};
    std::vector<std::string> items = bench::item_names();
    if (a.has("items")) {
      items = split_csv(a.get("items"));
      for (const auto& it : items)
        if (std::find(bench::item_names().begin(), bench::item_names().end(), it) == bench::item_names().end())
          throw UsageError{"--items: unknown item '" + it + "' (see cqseg bench --help)"};
    }
    const std::string out = a.get("out", "bench_out");
    s.source = source_dir();
    const char* sh = std::getenv("CQ_SHARED");
    s.shared = sh ? sh : (s.source.empty() ? "../shared" : s.source + "/../shared");
    const char* py = std::getenv("CQ_PYTHON");
    s.python = py ? py : "/usr/bin/python3";

    std::string peer_status = "not requested (--no-peer)";
    if (s.peer) {
      const Proc p = spawn({s.python, "-c", "import torch, torchvision, cv2, numpy; print(torch.__version__)"}, {});
      if (p.code != 0) {
        s.peer = false;
        peer_status = s.python + " has no torch/torchvision/cv2: PyTorch peers skipped, ours only";
      } else {
        peer_status = "PyTorch " + p.out.substr(0, p.out.find('\n')) + " (" + s.python + ")";
      }
      if (s.peer && s.source.empty()) {
        s.peer = false;
        peer_status = "no source tree with bench/peers found above " + self_exe() + ": peers skipped";
      }
    }
    std::fprintf(stderr, "cqseg bench: %d threads, %d reps%s; peer: %s\n", s.threads, s.reps,
                 s.quick ? ", quick sizes" : "", peer_status.c_str());

    json::Value jitems = json::Value::array();
    std::string md = "| item | cqseg median ms | peer median ms | ratio | cqseg peak RSS MiB | peer peak RSS MiB |\n"
                     "|---|---|---|---|---|---|\n";
    std::string notes;
    for (size_t k = 0; k < items.size(); ++k) {
      const std::string& item = items[k];
      std::fprintf(stderr, "[%zu/%zu] %s: cqseg ...", k + 1, items.size(), item.c_str());
      const Run ours = run_ours(item, s.threads, s.reps, s.quick);
      std::fprintf(stderr, " %s ms (RSS %s MiB)", fmt(ours.median_ms).c_str(), fmt(ours.rss_mib, 0).c_str());
      std::vector<Run> peers;
      const Run* best = nullptr;
      if (s.peer)
        for (const PeerCmd& c : peer_cmds(item, s)) {
          std::fprintf(stderr, "; peer %s ...", c.label.c_str());
          peers.push_back(run_peer(c, s));
          std::fprintf(stderr, " %s", peers.back().error.empty() ? (fmt(peers.back().median_ms) + " ms").c_str() : "failed");
          if (!peers.back().error.empty()) notes += "- " + item + " peer " + c.label + ": " + peers.back().error + "\n";
        }
      for (const Run& p : peers)
        if (p.error.empty() && (!best || p.median_ms < best->median_ms)) best = &p;
      const double ratio = best ? ours.median_ms / best->median_ms : -1;
      std::fprintf(stderr, "%s\n", best ? ("; ratio " + fmt(ratio, 2)).c_str() : "");

      json::Value ji = json::Value::object();
      ji.set("item", json::Value::string(item));
      ji.set("description", json::Value::string(bench::item_description(item, s.quick)));
      ji.set("cqseg", run_json(ours));
      json::Value jp = json::Value::array();
      for (const Run& p : peers) jp.push(run_json(p));
      ji.set("peers", std::move(jp));
      ji.set("peer_best", best ? json::Value::string(best->label) : json::Value());
      ji.set("ratio", best ? json::Value::number(ratio) : json::Value());
      jitems.push(std::move(ji));
      md += "| " + item + " | " + fmt(ours.median_ms) + " | " +
            (best ? fmt(best->median_ms) + (peers.size() > 1 ? " (" + best->label + ")" : "") : "-") + " | " +
            (best ? fmt(ratio, 2) : "-") + " | " + fmt(ours.rss_mib, 0) + " | " + (best ? fmt(best->rss_mib, 0) : "-") +
            " |\n";
    }
    md += "\n";
    for (const auto& item : items) md += "- " + item + ": " + bench::item_description(item, s.quick) + "\n";
    md += "\n" + std::to_string(s.threads) + " threads, medians of " + std::to_string(s.reps) +
          " repetitions; ratio = cqseg / peer (below 1: cqseg faster); peer: " + peer_status +
          ". Peak RSS is each item's process (the peer's includes the Python interpreter and PyTorch).\n";
    if (!notes.empty()) md += "\n" + notes;
    std::fputs(md.c_str(), stdout);

    json::Value root = json::Value::object();
    root.set("format", json::Value::string("cqseg-bench-1"));
    root.set("cpu", json::Value::string(cpu_model()));
    root.set("threads", json::Value::number(s.threads));
    root.set("reps", json::Value::number(s.reps));
    root.set("quick", json::Value::boolean(s.quick));
    root.set("peer", json::Value::string(peer_status));
    root.set("items", std::move(jitems));
    std::error_code ec;
    fs::create_directories(out, ec);
    CQ_CHECK(!ec, "bench: cannot create ", out, ": ", ec.message());
    pipeline::write_text_atomic(out + "/bench.json", json::dump(root, 2) + "\n");
    pipeline::write_text_atomic(out + "/bench.md", md);
    std::fprintf(stderr, "cqseg bench: wrote %s/bench.json and %s/bench.md\n", out.c_str(), out.c_str());
    return 0;
  } catch (const UsageError& e) {
    std::fprintf(stderr, "cqseg bench: %s\n", e.msg.c_str());
    return 2;
  }
}

}  // namespace cq::apps
