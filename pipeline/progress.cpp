#include "pipeline/progress.h"

#include <unistd.h>

#include <cmath>
#include <limits>

namespace cq::pipeline {

Progress::Progress(std::FILE* out, std::string label, int64_t total, int tty)
    : out_(out), label_(std::move(label)), total_(total < 0 ? 0 : total),
      tty_(out && (tty < 0 ? ::isatty(::fileno(out)) != 0 : tty != 0)),
      loss_(std::numeric_limits<double>::quiet_NaN()), start_(std::chrono::steady_clock::now()) {}

double Progress::elapsed() const {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
}

std::string Progress::duration(double s) {
  if (!std::isfinite(s) || s < 0) return "?";
  const long t = long(s + 0.5);
  char buf[32];
  if (t >= 3600)
    std::snprintf(buf, sizeof buf, "%ld:%02ld:%02ld", t / 3600, (t / 60) % 60, t % 60);
  else
    std::snprintf(buf, sizeof buf, "%ld:%02ld", t / 60, t % 60);
  return buf;
}

std::string Progress::format(const std::string& label, int64_t done, int64_t total, double elapsed_s, double loss) {
  constexpr int kWidth = 20;
  const double frac = total > 0 ? double(done) / double(total) : 1.0;
  std::string bar(size_t(kWidth), '.');
  for (int i = 0; i < int(frac * kWidth + 1e-9) && i < kWidth; ++i) bar[size_t(i)] = '#';
  const double rate = elapsed_s > 0 && done > 0 ? double(done) / elapsed_s : 0.0;
  const double eta = rate > 0 ? double(total - done) / rate : std::numeric_limits<double>::quiet_NaN();
  char buf[256];
  std::snprintf(buf, sizeof buf, "%s [%s] %lld/%lld %.2f step/s ETA %s", label.c_str(), bar.c_str(),
                (long long)done, (long long)total, rate, duration(eta).c_str());
  std::string s = buf;
  if (!std::isnan(loss)) {
    std::snprintf(buf, sizeof buf, " loss %.4f", loss);
    s += buf;
  }
  return s;
}

void Progress::update(int64_t done, double loss) {
  done_ = done;
  loss_ = loss;
  if (!out_) return;
  if (tty_) {
    // "\033[K" clears what a longer previous line left behind.
    std::fprintf(out_, "\r%s\033[K", format(label_, done_, total_, elapsed(), loss_).c_str());
    std::fflush(out_);
    return;
  }
  const int decile = total_ > 0 ? int(done * 10 / total_) : 10;
  if (decile > last_decile_ && done < total_) {  // the final line comes from finish()
    last_decile_ = decile;
    std::fprintf(out_, "%s\n", format(label_, done_, total_, elapsed(), loss_).c_str());
    std::fflush(out_);
  }
}

void Progress::finish(const std::string& summary) {
  if (!out_ || finished_) return;
  finished_ = true;
  std::string line = format(label_, done_, total_, elapsed(), loss_);
  if (!summary.empty()) line += "  " + summary;
  std::fprintf(out_, tty_ ? "\r%s\033[K\n" : "%s\n", line.c_str());
  std::fflush(out_);
}

}  // namespace cq::pipeline
