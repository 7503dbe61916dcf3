#include "data/dataset.h"

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <map>

#include "tensor/error.h"

namespace fs = std::filesystem;

namespace cq::data {
namespace {

std::string lower(std::string s) {
  for (char& ch : s) ch = char(std::tolower(static_cast<unsigned char>(ch)));
  return s;
}

// stem -> path of the files in `dir` whose extension passes `accept`; two files with one stem is an error (which one
// is the label would be a guess). Other non-hidden files are reported through `ignored`.
std::map<std::string, std::string> files_by_stem(const fs::path& dir, bool (*accept)(const std::string&),
                                                 std::vector<std::string>* ignored) {
  std::map<std::string, std::string> out;
  std::error_code ec;
  fs::directory_iterator it(dir, ec), end;
  CQ_CHECK(!ec, dir.string(), ": cannot list folder (", ec.message(), ")");
  std::vector<fs::path> paths;
  for (; it != end; it.increment(ec)) {
    CQ_CHECK(!ec, dir.string(), ": cannot list folder (", ec.message(), ")");
    paths.push_back(it->path());
  }
  std::sort(paths.begin(), paths.end());  // deterministic warning order
  for (const fs::path& p : paths) {
    const std::string name = p.filename().string();
    if (name.empty() || name[0] == '.') continue;  // .DS_Store, editor swap files
    std::string ext = lower(p.extension().string());
    if (!ext.empty()) ext = ext.substr(1);
    if (!fs::is_regular_file(p) || !accept(ext)) {
      ignored->push_back(p.string());
      continue;
    }
    const std::string stem = p.stem().string();
    auto [pos, fresh] = out.emplace(stem, p.string());
    CQ_CHECK(fresh, dir.string(), ": two files with stem '", stem, "': ", pos->second, " and ", p.string(),
             " (which one belongs to the sample is ambiguous)");
  }
  return out;
}

}  // namespace

bool is_image_ext(const std::string& e) {
  return e == "png" || e == "jpg" || e == "jpeg" || e == "bmp" || e == "gif";
}
bool is_mask_ext(const std::string& e) { return e == "png" || e == "gif" || e == "bmp"; }

void mask_to_classes(Image& mask, int classes, const std::string& path) {
  CQ_CHECK(mask.c == 1, path, ": mask must have 1 channel, has ", mask.c);
  CQ_CHECK(classes >= 2 && classes <= 256, "classes must be in 2..256, got ", classes);
  bool only_0_255 = true;
  for (uint8_t v : mask.px) only_0_255 = only_0_255 && (v == 0 || v == 255);
  if (classes == 2 && only_0_255) {
    for (uint8_t& v : mask.px) v = v ? 1 : 0;
    return;
  }
  for (size_t i = 0; i < mask.px.size(); ++i)
    if (mask.px[i] >= classes)
      fail(path, ": mask value ", int(mask.px[i]), " at pixel (x=", i % mask.w, ", y=", i / mask.w,
           ") is not a class index 0..", classes - 1, " (--classes ", classes,
           (classes == 2 ? "; binary masks must be 0/1 or 0/255" : ""), ")");
}

Dataset Dataset::open(const std::string& root, const std::string& domain, const std::string& split,
                      const DatasetOptions& opts) {
  return open_dir((fs::path(root) / domain / split).string(), opts);
}

Dataset Dataset::open_dir(const std::string& dir, const DatasetOptions& opts) {
  CQ_CHECK(opts.classes >= 2 && opts.classes <= 256, dir, ": classes must be in 2..256, got ", opts.classes);
  Dataset d;
  d.dir_ = dir;
  d.opts_ = opts;
  d.list();
  if (opts.validate) d.validate();
  CQ_CHECK(!d.files_.empty(), dir, ": no usable samples left (", d.warnings_.size(), " skipped; first: ",
           d.warnings_.empty() ? "-" : d.warnings_[0], ")");
  return d;
}

const SampleFiles& Dataset::files(size_t i) const {
  CQ_CHECK(i < files_.size(), dir_, ": sample index ", i, " out of range (", files_.size(), " samples)");
  return files_[i];
}

void Dataset::warn(const std::string& line) {
  warnings_.push_back(line);
  if (opts_.print_warnings) std::fprintf(stderr, "warning: %s\n", line.c_str());
}

void Dataset::list() {
  const fs::path root(dir_), img_dir = root / "images", mask_dir = root / "masks", fov_dir = root / "fov";
  CQ_CHECK(fs::is_directory(root), dir_, ": dataset folder not found");
  CQ_CHECK(fs::is_directory(img_dir), img_dir.string(), ": images folder not found (expected <dir>/images/<stem>.png|jpg|...)");
  has_masks_ = fs::is_directory(mask_dir);
  CQ_CHECK(has_masks_ || !opts_.require_masks, mask_dir.string(), ": masks folder not found");
  has_fov_ = opts_.use_fov && fs::is_directory(fov_dir);

  std::vector<std::string> ignored;
  auto images = files_by_stem(img_dir, is_image_ext, &ignored);
  std::map<std::string, std::string> masks, fovs;
  if (has_masks_) masks = files_by_stem(mask_dir, is_mask_ext, &ignored);
  if (has_fov_) fovs = files_by_stem(fov_dir, is_mask_ext, &ignored);
  for (const std::string& p : ignored) warn("ignored " + p + " (not a supported image: png jpg jpeg bmp gif; masks png gif bmp)");
  CQ_CHECK(!images.empty(), img_dir.string(), ": no images (supported: png jpg jpeg bmp gif)");

  for (const auto& [stem, path] : masks)
    if (!images.count(stem)) warn("ignored " + path + " (no image with stem '" + stem + "')");
  for (const auto& [stem, path] : images) {  // std::map: sorted by stem
    SampleFiles f{stem, path, "", ""};
    std::string missing;
    if (has_masks_) {
      auto m = masks.find(stem);
      if (m != masks.end()) f.mask = m->second;
      else if (opts_.require_masks) missing = (mask_dir / (stem + ".png")).string() + ": mask missing for " + path;
    }
    if (has_fov_ && missing.empty()) {
      auto v = fovs.find(stem);
      if (v != fovs.end()) f.fov = v->second;
      else missing = (fov_dir / (stem + ".png")).string() + ": field-of-view mask missing for " + path;
    }
    if (!missing.empty()) {
      CQ_CHECK(opts_.skip_bad, missing);
      warn("skipping '" + stem + "': " + missing);
      continue;
    }
    files_.push_back(f);
  }
}

void Dataset::validate() {
  // Colour channels as stored (grey = 1, colour = 3, alpha ignored). A grey image among colour ones would be
  // replicated to RGB and train on a different distribution: the odd ones out (against the majority) are bad data.
  std::vector<int> colours(files_.size(), 0);
  std::vector<std::string> probe_err(files_.size());
  std::map<int, int> votes;
  for (size_t i = 0; i < files_.size(); ++i) {
    try {
      const int ch = probe_image(files_[i].image).channels;
      colours[i] = ch >= 3 ? 3 : 1;
      ++votes[colours[i]];
    } catch (const Error& e) {
      probe_err[i] = e.what();
    }
  }
  int major = 0, best = -1;
  for (size_t i = 0; i < files_.size(); ++i)  // majority; ties go to the first file's count
    if (colours[i] && votes[colours[i]] > best) best = votes[colours[i]], major = colours[i];

  std::vector<SampleFiles> kept;
  for (size_t i = 0; i < files_.size(); ++i) {
    std::string err = probe_err[i];
    if (err.empty() && colours[i] != major)
      err = files_[i].image + ": " + (colours[i] == 1 ? "grey" : "colour") + " image among " +
            std::to_string(votes[major]) + " " + (major == 1 ? "grey" : "colour") + " ones (mixed channel counts)";
    if (err.empty()) {
      try {
        load(i);  // decodes image, mask and fov and checks sizes and class values
      } catch (const Error& e) {
        err = e.what();
      }
    }
    if (err.empty()) {
      kept.push_back(files_[i]);
      continue;
    }
    if (!opts_.skip_bad) throw Error(err);
    warn("skipping '" + files_[i].stem + "': " + err);
  }
  files_.swap(kept);
}

Sample Dataset::load(size_t i) const {
  const SampleFiles& f = files(i);
  Sample s;
  s.index = i;
  s.stem = f.stem;
  s.image = read_image(f.image);
  auto same_size = [&](const Image& m, const std::string& path, const char* what) {
    CQ_CHECK(m.h == s.image.h && m.w == s.image.w, path, ": ", what, " is ", m.w, "x", m.h, " (WxH) but its image ",
             f.image, " is ", s.image.w, "x", s.image.h);
  };
  if (!f.mask.empty()) {
    s.mask = read_mask(f.mask);
    same_size(s.mask, f.mask, "mask");
    mask_to_classes(s.mask, opts_.classes, f.mask);
  }
  if (!f.fov.empty()) {
    s.fov = read_mask(f.fov);
    same_size(s.fov, f.fov, "field-of-view mask");
    for (uint8_t& v : s.fov.px) v = v ? 1 : 0;
  }
  return s;
}

}  // namespace cq::data
