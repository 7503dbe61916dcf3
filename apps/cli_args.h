// Option parsing shared by the refs / segment / eval subcommands: "--key value", "--key=value", flags, positional
// arguments; every problem is a UsageError (exit code 2) naming the option.
#pragma once
#include <cerrno>
#include <cstdlib>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "tensor/device.h"
#include "tensor/error.h"
#include "tensor/runtime.h"

namespace cq::apps {

struct UsageError {
  std::string msg;
};

struct ParsedArgs {
  std::map<std::string, std::string> opts;
  std::vector<std::string> positional;
  bool has(const std::string& k) const { return opts.count(k) != 0; }
  std::string get(const std::string& k, const std::string& def = "") const {
    auto it = opts.find(k);
    return it == opts.end() ? def : it->second;
  }
};

// argv[first..argc): options in `valued` take a value, those in `flags` none; positional arguments are allowed only
// when allow_positional. "-h" is "--help". `cmd` names the subcommand in messages.
inline ParsedArgs parse_args(int argc, char** argv, int first, const std::set<std::string>& valued,
                             const std::set<std::string>& flags, bool allow_positional, const std::string& cmd) {
  ParsedArgs p;
  for (int i = first; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "-h") a = "--help";
    if (a.rfind("--", 0) != 0) {
      if (!allow_positional) throw UsageError{"unexpected argument '" + a + "'"};
      p.positional.push_back(a);
      continue;
    }
    std::string key = a.substr(2), val;
    const size_t eq = key.find('=');
    const bool inline_val = eq != std::string::npos;
    if (inline_val) val = key.substr(eq + 1), key = key.substr(0, eq);
    if (key == "help" || flags.count(key)) {
      if (inline_val) throw UsageError{"--" + key + " takes no value"};
      p.opts[key] = "1";
      continue;
    }
    if (!valued.count(key)) throw UsageError{"unknown option '--" + key + "' (see cqseg " + cmd + " --help)"};
    if (!inline_val) {
      if (i + 1 >= argc) throw UsageError{"--" + key + " needs a value"};
      val = argv[++i];
    }
    if (p.opts.count(key)) throw UsageError{"--" + key + " given twice"};
    p.opts[key] = val;
  }
  return p;
}

inline long parse_long(const std::string& opt, const std::string& v, long lo, long hi) {
  char* end = nullptr;
  errno = 0;
  const long x = std::strtol(v.c_str(), &end, 10);
  if (v.empty() || *end != '\0' || errno != 0 || x < lo || x > hi)
    throw UsageError{"--" + opt + " expects an integer in " + std::to_string(lo) + ".." + std::to_string(hi) +
                     ", got '" + v + "'"};
  return x;
}

inline std::vector<std::string> split_csv(const std::string& s) {
  std::vector<std::string> out;
  size_t start = 0;
  while (true) {
    const size_t c = s.find(',', start);
    out.push_back(s.substr(start, c == std::string::npos ? std::string::npos : c - start));
    if (c == std::string::npos) break;
    start = c + 1;
  }
  return out;
}

// ---- --device / --precision / --fast-nondeterministic, shared by every command that computes ----
// Add kDeviceValued to a command's valued options, kDeviceFlags to its flags, and kDeviceHelp to its help text.
inline const std::set<std::string> kDeviceValued = {"device", "precision"};
inline const std::set<std::string> kDeviceFlags = {"fast-nondeterministic"};
inline const char* const kDeviceHelp =
    "  --device cpu|cuda[:N]         where tensors live and ops run                      [cpu]\n"
    "  --precision fp32|tf32         GPU math: fp32 matches the CPU; tf32 uses tensor cores for f32 GEMM/conv\n"
    "                                (bf16 is not implemented and is refused)            [fp32]\n"
    "  --fast-nondeterministic       GPU: let cuDNN pick the fastest algorithms even when not bit-reproducible\n";

struct DeviceChoice {
  Device device = Device::cpu();
  ComputeOptions compute;
  std::string str() const { return device.str(); }
};

// Reads the three options from a parse (defaults: cpu, fp32, deterministic). Malformed values and GPU-only options
// with --device cpu are UsageErrors; a missing GPU is reported later, when the Context is made (exit code 1).
inline DeviceChoice parse_device_choice(const ParsedArgs& a) {
  DeviceChoice d;
  auto usage = [](const std::string& opt, const std::string& msg) { return UsageError{"--" + opt + ": " + msg}; };
  try {
    d.device = Device::parse(a.get("device", "cpu"));
  } catch (const Error& e) {
    throw usage("device", e.what());
  }
  try {
    d.compute.precision = parse_precision(a.get("precision", "fp32"));
  } catch (const Error& e) {
    throw usage("precision", e.what());
  }
  if (d.compute.precision == Precision::bf16)
    throw usage("precision", "bf16 is not implemented (tensors are f32/f64 only); use fp32 or tf32");
  d.compute.deterministic = !a.has("fast-nondeterministic");
  if (d.device.is_cpu()) {
    if (d.compute.precision != Precision::fp32)
      throw usage("precision", std::string(precision_name(d.compute.precision)) +
                                   " applies to --device cuda only (CPU kernels compute in the tensor's dtype)");
    if (!d.compute.deterministic)
      throw usage("fast-nondeterministic", "applies to --device cuda only (CPU kernels are always deterministic)");
  }
  return d;
}

// The union of two option sets (a command's own options plus the shared device ones).
inline std::set<std::string> with(std::set<std::string> a, const std::set<std::string>& b) {
  a.insert(b.begin(), b.end());
  return a;
}

// Runs f, turning a cq::Error into a UsageError (values the library validates are usage errors at the CLI).
template <class F>
auto as_usage_error(F&& f) -> decltype(f()) {
  try {
    return f();
  } catch (const Error& e) {
    throw UsageError{e.what()};
  }
}

}  // namespace cq::apps
