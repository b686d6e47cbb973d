#include "metrics/promql/duration.h"

#include <fmt/format.h>

#include "metrics/promql/go_text.h"

namespace sightline::promql {
namespace {

struct Unit {
  std::string_view name;
  int order;       // Units must appear in increasing order.
  uint64_t nanos;  // Go's model.ParseDuration works in nanoseconds.
};

constexpr uint64_t kMs = 1000000ULL;
constexpr Unit kUnits[] = {
    {"y", 1, 365ULL * 24 * 3600 * 1000 * kMs},
    {"w", 2, 7ULL * 24 * 3600 * 1000 * kMs},
    {"d", 3, 24ULL * 3600 * 1000 * kMs},
    {"h", 4, 3600ULL * 1000 * kMs},
    {"m", 5, 60ULL * 1000 * kMs},
    {"s", 6, 1000ULL * kMs},
    {"ms", 7, kMs},
};

bool IsDigit(char c) { return c >= '0' && c <= '9'; }

}  // namespace

Result<int64_t> ParseDuration(std::string_view s) {
  if (s == "0") return int64_t{0};
  if (s.empty()) return InvalidArgumentError("empty duration string");
  const std::string_view orig = s;
  auto invalid = [&] {
    return InvalidArgumentError(fmt::format("not a valid duration string: {}", QuoteGo(orig)));
  };
  uint64_t total = 0;
  int last_order = 0;
  while (!s.empty()) {
    if (!IsDigit(s[0])) return invalid();
    size_t i = 0;
    uint64_t v = 0;
    bool overflow = false;
    for (; i < s.size() && IsDigit(s[i]); ++i) {
      const uint64_t d = static_cast<uint64_t>(s[i] - '0');
      if (v > (UINT64_MAX - d) / 10) overflow = true;
      v = v * 10 + d;
    }
    if (overflow) return invalid();
    s.remove_prefix(i);
    size_t j = 0;
    while (j < s.size() && !IsDigit(s[j])) ++j;
    if (j == 0) return invalid();
    const std::string_view unit_name = s.substr(0, j);
    s.remove_prefix(j);
    const Unit* unit = nullptr;
    for (const Unit& u : kUnits) {
      if (u.name == unit_name) unit = &u;
    }
    if (unit == nullptr) {
      return InvalidArgumentError(
          fmt::format("unknown unit {} in duration {}", QuoteGo(unit_name), QuoteGo(orig)));
    }
    if (unit->order <= last_order) return invalid();
    last_order = unit->order;
    if (v > (uint64_t{1} << 63) / unit->nanos) {
      return InvalidArgumentError("duration out of range");
    }
    total += v * unit->nanos;
    if (total > static_cast<uint64_t>(INT64_MAX)) {
      return InvalidArgumentError("duration out of range");
    }
  }
  return static_cast<int64_t>(total / kMs);
}

std::string FormatDuration(int64_t ms) {
  if (ms == 0) return "0s";
  if (ms < 0) {
    if (ms == INT64_MIN) return "-" + FormatDuration(INT64_MAX);
    return "-" + FormatDuration(-ms);
  }
  std::string out;
  auto emit = [&](std::string_view unit, int64_t mult, bool exact) {
    if (exact && ms % mult != 0) return;
    const int64_t v = ms / mult;
    if (v > 0) {
      out += fmt::format("{}{}", v, unit);
      ms -= v * mult;
    }
  };
  emit("y", int64_t{1000} * 60 * 60 * 24 * 365, true);
  emit("w", int64_t{1000} * 60 * 60 * 24 * 7, true);
  emit("d", int64_t{1000} * 60 * 60 * 24, false);
  emit("h", int64_t{1000} * 60 * 60, false);
  emit("m", int64_t{1000} * 60, false);
  emit("s", 1000, false);
  emit("ms", 1, false);
  return out;
}

}  // namespace sightline::promql
