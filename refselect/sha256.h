// SHA-256 (FIPS 180-4), our own small implementation: the reference bank records each image's digest so a bank can
// be checked against the folder it was built from.
#pragma once
#include <array>
#include <cstddef>
#include <cstdint>
#include <string>

namespace cq::dcin {

class Sha256 {
 public:
  Sha256() { reset(); }
  void reset();
  void update(const void* data, size_t n);
  std::array<uint8_t, 32> digest();  // finishes; call reset() before reuse
 private:
  void block(const uint8_t* p);
  uint32_t h_[8];
  uint8_t buf_[64];
  size_t fill_ = 0;
  uint64_t bytes_ = 0;
};

std::string to_hex(const std::array<uint8_t, 32>& d);
std::string sha256_hex(const void* data, size_t n);
inline std::string sha256_hex(const std::string& s) { return sha256_hex(s.data(), s.size()); }
// Streams the file; errors name it.
std::string sha256_file(const std::string& path);

}  // namespace cq::dcin
