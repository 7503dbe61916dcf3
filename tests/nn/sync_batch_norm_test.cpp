// Synchronised BatchNorm (nn/sync_batch_norm.h): float64 gradient check in one process, and two "ranks" simulated by
// two threads summing through a shared buffer, which must reproduce batch_norm_act on the whole batch (outputs,
// input gradients, summed parameter gradients, running statistics).
#include <gtest/gtest.h>

#include <condition_variable>
#include <map>
#include <mutex>
#include <thread>

#include "kernels/norm/norm_act.h"
#include "kernels/shape/shape.h"
#include "nn/sync_batch_norm.h"
#include "tensor/autograd.h"
#include "tests/support/gradcheck.h"
#include "tests/support/test_util.h"

using namespace cq;
using cq::testing::gradcheck;

namespace {

// A 2-party in-place sum (the test's stand-in for the MPI communicator).
class TwoParty {
 public:
  void sum(double* p, int64_t n) {
    std::unique_lock<std::mutex> l(mu_);
    const int64_t g = gen_;
    std::vector<double>& acc = results_[g];
    if (arrived_ == 0) acc.assign(p, p + n);
    else
      for (int64_t i = 0; i < n; ++i) acc[size_t(i)] += p[i];
    if (++arrived_ == 2) {
      arrived_ = 0, ++gen_;
      cv_.notify_all();
    } else {
      cv_.wait(l, [&] { return gen_ != g; });
    }
    std::copy(acc.begin(), acc.end(), p);
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::map<int64_t, std::vector<double>> results_;
  int arrived_ = 0;
  int64_t gen_ = 0;
};

std::vector<double> host(const Tensor& a, const Tensor& b = Tensor()) {
  std::vector<double> v = a.to_vector<double>();
  if (b.defined()) {
    const std::vector<double> w = b.to_vector<double>();
    v.insert(v.end(), w.begin(), w.end());
  }
  return v;
}

double max_diff(const std::vector<double>& a, const std::vector<double>& b) {
  EXPECT_EQ(a.size(), b.size());
  double m = 0;
  for (size_t i = 0; i < std::min(a.size(), b.size()); ++i) m = std::max(m, std::fabs(a[i] - b[i]));
  return m;
}

std::vector<double> plus(const Tensor& a, const Tensor& b) {
  std::vector<double> v = a.to_vector<double>(), w = b.to_vector<double>();
  for (size_t i = 0; i < v.size(); ++i) v[i] += w[i];
  return v;
}

}  // namespace

TEST(GradCheck, sync_batch_norm_act) {
  Context ctx = cq::testing::make_ctx(1, 13);
  const auto identity = [](double*, int64_t) {};
  for (NormAct act : {NormAct::identity, NormAct::relu, NormAct::silu})
    for (Shape shape : {Shape{3, 2, 2, 3}, Shape{2, 3, 19}}) {
      Tensor x = ctx.randn(shape, DType::f64).set_requires_grad();
      Tensor w = ctx.randn({shape[1]}, DType::f64).set_requires_grad();
      Tensor b = ctx.randn({shape[1]}, DType::f64).set_requires_grad();
      EXPECT_TRUE(gradcheck(ctx,
                            [&](const std::vector<Tensor>& in) {
                              return nn::sync_batch_norm_act(in[0], in[1], in[2], {}, {}, 0.1, 1e-5, act, identity);
                            },
                            {x, w, b}))
          << shape_str(shape);
    }
}

TEST(SyncBatchNorm, TwoSimulatedRanksEqualTheWholeBatch) {
  for (DType dt : {DType::f64, DType::f32}) {
    Context ctx = cq::testing::make_ctx(1, 5);
    const Tensor x = ctx.randn({5, 3, 4, 3}, dt), w = ctx.randn({3}, dt), b = ctx.randn({3}, dt);
    const Tensor g = ctx.randn({5, 3, 4, 3}, dt);
    // The whole batch in one process.
    Tensor xf = x.clone().set_requires_grad(), wf = w.clone().set_requires_grad(), bf = b.clone().set_requires_grad();
    Tensor rmf = ctx.zeros({3}, dt), rvf = ctx.ones({3}, dt);
    Tensor yf = batch_norm_act(xf, wf, bf, rmf, rvf, true, 0.1, 1e-5, NormAct::silu);
    const std::vector<Tensor> gf = cq::grad(yf, {xf, wf, bf}, g);
    // Rank r holds samples [0,2) or [2,5) (uneven) and its own copies of the parameters.
    TwoParty group;
    Tensor y[2], dx[2], dw[2], db[2], rm[2], rv[2];
    auto rank = [&](int r) {
      Context c = cq::testing::make_ctx(1, 5);
      const int64_t lo = r == 0 ? 0 : 2, hi = r == 0 ? 2 : 5;
      Tensor xr = Tensor::empty(c.runtime_ptr(), {hi - lo, 3, 4, 3}, dt, Device::cpu());
      xr.copy_(x.slice(0, lo, hi));
      xr.set_requires_grad();
      Tensor wr = Tensor::empty(c.runtime_ptr(), {3}, dt, Device::cpu()), br = wr.new_empty({3});
      wr.copy_(w).set_requires_grad();
      br.copy_(b).set_requires_grad();
      rm[r] = c.zeros({3}, dt), rv[r] = c.ones({3}, dt);
      Tensor gr = xr.new_empty(xr.shape());
      gr.copy_(g.slice(0, lo, hi));
      y[r] = nn::sync_batch_norm_act(xr, wr, br, rm[r], rv[r], 0.1, 1e-5, NormAct::silu,
                                     [&](double* p, int64_t n) { group.sum(p, n); });
      const std::vector<Tensor> gr3 = cq::grad(y[r], {xr, wr, br}, gr);
      dx[r] = gr3[0], dw[r] = gr3[1], db[r] = gr3[2];
    };
    std::thread t1(rank, 1);
    rank(0);
    t1.join();
    const double tol = dt == DType::f64 ? 1e-10 : 2e-5;
    EXPECT_LT(max_diff(host(y[0], y[1]), host(yf)), tol);
    EXPECT_LT(max_diff(host(dx[0], dx[1]), host(gf[0])), tol);
    EXPECT_LT(max_diff(plus(dw[0], dw[1]), host(gf[1])), 10 * tol);
    EXPECT_LT(max_diff(plus(db[0], db[1]), host(gf[2])), 10 * tol);
    for (int r = 0; r < 2; ++r) {
      EXPECT_LT(max_diff(host(rm[r]), host(rmf)), tol);
      EXPECT_LT(max_diff(host(rv[r]), host(rvf)), tol);
    }
  }
}

TEST(SyncBatchNorm, SameBitsForOneAndTwoThreads) {
  std::vector<double> out[2];
  for (int t = 0; t < 2; ++t) {
    Context ctx = cq::testing::make_ctx(1 + t, 21);
    Tensor x = ctx.randn({3, 5, 7, 6}).set_requires_grad();
    Tensor w = ctx.randn({5}).set_requires_grad(), b = ctx.randn({5}).set_requires_grad();
    Tensor rm = ctx.zeros({5}), rv = ctx.ones({5});
    Tensor y = nn::sync_batch_norm_act(x, w, b, rm, rv, 0.1, 1e-5, NormAct::relu, [](double*, int64_t) {});
    const std::vector<Tensor> g = cq::grad(y, {x, w, b}, ctx.randn({3, 5, 7, 6}));
    for (const Tensor& v : {y, g[0], g[1], g[2], rm, rv}) {
      const std::vector<double> h = v.to_vector<double>();
      out[t].insert(out[t].end(), h.begin(), h.end());
    }
  }
  EXPECT_EQ(out[0], out[1]);
}
