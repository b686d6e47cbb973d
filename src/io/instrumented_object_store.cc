#include "io/instrumented_object_store.h"

#include <chrono>

#include "telemetry/metrics.h"

namespace sightline::io {
namespace {

constexpr const char* kOpNames[] = {"get", "get_range", "upload", "attributes", "iter", "delete"};

bool IsFailure(const Status& s, bool not_found_expected) {
  if (s.ok()) return false;
  return !(not_found_expected && s.code() == StatusCode::kNotFound);
}

const Status& StatusOf(const Status& s) { return s; }
template <typename T>
const Status& StatusOf(const Result<T>& r) {
  return r.status();
}

}  // namespace

InstrumentedObjectStore::InstrumentedObjectStore(std::unique_ptr<ObjectStore> inner,
                                                 const std::string& bucket,
                                                 telemetry::Registry* registry)
    : inner_(std::move(inner)) {
  telemetry::Registry& reg = registry ? *registry : telemetry::Registry::Default();
  auto& total = reg.AddCounter("thanos_objstore_bucket_operations_total",
                               "Total number of all attempted operations against a bucket.",
                               {"bucket", "operation"});
  auto& failures = reg.AddCounter(
      "thanos_objstore_bucket_operation_failures_total",
      "Total number of operations against a bucket that failed, but were not expected to fail.",
      {"bucket", "operation"});
  // Thanos's buckets: object storage latencies run from milliseconds (a HEAD)
  // to minutes (a multi-GiB upload).
  auto& duration = reg.AddHistogram("thanos_objstore_bucket_operation_duration_seconds",
                                    "Duration of successful operations against the bucket",
                                    {"bucket", "operation"},
                                    {0.01, 0.1, 0.3, 0.6, 1, 3, 6, 9, 20, 30, 60, 90, 120});
  auto& last_upload =
      reg.AddGauge("thanos_objstore_bucket_last_successful_upload_time",
                   "Second timestamp of the last successful upload to the bucket.", {"bucket"});
  for (int op = 0; op < kNumOps; ++op) {
    metrics_[op].total = &total.WithLabels({bucket, kOpNames[op]});
    metrics_[op].failures = &failures.WithLabels({bucket, kOpNames[op]});
    metrics_[op].duration = &duration.WithLabels({bucket, kOpNames[op]});
  }
  last_upload_ = &last_upload.WithLabels({bucket});
}

InstrumentedObjectStore::~InstrumentedObjectStore() = default;

template <typename Fn>
auto InstrumentedObjectStore::Observe(Op op, Fn&& fn) {
  OpMetrics& m = metrics_[op];
  m.total->Inc();
  auto start = std::chrono::steady_clock::now();
  auto result = fn();
  const Status& s = StatusOf(result);
  bool not_found_expected = op == kGet || op == kGetRange || op == kAttributes;
  if (IsFailure(s, not_found_expected)) {
    m.failures->Inc();
  } else if (s.ok()) {
    // Like Thanos, only successful operations feed the latency histogram.
    m.duration->Observe(
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
    if (op == kUpload) {
      last_upload_->Set(
          std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch())
              .count());
    }
  }
  return result;
}

Status InstrumentedObjectStore::Put(std::string_view key, std::string_view data,
                                    const PutOptions& opts) {
  return Observe(kUpload, [&] { return inner_->Put(key, data, opts); });
}

Status InstrumentedObjectStore::PutFile(std::string_view key, const std::string& local_path,
                                        const PutOptions& opts) {
  return Observe(kUpload, [&] { return inner_->PutFile(key, local_path, opts); });
}

Result<std::string> InstrumentedObjectStore::Get(std::string_view key) {
  return Observe(kGet, [&] { return inner_->Get(key); });
}

Result<std::string> InstrumentedObjectStore::GetRange(std::string_view key, uint64_t offset,
                                                      uint64_t length) {
  return Observe(kGetRange, [&] { return inner_->GetRange(key, offset, length); });
}

Result<ObjectInfo> InstrumentedObjectStore::Head(std::string_view key) {
  return Observe(kAttributes, [&] { return inner_->Head(key); });
}

Result<ListPage> InstrumentedObjectStore::List(const ListOptions& opts) {
  return Observe(kIter, [&] { return inner_->List(opts); });
}

Status InstrumentedObjectStore::Delete(std::string_view key) {
  return Observe(kDelete, [&] { return inner_->Delete(key); });
}

Status InstrumentedObjectStore::DeleteMany(const std::vector<std::string>& keys) {
  return Observe(kDelete, [&] { return inner_->DeleteMany(keys); });
}

}  // namespace sightline::io
