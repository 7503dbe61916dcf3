// cqseg segment: class maps, overlays and (with DCIN) the normalised inputs of images (option parsing and file
// writing; the work is pipeline/dcin.h).
#include <cstdio>
#include <filesystem>
#include <memory>
#include <set>
#include <string>

#include "apps/cli_args.h"
#include "apps/commands.h"
#include "data/resize.h"
#include "pipeline/dcin.h"
#include "pipeline/overlay.h"
#include "pipeline/run_files.h"

namespace cq::apps {
namespace {

const char* kHelp =
    "usage: cqseg segment IMAGE... --model CKPT --out DIR [options]\n"
    "\n"
    "Writes for each IMAGE (by its file stem) into DIR:\n"
    "  STEM_mask.png      class index per pixel (0 = background, 1..K-1), 8-bit grey, the image's own size\n"
    "  STEM_overlay.png   the classes' colours blended 0.5 over the image (background black/untouched, 1 red,\n"
    "                     2 green, 3 blue, 4 yellow)\n"
    "  STEM_exri.png / STEM_gris.png / STEM_lris.png   with --dcin: the colour-normalised input(s)\n"
    "  segment.json       the references each image used\n"
    "\n"
    "Size: the model predicts at its training size (the checkpoint's HxW; the input is resized there bicubic);\n"
    "the class map is resized back to the image's size nearest-neighbour. Any input size works. A --size native\n"
    "checkpoint fits the image into its training images' size keeping the aspect, and pads with black to 32.\n"
    "\n"
    "options:\n"
    "  --model CKPT                  a cqseg checkpoint (RUN_DIR/best.safetensors)\n"
    "  --dcin none|exri|gris|lris|full   test-time colour normalisation              [none]\n"
    "                                exri: toward --ref IMG; gris: toward the GRIS reference; lris: toward the\n"
    "                                most similar bank image; full: mean of the GRIS and LRIS logits, then argmax\n"
    "  --ref IMG                     ExRI reference image\n"
    "  --gris-ref ref.json|IMG       GRIS reference (cqseg refs gris output, or an image)\n"
    "  --bank B                      LRIS bank (cqseg refs bank)\n"
    "  --bank-images DIR             where the bank's images now are (default: the paths recorded in the bank)\n"
    "  --embedder NAME [--weights W] the bank's embedder (default: the model's own encoder, when the bank was\n"
    "                                built with unet:CKPT of this checkpoint)\n"
    "  --color-space lab-reinhard|lab-cv   lab-reinhard: the paper's; lab-cv: the authors' code  [lab-reinhard]\n"
    "  --stats-threshold T           colour statistics only over pixels with max(R,G,B) > T (e.g. 10 for\n"
    "                                fundus black borders); -1 = all pixels                 [-1]\n"
    "  --threads N                   compute threads, 0 = all cores                         [0]\n"
    "  --out DIR                     output folder (created)\n";
// (followed by kDeviceHelp)

std::string stem_of(const std::string& path) { return std::filesystem::path(path).stem().string(); }

}  // namespace

int cmd_segment(int argc, char** argv) {
  try {
    const ParsedArgs a = parse_args(argc, argv, 1,
                                    with({"model", "dcin", "ref", "gris-ref", "bank", "bank-images", "embedder",
                                          "weights", "color-space", "stats-threshold", "threads", "out"},
                                         kDeviceValued),
                                    with({"quiet"}, kDeviceFlags), true, "segment");
    if (a.has("help")) {
      std::fputs(kHelp, stdout);
      std::fputs(kDeviceHelp, stdout);
      return 0;
    }
    const DeviceChoice dev = parse_device_choice(a);
    if (a.positional.empty()) throw UsageError{"give at least one IMAGE (see cqseg segment --help)"};
    if (!a.has("model")) throw UsageError{"--model CKPT is required"};
    if (!a.has("out")) throw UsageError{"--out DIR is required"};
    const pipeline::DcinMode mode = as_usage_error([&] { return pipeline::parse_dcin_mode(a.get("dcin", "none")); });
    pipeline::DcinReferences refs;
    refs.transfer.space = as_usage_error([&] { return dcin::parse_color_space(a.get("color-space", "lab-reinhard")); });
    refs.transfer.mask_threshold = int(parse_long("stats-threshold", a.get("stats-threshold", "-1"), -1, 254));
    using M = pipeline::DcinMode;
    const bool g = mode == M::gris || mode == M::full, l = mode == M::lris || mode == M::full;
    if (mode == M::exri && !a.has("ref")) throw UsageError{"--dcin exri needs --ref IMG"};
    if (g && !a.has("gris-ref")) throw UsageError{"--dcin " + a.get("dcin") + " needs --gris-ref ref.json|IMG"};
    if (l && !a.has("bank")) throw UsageError{"--dcin " + a.get("dcin") + " needs --bank B"};
    std::set<std::string> stems;
    for (const auto& p : a.positional)
      if (!stems.insert(stem_of(p)).second)
        throw UsageError{"two inputs share the file stem '" + stem_of(p) + "' (outputs are named by stem)"};

    Context ctx({int(parse_long("threads", a.get("threads", "0"), 0, 1024)), 0, dev.device, dev.compute});
    auto model = std::make_shared<pipeline::SegModel>(pipeline::load_seg_model(ctx, a.get("model")));
    if (mode == M::exri) refs.set_exri(ctx, a.get("ref"));
    if (g) {
      const std::string r = a.get("gris-ref");
      refs.set_gris(ctx, std::filesystem::path(r).extension() == ".json" ? pipeline::read_gris_json(r) : r);
    }
    if (l) {
      auto bank = std::make_shared<dcin::RefBank>(dcin::RefBank::load(a.get("bank")));
      std::shared_ptr<pipeline::ImageEmbedder> emb;
      if (a.has("embedder")) {
        emb = std::make_shared<pipeline::ImageEmbedder>(
            pipeline::make_embedder(ctx, a.get("embedder"), a.get("weights")));
      } else {
        if (bank->embedder() != pipeline::unet_embedder_name(model->sha256))
          throw UsageError{"the bank " + a.get("bank") + " was built with embedder '" + bank->embedder() +
                           "', not this model's own encoder; give --embedder (and --weights)"};
        emb = std::make_shared<pipeline::ImageEmbedder>(pipeline::unet_embedder(model));
      }
      refs.set_bank(bank, emb, a.get("bank-images"));
    }
    const std::string out = a.get("out");
    pipeline::make_dirs(out);
    json::Value items = json::Value::array();
    for (const auto& path : a.positional) {
      const data::Image img = data::read_image(path);
      const pipeline::DcinImageResult r = pipeline::run_dcin(ctx, *model, refs, img, {mode}, path);
      const data::Image mask = data::resize_nearest(pipeline::argmax_mask(r.logits.at(mode)), img.h, img.w);
      const std::string stem = out + "/" + stem_of(path);
      data::write_png(stem + "_mask.png", mask);
      data::write_png(stem + "_overlay.png", pipeline::overlay_mask(img, mask));
      for (const auto& kv : r.normalised)
        data::write_png(stem + "_" + pipeline::dcin_mode_name(kv.first) + ".png", kv.second);
      json::Value e = json::Value::object();
      e.set("image", json::Value::string(path));
      e.set("mask", json::Value::string(stem + "_mask.png"));
      e.set("dcin", json::Value::string(pipeline::dcin_mode_name(mode)));
      if (refs.exri && mode == M::exri) e.set("exri", json::Value::string(refs.exri_path));
      if (g) e.set("gris", json::Value::string(refs.gris_path));
      if (l) {
        e.set("lris", json::Value::string(r.lris_path));
        e.set("lris_similarity", json::Value::number(r.lris_match.score));
      }
      items.push(std::move(e));
      if (!a.has("quiet")) {
        std::fprintf(stderr, "%s -> %s_mask.png", path.c_str(), stem.c_str());
        if (l) std::fprintf(stderr, " (LRIS reference %s, similarity %.4f)", r.lris_path.c_str(),
                            double(r.lris_match.score));
        std::fputc('\n', stderr);
      }
    }
    json::Value doc = json::Value::object();
    doc.set("model", json::Value::string(model->path));
    doc.set("model_sha256", json::Value::string(model->sha256));
    doc.set("color_space", json::Value::string(dcin::color_space_name(refs.transfer.space)));
    doc.set("stats_threshold", json::Value::number(refs.transfer.mask_threshold));
    doc.set("images", std::move(items));
    pipeline::write_text_atomic(out + "/segment.json", json::dump(doc, 2) + "\n");
    std::printf("segmented %zu image(s) into %s\n", a.positional.size(), out.c_str());
    std::printf("peak memory (VmHWM): %.1f MiB\n", double(pipeline::peak_rss_bytes()) / (1 << 20));
    return 0;
  } catch (const UsageError& e) {
    std::fprintf(stderr, "cqseg segment: %s\n", e.msg.c_str());
    return 2;
  }
}

}  // namespace cq::apps
