#include "pipeline/dcin.h"

#include <algorithm>
#include <filesystem>
#include <limits>

#include "data/sha256.h"
#include "pipeline/progress.h"
#include "pipeline/run_files.h"
#include "refselect/gris.h"
#include "refselect/histogram.h"
#include "tensor/error.h"

namespace cq::pipeline {
namespace fs = std::filesystem;

namespace {
constexpr const char* kGrisFormat = "cqseg-gris-1";
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
}  // namespace

DcinMode parse_dcin_mode(const std::string& s) {
  if (s == "none") return DcinMode::none;
  if (s == "exri") return DcinMode::exri;
  if (s == "gris") return DcinMode::gris;
  if (s == "lris") return DcinMode::lris;
  if (s == "full") return DcinMode::full;
  fail("DCIN setting '", s, "' is not one of none, exri, gris, lris, full");
}

std::vector<DcinMode> parse_dcin_list(const std::string& csv) {
  std::vector<DcinMode> out;
  size_t start = 0;
  while (start <= csv.size()) {
    const size_t comma = csv.find(',', start);
    const std::string item = csv.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
    const DcinMode m = parse_dcin_mode(item);
    CQ_CHECK(std::find(out.begin(), out.end(), m) == out.end(), "DCIN setting '", item, "' listed twice in '", csv,
             "'");
    out.push_back(m);
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  return out;
}

const char* dcin_mode_name(DcinMode m) {
  switch (m) {
    case DcinMode::none: return "none";
    case DcinMode::exri: return "exri";
    case DcinMode::gris: return "gris";
    case DcinMode::lris: return "lris";
    case DcinMode::full: return "full";
  }
  return "?";
}

const char* dcin_column_title(DcinMode m) {
  switch (m) {
    case DcinMode::none: return "no DCIN";
    case DcinMode::exri: return "ExRI";
    case DcinMode::gris: return "GRIS";
    case DcinMode::lris: return "LRIS";
    case DcinMode::full: return "GRIS+LRIS";
  }
  return "?";
}

// ---------------------------------------------------------------- GRIS

GrisReference select_gris(const std::vector<std::string>& files, int threads, std::FILE* progress) {
  return select_gris(files, threads, progress, Device::cpu());
}

GrisReference select_gris(const std::vector<std::string>& files, int threads, std::FILE* progress, Device device) {
  CQ_CHECK(!files.empty(), "GRIS: no images given");
  Context ctx({std::max(1, threads), 0, device});
  GrisReference g;
  g.files = files;
  const int64_t N = int64_t(files.size());
  std::vector<float> X(size_t(N) * dcin::kHistBins);
  Progress bar(progress, "GRIS histograms", N);
  for (int64_t i = 0; i < N; ++i) {
    const std::string& f = files[size_t(i)];
    g.sha256.push_back(data::sha256_file(f));
    const Tensor t = image_to_hwc(ctx, data::read_image(f));
    dcin::color_hist(t, X.data() + i * dcin::kHistBins, dcin::HistOptions{}, ctx.threads(), f);
    bar.update(i + 1, kNaN);
  }
  bar.finish();
  dcin::GrisResult r;
  if (device.is_cuda()) {
    Tensor h = Tensor::empty(ctx.runtime_ptr(), {N, dcin::kHistBins}, DType::f32, Device::cpu());
    std::copy(X.begin(), X.end(), h.data<float>());
    r = dcin::gris_select(h.to(device));
  } else {
    dcin::GrisOptions go;
    go.threads = ctx.threads();
    r = dcin::gris_select(X.data(), N, dcin::kHistBins, go);
  }
  g.index = r.index;
  g.mean_dist = r.mean_dist;
  return g;
}

json::Value gris_to_json(const GrisReference& g, const std::string& images_dir) {
  json::Value v = json::Value::object();
  v.set("format", json::Value::string(kGrisFormat));
  v.set("images", json::Value::string(images_dir));
  v.set("count", json::Value::number(double(g.files.size())));
  v.set("histogram", json::Value::string("8x8x8 joint RGB (cv2.calcHist bin order), L2-normalised"));
  json::Value c = json::Value::object();
  c.set("index", json::Value::number(double(g.index)));
  c.set("file", json::Value::string(g.chosen()));
  c.set("sha256", json::Value::string(g.sha256.at(size_t(g.index))));
  c.set("mean_distance", json::Value::number(g.mean_dist.at(size_t(g.index))));
  v.set("chosen", std::move(c));
  json::Value all = json::Value::array();
  for (size_t i = 0; i < g.files.size(); ++i) {
    json::Value e = json::Value::object();
    e.set("file", json::Value::string(g.files[i]));
    e.set("sha256", json::Value::string(g.sha256[i]));
    e.set("mean_distance", json::Value::number(g.mean_dist[i]));
    all.push(std::move(e));
  }
  v.set("mean_distances", std::move(all));
  return v;
}

std::string read_gris_json(const std::string& path) {
  json::Value v;
  try {
    v = json::parse(read_text(path));
  } catch (const Error& e) {
    fail(path, ": not a GRIS reference file (", e.what(), "); make one with cqseg refs gris");
  }
  const json::Value* fmt = v.is_object() ? v.find("format") : nullptr;
  CQ_CHECK(fmt && fmt->is_string() && fmt->as_string() == kGrisFormat, path,
           ": not a GRIS reference file (format is not '", kGrisFormat, "'); make one with cqseg refs gris");
  const json::Value* c = v.find("chosen");
  const json::Value* file = c && c->is_object() ? c->find("file") : nullptr;
  const json::Value* sha = c && c->is_object() ? c->find("sha256") : nullptr;
  CQ_CHECK(file && file->is_string() && sha && sha->is_string(), path, ": 'chosen' lacks 'file' or 'sha256'");
  const std::string img = file->as_string();
  std::error_code ec;
  CQ_CHECK(fs::is_regular_file(img, ec), path, ": the chosen reference image ", img, " does not exist");
  const std::string got = data::sha256_file(img);
  CQ_CHECK(got == sha->as_string(), path, ": the chosen reference image ", img, " has SHA-256 ", got,
           ", the file recorded ", sha->as_string(), " (it changed; rerun cqseg refs gris)");
  return img;
}

// ---------------------------------------------------------------- references

void DcinReferences::set_exri(Context& ctx, const std::string& image_path) {
  exri_path = image_path;
  exri = dcin::color_stats(image_to_hwc(ctx, data::read_image(image_path)), transfer, image_path);
}

void DcinReferences::set_gris(Context& ctx, const std::string& image_path) {
  gris_path = image_path;
  gris = dcin::color_stats(image_to_hwc(ctx, data::read_image(image_path)), transfer, image_path);
}

void DcinReferences::set_bank(std::shared_ptr<const dcin::RefBank> b, std::shared_ptr<const ImageEmbedder> e,
                              const std::string& images_dir) {
  CQ_CHECK(b && e, "LRIS: bank and embedder are both needed");
  bank_on_device = Tensor();  // a new bank: re-upload on the next GPU query
  CQ_CHECK(b->embedder() == e->e.name, "LRIS: the bank was built with embedder '", b->embedder(),
           "' and refuses queries from '", e->e.name, "' (rebuild the bank with this embedder, or give its own)");
  CQ_CHECK(b->input_h() == e->e.input_h && b->input_w() == e->e.input_w, "LRIS: the bank's input size ",
           b->input_h(), "x", b->input_w(), " differs from embedder ", e->e.name, "'s ", e->e.input_h, "x",
           e->e.input_w);
  bank = std::move(b);
  embedder = std::move(e);
  bank_images_dir = images_dir;
  lris_stats.clear();
}

void DcinReferences::check_for(const std::vector<DcinMode>& modes) const {
  for (DcinMode m : modes) {
    CQ_CHECK(m != DcinMode::exri || exri, "DCIN exri needs a reference image (--ref IMG / --exri IMG)");
    CQ_CHECK((m != DcinMode::gris && m != DcinMode::full) || gris, "DCIN ", dcin_mode_name(m),
             " needs the GRIS reference (--gris-ref ref.json or an image)");
    CQ_CHECK((m != DcinMode::lris && m != DcinMode::full) || (bank && embedder), "DCIN ", dcin_mode_name(m),
             " needs an LRIS bank and its embedder (--bank B)");
  }
}

dcin::BankMatch lris_match(Context& ctx, const DcinReferences& refs, const data::Image& rgb) {
  CQ_CHECK(refs.bank && refs.embedder, "LRIS: no bank");
  const std::vector<float> q = refs.embedder->embed(ctx, rgb);
  if (ctx.device().is_cuda()) {
    // Scores and top-k on the GPU over the bank uploaded once per references object.
    if (!refs.bank_on_device.defined() || refs.bank_on_device.device() != ctx.device())
      refs.bank_on_device = refs.bank->embeddings_on(ctx.runtime_ptr(), ctx.device());
    return refs.bank->query(refs.embedder->e.name, q.data(), int64_t(q.size()), 1, refs.bank_on_device).front();
  }
  return refs.bank->query(refs.embedder->e.name, q.data(), int64_t(q.size()), 1).front();
}

DcinImageResult run_dcin(Context& ctx, SegModel& model, DcinReferences& refs, const data::Image& rgb,
                         const std::vector<DcinMode>& modes, const std::string& what) {
  refs.check_for(modes);
  auto wants = [&](DcinMode m) { return std::find(modes.begin(), modes.end(), m) != modes.end(); };
  const bool full = wants(DcinMode::full);
  DcinImageResult r;
  std::map<DcinMode, Logits> base;
  auto transfer = [&](const dcin::ColorStats& st) {
    return hwc_to_image(dcin::color_transfer(image_to_hwc(ctx, rgb), st, what));
  };
  if (wants(DcinMode::none)) base[DcinMode::none] = predict_logits(ctx, model, rgb);
  if (wants(DcinMode::exri)) {
    r.normalised[DcinMode::exri] = transfer(*refs.exri);
    base[DcinMode::exri] = predict_logits(ctx, model, r.normalised[DcinMode::exri]);
  }
  if (wants(DcinMode::gris) || full) {
    r.normalised[DcinMode::gris] = transfer(*refs.gris);
    base[DcinMode::gris] = predict_logits(ctx, model, r.normalised[DcinMode::gris]);
  }
  if (wants(DcinMode::lris) || full) {
    r.lris_match = lris_match(ctx, refs, rgb);
    r.lris_path = bank_image_path(*refs.bank, r.lris_match.index, refs.bank_images_dir);
    auto it = refs.lris_stats.find(r.lris_match.index);
    if (it == refs.lris_stats.end()) {
      const data::Image ref = load_bank_image(*refs.bank, r.lris_match.index, refs.bank_images_dir);
      it = refs.lris_stats.emplace(r.lris_match.index,
                                   dcin::color_stats(image_to_hwc(ctx, ref), refs.transfer, r.lris_path)).first;
    }
    r.normalised[DcinMode::lris] = transfer(it->second);
    base[DcinMode::lris] = predict_logits(ctx, model, r.normalised[DcinMode::lris]);
  }
  if (full) r.logits[DcinMode::full] = average_logits(base.at(DcinMode::gris), base.at(DcinMode::lris));
  for (auto& kv : base)
    if (wants(kv.first)) r.logits[kv.first] = std::move(kv.second);
  return r;
}

}  // namespace cq::pipeline
