// Subcommands of the cqseg CLI. Each returns the process exit code: 0 success, 1 a cq::Error (bad data, bad
// checkpoint, diverged training), 2 a usage error; the dispatcher in main.cpp catches what escapes.
#pragma once

namespace cq::apps {

// argv[0] is "train"; the options follow.
int cmd_train(int argc, char** argv);
// argv[0] is "refs"; argv[1] the refs subcommand (gris, bank, query).
int cmd_refs(int argc, char** argv);
// argv[0] is "segment"; images and options follow.
int cmd_segment(int argc, char** argv);
// argv[0] is "eval".
int cmd_eval(int argc, char** argv);
// argv[0] is "demo".
int cmd_demo(int argc, char** argv);
// argv[0] is "bench".
int cmd_bench(int argc, char** argv);

}  // namespace cq::apps
