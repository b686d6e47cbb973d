// Binary encoding of one Trace (traces/model.h), used by the WAL records and
// by the block format (docs/formats/traces-wal.md, traces-block.md).
//
// Strings are written either inline (length-prefixed) or as indexes into a
// dictionary shared by a row group of a block. Times are varints relative to
// the trace's earliest span start, ids raw bytes.
//
// Thread-safety: the encoder/decoder objects are single-threaded values.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "base/status.h"
#include "traces/model.h"

namespace sightline::traces::store {

// Collects the distinct strings of a row group.
class StringDict {
 public:
  uint32_t Add(std::string_view s);
  const std::vector<std::string>& strings() const { return strings_; }
  size_t size() const { return strings_.size(); }
  void Clear();

 private:
  std::unordered_map<std::string, uint32_t> index_;
  std::vector<std::string> strings_;
};

// Appends the encoding of `t` to `out`. `dict` null: strings inline.
void EncodeTrace(const Trace& t, StringDict* dict, std::string* out);

// Decodes one trace from `in` (exactly the bytes EncodeTrace wrote).
// `dict` null: strings inline. DataLoss on malformed input or an index
// outside the dictionary.
Status DecodeTrace(std::string_view in, const std::vector<std::string_view>* dict, Trace* t);

// Approximate in-memory size of a trace (limits, metrics).
size_t TraceBytes(const Trace& t);

// Merges `from` into `into` (same trace id): resources and scopes appended.
// With `dedup`, spans whose span id `into` already holds are skipped (a span
// stored twice, e.g. replayed from the WAL after its block was cut, counts
// once); without, everything is appended (the head's fast path).
void MergeTrace(Trace from, Trace* into, bool dedup = true);

// Earliest span start and latest span end (0, 0 for no spans).
std::pair<uint64_t, uint64_t> TraceTimeRange(const Trace& t);

}  // namespace sightline::traces::store
