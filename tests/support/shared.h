// Locating ../shared (fixtures and data). Tests that need it call CQ_REQUIRE_SHARED(path) and SKIP with a message
// naming what is missing when a fresh clone has no ../shared beside it.
#pragma once
#include <cstdlib>
#include <string>
#include <sys/stat.h>

namespace cq::testing {
inline std::string shared_dir() {
  if (const char* e = std::getenv("CQ_SHARED")) return e;
  return std::string(CQ_SOURCE_DIR) + "/../shared";
}
inline bool path_exists(const std::string& p) {
  struct stat st;
  return ::stat(p.c_str(), &st) == 0;
}
}  // namespace cq::testing

#define CQ_REQUIRE_SHARED(rel)                                                                             \
  do {                                                                                                     \
    if (!::cq::testing::path_exists(::cq::testing::shared_dir() + "/" + (rel)))                            \
      GTEST_SKIP() << "missing " << ::cq::testing::shared_dir() << "/" << (rel)                            \
                   << " (the project's shared fixtures/data; set CQ_SHARED to its location)";              \
  } while (0)
