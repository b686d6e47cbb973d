#include "profiles/scrape/remote_push.h"

#include <fmt/format.h>

#include <algorithm>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <optional>
#include <thread>

#include "base/compression.h"
#include "io/http_transport.h"
#include "pprof/profile.pb.h"
#include "pyroscope/push/v1/push.pb.h"
#include "telemetry/log.h"
#include "telemetry/metrics.h"

namespace sightline::profiles::scrape {

namespace {

constexpr std::string_view kPushPath = "/push.v1.PusherService/Push";

struct Item {
  std::string tenant;
  std::string body;  // a serialized PushRequest
};

struct Metrics {
  telemetry::Counter* sent;
  telemetry::Counter* failed;
  telemetry::Counter* dropped;
  telemetry::Counter* retries;
  telemetry::Gauge* queue;
};

Metrics& GlobalMetrics() {
  static Metrics* m = [] {
    auto& reg = telemetry::Registry::Default();
    auto* out = new Metrics;
    out->sent = &reg.AddCounter("sightline_profiles_remote_write_sent_total",
                                "Profiles the agent pushed to profiles.remote_write.url.")
                     .Get();
    out->failed = &reg.AddCounter("sightline_profiles_remote_write_failed_total",
                                  "Profiles given up on (a final error or retries exhausted).")
                       .Get();
    out->dropped = &reg.AddCounter("sightline_profiles_remote_write_dropped_total",
                                   "Profiles dropped because the push queue was full.")
                        .Get();
    out->retries = &reg.AddCounter("sightline_profiles_remote_write_retries_total",
                                   "Push attempts retried after a transient failure.")
                        .Get();
    out->queue = &reg.AddGauge("sightline_profiles_remote_write_queue_length",
                               "Profiles waiting to be pushed.")
                      .Get();
    return out;
  }();
  return *m;
}

}  // namespace

struct RemotePusher::Impl {
  RemotePushOptions o;
  std::string url;
  io::HttpTransport http;
  std::mutex mu;
  std::condition_variable cv;
  std::deque<Item> queue;
  bool stopping = false;
  RemotePushStats stats;
  std::thread worker;

  explicit Impl(RemotePushOptions opts)
      : o(std::move(opts)), http([&] {
          io::HttpTransportOptions h;
          h.connect_timeout_ms = static_cast<int>(std::min<int64_t>(o.timeout.count(), 10000));
          h.request_timeout_ms = static_cast<int>(o.timeout.count());
          h.max_idle_handles = 2;
          return h;
        }()) {}

  // One attempt: Ok, or the error with *retryable set.
  Status Send(const Item& item, bool* retryable) {
    io::HttpRequest req;
    req.method = "POST";
    req.url = url;
    req.headers = {{"Content-Type", "application/proto"}, {"X-Scope-OrgID", item.tenant}};
    req.body = item.body;
    bool transient = true;
    auto resp = http.Do(req, &transient);
    if (!resp.ok()) {
      *retryable = transient;
      return resp.status();
    }
    if (resp->status >= 200 && resp->status < 300) return Status::Ok();
    *retryable = resp->status == 429 || resp->status >= 500;
    std::string body = resp->body.substr(0, 300);
    return UnavailableError(fmt::format("push answered HTTP {}: {}", resp->status, body));
  }

  void Run() {
    Metrics& m = GlobalMetrics();
    std::unique_lock<std::mutex> l(mu);
    std::optional<std::chrono::steady_clock::time_point> drain_deadline;
    while (true) {
      cv.wait(l, [&] { return stopping || !queue.empty(); });
      if (queue.empty()) return;  // stopping, nothing left
      Item item = std::move(queue.front());
      queue.pop_front();
      m.queue->Set(static_cast<double>(queue.size()));
      const bool last_chance = stopping;
      if (last_chance) {
        const auto now = std::chrono::steady_clock::now();
        if (!drain_deadline) drain_deadline = now + std::chrono::seconds(2);
        if (now > *drain_deadline) {
          stats.dropped += queue.size() + 1;
          m.dropped->Inc(static_cast<double>(queue.size() + 1));
          queue.clear();
          m.queue->Set(0);
          return;
        }
      }
      l.unlock();
      auto backoff = o.min_backoff;
      Status s;
      int attempt = 0;
      while (true) {
        bool retryable = false;
        s = Send(item, &retryable);
        if (s.ok() || !retryable || last_chance || attempt >= o.max_retries) break;
        ++attempt;
        m.retries->Inc();
        l.lock();
        stats.retries++;
        const bool stop = cv.wait_for(l, backoff, [&] { return stopping; });
        l.unlock();
        if (stop) break;  // one more attempt is given by the drain below
        backoff = std::min(backoff * 2, o.max_backoff);
      }
      l.lock();
      if (s.ok()) {
        stats.sent++;
        m.sent->Inc();
      } else {
        stats.failed++;
        m.failed->Inc();
        log::Warn("profiles remote write failed",
                  {{"url", url}, {"tenant", item.tenant}, {"err", s.ToString()}});
      }
    }
  }
};

RemotePusher::RemotePusher(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

Result<std::unique_ptr<RemotePusher>> RemotePusher::Start(RemotePushOptions options) {
  if (options.url.rfind("http://", 0) != 0 && options.url.rfind("https://", 0) != 0) {
    return InvalidArgumentError(fmt::format(
        "profiles.remote_write.url \"{}\": want an http:// or https:// URL", options.url));
  }
  if (options.queue_capacity == 0) options.queue_capacity = 1;
  if (options.min_backoff.count() <= 0) options.min_backoff = std::chrono::milliseconds(10);
  if (options.max_backoff < options.min_backoff) options.max_backoff = options.min_backoff;
  auto impl = std::make_unique<Impl>(std::move(options));
  std::string url = impl->o.url;
  while (!url.empty() && url.back() == '/') url.pop_back();
  if (url.size() < kPushPath.size() ||
      url.compare(url.size() - kPushPath.size(), kPushPath.size(), kPushPath) != 0) {
    url += kPushPath;
  }
  impl->url = std::move(url);
  GlobalMetrics();
  Impl* raw = impl.get();
  impl->worker = std::thread([raw] { raw->Run(); });
  return std::unique_ptr<RemotePusher>(new RemotePusher(std::move(impl)));
}

RemotePusher::~RemotePusher() { Stop(); }

void RemotePusher::Push(const std::string& tenant, const Labels& labels,
                        const perftools::profiles::Profile& profile) {
  push::v1::PushRequest req;
  auto* series = req.add_series();
  for (const auto& [n, v] : labels) {
    auto* l = series->add_labels();
    l->set_name(n);
    l->set_value(v);
  }
  std::string raw = profile.SerializeAsString();
  auto gz = Compress(Codec::kGzip, raw, 1);
  series->add_samples()->set_raw_profile(gz.ok() ? *gz : raw);
  Item item{tenant, req.SerializeAsString()};
  Metrics& m = GlobalMetrics();
  std::lock_guard<std::mutex> l(impl_->mu);
  if (impl_->stopping) return;
  while (impl_->queue.size() >= impl_->o.queue_capacity) {
    impl_->queue.pop_front();
    impl_->stats.dropped++;
    m.dropped->Inc();
  }
  impl_->queue.push_back(std::move(item));
  m.queue->Set(static_cast<double>(impl_->queue.size()));
  impl_->cv.notify_one();
}

void RemotePusher::Stop() {
  if (!impl_) return;
  {
    std::lock_guard<std::mutex> l(impl_->mu);
    if (impl_->stopping && !impl_->worker.joinable()) return;
    impl_->stopping = true;
  }
  impl_->cv.notify_all();
  if (impl_->worker.joinable()) impl_->worker.join();
}

RemotePushStats RemotePusher::Stats() const {
  std::lock_guard<std::mutex> l(impl_->mu);
  RemotePushStats s = impl_->stats;
  s.queued = impl_->queue.size();
  return s;
}

}  // namespace sightline::profiles::scrape
