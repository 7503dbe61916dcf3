// Losses as compositions of engine ops: autograd derives every gradient from the ops' own backward rules, so these
// definitions hold no hand-written derivative to get wrong. The f32 sums accumulate in double inside cq::sum/mean,
// which keeps the 1e-5 relative parity with PyTorch at realistic image sizes. The one exception is the DC loss of
// training on the CPU, which runs fused (dc_loss_fused.h: one pass forward, one backward, a hand-written gradient
// tested against this composition).
#include "losses/losses.h"

#include "losses/dc_loss_fused.h"

#include "kernels/elementwise/elementwise.h"
#include "kernels/reduce/reduce.h"
#include "kernels/shape/shape.h"
#include "kernels/softmax/softmax.h"
#include "tensor/backend.h"

namespace cq::losses {
namespace {

// logits [N,C,H,W] floating, target [N,H,W] i64 on the same device, every target value in [0, C). The value check
// runs here (on a host copy for CUDA) so the message names the loss, the value and the pixel, whatever op would
// have met it first.
void check_inputs(const char* op, const Tensor& logits, const Tensor& target) {
  CQ_CHECK(logits.defined() && target.defined(), op, ": undefined input");
  CQ_CHECK(logits.dim() == 4 && is_floating(logits.dtype()), op, ": logits must be f32/f64 [N,C,H,W], got ",
           logits.describe());
  CQ_CHECK(target.dtype() == DType::i64 && target.dim() == 3, op, ": target must be i64 [N,H,W], got ",
           target.describe(), " (logits ", logits.describe(), ")");
  const Shape& ls = logits.shape();
  const Shape& ts = target.shape();
  CQ_CHECK(ts[0] == ls[0] && ts[1] == ls[2] && ts[2] == ls[3], op, ": target ", target.describe(),
           " does not match logits ", logits.describe(), " (expected [N,H,W] = [", ls[0], ",", ls[2], ",", ls[3],
           "])");
  check_same_device(op, {logits, target});
  CQ_CHECK(logits.numel() > 0, op, ": empty logits ", logits.describe());
  const int64_t classes = ls[1];
  Tensor host = target.device().is_cpu() ? target.contiguous() : target.to(Device::cpu()).contiguous();
  const int64_t* t = host.data<int64_t>();
  const int64_t n = host.numel();
  for (int64_t i = 0; i < n; ++i) {
    if (t[i] < 0 || t[i] >= classes) {
      const int64_t w = i % ts[2], h = (i / ts[2]) % ts[1], b = i / (ts[2] * ts[1]);
      fail(op, ": target value ", t[i], " at [n=", b, ", h=", h, ", w=", w, "] is outside [0, ", classes,
           ") (the class count of logits ", logits.describe(), ")");
    }
  }
}

Tensor cross_entropy_checked(const Tensor& logits, const Tensor& target) {
  Tensor logp = log_softmax(logits, 1);
  Tensor picked = gather(logp, 1, target.unsqueeze(1));  // [N,1,H,W]: log p of the true class
  return neg(mean(picked));
}

DiceTerms dice_checked(const Tensor& logits, const Tensor& target) {
  const int64_t classes = logits.size(1);
  Tensor p = softmax(logits, 1);
  // one_hot appends the class axis; the permuted view lines it up with the logits' NCHW without a copy.
  Tensor g = one_hot(target, classes, logits.dtype()).permute({0, 3, 1, 2});
  Tensor inter = sum(mul(p, g), {2, 3});      // [N,C]
  Tensor ground = sum(mul(g, g), {2, 3});     // sum g^2 (squared_pred squares both); no gradient
  Tensor pred = sum(mul(p, p), {2, 3});       // sum p^2
  // Evaluated in MONAI's order: 1 - (2*I + smooth_nr) / ((ground + pred) + smooth_dr), smooth_nr = 0.
  Tensor per = 1.0 - (2.0 * inter) / ((ground + pred) + 1e-6);
  return DiceTerms{mean(per), per};
}

// DC = CE + Dice for checked inputs: the fused op where it runs (CPU f32/f64), else the composition.
Tensor dc_composed_checked(const Tensor& logits, const Tensor& target) {
  return cross_entropy_checked(logits, target) + dice_checked(logits, target).loss;
}
Tensor dc_checked(const Tensor& logits, const Tensor& target) {
  return dc_loss_fused_supported(logits) ? dc_loss_fused(logits, target) : dc_composed_checked(logits, target);
}

}  // namespace

Tensor cross_entropy(const Tensor& logits, const Tensor& target) {
  check_inputs("cross_entropy", logits, target);
  return cross_entropy_checked(logits, target);
}

DiceTerms dice_loss_terms(const Tensor& logits, const Tensor& target) {
  check_inputs("dice_loss", logits, target);
  return dice_checked(logits, target);
}

Tensor dice_loss(const Tensor& logits, const Tensor& target) { return dice_loss_terms(logits, target).loss; }

Tensor dc_loss_composed(const Tensor& logits, const Tensor& target) {
  check_inputs("dc_loss", logits, target);
  return dc_composed_checked(logits, target);
}

Tensor dc_loss(const Tensor& logits, const Tensor& target) {
  check_inputs("dc_loss", logits, target);
  return dc_checked(logits, target);
}

Tensor mse(const Tensor& a, const Tensor& b) {
  CQ_CHECK(a.defined() && b.defined(), "mse: undefined input");
  CQ_CHECK(a.shape() == b.shape(), "mse: shapes differ: ", a.describe(), " vs ", b.describe(),
           " (no broadcasting, as F.mse_loss warns against)");
  CQ_CHECK(is_floating(a.dtype()), "mse: dtype must be f32/f64, got ", a.describe());
  CQ_CHECK(a.numel() > 0, "mse: empty inputs ", a.describe());
  Tensor d = sub(a, b);
  return mean(mul(d, d));
}

CqgTerms cqg_loss(const Tensor& target, const Tensor& logits1, const Tensor& logits2, CqgWeights w) {
  check_inputs("cqg_loss (logits1)", logits1, target);
  check_inputs("cqg_loss (logits2)", logits2, target);
  CQ_CHECK(logits1.shape() == logits2.shape() && logits1.dtype() == logits2.dtype(), "cqg_loss: logits1 ",
           logits1.describe(), " and logits2 ", logits2.describe(), " must have one shape and dtype");
  CqgTerms t;
  t.dc1 = dc_checked(logits1, target);
  t.dc2 = dc_checked(logits2, target);
  t.mse = mse(logits1, logits2);
  t.total = t.dc1 * w.l1 + t.dc2 * w.l2 + t.mse * w.l3;
  return t;
}

}  // namespace cq::losses
