// LRIS reference bank: centred, L2-normalised embeddings [N,D] of reference images with their file names, SHA-256
// digests and the embedder that produced them (name and input size). Stored as safetensors:
//   tensors  "embeddings" f32 [N,D], "center" f32 [D], "sha256" u8 [N,32]
//   metadata "format" = "cqseg-refbank", "version" = "2", "embedder", "input_h", "input_w", "names" (JSON array)
// Centring: cosine similarity is taken after subtracting the mean embedding of the bank ("center") from bank and
// query embeddings alike. Pooled CNN features (the U-Net encoder's deepest BatchNorm output) share a large constant
// component that made every cosine similarity 1.000000 and LRIS always pick the first image; centring removes it and
// leaves the ranking of already-centred embeddings unchanged. Version-1 files (no centre) still load.
// A query embedding must come from the same embedder: a bank built with one refuses queries from another.
#pragma once
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "tensor/tensor.h"

namespace cq::dcin {

// What turns a [1,3,input_h,input_w] image tensor into an embedding ([1,D] or [D]); wired by the caller (Swin-V2,
// the U-Net encoder's pooled deepest features, ...). The name identifies it in bank files.
struct Embedder {
  std::string name;
  int input_h = 0, input_w = 0;
  std::function<Tensor(const Tensor& nchw)> embed;
};

struct BankItem {
  std::string name;  // file name of the reference image
  std::vector<float> embedding;
  std::string sha256;  // 64 hex digits of the image file
};

struct BankMatch {
  int64_t index = -1;
  std::string name;
  float score = 0;  // cosine similarity
};

class RefBank {
 public:
  // Validates (same D everywhere, finite non-zero embeddings, 64-hex digests, non-empty unique names) and
  // L2-normalises each embedding. Errors name the offending item.
  static RefBank build(const std::string& embedder, int input_h, int input_w, const std::vector<BankItem>& items);
  // Reads and validates a bank file; every malformation is a cq::Error naming the file and the problem.
  static RefBank load(const std::string& path);
  void save(const std::string& path) const;

  const std::string& embedder() const { return embedder_; }
  int input_h() const { return input_h_; }
  int input_w() const { return input_w_; }
  int64_t size() const { return static_cast<int64_t>(names_.size()); }
  int64_t dim() const { return dim_; }
  const std::vector<std::string>& names() const { return names_; }
  const std::string& sha256(int64_t i) const { return sha_[static_cast<size_t>(i)]; }
  const float* embedding(int64_t i) const { return emb_.data() + i * dim_; }
  const std::vector<float>& center() const { return center_; }

  // The k best matches by cosine similarity (descending; ties by lower index). `embedder` must be the bank's.
  std::vector<BankMatch> query(const std::string& embedder, const float* emb, int64_t d, int k = 1) const;
  BankMatch query1(const std::string& embedder, const std::vector<float>& emb) const {
    return query(embedder, emb.data(), static_cast<int64_t>(emb.size()), 1).front();
  }
  // The bank's (centred, normalised) embeddings as an f32 [N,D] tensor on `dev` of runtime rt: upload once, then
  // pass to the query below for every image.
  Tensor embeddings_on(const std::shared_ptr<Runtime>& rt, Device dev) const;
  // As query(), with the cosine scores and the top-k computed where bank_dev lives (on a GPU: one warp per bank
  // row, double accumulation, block top-k; refselect/refselect_cuda.h). The query is centred and normalised on the
  // host (D values). Scores match the CPU to float rounding.
  std::vector<BankMatch> query(const std::string& embedder, const float* emb, int64_t d, int k,
                               const Tensor& bank_dev) const;
  // Embeds one image [1,3,H,W] (H,W = the bank's input size) with e and queries.
  std::vector<BankMatch> query(const Embedder& e, const Tensor& nchw, int k = 1) const;

 private:
  // The checked, centred and normalised query (shared by both query paths).
  std::vector<float> prepare_query(const std::string& embedder, const float* emb, int64_t d, int k) const;
  std::string label_ = "reference bank";  // the file, in messages
  std::string embedder_;
  int input_h_ = 0, input_w_ = 0;
  int64_t dim_ = 0;
  std::vector<std::string> names_, sha_;
  std::vector<float> emb_;
  std::vector<float> center_;  // [D], subtracted before normalising (zeros for a one-image bank)
};

}  // namespace cq::dcin
