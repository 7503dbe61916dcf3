// Where a tensor's bytes live.
#pragma once
#include <string>

namespace cq {

enum class DeviceType : uint8_t { CPU, CUDA };

struct Device {
  DeviceType type = DeviceType::CPU;
  int index = 0;
  bool is_cpu() const { return type == DeviceType::CPU; }
  bool is_cuda() const { return type == DeviceType::CUDA; }
  bool operator==(const Device& o) const { return type == o.type && index == o.index; }
  bool operator!=(const Device& o) const { return !(*this == o); }
  std::string str() const { return is_cpu() ? "cpu" : "cuda:" + std::to_string(index); }
  static Device cpu() { return {}; }
  static Device cuda(int i = 0) { return {DeviceType::CUDA, i}; }
  // "cpu", "cuda" (= cuda:0) or "cuda:N"; anything else throws cq::Error naming the text. Does not check that the
  // device exists (Context does, with the driver's reason).
  static Device parse(const std::string& text);
};

}  // namespace cq
