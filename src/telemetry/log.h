// Structured logging in logfmt, one line per event on stderr:
//   ts=2026-11-23T23:40:00.123Z level=info msg="listening" http=127.0.0.1:8080
//
// Thread-safe: a line is formatted in a local buffer and written with one
// call. Events below the configured level cost one relaxed atomic load.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <string>
#include <string_view>

namespace sightline::log {

enum class Level { kDebug = 0, kInfo = 1, kWarn = 2, kError = 3 };

// Parses "debug", "info", "warn", "error"; false if unknown.
bool ParseLevel(std::string_view s, Level* out);
void SetLevel(Level level);
Level GetLevel();
bool Enabled(Level level);

// Sends lines to `sink` instead of stderr (tests); nullptr restores stderr.
void SetSinkForTesting(std::string* sink);

struct Field {
  Field(std::string_view k, std::string_view v) : key(k), value(v) {}
  Field(std::string_view k, const std::string& v) : key(k), value(v) {}
  Field(std::string_view k, const char* v) : key(k), value(v) {}
  Field(std::string_view k, int64_t v) : key(k), value(std::to_string(v)) {}
  Field(std::string_view k, uint64_t v) : key(k), value(std::to_string(v)) {}
  Field(std::string_view k, int v) : key(k), value(std::to_string(v)) {}
  Field(std::string_view k, unsigned v) : key(k), value(std::to_string(v)) {}
  Field(std::string_view k, double v);
  Field(std::string_view k, bool v) : key(k), value(v ? "true" : "false") {}

  std::string_view key;
  std::string value;
};

void Log(Level level, std::string_view msg, std::initializer_list<Field> fields = {});

inline void Debug(std::string_view msg, std::initializer_list<Field> f = {}) {
  if (Enabled(Level::kDebug)) Log(Level::kDebug, msg, f);
}
inline void Info(std::string_view msg, std::initializer_list<Field> f = {}) { Log(Level::kInfo, msg, f); }
inline void Warn(std::string_view msg, std::initializer_list<Field> f = {}) { Log(Level::kWarn, msg, f); }
inline void Error(std::string_view msg, std::initializer_list<Field> f = {}) { Log(Level::kError, msg, f); }

// Appends `key=value` to `out` with logfmt quoting.
void AppendLogfmt(std::string& out, std::string_view key, std::string_view value);

}  // namespace sightline::log
