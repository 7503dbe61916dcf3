// libFuzzer entry point (clang -fsanitize=fuzzer; the `fuzz` preset): coverage-guided fuzzing of one target of
// targets.h, chosen by the environment variable CQ_FUZZ_TARGET (libFuzzer owns the command line). Seeds: write them
// with `cq_fuzz TARGET --write-seeds DIR` and pass DIR as the corpus.
//   CQ_FUZZ_TARGET=image ./build/fuzz/cq_libfuzzer -runs=1000000 corpus/image
#include <cstdio>
#include <cstdlib>
#include <string>

#include "fuzz/targets.h"

namespace {
// libFuzzer calls back with no context pointer, so the chosen target and its scratch state live here (the driver's
// state, not the library's).
struct State {
  const cq::fuzz::Target* target = nullptr;
  cq::fuzz::Env env;
};
State* g_state = nullptr;
}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  const char* name = std::getenv("CQ_FUZZ_TARGET");
  const cq::fuzz::Target* t = name ? cq::fuzz::find_target(name) : nullptr;
  if (!t) {
    std::fprintf(stderr, "cq_libfuzzer: set CQ_FUZZ_TARGET to one of:");
    for (const auto& x : cq::fuzz::targets()) std::fprintf(stderr, " %s", x.name);
    std::fprintf(stderr, "\n");
    std::exit(2);
  }
  g_state = new State{t, cq::fuzz::Env::make()};
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  g_state->target->run(g_state->env, data, size);  // cq::Error is caught inside; anything else is a finding
  return 0;
}
