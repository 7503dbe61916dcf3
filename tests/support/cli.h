// Running the built `cqseg` binary from a test: it sits next to the test binary in the build folder. Tests that need
// it call CQ_REQUIRE_CQSEG() and SKIP with a message when it is missing.
#pragma once
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cstdio>
#include <string>

namespace cq::testing {

inline std::string cqseg_path() {
  char buf[4096];
  const ssize_t n = ::readlink("/proc/self/exe", buf, sizeof buf - 1);
  if (n <= 0) return "";
  std::string p(buf, static_cast<size_t>(n));
  return p.substr(0, p.find_last_of('/')) + "/cqseg";
}

struct CliRun {
  int code = -1;
  std::string out;  // stdout, and stderr unless with_stderr is false
};

// Runs a shell command line, capturing its stdout (and whatever the line redirects there) and exit code.
inline CliRun run_shell(const std::string& cmd) {
  CliRun r;
  std::FILE* p = ::popen(cmd.c_str(), "r");
  if (!p) return r;
  std::array<char, 4096> buf;
  size_t k;
  while ((k = std::fread(buf.data(), 1, buf.size(), p)) > 0) r.out.append(buf.data(), k);
  const int st = ::pclose(p);
  r.code = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
  return r;
}

// Runs `cqseg ARGS` with passive OpenMP waiting (tests run beside each other on few cores).
inline CliRun run_cqseg(const std::string& args, bool with_stderr = true) {
  return run_shell("OMP_WAIT_POLICY=PASSIVE '" + cqseg_path() + "' " + args +
                   (with_stderr ? " 2>&1" : " 2>/dev/null"));
}

}  // namespace cq::testing

#define CQ_REQUIRE_CQSEG()                                                                          \
  do {                                                                                              \
    if (::access(::cq::testing::cqseg_path().c_str(), X_OK) != 0)                                   \
      GTEST_SKIP() << "no cqseg binary at " << ::cq::testing::cqseg_path() << " (build target cqseg)"; \
  } while (0)
