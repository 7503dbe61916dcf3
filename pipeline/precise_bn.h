// "Precise BatchNorm" (Wu & Johnson 2021; fvcore's update_bn_stats): the running statistics replaced by the average
// of the batch statistics of the current weights over the training images, unaugmented.
//
// Why cqseg needs it on small data: the EfficientNet-B2 encoder's BatchNorm momentum is 0.01 (lukemelas' settings,
// as the paper's smp model), so a running average forgets its past over ~100 steps while Adam at 1e-3 changes the
// weights much faster than that early in training. With 20 images (10 steps per epoch) the eval-mode network then
// predicts with statistics of weights long gone: on DRIVE the validation vessel Dice stayed near 0 for 20 epochs
// while the training loss fell. The paper's thousands of steps per epoch hide this. The weights are not touched, and
// the training-mode forward passes that follow ignore the running statistics, so a run's weight trajectory is the
// same with or without it; only validation (and so the choice of the best checkpoint) and the saved statistics change.
#pragma once
#include "data/loader.h"
#include "models/registry.h"
#include "tensor/context.h"

namespace cq::pipeline {

// Every nn::BatchNorm2d of `model` gets running_mean / running_var = the mean over `loader`'s batches (one epoch,
// batches of fewer than 2 samples skipped) of that layer's batch statistics in a training-mode forward pass
// without drop-connect, computed as a cumulative average (momentum 1/k for the k-th batch, as fvcore does);
// num_batches_tracked, momentum, training mode and the context's random generator are restored afterwards.
// The drop-connect rate is 0 during the passes and `drop_connect` after. Returns the batches used;
// throws cq::Error when no batch had 2 samples.
int64_t recalibrate_batchnorm(Context& ctx, models::SegmentationModel& model, data::Loader& loader,
                              double drop_connect);

}  // namespace cq::pipeline
