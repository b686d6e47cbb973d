#include "metrics/ingest/names.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <string>
#include <vector>

namespace sightline::metrics::ingest {

std::string_view TranslationStrategyName(TranslationStrategy s) {
  switch (s) {
    case TranslationStrategy::kUnderscoreEscapingWithSuffixes:
      return "UnderscoreEscapingWithSuffixes";
    case TranslationStrategy::kUnderscoreEscapingWithoutSuffixes:
      return "UnderscoreEscapingWithoutSuffixes";
    case TranslationStrategy::kNoUTF8EscapingWithSuffixes:
      return "NoUTF8EscapingWithSuffixes";
    case TranslationStrategy::kNoTranslation:
      return "NoTranslation";
  }
  return "";
}

Result<TranslationStrategy> ParseTranslationStrategy(std::string_view name) {
  for (TranslationStrategy s :
       {TranslationStrategy::kUnderscoreEscapingWithSuffixes,
        TranslationStrategy::kUnderscoreEscapingWithoutSuffixes,
        TranslationStrategy::kNoUTF8EscapingWithSuffixes, TranslationStrategy::kNoTranslation}) {
    if (name == TranslationStrategyName(s)) return s;
  }
  return InvalidArgumentError(
      "unknown OTLP translation strategy \"" + std::string(name) +
      "\": want UnderscoreEscapingWithSuffixes, UnderscoreEscapingWithoutSuffixes, "
      "NoUTF8EscapingWithSuffixes or NoTranslation");
}

namespace {

bool IsAsciiLetter(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
bool IsAsciiDigit(char c) { return c >= '0' && c <= '9'; }

// Splits `s` into UTF-8 runes the way Go ranges over a string: an invalid
// byte is one rune (U+FFFD) of length 1. Calls f(rune_bytes, is_ascii_char).
template <typename F>
void ForEachRune(std::string_view s, F f) {
  size_t i = 0;
  while (i < s.size()) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    size_t len = 1;
    if (c >= 0x80) {
      size_t want = c >= 0xF0 && c <= 0xF4 ? 4 : c >= 0xE0 ? 3 : c >= 0xC2 && c < 0xE0 ? 2 : 0;
      if (c >= 0xF5) want = 0;
      if (want != 0 && i + want <= s.size()) {
        bool ok = true;
        for (size_t k = 1; k < want; ++k) {
          if ((static_cast<unsigned char>(s[i + k]) & 0xC0) != 0x80) ok = false;
        }
        // Overlong and surrogate forms are invalid in Go as well.
        unsigned char c1 = static_cast<unsigned char>(s[i + 1]);
        if (ok && c == 0xE0 && c1 < 0xA0) ok = false;
        if (ok && c == 0xED && c1 >= 0xA0) ok = false;
        if (ok && c == 0xF0 && c1 < 0x90) ok = false;
        if (ok && c == 0xF4 && c1 >= 0x90) ok = false;
        if (ok) len = want;
      }
    }
    f(s.substr(i, len));
    i += len;
  }
}

// [a-zA-Z0-9:] — the characters kept by metric name normalization.
bool IsMetricTokenChar(std::string_view rune) {
  if (rune.size() != 1) return false;
  char c = rune[0];
  return IsAsciiLetter(c) || IsAsciiDigit(c) || c == ':';
}

// strings.FieldsFunc(s, !keep): the maximal runs of kept runes.
template <typename Keep>
std::vector<std::string> Fields(std::string_view s, Keep keep) {
  std::vector<std::string> out;
  std::string cur;
  ForEachRune(s, [&](std::string_view r) {
    if (keep(r)) {
      cur.append(r);
    } else if (!cur.empty()) {
      out.push_back(std::move(cur));
      cur.clear();
    }
  });
  if (!cur.empty()) out.push_back(std::move(cur));
  return out;
}

std::string Join(const std::vector<std::string>& v, std::string_view sep) {
  std::string out;
  for (size_t i = 0; i < v.size(); ++i) {
    if (i > 0) out.append(sep);
    out.append(v[i]);
  }
  return out;
}

std::string_view TrimSpace(std::string_view s) {
  auto sp = [](char c) {
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
  };
  while (!s.empty() && sp(s.front())) s.remove_prefix(1);
  while (!s.empty() && sp(s.back())) s.remove_suffix(1);
  return s;
}

bool Contains(const std::vector<std::string>& v, std::string_view x) {
  return std::find(v.begin(), v.end(), x) != v.end();
}

void RemoveAll(std::vector<std::string>* v, std::string_view x) {
  v->erase(std::remove(v->begin(), v->end(), x), v->end());
}

// OTLP (UCUM) units → Prometheus unit words.
std::string_view MapMainUnit(std::string_view u) {
  static constexpr std::pair<std::string_view, std::string_view> kUnits[] = {
      {"d", "days"},
      {"h", "hours"},
      {"min", "minutes"},
      {"s", "seconds"},
      {"ms", "milliseconds"},
      {"us", "microseconds"},
      {"ns", "nanoseconds"},
      {"By", "bytes"},
      {"KiBy", "kibibytes"},
      {"MiBy", "mebibytes"},
      {"GiBy", "gibibytes"},
      {"TiBy", "tibibytes"},
      {"KBy", "kilobytes"},
      {"MBy", "megabytes"},
      {"GBy", "gigabytes"},
      {"TBy", "terabytes"},
      {"m", "meters"},
      {"V", "volts"},
      {"A", "amperes"},
      {"J", "joules"},
      {"W", "watts"},
      {"g", "grams"},
      {"Cel", "celsius"},
      {"Hz", "hertz"},
      {"1", ""},
      {"%", "percent"},
  };
  for (const auto& [k, v] : kUnits) {
    if (k == u) return v;
  }
  return u;
}

std::string_view MapPerUnit(std::string_view u) {
  static constexpr std::pair<std::string_view, std::string_view> kPer[] = {
      {"s", "second"}, {"m", "minute"}, {"h", "hour"}, {"d", "day"},
      {"w", "week"},   {"mo", "month"}, {"y", "year"},
  };
  for (const auto& [k, v] : kPer) {
    if (k == u) return v;
  }
  return u;
}

// buildUnitSuffixes: (main, per) before escaping, e.g. "By/s" → ("bytes",
// "per_second"). Parts in {braces} (annotations) contribute nothing.
std::pair<std::string, std::string> UnitSuffixes(std::string_view unit) {
  std::string main, per;
  size_t slash = unit.find('/');
  std::string_view first = slash == std::string_view::npos ? unit : unit.substr(0, slash);
  std::string_view m = TrimSpace(first);
  if (!m.empty() && m.find_first_of("{}") == std::string_view::npos) {
    main = std::string(MapMainUnit(m));
  }
  if (slash != std::string_view::npos && slash + 1 < unit.size()) {
    std::string_view p = TrimSpace(unit.substr(slash + 1));
    if (!p.empty() && p.find_first_of("{}") == std::string_view::npos) {
      per = std::string(MapPerUnit(p));
    }
    if (!per.empty()) per = "per_" + per;
  }
  return {main, per};
}

// cleanUpUnit: runes outside [a-zA-Z0-9:] become '_', runs of '_' collapse,
// one leading '_' goes.
std::string CleanUpUnit(std::string_view unit) {
  std::string out;
  ForEachRune(unit, [&](std::string_view r) {
    char c = IsMetricTokenChar(r) ? r[0] : '_';
    if (c == '_' && !out.empty() && out.back() == '_') return;
    out.push_back(c);
  });
  if (!out.empty() && out[0] == '_') out.erase(0, 1);
  return out;
}

std::string TrimSuffix(std::string s, std::string_view suffix) {
  if (s.size() >= suffix.size() &&
      s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0) {
    s.resize(s.size() - suffix.size());
  }
  return s;
}

bool HasSuffix(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

// MetricNamer.buildCompliantMetricName with suffixes (normalizeName).
std::string NormalizeName(std::string_view name, std::string_view unit, OtlpMetricKind kind) {
  std::vector<std::string> tokens = Fields(name, IsMetricTokenChar);

  auto [main_raw, per_raw] = UnitSuffixes(unit);
  std::string main = CleanUpUnit(main_raw);
  std::string per = CleanUpUnit(per_raw);
  // addUnitTokens.
  if (Contains(tokens, main)) main.clear();
  if (per == "per_") {
    per.clear();
  } else {
    per = TrimSuffix(per, "_");
    if (Contains(tokens, per)) per.clear();
  }
  if (!per.empty()) main = TrimSuffix(main, "_");
  if (!main.empty()) tokens.push_back(main);
  if (!per.empty()) tokens.push_back(per);

  if (kind == OtlpMetricKind::kMonotonicCounter) {
    RemoveAll(&tokens, "total");
    tokens.push_back("total");
  }
  // Unit "1" means a ratio, but some receivers misuse it for counts of
  // things: upstream appends _ratio to gauges only.
  if (unit == "1" && kind == OtlpMetricKind::kGauge) {
    RemoveAll(&tokens, "ratio");
    tokens.push_back("ratio");
  }
  std::string out = Join(tokens, "_");
  if (!out.empty() && IsAsciiDigit(out[0])) out.insert(0, "_");
  return out;
}

// trimSuffixAndDelimiter.
std::string TrimSuffixAndDelimiter(std::string name, std::string_view suffix) {
  if (HasSuffix(name, suffix) && name.size() > suffix.size() + 1) {
    name.resize(name.size() - suffix.size() - 1);
  }
  return name;
}

// MetricNamer.buildMetricName (UTF-8 allowed) with suffixes.
std::string Utf8NameWithSuffixes(std::string_view name, std::string_view unit,
                                 OtlpMetricKind kind) {
  std::string n(name);
  bool ratio = unit == "1" && kind == OtlpMetricKind::kGauge;
  bool total = kind == OtlpMetricKind::kMonotonicCounter;
  if (ratio) n = TrimSuffixAndDelimiter(n, "ratio");
  if (total) n = TrimSuffixAndDelimiter(n, "total");
  auto [main, per] = UnitSuffixes(unit);
  if (!per.empty()) n = TrimSuffixAndDelimiter(n, per);
  if (!main.empty() && !HasSuffix(n, main)) n += "_" + main;
  // Upstream re-appends in reverse order of trimming (deferred calls).
  if (!per.empty()) n += "_" + per;
  if (total) n += "_total";
  if (ratio) n += "_ratio";
  return n;
}

bool AllUnderscores(std::string_view s) {
  return std::all_of(s.begin(), s.end(), [](char c) { return c == '_'; });
}

}  // namespace

bool IsValidLegacyMetricName(std::string_view name) {
  if (name.empty()) return false;
  for (size_t i = 0; i < name.size(); ++i) {
    char c = name[i];
    if (IsAsciiLetter(c) || c == '_' || c == ':' || (i > 0 && IsAsciiDigit(c))) continue;
    return false;
  }
  return true;
}

bool IsValidLegacyLabelName(std::string_view name) {
  if (name.empty()) return false;
  for (size_t i = 0; i < name.size(); ++i) {
    char c = name[i];
    if (IsAsciiLetter(c) || c == '_' || (i > 0 && IsAsciiDigit(c))) continue;
    return false;
  }
  return true;
}

bool IsValidUtf8(std::string_view s) {
  bool ok = true;
  ForEachRune(s, [&](std::string_view r) {
    if (r.size() == 1 && static_cast<unsigned char>(r[0]) >= 0x80) ok = false;
  });
  return ok;
}

Result<std::string> OtlpMetricName(std::string_view name, std::string_view unit,
                                   OtlpMetricKind kind, TranslationStrategy strategy) {
  std::string out;
  switch (strategy) {
    case TranslationStrategy::kUnderscoreEscapingWithSuffixes:
      out = NormalizeName(name, unit, kind);
      break;
    case TranslationStrategy::kUnderscoreEscapingWithoutSuffixes: {
      out = Join(Fields(name,
                        [](std::string_view r) {
                          return IsMetricTokenChar(r) || (r.size() == 1 && r[0] == '_');
                        }),
                 "_");
      if (!out.empty() && IsAsciiDigit(out[0])) out.insert(0, "_");
      break;
    }
    case TranslationStrategy::kNoUTF8EscapingWithSuffixes:
      out = Utf8NameWithSuffixes(name, unit, kind);
      break;
    case TranslationStrategy::kNoTranslation:
      out = std::string(name);
      break;
  }
  if (out.empty()) {
    return InvalidArgumentError("normalization for metric \"" + std::string(name) +
                                "\" resulted in empty name");
  }
  if (out != name && AllUnderscores(out)) {
    return InvalidArgumentError("normalization for metric \"" + std::string(name) +
                                "\" resulted in invalid name \"" + out + "\"");
  }
  return out;
}

Result<std::string> OtlpLabelName(std::string_view key, TranslationStrategy strategy) {
  if (key.empty()) {
    return InvalidArgumentError("normalization for label name \"\" resulted in empty name");
  }
  bool utf8 = strategy == TranslationStrategy::kNoUTF8EscapingWithSuffixes ||
              strategy == TranslationStrategy::kNoTranslation;
  if (utf8) return std::string(key);
  std::string out;
  out.reserve(key.size());
  ForEachRune(key, [&](std::string_view r) {
    bool keep = r.size() == 1 && (IsAsciiLetter(r[0]) || IsAsciiDigit(r[0]) || r[0] == '_');
    out.push_back(keep ? r[0] : '_');
  });
  if (IsAsciiDigit(out[0])) {
    out.insert(0, "key_");
  } else if (out[0] == '_' && (out.size() < 2 || out[1] != '_')) {
    out.insert(0, "key");
  }
  if (out != key && AllUnderscores(out)) {
    return InvalidArgumentError("normalization for label name \"" + std::string(key) +
                                "\" resulted in invalid name \"" + out + "\"");
  }
  return out;
}

std::string OtlpUnitSuffix(std::string_view unit) {
  auto [main, per] = UnitSuffixes(unit);
  main = CleanUpUnit(main);
  per = CleanUpUnit(per);
  std::string u = !main.empty() && !per.empty() ? main + "_" + per : !main.empty() ? main : per;
  if (!u.empty() && u.front() == '_') u.erase(0, 1);
  if (!u.empty() && u.back() == '_') u.pop_back();
  return u;
}

namespace {

std::string NonFinite(double v) {
  if (std::isnan(v)) return "NaN";
  return v > 0 ? "+Inf" : "-Inf";
}

}  // namespace

std::string FormatFloatPlain(double v) {
  if (!std::isfinite(v)) return NonFinite(v);
  char buf[400];  // fixed notation of DBL_MAX has 309 digits
  auto r = std::to_chars(buf, buf + sizeof(buf), v, std::chars_format::fixed);
  return std::string(buf, r.ptr);
}

std::string FormatFloatEs6(double v) {
  if (!std::isfinite(v)) return "json: unsupported value: " + NonFinite(v);
  double a = std::fabs(v);
  if (a != 0 && (a < 1e-6 || a >= 1e21)) {
    char buf[64];
    auto r = std::to_chars(buf, buf + sizeof(buf), v, std::chars_format::scientific);
    std::string s(buf, r.ptr);
    // Go writes e-07; ES6 writes e-7.
    size_t n = s.size();
    if (n >= 4 && s[n - 4] == 'e' && s[n - 3] == '-' && s[n - 2] == '0') s.erase(n - 2, 1);
    return s;
  }
  return FormatFloatPlain(v);
}

}  // namespace sightline::metrics::ingest
