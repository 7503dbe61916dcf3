#include "nn/safetensors.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>

#include "nn/json.h"

namespace cq {

namespace {
struct DTypeName {
  const char* name;
  StDType t;
  size_t size;
};
constexpr DTypeName kDTypes[] = {{"F64", StDType::F64, 8}, {"F32", StDType::F32, 4},  {"F16", StDType::F16, 2},
                                 {"BF16", StDType::BF16, 2}, {"I64", StDType::I64, 8}, {"I32", StDType::I32, 4},
                                 {"I16", StDType::I16, 2}, {"I8", StDType::I8, 1},     {"U8", StDType::U8, 1},
                                 {"BOOL", StDType::BOOL, 1}};

constexpr uint64_t kMaxHeader = 100u << 20;  // the reference implementation's limit

float half_to_float(uint16_t h) {
  uint32_t sign = (h & 0x8000u) << 16, exp = (h >> 10) & 0x1F, man = h & 0x3FF, bits;
  if (exp == 0) {
    if (man == 0) {
      bits = sign;
    } else {  // subnormal: renormalise
      exp = 127 - 15 + 1;
      while (!(man & 0x400)) {
        man <<= 1;
        exp--;
      }
      bits = sign | (exp << 23) | ((man & 0x3FF) << 13);
    }
  } else if (exp == 31) {
    bits = sign | 0x7F800000u | (man << 13);
  } else {
    bits = sign | ((exp + 127 - 15) << 23) | (man << 13);
  }
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

float bf16_to_float(uint16_t h) {
  uint32_t bits = static_cast<uint32_t>(h) << 16;
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}
}  // namespace

const char* st_dtype_name(StDType t) {
  for (const auto& d : kDTypes)
    if (d.t == t) return d.name;
  return "?";
}
size_t st_dtype_size(StDType t) {
  for (const auto& d : kDTypes)
    if (d.t == t) return d.size;
  return 0;
}

struct SafetensorsFile::Mapping {
  void* addr = nullptr;
  size_t size = 0;
  ~Mapping() {
    if (addr && size) munmap(addr, size);
  }
};

SafetensorsFile SafetensorsFile::open(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  CQ_CHECK(fd >= 0, "safetensors: cannot open ", path, ": ", std::strerror(errno));
  struct stat st;
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    fail("safetensors: ", path, " is not a regular file");
  }
  auto m = std::make_shared<Mapping>();
  m->size = static_cast<size_t>(st.st_size);
  if (m->size > 0) {
    m->addr = mmap(nullptr, m->size, PROT_READ, MAP_PRIVATE, fd, 0);
    if (m->addr == MAP_FAILED) {
      m->addr = nullptr;
      ::close(fd);
      fail("safetensors: cannot map ", path, ": ", std::strerror(errno));
    }
  }
  ::close(fd);
  SafetensorsFile f = from_buffer(static_cast<const uint8_t*>(m->addr), m->size, path);
  f.map_ = m;
  return f;
}

SafetensorsFile SafetensorsFile::from_buffer(const uint8_t* data, size_t size, const std::string& label) {
  SafetensorsFile f;
  f.path_ = label;
  CQ_CHECK(size >= 8, "safetensors: ", label, ": file is ", size, " bytes, too short for the 8-byte header length");
  uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = (n << 8) | data[i];
  CQ_CHECK(n <= kMaxHeader, "safetensors: ", label, ": header length ", n, " exceeds the 100 MiB limit");
  CQ_CHECK(n <= size - 8, "safetensors: ", label, ": header length ", n, " runs past the end of the file (",
           size, " bytes): truncated or not a safetensors file");
  std::string header(reinterpret_cast<const char*>(data + 8), static_cast<size_t>(n));
  json::Value root;
  try {
    root = json::parse(header);
  } catch (const Error& e) {
    fail("safetensors: ", label, ": header is not valid JSON (", e.what(), ")");
  }
  CQ_CHECK(root.is_object(), "safetensors: ", label, ": header is not a JSON object");
  const uint8_t* body = data + 8 + n;
  size_t body_size = size - 8 - static_cast<size_t>(n);
  std::vector<std::pair<uint64_t, uint64_t>> ranges;
  for (const auto& kv : root.as_object()) {
    const std::string& name = kv.first;
    const json::Value& v = kv.second;
    if (name == "__metadata__") {
      CQ_CHECK(v.is_object(), "safetensors: ", label, ": __metadata__ is not an object");
      for (const auto& m : v.as_object()) {
        CQ_CHECK(m.second.is_string(), "safetensors: ", label, ": __metadata__[\"", m.first, "\"] is not a string");
        f.metadata_[m.first] = m.second.as_string();
      }
      continue;
    }
    auto bad = [&](const std::string& what) { fail("safetensors: ", label, ": tensor '", name, "': ", what); };
    if (!v.is_object()) bad("entry is not an object");
    const json::Value* dt = v.find("dtype");
    const json::Value* shp = v.find("shape");
    const json::Value* off = v.find("data_offsets");
    if (!dt || !dt->is_string()) bad("missing or non-string dtype");
    if (!shp || !shp->is_array()) bad("missing or non-array shape");
    if (!off || !off->is_array() || off->as_array().size() != 2) bad("data_offsets must be [begin, end]");
    SafetensorsEntry e;
    e.name = name;
    bool known = false;
    for (const auto& d : kDTypes)
      if (dt->as_string() == d.name) {
        e.dtype = d.t;
        known = true;
      }
    if (!known) bad("unknown dtype '" + dt->as_string() + "'");
    if (shp->as_array().size() > 8) bad("rank above 8");
    uint64_t numel = 1;
    bool overflow = false;
    for (const auto& d : shp->as_array()) {
      uint64_t s;
      try {
        s = d.as_uint();
      } catch (const Error&) {
        bad("shape entries must be non-negative integers");
      }
      e.shape.push_back(static_cast<int64_t>(s));
      if (s != 0 && numel > (uint64_t(1) << 62) / s) overflow = true;
      numel *= s;
    }
    if (overflow) bad("shape too large");
    uint64_t b, en;
    try {
      b = off->as_array()[0].as_uint();
      en = off->as_array()[1].as_uint();
    } catch (const Error&) {
      bad("data_offsets must be non-negative integers");
    }
    if (b > en) bad("data_offsets begin > end");
    if (en > body_size)
      bad("data_offsets [" + std::to_string(b) + ", " + std::to_string(en) + ") beyond the data section (" +
          std::to_string(body_size) + " bytes): truncated file?");
    if (en - b != numel * st_dtype_size(e.dtype))
      bad("size " + std::to_string(en - b) + " bytes does not match shape " + shape_str(e.shape) + " of " +
          st_dtype_name(e.dtype) + " (" + std::to_string(numel * st_dtype_size(e.dtype)) + " bytes)");
    e.data = body + b;
    e.nbytes = static_cast<size_t>(en - b);
    if (e.nbytes > 0) ranges.emplace_back(b, en);
    f.entries_.push_back(std::move(e));
  }
  std::sort(ranges.begin(), ranges.end());
  for (size_t i = 1; i < ranges.size(); ++i)
    CQ_CHECK(ranges[i].first >= ranges[i - 1].second, "safetensors: ", label, ": tensors overlap at data offset ",
             ranges[i].first);
  std::sort(f.entries_.begin(), f.entries_.end(),
            [](const SafetensorsEntry& a, const SafetensorsEntry& b) { return a.name < b.name; });
  for (size_t i = 0; i < f.entries_.size(); ++i) f.index_[f.entries_[i].name] = i;
  return f;
}

const SafetensorsEntry& SafetensorsFile::entry(const std::string& name) const {
  auto it = index_.find(name);
  CQ_CHECK(it != index_.end(), "safetensors: ", path_, ": no tensor named '", name, "'");
  return entries_[it->second];
}

Tensor SafetensorsFile::load(Context& ctx, const std::string& name) const { return load(ctx, entry(name)); }

Tensor SafetensorsFile::load(Context& ctx, const SafetensorsEntry& e) const {
  DType dt;
  switch (e.dtype) {
    case StDType::F64: dt = DType::f64; break;
    case StDType::I64: dt = DType::i64; break;
    case StDType::I32: case StDType::I16: dt = DType::i32; break;
    case StDType::U8: case StDType::BOOL: case StDType::I8: dt = e.dtype == StDType::I8 ? DType::i32 : DType::u8; break;
    default: dt = DType::f32;
  }
  Tensor host = Tensor::empty(ctx.runtime_ptr(), e.shape, dt, Device::cpu());
  size_t n = static_cast<size_t>(host.numel());
  uint8_t* out = static_cast<uint8_t*>(host.data_ptr());
  switch (e.dtype) {
    case StDType::F64: case StDType::F32: case StDType::I64: case StDType::I32: case StDType::U8:
      if (e.nbytes) std::memcpy(out, e.data, e.nbytes);
      break;
    case StDType::BOOL:
      for (size_t i = 0; i < n; ++i) out[i] = e.data[i] != 0;
      break;
    case StDType::F16: case StDType::BF16: {
      float* o = reinterpret_cast<float*>(out);
      for (size_t i = 0; i < n; ++i) {
        uint16_t h = static_cast<uint16_t>(e.data[2 * i] | (e.data[2 * i + 1] << 8));
        o[i] = e.dtype == StDType::F16 ? half_to_float(h) : bf16_to_float(h);
      }
      break;
    }
    case StDType::I16: {
      int32_t* o = reinterpret_cast<int32_t*>(out);
      for (size_t i = 0; i < n; ++i) o[i] = static_cast<int16_t>(e.data[2 * i] | (e.data[2 * i + 1] << 8));
      break;
    }
    case StDType::I8: {
      int32_t* o = reinterpret_cast<int32_t*>(out);
      for (size_t i = 0; i < n; ++i) o[i] = static_cast<int8_t>(e.data[i]);
      break;
    }
  }
  return host.to(ctx.device());
}

std::vector<uint8_t> serialize_safetensors(const std::vector<std::pair<std::string, Tensor>>& tensors,
                                           const std::map<std::string, std::string>& metadata) {
  std::vector<std::pair<std::string, Tensor>> sorted = tensors;
  std::sort(sorted.begin(), sorted.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
  json::Value header = json::Value::object();
  if (!metadata.empty()) {
    json::Value m = json::Value::object();
    for (const auto& kv : metadata) m.set(kv.first, json::Value::string(kv.second));
    header.set("__metadata__", m);
  }
  uint64_t offset = 0;
  std::vector<Tensor> host;
  for (size_t i = 0; i < sorted.size(); ++i) {
    const auto& [name, t] = sorted[i];
    CQ_CHECK(name != "__metadata__" && !name.empty(), "safetensors: invalid tensor name '", name, "'");
    CQ_CHECK(i == 0 || sorted[i - 1].first != name, "safetensors: duplicate tensor name '", name, "'");
    const char* dt = nullptr;
    switch (t.dtype()) {
      case DType::f32: dt = "F32"; break;
      case DType::f64: dt = "F64"; break;
      case DType::i64: dt = "I64"; break;
      case DType::i32: dt = "I32"; break;
      case DType::u8: dt = "U8"; break;
      default: fail("safetensors: cannot write tensor '", name, "' of dtype ", dtype_name(t.dtype()));
    }
    Tensor h = t.detach().to(Device::cpu()).contiguous();
    host.push_back(h);
    json::Value e = json::Value::object();
    e.set("dtype", json::Value::string(dt));
    json::Value shp = json::Value::array();
    for (int64_t d : t.shape()) shp.push(json::Value::number(static_cast<double>(d)));
    e.set("shape", shp);
    uint64_t nb = static_cast<uint64_t>(h.numel()) * h.element_size();
    e.set("data_offsets", json::Value::array({json::Value::number(static_cast<double>(offset)),
                                              json::Value::number(static_cast<double>(offset + nb))}));
    offset += nb;
    header.set(name, e);
  }
  std::string hs = json::dump(header);
  while (hs.size() % 8) hs += ' ';
  std::vector<uint8_t> out(8 + hs.size() + offset);
  uint64_t n = hs.size();
  for (int i = 0; i < 8; ++i) out[i] = static_cast<uint8_t>(n >> (8 * i));
  std::memcpy(out.data() + 8, hs.data(), hs.size());
  size_t pos = 8 + hs.size();
  for (const auto& h : host) {
    size_t nb = static_cast<size_t>(h.numel()) * h.element_size();
    if (nb) std::memcpy(out.data() + pos, h.data_ptr(), nb);
    pos += nb;
  }
  return out;
}

void save_safetensors(const std::string& path, const std::vector<std::pair<std::string, Tensor>>& tensors,
                      const std::map<std::string, std::string>& metadata) {
  std::vector<uint8_t> bytes = serialize_safetensors(tensors, metadata);
  std::string tmp = path + ".tmp";
  FILE* fp = std::fopen(tmp.c_str(), "wb");
  CQ_CHECK(fp, "safetensors: cannot write ", tmp, ": ", std::strerror(errno));
  size_t w = std::fwrite(bytes.data(), 1, bytes.size(), fp);
  bool ok = w == bytes.size() && std::fflush(fp) == 0 && fsync(fileno(fp)) == 0;
  ok = (std::fclose(fp) == 0) && ok;
  if (!ok) {
    std::remove(tmp.c_str());
    fail("safetensors: writing ", tmp, " failed (disk full?)");
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    std::remove(tmp.c_str());
    fail("safetensors: cannot rename ", tmp, " to ", path, ": ", std::strerror(errno));
  }
}

}  // namespace cq
