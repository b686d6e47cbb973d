// RemotePusher: the agent role's way out when this process runs no profiles
// ingester. Scraped profiles are queued and POSTed one per request to a
// Sightline or Pyroscope distributor's Connect Push API
// (`<url>/push.v1.PusherService/Push`, application/proto, the pprof gzipped
// in RawSample.raw_profile, all labels incl. __name__ as the series labels)
// with `X-Scope-OrgID: <tenant>`.
//
// Delivery: a bounded queue (capacity profiles; when full the OLDEST is
// dropped and counted), one sender thread, retries of transient failures
// (no response, 429, 5xx) with exponential backoff from min_backoff to
// max_backoff, at most max_retries times; other 4xx answers are final
// (counted and logged). What is queued at Stop() gets one attempt each
// within a couple of seconds; the rest is dropped. Not durable across
// restarts: a scrape that is lost is taken again at the next interval.
//
// Metrics: sightline_profiles_remote_write_{sent,failed,dropped,retries}_total,
// sightline_profiles_remote_write_queue_length.
//
// Thread-safety: Push and Stop may be called from any thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

#include "base/status.h"
#include "profiles/store/segment.h"

namespace perftools::profiles {
class Profile;
}

namespace sightline::profiles::scrape {

struct RemotePushOptions {
  std::string url;  // base URL; the Push path is appended unless already there
  size_t queue_capacity = 256;
  int max_retries = 10;
  std::chrono::milliseconds min_backoff{100};
  std::chrono::milliseconds max_backoff{10'000};
  std::chrono::milliseconds timeout{10'000};
};

struct RemotePushStats {
  uint64_t sent = 0;
  uint64_t failed = 0;   // final errors and retries exhausted
  uint64_t dropped = 0;  // queue full
  uint64_t retries = 0;
  size_t queued = 0;
};

class RemotePusher {
 public:
  // InvalidArgument for a URL that is not http(s)://.
  static Result<std::unique_ptr<RemotePusher>> Start(RemotePushOptions options);
  ~RemotePusher();  // Stop()
  RemotePusher(const RemotePusher&) = delete;
  RemotePusher& operator=(const RemotePusher&) = delete;

  // Serializes and queues one profile; never blocks on the network.
  void Push(const std::string& tenant, const Labels& labels,
            const perftools::profiles::Profile& profile);
  void Stop();
  RemotePushStats Stats() const;

 private:
  struct Impl;
  explicit RemotePusher(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace sightline::profiles::scrape
