#include "pipeline/metrics.h"

#include <cmath>
#include <limits>

#include "tensor/error.h"

namespace cq::pipeline {

DiceCounter::DiceCounter(int classes) : classes_(classes), tp_(size_t(classes)), fp_(size_t(classes)), fn_(size_t(classes)) {
  CQ_CHECK(classes >= 1, "DiceCounter: classes must be >= 1, got ", classes);
}

void DiceCounter::add_labels(const int64_t* pred, const int64_t* target, const uint8_t* valid, size_t n) {
  for (size_t i = 0; i < n; ++i) {
    if (valid && !valid[i]) continue;
    const int64_t p = pred[i], t = target[i];
    CQ_CHECK(p >= 0 && p < classes_ && t >= 0 && t < classes_, "DiceCounter: label out of range at pixel ", i,
             ": prediction ", p, ", target ", t, ", classes ", classes_);
    if (p == t) {
      tp_[size_t(p)]++;
    } else {
      fp_[size_t(p)]++;
      fn_[size_t(t)]++;
    }
  }
}

void DiceCounter::add(const Tensor& logits, const Tensor& target, const Tensor& valid) {
  CQ_CHECK(logits.dim() == 4 && logits.size(1) == classes_, "DiceCounter: logits must be [N,", classes_,
           ",H,W], got ", logits.describe());
  const int64_t n = logits.size(0), k = logits.size(1), hw = logits.size(2) * logits.size(3);
  CQ_CHECK(target.dim() == 3 && target.size(0) == n && target.size(1) == logits.size(2) &&
               target.size(2) == logits.size(3) && target.dtype() == DType::i64,
           "DiceCounter: target must be i64 [N,H,W] matching logits ", logits.describe(), ", got ", target.describe());
  if (valid.defined())
    CQ_CHECK(valid.shape() == target.shape() && valid.dtype() == DType::u8, "DiceCounter: valid mask must be u8 ",
             shape_str(target.shape()), ", got ", valid.describe());
  // Host copies: the argmax is cheap next to the forward pass, and this keeps one code path for every device.
  const std::vector<double> l = logits.to_vector<double>();
  const std::vector<int64_t> t = target.to_vector<int64_t>();
  std::vector<uint8_t> v;
  if (valid.defined()) v = valid.to_vector<uint8_t>();
  std::vector<int64_t> pred(size_t(n * hw));
  for (int64_t b = 0; b < n; ++b)
    for (int64_t i = 0; i < hw; ++i) {
      int64_t best = 0;
      double bv = l[size_t(b * k * hw + i)];
      for (int64_t c = 1; c < k; ++c) {
        const double x = l[size_t((b * k + c) * hw + i)];
        if (x > bv) bv = x, best = c;  // strict: the first maximum wins, as torch.argmax
      }
      pred[size_t(b * hw + i)] = best;
    }
  add_labels(pred.data(), t.data(), v.empty() ? nullptr : v.data(), pred.size());
}

double DiceCounter::dice(int c) const {
  CQ_CHECK(c >= 0 && c < classes_, "DiceCounter::dice: class ", c, " out of range (", classes_, " classes)");
  const double den = 2.0 * double(tp_[size_t(c)]) + double(fp_[size_t(c)]) + double(fn_[size_t(c)]);
  if (den == 0) return std::numeric_limits<double>::quiet_NaN();
  return 2.0 * double(tp_[size_t(c)]) / den;
}

namespace {
double mean_supported(const DiceCounter& d, int from) {
  double s = 0;
  int n = 0;
  for (int c = from; c < d.classes(); ++c) {
    const double v = d.dice(c);
    if (!std::isnan(v)) s += v, ++n;
  }
  return n ? s / n : std::numeric_limits<double>::quiet_NaN();
}
}  // namespace

double DiceCounter::foreground_dice() const { return mean_supported(*this, 1); }
double DiceCounter::mean_dice() const { return mean_supported(*this, 0); }

}  // namespace cq::pipeline
