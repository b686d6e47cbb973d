// FaultyObjectStore: wraps another ObjectStore and injects failures, so that
// shippers, compactors and queriers can prove they retry, clean up, and never
// treat a failed upload as durable (STYLE.md, "fault-injecting Env").
//
// Faults:
//  - errors: each call of a selected operation fails with `error_code`, with
//    probability `error_probability` (a seeded PRNG, so a test run is
//    reproducible), or deterministically via FailNext();
//  - latency: a fixed sleep before selected operations;
//  - torn uploads (Put/PutFile): kTruncated stores only the first half of the
//    data and then reports an error (a backend without atomic puts);
//    kWrittenThenError stores the full object and then reports an error (the
//    acknowledgement was lost). Probabilistic or via TearNext().
// An injected error never reaches the inner store (except for the torn
// kinds, by design). Messages start with "injected fault:".
//
// Thread-safety: safe for concurrent use; options and queues are guarded by a
// mutex. The inner store must outlive the wrapper.
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <mutex>
#include <random>

#include "io/object_store.h"

namespace sightline::io {

// Bit mask of operations.
enum FaultOp : uint32_t {
  kFaultPut = 1u << 0,
  kFaultPutFile = 1u << 1,
  kFaultGet = 1u << 2,
  kFaultGetRange = 1u << 3,
  kFaultHead = 1u << 4,
  kFaultList = 1u << 5,
  kFaultDelete = 1u << 6,
  kFaultDeleteMany = 1u << 7,
  kFaultUploads = kFaultPut | kFaultPutFile,
  kFaultReads = kFaultGet | kFaultGetRange | kFaultHead | kFaultList,
  kFaultAllOps = 0xffu,
};

enum class TornUpload {
  kTruncated,         // first half of the data stored, then an error
  kWrittenThenError,  // everything stored, then an error
};

struct FaultOptions {
  uint64_t seed = 42;
  double error_probability = 0.0;  // 0..1, per call of an operation in error_ops
  uint32_t error_ops = kFaultAllOps;
  StatusCode error_code = StatusCode::kUnavailable;
  double torn_probability = 0.0;  // 0..1, per Put/PutFile
  TornUpload torn_kind = TornUpload::kTruncated;
  std::chrono::microseconds latency{0};
  uint32_t latency_ops = kFaultAllOps;
};

class FaultyObjectStore final : public ObjectStore {
 public:
  FaultyObjectStore(ObjectStore* inner, FaultOptions opts = {});

  void SetOptions(const FaultOptions& opts);
  // The next `n` calls of any operation in `ops` fail with `code` (queued
  // after earlier FailNext requests; consumed before probabilistic faults).
  void FailNext(uint32_t ops, int n, StatusCode code = StatusCode::kUnavailable);
  // The next `n` uploads are torn as `kind`.
  void TearNext(int n, TornUpload kind);
  // Drops queued FailNext/TearNext requests and probabilistic faults.
  void Clear();

  // Faults injected so far (errors + torn uploads), and calls seen per op.
  uint64_t injected() const;
  uint64_t calls(FaultOp op) const;

  Status Put(std::string_view key, std::string_view data, const PutOptions& opts = {}) override;
  Status PutFile(std::string_view key, const std::string& local_path,
                 const PutOptions& opts = {}) override;
  Result<std::string> Get(std::string_view key) override;
  Result<std::string> GetRange(std::string_view key, uint64_t offset, uint64_t length) override;
  Result<ObjectInfo> Head(std::string_view key) override;
  Result<ListPage> List(const ListOptions& opts) override;
  Status Delete(std::string_view key) override;
  Status DeleteMany(const std::vector<std::string>& keys) override;
  std::string Describe() const override { return "faulty(" + inner_->Describe() + ")"; }

 private:
  struct Pending {
    uint32_t ops;
    int remaining;
    StatusCode code;
  };
  // Sleeps if configured, then returns the error to inject, if any.
  Status Before(FaultOp op, std::string_view key);
  // For uploads: whether (and how) to tear this one.
  bool ShouldTear(TornUpload* kind);
  Status TornPut(std::string_view key, std::string_view data, const PutOptions& opts,
                 TornUpload kind);

  ObjectStore* inner_;
  mutable std::mutex mu_;
  FaultOptions opts_;
  std::mt19937_64 rng_;
  std::deque<Pending> fail_next_;
  std::deque<std::pair<int, TornUpload>> tear_next_;
  uint64_t injected_ = 0;
  uint64_t calls_[8] = {};
};

}  // namespace sightline::io
