#include "refselect/bank.h"


#include <algorithm>
#include <array>
#include <map>
#include <cmath>
#include <cstring>
#include <set>

#include "nn/json.h"
#include "nn/safetensors.h"
#include "refselect/refselect_cuda.h"
#include "tensor/backend.h"

namespace cq::dcin {

namespace {
constexpr const char* kFormat = "cqseg-refbank";
constexpr const char* kVersion = "2";

bool is_hex64(const std::string& s) {
  if (s.size() != 64) return false;
  for (char c : s)
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  return true;
}

// L2-normalises v in place (double accumulation); false when it is not finite or zero.
bool normalise(float* v, int64_t d) {
  double s = 0;
  for (int64_t i = 0; i < d; ++i) {
    if (!std::isfinite(v[i])) return false;
    s += static_cast<double>(v[i]) * v[i];
  }
  if (!(s > 0) || !std::isfinite(s)) return false;
  const double inv = 1.0 / std::sqrt(s);
  for (int64_t i = 0; i < d; ++i) v[i] = static_cast<float>(v[i] * inv);
  return true;
}

int parse_dim(const std::map<std::string, std::string>& md, const char* key, const std::string& label) {
  auto it = md.find(key);
  CQ_CHECK(it != md.end(), label, ": metadata '", key, "' missing");
  const std::string& s = it->second;
  CQ_CHECK(!s.empty() && s.size() < 7 && s.find_first_not_of("0123456789") == std::string::npos, label,
           ": metadata '", key, "' = '", s, "' is not a positive integer");
  int v = std::stoi(s);
  CQ_CHECK(v > 0, label, ": metadata '", key, "' must be positive, got ", v);
  return v;
}
}  // namespace

RefBank RefBank::build(const std::string& embedder, int input_h, int input_w, const std::vector<BankItem>& items) {
  CQ_CHECK(!embedder.empty(), "reference bank: the embedder needs a name");
  CQ_CHECK(input_h > 0 && input_w > 0, "reference bank: embedder '", embedder, "' input size ", input_h, "x", input_w,
           " must be positive");
  CQ_CHECK(!items.empty(), "reference bank: no images to build from");
  RefBank b;
  b.embedder_ = embedder;
  b.input_h_ = input_h;
  b.input_w_ = input_w;
  b.dim_ = static_cast<int64_t>(items[0].embedding.size());
  CQ_CHECK(b.dim_ > 0, "reference bank: ", items[0].name, ": empty embedding");
  std::set<std::string> seen;
  b.emb_.resize(items.size() * static_cast<size_t>(b.dim_));
  for (size_t i = 0; i < items.size(); ++i) {
    const BankItem& it = items[i];
    CQ_CHECK(!it.name.empty(), "reference bank: item ", i, " has no file name");
    CQ_CHECK(seen.insert(it.name).second, "reference bank: ", it.name, " appears twice");
    CQ_CHECK(static_cast<int64_t>(it.embedding.size()) == b.dim_, "reference bank: ", it.name, ": embedding length ",
             it.embedding.size(), " but ", items[0].name, " has ", b.dim_);
    CQ_CHECK(is_hex64(it.sha256), "reference bank: ", it.name, ": SHA-256 must be 64 lowercase hex digits, got '",
             it.sha256, "'");
    std::vector<float> raw(it.embedding);
    CQ_CHECK(normalise(raw.data(), b.dim_), "reference bank: ", it.name, ": embedding is zero or not finite");
    b.names_.push_back(it.name);
    b.sha_.push_back(it.sha256);
  }
  // Centre on the mean raw embedding (double accumulation, item order: deterministic), then normalise each.
  b.center_.assign(static_cast<size_t>(b.dim_), 0.0f);
  if (items.size() >= 2) {
    for (int64_t k = 0; k < b.dim_; ++k) {
      double acc = 0;
      for (const auto& it : items) acc += it.embedding[static_cast<size_t>(k)];
      b.center_[static_cast<size_t>(k)] = static_cast<float>(acc / static_cast<double>(items.size()));
    }
  }
  for (size_t i = 0; i < items.size(); ++i) {
    float* dst = b.emb_.data() + i * b.dim_;
    for (int64_t k = 0; k < b.dim_; ++k) dst[k] = items[i].embedding[static_cast<size_t>(k)] - b.center_[static_cast<size_t>(k)];
    // An item equal to the centre (all bank images identical) keeps a zero row: it scores 0 against every query.
    if (!normalise(dst, b.dim_)) std::fill(dst, dst + b.dim_, 0.0f);
  }
  return b;
}

void RefBank::save(const std::string& path) const {
  Context ctx(ContextOptions{1, 0, Device::cpu()});
  const int64_t n = size();
  Tensor e = ctx.empty({n, dim_}, DType::f32);
  std::memcpy(e.data<float>(), emb_.data(), sizeof(float) * emb_.size());
  Tensor s = ctx.empty({n, 32}, DType::u8);
  uint8_t* sp = s.data<uint8_t>();
  for (int64_t i = 0; i < n; ++i)
    for (int k = 0; k < 32; ++k) sp[i * 32 + k] = static_cast<uint8_t>(std::stoi(sha_[i].substr(2 * k, 2), nullptr, 16));
  json::Value names = json::Value::array();
  for (const auto& nm : names_) names.push(json::Value::string(nm));
  Tensor c = ctx.empty({dim_}, DType::f32);
  std::memcpy(c.data<float>(), center_.data(), sizeof(float) * center_.size());
  save_safetensors(path, {{"embeddings", e}, {"center", c}, {"sha256", s}},
                   {{"format", kFormat},
                    {"version", kVersion},
                    {"embedder", embedder_},
                    {"input_h", std::to_string(input_h_)},
                    {"input_w", std::to_string(input_w_)},
                    {"names", json::dump(names)}});
}

RefBank RefBank::load(const std::string& path) {
  SafetensorsFile f = SafetensorsFile::open(path);  // structural errors name the file already
  const auto& md = f.metadata();
  auto get = [&](const char* key) -> const std::string& {
    auto it = md.find(key);
    CQ_CHECK(it != md.end(), path, ": not a cqseg reference bank (metadata '", key, "' missing)");
    return it->second;
  };
  CQ_CHECK(get("format") == kFormat, path, ": metadata format '", get("format"), "' is not ", kFormat);
  const std::string version = get("version");
  CQ_CHECK(version == "1" || version == kVersion, path, ": reference bank version '", version,
           "' unsupported (this build reads versions 1 and ", kVersion, ")");
  RefBank b;
  b.label_ = path;
  b.embedder_ = get("embedder");
  CQ_CHECK(!b.embedder_.empty(), path, ": empty embedder name");
  b.input_h_ = parse_dim(md, "input_h", path);
  b.input_w_ = parse_dim(md, "input_w", path);
  json::Value names;
  try {
    names = json::parse(get("names"));
  } catch (const Error& e) {
    fail(path, ": metadata 'names' is not valid JSON: ", e.what());
  }
  CQ_CHECK(names.is_array(), path, ": metadata 'names' must be a JSON array of file names");
  CQ_CHECK(f.contains("embeddings") && f.contains("sha256"), path, ": tensors 'embeddings' and 'sha256' required");
  const SafetensorsEntry& e = f.entry("embeddings");
  const SafetensorsEntry& s = f.entry("sha256");
  CQ_CHECK(e.dtype == StDType::F32 && e.shape.size() == 2 && e.shape[0] > 0 && e.shape[1] > 0, path,
           ": 'embeddings' must be F32 [N,D] with N, D > 0, got ", st_dtype_name(e.dtype), shape_str(e.shape));
  const int64_t n = e.shape[0];
  b.dim_ = e.shape[1];
  CQ_CHECK(s.dtype == StDType::U8 && s.shape == Shape({n, 32}), path, ": 'sha256' must be U8 [", n, ",32], got ",
           st_dtype_name(s.dtype), shape_str(s.shape));
  CQ_CHECK(static_cast<int64_t>(names.as_array().size()) == n, path, ": ", names.as_array().size(),
           " names for ", n, " embeddings");
  std::set<std::string> seen;
  for (const auto& v : names.as_array()) {
    CQ_CHECK(v.is_string() && !v.as_string().empty(), path, ": every name must be a non-empty string");
    CQ_CHECK(seen.insert(v.as_string()).second, path, ": name ", v.as_string(), " appears twice");
    b.names_.push_back(v.as_string());
  }
  b.emb_.resize(static_cast<size_t>(n * b.dim_));
  std::memcpy(b.emb_.data(), e.data, e.nbytes);
  b.center_.assign(static_cast<size_t>(b.dim_), 0.0f);
  if (version != "1") {
    CQ_CHECK(f.contains("center"), path, ": tensor 'center' required in a version-", version, " bank");
    const SafetensorsEntry& c = f.entry("center");
    CQ_CHECK(c.dtype == StDType::F32 && c.shape == Shape({b.dim_}), path, ": 'center' must be F32 [", b.dim_,
             "], got ", st_dtype_name(c.dtype), shape_str(c.shape));
    std::memcpy(b.center_.data(), c.data, c.nbytes);
    for (float v : b.center_) CQ_CHECK(std::isfinite(v), path, ": 'center' is not finite");
  }
  for (int64_t i = 0; i < n; ++i) {
    const float* r = b.emb_.data() + i * b.dim_;
    double ss = 0;
    for (int64_t k = 0; k < b.dim_; ++k) ss += static_cast<double>(r[k]) * r[k];
    CQ_CHECK(std::isfinite(ss) && (std::fabs(ss - 1.0) < 1e-3 || ss == 0.0), path, ": embedding of ", b.names_[i],
             " is not L2-normalised (squared norm ", ss, ")");
    std::array<uint8_t, 32> d;
    std::memcpy(d.data(), s.data + i * 32, 32);
    static const char* hx = "0123456789abcdef";
    std::string h(64, '0');
    for (int k = 0; k < 32; ++k) h[2 * k] = hx[d[k] >> 4], h[2 * k + 1] = hx[d[k] & 15];
    b.sha_.push_back(h);
  }
  return b;
}

std::vector<float> RefBank::prepare_query(const std::string& embedder, const float* emb, int64_t d, int k) const {
  CQ_CHECK(embedder == embedder_, label_, ": built with embedder '", embedder_, "', refuses a query embedded by '",
           embedder, "' (rebuild the bank with '", embedder, "' or query with '", embedder_, "')");
  CQ_CHECK(d == dim_, label_, ": query embedding has ", d, " values, the bank's have ", dim_);
  CQ_CHECK(k >= 1, label_, ": top-k needs k >= 1, got ", k);
  std::vector<float> q(emb, emb + d);
  for (int64_t j = 0; j < d; ++j) q[j] -= center_[static_cast<size_t>(j)];
  CQ_CHECK(normalise(q.data(), d), label_, ": query embedding is not finite or equals the bank's centre");
  return q;
}

std::vector<BankMatch> RefBank::query(const std::string& embedder, const float* emb, int64_t d, int k) const {
  const std::vector<float> q = prepare_query(embedder, emb, d, k);
  const int64_t n = size();
  std::vector<float> score(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) {
    const float* r = embedding(i);
    double s = 0;
    for (int64_t j = 0; j < d; ++j) s += static_cast<double>(r[j]) * q[j];
    score[i] = static_cast<float>(s);
  }
  std::vector<int64_t> idx(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) idx[i] = i;
  const int64_t kk = std::min<int64_t>(k, n);
  std::partial_sort(idx.begin(), idx.begin() + kk, idx.end(), [&](int64_t a, int64_t b) {
    return score[a] != score[b] ? score[a] > score[b] : a < b;
  });
  std::vector<BankMatch> out;
  for (int64_t i = 0; i < kk; ++i) out.push_back({idx[i], names_[idx[i]], score[idx[i]]});
  return out;
}

Tensor RefBank::embeddings_on(const std::shared_ptr<Runtime>& rt, Device dev) const {
  Tensor h = Tensor::empty(rt, {size(), dim_}, DType::f32, Device::cpu());
  if (!emb_.empty()) std::memcpy(h.data<float>(), emb_.data(), sizeof(float) * emb_.size());
  return h.to(dev);
}

std::vector<BankMatch> RefBank::query(const std::string& embedder, const float* emb, int64_t d, int k,
                                      const Tensor& bank_dev) const {
  CQ_CHECK(bank_dev.defined() && bank_dev.dtype() == DType::f32 && bank_dev.dim() == 2 &&
               bank_dev.size(0) == size() && bank_dev.size(1) == dim_ && bank_dev.is_contiguous(),
           label_, ": device embeddings must be embeddings_on()'s [", size(), ",", dim_, "] f32, got ",
           bank_dev.defined() ? bank_dev.describe() : std::string("nothing"));
  if (!bank_dev.device().is_cuda()) return query(embedder, emb, d, k);
  const std::vector<float> q = prepare_query(embedder, emb, d, k);
  Tensor qh = Tensor::empty(bank_dev.runtime_ptr(), {d}, DType::f32, Device::cpu());
  std::memcpy(qh.data<float>(), q.data(), sizeof(float) * q.size());
  std::vector<int64_t> idx;
  std::vector<float> score;
  CQ_CUDA_CALL("lris query", cudaimpl::cosine_topk(bank_dev, qh.to(bank_dev.device()), k, idx, score));
  std::vector<BankMatch> out;
  for (size_t i = 0; i < idx.size(); ++i) out.push_back({idx[i], names_[idx[i]], score[i]});
  return out;
}

std::vector<BankMatch> RefBank::query(const Embedder& e, const Tensor& nchw, int k) const {
  CQ_CHECK(e.name == embedder_, label_, ": built with embedder '", embedder_, "', refuses a query embedded by '",
           e.name, "'");
  CQ_CHECK(e.embed, label_, ": embedder '", e.name, "' has no embed function");
  CQ_CHECK(nchw.defined() && nchw.dim() == 4 && nchw.size(0) == 1 && nchw.size(1) == 3 &&
               nchw.size(2) == input_h_ && nchw.size(3) == input_w_,
           label_, ": query image must be [1,3,", input_h_, ",", input_w_, "] for embedder '", embedder_, "', got ",
           nchw.defined() ? nchw.describe() : std::string("nothing"));
  Tensor v = e.embed(nchw).to(Device::cpu()).to(DType::f32).contiguous();
  CQ_CHECK(v.numel() == dim_ && (v.dim() == 1 || (v.dim() == 2 && v.size(0) == 1)), label_, ": embedder '", e.name,
           "' returned ", v.describe(), ", expected [1,", dim_, "] or [", dim_, "]");
  return query(e.name, v.data<float>(), dim_, k);
}

}  // namespace cq::dcin
