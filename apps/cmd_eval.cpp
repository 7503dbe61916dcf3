// cqseg eval: the paper's tables for models x target domains x DCIN settings (option parsing only; the work is
// pipeline/evaluate.h).
#include <cstdio>
#include <string>

#include "apps/cli_args.h"
#include "apps/commands.h"
#include "pipeline/evaluate.h"
#include "pipeline/run_files.h"

namespace cq::apps {
namespace {

const char* kHelp =
    "usage: cqseg eval --model CKPT[,CKPT...] --data ROOT --domains D/split[,...] --out DIR [options]\n"
    "\n"
    "Evaluates each model on each target domain (ROOT/DOMAIN/split/{images,masks[,fov]}) under each DCIN setting.\n"
    "Writes DIR/report.md (one table per domain as the paper's Tables I/II: rows = models named by their\n"
    "checkpoint's mode and run folder, columns = DCIN settings), DIR/metrics.json (every number, per class) and\n"
    "DIR/overlays/DOMAIN__MODEL.png (rows = images; input | ground truth | prediction per DCIN setting).\n"
    "\n"
    "Metric: the paper's Dice (per class TP/FP/FN summed over the domain, classes without support dropped, mean\n"
    "over classes incl. background, x100) and the foreground Dice (non-background classes); inside the field of\n"
    "view (the headline) and over the whole image when the domain has fov/ masks.\n"
    "Size: predict at the checkpoint's training size (bicubic resize), class map resized back nearest, scored at\n"
    "each image's own size. A --size native checkpoint: the image is fitted into the training images' size keeping\n"
    "its aspect (unchanged when it has that size) and padded with black to multiples of 32 as in training.\n"
    "\n"
    "options:\n"
    "  --dcin LIST              of none,exri,gris,lris,full               [none,exri,gris,lris,full]\n"
    "  --ref-images DIR|D/split reference images for ExRI/GRIS/LRIS (a folder, or DOMAIN/split under ROOT)\n"
    "                           [each model's training domain and split]\n"
    "  --exri IMG               ExRI reference                            [the first reference image]\n"
    "  --gris-ref ref.json|IMG  GRIS reference                            [GRIS over the reference images]\n"
    "  --bank B                 LRIS bank                                 [built over the reference images]\n"
    "  --bank-images DIR        where --bank's images now are             [paths recorded in the bank]\n"
    "  --embedder NAME          LRIS embedder: unet:CKPT or a Swin-V2 preset with --weights\n"
    "                           [each model's own encoder]\n"
    "  --weights W              Swin-V2 weights (safetensors)\n"
    "  --color-space lab-reinhard|lab-cv                                   [lab-reinhard]\n"
    "  --stats-threshold T      colour statistics over pixels with max(R,G,B) > T; -1 = all   [-1]\n"
    "  --sheet-images N         images per domain on the overlay sheet, 0 = none              [3]\n"
    "  --max-images N           at most N images per domain, 0 = all (quick runs)              [0]\n"
    "  --threads N              compute threads, 0 = all cores                                 [0]\n"
    "  --quiet                  no progress output\n";

}  // namespace

int cmd_eval(int argc, char** argv) {
  try {
    const ParsedArgs a = parse_args(argc, argv, 1,
                                    {"model", "data", "domains", "dcin", "ref-images", "exri", "gris-ref", "bank",
                                     "bank-images", "embedder", "weights", "color-space", "stats-threshold",
                                     "sheet-images", "max-images", "threads", "out", "device", "precision"},
                                    with({"quiet"}, kDeviceFlags), false, "eval");
    if (a.has("help")) {
      std::fputs(kHelp, stdout);
      std::fputs(kDeviceHelp, stdout);
      return 0;
    }
    const DeviceChoice dev = parse_device_choice(a);
    for (const char* k : {"model", "data", "domains", "out"})
      if (!a.has(k)) throw UsageError{std::string("--") + k + " is required (see cqseg eval --help)"};
    pipeline::EvalConfig cfg;
    cfg.models = split_csv(a.get("model"));
    cfg.data_root = a.get("data");
    cfg.domains = split_csv(a.get("domains"));
    for (const auto& d : cfg.domains) {
      std::string x, y;
      as_usage_error([&] { pipeline::split_domain(d, &x, &y); });
    }
    if (a.has("dcin")) cfg.modes = as_usage_error([&] { return pipeline::parse_dcin_list(a.get("dcin")); });
    cfg.ref_images = a.get("ref-images");
    cfg.exri = a.get("exri");
    cfg.gris_ref = a.get("gris-ref");
    cfg.bank = a.get("bank");
    cfg.bank_images = a.get("bank-images");
    cfg.embedder = a.get("embedder");
    cfg.weights = a.get("weights");
    cfg.transfer.space = as_usage_error([&] { return dcin::parse_color_space(a.get("color-space", "lab-reinhard")); });
    cfg.transfer.mask_threshold = int(parse_long("stats-threshold", a.get("stats-threshold", "-1"), -1, 254));
    cfg.sheet_images = int(parse_long("sheet-images", a.get("sheet-images", "3"), 0, 1000));
    cfg.max_images = int(parse_long("max-images", a.get("max-images", "0"), 0, 1 << 30));
    cfg.threads = int(parse_long("threads", a.get("threads", "0"), 0, 1024));
    cfg.out = a.get("out");
    cfg.device = dev.device;
    cfg.compute = dev.compute;
    if (a.has("quiet")) cfg.progress = nullptr;
    const pipeline::EvalSummary s = pipeline::evaluate(cfg);
    // The headline table of each domain on stdout.
    for (size_t d = 0; d < s.domains.size(); ++d) {
      std::printf("%s (%d images), paper Dice%s:\n%s\n", s.domains[d].name.c_str(), s.domains[d].images,
                  s.domains[d].has_fov ? " inside the field of view" : "",
                  pipeline::domain_table(s, d, s.domains[d].has_fov, false).c_str());
    }
    std::printf("report: %s/report.md, metrics: %s/metrics.json\n", cfg.out.c_str(), cfg.out.c_str());
    std::printf("peak memory (VmHWM): %.1f MiB\n", double(pipeline::peak_rss_bytes()) / (1 << 20));
    return 0;
  } catch (const UsageError& e) {
    std::fprintf(stderr, "cqseg eval: %s\n", e.msg.c_str());
    return 2;
  }
}

}  // namespace cq::apps
