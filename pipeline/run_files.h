// The files of a training run directory besides checkpoints: log.jsonl (one JSON object per epoch), loss_curve.svg
// (train and validation loss against epoch, redrawn each epoch), manifest.json (what produced the run), and the
// helpers they share (atomic text writes, the git revision, build facts).
#pragma once
#include <string>
#include <vector>

#include "nn/json.h"

namespace cq::pipeline {

// One epoch's numbers, as log.jsonl stores them. CQG terms are NaN (null in JSON) for base/aug.
struct EpochRecord {
  int epoch = 0;  // 1-based
  double train_loss = 0, train_dc1 = 0, train_dc2 = 0, train_mse = 0;
  double val_loss = 0, val_dice = 0, val_dice_mean = 0;  // foreground Dice; mean Dice incl. background
  double seconds = 0, steps_per_s = 0;
  int steps = 0;
  bool best = false;  // this epoch wrote best.safetensors

  json::Value to_json() const;
  static EpochRecord from_json(const json::Value& v);
};

// Writes path + ".tmp" then renames over path: readers (and a crash) see the old or the new file, never half of one.
void write_text_atomic(const std::string& path, const std::string& text);
std::string read_text(const std::string& path);
bool file_exists(const std::string& path);
// mkdir -p; throws naming the directory.
void make_dirs(const std::string& dir);
// Creates and removes a probe file in dir: an unwritable output folder (read-only mount, permissions, full disk)
// is reported before work starts, not when the first result is written. Throws naming the folder and the reason.
void check_writable_dir(const std::string& dir);
// Peak resident memory of this process so far (VmHWM of /proc/self/status), in bytes; 0 where unavailable.
int64_t peak_rss_bytes();

// log.jsonl text for the records (one compact object per line).
std::string log_jsonl(const std::vector<EpochRecord>& records);
// Parses log.jsonl text (blank lines ignored); throws naming the line on malformed input.
std::vector<EpochRecord> parse_log_jsonl(const std::string& text, const std::string& path);

// A self-contained SVG line chart of train and validation loss per epoch (no external renderer).
std::string loss_curve_svg(const std::vector<EpochRecord>& records, const std::string& title);

// The commit checked out where the sources live: finds .git upward from start_dir (a directory, or a worktree's
// "gitdir:" file), follows HEAD to its ref (loose ref file, else packed-refs). "unknown" when anything is missing.
std::string git_revision(const std::string& start_dir);
// Compiler, CUDA backend, optimisation/assertions, as compiled into this binary.
json::Value build_info();

}  // namespace cq::pipeline
