// Small helpers shared by the test files.
#pragma once
#include <stdlib.h>

#include <functional>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "tensor/context.h"

namespace cq::testing {

inline Context make_ctx(int threads = 1, uint64_t seed = 7) {
  ContextOptions o;
  o.threads = threads;
  o.seed = seed;
  return Context(o);
}

// The cq::Error message f throws, or "" when it does not throw.
template <class F>
std::string error_of(F&& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

// A path in a directory private to this test process (several suites may run at once on one machine, so fixed
// names under /tmp would collide).
inline std::string temp_path(const std::string& name) {
  static const std::string dir = [] {
    std::string t = ::testing::TempDir() + "/cqtest_XXXXXX";
    const char* d = mkdtemp(t.data());
    return d ? std::string(d) : ::testing::TempDir();
  }();
  return dir + "/" + name;
}

// Asserts fn throws cq::Error whose message contains every piece.
inline void expect_error(const std::function<void()>& fn, const std::vector<std::string>& pieces) {
  try {
    fn();
    ADD_FAILURE() << "expected cq::Error";
  } catch (const Error& e) {
    std::string msg = e.what();
    for (const auto& p : pieces) EXPECT_NE(msg.find(p), std::string::npos) << "missing '" << p << "' in: " << msg;
  }
}

inline bool contains(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

}  // namespace cq::testing
