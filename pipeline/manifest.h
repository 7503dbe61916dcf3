// RUN_DIR/manifest.json: what produced a run, so a result can be traced and repeated: the full config, the git
// revision of the sources, build flags, thread counts, the SHA-256 of every data file read (train and validation
// splits: images, masks, fov) and of the initial weights, and one entry per resume.
#pragma once
#include <string>

#include "data/loader.h"
#include "pipeline/train_config.h"

namespace cq::pipeline {

json::Value make_manifest(const TrainConfig& cfg, const data::Loader& train, const data::Loader& val, int threads);
void write_manifest(const TrainConfig& cfg, const data::Loader& train, const data::Loader& val, int threads);
// Appends {"at_epoch", "epochs", "threads", "workers", "git_revision"} to the manifest's "resumes" (creating a minimal
// manifest when the file is missing).
void note_resume(const TrainConfig& cfg, int64_t at_epoch, int threads);
// The git revision of the sources: looked up from the working directory, then from the executable's directory.
std::string source_revision();

}  // namespace cq::pipeline
