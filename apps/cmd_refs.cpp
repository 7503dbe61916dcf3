// cqseg refs: GRIS references and LRIS banks (option parsing only; the work is pipeline/dcin.h, embedders.h).
#include <cstdio>
#include <memory>
#include <string>

#include "apps/cli_args.h"
#include "apps/commands.h"
#include "data/image_io.h"
#include "dist/communicator.h"
#include "pipeline/dcin.h"
#include "pipeline/embedders.h"
#include "pipeline/refs_sharded.h"
#include "pipeline/run_files.h"

namespace cq::apps {
namespace {

const char* kHelp =
    "usage: cqseg refs gris  --images DIR [--out ref.json] [--threads N] [--quiet]\n"
    "       cqseg refs bank  --images DIR --embedder NAME [--weights W] --out bank.safetensors [--threads N] [--quiet]\n"
    "       cqseg refs query --bank B --image IMG --embedder NAME [--weights W] [--k 5] [--threads N]\n"
    "\n"
    "gris   GRIS: the image of DIR whose 8x8x8 RGB histogram (L2-normalised) has the smallest mean Euclidean\n"
    "       distance to all the others. Writes JSON (chosen image, its SHA-256, every image's mean distance) to\n"
    "       --out, or to stdout without --out.\n"
    "bank   LRIS bank: every image of DIR embedded and L2-normalised, with its path and SHA-256 (safetensors).\n"
    "query  the k bank images most similar (cosine) to IMG.\n"
    "\n"
    "gris and bank run data parallel under mpirun -np N (each rank reads its share of the images; rank 0\n"
    "writes; the result equals the single-process one): see docs/DISTRIBUTED.md.\n"
    "DIR is a folder of images (png, jpg, jpeg, bmp, gif), or a dataset split folder holding images/.\n"
    "embedders (--embedder):\n"
    "  unet:CKPT        the trained U-Net's encoder (global average pool of the deepest features) at the\n"
    "                   checkpoint's training size (bicubic); works offline\n"
    "  PRESET           a Swin-V2 preset with --weights FILE.safetensors (published weights), e.g.\n"
    "                   swinv2_large_window12to24_192to384 (the paper's; 384x384 bilinear input, 1536-d);\n"
    "                   also swin_v2_t/s/b (torchvision) and swinv2_{tiny,small,base}_window8_256 (timm)\n"
    "A bank remembers its embedder (name with the weights' SHA-256 prefix) and refuses queries from another.\n"
    "\n"
    "device options (all subcommands; gris on cuda: histograms and distances on the GPU):\n";

int gris(const ParsedArgs& a, dist::Communicator& comm) {
  if (!a.has("images")) throw UsageError{"refs gris: --images DIR is required"};
  const int threads = int(parse_long("threads", a.get("threads", "0"), 0, 1024));
  const std::string dir = a.get("images");
  const auto files = pipeline::list_image_files(dir);
  std::FILE* progress = a.has("quiet") || comm.rank() != 0 ? nullptr : stderr;
  const Device dev = parse_device_choice(a).device;
  if (comm.size() > 1 && !dev.is_cpu()) throw UsageError{"refs gris under mpirun runs on the CPU (drop --device)"};
  const pipeline::GrisReference g = comm.size() > 1 ? pipeline::select_gris_sharded(comm, files, threads, progress)
                                                    : pipeline::select_gris(files, threads, progress, dev);
  if (comm.rank() != 0) return 0;
  const std::string text = json::dump(pipeline::gris_to_json(g, dir), 2) + "\n";
  if (a.has("out")) {
    pipeline::write_text_atomic(a.get("out"), text);
    std::printf("GRIS reference of %zu images: %s (mean distance %.6f), written to %s\n", files.size(),
                g.chosen().c_str(), g.mean_dist[size_t(g.index)], a.get("out").c_str());
  } else {
    std::fputs(text.c_str(), stdout);
  }
  return 0;
}

int bank(const ParsedArgs& a, dist::Communicator& comm) {
  for (const char* k : {"images", "embedder", "out"})
    if (!a.has(k)) throw UsageError{std::string("refs bank: --") + k + " is required"};
  const DeviceChoice dev = parse_device_choice(a);
  Context ctx({int(parse_long("threads", a.get("threads", "0"), 0, 1024)), 0, dev.device, dev.compute});
  const auto files = pipeline::list_image_files(a.get("images"));
  const pipeline::ImageEmbedder emb = pipeline::make_embedder(ctx, a.get("embedder"), a.get("weights"));
  std::FILE* progress = a.has("quiet") || comm.rank() != 0 ? nullptr : stderr;
  const dcin::RefBank b = comm.size() > 1 ? pipeline::build_bank_sharded(comm, ctx, emb, files, progress)
                                          : pipeline::build_bank(ctx, emb, files, progress);
  if (comm.rank() != 0) return 0;
  b.save(a.get("out"));
  std::printf("bank of %lld images, embedder %s (%dx%d input, %lld-d), written to %s\n", (long long)b.size(),
              b.embedder().c_str(), b.input_h(), b.input_w(), (long long)b.dim(), a.get("out").c_str());
  return 0;
}

int query(const ParsedArgs& a) {
  for (const char* k : {"bank", "image"})
    if (!a.has(k)) throw UsageError{std::string("refs query: --") + k + " is required"};
  const int k = int(parse_long("k", a.get("k", "5"), 1, 1000000));
  const dcin::RefBank b = dcin::RefBank::load(a.get("bank"));
  if (!a.has("embedder"))
    throw UsageError{"refs query: --embedder is required (the bank " + a.get("bank") + " was built with '" +
                     b.embedder() + "': give unet:CKPT of that checkpoint, or the Swin preset with --weights)"};
  const DeviceChoice dev = parse_device_choice(a);
  Context ctx({int(parse_long("threads", a.get("threads", "0"), 0, 1024)), 0, dev.device, dev.compute});
  const pipeline::ImageEmbedder emb = pipeline::make_embedder(ctx, a.get("embedder"), a.get("weights"));
  const std::vector<float> q = emb.embed(ctx, data::read_image(a.get("image")));
  const auto matches = dev.device.is_cuda()
                           ? b.query(emb.e.name, q.data(), int64_t(q.size()), k,
                                     b.embeddings_on(ctx.runtime_ptr(), dev.device))
                           : b.query(emb.e.name, q.data(), int64_t(q.size()), k);
  std::printf("rank\tsimilarity\tfile\n");
  for (size_t i = 0; i < matches.size(); ++i)
    std::printf("%zu\t%.6f\t%s\n", i + 1, double(matches[i].score), matches[i].name.c_str());
  return 0;
}

}  // namespace

int cmd_refs(int argc, char** argv) {
  try {
    if (argc < 2 || std::string(argv[1]) == "--help" || std::string(argv[1]) == "-h") {
      std::fputs(kHelp, argc < 2 ? stderr : stdout);
      std::fputs(kDeviceHelp, argc < 2 ? stderr : stdout);
      return argc < 2 ? 2 : 0;
    }
    const std::string sub = argv[1];
    const ParsedArgs a = parse_args(argc, argv, 2,
                                    with({"images", "out", "threads", "embedder", "weights", "bank", "image", "k"},
                                         kDeviceValued),
                                    with({"quiet"}, kDeviceFlags), false, "refs");
    if (a.has("help")) {
      std::fputs(kHelp, stdout);
      std::fputs(kDeviceHelp, stdout);
      return 0;
    }
    parse_device_choice(a);  // option errors first, whatever else is missing
    if (sub == "gris" || sub == "bank") {
      // Under mpirun: the images are sharded over the ranks. A failing rank ends the job (others would wait).
      const std::unique_ptr<dist::Communicator> comm = dist::make_communicator();
      try {
        return sub == "gris" ? gris(a, *comm) : bank(a, *comm);
      } catch (const std::exception& e) {
        if (comm->size() == 1) throw;
        std::fprintf(stderr, "cqseg refs %s (rank %d of %d): error: %s; aborting all ranks\n", sub.c_str(),
                     comm->rank(), comm->size(), e.what());
        comm->abort(1);
      }
    }
    if (sub == "query") return query(a);
    throw UsageError{"unknown refs subcommand '" + sub + "' (gris, bank or query)"};
  } catch (const UsageError& e) {
    std::fprintf(stderr, "cqseg refs: %s\n", e.msg.c_str());
    return 2;
  }
}

}  // namespace cq::apps
