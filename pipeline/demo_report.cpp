// The demo's verdict (computed from the numbers, never assumed), its printed tables and report.md.
#include <cmath>
#include <cstdio>
#include <string>

#include "pipeline/demo.h"
#include "pipeline/run_files.h"
#include "tensor/error.h"

namespace cq::pipeline {
namespace {

std::string fmt(const char* f, double a) {
  char b[64];
  std::snprintf(b, sizeof b, f, a);
  return b;
}

size_t model_of(const EvalSummary& s, const std::string& mode) {
  for (size_t i = 0; i < s.models.size(); ++i)
    if (s.models[i].mode == mode) return i;
  fail("demo: the evaluation has no ", mode, " model");
}

double dice(const EvalSummary& s, size_t m, size_t d, DcinMode mode) {
  const EvalCell* c = s.find(m, d, mode);
  CQ_CHECK(c != nullptr, "demo: no result for model ", m, ", domain ", d, ", ", dcin_mode_name(mode));
  return 100 * c->image.mean_dice();
}

DemoEffect effect(const std::string& what, const std::string& domain, double before, double after) {
  DemoEffect e{what, domain, before, after, "unclear"};
  if (std::isfinite(before) && std::isfinite(after)) {
    if (after - before > kDemoMargin) e.verdict = "yes";
    if (after - before < -kDemoMargin) e.verdict = "no";
  }
  return e;
}

// One plain statement over the target domains of one comparison.
std::string statement(const std::string& claim, const std::vector<DemoEffect>& es) {
  int yes = 0, no = 0;
  std::string detail;
  for (const auto& e : es) {
    yes += e.verdict == "yes";
    no += e.verdict == "no";
    detail += (detail.empty() ? "" : "; ") + e.domain + " " + format_dice(e.before / 100) + " -> " +
              format_dice(e.after / 100) + " (" + fmt("%+.2f", e.after - e.before) + ")";
  }
  const int n = int(es.size());
  std::string v;
  if (yes == n)
    v = "SHOWN on all " + std::to_string(n) + " target domains";
  else if (no == n)
    v = "NOT SHOWN: lower on all " + std::to_string(n) + " target domains";
  else if (yes == 0 && no == 0)
    v = "NOT SHOWN: no difference beyond " + fmt("%.1f", kDemoMargin) + " Dice points";
  else
    v = "MIXED: higher on " + std::to_string(yes) + " of " + std::to_string(n) + " target domains, lower on " +
        std::to_string(no);
  return claim + ": " + v + " (" + detail + ").";
}

std::string timing_text(const json::Value& timing) {
  std::string o;
  for (const auto& kv : timing.as_object())
    if (kv.second.is_number()) o += (o.empty() ? "" : ", ") + kv.first + " " + fmt("%.0f", kv.second.as_number());
  return o;
}

}  // namespace

void demo_verdict(const EvalSummary& s, double chance, DemoResult* r) {
  CQ_CHECK(s.domains.size() >= 2, "demo: the verdict needs the source domain and at least one target domain");
  const size_t base = model_of(s, "base"), cqg = model_of(s, "cqg");
  r->effects.clear();
  r->verdict_lines.clear();
  r->chance_dice = chance;
  r->hq_dice_base = dice(s, base, 0, DcinMode::none);
  r->hq_dice_cqg = dice(s, cqg, 0, DcinMode::none);
  const double learned_margin = 15;  // Dice points above the all-background predictor that count as learning
  const bool learned = r->hq_dice_base > 100 * chance + learned_margin && r->hq_dice_cqg > 100 * chance + learned_margin;
  r->verdict_lines.push_back(
      "Learning: on the source domain (" + s.domains[0].name + ", no DCIN) the paper Dice is " +
      format_dice(r->hq_dice_base / 100) + " for base and " + format_dice(r->hq_dice_cqg / 100) + " for cqg; an " +
      "all-background predictor scores " + format_dice(chance) + ". " +
      (learned ? "Both models learned the task."
               : "At least one model did NOT clearly learn the task (within " + fmt("%.0f", learned_margin) +
                     " points of the all-background predictor): train longer (--epochs); the comparisons below "
                     "mean little."));
  std::vector<DemoEffect> dcin_fx, cqg_fx, both_fx;
  for (size_t d = 1; d < s.domains.size(); ++d) {
    const std::string& dn = s.domains[d].name;
    const double bn = dice(s, base, d, DcinMode::none), bf = dice(s, base, d, DcinMode::full);
    const double cn = dice(s, cqg, d, DcinMode::none), cf = dice(s, cqg, d, DcinMode::full);
    dcin_fx.push_back(effect("DCIN (GRIS+LRIS) vs no DCIN, base model", dn, bn, bf));
    cqg_fx.push_back(effect("CQG vs base, no DCIN", dn, bn, cn));
    both_fx.push_back(effect("CQG with DCIN (GRIS+LRIS) vs base without DCIN", dn, bn, cf));
  }
  r->verdict_lines.push_back(
      statement("Paper effect 1, DCIN (GRIS+LRIS) raises the baseline's target-domain Dice over no DCIN", dcin_fx));
  r->verdict_lines.push_back(
      statement("Paper effect 2, CQG raises target-domain Dice over the baseline (both without DCIN)", cqg_fx));
  r->verdict_lines.push_back(
      statement("Both together, CQG with DCIN (GRIS+LRIS) against the baseline without DCIN", both_fx));
  // The best DCIN setting of the baseline per target domain, so a reader sees which references helped.
  for (size_t d = 1; d < s.domains.size(); ++d) {
    DcinMode best = DcinMode::none;
    for (DcinMode m : s.modes)
      if (dice(s, base, d, m) > dice(s, base, d, best)) best = m;
    r->verdict_lines.push_back("Best setting for base on " + s.domains[d].name + ": " + dcin_column_title(best) +
                               " (" + format_dice(dice(s, base, d, best) / 100) + ").");
  }
  for (auto* v : {&dcin_fx, &cqg_fx, &both_fx}) r->effects.insert(r->effects.end(), v->begin(), v->end());
}

std::string render_demo_report(const DemoConfig& cfg, const DemoResult& r, const json::Value& timing) {
  std::string o = "# cqseg demo\n\n";
  o += "The method of *Color-Quality Invariance for Robust Medical Image Segmentation* on built-in synthetic data "
       "(`data/synthetic.h`): throat-like scenes with 5 classes (background, tongue, uvula, tonsils, pharynx). A "
       "source domain **HQ** (sharp, well exposed) and two targets with the same layouts but other appearance: "
       "**LQ** (under-exposed, colour cast, blur, noise, JPEG) and **CAM** (another camera: colour response, white "
       "balance, tone curve, vignetting). Models are trained on HQ/train only (" +
       std::to_string(cfg.height) + "x" + std::to_string(cfg.width) + ", " + std::to_string(cfg.epochs) +
       " epochs, batch " + std::to_string(cfg.batch) + ", seed " + std::to_string(cfg.seed) +
       "): `base` (no augmentation) and `cqg` (the CQG loss). References for DCIN come from HQ/train: GRIS "
       "(`refs/gris.json`) and an LRIS bank per model embedded with its own U-Net encoder (`refs/bank_*.safetensors`). "
       "The last epoch's weights are evaluated, with their BatchNorm running statistics recalibrated over HQ/train "
       "(`runs/*/recalibrated.safetensors`): the encoder's BatchNorm momentum of 0.01 needs hundreds of steps to "
       "catch up, far more than a demo trains, so the validation numbers printed during training (running "
       "statistics) understate the models.\n\n";
  o += "![HQ, LQ and CAM samples with their masks](overlays/domains.png)\n\n";
  o += "Rows: HQ, LQ, CAM test images with their masks (black background, red tongue, green uvula, blue tonsils, "
       "yellow pharynx).\n\n";
  o += "## Verdict\n\nComputed from the tables below (paper Dice, x100; differences within " +
       fmt("%.1f", kDemoMargin) + " points count as no effect). A short demo run is small and noisy: these are "
       "the numbers of this run, not the paper's.\n\n";
  for (const auto& l : r.verdict_lines) o += "- " + l + "\n";
  o += "\nTimes (s): " + timing_text(timing) + ".\n\n";
  std::string ev = render_report(r.summary);
  const std::string head = "# cqseg eval\n\n";
  if (ev.rfind(head, 0) == 0) ev = ev.substr(head.size());
  o += "## Evaluation\n\n" + ev;
  return o;
}

void write_demo_outputs(const DemoConfig& cfg, const DemoResult& r, const json::Value& timing) {
  if (std::FILE* f = cfg.out_text) {
    std::fprintf(f, "\nPaper Dice (x100: per-class Dice over all pixels of a domain, mean over the 5 classes incl. "
                    "background).\nRows: models trained on HQ/train; columns: DCIN settings.\n");
    for (size_t d = 0; d < r.summary.domains.size(); ++d)
      std::fprintf(f, "\n%s (%d images)%s:\n%s", r.summary.domains[d].name.c_str(), r.summary.domains[d].images,
                   d == 0 ? ", source domain" : ", target domain",
                   domain_table(r.summary, d, false, false).c_str());
    std::fprintf(f, "\nVerdict:\n");
    for (const auto& l : r.verdict_lines) std::fprintf(f, "- %s\n", l.c_str());
    std::fprintf(f, "\nTimes (s): %s\nreport: %s/report.md (overlay sheets in %s/overlays/)\n",
                 timing_text(timing).c_str(), cfg.out.c_str(), cfg.out.c_str());
    std::fflush(f);
  }
  write_text_atomic(cfg.out + "/report.md", render_demo_report(cfg, r, timing));
  json::Value m = metrics_json(r.summary);
  json::Value d = json::Value::object();
  json::Value lines = json::Value::array(), fx = json::Value::array();
  for (const auto& l : r.verdict_lines) lines.push(json::Value::string(l));
  for (const auto& e : r.effects) {
    json::Value v = json::Value::object();
    v.set("comparison", json::Value::string(e.what));
    v.set("domain", json::Value::string(e.domain));
    v.set("before", json_number(e.before));
    v.set("after", json_number(e.after));
    v.set("verdict", json::Value::string(e.verdict));
    fx.push(std::move(v));
  }
  d.set("verdict", std::move(lines));
  d.set("effects", std::move(fx));
  d.set("all_background_dice", json_number(100 * r.chance_dice));
  d.set("times_s", timing);
  m.set("demo", std::move(d));
  write_text_atomic(cfg.out + "/metrics.json", json::dump(m, 2) + "\n");
}

}  // namespace cq::pipeline
