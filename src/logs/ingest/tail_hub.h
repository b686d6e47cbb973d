// TailHub: the live feed behind /loki/api/v1/tail. It sits between the
// distributor and the store as a LogAppender decorator: every push goes to
// the store first, and once the store made it durable, the pushed streams
// are handed to the tenant's subscribers (open tail connections). This is
// the ingester side of Loki's tail (pkg/ingester/tailer.go): a subscriber
// sees entries pushed after it subscribed; history comes from a query.
//
// Only stored entries are published. When the store refused part of a push
// (out of order, stream limit: AppendResult::rejections) the hub publishes
// exactly the entries the store reports as stored (AppendResult::accepted,
// which LogStore fills). Only a downstream appender that cannot report them
// leaves such a push unpublished, counted in
// sightline_logs_tail_unpublished_pushes_total.
//
// Callbacks run on the pushing thread, synchronously, under no lock of the
// hub's that Subscribe/Unsubscribe need: they must be quick (filter, copy,
// hand to another thread) and must not block. A push already in flight may
// still call a callback shortly after its Subscription was destroyed, so a
// callback holds what it touches by shared_ptr.
//
// Thread-safety: all methods may be called concurrently. The downstream
// appender must outlive the hub; a Subscription must not outlive the hub.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"
#include "logs/store/appender.h"

namespace sightline::logs::ingest {

class TailHub : public LogAppender {
 public:
  // Called with the streams of one stored push (each stream's labels and
  // the entries in push order).
  using Callback = std::function<void(const std::vector<PushStream>& streams)>;

  explicit TailHub(LogAppender* next);
  ~TailHub() override;
  TailHub(const TailHub&) = delete;
  TailHub& operator=(const TailHub&) = delete;

  // Forwards to the store, then publishes (see above).
  Status Append(std::string_view tenant, std::vector<PushStream>& streams,
                AppendResult* result) override;

  // Unsubscribes on destruction.
  class Subscription {
   public:
    ~Subscription();
    Subscription(const Subscription&) = delete;
    Subscription& operator=(const Subscription&) = delete;

   private:
    friend class TailHub;
    Subscription(TailHub* hub, std::string tenant, uint64_t id)
        : hub_(hub), tenant_(std::move(tenant)), id_(id) {}
    TailHub* hub_;
    std::string tenant_;
    uint64_t id_;
  };

  // Adds a subscriber for `tenant` unless it already has `max_per_tenant`
  // (> 0; 0 means no limit): then ResourceExhausted with Loki's message
  // "max concurrent tail requests limit exceeded, count > limit (11 > 10)".
  Result<std::unique_ptr<Subscription>> Subscribe(std::string_view tenant, int max_per_tenant,
                                                  Callback callback);

  // Open subscriptions of `tenant`.
  int Subscribers(std::string_view tenant) const;
  // Pushes not published because the store rejected part of them.
  uint64_t unpublished_pushes() const { return unpublished_.load(); }

 private:
  void Unsubscribe(const std::string& tenant, uint64_t id);

  struct Sub {
    Callback callback;
  };
  using SubList = std::vector<std::pair<uint64_t, std::shared_ptr<const Sub>>>;

  LogAppender* next_;
  mutable std::mutex mu_;
  // Copy-on-write per tenant, so that publishing takes the lock only to
  // grab the current list.
  std::map<std::string, std::shared_ptr<const SubList>, std::less<>> subs_;
  std::atomic<bool> any_{false};
  uint64_t next_id_ = 1;
  std::atomic<uint64_t> unpublished_{0};
};

}  // namespace sightline::logs::ingest
