// Shipper: uploads blocks cut on local disk to the object store, for every
// signal (the Thanos sidecar's job). Nothing cut is ever lost because the
// store was down: a failed upload is retried with capped exponential backoff,
// and what has been uploaded is recorded in a state file in the local
// directory, so a restart resumes where it stopped.
//
// A local block is a directory `<local_dir>/<ULID>/` holding meta.json (the
// block writer writes it last, so a directory without it is incomplete and is
// skipped). Each block is uploaded file by file to
// `<remote_prefix><ULID>/...`, meta.json last, with the Thanos section of
// meta.json filled in (external labels, source, file list). Uploading is
// idempotent: a block interrupted half-way is uploaded again in full.
//
// State file: `<local_dir>/shipper.json`, {"version":1,"uploaded":[ULIDs]},
// replaced atomically after each block.
//
// Thread-safety: Sync() may be called from any thread; calls are serialized.
// Start()/Stop() run Sync() on a background thread.
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>

#include "base/periodic_worker.h"
#include "base/status.h"
#include "blocks/meta.h"

namespace sightline::io {
class Env;
class ObjectStore;
}  // namespace sightline::io

namespace sightline::blocks {

struct ShipperOptions {
  std::string signal;          // "metrics", ... (metrics label and meta.json)
  std::string local_dir;       // holds <ULID>/ block directories
  std::string remote_prefix;   // "metrics/anonymous/"
  std::map<std::string, std::string> external_labels;
  std::string source = "sidecar";
  // Background loop: a pass every `interval`, or at once after Notify().
  std::chrono::milliseconds interval{std::chrono::seconds(30)};
  // After a failed pass, wait min_backoff, doubling to max_backoff.
  std::chrono::milliseconds min_backoff{std::chrono::seconds(1)};
  std::chrono::milliseconds max_backoff{std::chrono::minutes(5)};
  // Called once per failed block upload (e.g. tempo_ingester_flush_failed_total).
  std::function<void()> on_upload_failure;
};

class Shipper {
 public:
  Shipper(io::Env* env, io::ObjectStore* store, ShipperOptions options);
  ~Shipper();
  Shipper(const Shipper&) = delete;
  Shipper& operator=(const Shipper&) = delete;

  // Loads the state file. Call once before Sync()/Start().
  Status Init();

  // One pass: uploads every complete, not yet uploaded block, oldest first.
  // Stops at the first failure and returns it (the next pass retries).
  // Returns the number of blocks uploaded.
  Result<int> Sync();

  // Background uploads; Notify() wakes the loop (a new block was cut).
  void Start();
  void Notify();
  // Finishes the pass in progress (if any) and joins the thread.
  void Stop();

  bool IsUploaded(const Ulid& ulid) const;
  std::set<Ulid> Uploaded() const;

 private:
  Status UploadBlock(const Ulid& ulid);
  Status SaveState();
  // One background pass: Sync(), then the period, or a backoff after a failure.
  PeriodicWorker::Next Pass();

  io::Env* env_;
  io::ObjectStore* store_;
  ShipperOptions options_;

  std::mutex sync_mu_;  // serializes Sync()
  mutable std::mutex mu_;
  std::set<Ulid> uploaded_;

  std::chrono::milliseconds backoff_;  // only the worker's thread uses it
  PeriodicWorker worker_;              // last: it stops before what Pass() uses goes
};

}  // namespace sightline::blocks
