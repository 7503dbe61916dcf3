// A small JSON value, parser and writer: enough for safetensors headers, run manifests and metrics files, and
// strict about malformed input (depth limit, no trailing garbage), because headers come from untrusted files.
#pragma once
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace cq::json {

class Value {
 public:
  enum class Type { Null, Bool, Number, String, Array, Object };
  Value() = default;
  static Value boolean(bool b);
  static Value number(double d);
  static Value string(std::string s);
  static Value array(std::vector<Value> a = {});
  static Value object();

  Type type() const { return type_; }
  bool is_null() const { return type_ == Type::Null; }
  bool is_number() const { return type_ == Type::Number; }
  bool is_string() const { return type_ == Type::String; }
  bool is_array() const { return type_ == Type::Array; }
  bool is_object() const { return type_ == Type::Object; }
  double as_number() const;
  // The number as an exact non-negative integer (throws when fractional, negative or above 2^53).
  uint64_t as_uint() const;
  bool as_bool() const;
  const std::string& as_string() const;
  const std::vector<Value>& as_array() const;
  const std::vector<std::pair<std::string, Value>>& as_object() const;  // insertion order
  const Value* find(const std::string& key) const;
  Value& set(const std::string& key, Value v);  // object: insert or replace
  Value& push(Value v);                          // array: append

 private:
  Type type_ = Type::Null;
  bool b_ = false;
  double d_ = 0;
  std::string s_;
  std::vector<Value> a_;
  std::vector<std::pair<std::string, Value>> o_;
};

// Parses text; throws cq::Error "JSON: <what> at byte <n>" on any malformed input.
Value parse(const std::string& text);
// Compact (indent < 0) or pretty-printed JSON; numbers that are integers print without a fraction.
std::string dump(const Value& v, int indent = -1);

}  // namespace cq::json
