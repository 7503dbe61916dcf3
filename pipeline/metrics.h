// Segmentation metrics of SPEC.md "Evaluation": per-class TP, FP, FN summed over every pixel of every image of a split
// (not averaged per image), Dice_c = 2TP / (2TP + FP + FN); a class with no support (TP + FP + FN = 0) has no Dice
// and is dropped from the means.
#pragma once
#include <cstdint>
#include <vector>

#include "tensor/tensor.h"

namespace cq::pipeline {

class DiceCounter {
 public:
  explicit DiceCounter(int classes);

  // logits f32/f64 [N,K,H,W] (prediction = argmax over K, first maximum on ties as torch.argmax), target i64 [N,H,W];
  // valid: optional u8 [N,H,W], only pixels with valid != 0 count (field of view).
  void add(const Tensor& logits, const Tensor& target, const Tensor& valid = Tensor());
  // Label maps of n pixels; valid may be null.
  void add_labels(const int64_t* pred, const int64_t* target, const uint8_t* valid, size_t n);

  int classes() const { return classes_; }
  const std::vector<uint64_t>& tp() const { return tp_; }
  const std::vector<uint64_t>& fp() const { return fp_; }
  const std::vector<uint64_t>& fn() const { return fn_; }
  // Dice of class c in [0, 1], NaN without support.
  double dice(int c) const;
  // Mean Dice over the foreground classes 1..K-1 with support (the vessel Dice for K = 2); NaN if none.
  double foreground_dice() const;
  // Mean over all classes with support, background included (the paper's table metric); NaN if none.
  double mean_dice() const;

 private:
  int classes_;
  std::vector<uint64_t> tp_, fp_, fn_;
};

}  // namespace cq::pipeline
