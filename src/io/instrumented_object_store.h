// InstrumentedObjectStore: counts and times every call of the wrapped store
// under Thanos's metric names, so that dashboards and alerts written for
// Thanos's object storage work against Sightline unchanged:
//
//   thanos_objstore_bucket_operations_total{bucket,operation}
//   thanos_objstore_bucket_operation_failures_total{bucket,operation}
//   thanos_objstore_bucket_operation_duration_seconds{bucket,operation}
//   thanos_objstore_bucket_last_successful_upload_time{bucket}
//
// Operations use Thanos's names: get, get_range, upload (Put, PutFile),
// attributes (Head), iter (List), delete (Delete, DeleteMany). As in Thanos,
// NotFound from get, get_range and attributes is an expected outcome, not a
// failure.
//
// Thread-safety: as the wrapped store; metric updates are lock-free.
#pragma once

#include <memory>
#include <string>

#include "io/object_store.h"

namespace sightline::telemetry {
class Registry;
class Counter;
class Histogram;
class Gauge;
}  // namespace sightline::telemetry

namespace sightline::io {

class InstrumentedObjectStore final : public ObjectStore {
 public:
  // `bucket` is the label value (the S3 bucket name, or the directory).
  // Metrics are registered in `registry` (Registry::Default() when null).
  InstrumentedObjectStore(std::unique_ptr<ObjectStore> inner, const std::string& bucket,
                          telemetry::Registry* registry = nullptr);
  ~InstrumentedObjectStore() override;

  Status Put(std::string_view key, std::string_view data, const PutOptions& opts = {}) override;
  Status PutFile(std::string_view key, const std::string& local_path,
                 const PutOptions& opts = {}) override;
  Result<std::string> Get(std::string_view key) override;
  Result<std::string> GetRange(std::string_view key, uint64_t offset, uint64_t length) override;
  Result<ObjectInfo> Head(std::string_view key) override;
  Result<ListPage> List(const ListOptions& opts) override;
  Status Delete(std::string_view key) override;
  Status DeleteMany(const std::vector<std::string>& keys) override;
  std::string Describe() const override { return inner_->Describe(); }

  ObjectStore* inner() const { return inner_.get(); }

 private:
  enum Op { kGet, kGetRange, kUpload, kAttributes, kIter, kDelete, kNumOps };
  struct OpMetrics {
    telemetry::Counter* total;
    telemetry::Counter* failures;
    telemetry::Histogram* duration;
  };
  template <typename Fn>
  auto Observe(Op op, Fn&& fn);

  std::unique_ptr<ObjectStore> inner_;
  OpMetrics metrics_[kNumOps];
  telemetry::Gauge* last_upload_;
};

}  // namespace sightline::io
