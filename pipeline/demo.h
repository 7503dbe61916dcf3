// `cqseg demo`: the whole method on built-in data, on a bare machine, in a few minutes.
//   1. generate the synthetic throat dataset (data/synthetic.h): HQ train/val/test, LQ test, CAM test;
//   2. train a baseline (mode base) and a CQG model (mode cqg) briefly on HQ train (pipeline/trainer.h);
//   3. references from HQ train: GRIS (refs/gris.json) and, per model, an LRIS bank embedded with that model's own
//      U-Net encoder (refs/bank_<mode>.json), as `cqseg refs` makes them;
//   4. evaluate both models with every DCIN setting (none, exri, gris, lris, full) on HQ/test, LQ/test and CAM/test
//      (pipeline/evaluate.h), merged into one report.md / metrics.json with overlay sheets;
//   5. a verdict computed from the numbers: does DCIN raise the baseline's target-domain Dice over no DCIN, does CQG
//      raise it over the baseline, did the models learn the task at all (HQ test Dice against an all-background
//      predictor).
// Layout of OUT: data/, runs/{base,cqg}/, refs/, overlays/, report.md, metrics.json, demo.json (the settings; marks
// the folder as a demo's, so a rerun may replace it).
#pragma once
#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

#include "nn/json.h"
#include "pipeline/report.h"
#include "tensor/runtime.h"

namespace cq::pipeline {

struct DemoConfig {
  std::string out = "demo_out";
  int height = 96, width = 128;  // image and training size (multiples of 32)
  // 6 epochs of batch 2 (the paper's batch) = 120 steps per model: measured 4.9 minutes for the whole demo on a
  // 2-core machine shared with other work; the cqg model (two views, augmented) learns more slowly than base and
  // gains from more epochs.
  int epochs = 6;
  int max_steps = 0;  // training steps per epoch, 0 = the whole split
  int batch = 2;
  int train = 40, val = 10, test = 20, target_test = 20;
  int threads = 0;
  Device device = Device::cpu();  // training, evaluation and references (recalibration stays on the CPU)
  ComputeOptions compute;
  uint64_t seed = 0;
  bool data_only = false;  // stop after writing the dataset
  std::FILE* progress = stderr;  // bars; nullptr = silent
  std::FILE* out_text = stdout;  // tables and verdict

  // The --quick preset: tiny size and few steps (tests, smoke runs).
  static DemoConfig quick();
  void validate() const;
};

// One comparison of the verdict: `after` against `before` on one target domain (Dice x100).
struct DemoEffect {
  std::string what, domain;  // e.g. "DCIN (GRIS+LRIS) vs no DCIN, base model", "LQ/test"
  double before = 0, after = 0;
  // "yes" when after exceeds before by more than the margin, "no" when it falls below by more, else "unclear".
  std::string verdict;
};

struct DemoResult {
  EvalSummary summary;
  std::vector<DemoEffect> effects;
  std::vector<std::string> verdict_lines;  // the plain-language statements printed and written to report.md
  double hq_dice_base = 0, hq_dice_cqg = 0, chance_dice = 0;
  double seconds = 0;
};

// Differences within this many Dice points (x100) are called unclear.
constexpr double kDemoMargin = 1.0;

DemoResult run_demo(const DemoConfig& cfg);

// "Precise BN" (pipeline/demo_bn.cpp says why a short run needs it): in_ckpt's BatchNorm running statistics replaced
// by the mean batch statistics of its weights over its training split (unaugmented, training size, batches of
// `batch`), written as the training checkpoint out_ckpt (weights, optimizer and RNG state unchanged).
void recalibrate_batchnorm(const std::string& in_ckpt, const std::string& out_ckpt, int threads, int batch,
                           std::FILE* progress);

// Prints the tables and the verdict to cfg.out_text and writes OUT/report.md and OUT/metrics.json (the evaluation's
// metrics with the verdict and timings added).
void write_demo_outputs(const DemoConfig& cfg, const DemoResult& r, const json::Value& timing);
// report.md's text.
std::string render_demo_report(const DemoConfig& cfg, const DemoResult& r, const json::Value& timing);

// The verdict from an evaluation summary whose models are [base, cqg] and whose domains are [source, targets...]
// (exposed for tests). chance = the paper Dice of an all-background predictor on the source test split.
void demo_verdict(const EvalSummary& s, double chance, DemoResult* r);

}  // namespace cq::pipeline
