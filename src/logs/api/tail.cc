#include "logs/api/tail.h"

#include <fmt/format.h>

#include <algorithm>
#include <charconv>
#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <unordered_set>
#include <vector>

#include "logs/ingest/tail_hub.h"
#include "logs/logql/engine.h"
#include "metrics/api/prometheus_format.h"
#include "telemetry/log.h"

namespace sightline::logs::api {

namespace {

constexpr int64_t kSecondNs = 1'000'000'000;
// Loki's querier: frames of at most 100 entries, 10 frames buffered, 1000
// dropped entries remembered (pkg/querier/tail).
constexpr size_t kMaxEntriesPerFrame = 100;
constexpr uint64_t kMaxFramesInFlight = 10;
constexpr size_t kMaxDroppedEntries = 1000;
constexpr int kMaxDelayFor = 5;
constexpr int kDefaultMaxTails = 10;

int64_t WallNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// What the pushing threads hand to a tail session.
struct LiveBuffer {
  std::mutex mu;
  std::vector<std::pair<Labels, Entry>> entries;  // stream labels, raw entry
  std::vector<std::pair<int64_t, Labels>> dropped;
};

struct Item {
  Labels labels;  // the frame's stream labels
  logql::LogEntry entry;
};

struct Dropped {
  int64_t ts;
  Labels labels;
};

uint64_t EntryKey(const Labels& labels, int64_t ts, std::string_view line) {
  uint64_t h = labels.Hash();
  h ^= std::hash<int64_t>()(ts) + 0x9e3779b97f4a7c15ull + (h << 6) + (h >> 2);
  h ^= std::hash<std::string_view>()(line) + 0x9e3779b97f4a7c15ull + (h << 6) + (h >> 2);
  return h;
}

bool StreamMatches(const std::vector<Matcher>& matchers, const Labels& labels) {
  for (const auto& m : matchers) {
    if (!m.Matches(labels.Get(m.name()))) return false;
  }
  return true;
}

// The stream labels of a processed entry under categorize-labels: the full
// set without structured metadata and parsed labels.
Labels StreamPart(const Labels& all, const logql::LogEntry& e) {
  if (e.structured_metadata.empty() && e.parsed.empty()) return all;
  std::vector<tsdb::Label> keep;
  for (const auto& l : all) {
    if (e.structured_metadata.Has(l.name) || e.parsed.Has(l.name)) continue;
    keep.push_back(l);
  }
  return Labels::FromSortedUnchecked(std::move(keep));
}

std::string Frame(const std::vector<Item>& items, const std::vector<Dropped>& dropped,
                  bool categorize) {
  std::string out = "{\"streams\":[";
  for (size_t i = 0; i < items.size(); ++i) {
    if (i) out += ",";
    out += "{\"stream\":";
    metrics::api::AppendLabels(out, items[i].labels);
    out += ",\"values\":[";
    AppendLokiEntry(out, items[i].entry, categorize);
    out += "]}";
  }
  out += "]";
  if (!dropped.empty()) {
    out += ",\"dropped_entries\":[";
    for (size_t i = 0; i < dropped.size(); ++i) {
      if (i) out += ",";
      out += "{\"timestamp\":\"" + std::to_string(dropped[i].ts) + "\",\"labels\":";
      metrics::api::AppendLabels(out, dropped[i].labels);
      out += "}";
    }
    out += "]";
  }
  if (categorize) out += ",\"encodingFlags\":[\"categorize-labels\"]";
  out += "}";
  return out;
}

struct TailRequest {
  std::string tenant;
  std::string query;
  logql::ParsedQuery parsed;
  size_t limit = 100;
  int64_t start_ns = 0;
  int delay_for = 0;
  bool categorize = false;
};

class Tailer {
 public:
  Tailer(ingest::TailHub* hub, QuerierFactory queriers, const logql::Engine* engine,
         TailOptions o)
      : hub_(hub), queriers_(std::move(queriers)), engine_(engine), o_(std::move(o)) {
    if (!o_.now_ns) o_.now_ns = WallNs;
    if (!o_.max_concurrent_tail_requests) {
      o_.max_concurrent_tail_requests = [](std::string_view) { return kDefaultMaxTails; };
    }
  }

  // Worker: parse and check the request; nullptr after answering `resp`.
  net::WebSocketSession Prepare(net::HttpRequest& req, net::HttpResponse& resp) {
    auto r = std::make_shared<TailRequest>();
    r->tenant = req.tenant();
    r->query = std::string(req.Param("query").value_or(""));
    auto parsed = logql::Parse(r->query);
    if (!parsed.ok()) return Fail(resp, parsed.status().message());
    if (!parsed->IsLogQuery()) {
      return Fail(resp, "tail requires a log query, not a metric query");
    }
    r->parsed = std::move(parsed).value();
    auto limit = ParseLokiLimit(req.Param("limit").value_or(""), 100);
    if (!limit.ok()) return Fail(resp, limit.status().message());
    r->limit = *limit;
    int64_t now = o_.now_ns();
    r->start_ns = now - 3600 * kSecondNs;
    if (auto start = req.Param("start"); start && !start->empty()) {
      auto t = ParseLokiTime(*start);
      if (!t.ok()) return Fail(resp, "invalid start time: " + t.status().message());
      r->start_ns = *t;
    }
    if (auto d = req.Param("delay_for"); d && !d->empty()) {
      int v = 0;
      auto [p, ec] = std::from_chars(d->data(), d->data() + d->size(), v);
      if (ec != std::errc() || p != d->data() + d->size()) {
        return Fail(resp, "strconv.Atoi: parsing \"" + std::string(*d) + "\": invalid syntax");
      }
      if (v > kMaxDelayFor) {
        return Fail(resp, fmt::format("delay_for can't be greater than {}", kMaxDelayFor));
      }
      r->delay_for = std::max(0, v);
    }
    if (auto flags = req.Header("X-Loki-Response-Encoding-Flags")) {
      r->categorize = flags->find("categorize-labels") != std::string_view::npos;
    }
    return [this, r](net::WebSocket& ws) { Run(*r, ws); };
  }

 private:
  static net::WebSocketSession Fail(net::HttpResponse& resp, const std::string& msg) {
    resp.Text(400, msg + "\n");
    return nullptr;
  }

  // The session's own thread.
  void Run(const TailRequest& r, net::WebSocket& ws) {
    auto pipeline = logql::LogPipeline::Make(r.parsed);
    if (!pipeline.ok()) return ws.Close(1011, pipeline.status().message());
    const std::vector<Matcher> matchers = (*pipeline)->matchers();

    // Subscribe before the history query so that nothing pushed meanwhile
    // is missed; duplicates of history are filtered below.
    auto live = std::make_shared<LiveBuffer>();
    const size_t max_buffered = o_.max_buffered_entries;
    auto sub = hub_->Subscribe(
        r.tenant, o_.max_concurrent_tail_requests(r.tenant),
        [live, matchers, max_buffered](const std::vector<PushStream>& streams) {
          for (const auto& s : streams) {
            if (!StreamMatches(matchers, s.labels)) continue;
            std::lock_guard lock(live->mu);
            for (const auto& e : s.entries) {
              if (live->entries.size() < max_buffered) {
                live->entries.emplace_back(s.labels, e);
              } else if (live->dropped.size() < kMaxDroppedEntries) {
                live->dropped.emplace_back(e.timestamp_ns, s.labels);
              }
            }
          }
        });
    if (!sub.ok()) return ws.Close(1011, sub.status().message());
    log::Info("starting to tail logs", {{"tenant", r.tenant}, {"query", r.query}});

    std::multimap<int64_t, Item> pending;
    std::unordered_set<uint64_t> history;
    const int64_t history_end = o_.now_ns();
    {
      auto querier = queriers_(r.tenant);
      if (!querier.ok()) return ws.Close(1011, querier.status().message());
      logql::QueryParams p;
      p.query = r.query;
      p.start_ns = r.start_ns;
      p.end_ns = history_end + 1;
      p.direction = Direction::kBackward;
      p.limit = std::min(r.limit, engine_->options().max_entries_limit);
      p.categorize_labels = r.categorize;
      // The history is bounded by `limit`, not by the query's entry limit.
      auto res = engine_->Exec(**querier, r.parsed, p);
      if (!res.ok()) return ws.Close(1011, res.status().message());
      for (auto& s : res->streams) {
        for (auto& e : s.entries) {
          history.insert(EntryKey(s.labels, e.timestamp_ns, e.line));
          int64_t ts = e.timestamp_ns;
          pending.emplace(ts, Item{s.labels, std::move(e)});
        }
      }
    }

    const int64_t delay_ns = int64_t{r.delay_for} * kSecondNs;
    const auto deadline = std::chrono::steady_clock::now() + o_.tail_max_duration;
    std::vector<Dropped> dropped;
    auto drop = [&](int64_t ts, const Labels& labels) {
      if (dropped.size() < kMaxDroppedEntries) dropped.push_back({ts, labels});
    };
    uint64_t frames_sent = 0;
    std::vector<std::pair<Labels, Entry>> batch;
    std::vector<std::pair<int64_t, Labels>> batch_dropped;
    logql::LogEntry out;
    Labels out_labels;
    while (!ws.closed()) {
      {
        std::lock_guard lock(live->mu);
        batch.swap(live->entries);
        batch_dropped.swap(live->dropped);
      }
      for (auto& [ts, labels] : batch_dropped) drop(ts, labels);
      batch_dropped.clear();
      for (auto& [labels, entry] : batch) {
        out = logql::LogEntry();
        if (!(*pipeline)->Process(labels, entry, &out, &out_labels)) continue;
        Labels frame_labels = r.categorize ? StreamPart(out_labels, out) : out_labels;
        if (out.timestamp_ns < history_end && !history.empty() &&
            history.count(EntryKey(frame_labels, out.timestamp_ns, out.line)) != 0) {
          continue;
        }
        int64_t ts = out.timestamp_ns;
        pending.emplace(ts, Item{std::move(frame_labels), std::move(out)});
      }
      batch.clear();

      // Entries leave once they are delay_for old, oldest first.
      const int64_t now = o_.now_ns();
      while (!pending.empty() && pending.begin()->first + delay_ns < now && !ws.closed()) {
        std::vector<Item> items;
        while (!pending.empty() && items.size() < kMaxEntriesPerFrame &&
               pending.begin()->first + delay_ns < now) {
          items.push_back(std::move(pending.begin()->second));
          pending.erase(pending.begin());
        }
        if (frames_sent - ws.messages_sent() >= kMaxFramesInFlight) {
          for (const auto& it : items) drop(it.entry.timestamp_ns, it.labels);
          continue;
        }
        if (!ws.Send(Frame(items, dropped, r.categorize))) break;
        ++frames_sent;
        dropped.clear();
      }
      if (std::chrono::steady_clock::now() >= deadline) {
        ws.Close(1011, "reached tail max duration limit");
        break;
      }
      ws.WaitClosed(o_.poll_interval);
    }
    log::Info("ended tailing logs", {{"tenant", r.tenant}, {"query", r.query}});
  }

  ingest::TailHub* hub_;
  QuerierFactory queriers_;
  const logql::Engine* engine_;
  TailOptions o_;
};

}  // namespace

void RegisterTailRoute(net::Router& router, ingest::TailHub* hub, QuerierFactory queriers,
                       const logql::Engine* engine, TailOptions options) {
  net::RouteOptions ro;
  ro.name = "loki_api_v1_tail";
  ro.duration_histogram = options.duration;
  auto tailer = std::make_shared<Tailer>(hub, std::move(queriers), engine, std::move(options));
  router.AddWebSocket(
      "/loki/api/v1/tail",
      [tailer](net::HttpRequest& req, net::HttpResponse& resp) {
        return tailer->Prepare(req, resp);
      },
      ro);
}

}  // namespace sightline::logs::api
