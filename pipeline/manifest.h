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
// The git revision of the program's sources: the one compiled in (build_source_revision), else the checkout the
// executable sits in. Not the working directory's: a recorded binary run from a later checkout (docs/RESULTS.md's
// runs) would otherwise be reported as that checkout's revision.
std::string source_revision();

}  // namespace cq::pipeline
