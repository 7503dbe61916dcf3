#include "pipeline/numerics.h"

#include <cmath>
#include <sstream>

namespace cq::pipeline {
namespace {

template <class T>
NonFinite scan(const T* p, int64_t n) {
  NonFinite r;
  for (int64_t i = 0; i < n; ++i)
    if (!std::isfinite(p[i])) {
      if (r.count++ == 0) r.first_index = i, r.first_value = double(p[i]);
    }
  return r;
}

}  // namespace

NonFinite find_nonfinite(const Tensor& t) {
  if (!t.defined() || (t.dtype() != DType::f32 && t.dtype() != DType::f64)) return {};
  const Tensor h = t.to(Device::cpu()).contiguous();
  return h.dtype() == DType::f32 ? scan(h.data<float>(), h.numel()) : scan(h.data<double>(), h.numel());
}

std::string describe_nonfinite(const std::vector<std::pair<std::string, Tensor>>& tensors, const std::string& what) {
  for (const auto& kv : tensors) {
    const NonFinite r = find_nonfinite(kv.second);
    if (r.count == 0) continue;
    std::ostringstream os;
    os << what << " '" << kv.first << "' " << shape_str(kv.second.shape()) << ": " << r.count << " of "
       << kv.second.numel() << " values are non-finite (first: "
       << (std::isnan(r.first_value) ? "NaN" : r.first_value > 0 ? "+inf" : "-inf") << " at flat index "
       << r.first_index << ")";
    return os.str();
  }
  return "";
}

}  // namespace cq::pipeline
