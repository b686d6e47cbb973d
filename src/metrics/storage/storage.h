// The metrics storage interfaces: how ingest paths write samples and how the
// PromQL engine and the HTTP API read them, without knowing which store is
// behind (the TSDB head, local blocks, blocks in the object store through the
// store gateway, or an in-memory store in tests). Modelled on Prometheus's
// storage.Appender / storage.Querier.
//
// Tenancy: every Appender and Querier belongs to one tenant; stores never mix
// tenants' data.
//
// Time is in milliseconds since the Unix epoch everywhere. Sample values are
// float64; staleness markers are the NaN with bits 0x7ff0000000000002
// (kStaleNaN) and must be preserved bit for bit.
#pragma once

#include <bit>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"
#include "metrics/promql/matcher.h"
#include "metrics/tsdb/labels.h"

namespace sightline::metrics {

using tsdb::Label;
using tsdb::Labels;

inline constexpr uint64_t kStaleNaNBits = 0x7ff0000000000002ull;
double StaleNaN();
// Inline: called for every sample the engine reads.
inline bool IsStaleNaN(double v) { return std::bit_cast<uint64_t>(v) == kStaleNaNBits; }

struct Exemplar {
  Labels labels;  // e.g. {trace_id="..."}
  double value = 0;
  int64_t timestamp_ms = 0;
  bool has_timestamp = false;
};

// Prometheus metric metadata (per metric family name).
struct MetricMetadata {
  std::string type;  // counter, gauge, histogram, gaugehistogram, summary, info, stateset, unknown
  std::string help;
  std::string unit;
};

// Write path. One Appender collects one batch (one request) for one tenant
// and is used by one thread. Nothing is visible to queries or durable until
// Commit() returns OK; a failed Commit or a Rollback drops the whole batch.
//
// Per-sample errors (InvalidArgument with Prometheus's messages: "out of
// order sample", "duplicate sample for timestamp", "out of bounds"; or
// ResourceExhausted for a per-tenant limit) reject only that sample: the
// caller may keep appending and commit the rest, as Prometheus's remote-write
// receiver does before answering 400.
class Appender {
 public:
  virtual ~Appender() = default;

  // `ref` is 0 or a value this store returned for the same series before (a
  // cache that skips hashing labels). Returns the series ref.
  virtual Result<uint64_t> Append(uint64_t ref, const Labels& labels, int64_t t_ms, double v) = 0;
  virtual Status AppendExemplar(uint64_t ref, const Labels& labels, const Exemplar& e) = 0;
  virtual Status UpdateMetadata(const std::string& metric_family, const MetricMetadata& m) = 0;

  virtual Status Commit() = 0;
  virtual void Rollback() = 0;
};

class Appendable {
 public:
  virtual ~Appendable() = default;
  virtual std::unique_ptr<Appender> NewAppender(std::string_view tenant) = 0;
};

// Read path.

// Iterates one series' samples in increasing time order.
class SeriesIterator {
 public:
  virtual ~SeriesIterator() = default;
  // Advances to the next sample; false at the end or on error (see err()).
  virtual bool Next() = 0;
  // Advances to the first sample with t >= t_ms (may stay put); false if none.
  virtual bool Seek(int64_t t_ms) = 0;
  virtual int64_t t() const = 0;
  virtual double v() const = 0;
  virtual Status err() const { return Status::Ok(); }
};

class Series {
 public:
  virtual ~Series() = default;
  virtual const Labels& labels() const = 0;
  virtual std::unique_ptr<SeriesIterator> Iterator() const = 0;
};

// A set of series, sorted by labels when asked to be. The Series that At()
// returns stays valid (at the same address) after Next() and until the
// Querier that produced the set is destroyed, so a caller may collect the
// references first and iterate the samples later, as the PromQL engine does.
class SeriesSet {
 public:
  virtual ~SeriesSet() = default;
  virtual bool Next() = 0;
  virtual const Series& At() const = 0;
  virtual Status err() const { return Status::Ok(); }
  // Non-fatal problems (e.g. a store that could not be reached and was
  // skipped under partial-response), surfaced as API warnings.
  virtual std::vector<std::string> warnings() const { return {}; }
};

// What the engine knows about a selection, for stores that can use it
// (pruning, downsampled data). Advisory only.
struct SelectHints {
  int64_t start_ms = 0;
  int64_t end_ms = 0;
  int64_t step_ms = 0;
  int64_t range_ms = 0;  // of the enclosing range vector, if any
  std::string func;      // enclosing function, e.g. "rate"; "series" for metadata calls
  std::vector<std::string> grouping;
  bool by = false;
};

// A read view of one tenant's data over [mint, maxt]. Not thread-safe; the
// SeriesSets and Series it returns are valid until it is destroyed.
class Querier {
 public:
  virtual ~Querier() = default;
  // Series with at least one sample in [mint, maxt] matching all matchers.
  virtual std::unique_ptr<SeriesSet> Select(bool sorted, const SelectHints* hints,
                                            const std::vector<promql::Matcher>& matchers) = 0;
  // Sorted, unique values of `name` among series matching `matchers` (all
  // series when empty).
  virtual Result<std::vector<std::string>> LabelValues(
      const std::string& name, const std::vector<promql::Matcher>& matchers) = 0;
  // Sorted, unique label names among series matching `matchers`.
  virtual Result<std::vector<std::string>> LabelNames(
      const std::vector<promql::Matcher>& matchers) = 0;
};

class Queryable {
 public:
  virtual ~Queryable() = default;
  virtual Result<std::unique_ptr<Querier>> NewQuerier(std::string_view tenant, int64_t mint,
                                                      int64_t maxt) = 0;
};

}  // namespace sightline::metrics
