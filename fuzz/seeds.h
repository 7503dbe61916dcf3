// Seed inputs of the fuzz targets, and the byte encoding of a dataset folder tree used by the "dataset" target.
#pragma once
#include <set>
#include <string>
#include <vector>

#include "fuzz/targets.h"

namespace cq::fuzz {

// A dataset folder as the fuzzer describes it. Encoding: byte 0 = flags (bit 0-2: images/, masks/, fov/ exist;
// bits 3-4: classes 2 + value % 3; bit 5: skip_bad; bit 6: masks not required), then up to 16 records
// [folder % 4 (images, masks, fov, the root)] [name length 1..16] [name bytes, mapped onto [a-z0-9._-]]
// [content length u16 little-endian] [content], each cut short where the input ends.
struct TreeFile {
  std::string folder, name;
  Bytes content;
};
struct TreeSpec {
  std::set<std::string> folders;
  int classes = 2;
  bool skip_bad = false, require_masks = true;
  std::vector<TreeFile> files;
};
TreeSpec decode_tree(const uint8_t* d, size_t n);
Bytes encode_tree(const TreeSpec& t);

std::vector<Bytes> seeds_safetensors(Env& env);
std::vector<Bytes> seeds_image(Env& env);
std::vector<Bytes> seeds_dataset(Env& env);
std::vector<Bytes> seeds_bank(Env& env);
std::vector<Bytes> seeds_config(Env& env);
std::vector<Bytes> seeds_cli(Env& env);

}  // namespace cq::fuzz
