// Fuzz targets: each feeds one input to a reader exactly as cqseg calls it (a file on disk where cqseg reads files).
// The contract under test: every input either parses or raises cq::Error. Anything else (a sanitizer report, a
// crash, another exception type, an out-of-memory abort) is a bug. Shared by the seeded-mutation driver
// (fuzz/mutate_main.cpp, built everywhere, used in CI) and the libFuzzer entry point (fuzz/libfuzzer_main.cpp, clang).
#pragma once
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace cq {
class Context;
}

namespace cq::fuzz {

// What a target may use: a private scratch folder (created and removed by the driver) and a 1-thread CPU context.
struct Env {
  std::string scratch;
  std::shared_ptr<Context> ctx;
  // Creates the scratch folder under /dev/shm (else $TMPDIR, else /tmp) and lowers the decoded-image limit to 2^16 pixels, so a
  // header declaring a big-but-legal size costs microseconds, not a 512 MiB allocation per input.
  static Env make();
  void cleanup() const;
};

using Bytes = std::vector<uint8_t>;

struct Target {
  const char* name;
  const char* what;
  // true: accepted; false: rejected with cq::Error. Any other outcome escapes to the driver.
  bool (*run)(Env& env, const uint8_t* data, size_t size);
  std::vector<Bytes> (*seeds)(Env& env);
};

const std::vector<Target>& targets();
const Target* find_target(const std::string& name);  // nullptr when unknown

// Writes bytes to path (the targets that read files); throws cq::Error on failure.
void write_bytes(const std::string& path, const uint8_t* data, size_t size);

}  // namespace cq::fuzz
