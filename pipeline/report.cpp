#include "pipeline/report.h"

#include <cmath>
#include <cstdio>

#include "pipeline/run_files.h"
#include "tensor/error.h"

namespace cq::pipeline {

const EvalCell* EvalSummary::find(size_t model, size_t domain, DcinMode mode) const {
  for (const EvalCell& c : cells)
    if (c.model == model && c.domain == domain && c.mode == mode) return &c;
  return nullptr;
}

std::string format_dice(double d) {
  if (!std::isfinite(d)) return "n/a";
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.2f", 100.0 * d);
  return buf;
}

json::Value json_number(double v) { return std::isfinite(v) ? json::Value::number(v) : json::Value(); }

std::string markdown_table(const std::vector<std::string>& header, const std::vector<std::vector<std::string>>& rows) {
  CQ_CHECK(!header.empty(), "markdown_table: no columns");
  auto esc = [](const std::string& s) {  // a '|' inside a cell would split it
    std::string o;
    for (char ch : s) o += ch == '|' ? std::string("\\|") : std::string(1, ch);
    return o;
  };
  std::string out = "|";
  for (const auto& h : header) out += " " + esc(h) + " |";
  out += "\n|";
  for (size_t i = 0; i < header.size(); ++i) out += i == 0 ? " --- |" : " ---: |";
  out += "\n";
  for (const auto& r : rows) {
    CQ_CHECK(r.size() == header.size(), "markdown_table: a row has ", r.size(), " cells, the header ", header.size());
    out += "|";
    for (const auto& c : r) out += " " + esc(c) + " |";
    out += "\n";
  }
  return out;
}

std::string domain_table(const EvalSummary& s, size_t domain, bool fov, bool foreground) {
  std::vector<std::string> header{"model"};
  for (DcinMode m : s.modes) header.push_back(dcin_column_title(m));
  std::vector<std::vector<std::string>> rows;
  for (size_t mi = 0; mi < s.models.size(); ++mi) {
    std::vector<std::string> row{s.models[mi].label};
    for (DcinMode m : s.modes) {
      const EvalCell* c = s.find(mi, domain, m);
      const DiceCounter* d = !c ? nullptr : fov ? (c->fov ? &*c->fov : nullptr) : &c->image;
      row.push_back(d ? format_dice(foreground ? d->foreground_dice() : d->mean_dice()) : "n/a");
    }
    rows.push_back(std::move(row));
  }
  return markdown_table(header, rows);
}

std::string render_report(const EvalSummary& s) {
  std::string o = "# cqseg eval\n\n";
  o += "Dice as the paper: per class TP, FP, FN summed over all pixels of all images of a domain, "
       "Dice_c = 2TP/(2TP+FP+FN), classes without support dropped. **Paper Dice** = mean over classes including "
       "background; **foreground Dice** = mean over the non-background classes (the vessel Dice for fundus). "
       "Values x100. Where a domain has field-of-view masks the numbers inside the field of view come first "
       "(the headline), then the whole image.\n\n";
  o += "Columns: no DCIN = the image as it is; ExRI = a fixed reference; GRIS = the global reference; LRIS = the "
       "per-image reference; GRIS+LRIS = mean of the GRIS and LRIS logits, then argmax.\n\n";
  o += "## Models\n\n";
  std::vector<std::vector<std::string>> rows;
  for (const auto& m : s.models)
    rows.push_back({m.label, m.path, m.mode, m.train_domain, std::to_string(m.height) + "x" + std::to_string(m.width),
                    std::to_string(m.classes), m.sha256.substr(0, 16)});
  o += markdown_table({"model", "checkpoint", "mode", "trained on", "size (HxW)", "classes", "SHA-256 (16)"}, rows);
  for (size_t d = 0; d < s.domains.size(); ++d) {
    const EvalDomainInfo& di = s.domains[d];
    o += "\n## " + di.name + " (" + std::to_string(di.images) + " images)\n\n";
    if (di.has_fov) {
      o += "Paper Dice, inside the field of view:\n\n" + domain_table(s, d, true, false);
      o += "\nForeground Dice, inside the field of view:\n\n" + domain_table(s, d, true, true);
    }
    o += std::string("\nPaper Dice") + (di.has_fov ? ", whole image" : "") + ":\n\n" + domain_table(s, d, false, false);
    o += std::string("\nForeground Dice") + (di.has_fov ? ", whole image" : "") + ":\n\n" +
         domain_table(s, d, false, true);
  }
  if (!s.sheets.empty()) {
    o += "\n## Overlay sheets\n\nEach row one image; columns: input | ground truth | the prediction of each DCIN "
         "setting in the order of the tables (overlays: class colours blended 0.5 over the image).\n\n";
    for (const auto& f : s.sheets) o += "![" + f + "](" + f + ")\n\n";
  }
  return o;
}

namespace {

json::Value counter_json(const DiceCounter& d) {
  json::Value v = json::Value::object();
  v.set("dice_mean", json_number(d.mean_dice()));
  v.set("dice_fg", json_number(d.foreground_dice()));
  json::Value cls = json::Value::array();
  for (int c = 0; c < d.classes(); ++c) {
    json::Value e = json::Value::object();
    e.set("class", json::Value::number(c));
    e.set("dice", json_number(d.dice(c)));
    e.set("tp", json::Value::number(double(d.tp()[size_t(c)])));
    e.set("fp", json::Value::number(double(d.fp()[size_t(c)])));
    e.set("fn", json::Value::number(double(d.fn()[size_t(c)])));
    cls.push(std::move(e));
  }
  v.set("per_class", std::move(cls));
  return v;
}

}  // namespace

json::Value metrics_json(const EvalSummary& s) {
  json::Value v = json::Value::object();
  v.set("format", json::Value::string("cqseg-eval-1"));
  // The program's build (compiler, flags, the source revision compiled in): with the checkpoints' hashes below, what
  // a results document needs to say which program produced these counts.
  v.set("build", build_info());
  v.set("numerics", numerics_info());
  v.set("metric", json::Value::string(
                      "per class TP/FP/FN summed over all pixels of all images of a domain; dice_mean: mean Dice over "
                      "classes with support incl. background (the paper's); dice_fg: over non-background classes"));
  json::Value models = json::Value::array();
  for (const auto& m : s.models) {
    json::Value e = json::Value::object();
    e.set("label", json::Value::string(m.label));
    e.set("checkpoint", json::Value::string(m.path));
    e.set("sha256", json::Value::string(m.sha256));
    e.set("mode", json::Value::string(m.mode));
    e.set("run", json::Value::string(m.run_name));
    e.set("train_domain", json::Value::string(m.train_domain));
    e.set("classes", json::Value::number(m.classes));
    e.set("height", json::Value::number(m.height));
    e.set("width", json::Value::number(m.width));
    models.push(std::move(e));
  }
  v.set("models", std::move(models));
  json::Value domains = json::Value::array();
  for (const auto& d : s.domains) {
    json::Value e = json::Value::object();
    e.set("name", json::Value::string(d.name));
    e.set("images", json::Value::number(d.images));
    e.set("has_fov", json::Value::boolean(d.has_fov));
    domains.push(std::move(e));
  }
  v.set("domains", std::move(domains));
  json::Value modes = json::Value::array();
  for (DcinMode m : s.modes) modes.push(json::Value::string(dcin_mode_name(m)));
  v.set("dcin", std::move(modes));
  v.set("settings", s.settings);
  v.set("references", s.references);
  json::Value results = json::Value::array();
  for (const EvalCell& c : s.cells) {
    json::Value e = json::Value::object();
    e.set("model", json::Value::string(s.models.at(c.model).label));
    e.set("domain", json::Value::string(s.domains.at(c.domain).name));
    e.set("dcin", json::Value::string(dcin_mode_name(c.mode)));
    e.set("image", counter_json(c.image));
    e.set("fov", c.fov ? counter_json(*c.fov) : json::Value());
    results.push(std::move(e));
  }
  v.set("results", std::move(results));
  json::Value sheets = json::Value::array();
  for (const auto& f : s.sheets) sheets.push(json::Value::string(f));
  v.set("sheets", std::move(sheets));
  return v;
}

}  // namespace cq::pipeline
