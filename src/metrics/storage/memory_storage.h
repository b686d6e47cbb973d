// MemoryStorage: an in-memory metrics store implementing Appendable and
// Queryable (storage.h), per tenant.
//
// It is the reference store for engine unit tests, the PromQL conformance
// runner (promqltest) and benchmarks: simple enough to trust, with the write
// semantics of Prometheus's head block:
//   - samples of a series are kept sorted by time; appending a timestamp older
//     than the series' newest sample fails with "out of order sample";
//   - appending the newest timestamp again with a different value fails with
//     "duplicate sample for timestamp" (the same value, bit for bit, is
//     accepted and ignored);
//   - staleness markers (kStaleNaN) are stored bit for bit.
// Samples live in fixed-size chunks that never move once written, so a
// Querier reads a consistent snapshot (the samples committed when it called
// Select) without holding a lock while iterating.
//
// Thread-safety: NewAppender, NewQuerier and the accessors may be called from
// any thread. An Appender or a Querier is used by one thread at a time.
// Clear() must not run while a Querier of this store is alive (the test
// runner clears between scripts; nothing else should).
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <vector>

#include "metrics/storage/storage.h"

namespace sightline::metrics {

class MemoryStorage final : public Appendable, public Queryable {
 public:
  MemoryStorage();
  ~MemoryStorage() override;
  MemoryStorage(const MemoryStorage&) = delete;
  MemoryStorage& operator=(const MemoryStorage&) = delete;

  std::unique_ptr<Appender> NewAppender(std::string_view tenant) override;
  Result<std::unique_ptr<Querier>> NewQuerier(std::string_view tenant, int64_t mint,
                                              int64_t maxt) override;

  // Drops every tenant's data.
  void Clear();

  // Number of series / samples of `tenant` (0 for an unknown tenant).
  size_t NumSeries(std::string_view tenant) const;
  size_t NumSamples(std::string_view tenant) const;

  // Metadata recorded by Appender::UpdateMetadata; NotFound when absent.
  Result<MetricMetadata> Metadata(std::string_view tenant, const std::string& family) const;
  // Exemplars of the series `labels`, in append order.
  std::vector<Exemplar> Exemplars(std::string_view tenant, const Labels& labels) const;

  struct Tenant;  // Implementation detail (memory_storage.cc).

 private:
  class AppenderImpl;
  friend class AppenderImpl;

  Tenant* FindTenant(std::string_view tenant) const;   // Requires mu_ held.
  Tenant* GetOrCreateTenant(std::string_view tenant);  // Requires mu_ held exclusively.

  mutable std::shared_mutex mu_;
  std::map<std::string, std::unique_ptr<Tenant>, std::less<>> tenants_;
};

}  // namespace sightline::metrics
