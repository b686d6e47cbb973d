#include "logs/store/codec.h"

#include "base/coding.h"

namespace sightline::logs::store {

namespace {

constexpr uint8_t kWalEntries = 1;

void EncodeEntry(std::string& out, const Entry& e, int64_t prev_ts) {
  coding::PutVarint(out, e.timestamp_ns - prev_ts);
  coding::PutLengthPrefixed(out, e.line);
  EncodeLabels(out, e.structured_metadata);
}

bool DecodeEntry(coding::Reader& r, int64_t prev_ts, Entry* e) {
  e->timestamp_ns = prev_ts + r.Varint();
  e->line.assign(r.LengthPrefixed());
  return DecodeLabels(r, &e->structured_metadata) && r.ok();
}

int HexDigit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// A run of hex digits starting at line[pos] (length 16 or 32), else "".
std::string_view HexRun(std::string_view s, size_t pos) {
  size_t e = pos;
  while (e < s.size() && HexDigit(s[e]) >= 0) ++e;
  size_t n = e - pos;
  if (n != 16 && n != 32) return {};
  return s.substr(pos, n);
}

void ScanLine(std::string_view line, std::vector<TraceId>* out) {
  static constexpr std::string_view kKeys[] = {"trace_id", "traceId", "traceID", "traceid"};
  for (std::string_view key : kKeys) {
    size_t from = 0;
    while (true) {
      size_t p = line.find(key, from);
      if (p == std::string_view::npos) break;
      from = p + key.size();
      size_t i = from;
      if (i < line.size() && line[i] == '"') ++i;  // JSON key close quote
      while (i < line.size() && line[i] == ' ') ++i;
      if (i >= line.size() || (line[i] != '=' && line[i] != ':')) continue;
      ++i;
      while (i < line.size() && line[i] == ' ') ++i;
      if (i < line.size() && line[i] == '"') ++i;
      std::string_view hex = HexRun(line, i);
      TraceId id;
      if (!hex.empty() && ParseTraceId(hex, &id)) out->push_back(id);
    }
  }
}

}  // namespace

void EncodeLabels(std::string& out, const Labels& labels) {
  coding::PutUvarint(out, labels.size());
  for (const auto& l : labels) {
    coding::PutLengthPrefixed(out, l.name);
    coding::PutLengthPrefixed(out, l.value);
  }
}

bool DecodeLabels(coding::Reader& r, Labels* labels) {
  uint64_t n = r.Uvarint();
  if (!r.ok() || n > r.remaining()) return false;
  std::vector<tsdb::Label> v;
  v.reserve(n);
  for (uint64_t i = 0; i < n; ++i) {
    std::string_view name = r.LengthPrefixed();
    std::string_view value = r.LengthPrefixed();
    if (!r.ok()) return false;
    v.push_back({std::string(name), std::string(value)});
  }
  auto l = Labels::FromUnsorted(std::move(v));
  if (!l.ok()) return false;
  *labels = std::move(l).value();
  return true;
}

std::string EncodeWalRecord(const std::vector<PushStream>& streams) {
  std::string out;
  out.push_back(static_cast<char>(kWalEntries));
  coding::PutUvarint(out, streams.size());
  for (const auto& st : streams) {
    EncodeLabels(out, st.labels);
    coding::PutUvarint(out, st.entries.size());
    int64_t prev = 0;
    for (const auto& e : st.entries) {
      EncodeEntry(out, e, prev);
      prev = e.timestamp_ns;
    }
  }
  return out;
}

Status DecodeWalRecord(std::string_view record, std::vector<PushStream>* streams) {
  coding::Reader r(record);
  if (r.Byte() != kWalEntries) return DataLossError("unknown logs WAL record type");
  uint64_t n = r.Uvarint();
  if (!r.ok() || n > r.remaining()) return DataLossError("corrupt logs WAL record");
  streams->clear();
  streams->reserve(n);
  for (uint64_t i = 0; i < n; ++i) {
    PushStream ps;
    if (!DecodeLabels(r, &ps.labels)) return DataLossError("corrupt labels in logs WAL record");
    uint64_t ne = r.Uvarint();
    if (!r.ok() || ne > r.remaining()) return DataLossError("corrupt logs WAL record");
    ps.entries.resize(ne);
    int64_t prev = 0;
    for (auto& e : ps.entries) {
      if (!DecodeEntry(r, prev, &e)) return DataLossError("corrupt entry in logs WAL record");
      prev = e.timestamp_ns;
    }
    streams->push_back(std::move(ps));
  }
  if (!r.empty()) return DataLossError("trailing bytes in logs WAL record");
  return Status::Ok();
}

void EncodeEntries(std::string& out, const Entry* const* entries, size_t n) {
  coding::PutUvarint(out, n);
  int64_t prev = 0;
  for (size_t i = 0; i < n; ++i) {
    EncodeEntry(out, *entries[i], prev);
    prev = entries[i]->timestamp_ns;
  }
}

Status DecodeEntries(std::string_view data, std::vector<Entry>* out) {
  coding::Reader r(data);
  uint64_t n = r.Uvarint();
  if (!r.ok() || n > data.size()) return DataLossError("corrupt log chunk block");
  size_t base = out->size();
  out->resize(base + n);
  int64_t prev = 0;
  for (uint64_t i = 0; i < n; ++i) {
    Entry& e = (*out)[base + i];
    if (!DecodeEntry(r, prev, &e)) return DataLossError("corrupt entry in log chunk block");
    prev = e.timestamp_ns;
  }
  return Status::Ok();
}

bool ParseTraceId(std::string_view hex, TraceId* id) {
  if (hex.size() != 16 && hex.size() != 32) return false;
  id->fill(0);
  size_t off = 16 - hex.size() / 2;
  for (size_t i = 0; i < hex.size() / 2; ++i) {
    int hi = HexDigit(hex[2 * i]), lo = HexDigit(hex[2 * i + 1]);
    if (hi < 0 || lo < 0) return false;
    (*id)[off + i] = static_cast<uint8_t>(hi << 4 | lo);
  }
  return true;
}

void ExtractTraceIds(const Entry& e, std::vector<TraceId>* out) {
  for (const auto& l : e.structured_metadata) {
    if (l.name == "trace_id" || l.name == "traceId" || l.name == "traceid" ||
        l.name == "traceID") {
      TraceId id;
      if (ParseTraceId(l.value, &id)) out->push_back(id);
    }
  }
  std::string_view line = e.line;
  if (line.find("race") != std::string_view::npos) ScanLine(line, out);
  // Any free-standing run of exactly 32 hex digits: `|= "<trace id>"`
  // searches must find lines that mention an id in any form.
  size_t i = 0;
  while (i < line.size()) {
    if (HexDigit(line[i]) < 0) {
      ++i;
      continue;
    }
    size_t j = i;
    while (j < line.size() && HexDigit(line[j]) >= 0) ++j;
    if (j - i == 32) {
      TraceId id;
      if (ParseTraceId(line.substr(i, 32), &id)) out->push_back(id);
    } else if (j - i > 32) {
      out->push_back(kLongHexRunId);
    }
    i = j;
  }
}

}  // namespace sightline::logs::store
