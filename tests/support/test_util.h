// Small helpers shared by the test files.
#pragma once
#include <string>

#include "tensor/context.h"

namespace cq::testing {

inline Context make_ctx(int threads = 1, uint64_t seed = 7) {
  ContextOptions o;
  o.threads = threads;
  o.seed = seed;
  return Context(o);
}

// The cq::Error message f throws, or "<no error>".
template <class F>
std::string error_of(F&& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "<no error>";
}

inline bool contains(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

}  // namespace cq::testing
