#include "pipeline/refs_sharded.h"

#include <algorithm>
#include <cstring>
#include <limits>

#include "data/image_io.h"
#include "data/sha256.h"
#include "pipeline/dcin_model.h"
#include "pipeline/progress.h"
#include "refselect/gris.h"
#include "refselect/histogram.h"
#include "tensor/error.h"

namespace cq::pipeline {
namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

// A tiny length-prefixed byte stream for the gathered records (all ranks run the same binary: native layout).
struct Writer {
  std::string s;
  void bytes(const void* p, size_t n) {
    if (n) s.append(static_cast<const char*>(p), n);
  }
  void str(const std::string& x) {
    const uint64_t n = x.size();
    bytes(&n, sizeof n);
    s += x;
  }
  template <class T>
  void vec(const std::vector<T>& v) {
    const uint64_t n = v.size();
    bytes(&n, sizeof n);
    bytes(v.data(), n * sizeof(T));
  }
};
struct Reader {
  const std::string& s;
  size_t pos = 0;
  void bytes(void* p, size_t n) {
    CQ_CHECK(pos + n <= s.size(), "refs: a rank sent a truncated record");
    if (n) std::memcpy(p, s.data() + pos, n);  // (an empty vector's data() may be null: memcpy(null, ..., 0) is UB)
    pos += n;
  }
  std::string str() {
    uint64_t n = 0;
    bytes(&n, sizeof n);
    std::string x(size_t(n), '\0');
    bytes(x.data(), size_t(n));
    return x;
  }
  template <class T>
  std::vector<T> vec() {
    uint64_t n = 0;
    bytes(&n, sizeof n);
    std::vector<T> v(static_cast<size_t>(n));
    bytes(v.data(), size_t(n) * sizeof(T));
    return v;
  }
  bool done() const { return pos == s.size(); }
};

}  // namespace

GrisReference select_gris_sharded(dist::Communicator& comm, const std::vector<std::string>& files, int threads,
                                  std::FILE* progress) {
  CQ_CHECK(!files.empty(), "GRIS: no images given");
  const int64_t N = int64_t(files.size());
  const dist::Range mine = dist::shard_range(N, comm.rank(), comm.size());
  Context ctx({std::max(1, threads), 0});
  // This rank's histograms and digests (the same calls as select_gris, so the same bits).
  std::vector<float> h(size_t(mine.hi - mine.lo) * dcin::kHistBins);
  std::vector<std::string> sha;
  Progress bar(progress, "GRIS histograms (rank 0's share)", mine.hi - mine.lo);
  for (int64_t i = mine.lo; i < mine.hi; ++i) {
    const std::string& f = files[size_t(i)];
    sha.push_back(data::sha256_file(f));
    const Tensor t = image_to_hwc(ctx, data::read_image(f));
    dcin::color_hist(t, h.data() + (i - mine.lo) * dcin::kHistBins, dcin::HistOptions{}, ctx.threads(), f);
    bar.update(i - mine.lo + 1, kNaN);
  }
  bar.finish();
  Writer w;
  w.vec(h);
  for (const std::string& s : sha) w.str(s);
  GrisReference g;
  g.files = files;
  std::vector<float> X;
  X.reserve(size_t(N) * dcin::kHistBins);
  const std::vector<std::string> all = comm.all_gather(w.s);
  for (int r = 0; r < comm.size(); ++r) {
    const dist::Range part = dist::shard_range(N, r, comm.size());
    Reader rd{all[size_t(r)]};
    const std::vector<float> hr = rd.vec<float>();
    CQ_CHECK(int64_t(hr.size()) == (part.hi - part.lo) * dcin::kHistBins, "GRIS: rank ", r, " sent ", hr.size(),
             " histogram values for ", part.hi - part.lo, " images (different file lists on the ranks?)");
    X.insert(X.end(), hr.begin(), hr.end());
    for (int64_t i = part.lo; i < part.hi; ++i) g.sha256.push_back(rd.str());
  }
  dcin::GrisOptions go;
  go.threads = ctx.threads();
  Writer pw;
  pw.vec(dcin::gris_partial(X.data(), N, dcin::kHistBins, go, comm.rank(), comm.size()));
  std::vector<std::vector<double>> partials;
  for (const std::string& s : comm.all_gather(pw.s)) {
    Reader rd{s};
    partials.push_back(rd.vec<double>());
  }
  const dcin::GrisResult res = dcin::gris_combine(partials, N, go);
  g.index = res.index;
  g.mean_dist = res.mean_dist;
  return g;
}

dcin::RefBank build_bank_sharded(dist::Communicator& comm, Context& ctx, const ImageEmbedder& emb,
                                 const std::vector<std::string>& files, std::FILE* progress) {
  CQ_CHECK(!files.empty(), "reference bank: no images given");
  const int64_t N = int64_t(files.size());
  const dist::Range mine = dist::shard_range(N, comm.rank(), comm.size());
  Writer w;
  Progress bar(progress, "bank " + emb.e.name + " (rank 0's share)", mine.hi - mine.lo);
  for (int64_t i = mine.lo; i < mine.hi; ++i) {
    const std::string& f = files[size_t(i)];
    w.str(f);
    w.str(data::sha256_file(f));
    w.vec(emb.embed(ctx, data::read_image(f)));
    bar.update(i - mine.lo + 1, kNaN);
  }
  bar.finish();
  std::vector<dcin::BankItem> items;
  items.reserve(files.size());
  const std::vector<std::string> all = comm.all_gather(w.s);
  for (int r = 0; r < comm.size(); ++r) {
    Reader rd{all[size_t(r)]};
    while (!rd.done()) {
      dcin::BankItem it;
      it.name = rd.str();
      it.sha256 = rd.str();
      it.embedding = rd.vec<float>();
      items.push_back(std::move(it));
    }
  }
  CQ_CHECK(int64_t(items.size()) == N, "reference bank: the ranks returned ", items.size(), " items for ", N,
           " images (different file lists on the ranks?)");
  return dcin::RefBank::build(emb.e.name, emb.e.input_h, emb.e.input_w, items);
}

}  // namespace cq::pipeline
