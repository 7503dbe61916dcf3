// Element types and the dispatch macros that turn a runtime DType into a C++ type.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>

#include "tensor/error.h"

namespace cq {

// bf16/f16 are reserved (storage size known) so the enum and file formats have room for them; no kernel computes
// in them yet, and every dispatch macro rejects them with a clear error.
enum class DType : uint8_t { f32, f64, u8, i32, i64, bf16, f16 };

inline size_t dtype_size(DType t) {
  switch (t) {
    case DType::f32: return 4;
    case DType::f64: return 8;
    case DType::u8: return 1;
    case DType::i32: return 4;
    case DType::i64: return 8;
    case DType::bf16: return 2;
    case DType::f16: return 2;
  }
  return 0;
}

inline const char* dtype_name(DType t) {
  switch (t) {
    case DType::f32: return "f32";
    case DType::f64: return "f64";
    case DType::u8: return "u8";
    case DType::i32: return "i32";
    case DType::i64: return "i64";
    case DType::bf16: return "bf16";
    case DType::f16: return "f16";
  }
  return "?";
}

inline bool is_floating(DType t) { return t == DType::f32 || t == DType::f64; }

template <class T> struct dtype_of;
template <> struct dtype_of<float> { static constexpr DType value = DType::f32; };
template <> struct dtype_of<double> { static constexpr DType value = DType::f64; };
template <> struct dtype_of<uint8_t> { static constexpr DType value = DType::u8; };
template <> struct dtype_of<int32_t> { static constexpr DType value = DType::i32; };
template <> struct dtype_of<int64_t> { static constexpr DType value = DType::i64; };

}  // namespace cq

namespace cq {

// Dispatch from a runtime DType to a typed generic lambda: dispatch_float(dt, "op", [&](auto tag) {
//   using scalar_t = decltype(tag); ... });  (functions rather than macros so OpenMP pragmas work inside the body)
template <class F>
decltype(auto) dispatch_float(DType dt, const char* op, F&& f) {
  switch (dt) {
    case DType::f32: return f(float{});
    case DType::f64: return f(double{});
    default: fail(op, ": dtype ", dtype_name(dt), " not supported (f32, f64 only)");
  }
}

template <class F>
decltype(auto) dispatch_all(DType dt, const char* op, F&& f) {
  switch (dt) {
    case DType::f32: return f(float{});
    case DType::f64: return f(double{});
    case DType::u8: return f(uint8_t{});
    case DType::i32: return f(int32_t{});
    case DType::i64: return f(int64_t{});
    default: fail(op, ": dtype ", dtype_name(dt), " not supported");
  }
}

}  // namespace cq
