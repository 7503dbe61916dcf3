#include "pipeline/precise_bn.h"

#include <vector>

#include "nn/layers.h"
#include "tensor/error.h"

namespace cq::pipeline {

int64_t recalibrate_batchnorm(Context& ctx, models::SegmentationModel& model, data::Loader& loader,
                              double drop_connect) {
  struct Saved {
    nn::BatchNorm2d* bn;
    double momentum;
    Tensor tracked;
    std::function<void(double*, int64_t)> group_sum;
  };
  std::vector<Saved> bns;
  model.apply([&](nn::Module& m) {
    if (auto* bn = dynamic_cast<nn::BatchNorm2d*>(&m)) {
      Tensor t = bn->num_batches_tracked.new_empty(bn->num_batches_tracked.shape());
      t.copy_(bn->num_batches_tracked);
      bns.push_back({bn, bn->momentum, t, bn->group_sum});
      bn->group_sum = nullptr;  // one process recalibrates (rank 0 under MPI): no synchronised statistics
    }
  });
  if (bns.empty()) return 0;
  // Everything changed below is put back however the passes end (an error in a forward pass included).
  struct Restore {
    std::vector<Saved>& bns;
    models::SegmentationModel& model;
    Context& ctx;
    bool was_training;
    Rng::State rng;
    double drop_connect;
    ~Restore() {
      for (Saved& s : bns) {
        s.bn->momentum = s.momentum;
        s.bn->num_batches_tracked.copy_(s.tracked);
        s.bn->group_sum = s.group_sum;
      }
      model.train(was_training);
      model.set_drop_connect_rate(drop_connect);
      ctx.rng().set_state(rng);
    }
  } restore{bns, model, ctx, model.is_training(), ctx.rng().state(), drop_connect};
  model.set_drop_connect_rate(0.0);
  model.train(true);
  int64_t k = 0;
  NoGradGuard ng = ctx.no_grad();
  loader.start_epoch(0);
  data::Batch b;
  while (loader.next(&b)) {
    if (b.indices.size() < 2) continue;  // one sample has no batch variance over a 1x1 map; skip as fvcore does
    ++k;
    for (Saved& s : bns) s.bn->momentum = 1.0 / double(k);  // k = 1 overwrites the old statistics
    model.forward(b.images.to(ctx.device()));
  }
  CQ_CHECK(k > 0, "precise BatchNorm: no batch of at least 2 images in ", loader.dataset().dir());
  return k;
}

}  // namespace cq::pipeline
