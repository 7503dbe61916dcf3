// cq_fuzz: seeded random-mutation fuzzing of the targets in targets.h, for machines without libFuzzer (and for CI,
// where a fixed seed makes every run reproducible: the same seed and count replay the same inputs).
//
//   cq_fuzz [TARGET|all] [--runs N] [--seed S] [--max-len L] [--crash-dir D]   fuzz (default: all, 100000 runs)
//   cq_fuzz TARGET --replay FILE...                                           run saved inputs once each
//   cq_fuzz TARGET --write-seeds DIR                                          the seeds as files (libFuzzer corpus)
//   cq_fuzz --list
//
// Inputs are mutations (bit flips, byte sets, interesting integers, inserts, deletes, copies, splices, truncation)
// of the target's seeds and of inputs it accepted (kept up to 512, so mutations reach past the first checks).
// Exit 0 when every input parsed or raised cq::Error. Otherwise the input is written to D/crash-TARGET-ITER (also
// from a sanitizer's death callback) and the exit code is non-zero.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <string>
#include <vector>

#include "data/image_io.h"
#include "fuzz/targets.h"
#include "tensor/rng.h"

#if defined(__SANITIZE_ADDRESS__)
#define CQ_HAVE_SANITIZER 1
#elif defined(__clang__)
#if __has_feature(address_sanitizer)
#define CQ_HAVE_SANITIZER 1
#endif
#endif
#ifdef CQ_HAVE_SANITIZER
#include <sanitizer/common_interface_defs.h>
#endif

namespace {
using cq::fuzz::Bytes;

// What the death callback needs: a sanitizer callback takes no arguments, so the input being run is reachable from
// here only (the driver's own state; the library has none).
struct Current {
  const Bytes* input = nullptr;
  std::string path;
} g_current;

void save(const Bytes& b, const std::string& path) {
  if (FILE* f = std::fopen(path.c_str(), "wb")) {
    if (!b.empty()) std::fwrite(b.data(), 1, b.size(), f);
    std::fclose(f);
  }
}

#ifdef CQ_HAVE_SANITIZER
void on_death() {
  if (g_current.input) {
    save(*g_current.input, g_current.path);
    std::fprintf(stderr, "cq_fuzz: input saved to %s\n", g_current.path.c_str());
  }
}
#endif

class Mutator {
 public:
  Mutator(uint64_t seed, size_t max_len) : rng_(seed), max_len_(max_len) {}
  size_t below(size_t n) { return n ? size_t(rng_.below(n)) : 0; }

  Bytes mutate(const Bytes& base, const std::vector<Bytes>& pool) {
    Bytes b = base;
    const int n = 1 + int(below(below(8) + 1));  // mostly one or two edits, sometimes up to eight
    for (int k = 0; k < n; ++k) edit(b, pool);
    if (b.size() > max_len_) b.resize(max_len_);
    return b;
  }

 private:
  void edit(Bytes& b, const std::vector<Bytes>& pool) {
    static const uint32_t kInteresting[] = {0,      1,          0x7F,       0x80,       0xFF,      0x100,
                                            0x7FFF, 0x8000,     0xFFFF,     0x10000,    50000,     0x7FFFFFFF,
                                            0x80000000, 0xFFFFFFFF, 0xFFFFFFFE, 1000000000, 65535 * 2};
    const size_t op = below(10);
    if (b.empty() && op != 5) {
      b.push_back(uint8_t(below(256)));
      return;
    }
    const size_t at = below(b.size());
    switch (op) {
      case 0: b[at] ^= uint8_t(1u << below(8)); break;
      case 1: b[at] = uint8_t(below(256)); break;
      case 2: {  // an interesting integer, 1/2/4 bytes, either endianness
        const uint32_t v = kInteresting[below(sizeof kInteresting / sizeof kInteresting[0])];
        const size_t w = size_t(1) << below(3);
        const bool be = below(2);
        for (size_t i = 0; i < w && at + i < b.size(); ++i) b[at + i] = uint8_t(v >> (8 * (be ? w - 1 - i : i)));
        break;
      }
      case 3: b.insert(b.begin() + long(at), 1 + below(8), uint8_t(below(256))); break;
      case 4: b.erase(b.begin() + long(at), b.begin() + long(std::min(b.size(), at + 1 + below(16)))); break;
      case 5: b.resize(below(b.size() + 1)); break;  // truncation
      case 6: {  // copy a chunk within the input
        const size_t len = 1 + below(std::min<size_t>(32, b.size()));
        const size_t from = below(b.size() - len + 1);
        Bytes chunk(b.begin() + long(from), b.begin() + long(from + len));
        b.insert(b.begin() + long(at), chunk.begin(), chunk.end());
        break;
      }
      case 7: {  // splice: a piece of another pool input
        const Bytes& o = pool[below(pool.size())];
        if (o.empty()) break;
        const size_t from = below(o.size()), len = 1 + below(std::min<size_t>(64, o.size() - from));
        b.insert(b.begin() + long(at), o.begin() + long(from), o.begin() + long(from + len));
        break;
      }
      case 8: b[at] = uint8_t(b[at] + 1 - 2 * below(2)); break;
      default: {  // an ASCII digit or JSON punctuation (the text formats)
        static const char kText[] = "0123456789-+.eE{}[]\":,\\ntfu \x00";
        b[at] = uint8_t(kText[below(sizeof kText - 1)]);
        break;
      }
    }
  }

  cq::Rng rng_;
  size_t max_len_;
};

struct Stats {
  long runs = 0, accepted = 0;
  double seconds = 0;
};

// Runs one input; returns false (after saving it) on an exception other than the rejections the target catches.
bool run_one(const cq::fuzz::Target& t, cq::fuzz::Env& env, const Bytes& in, const std::string& crash_path,
             bool* accepted) {
  g_current.input = &in;
  g_current.path = crash_path;
  try {
    *accepted = t.run(env, in.data(), in.size());
  } catch (const std::exception& e) {
    save(in, crash_path);
    std::fprintf(stderr, "cq_fuzz: %s: unexpected exception (%s); input saved to %s\n", t.name, e.what(),
                 crash_path.c_str());
    return false;
  }
  g_current.input = nullptr;
  return true;
}

bool fuzz_target(const cq::fuzz::Target& t, cq::fuzz::Env& env, long runs, uint64_t seed, size_t max_len,
                 const std::string& crash_dir, Stats* st) {
  const auto t0 = std::chrono::steady_clock::now();
  std::vector<Bytes> pool = t.seeds(env);
  const size_t nseeds = pool.size();
  Mutator m(seed, max_len);
  for (long i = 0; i < runs; ++i) {
    const Bytes in = i < long(nseeds) ? pool[size_t(i)] : m.mutate(pool[m.below(pool.size())], pool);
    bool acc = false;
    if (!run_one(t, env, in, crash_dir + "/crash-" + t.name + "-" + std::to_string(i), &acc)) return false;
    ++st->runs;
    if (acc) {
      ++st->accepted;
      if (i >= long(nseeds)) {  // keep accepted inputs as new bases; replace at random once the pool is full
        if (pool.size() < 512) pool.push_back(in);
        else pool[nseeds + m.below(pool.size() - nseeds)] = in;
      }
    }
  }
  st->seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return true;
}

int usage() {
  std::fprintf(stderr,
               "usage: cq_fuzz [TARGET|all] [--runs N] [--seed S] [--max-len L] [--crash-dir D]\n"
               "       cq_fuzz TARGET --replay FILE...\n       cq_fuzz TARGET --write-seeds DIR\n"
               "       cq_fuzz --list\n");
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
#ifdef CQ_HAVE_SANITIZER
  __sanitizer_set_death_callback(on_death);
#endif
  std::string which = "all", crash_dir = ".";
  long runs = 100000;
  uint64_t seed = 1;
  size_t max_len = 4096;
  std::vector<std::string> replay;
  bool replaying = false;
  std::string seeds_dir;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto next = [&]() -> std::string {
      if (i + 1 >= argc) std::exit(usage());
      return argv[++i];
    };
    if (a == "--list") {
      for (const auto& t : cq::fuzz::targets()) std::printf("%-12s %s\n", t.name, t.what);
      return 0;
    } else if (a == "--runs") runs = std::atol(next().c_str());
    else if (a == "--seed") seed = std::strtoull(next().c_str(), nullptr, 10);
    else if (a == "--max-len") max_len = size_t(std::atol(next().c_str()));
    else if (a == "--crash-dir") crash_dir = next();
    else if (a == "--replay") replaying = true;
    else if (a == "--write-seeds") seeds_dir = next();
    else if (a.rfind("--", 0) == 0) return usage();
    else if (replaying) replay.push_back(a);
    else which = a;
  }
  cq::fuzz::Env env = cq::fuzz::Env::make();
  int rc = 0;
  if (!seeds_dir.empty()) {
    const cq::fuzz::Target* t = cq::fuzz::find_target(which);
    if (!t) return usage();
    const std::vector<Bytes> seeds = t->seeds(env);
    for (size_t i = 0; i < seeds.size(); ++i) save(seeds[i], seeds_dir + "/seed-" + std::to_string(i));
  } else if (replaying) {
    const cq::fuzz::Target* t = cq::fuzz::find_target(which);
    if (!t) return usage();
    for (const std::string& f : replay) {
      bool acc = false;
      const Bytes in = cq::data::read_file_bytes(f);
      if (!run_one(*t, env, in, crash_dir + "/crash-replay", &acc)) rc = 1;
      else std::printf("%s: %s\n", f.c_str(), acc ? "accepted" : "rejected (cq::Error)");
    }
  } else {
    std::printf("%-12s %10s %10s %10s %9s\n", "target", "inputs", "accepted", "rejected", "seconds");
    for (const auto& t : cq::fuzz::targets()) {
      if (which != "all" && which != t.name) continue;
      Stats st;
      const bool ok = fuzz_target(t, env, runs, seed, max_len, crash_dir, &st);
      std::printf("%-12s %10ld %10ld %10ld %9.1f%s\n", t.name, st.runs, st.accepted, st.runs - st.accepted,
                  st.seconds, ok ? "" : "  CRASH");
      std::fflush(stdout);
      if (!ok) rc = 1;
    }
  }
  env.cleanup();
  return rc;
}
