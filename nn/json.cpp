#include "nn/json.h"

#include <cmath>
#include <cstdio>
#include <cstdlib>

#include "tensor/error.h"

namespace cq::json {

Value Value::boolean(bool b) {
  Value v;
  v.type_ = Type::Bool;
  v.b_ = b;
  return v;
}
Value Value::number(double d) {
  Value v;
  v.type_ = Type::Number;
  v.d_ = d;
  return v;
}
Value Value::string(std::string s) {
  Value v;
  v.type_ = Type::String;
  v.s_ = std::move(s);
  return v;
}
Value Value::array(std::vector<Value> a) {
  Value v;
  v.type_ = Type::Array;
  v.a_ = std::move(a);
  return v;
}
Value Value::object() {
  Value v;
  v.type_ = Type::Object;
  return v;
}

double Value::as_number() const {
  CQ_CHECK(type_ == Type::Number, "JSON: expected a number");
  return d_;
}
uint64_t Value::as_uint() const {
  double d = as_number();
  CQ_CHECK(d >= 0 && d <= 9007199254740992.0 && std::floor(d) == d, "JSON: expected a non-negative integer, got ",
           d);
  return static_cast<uint64_t>(d);
}
bool Value::as_bool() const {
  CQ_CHECK(type_ == Type::Bool, "JSON: expected true/false");
  return b_;
}
const std::string& Value::as_string() const {
  CQ_CHECK(type_ == Type::String, "JSON: expected a string");
  return s_;
}
const std::vector<Value>& Value::as_array() const {
  CQ_CHECK(type_ == Type::Array, "JSON: expected an array");
  return a_;
}
const std::vector<std::pair<std::string, Value>>& Value::as_object() const {
  CQ_CHECK(type_ == Type::Object, "JSON: expected an object");
  return o_;
}
const Value* Value::find(const std::string& key) const {
  if (type_ != Type::Object) return nullptr;
  for (const auto& kv : o_)
    if (kv.first == key) return &kv.second;
  return nullptr;
}
Value& Value::set(const std::string& key, Value v) {
  CQ_CHECK(type_ == Type::Object, "JSON: set on a non-object");
  for (auto& kv : o_)
    if (kv.first == key) return kv.second = std::move(v);
  o_.emplace_back(key, std::move(v));
  return o_.back().second;
}
Value& Value::push(Value v) {
  CQ_CHECK(type_ == Type::Array, "JSON: push on a non-array");
  a_.push_back(std::move(v));
  return a_.back();
}

namespace {
class Parser {
 public:
  explicit Parser(const std::string& t) : t_(t) {}
  Value parse_document() {
    Value v = value(0);
    ws();
    if (i_ != t_.size()) err("trailing characters");
    return v;
  }

 private:
  [[noreturn]] void err(const char* what) { fail("JSON: ", what, " at byte ", i_); }
  void ws() {
    while (i_ < t_.size() && (t_[i_] == ' ' || t_[i_] == '\t' || t_[i_] == '\n' || t_[i_] == '\r')) ++i_;
  }
  bool lit(const char* s) {
    size_t n = std::char_traits<char>::length(s);
    if (t_.compare(i_, n, s) == 0) {
      i_ += n;
      return true;
    }
    return false;
  }
  Value value(int depth) {
    if (depth > 64) err("nesting deeper than 64");
    ws();
    if (i_ >= t_.size()) err("unexpected end");
    char c = t_[i_];
    if (c == '{') return object(depth);
    if (c == '[') return array(depth);
    if (c == '"') return Value::string(str());
    if (lit("true")) return Value::boolean(true);
    if (lit("false")) return Value::boolean(false);
    if (lit("null")) return Value();
    if (c == '-' || (c >= '0' && c <= '9')) return number();
    err("unexpected character");
  }
  Value object(int depth) {
    Value o = Value::object();
    ++i_;
    ws();
    if (i_ < t_.size() && t_[i_] == '}') {
      ++i_;
      return o;
    }
    for (;;) {
      ws();
      if (i_ >= t_.size() || t_[i_] != '"') err("expected a key string");
      std::string k = str();
      if (o.find(k)) err("duplicate key");
      ws();
      if (i_ >= t_.size() || t_[i_] != ':') err("expected ':'");
      ++i_;
      o.set(k, value(depth + 1));
      ws();
      if (i_ < t_.size() && t_[i_] == ',') {
        ++i_;
        continue;
      }
      if (i_ < t_.size() && t_[i_] == '}') {
        ++i_;
        return o;
      }
      err("expected ',' or '}'");
    }
  }
  Value array(int depth) {
    Value a = Value::array();
    ++i_;
    ws();
    if (i_ < t_.size() && t_[i_] == ']') {
      ++i_;
      return a;
    }
    for (;;) {
      a.push(value(depth + 1));
      ws();
      if (i_ < t_.size() && t_[i_] == ',') {
        ++i_;
        continue;
      }
      if (i_ < t_.size() && t_[i_] == ']') {
        ++i_;
        return a;
      }
      err("expected ',' or ']'");
    }
  }
  static int hex(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  }
  void utf8(std::string& out, uint32_t cp) {
    if (cp < 0x80) {
      out += static_cast<char>(cp);
    } else if (cp < 0x800) {
      out += static_cast<char>(0xC0 | (cp >> 6));
      out += static_cast<char>(0x80 | (cp & 0x3F));
    } else if (cp < 0x10000) {
      out += static_cast<char>(0xE0 | (cp >> 12));
      out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
      out += static_cast<char>(0x80 | (cp & 0x3F));
    } else {
      out += static_cast<char>(0xF0 | (cp >> 18));
      out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
      out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
      out += static_cast<char>(0x80 | (cp & 0x3F));
    }
  }
  uint32_t hex4() {
    if (i_ + 4 > t_.size()) err("truncated \\u escape");
    uint32_t v = 0;
    for (int k = 0; k < 4; ++k) {
      int h = hex(t_[i_++]);
      if (h < 0) err("bad \\u escape");
      v = v * 16 + static_cast<uint32_t>(h);
    }
    return v;
  }
  std::string str() {
    ++i_;  // opening quote
    std::string out;
    for (;;) {
      if (i_ >= t_.size()) err("unterminated string");
      char c = t_[i_++];
      if (c == '"') return out;
      if (static_cast<unsigned char>(c) < 0x20) err("control character in string");
      if (c != '\\') {
        out += c;
        continue;
      }
      if (i_ >= t_.size()) err("unterminated escape");
      char e = t_[i_++];
      switch (e) {
        case '"': out += '"'; break;
        case '\\': out += '\\'; break;
        case '/': out += '/'; break;
        case 'b': out += '\b'; break;
        case 'f': out += '\f'; break;
        case 'n': out += '\n'; break;
        case 'r': out += '\r'; break;
        case 't': out += '\t'; break;
        case 'u': {
          uint32_t cp = hex4();
          if (cp >= 0xD800 && cp < 0xDC00) {
            if (!lit("\\u")) err("unpaired surrogate");
            uint32_t lo = hex4();
            if (lo < 0xDC00 || lo >= 0xE000) err("bad surrogate pair");
            cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
          }
          utf8(out, cp);
          break;
        }
        default: err("bad escape");
      }
    }
  }
  Value number() {
    size_t start = i_;
    if (t_[i_] == '-') ++i_;
    if (i_ >= t_.size() || !(t_[i_] >= '0' && t_[i_] <= '9')) err("bad number");
    while (i_ < t_.size() && ((t_[i_] >= '0' && t_[i_] <= '9') || t_[i_] == '.' || t_[i_] == 'e' || t_[i_] == 'E' ||
                              t_[i_] == '+' || t_[i_] == '-'))
      ++i_;
    std::string s = t_.substr(start, i_ - start);
    char* end = nullptr;
    double d = std::strtod(s.c_str(), &end);
    if (end != s.c_str() + s.size()) err("bad number");
    return Value::number(d);
  }
  const std::string& t_;
  size_t i_ = 0;
};

void escape(std::string& out, const std::string& s) {
  out += '"';
  for (unsigned char c : s) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (c < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04x", c);
          out += buf;
        } else {
          out += static_cast<char>(c);
        }
    }
  }
  out += '"';
}

void dump_into(std::string& out, const Value& v, int indent, int level) {
  auto nl = [&](int lvl) {
    if (indent < 0) return;
    out += '\n';
    out.append(static_cast<size_t>(indent * lvl), ' ');
  };
  switch (v.type()) {
    case Value::Type::Null: out += "null"; break;
    case Value::Type::Bool: out += v.as_bool() ? "true" : "false"; break;
    case Value::Type::Number: {
      double d = v.as_number();
      char buf[40];
      if (std::isfinite(d) && std::floor(d) == d && std::fabs(d) < 9.007199254740992e15)
        std::snprintf(buf, sizeof buf, "%lld", static_cast<long long>(d));
      else if (std::isfinite(d)) {
        // Shortest of %.15g / %.17g that reads back exactly (0.3 stays "0.3", not "0.29999999999999999").
        std::snprintf(buf, sizeof buf, "%.15g", d);
        if (std::strtod(buf, nullptr) != d) std::snprintf(buf, sizeof buf, "%.17g", d);
      }
      else
        std::snprintf(buf, sizeof buf, "null");  // JSON has no NaN/inf
      out += buf;
      break;
    }
    case Value::Type::String: escape(out, v.as_string()); break;
    case Value::Type::Array: {
      out += '[';
      const auto& a = v.as_array();
      for (size_t i = 0; i < a.size(); ++i) {
        if (i) out += ',';
        nl(level + 1);
        dump_into(out, a[i], indent, level + 1);
      }
      if (!a.empty()) nl(level);
      out += ']';
      break;
    }
    case Value::Type::Object: {
      out += '{';
      const auto& o = v.as_object();
      for (size_t i = 0; i < o.size(); ++i) {
        if (i) out += ',';
        nl(level + 1);
        escape(out, o[i].first);
        out += indent < 0 ? ":" : ": ";
        dump_into(out, o[i].second, indent, level + 1);
      }
      if (!o.empty()) nl(level);
      out += '}';
      break;
    }
  }
}
}  // namespace

Value parse(const std::string& text) { return Parser(text).parse_document(); }

std::string dump(const Value& v, int indent) {
  std::string out;
  dump_into(out, v, indent, 0);
  return out;
}

}  // namespace cq::json
