// DCIN at test time (SPEC.md "DCIN"): colour-transfer the test image toward a reference from the training domain,
// then predict.
//   none   the image as it is
//   exri   a fixed reference given by the user
//   gris   the global reference: the training image whose 8x8x8 histogram has the smallest mean distance to all others
//   lris   per test image: the bank image whose embedding has the highest cosine similarity to the test image's
//   full   GRIS and LRIS predictions ensembled: the mean of the two LOGIT maps (as the authors' code; the paper
//          averages masks), then argmax
// Colour transfer runs on the image at its own size (8-bit, colorxfer/), before the model's resize.
#pragma once
#include <cstdio>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "colorxfer/colorxfer.h"
#include "nn/json.h"
#include "pipeline/dcin_model.h"
#include "pipeline/embedders.h"
#include "refselect/bank.h"

namespace cq::pipeline {

enum class DcinMode { none, exri, gris, lris, full };

// "none" | "exri" | "gris" | "lris" | "full"; anything else throws listing them.
DcinMode parse_dcin_mode(const std::string& s);
// Comma-separated list, no repeats, at least one.
std::vector<DcinMode> parse_dcin_list(const std::string& csv);
const char* dcin_mode_name(DcinMode m);
// The paper's column titles: "no DCIN", "ExRI", "GRIS", "LRIS", "GRIS+LRIS".
const char* dcin_column_title(DcinMode m);

// ---- GRIS over a folder ----
struct GrisReference {
  std::vector<std::string> files;  // absolute paths, sorted
  std::vector<std::string> sha256;
  std::vector<double> mean_dist;   // per file
  int64_t index = -1;              // the chosen one
  const std::string& chosen() const { return files.at(size_t(index)); }
};
// Histograms (cv2 bin order, L2-normalised, as the paper) of every file, then dcin::gris_select. Progress on
// `progress` when not null.
GrisReference select_gris(const std::vector<std::string>& files, int threads, std::FILE* progress = stderr);
// The same on `device`: histograms and distances on the GPU for a CUDA device (refselect/refselect_cuda.h).
GrisReference select_gris(const std::vector<std::string>& files, int threads, std::FILE* progress, Device device);
// ref.json: {"format": "cqseg-gris-1", "images", "count", "histogram", "chosen": {"index", "file", "sha256",
// "mean_distance"}, "mean_distances": [{"file", "sha256", "mean_distance"}, ...]}.
json::Value gris_to_json(const GrisReference& g, const std::string& images_dir);
// The chosen file of a ref.json, checked against its recorded SHA-256 (errors name the json and the image).
std::string read_gris_json(const std::string& path);

// ---- references for one run ----
struct DcinReferences {
  dcin::TransferOptions transfer;  // colour space and statistics mask
  std::string exri_path, gris_path;
  std::optional<dcin::ColorStats> exri, gris;
  std::shared_ptr<const dcin::RefBank> bank;
  std::shared_ptr<const ImageEmbedder> embedder;  // must be the bank's embedder
  std::string bank_images_dir;                    // "": the paths recorded in the bank
  std::map<int64_t, dcin::ColorStats> lris_stats;  // bank item -> statistics, filled on first use
  mutable Tensor bank_on_device;                   // the bank's embeddings on the GPU, uploaded on first GPU query

  void set_exri(Context& ctx, const std::string& image_path);
  void set_gris(Context& ctx, const std::string& image_path);
  // Checks the embedder is the bank's (a bank refuses another embedder's queries) before any image is processed.
  void set_bank(std::shared_ptr<const dcin::RefBank> b, std::shared_ptr<const ImageEmbedder> e,
                const std::string& images_dir = "");
  // What `modes` need that is missing, as an error naming the option to give.
  void check_for(const std::vector<DcinMode>& modes) const;
};

// The results of one image for a set of modes.
struct DcinImageResult {
  std::map<DcinMode, Logits> logits;           // per requested mode, at the model's size
  std::map<DcinMode, data::Image> normalised;  // exri / gris / lris: the transferred input (image's own size)
  dcin::BankMatch lris_match;                  // when LRIS ran
  std::string lris_path;
};

// Runs the modes on one RGB image, sharing work (full reuses the GRIS and LRIS logits).
DcinImageResult run_dcin(Context& ctx, SegModel& model, DcinReferences& refs, const data::Image& rgb,
                         const std::vector<DcinMode>& modes, const std::string& what = "image");

// The LRIS match of one image (embedding of the unnormalised image, top-1 cosine).
dcin::BankMatch lris_match(Context& ctx, const DcinReferences& refs, const data::Image& rgb);

}  // namespace cq::pipeline
