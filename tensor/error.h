// cq::Error: the one exception type the library throws. Messages name the op, shapes, dtypes and device
// (or, for user input, the file and what was expected) so a user can act on them without a debugger.
#pragma once
#include <sstream>
#include <stdexcept>
#include <string>

namespace cq {

class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& msg) : std::runtime_error(msg) {}
};

namespace detail {
inline void append(std::ostringstream&) {}
template <class T, class... R>
void append(std::ostringstream& os, const T& v, const R&... rest) {
  os << v;
  append(os, rest...);
}
}  // namespace detail

// Builds a message from any streamable pieces: cq::fail("conv2d: weight ", shape_str(w), " ...").
template <class... A>
[[noreturn]] void fail(const A&... parts) {
  std::ostringstream os;
  detail::append(os, parts...);
  throw Error(os.str());
}

}  // namespace cq

// CQ_CHECK(cond, pieces...) throws cq::Error built from the pieces when cond is false.
#define CQ_CHECK(cond, ...)                 \
  do {                                      \
    if (!(cond)) ::cq::fail(__VA_ARGS__);   \
  } while (0)
