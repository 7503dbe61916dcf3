#include "pipeline/demo.h"

#include <chrono>
#include <cmath>
#include <filesystem>
#include <memory>

#include "data/dataset.h"
#include "data/synthetic.h"
#include "pipeline/dcin.h"
#include "pipeline/embedders.h"
#include "pipeline/evaluate.h"
#include "pipeline/overlay.h"
#include "pipeline/progress.h"
#include "pipeline/run_files.h"
#include "pipeline/trainer.h"
#include "tensor/error.h"

namespace cq::pipeline {
namespace fs = std::filesystem;
namespace synth = data::synth;

DemoConfig DemoConfig::quick() {
  DemoConfig c;
  c.height = 64, c.width = 64;
  c.epochs = 1, c.max_steps = 2, c.batch = 2;
  c.train = 4, c.val = 2, c.test = 3, c.target_test = 3;
  return c;
}

void DemoConfig::validate() const {
  CQ_CHECK(!out.empty(), "demo: --out DIR must not be empty");
  CQ_CHECK(height >= 32 && width >= 32 && height % 32 == 0 && width % 32 == 0 && height <= 2048 && width <= 2048,
           "demo: --size ", height, "x", width, " must be multiples of 32 in 32..2048");
  CQ_CHECK(epochs >= 1 && epochs <= 1000, "demo: --epochs ", epochs, " out of 1..1000");
  CQ_CHECK(max_steps >= 0 && batch >= 1, "demo: steps ", max_steps, " / batch ", batch, " invalid");
  CQ_CHECK(train >= batch && val >= 1 && test >= 1 && target_test >= 1, "demo: split sizes too small (train ", train,
           " must hold at least one batch of ", batch, ")");
  CQ_CHECK(threads >= 0, "demo: --threads ", threads, " must be >= 0");
}

namespace {

double since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

// OUT must be new, empty, or a previous demo's (demo.json there): then the demo's own parts are replaced; anything
// else in OUT is left alone. A folder of other files is refused rather than written into.
void prepare_out(const std::string& out) {
  std::error_code ec;
  if (fs::exists(out, ec)) {
    CQ_CHECK(fs::is_directory(out, ec), "demo: --out ", out, " exists and is not a folder");
    const bool empty = fs::directory_iterator(out, ec) == fs::directory_iterator();
    CQ_CHECK(empty || fs::exists(out + "/demo.json", ec), "demo: --out ", out,
             " holds files but no demo.json (not a cqseg demo folder); give a new or empty folder");
    for (const char* p : {"data", "runs", "refs", "overlays", "report.md", "metrics.json"}) {
      fs::remove_all(out + "/" + p, ec);
      CQ_CHECK(!ec, "demo: cannot remove ", out, "/", p, " of the previous demo (", ec.message(), ")");
    }
  }
  make_dirs(out);
}

json::Value config_json(const DemoConfig& c) {
  json::Value v = json::Value::object();
  v.set("format", json::Value::string("cqseg-demo-1"));
  v.set("size", json::Value::string(std::to_string(c.height) + "x" + std::to_string(c.width)));
  v.set("epochs", json::Value::number(c.epochs));
  v.set("max_steps", json::Value::number(c.max_steps));
  v.set("batch", json::Value::number(c.batch));
  v.set("seed", json::Value::number(double(c.seed)));
  v.set("threads", json::Value::number(c.threads));
  v.set("device", json::Value::string(c.device.str()));
  v.set("images", json::Value::string("HQ train " + std::to_string(c.train) + ", val " + std::to_string(c.val) +
                                      ", test " + std::to_string(c.test) + "; LQ and CAM test " +
                                      std::to_string(c.target_test) + " each"));
  return v;
}

// One picture of what the domains look like: per domain two samples (image, mask colours).
void domain_preview(const std::string& data_root, const std::string& path) {
  std::vector<std::vector<data::Image>> rows;
  for (const char* d : {"HQ", "LQ", "CAM"}) {
    data::DatasetOptions o;
    o.classes = synth::kClasses;
    o.validate = false;
    const data::Dataset ds = data::Dataset::open(data_root, d, "test", o);
    std::vector<data::Image> row;
    for (size_t i = 0; i < std::min<size_t>(2, ds.size()); ++i) {
      const data::Sample s = ds.load(i);
      row.push_back(s.image);
      row.push_back(colorize_mask(s.mask));
    }
    rows.push_back(std::move(row));
  }
  data::write_png(path, compose_sheet(rows, 128));
}

// Paper Dice (mean over classes incl. background) of a predictor that says "background" everywhere.
double all_background_dice(const std::string& root) {
  data::DatasetOptions o;
  o.classes = synth::kClasses;
  const data::Dataset ds = data::Dataset::open(root, "HQ", "test", o);
  int64_t n0 = 0, n = 0;
  for (size_t i = 0; i < ds.size(); ++i) {
    const std::vector<int64_t> h = synth::class_histogram(ds.load(i).mask);
    n0 += h[0];
    for (int64_t v : h) n += v;
  }
  // Background: TP = n0, FP = n - n0, FN = 0; every other class with support has Dice 0.
  return 2.0 * double(n0) / double(n0 + n) / synth::kClasses;
}

TrainConfig train_config(const DemoConfig& c, const std::string& mode) {
  TrainConfig t;
  t.data_root = c.out + "/data";
  t.train_domain = "HQ", t.train_split = "train", t.val_split = "val";
  t.mode = mode;
  t.classes = synth::kClasses;
  t.epochs = c.epochs, t.batch = c.batch, t.max_steps = c.max_steps;
  t.height = c.height, t.width = c.width;
  t.seed = c.seed, t.threads = c.threads, t.workers = 1;
  t.device = c.device.str();
  t.precision = precision_name(c.compute.precision);
  t.deterministic = c.compute.deterministic;
  t.out = c.out + "/runs/" + mode;
  return t;
}

// Appends b's models (and their cells, sheets, references) to a; both evaluated the same domains and modes.
void merge_into(EvalSummary& a, EvalSummary&& b) {
  if (a.models.empty()) {
    a = std::move(b);
    return;
  }
  const size_t off = a.models.size();
  for (auto& m : b.models) a.models.push_back(std::move(m));
  for (auto& c : b.cells) {
    c.model += off;
    a.cells.push_back(std::move(c));
  }
  for (auto& f : b.sheets) a.sheets.push_back(std::move(f));
  if (b.references.is_array()) {
    if (!a.references.is_array()) a.references = json::Value::array();
    for (const auto& v : b.references.as_array()) a.references.push(v);
  }
}

}  // namespace

DemoResult run_demo(const DemoConfig& cfg) {
  cfg.validate();
  const auto t0 = std::chrono::steady_clock::now();
  std::FILE* txt = cfg.out_text;
  prepare_out(cfg.out);
  write_text_atomic(cfg.out + "/demo.json", json::dump(config_json(cfg), 2) + "\n");
  DemoResult r;
  json::Value timing = json::Value::object();

  // 1. data
  auto t = std::chrono::steady_clock::now();
  synth::DatasetSpec spec;
  spec.root = cfg.out + "/data";
  spec.seed = cfg.seed, spec.height = cfg.height, spec.width = cfg.width;
  spec.train = cfg.train, spec.val = cfg.val, spec.test = cfg.test, spec.target_test = cfg.target_test;
  {
    Progress bar(cfg.progress, "generate data",
                 int64_t(cfg.train + cfg.val + cfg.test) + int64_t(spec.targets.size()) * cfg.target_test);
    const auto splits =
        synth::write_dataset(spec, [&](int64_t done, int64_t) { bar.update(done, std::nan("")); });
    bar.finish();
    if (txt) {
      std::fprintf(txt, "data: %s (%dx%d, %d classes: background, tongue, uvula, tonsils, pharynx)\n",
                   spec.root.c_str(), cfg.height, cfg.width, synth::kClasses);
      for (const auto& s : splits) std::fprintf(txt, "  %-4s %-6s %3d images  %s\n", s.domain.c_str(),
                                                s.split.c_str(), s.images, s.dir.c_str());
      std::fflush(txt);  // before the progress bars on stderr
    }
  }
  make_dirs(cfg.out + "/overlays");
  domain_preview(spec.root, cfg.out + "/overlays/domains.png");
  timing.set("data_s", json::Value::number(since(t)));
  if (cfg.data_only) {
    r.seconds = since(t0);
    return r;
  }

  // 2. training
  if (txt) {
    std::fprintf(txt, "training base and cqg on HQ/train (%dx%d, %d epochs, batch %d). The validation Dice printed "
                      "during training uses BatchNorm running statistics, which lag far behind at this short "
                      "schedule; they are recalibrated before the evaluation.\n",
                 cfg.height, cfg.width, cfg.epochs, cfg.batch);
    std::fflush(txt);
  }
  std::vector<std::string> ckpts;
  for (const char* mode : {"base", "cqg"}) {
    t = std::chrono::steady_clock::now();
    TrainHooks hooks;
    hooks.progress = cfg.progress;
    const TrainConfig tc = train_config(cfg, mode);
    const TrainResult tr = train(tc, hooks);
    // The last epoch's weights with recalibrated BatchNorm statistics (demo_bn.cpp): at this short schedule the
    // running averages lag far behind, so validation during training (and best.safetensors) mean little.
    ckpts.push_back(tc.out + "/recalibrated.safetensors");
    recalibrate_batchnorm(tc.out + "/last.safetensors", ckpts.back(), cfg.threads, cfg.batch, cfg.progress);
    timing.set(std::string("train_") + mode + "_s", json::Value::number(since(t)));
    if (txt && !tr.log.empty())
      std::fprintf(txt, "trained %s: %d epochs, %lld steps, final train loss %.4f, %.0f s (BatchNorm statistics "
                   "recalibrated: %s)\n", mode, int(tr.log.size()), (long long)tr.global_step,
                   tr.log.back().train_loss, since(t), ckpts.back().c_str());
    if (txt) std::fflush(txt);
  }

  // 3. references from HQ train: GRIS and one LRIS bank per model (its own encoder)
  t = std::chrono::steady_clock::now();
  make_dirs(cfg.out + "/refs");
  const std::string ref_dir = spec.root + "/HQ/train";
  const std::vector<std::string> ref_files = list_image_files(ref_dir);
  const GrisReference g = select_gris(ref_files, cfg.threads, cfg.progress, cfg.device);
  write_text_atomic(cfg.out + "/refs/gris.json", json::dump(gris_to_json(g, ref_dir), 2) + "\n");
  std::vector<std::string> banks;
  {
    Context ctx(ContextOptions{cfg.threads, 0, cfg.device, cfg.compute});
    for (size_t m = 0; m < ckpts.size(); ++m) {
      auto model = std::make_shared<SegModel>(load_seg_model(ctx, ckpts[m]));
      const ImageEmbedder emb = unet_embedder(model);
      const dcin::RefBank bank = build_bank(ctx, emb, ref_files, cfg.progress);
      banks.push_back(cfg.out + "/refs/bank_" + model->mode + ".safetensors");
      bank.save(banks.back());
    }
  }
  if (txt)
    std::fprintf(txt, "references: GRIS %s (refs/gris.json); LRIS banks of %zu images (each model's U-Net encoder)\n",
                 fs::path(g.chosen()).filename().string().c_str(), ref_files.size());
  if (txt) std::fflush(txt);
  timing.set("refs_s", json::Value::number(since(t)));

  // 4. evaluation, one model at a time (each with its own bank), merged into one report
  t = std::chrono::steady_clock::now();
  for (size_t m = 0; m < ckpts.size(); ++m) {
    EvalConfig e;
    e.models = {ckpts[m]};
    e.data_root = spec.root;
    e.domains = {"HQ/test", "LQ/test", "CAM/test"};
    e.gris_ref = cfg.out + "/refs/gris.json";
    e.bank = banks[m];
    e.threads = cfg.threads;
    e.device = cfg.device;
    e.compute = cfg.compute;
    e.sheet_images = 3;
    e.out = cfg.out;
    e.progress = cfg.progress;
    merge_into(r.summary, evaluate(e));
  }
  timing.set("eval_s", json::Value::number(since(t)));

  // 5. verdict, tables, report
  r.chance_dice = all_background_dice(spec.root);
  demo_verdict(r.summary, r.chance_dice, &r);
  r.seconds = since(t0);
  timing.set("total_s", json::Value::number(r.seconds));
  write_demo_outputs(cfg, r, timing);
  return r;
}

}  // namespace cq::pipeline
