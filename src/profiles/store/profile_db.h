// ProfileDB: the profiles ingester's storage, for every tenant.
//
// Per tenant, under <data_dir>/profiles/<tenant>/:
//   wal/             the shared WAL (src/wal); one record per ingested pprof
//                    profile (docs/formats/profiles-wal.md)
//   blocks/<ULID>/   immutable blocks: profiles.bin (a zstd-compressed
//                    Segment) then meta.json (docs/formats/profiles-block.md)
// and in the object store, profiles/<tenant>/<ULID>/ as uploaded by the
// shared blocks::Shipper (retried with backoff, resumed after restarts).
//
// Write path: Append() writes the WAL record (group commit, fsync'd with the
// default policy) and then adds the profile to the tenant's head Segment; an
// acknowledged Append survives kill -9 (Open() replays the WAL). The head is
// cut into a block when it spans block_duration of profile time or has been
// open that long in wall time (checked by a background thread), or on Cut().
//
// Read path: View() calls back with the head (under its read lock) and every
// block overlapping [start, end]: local blocks, and object-store blocks that
// are not on local disk (fetched and cached in memory).
//
// Thread-safety: all methods may be called from any thread, except Close()
// which must not race with other calls.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"
#include "profiles/store/segment.h"

namespace perftools::profiles {
class Profile;
}
namespace sightline::io {
class Env;
class ObjectStore;
}  // namespace sightline::io

namespace sightline::profiles {

struct ProfileDBOptions {
  std::string data_dir;              // profiles live under <data_dir>/profiles/
  io::ObjectStore* store = nullptr;  // nullptr: no shipping, local blocks only
  io::Env* env = nullptr;            // nullptr: io::Env::Default()
  bool wal_sync = true;              // fsync before acknowledging (group commit)
  std::chrono::milliseconds block_duration{std::chrono::hours(1)};
  std::chrono::milliseconds ship_interval{std::chrono::seconds(30)};
  // How often the background thread checks whether heads should be cut;
  // 0 disables the thread (tests and benchmarks cut by hand).
  std::chrono::milliseconds cut_check_interval{std::chrono::seconds(10)};
  // Retention (0: keep forever): blocks whose newest profile is older than
  // `retention` are deleted, locally and in the object store (the seed's
  // profiles tier: 7 days); local copies of uploaded blocks go after
  // `local_retention` (queries then read them from the object store).
  // Applied by the background thread every `retention_interval`.
  std::chrono::milliseconds retention{std::chrono::hours(7 * 24)};
  std::chrono::milliseconds local_retention{std::chrono::hours(2)};
  std::chrono::milliseconds retention_interval{std::chrono::minutes(5)};
  // Blocks read from the object store stay decoded in memory for the next
  // query, up to this many bytes (decoded segment size) across tenants;
  // the least recently used go first. 0: do not keep them at all.
  uint64_t remote_cache_bytes = 512ull << 20;
};

// Where the query layer reads from: a narrow interface so that query code
// can be tested over hand-built segments.
class SegmentSource {
 public:
  virtual ~SegmentSource() = default;
  // Calls `fn` for every segment of `tenant` that may hold profiles in
  // [start_ms, end_ms]. The segment is only valid during the call.
  virtual Status View(std::string_view tenant, int64_t start_ms, int64_t end_ms,
                      const std::function<void(const Segment&)>& fn) = 0;
};

struct ProfileDBStats {
  uint64_t head_profiles = 0;
  uint64_t blocks = 0;
  uint64_t block_bytes = 0;  // profiles.bin bytes over local blocks
};

class ProfileDB : public SegmentSource {
 public:
  static Result<std::unique_ptr<ProfileDB>> Open(ProfileDBOptions options);
  ~ProfileDB() override;
  ProfileDB(const ProfileDB&) = delete;
  ProfileDB& operator=(const ProfileDB&) = delete;

  // Stores one profile: `base` carries service_name and the series labels
  // (and __name__ if the client named the profile); `time_ms` its time.
  // InvalidArgument if the profile's ids do not resolve (nothing is stored).
  Status Append(std::string_view tenant, const Labels& base,
                const perftools::profiles::Profile& profile, int64_t time_ms);

  Status View(std::string_view tenant, int64_t start_ms, int64_t end_ms,
              const std::function<void(const Segment&)>& fn) override;

  // Cuts every non-empty head into a block and asks the shippers to upload.
  Status Cut();
  // Uploads every cut block now (tests).
  Status Ship();
  // Applies retention and local_retention as of `now_ms` (the background
  // thread calls it; tests call it by hand).
  Status ApplyRetention(int64_t now_ms);

  std::vector<std::string> Tenants() const;
  ProfileDBStats Stats(std::string_view tenant) const;
  // Bytes of object-store blocks held decoded (≤ remote_cache_bytes once
  // a query returns), and how many blocks that is.
  uint64_t RemoteCacheBytes() const;
  size_t RemoteCachedBlocks() const;

  // Stops the background thread and shippers, closes the WALs. Idempotent.
  Status Close();

 private:
  struct Tenant;
  explicit ProfileDB(ProfileDBOptions options);
  Result<Tenant*> GetTenant(std::string_view tenant, bool create);
  Status OpenTenant(Tenant* t);
  Status CutTenant(Tenant* t);
  // One background pass: cut the heads that are due, retention when due.
  void Tick();
  // Drops least recently used remote segments until the cache fits.
  void EvictRemote();

  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace sightline::profiles
