// ReplayAhead: Wal::Replay with the reading on a second thread.
//
// Replaying a large WAL is a pipeline: reading pages, checking CRCs,
// assembling fragments and decompressing records (the WAL's own work), then
// decoding and applying them (the signal's work). Wal::Replay does both on
// one thread. ReplayAhead runs Wal::Replay on a background thread that
// copies the records into batches of about `batch_bytes`, and calls `fn`
// on the calling thread with each batch, in WAL order, while the reader
// fills the next ones (at most `max_batches_ahead` are waiting).
//
// Same records, positions, order, repairs and errors as Wal::Replay, with
// one difference: an error returned by `fn` stops the reader at its next
// record, so the reader may have gone (and repaired a corrupted tail) up to
// `max_batches_ahead` batches beyond the batch `fn` failed on. An error of
// the replay itself (e.g. an I/O error, or DataLoss without repair) is
// returned after `fn` has seen every batch read before it.
//
// A batch is immutable once delivered and shared: `fn` may hand it to
// other threads (it lives as long as its last shared_ptr).
//
// Thread-safety: as Wal::Replay (once, before any Append, nothing else on
// the Wal meanwhile). `fn` runs on the calling thread only.
#pragma once

#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"
#include "wal/wal.h"

namespace sightline::wal {

// Records back to back in one buffer.
class RecordBatch {
 public:
  size_t size() const { return ends_.size(); }
  bool empty() const { return ends_.empty(); }
  size_t bytes() const { return data_.size(); }
  std::string_view record(size_t i) const {
    const size_t b = i == 0 ? 0 : ends_[i - 1];
    return std::string_view(data_).substr(b, ends_[i] - b);
  }
  const WalPosition& position(size_t i) const { return positions_[i]; }

  void Add(std::string_view rec, const WalPosition& pos) {
    data_.append(rec);
    ends_.push_back(data_.size());
    positions_.push_back(pos);
  }
  void Clear() {
    data_.clear();
    ends_.clear();
    positions_.clear();
  }

 private:
  std::string data_;
  std::vector<size_t> ends_;
  std::vector<WalPosition> positions_;
};

struct ReplayAheadOptions {
  size_t batch_bytes = 1u << 20;  // a batch is delivered once it holds this much
  size_t max_batches_ahead = 8;   // read but not yet handed to fn
};

using RecordBatchFn = std::function<Status(std::shared_ptr<const RecordBatch> batch)>;

Status ReplayAhead(Wal* wal, const ReplayAheadOptions& options, const RecordBatchFn& fn);

}  // namespace sightline::wal
