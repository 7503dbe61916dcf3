// Adam: parameter bookkeeping, state (de)serialisation and device dispatch; the arithmetic is in nn/adam_math.h.
#include "nn/adam.h"

#include <cmath>
#include <set>
#include <sstream>

#include "nn/adam_kernels.h"
#include "tensor/backend.h"

namespace cq::nn {

namespace {
const char* const kHparams[] = {"hparam/lr", "hparam/beta1", "hparam/beta2", "hparam/eps", "hparam/weight_decay",
                                "hparam/amsgrad"};

// A fresh contiguous copy of src with like's shape, dtype and device (state must never alias the caller's tensors,
// e.g. a safetensors load or another optimizer's state).
Tensor copy_like(const Tensor& like, const Tensor& src, const std::string& name) {
  CQ_CHECK(src.shape() == like.shape(), "Adam::load_state_dict: '", name, "' has shape ", shape_str(src.shape()),
           " but the parameter is ", like.describe());
  Tensor out = like.new_empty(like.shape());
  NoGradGuard ng(out.runtime());
  out.copy_(src.detach().to(like.device()));
  return out;
}

double scalar_of(const Tensor& t, const std::string& name) {
  CQ_CHECK(t.numel() == 1, "Adam::load_state_dict: '", name, "' must be a scalar, got ", t.describe());
  return t.item();
}
}  // namespace

Adam::Adam(const NamedTensors& params, AdamOptions opt) : params_(params), state_(params.size()), opt_(opt) {
  CQ_CHECK(opt.lr >= 0 && opt.eps >= 0 && opt.weight_decay >= 0, "Adam: invalid lr ", opt.lr, ", eps ", opt.eps,
           " or weight_decay ", opt.weight_decay, " (must be >= 0)");
  CQ_CHECK(opt.beta1 >= 0 && opt.beta1 < 1 && opt.beta2 >= 0 && opt.beta2 < 1, "Adam: betas (", opt.beta1, ", ",
           opt.beta2, ") must lie in [0, 1)");
  std::set<std::string> seen;
  for (const auto& kv : params_) {
    CQ_CHECK(kv.second.defined(), "Adam: parameter '", kv.first, "' is undefined");
    CQ_CHECK(seen.insert(kv.first).second, "Adam: parameter name '", kv.first, "' appears twice");
    CQ_CHECK(is_floating(kv.second.dtype()) && kv.second.is_contiguous(), "Adam: parameter '", kv.first,
             "' must be a contiguous f32/f64 tensor, got ", kv.second.describe());
  }
}

size_t Adam::index_of(const std::string& name) const {
  for (size_t i = 0; i < params_.size(); ++i)
    if (params_[i].first == name) return i;
  fail("Adam: no parameter named '", name, "'");
}

int64_t Adam::step_count(const std::string& name) const { return state_[index_of(name)].step; }

void Adam::step() {
  // Parameters are collected and updated after the loop: on the CPU one multi-tensor loop per dtype, on CUDA one
  // fused launch per (device, dtype); the gradient copies stay alive in `keep` until then.
  std::vector<Tensor> keep;
  std::vector<std::pair<Tensor, kernels::AdamTensorRef>> gpu, cpu;
  for (size_t i = 0; i < params_.size(); ++i) {
    const std::string& name = params_[i].first;
    const Tensor& p = params_[i].second;
    Tensor g = p.grad();
    if (!g.defined()) continue;  // PyTorch: `if p.grad is not None`
    CQ_CHECK(g.shape() == p.shape() && g.dtype() == p.dtype() && g.device() == p.device(), "Adam: gradient ",
             g.describe(), " of parameter '", name, "' does not match the parameter ", p.describe());
    g = g.contiguous();
    State& s = state_[i];
    if (!s.exp_avg.defined()) {
      s.exp_avg = p.new_zeros(p.shape());
      s.exp_avg_sq = p.new_zeros(p.shape());
    }
    if (opt_.amsgrad && !s.max_exp_avg_sq.defined()) s.max_exp_avg_sq = p.new_zeros(p.shape());
    s.step += 1;
    adammath::StepScalars sc =
        adammath::step_scalars(opt_.lr, opt_.beta1, opt_.beta2, opt_.eps, opt_.weight_decay, opt_.amsgrad, s.step);
    if (p.numel() == 0) continue;
    CQ_CHECK(p.dtype() == DType::f32 || p.dtype() == DType::f64, "Adam: parameter '", name, "' is ",
             p.describe(), "; only f32 and f64 parameters are supported");
    keep.push_back(g);
    kernels::AdamTensorRef ref{p.data_ptr(), g.data_ptr(), s.exp_avg.data_ptr(), s.exp_avg_sq.data_ptr(),
                               sc.amsgrad ? s.max_exp_avg_sq.data_ptr() : nullptr, p.numel(), sc};
    (p.device().is_cuda() ? gpu : cpu).push_back({p, ref});
  }
  // CPU parameters: one multi-tensor update per dtype.
  for (DType dt : {DType::f32, DType::f64}) {
    std::vector<kernels::AdamTensorRef> group;
    int threads = 1;
    for (const auto& [p, ref] : cpu)
      if (p.dtype() == dt) {
        group.push_back(ref);
        threads = p.runtime().threads();
      }
    if (!group.empty()) kernels::adam_update_multi_cpu(dt, group, threads);
  }
  // Group by device and dtype, keeping parameter order within a group (the update is per element, so grouping never
  // changes a value).
  std::vector<bool> done(gpu.size(), false);
  for (size_t i = 0; i < gpu.size(); ++i) {
    if (done[i]) continue;
    const Tensor& like = gpu[i].first;
    std::vector<kernels::AdamTensorRef> group;
    for (size_t j = i; j < gpu.size(); ++j)
      if (!done[j] && gpu[j].first.device() == like.device() && gpu[j].first.dtype() == like.dtype()) {
        group.push_back(gpu[j].second);
        done[j] = true;
      }
    CQ_CUDA_CALL("adam", kernels::adam_update_multi_cuda(like, like.dtype(), group));
  }
}

void Adam::zero_grad() {
  for (auto& kv : params_) kv.second.zero_grad();
}

NamedTensors Adam::state_dict() const {
  NamedTensors out;
  if (params_.empty()) return out;
  const Tensor& any = params_[0].second;
  auto f64 = [&](double v) { return any.new_full({}, v, DType::f64).to(Device::cpu()); };
  const double hv[] = {opt_.lr, opt_.beta1, opt_.beta2, opt_.eps, opt_.weight_decay, opt_.amsgrad ? 1.0 : 0.0};
  for (int k = 0; k < 6; ++k) out.emplace_back(kHparams[k], f64(hv[k]));
  for (size_t i = 0; i < params_.size(); ++i) {
    const State& s = state_[i];
    if (s.step == 0) continue;
    const std::string& n = params_[i].first;
    out.emplace_back("step/" + n, any.new_full({}, 0.0, DType::i64).to(Device::cpu()));
    out.back().second.data<int64_t>()[0] = s.step;  // exact for any count (no double round trip)
    // Clones: a later step() must not change a state dict already handed out (e.g. queued for saving).
    out.emplace_back("exp_avg/" + n, s.exp_avg.clone());
    out.emplace_back("exp_avg_sq/" + n, s.exp_avg_sq.clone());
    if (s.max_exp_avg_sq.defined()) out.emplace_back("max_exp_avg_sq/" + n, s.max_exp_avg_sq.clone());
  }
  return out;
}

void Adam::load_state_dict(const std::map<std::string, Tensor>& sd) {
  std::set<std::string> used;
  auto find = [&](const std::string& key) -> const Tensor* {
    auto it = sd.find(key);
    if (it == sd.end()) return nullptr;
    used.insert(key);
    return &it->second;
  };
  AdamOptions o = opt_;
  double* targets[] = {&o.lr, &o.beta1, &o.beta2, &o.eps, &o.weight_decay, nullptr};
  for (int k = 0; k < 6; ++k) {
    const Tensor* t = find(kHparams[k]);
    if (!t) continue;
    double v = scalar_of(*t, kHparams[k]);
    if (targets[k]) *targets[k] = v;
    else o.amsgrad = v != 0.0;
  }
  std::vector<State> fresh(params_.size());
  for (size_t i = 0; i < params_.size(); ++i) {
    const std::string& n = params_[i].first;
    const Tensor& p = params_[i].second;
    const Tensor* st = find("step/" + n);
    const Tensor* m = find("exp_avg/" + n);
    const Tensor* v = find("exp_avg_sq/" + n);
    const Tensor* x = find("max_exp_avg_sq/" + n);
    if (!st) {
      CQ_CHECK(!m && !v && !x, "Adam::load_state_dict: state for '", n, "' without its 'step/", n, "'");
      continue;
    }
    double t = scalar_of(*st, "step/" + n);
    CQ_CHECK(t >= 1 && t == std::floor(t), "Adam::load_state_dict: 'step/", n, "' = ", t,
             " is not a positive integer");
    CQ_CHECK(m && v, "Adam::load_state_dict: 'step/", n, "' present but exp_avg/exp_avg_sq missing");
    CQ_CHECK(!o.amsgrad || x, "Adam::load_state_dict: amsgrad state 'max_exp_avg_sq/", n, "' missing");
    State& s = fresh[i];
    s.step = st->dtype() == DType::i64 ? st->to(Device::cpu()).to_vector<int64_t>()[0] : static_cast<int64_t>(t);
    s.exp_avg = copy_like(p, *m, "exp_avg/" + n);
    s.exp_avg_sq = copy_like(p, *v, "exp_avg_sq/" + n);
    if (x) s.max_exp_avg_sq = copy_like(p, *x, "max_exp_avg_sq/" + n);
  }
  std::ostringstream unknown;
  int bad = 0;
  for (const auto& kv : sd)
    if (!used.count(kv.first) && bad++ < 10) unknown << "\n  " << kv.first;
  CQ_CHECK(bad == 0, "Adam::load_state_dict: ", bad, " unknown key(s) (not a parameter of this optimizer):",
           unknown.str());
  opt_ = o;
  state_ = std::move(fresh);
}

}  // namespace cq::nn
