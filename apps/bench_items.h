// The end-to-end workloads `cqseg bench` times (apps/cmd_bench.cpp runs each in a child process of its own so the
// child's peak RSS is the item's). Sizes follow issue #6; --quick shrinks them to a smoke run.
#pragma once
#include <string>
#include <vector>

namespace cq::apps::bench {

struct ItemOptions {
  int threads = 2;
  int reps = 5;
  int warmup = 2;
  bool quick = false;
};

struct ItemResult {
  std::vector<double> ms;         // one wall time per timed repetition
  double alloc_peak_mib = 0;      // the context allocator's peak (tensor bytes live at once)
};

// The sizes of every item (the peers in apps/cmd_bench.cpp run at the same ones). Full: issue #6 (training 256x256
// batch 2, inference and DCIN at the paper's 512x768 with a DRIVE-sized 584x565 test image). Quick: the same code
// paths at sizes that run in seconds.
struct Sizes {
  int train_h, train_w;  // training step, batch 2
  int eval_h, eval_w;    // U-Net inference, batch 1
  int swin;              // Swin-V2-T input side
  int dcin_h, dcin_w;    // the DCIN model's size
  int img_h, img_w;      // the DCIN test image
  int bank;              // LRIS bank images
};
Sizes item_sizes(bool quick);

// The items in run order.
const std::vector<std::string>& item_names();
// One line: what the item does at the given size (quick or not).
std::string item_description(const std::string& name, bool quick);
// Runs the item in this process. Unknown name: cq::Error.
ItemResult run_item(const std::string& name, const ItemOptions& o);

}  // namespace cq::apps::bench
