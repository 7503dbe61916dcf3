// SHA-256 (FIPS 180-4), our own, for the run manifest: every data file and the initial weights are fingerprinted so a
// result can be traced to the exact bytes it was trained on.
#pragma once
#include <array>
#include <cstddef>
#include <cstdint>
#include <string>

namespace cq::data {

class Sha256 {
 public:
  Sha256() { reset(); }
  void reset();
  void update(const void* data, size_t n);
  // The 32-byte digest; the object must be reset() before reuse.
  std::array<uint8_t, 32> finish();
  // finish() as 64 lower-case hex digits.
  std::string hex();

 private:
  void block(const uint8_t* p);
  std::array<uint32_t, 8> h_{};
  uint8_t buf_[64] = {};
  size_t buf_len_ = 0;
  uint64_t total_ = 0;  // bytes hashed so far
};

std::string sha256_hex(const void* data, size_t n);
inline std::string sha256_hex(const std::string& s) { return sha256_hex(s.data(), s.size()); }
// Streams the file in chunks; cq::Error naming the file when it cannot be opened or read.
std::string sha256_file(const std::string& path);

}  // namespace cq::data
