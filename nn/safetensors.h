// safetensors, our own reader and writer (the format timm, smp and HF publish weights in):
//   8-byte little-endian u64 N | N bytes of UTF-8 JSON header | raw little-endian C-order tensor data.
// The header maps names to {"dtype", "shape", "data_offsets": [begin, end)} (offsets relative to the data section)
// plus an optional "__metadata__" string->string map. Files are memory-mapped; every malformation (truncation,
// header length beyond the file, offsets out of range or overlapping, bad JSON, unknown dtype, size not matching
// shape) raises cq::Error naming the file and the problem.
#pragma once
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "tensor/context.h"

namespace cq {

enum class StDType { F64, F32, F16, BF16, I64, I32, I16, I8, U8, BOOL };
const char* st_dtype_name(StDType t);
size_t st_dtype_size(StDType t);

struct SafetensorsEntry {
  std::string name;
  StDType dtype;
  Shape shape;
  const uint8_t* data;  // into the mapped file
  size_t nbytes;
};

class SafetensorsFile {
 public:
  // Maps and validates the file at path.
  static SafetensorsFile open(const std::string& path);
  // Validates an in-memory image (used by tests and the fuzzer; the buffer must outlive the object).
  static SafetensorsFile from_buffer(const uint8_t* data, size_t size, const std::string& label);

  const std::string& path() const { return path_; }
  const std::map<std::string, std::string>& metadata() const { return metadata_; }
  const std::vector<SafetensorsEntry>& entries() const { return entries_; }  // sorted by name
  bool contains(const std::string& name) const { return index_.count(name) > 0; }
  const SafetensorsEntry& entry(const std::string& name) const;
  // The tensor as an engine Tensor on ctx's device: F32/F64/I64/I32/U8 kept, F16/BF16 widened to f32, BOOL/I8/I16
  // to u8/i32 (values preserved).
  Tensor load(Context& ctx, const std::string& name) const;
  Tensor load(Context& ctx, const SafetensorsEntry& e) const;

 private:
  struct Mapping;
  std::shared_ptr<Mapping> map_;
  std::string path_;
  std::map<std::string, std::string> metadata_;
  std::vector<SafetensorsEntry> entries_;
  std::map<std::string, size_t> index_;
};

// Writes tensors (any supported dtype, any device) sorted by name, header padded with spaces to a multiple of 8.
// Atomic: written to path + ".tmp" and renamed, so a crash never leaves a half-written file under path.
void save_safetensors(const std::string& path, const std::vector<std::pair<std::string, Tensor>>& tensors,
                      const std::map<std::string, std::string>& metadata = {});
// The same bytes in memory (for tests and hashing).
std::vector<uint8_t> serialize_safetensors(const std::vector<std::pair<std::string, Tensor>>& tensors,
                                           const std::map<std::string, std::string>& metadata = {});

}  // namespace cq
