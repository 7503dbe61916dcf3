// A segmentation dataset on disk: <root>/<domain>/<split>/{images,masks,fov}/<stem>.<ext>, paired by stem and sorted
// by stem (byte order), so sample i is the same file on every machine.
//
// Masks hold class indices 0..K-1 (K = DatasetOptions::classes, background included). A binary mask stored as 0/255
// is accepted when K = 2: a mask whose values are only {0, 255} maps 255 -> 1. Any other value >= K is an error
// naming the file, the value and the pixel. Field-of-view masks (optional folder) are read as 0 = outside, 1 = inside
// (any non-zero value).
//
// Bad data (unreadable or truncated file, missing mask or field of view, mask of another size than its image, an
// empty folder, a grey image among colour ones) stops with one cq::Error naming the file. With skip_bad the sample is
// dropped instead and a warning line goes to stderr and to warnings(), so a CLI can show them; a dataset left empty
// is still an error.
#pragma once
#include <string>
#include <vector>

#include "data/image_io.h"

namespace cq::data {

struct SampleFiles {
  std::string stem, image, mask, fov;  // mask / fov empty when absent
};

struct Sample {
  size_t index = 0;  // position in the dataset
  std::string stem;
  Image image;  // RGB
  Image mask;   // 1 channel, class indices; empty when the dataset has no masks
  Image fov;    // 1 channel, 0/1; empty when the dataset has no fov folder
  Image image2; // CQG x2 (set by a transform), empty otherwise
};

struct DatasetOptions {
  int classes = 2;
  bool skip_bad = false;
  bool require_masks = true;    // false: images alone are fine (prediction); masks are still used when present
  bool use_fov = true;          // read fov/ when the folder exists
  bool validate = true;         // decode every file at open, so bad data stops before training, not mid-epoch
  bool print_warnings = true;   // also print each warning line to stderr
};

// The image extensions stb_image decodes (lower case): png jpg jpeg bmp gif; masks and fov: png gif bmp.
bool is_image_ext(const std::string& ext);
bool is_mask_ext(const std::string& ext);

// Maps a raw mask to class indices in place (the 0/255 rule above); throws naming `path`, the value and the pixel.
void mask_to_classes(Image& mask, int classes, const std::string& path);

class Dataset {
 public:
  // <root>/<domain>/<split>
  static Dataset open(const std::string& root, const std::string& domain, const std::string& split,
                      const DatasetOptions& opts = {});
  // A folder holding images/ (and masks/, fov/).
  static Dataset open_dir(const std::string& dir, const DatasetOptions& opts = {});

  size_t size() const { return files_.size(); }
  const SampleFiles& files(size_t i) const;
  const std::vector<SampleFiles>& all_files() const { return files_; }
  bool has_masks() const { return has_masks_; }
  bool has_fov() const { return has_fov_; }
  const std::string& dir() const { return dir_; }
  const DatasetOptions& options() const { return opts_; }
  // Lines describing skipped samples and ignored files, in the order found.
  const std::vector<std::string>& warnings() const { return warnings_; }

  // Decodes sample i at its stored size (thread-safe: no shared mutable state). Throws naming the file.
  Sample load(size_t i) const;

 private:
  void warn(const std::string& line);
  void list();
  void validate();

  std::string dir_;
  DatasetOptions opts_;
  std::vector<SampleFiles> files_;
  bool has_masks_ = false, has_fov_ = false;
  std::vector<std::string> warnings_;
};

}  // namespace cq::data
