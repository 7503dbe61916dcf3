// cqseg demo: the whole method on built-in synthetic data (option parsing only; the work is pipeline/demo.h).
#include <cstdio>
#include <string>

#include "apps/cli_args.h"
#include "apps/commands.h"
#include "pipeline/demo.h"
#include "pipeline/train_config.h"

namespace cq::apps {
namespace {

const char* kHelp =
    "usage: cqseg demo [--out DIR] [--size HxW] [--epochs N] [--steps N] [--batch N] [--threads N] [--seed S]\n"
    "                  [--quick] [--data-only] [--quiet]\n"
    "\n"
    "Shows the method on built-in data, with nothing downloaded:\n"
    "  1. generates a synthetic throat dataset (5 classes: background, tongue, uvula, tonsils, pharynx) into\n"
    "     DIR/data as a normal dataset folder (DOMAIN/split/{images,masks}/*.png): a high-quality source domain HQ\n"
    "     (train/val/test) and two shifted targets, LQ (dark, colour cast, blur, noise, JPEG) and CAM (another\n"
    "     camera's colours, white balance, tone curve, vignetting);\n"
    "  2. trains a baseline (base) and a CQG model (cqg) on HQ/train (DIR/runs/{base,cqg});\n"
    "  3. builds the DCIN references from HQ/train: GRIS and an LRIS bank per model (its own U-Net encoder);\n"
    "  4. evaluates both models with every DCIN setting on HQ, LQ and CAM test, prints the paper-style tables and\n"
    "     a verdict computed from them (do DCIN and CQG raise target-domain Dice?), and writes DIR/report.md,\n"
    "     DIR/metrics.json and overlay sheets in DIR/overlays/.\n"
    "About 5 minutes on 2 CPU cores with the defaults. DIR must be new, empty or an earlier demo's folder.\n"
    "The cqg model (two views per step, augmented) learns more slowly than base: more epochs (e.g. --epochs 12,\n"
    "twice the time) give it the time to catch up.\n"
    "\n"
    "options:\n"
    "  --out DIR      output folder                                             [demo_out]\n"
    "  --size HxW     image and training size, multiples of 32                  [96x128]\n"
    "  --epochs N     training epochs per model                                 [6]\n"
    "  --steps N      training steps per epoch, 0 = the whole split              [0]\n"
    "  --batch N      training batch                                            [2]\n"
    "  --images N,V,T,X  HQ train, val, test and per-target test images           [40,10,20,20]\n"
    "  --threads N    compute threads, 0 = all cores                            [0]\n"
    "  --seed S       data, initialisation and augmentation seed                [0]\n"
    "  --quick        a smoke run: 64x64, 4 training images, 1 epoch of 2 steps (seconds; numbers meaningless)\n"
    "  --data-only    write the dataset and stop\n"
    "  --quiet        no progress bars\n";

}  // namespace

int cmd_demo(int argc, char** argv) {
  try {
    const ParsedArgs a = parse_args(argc, argv, 1,
                                    with({"out", "size", "epochs", "steps", "batch", "images", "threads", "seed"},
                                         kDeviceValued),
                                    with({"quick", "data-only", "quiet"}, kDeviceFlags), false, "demo");
    if (a.has("help")) {
      std::fputs(kHelp, stdout);
      std::fputs(kDeviceHelp, stdout);
      return 0;
    }
    const DeviceChoice dev = parse_device_choice(a);
    pipeline::DemoConfig cfg = a.has("quick") ? pipeline::DemoConfig::quick() : pipeline::DemoConfig();
    cfg.out = a.get("out", cfg.out);
    if (a.has("size")) as_usage_error([&] { pipeline::parse_size(a.get("size"), &cfg.height, &cfg.width); });
    if (a.has("epochs")) cfg.epochs = int(parse_long("epochs", a.get("epochs"), 1, 1000));
    if (a.has("steps")) cfg.max_steps = int(parse_long("steps", a.get("steps"), 0, 1 << 30));
    if (a.has("batch")) cfg.batch = int(parse_long("batch", a.get("batch"), 1, 256));
    if (a.has("images")) {
      const std::vector<std::string> n = split_csv(a.get("images"));
      if (n.size() != 4) throw UsageError{"--images expects four counts N,V,T,X, got '" + a.get("images") + "'"};
      cfg.train = int(parse_long("images", n[0], 1, 100000));
      cfg.val = int(parse_long("images", n[1], 1, 100000));
      cfg.test = int(parse_long("images", n[2], 1, 100000));
      cfg.target_test = int(parse_long("images", n[3], 1, 100000));
    }
    cfg.threads = int(parse_long("threads", a.get("threads", "0"), 0, 1024));
    cfg.device = dev.device;
    cfg.compute = dev.compute;
    cfg.seed = uint64_t(parse_long("seed", a.get("seed", "0"), 0, (1L << 53)));
    cfg.data_only = a.has("data-only");
    if (a.has("quiet")) cfg.progress = nullptr;
    as_usage_error([&] { cfg.validate(); });
    const pipeline::DemoResult r = pipeline::run_demo(cfg);
    if (cfg.data_only) std::printf("dataset written to %s/data in %.1f s\n", cfg.out.c_str(), r.seconds);
    else std::printf("demo finished in %.0f s\n", r.seconds);
    return 0;
  } catch (const UsageError& e) {
    std::fprintf(stderr, "cqseg demo: %s\n", e.msg.c_str());
    return 2;
  }
}

}  // namespace cq::apps
