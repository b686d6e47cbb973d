// The metrics head's WAL records: what Head::Commit writes into the shared
// WAL (wal/wal.h) and what replay reads back. The bytes are specified in
// docs/formats/metrics-wal.md; this file is the only encoder and decoder.
//
// Four record types, each starting with a one-byte type:
//   kSeries     one series: ref and labels (one series per record, so that a
//               checkpoint can keep or drop each series exactly);
//   kSamples    a batch of (ref, t, value) with refs and timestamps
//               delta-encoded against the first sample, values as raw IEEE-754
//               bits (staleness markers survive bit for bit);
//   kExemplars  a batch of (ref, t, value, exemplar labels);
//   kMetadata   one metric family's type, help and unit.
//
// Thread-safety: free functions on values.
// Errors: decoders return DataLoss for bytes that do not decode (a
// truncated or garbled record, a wrong type byte); they never read outside
// their input.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"
#include "metrics/tsdb/labels.h"

namespace sightline::tsdb {

enum class WalRecordType : uint8_t {
  kUnknown = 0,
  kSeries = 1,
  kSamples = 2,
  kExemplars = 3,
  kMetadata = 4,
};

struct WalSeries {
  uint64_t ref = 0;
  Labels labels;
};

struct WalSample {
  uint64_t ref = 0;
  int64_t t = 0;
  uint64_t v_bits = 0;  // the value's IEEE-754 bits
};

struct WalExemplar {
  uint64_t ref = 0;
  int64_t t = 0;
  uint64_t v_bits = 0;
  Labels labels;
};

struct WalMetadata {
  std::string family;
  std::string type;
  std::string help;
  std::string unit;
};

// The type of an encoded record (kUnknown for an empty record or an unknown
// type byte; replay skips those).
WalRecordType RecordTypeOf(std::string_view record);

// Encoders append one record to `out`.
void EncodeSeries(const WalSeries& s, std::string* out);
void EncodeSamples(std::span<const WalSample> samples, std::string* out);
void EncodeExemplars(std::span<const WalExemplar> exemplars, std::string* out);
void EncodeMetadata(const WalMetadata& m, std::string* out);

// Decoders replace the contents of `out`.
Status DecodeSeries(std::string_view record, std::vector<WalSeries>* out);
Status DecodeSamples(std::string_view record, std::vector<WalSample>* out);
Status DecodeExemplars(std::string_view record, std::vector<WalExemplar>* out);
Status DecodeMetadata(std::string_view record, WalMetadata* out);

}  // namespace sightline::tsdb
