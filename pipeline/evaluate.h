// `cqseg eval`: every model on every target domain under every DCIN setting, in the paper's table layout
// (pipeline/report.h), plus overlay sheets.
//
// References, per model (a model is evaluated with references from ITS training domain):
//   ref images  --ref-images DIR (a folder, or DOMAIN/split under --data); default the model's training domain's
//               training split (<data>/<train_domain>/<train_split>).
//   GRIS        --gris-ref (ref.json of cqseg refs gris, or an image); default GRIS over the ref images.
//   ExRI        --exri IMG; default the first ref image by name (recorded in metrics.json).
//   LRIS        --bank B (its embedder must be given with --embedder/--weights, or be the model's own U-Net
//               encoder); default a bank built over the ref images with --embedder (default: the model's own
//               encoder, so LRIS works offline).
// Predictions follow pipeline/dcin_model.h's size policy (predict at the training size, class map resized back
// nearest) and are scored at each image's own size against its original mask (and field of view).
#pragma once
#include <cstdio>
#include <string>
#include <vector>

#include "colorxfer/colorxfer.h"
#include "pipeline/dcin.h"
#include "pipeline/report.h"

namespace cq::pipeline {

struct EvalConfig {
  std::vector<std::string> models;   // checkpoint files
  std::string data_root;
  std::vector<std::string> domains;  // "DOMAIN/split"
  std::vector<DcinMode> modes{DcinMode::none, DcinMode::exri, DcinMode::gris, DcinMode::lris, DcinMode::full};
  std::string ref_images, gris_ref, exri, bank, bank_images, embedder, weights;
  dcin::TransferOptions transfer;
  int threads = 0;
  Device device = Device::cpu();  // where models run and colour transfer happens
  ComputeOptions compute;         // GPU precision / determinism
  int sheet_images = 3;  // images per domain on the overlay sheet (0: no sheets)
  int max_images = 0;    // per domain, 0 = all (quick runs)
  std::string out;       // report.md, metrics.json, overlays/
  std::FILE* progress = stderr;
};

// "DRIVE/test" -> ("DRIVE", "test"); throws naming the text when there is no '/'.
void split_domain(const std::string& text, std::string* domain, std::string* split);

// Runs the evaluation and writes OUT/report.md, OUT/metrics.json and OUT/overlays/*.png.
EvalSummary evaluate(const EvalConfig& cfg);

}  // namespace cq::pipeline
