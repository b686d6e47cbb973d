// ExemplarStorage: the head's exemplars, a fixed-size ring buffer shared by
// all series of one tenant (Prometheus's CircularExemplarStorage): the
// oldest exemplar is overwritten when it is full. Exemplars are not written
// into blocks (neither does Prometheus); they survive restarts through the
// WAL.
//
// Validation follows Prometheus: an exemplar older than the newest one kept
// for its series is "out of order exemplar"; one equal to the newest (same
// timestamp, value and labels) is a duplicate and is accepted without being
// stored again; exemplar labels longer than 128 UTF-8 characters (names plus
// values) are rejected.
//
// Thread-safety: all methods may be called concurrently (one mutex).
#pragma once

#include <cstdint>
#include <mutex>
#include <unordered_map>
#include <vector>

#include "base/status.h"
#include "metrics/tsdb/labels.h"

namespace sightline::tsdb {

// Prometheus's exemplar.ExemplarMaxLabelSetLength.
inline constexpr size_t kExemplarMaxLabelSetLength = 128;

struct StoredExemplar {
  uint64_t series_ref = 0;
  int64_t t = 0;
  uint64_t v_bits = 0;
  Labels labels;
};

class ExemplarStorage {
 public:
  // capacity 0 disables storage: Add accepts and drops everything.
  explicit ExemplarStorage(size_t capacity);

  // Checks an exemplar against the labels limit and the series' newest one.
  // OK for a duplicate too (*duplicate set).
  Status Validate(uint64_t series_ref, int64_t t, uint64_t v_bits, const Labels& labels,
                  bool* duplicate) const;
  // Validates and stores; returns the validation error (nothing stored).
  Status Add(StoredExemplar e);

  // Exemplars with t in [mint, maxt] of the series for which `want(ref)` is
  // true, in storage order (oldest first).
  template <typename Want>
  std::vector<StoredExemplar> Select(int64_t mint, int64_t maxt, Want want) const {
    std::vector<StoredExemplar> out;
    std::lock_guard<std::mutex> l(mu_);
    const size_t n = ring_.size();
    for (size_t k = 0; k < n; ++k) {
      const Entry& e = ring_[(next_ + k) % n];
      if (!e.used || e.ex.t < mint || e.ex.t > maxt) continue;
      if (want(e.ex.series_ref)) out.push_back(e.ex);
    }
    return out;
  }

  size_t capacity() const { return capacity_; }
  size_t Size() const;

 private:
  struct Entry {
    StoredExemplar ex;
    bool used = false;
  };
  Status ValidateLocked(uint64_t series_ref, int64_t t, uint64_t v_bits, const Labels& labels,
                        bool* duplicate) const;

  const size_t capacity_;
  mutable std::mutex mu_;
  std::vector<Entry> ring_;  // grows to capacity_, then wraps
  size_t next_ = 0;          // slot written next (when full: the oldest)
  // Series ref -> ring index of its newest exemplar.
  std::unordered_map<uint64_t, size_t> newest_;
};

}  // namespace sightline::tsdb
