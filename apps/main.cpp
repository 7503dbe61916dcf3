// cqseg: the command line. Thin: parses a subcommand, calls the library, turns cq::Error into an exit code.
#include <cstdio>
#include <cstring>
#include <exception>
#include <string>

#include "apps/commands.h"
#include "tensor/cuda_backend.h"
#include "tensor/error.h"

namespace {

int usage() {
  std::fprintf(stderr,
               "usage: cqseg <command> [options]\n"
               "commands:\n"
               "  demo      train briefly on built-in data, evaluate with and without DCIN, print the table\n"
               "  train     train a segmentation model (base | aug | cqg)\n"
               "  eval      evaluate models on target domains with DCIN settings\n"
               "  segment   segment images (optionally with DCIN)\n"
               "  refs      build GRIS references and LRIS banks\n"
               "  bench     end-to-end timings next to the PyTorch peers (microbenchmarks: cq_bench)\n"
               "  info      build and device information\n");
  return 2;
}

int info() {
  std::printf("cqseg 0.1.0\nCUDA backend built: %s\nCUDA devices: %d\n", cq::cuda::built_with_cuda() ? "yes" : "no",
              cq::cuda::device_count());
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) return usage();
  std::string cmd = argv[1];
  try {
    if (cmd == "info") return info();
    if (cmd == "-h" || cmd == "--help" || cmd == "help") {
      usage();
      return 0;
    }
    if (cmd == "train") return cq::apps::cmd_train(argc - 1, argv + 1);
    if (cmd == "refs") return cq::apps::cmd_refs(argc - 1, argv + 1);
    if (cmd == "segment") return cq::apps::cmd_segment(argc - 1, argv + 1);
    if (cmd == "eval") return cq::apps::cmd_eval(argc - 1, argv + 1);
    if (cmd == "demo") return cq::apps::cmd_demo(argc - 1, argv + 1);
    if (cmd == "bench") return cq::apps::cmd_bench(argc - 1, argv + 1);
    std::fprintf(stderr, "cqseg: unknown command '%s'\n", cmd.c_str());
    return usage();
  } catch (const cq::Error& e) {
    std::fprintf(stderr, "cqseg %s: error: %s\n", cmd.c_str(), e.what());
    return 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "cqseg %s: internal error: %s\n", cmd.c_str(), e.what());
    return 70;
  }
}
