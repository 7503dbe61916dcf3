// `mpirun -np N cqseg refs gris|bank`: reference building with the images split over the ranks of a Communicator
// (docs/DISTRIBUTED.md). Each rank decodes only its contiguous share of the (sorted) file list (dist::shard_range).
//   GRIS: the ranks exchange their histograms (N x 512 floats: O(N*D), 2 KiB per image), each computes the distance
//         tiles it owns (refselect/gris.h gris_partial: every N-th tile of the upper triangle) and the ranks exchange
//         those row-sum contributions (O(N^2/block) doubles), never the N x N matrix; gris_combine adds them in the
//         single-process order, so the result is bit-identical to select_gris for any rank count.
//   bank: each rank embeds its share; the items are gathered in file order and every rank holds the same bank,
//         bit-identical to build_bank (an embedding depends only on its image).
// With a size-1 communicator both are the single-process functions' results. Every rank returns the result; the
// caller writes it from rank 0.
#pragma once
#include <cstdio>
#include <string>
#include <vector>

#include "dist/communicator.h"
#include "pipeline/dcin.h"
#include "pipeline/embedders.h"

namespace cq::pipeline {

GrisReference select_gris_sharded(dist::Communicator& comm, const std::vector<std::string>& files, int threads,
                                  std::FILE* progress);
dcin::RefBank build_bank_sharded(dist::Communicator& comm, Context& ctx, const ImageEmbedder& emb,
                                 const std::vector<std::string>& files, std::FILE* progress);

}  // namespace cq::pipeline
