// The evaluation's results and how they are written: report.md (the paper's Table I/II layout: one table per target
// domain, rows = models, columns = DCIN settings) and metrics.json (every number, per class).
//
// Metric (SPEC.md "Evaluation", pipeline/metrics.h): per class TP, FP, FN summed over every pixel of every image of a
// domain; Dice_c = 2TP/(2TP+FP+FN); classes without support dropped; the paper's Dice is the mean over the remaining
// classes INCLUDING background; the foreground Dice is the mean over the non-background ones (the vessel Dice for
// fundus). Tables print x100 with two decimals; a value without support prints as "n/a" (null in JSON).
// Where a domain has field-of-view masks, the numbers inside the field of view are the headline (fundus, as
// shared/data/README.md asks) and the whole-image numbers follow.
#pragma once
#include <optional>
#include <string>
#include <vector>

#include "nn/json.h"
#include "pipeline/dcin.h"
#include "pipeline/metrics.h"

namespace cq::pipeline {

struct EvalModelInfo {
  std::string label;  // row name: "<mode> (<run dir>)", made unique
  std::string path, sha256, mode, run_name, train_domain;
  int classes = 0, height = 0, width = 0;
};

struct EvalDomainInfo {
  std::string name;  // "DOMAIN/split"
  int images = 0;
  bool has_fov = false;
};

struct EvalCell {
  size_t model = 0, domain = 0;
  DcinMode mode = DcinMode::none;
  DiceCounter image;                // every pixel
  std::optional<DiceCounter> fov;   // inside the field of view, when the domain has one
  EvalCell(size_t m, size_t d, DcinMode md, int classes, bool has_fov)
      : model(m), domain(d), mode(md), image(classes) {
    if (has_fov) fov.emplace(classes);
  }
};

struct EvalSummary {
  std::vector<EvalModelInfo> models;
  std::vector<EvalDomainInfo> domains;
  std::vector<DcinMode> modes;
  std::vector<EvalCell> cells;
  json::Value references = json::Value::object();  // what each DCIN setting used, per model
  json::Value settings = json::Value::object();    // colour space, threshold, size policy, ...
  std::vector<std::string> sheets;                 // overlay sheet files, relative to the output folder

  const EvalCell* find(size_t model, size_t domain, DcinMode mode) const;
};

// "71.23" (x100, two decimals) or "n/a" for NaN.
std::string format_dice(double d);
// A GitHub-flavoured markdown table; the first column left-aligned, the others right-aligned. Every row must have
// header.size() cells.
std::string markdown_table(const std::vector<std::string>& header, const std::vector<std::vector<std::string>>& rows);
// The table of one domain: rows = models, columns = DCIN settings; fov selects the field-of-view counters (the
// whole image when false); foreground selects the foreground Dice instead of the paper's.
std::string domain_table(const EvalSummary& s, size_t domain, bool fov, bool foreground);

std::string render_report(const EvalSummary& s);
json::Value metrics_json(const EvalSummary& s);
// A number, or null for NaN / infinity (JSON has no NaN).
json::Value json_number(double v);

}  // namespace cq::pipeline
