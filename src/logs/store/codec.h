// Byte encodings of the log store (docs/formats/logs-wal.md and
// docs/formats/logs-block.md): WAL records, the entries of a chunk block,
// and trace-id extraction from entries.
//
// Decoders never read past their input and fail with DataLoss on garbage.
// Thread-safety: pure functions.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "base/coding.h"
#include "base/status.h"
#include "logs/store/appender.h"

namespace sightline::logs::store {

using TraceId = std::array<uint8_t, 16>;

// WAL record type 1: one push (all streams), appended atomically.
std::string EncodeWalRecord(const std::vector<PushStream>& streams);
Status DecodeWalRecord(std::string_view record, std::vector<PushStream>* streams);

void EncodeLabels(std::string& out, const Labels& labels);
bool DecodeLabels(coding::Reader& r, Labels* labels);

// The entries of one chunk block, before compression: uvarint count, then
// per entry varint(ts delta), line, structured metadata.
void EncodeEntries(std::string& out, const Entry* const* entries, size_t n);
Status DecodeEntries(std::string_view data, std::vector<Entry>* out);

// Trace ids an entry refers to: structured metadata trace_id / traceId /
// traceid, JSON "trace_id"/"traceId" fields and logfmt trace_id= in the
// line, and every free-standing run of exactly 32 hex digits in the line.
// Ids are 32 hex digits (16-digit ids are zero-padded on the left). A line
// with a hex run longer than 32 digits (which may contain any id as a
// substring) also yields kLongHexRunId, so that a `|= "<id>"` search can
// rely on the index (blocks with meta stat kTraceIndexHexRunsStat).
void ExtractTraceIds(const Entry& e, std::vector<TraceId>* out);

inline constexpr TraceId kLongHexRunId = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
                                          0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
// meta.json stat of blocks whose trace index covers every 32-hex run of
// their lines and flags longer runs with kLongHexRunId.
inline constexpr const char* kTraceIndexHexRunsStat = "traceIndexHexRuns";

// Parses 16 or 32 hex digits (either case) into an id.
bool ParseTraceId(std::string_view hex, TraceId* id);

}  // namespace sightline::logs::store
