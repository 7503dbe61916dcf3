// cqseg train: option parsing only; the work is pipeline/trainer.h.
#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <memory>
#include <set>
#include <string>

#include "apps/cli_args.h"
#include "apps/commands.h"
#include "dist/communicator.h"
#include "pipeline/trainer.h"
#include "tensor/cuda_backend.h"

namespace cq::apps {
namespace {

const char* kHelp =
    "usage: cqseg train --data ROOT --out RUN_DIR [options]\n"
    "       cqseg train --resume RUN_DIR [--epochs N] [--threads N] [--workers N] [--data ROOT] [--device D]\n"
    "\n"
    "Trains a U-Net (EfficientNet-B2 encoder) on ROOT/DOMAIN/SPLIT/{images,masks[,fov]} and validates on the source\n"
    "domain's validation split after every epoch.\n"
    "\n"
    "options (defaults as the paper):\n"
    "  --data ROOT            dataset root (required for a new run)\n"
    "  --train-domain NAME    source domain folder            [DRIVE]\n"
    "  --train-split NAME     training split                  [train]\n"
    "  --val-split NAME       validation split of the source  [test]\n"
    "  --mode base|aug|cqg    base: resize+normalise; aug: augmentations on one view;\n"
    "                         cqg: two views, CQG loss        [cqg]\n"
    "  --epochs N             total epochs                    [15]\n"
    "  --batch N              batch size                      [2]\n"
    "  --lr X                 Adam learning rate              [1e-3]\n"
    "  --size HxW|native      input size, multiples of 32; native: the images' own size, padded at the\n"
    "                         bottom/right with black to multiples of 32 (inference fits new images\n"
    "                         into the training images' size, keeping the aspect)  [512x768]\n"
    "  --lambdas L1,L2,L3     CQG weights                     [0.3,0.7,1.0]\n"
    "  --seed N               random seed                     [0]\n"
    "  --threads N            compute threads, 0 = all cores  [0]\n"
    "  --classes K            classes incl. background        [2]\n"
    "  --workers N            data loading threads            [2]\n"
    "  (device options; on --resume they default to the run's stored ones)\n";
const char* kHelpTail =
    "  --skip-bad             skip unreadable/inconsistent samples with a warning instead of stopping\n"
    "  --init-weights FILE    safetensors: EfficientNet-B2 encoder (smp, timm or torchvision names),\n"
    "                         a full smp U-Net state dict, or a cqseg checkpoint\n"
    "  --max-steps N          at most N training steps per epoch (quick runs; 0 = all)\n"
    "  --max-val-batches N    at most N validation batches (0 = all)\n"
    "  --bn batch|sync|frozen BatchNorm while training: batch statistics (per rank under MPI), statistics\n"
    "                         synchronised over the MPI ranks, or the network in eval mode (running\n"
    "                         statistics, no drop-connect)                                [batch]\n"
    "  --sync-bn              the same as --bn sync\n"
    "  --drop-connect X       EfficientNet stochastic depth rate                [0.2]\n"
    "  --precise-bn           before each validation, recompute the BatchNorm running statistics over the\n"
    "                         training images (unaugmented): small data, where an epoch is a few steps\n"
    "                         and the encoder's momentum 0.01 leaves them describing old weights\n"
    "\n"
    "Data parallel: mpirun -np N cqseg train ... splits each global batch of --batch over N ranks and sums\n"
    "their gradients (docs/DISTRIBUTED.md); rank 0 writes the run directory and the progress.\n"
    "  --grad-sum-after-backward  sum the gradients after backward instead of bucket by bucket during it\n"
    "                         (the same bits; for measuring the overlap; --bn sync always sums after)\n"
    "  --quiet                no progress output\n"
    "  --check-numerics       stop at the first NaN/inf in inputs, gradients or weights, naming the tensor\n"
    "  --resume RUN_DIR       continue RUN_DIR from last.safetensors with its stored config\n"
    "  --out RUN_DIR          run directory: best/last.safetensors, log.jsonl, loss_curve.svg, manifest.json\n"
    "  -h, --help             this text\n";

double to_double(const std::string& opt, const std::string& v) {
  char* end = nullptr;
  const double x = std::strtod(v.c_str(), &end);
  if (v.empty() || *end != '\0') throw UsageError{"--" + opt + " expects a number, got '" + v + "'"};
  return x;
}

// Option values the library checks (size, lambdas, ranges) are usage errors here, not runtime failures.
template <class F>
void as_usage(F&& f) {
  try {
    f();
  } catch (const Error& e) {
    throw UsageError{e.what()};
  }
}

}  // namespace

int cmd_train(int argc, char** argv) {
  static const std::set<std::string> kValued = with({
      "data", "train-domain", "train-split", "val-split", "mode", "epochs", "batch", "lr", "size", "lambdas", "seed",
      "threads", "classes", "workers", "init-weights", "resume", "out", "max-steps", "max-val-batches", "bn",
      "drop-connect"}, kDeviceValued);
  static const std::set<std::string> kFlags = with({"skip-bad", "quiet", "help", "sync-bn", "check-numerics",
                                                    "grad-sum-after-backward", "precise-bn"},
                                                   kDeviceFlags);
  std::map<std::string, std::string> opts;
  try {
    opts = parse_args(argc, argv, 1, kValued, kFlags, /*allow_positional=*/false, "train").opts;
    if (opts.count("help")) {
      std::fputs(kHelp, stdout);
      std::fputs(kDeviceHelp, stdout);
      std::fputs(kHelpTail, stdout);
      return 0;
    }

    pipeline::TrainConfig cfg;
    const bool resuming = opts.count("resume") != 0;
    if (resuming) {
      // Only what may differ from the stored run; anything else given would silently not apply, so refuse it.
      static const std::set<std::string> kResumable = {"resume", "epochs", "threads", "workers", "data", "out",
                                                       "quiet", "device", "precision", "fast-nondeterministic",
                                                       "check-numerics", "grad-sum-after-backward"};
      for (const auto& kv : opts)
        if (!kResumable.count(kv.first))
          throw UsageError{"--" + kv.first + " cannot be changed on --resume (the run keeps its stored config)"};
      if (opts.count("out") && opts["out"] != opts["resume"])
        throw UsageError{"--resume writes into its own RUN_DIR; drop --out or make it the same directory"};
      cfg = pipeline::read_run_config(opts["resume"]);
    }
    for (const auto& kv : opts) {
      const std::string& k = kv.first;
      const std::string& v = kv.second;
      if (k == "data") cfg.data_root = v;
      else if (k == "train-domain") cfg.train_domain = v;
      else if (k == "train-split") cfg.train_split = v;
      else if (k == "val-split") cfg.val_split = v;
      else if (k == "mode") {
        if (v != "base" && v != "aug" && v != "cqg") throw UsageError{"--mode must be base, aug or cqg, got '" + v + "'"};
        cfg.mode = v;
      } else if (k == "epochs") cfg.epochs = int(parse_long(k, v, 1, 100000));
      else if (k == "batch") cfg.batch = int(parse_long(k, v, 1, 4096));
      else if (k == "lr") cfg.lr = to_double(k, v);
      else if (k == "size" && v == "native") cfg.native_size = true, cfg.height = cfg.width = 0;
      else if (k == "size") as_usage([&] { pipeline::parse_size(v, &cfg.height, &cfg.width); });
      else if (k == "lambdas") as_usage([&] { pipeline::parse_lambdas(v, &cfg.l1, &cfg.l2, &cfg.l3); });
      else if (k == "seed") cfg.seed = uint64_t(parse_long(k, v, 0, 0x7fffffffffffffffL));
      else if (k == "threads") cfg.threads = int(parse_long(k, v, 0, 1024));
      else if (k == "classes") cfg.classes = int(parse_long(k, v, 2, 255));
      else if (k == "workers") cfg.workers = int(parse_long(k, v, 0, 64));
      else if (k == "skip-bad") cfg.skip_bad = true;
      else if (k == "init-weights") cfg.init_weights = v;
      else if (k == "out" || k == "resume") cfg.out = v;
      else if (k == "max-steps") cfg.max_steps = int(parse_long(k, v, 0, 1 << 30));
      else if (k == "max-val-batches") cfg.max_val_batches = int(parse_long(k, v, 0, 1 << 30));
      else if (k == "bn") {
        if (v != "batch" && v != "sync" && v != "frozen")
          throw UsageError{"--bn must be batch, sync or frozen, got '" + v + "'"};
        cfg.bn = v;
      } else if (k == "sync-bn") {
        if (opts.count("bn") && opts.at("bn") != "sync") throw UsageError{"--sync-bn contradicts --bn " + opts.at("bn")};
        cfg.bn = "sync";
      } else if (k == "drop-connect") cfg.drop_connect = to_double(k, v);
      else if (k == "precise-bn") cfg.precise_bn = true;
    }
    {
      // The device options; a resume keeps the stored ones unless given again.
      ParsedArgs d;
      d.opts = opts;
      if (!d.has("device")) d.opts["device"] = cfg.device;
      if (!d.has("precision")) d.opts["precision"] = cfg.precision;
      if (!cfg.deterministic) d.opts["fast-nondeterministic"] = "1";
      const DeviceChoice dc = parse_device_choice(d);
      cfg.device = dc.device.str();
      cfg.precision = precision_name(dc.compute.precision);
      cfg.deterministic = dc.compute.deterministic;
    }
    if (!resuming && cfg.data_root.empty()) throw UsageError{"--data ROOT is required (see cqseg train --help)"};
    if (!resuming && cfg.out.empty()) throw UsageError{"--out RUN_DIR is required (see cqseg train --help)"};
    as_usage([&] { cfg.validate(); });

    pipeline::TrainHooks hooks;
    if (opts.count("quiet")) hooks.progress = nullptr;
    // Under mpirun: the MPI group; otherwise a single process. A rank that fails ends the whole job (the others
    // would wait for it forever), after printing its error with its rank.
    hooks.check_numerics = opts.count("check-numerics") != 0;
    hooks.overlap_grad_sum = opts.count("grad-sum-after-backward") == 0;
    const std::unique_ptr<dist::Communicator> comm = dist::make_communicator();
    if (comm->size() > 1 && cfg.device == "cuda" && cuda::available() && cuda::device_count() > 0) {
      // One rank per GPU: --device cuda under mpirun means this node's GPU number local_rank (mod the GPU count).
      const int lr = std::max(0, dist::local_rank());
      cfg.device = "cuda:" + std::to_string(lr % cuda::device_count());
    }
    hooks.comm = comm.get();
    if (comm->rank() != 0) hooks.progress = nullptr;
    pipeline::TrainResult r;
    try {
      r = resuming ? pipeline::resume(cfg, hooks) : pipeline::train(cfg, hooks);
    } catch (const std::exception& e) {
      if (comm->size() == 1) throw;
      std::fprintf(stderr, "cqseg train (rank %d of %d): error: %s; aborting all ranks\n", comm->rank(),
                   comm->size(), e.what());
      comm->abort(1);
    }
    if (comm->rank() != 0) return 0;
    std::printf("trained %s: %zu epochs, best epoch %lld (val loss %.4f), checkpoints in %s\n", cfg.mode.c_str(),
                r.log.size(), (long long)r.best_epoch, r.best_val_loss, cfg.out.c_str());
    std::printf("peak memory (VmHWM): %.1f MiB\n", double(pipeline::peak_rss_bytes()) / (1 << 20));
    return 0;
  } catch (const UsageError& e) {
    std::fprintf(stderr, "cqseg train: %s\n", e.msg.c_str());
    return 2;
  }
}

}  // namespace cq::apps
