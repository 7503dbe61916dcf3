// A progress bar on stderr for long loops (training epochs, validation): step i/n, rate in steps/s, ETA and the
// current loss. On a terminal it redraws one line with '\r'; into a file or pipe (CI logs) it prints a line about
// every 10% instead, so logs stay readable.
#pragma once
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <string>

namespace cq::pipeline {

class Progress {
 public:
  // out == nullptr: silent. tty < 0: decide with isatty(fileno(out)).
  Progress(std::FILE* out, std::string label, int64_t total, int tty = -1);
  // After each step: done = steps finished so far (1..total); loss = the latest value (NaN: not shown).
  void update(int64_t done, double loss);
  // Ends the line (terminal) or prints the final line, with an optional summary appended.
  void finish(const std::string& summary = "");

  // The text of one line (no '\r' or '\n'); exposed for tests.
  static std::string format(const std::string& label, int64_t done, int64_t total, double elapsed_s, double loss);
  // "1:02:03" / "4:05" style duration.
  static std::string duration(double seconds);

 private:
  double elapsed() const;
  std::FILE* out_;
  std::string label_;
  int64_t total_;
  bool tty_;
  int64_t done_ = 0;
  double loss_;
  int last_decile_ = 0;
  bool finished_ = false;
  std::chrono::steady_clock::time_point start_;
};

}  // namespace cq::pipeline
