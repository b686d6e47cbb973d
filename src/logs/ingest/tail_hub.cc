#include "logs/ingest/tail_hub.h"

#include <fmt/format.h>

#include "telemetry/metrics.h"

namespace sightline::logs::ingest {

namespace {

telemetry::Counter& UnpublishedCounter() {
  static telemetry::Counter& c =
      telemetry::Registry::Default()
          .AddCounter("sightline_logs_tail_unpublished_pushes_total",
                      "Pushes not shown to live tails because the store rejected part of them.")
          .Get();
  return c;
}

}  // namespace

TailHub::TailHub(LogAppender* next) : next_(next) {}

TailHub::~TailHub() = default;

TailHub::Subscription::~Subscription() { hub_->Unsubscribe(tenant_, id_); }

Status TailHub::Append(std::string_view tenant, std::vector<PushStream>& streams,
                       AppendResult* result) {
  std::shared_ptr<const SubList> subs;
  if (any_.load(std::memory_order_acquire)) {
    std::lock_guard lock(mu_);
    auto it = subs_.find(tenant);
    if (it != subs_.end()) subs = it->second;
  }
  if (!subs || subs->empty()) return next_->Append(tenant, streams, result);

  // The store may consume `streams`: keep a copy for the subscribers, and
  // ask the store for what it actually stored.
  std::vector<PushStream> copy = streams;
  std::vector<PushStream> stored;
  AppendResult local;
  AppendResult* r = result != nullptr ? result : &local;
  size_t rejections_before = r->rejections.size();
  std::vector<PushStream>* prev_accepted = r->accepted;
  r->accepted = &stored;
  r->accepted_reported = false;
  Status s = next_->Append(tenant, streams, r);
  r->accepted = prev_accepted;
  if (!s.ok()) return s;
  if (prev_accepted != nullptr) prev_accepted->insert(prev_accepted->end(), stored.begin(), stored.end());
  const std::vector<PushStream>* publish = &copy;
  if (r->rejections.size() != rejections_before) {
    if (!r->accepted_reported) {
      unpublished_.fetch_add(1);
      UnpublishedCounter().Inc();
      return s;
    }
    publish = &stored;
  }
  if (publish->empty()) return s;
  for (const auto& [id, sub] : *subs) sub->callback(*publish);
  return s;
}

Result<std::unique_ptr<TailHub::Subscription>> TailHub::Subscribe(std::string_view tenant,
                                                                   int max_per_tenant,
                                                                   Callback callback) {
  std::lock_guard lock(mu_);
  auto it = subs_.find(tenant);
  size_t have = it == subs_.end() ? 0 : it->second->size();
  if (max_per_tenant > 0 && have >= static_cast<size_t>(max_per_tenant)) {
    return ResourceExhaustedError(
        fmt::format("max concurrent tail requests limit exceeded, count > limit ({} > {})",
                    have + 1, max_per_tenant));
  }
  auto list = std::make_shared<SubList>();
  if (it != subs_.end()) *list = *it->second;
  uint64_t id = next_id_++;
  list->emplace_back(id, std::make_shared<const Sub>(Sub{std::move(callback)}));
  subs_[std::string(tenant)] = std::move(list);
  any_.store(true, std::memory_order_release);
  return std::unique_ptr<Subscription>(new Subscription(this, std::string(tenant), id));
}

void TailHub::Unsubscribe(const std::string& tenant, uint64_t id) {
  std::lock_guard lock(mu_);
  auto it = subs_.find(tenant);
  if (it == subs_.end()) return;
  auto list = std::make_shared<SubList>();
  for (const auto& e : *it->second) {
    if (e.first != id) list->push_back(e);
  }
  if (list->empty()) {
    subs_.erase(it);
  } else {
    it->second = std::move(list);
  }
  any_.store(!subs_.empty(), std::memory_order_release);
}

int TailHub::Subscribers(std::string_view tenant) const {
  std::lock_guard lock(mu_);
  auto it = subs_.find(tenant);
  return it == subs_.end() ? 0 : static_cast<int>(it->second->size());
}

}  // namespace sightline::logs::ingest
