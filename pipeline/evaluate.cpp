#include "pipeline/evaluate.h"

#include <algorithm>
#include <filesystem>
#include <limits>
#include <map>
#include <memory>
#include <set>

#include "data/dataset.h"
#include "data/resize.h"
#include "pipeline/overlay.h"
#include "pipeline/progress.h"
#include "pipeline/run_files.h"
#include "tensor/error.h"

namespace cq::pipeline {
namespace fs = std::filesystem;

void split_domain(const std::string& text, std::string* domain, std::string* split) {
  const size_t slash = text.find_last_of('/');
  CQ_CHECK(slash != std::string::npos && slash > 0 && slash + 1 < text.size(), "domain '", text,
           "' must be DOMAIN/split, e.g. DRIVE/test");
  *domain = text.substr(0, slash);
  *split = text.substr(slash + 1);
}

namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

bool wants(const std::vector<DcinMode>& modes, DcinMode m) {
  return std::find(modes.begin(), modes.end(), m) != modes.end();
}

std::string sanitize(const std::string& s) {
  std::string o;
  for (char c : s) o += (std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '-' || c == '_') ? c : '_';
  return o;
}

std::vector<int64_t> to_i64(const data::Image& m) { return std::vector<int64_t>(m.px.begin(), m.px.end()); }

// All the state one evaluation shares across models (references are computed once per folder).
struct Evaluator {
  const EvalConfig& cfg;
  Context ctx;
  EvalSummary s;
  std::map<std::string, std::string> gris_by_dir;  // ref folder -> chosen image
  std::shared_ptr<const ImageEmbedder> fixed_embedder;  // --embedder given
  std::map<std::string, std::shared_ptr<const dcin::RefBank>> bank_by_key;
  std::shared_ptr<const dcin::RefBank> given_bank;

  explicit Evaluator(const EvalConfig& c) : cfg(c), ctx(ContextOptions{c.threads, 0, c.device, c.compute}) {}

  std::string ref_dir(const SegModel& m) const {
    std::error_code ec;
    if (!cfg.ref_images.empty()) {
      if (fs::is_directory(cfg.ref_images, ec)) return cfg.ref_images;
      const std::string under = cfg.data_root + "/" + cfg.ref_images;
      CQ_CHECK(!cfg.data_root.empty() && fs::is_directory(under, ec), "--ref-images ", cfg.ref_images,
               ": neither a folder nor DOMAIN/split under --data ", cfg.data_root);
      return under;
    }
    CQ_CHECK(!cfg.data_root.empty(), "eval: --data is needed for the default reference images");
    const std::string d = cfg.data_root + "/" + m.cfg.train_domain + "/" + m.cfg.train_split;
    CQ_CHECK(fs::is_directory(d, ec), "eval: ", m.path, " was trained on ", m.cfg.train_domain, "/",
             m.cfg.train_split, " but ", d, " does not exist; give --ref-images");
    return d;
  }

  std::string gris_image(const std::string& dir, const std::vector<std::string>& files) {
    if (!cfg.gris_ref.empty()) {
      const std::string ext = fs::path(cfg.gris_ref).extension().string();
      return ext == ".json" ? read_gris_json(cfg.gris_ref) : cfg.gris_ref;
    }
    auto it = gris_by_dir.find(dir);
    if (it == gris_by_dir.end())
      it = gris_by_dir.emplace(dir, select_gris(files, ctx.threads(), cfg.progress).chosen()).first;
    return it->second;
  }

  void setup_lris(DcinReferences& refs, const std::shared_ptr<SegModel>& model, const std::string& dir,
                  const std::vector<std::string>& files, json::Value& rj) {
    std::shared_ptr<const ImageEmbedder> emb = fixed_embedder;
    if (!cfg.bank.empty()) {
      if (!given_bank) given_bank = std::make_shared<dcin::RefBank>(dcin::RefBank::load(cfg.bank));
      if (!emb) {
        CQ_CHECK(given_bank->embedder() == unet_embedder_name(model->sha256), "eval: bank ", cfg.bank,
                 " was built with embedder '", given_bank->embedder(), "', which is not ", model->path,
                 "'s own encoder; give that embedder with --embedder (and --weights)");
        emb = std::make_shared<ImageEmbedder>(unet_embedder(model));
      }
      refs.set_bank(given_bank, emb, cfg.bank_images);
      rj.set("bank", json::Value::string(cfg.bank));
    } else {
      if (!emb) emb = std::make_shared<ImageEmbedder>(unet_embedder(model));
      const std::string key = emb->e.name + "|" + dir;
      auto it = bank_by_key.find(key);
      if (it == bank_by_key.end())
        it = bank_by_key.emplace(key, std::make_shared<dcin::RefBank>(build_bank(ctx, *emb, files, cfg.progress)))
                 .first;
      refs.set_bank(it->second, emb);
      rj.set("bank", json::Value::string("built over " + dir));
    }
    rj.set("embedder", json::Value::string(emb->e.name));
    rj.set("bank_size", json::Value::number(double(refs.bank->size())));
  }

  void run_model(const std::string& path) {
    auto model = std::make_shared<SegModel>(load_seg_model(ctx, path));
    const size_t mi = s.models.size();
    EvalModelInfo info;
    info.path = path, info.sha256 = model->sha256, info.mode = model->mode, info.run_name = model->run_name;
    info.train_domain = model->cfg.train_domain + "/" + model->cfg.train_split;
    info.classes = model->classes(), info.height = model->height(), info.width = model->width();
    info.label = model->mode + " (" + model->run_name + ")";
    std::set<std::string> used;
    for (const auto& m : s.models) used.insert(m.label);
    // Two checkpoints of one run (best, last) are told apart by their file stem, anything else by a number.
    if (used.count(info.label))
      info.label = model->mode + " (" + model->run_name + "/" + fs::path(path).stem().string() + ")";
    for (int k = 2; used.count(info.label); ++k)
      info.label = model->mode + " (" + model->run_name + ") #" + std::to_string(k);
    s.models.push_back(info);

    DcinReferences refs;
    refs.transfer = cfg.transfer;
    json::Value rj = json::Value::object();
    rj.set("model", json::Value::string(info.label));
    const bool need_refs = wants(cfg.modes, DcinMode::exri) || wants(cfg.modes, DcinMode::gris) ||
                           wants(cfg.modes, DcinMode::lris) || wants(cfg.modes, DcinMode::full);
    if (need_refs) {
      const std::string dir = (wants(cfg.modes, DcinMode::exri) && !cfg.exri.empty() &&
                               !wants(cfg.modes, DcinMode::gris) && !wants(cfg.modes, DcinMode::lris) &&
                               !wants(cfg.modes, DcinMode::full))
                                  ? std::string()
                                  : ref_dir(*model);
      const std::vector<std::string> files = dir.empty() ? std::vector<std::string>() : list_image_files(dir);
      rj.set("ref_images", dir.empty() ? json::Value() : json::Value::string(dir));
      if (wants(cfg.modes, DcinMode::exri)) {
        refs.set_exri(ctx, cfg.exri.empty() ? files.at(0) : cfg.exri);
        rj.set("exri", json::Value::string(refs.exri_path));
      }
      if (wants(cfg.modes, DcinMode::gris) || wants(cfg.modes, DcinMode::full)) {
        refs.set_gris(ctx, gris_image(dir, files));
        rj.set("gris", json::Value::string(refs.gris_path));
      }
      if (wants(cfg.modes, DcinMode::lris) || wants(cfg.modes, DcinMode::full)) setup_lris(refs, model, dir, files, rj);
    }
    json::Value choices = json::Value::object();
    for (size_t d = 0; d < cfg.domains.size(); ++d) choices.set(cfg.domains[d], run_domain(*model, mi, d, refs));
    if (refs.bank) rj.set("lris_choices", std::move(choices));
    json::Value all = s.references.is_array() ? s.references : json::Value::array();
    all.push(std::move(rj));
    s.references = std::move(all);
  }

  // Returns how often each LRIS reference was chosen on this domain.
  json::Value run_domain(SegModel& model, size_t mi, size_t di, DcinReferences& refs) {
    std::string dom, split;
    split_domain(cfg.domains[di], &dom, &split);
    data::DatasetOptions o;
    o.classes = model.classes();
    o.print_warnings = cfg.progress != nullptr;
    const data::Dataset ds = data::Dataset::open(cfg.data_root, dom, split, o);
    size_t n = ds.size();
    if (cfg.max_images > 0) n = std::min(n, size_t(cfg.max_images));
    if (s.domains.size() <= di) s.domains.push_back({cfg.domains[di], int(n), ds.has_fov()});
    std::vector<size_t> cell(cfg.modes.size());
    for (size_t k = 0; k < cfg.modes.size(); ++k) {
      cell[k] = s.cells.size();
      s.cells.emplace_back(mi, di, cfg.modes[k], model.classes(), ds.has_fov());
    }
    std::map<std::string, int> chosen;
    std::vector<std::vector<data::Image>> sheet;
    Progress bar(cfg.progress, "eval " + s.models[mi].label + " on " + cfg.domains[di], int64_t(n));
    for (size_t i = 0; i < n; ++i) {
      const data::Sample smp = ds.load(i);
      const DcinImageResult r = run_dcin(ctx, model, refs, smp.image, cfg.modes, ds.files(i).image);
      if (!r.lris_path.empty()) chosen[fs::path(r.lris_path).filename().string()]++;
      const std::vector<int64_t> target = to_i64(smp.mask);
      std::vector<data::Image> row;
      if (int(i) < cfg.sheet_images) row = {smp.image, overlay_mask(smp.image, smp.mask)};
      for (size_t k = 0; k < cfg.modes.size(); ++k) {
        const data::Image pred =
            data::resize_nearest(argmax_mask(r.logits.at(cfg.modes[k])), smp.image.h, smp.image.w);
        const std::vector<int64_t> p = to_i64(pred);
        EvalCell& c = s.cells[cell[k]];
        c.image.add_labels(p.data(), target.data(), nullptr, p.size());
        if (c.fov) c.fov->add_labels(p.data(), target.data(), smp.fov.px.data(), p.size());
        if (int(i) < cfg.sheet_images) row.push_back(overlay_mask(smp.image, pred));
      }
      if (!row.empty()) sheet.push_back(std::move(row));
      bar.update(int64_t(i + 1), kNaN);
    }
    bar.finish();
    if (!sheet.empty()) {
      const std::string rel = "overlays/" + sanitize(cfg.domains[di]) + "__" + sanitize(s.models[mi].label) + ".png";
      make_dirs(cfg.out + "/overlays");
      data::write_png(cfg.out + "/" + rel, compose_sheet(sheet));
      s.sheets.push_back(rel);
    }
    json::Value v = json::Value::object();
    for (const auto& kv : chosen) v.set(kv.first, json::Value::number(kv.second));
    return v;
  }
};

}  // namespace

EvalSummary evaluate(const EvalConfig& cfg) {
  CQ_CHECK(!cfg.models.empty(), "eval: no model given (--model CKPT[,CKPT...])");
  CQ_CHECK(!cfg.domains.empty(), "eval: no domain given (--domains DOMAIN/split[,...])");
  CQ_CHECK(!cfg.modes.empty(), "eval: no DCIN setting given (--dcin none,exri,gris,lris,full)");
  CQ_CHECK(!cfg.data_root.empty(), "eval: --data ROOT is required");
  CQ_CHECK(!cfg.out.empty(), "eval: --out DIR is required");
  for (const auto& d : cfg.domains) {
    std::string a, b;
    split_domain(d, &a, &b);
  }
  make_dirs(cfg.out);
  Evaluator ev(cfg);
  ev.s.modes = cfg.modes;
  if (!cfg.embedder.empty()) ev.fixed_embedder = std::make_shared<ImageEmbedder>(
                                 make_embedder(ev.ctx, cfg.embedder, cfg.weights));
  json::Value st = json::Value::object();
  st.set("color_space", json::Value::string(dcin::color_space_name(cfg.transfer.space)));
  st.set("stats_threshold", json::Value::number(cfg.transfer.mask_threshold));
  st.set("size_policy", json::Value::string("predict at the checkpoint's training size (bicubic resize; a --size native "
                                            "checkpoint: fitted into its training images' size keeping the aspect, "
                                            "padded with black to multiples of 32), argmax, class map resized back "
                                            "nearest; scored at each image's own size"));
  st.set("ensemble", json::Value::string("GRIS+LRIS: mean of the two logit maps, then argmax"));
  st.set("data", json::Value::string(cfg.data_root));
  st.set("threads", json::Value::number(ev.ctx.threads()));
  st.set("max_images", json::Value::number(cfg.max_images));
  ev.s.settings = st;
  ev.s.references = json::Value::array();
  for (const auto& m : cfg.models) ev.run_model(m);
  write_text_atomic(cfg.out + "/report.md", render_report(ev.s));
  write_text_atomic(cfg.out + "/metrics.json", json::dump(metrics_json(ev.s), 2) + "\n");
  return std::move(ev.s);
}

}  // namespace cq::pipeline
