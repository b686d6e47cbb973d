#include "traces/gateway/otlp_exporter.h"

#include <algorithm>
#include <charconv>
#include <condition_variable>
#include <deque>
#include <map>
#include <mutex>
#include <random>
#include <set>
#include <shared_mutex>
#include <thread>
#include <unordered_set>

#include "base/coding.h"
#include "base/compression.h"
#include "io/http_transport.h"
#include "opentelemetry/proto/collector/trace/v1/trace_service.pb.h"
#include "opentelemetry/proto/trace/v1/trace.pb.h"
#include "telemetry/log.h"
#include "telemetry/metrics.h"
#include "traces/ingest/otlp_convert.h"
#include "traces/store/codec.h"
#include "wal/wal.h"

namespace sightline::traces::gateway {

namespace coltrace = opentelemetry::proto::collector::trace::v1;
namespace otrace = opentelemetry::proto::trace::v1;

namespace {

constexpr uint8_t kDataRecord = 1;
constexpr uint8_t kAckRecord = 2;

// One data record waiting for the downstream.
struct Item {
  uint64_t seq = 0;
  std::string tenant;
  uint64_t spans = 0;
  uint32_t segment = 0;  // WAL segment holding the record
  std::string record;    // the whole WAL record
  std::chrono::steady_clock::time_point enqueued;
};

// Parses a data record's header; `traces` gets the trace records.
bool ParseData(std::string_view rec, uint64_t* seq, std::string* tenant, uint64_t* spans,
               std::vector<std::string_view>* traces) {
  coding::Reader r(rec);
  if (r.Byte() != kDataRecord) return false;
  *seq = r.Uvarint();
  *tenant = std::string(r.LengthPrefixed());
  *spans = r.Uvarint();
  uint64_t n = r.Uvarint();
  if (!r.ok()) return false;
  if (traces != nullptr) {
    traces->clear();
    for (uint64_t i = 0; i < n && r.ok(); ++i) traces->push_back(r.LengthPrefixed());
  }
  return r.ok();
}

// Seconds of a Retry-After header (delta-seconds form); -1 when absent or
// an HTTP date (then the computed backoff applies).
int64_t RetryAfterSeconds(std::string_view v) {
  while (!v.empty() && v.front() == ' ') v.remove_prefix(1);
  while (!v.empty() && v.back() == ' ') v.remove_suffix(1);
  int64_t s = -1;
  auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), s);
  if (ec != std::errc() || p != v.data() + v.size() || s < 0) return -1;
  return s;
}

}  // namespace

struct OtlpExporter::Impl {
  ExporterOptions o;
  std::string url;
  std::unique_ptr<wal::Wal> wal;
  std::unique_ptr<io::HttpTransport> http;

  // Appends (data and acks) hold this shared; segment deletion holds it
  // exclusively, so that every appended data record is in `queue` when the
  // oldest pending segment is computed.
  std::shared_mutex append_mu;

  mutable std::mutex mu;
  std::condition_variable cv;
  std::deque<Item> queue;  // in sequence order (mostly; see Enqueue)
  uint64_t next_seq = 1;
  uint64_t queued_spans = 0;    // including reservations of appends in flight
  uint64_t queued_bytes = 0;
  uint64_t bytes_since_rotate = 0;
  bool stopping = false;
  std::thread sender;
  bool closed = false;
  Stats stats;

  telemetry::Counter* sent;
  telemetry::Counter* failed;
  telemetry::Counter* enqueue_failed;
  telemetry::Counter* rejected;
  telemetry::Counter* retries;
  telemetry::Gauge* queue_size_gauge;
  telemetry::Gauge* queue_capacity_gauge;
  telemetry::Gauge* queue_bytes_gauge;

  void UpdateGaugesLocked() {
    queue_size_gauge->Set(static_cast<double>(queued_spans));
    queue_bytes_gauge->Set(static_cast<double>(queued_bytes));
  }

  bool WouldOverflowLocked(uint64_t spans, uint64_t bytes) const {
    if (o.queue_size > 0 && queued_spans + spans > o.queue_size && queued_spans > 0) return true;
    if (queued_bytes + bytes > o.queue_max_bytes && queued_bytes > 0) return true;
    return false;
  }

  // Writes an ack record for `seqs` and deletes the segments no longer
  // needed.
  void Ack(const std::vector<uint64_t>& seqs) {
    std::string rec;
    rec.push_back(static_cast<char>(kAckRecord));
    coding::PutUvarint(rec, seqs.size());
    for (uint64_t s : seqs) coding::PutUvarint(rec, s);
    {
      std::shared_lock l(append_mu);
      auto pos = wal->Append(rec);
      if (!pos.ok()) {
        // The batch is gone from memory; after a restart it would be sent
        // again (at least once).
        log::Warn("gateway queue: writing an ack failed", {{"err", pos.status().ToString()}});
      }
    }
    std::set<uint64_t> done(seqs.begin(), seqs.end());
    {
      std::lock_guard l(mu);
      for (auto it = queue.begin(); it != queue.end();) {
        if (done.count(it->seq) != 0) {
          queued_spans -= it->spans;
          queued_bytes -= it->record.size();
          it = queue.erase(it);
        } else {
          ++it;
        }
      }
      stats.queued_batches = queue.size();
      UpdateGaugesLocked();
    }
    cv.notify_all();
    Truncate();
  }

  // Deletes WAL segments that hold only acknowledged data.
  void Truncate() {
    std::unique_lock wl(append_mu);
    uint32_t keep_from;
    bool empty;
    uint64_t written;
    {
      std::lock_guard l(mu);
      empty = queue.empty();
      keep_from = wal->CurrentSegment();
      for (const Item& it : queue) keep_from = std::min(keep_from, it.segment);
      written = bytes_since_rotate;
    }
    if (empty && written >= (1u << 20)) {
      // Everything is delivered: start a new segment so that the old ones
      // (with their acks) can go.
      auto next = wal->NextSegment();
      if (!next.ok()) {
        log::Warn("gateway queue: new segment", {{"err", next.status().ToString()}});
        return;
      }
      keep_from = *next;
      std::lock_guard l(mu);
      bytes_since_rotate = 0;
    }
    auto segs = wal->Segments();
    if (!segs.ok() || segs->empty() || segs->front() >= keep_from) return;
    Status s = wal->RemoveSegmentsBefore(keep_from);
    if (!s.ok()) log::Warn("gateway queue: removing segments", {{"err", s.ToString()}});
  }

  // Takes the next batch: queued items of the oldest item's tenant, up to
  // send_batch_size spans. Waits for a full batch or batch_timeout. False
  // when stopping.
  bool NextBatch(std::vector<const Item*>* batch) {
    std::unique_lock l(mu);
    for (;;) {
      if (stopping) return false;
      if (!queue.empty()) {
        const std::string& tenant = queue.front().tenant;
        uint64_t spans = 0;
        for (const Item& it : queue) {
          if (it.tenant == tenant) spans += it.spans;
          if (spans >= o.send_batch_size) break;
        }
        auto due = queue.front().enqueued + o.batch_timeout;
        if (spans >= o.send_batch_size || std::chrono::steady_clock::now() >= due) {
          batch->clear();
          spans = 0;
          for (const Item& it : queue) {
            if (it.tenant != tenant) continue;
            if (!batch->empty() && spans + it.spans > o.send_batch_size) break;
            batch->push_back(&it);  // stable: only the sender erases
            spans += it.spans;
          }
          return true;
        }
        cv.wait_until(l, due);
      } else {
        cv.wait(l);
      }
    }
  }

  // Sleeps up to `d` unless stopping; false when stopping.
  bool SleepFor(std::chrono::milliseconds d) {
    std::unique_lock l(mu);
    return !cv.wait_for(l, d, [&] { return stopping; });
  }

  // Builds the request body for a batch.
  Result<std::string> BuildBody(const std::vector<const Item*>& batch) {
    otrace::TracesData data;
    std::vector<std::string_view> recs;
    for (const Item* it : batch) {
      uint64_t seq, spans;
      std::string tenant;
      if (!ParseData(it->record, &seq, &tenant, &spans, &recs)) {
        return DataLossError("malformed queue record");
      }
      for (std::string_view r : recs) {
        Trace t;
        SL_RETURN_IF_ERROR(store::DecodeTrace(r, nullptr, &t));
        ingest::TraceToOtlp(t, &data);
      }
    }
    // TracesData and ExportTraceServiceRequest are the same message on the
    // wire (field 1: repeated ResourceSpans).
    std::string body = data.SerializeAsString();
    if (o.gzip) {
      SL_ASSIGN_OR_RETURN(body, Compress(Codec::kGzip, body));
    }
    return body;
  }

  // Sends one batch until it is delivered, dropped or stopping. Returns
  // false when stopping (the batch stays queued).
  bool SendBatch(const std::vector<const Item*>& batch) {
    uint64_t spans = 0;
    std::vector<uint64_t> seqs;
    std::string tenant = batch.front()->tenant;
    for (const Item* it : batch) {
      spans += it->spans;
      seqs.push_back(it->seq);
    }
    auto body = BuildBody(batch);
    if (!body.ok()) {
      log::Error("gateway: dropping a batch that cannot be encoded",
                 {{"tenant", tenant}, {"spans", std::to_string(spans)},
                  {"err", body.status().ToString()}});
      Drop(spans);
      Ack(seqs);
      return true;
    }
    io::HttpRequest req;
    req.method = "POST";
    req.url = url;
    req.headers.push_back({"Content-Type", "application/x-protobuf"});
    if (o.gzip) req.headers.push_back({"Content-Encoding", "gzip"});
    req.headers.push_back({"X-Scope-OrgID", tenant});
    for (const auto& h : o.headers) req.headers.push_back(h);
    req.body = *body;

    std::mt19937_64 rng(std::random_device{}());
    auto first = std::chrono::steady_clock::now();
    double backoff_ms = static_cast<double>(o.retry_initial_interval.count());
    for (;;) {
      bool retryable = false;
      auto resp = http->Do(req, &retryable);
      std::string why;
      int64_t retry_after = -1;
      if (resp.ok()) {
        long code = resp->status;
        if (code >= 200 && code < 300) {
          uint64_t rejected_spans = 0;
          coltrace::ExportTraceServiceResponse er;
          if (!resp->body.empty() && er.ParseFromString(resp->body) && er.has_partial_success()) {
            rejected_spans = static_cast<uint64_t>(std::max<int64_t>(
                0, er.partial_success().rejected_spans()));
            if (rejected_spans > 0) {
              log::Warn("gateway: the downstream rejected spans",
                        {{"tenant", tenant}, {"rejected", std::to_string(rejected_spans)},
                         {"msg", er.partial_success().error_message()}});
            }
          }
          rejected_spans = std::min(rejected_spans, spans);
          sent->Inc(static_cast<double>(spans - rejected_spans));
          rejected->Inc(static_cast<double>(rejected_spans));
          {
            std::lock_guard l(mu);
            stats.sent_spans += spans - rejected_spans;
            stats.rejected_spans += rejected_spans;
          }
          Ack(seqs);
          return true;
        }
        why = "HTTP " + std::to_string(code) + ": " + resp->body.substr(0, 256);
        retryable = code == 429 || code == 502 || code == 503 || code == 504;
        if (retryable) retry_after = RetryAfterSeconds(resp->Header("retry-after"));
      } else {
        why = resp.status().ToString();
      }
      if (!retryable) {
        log::Error("gateway: export failed, not retryable; dropping the batch",
                   {{"tenant", tenant}, {"spans", std::to_string(spans)}, {"err", why}});
        Drop(spans);
        Ack(seqs);
        return true;
      }
      // Exponential backoff with jitter, like the Collector's
      // retry_on_failure (multiplier 1.5, randomization 0.5).
      std::uniform_real_distribution<double> jitter(0.5, 1.5);
      auto wait = std::chrono::milliseconds(static_cast<int64_t>(backoff_ms * jitter(rng)));
      if (retry_after >= 0) wait = std::chrono::seconds(retry_after);
      backoff_ms = std::min(backoff_ms * 1.5, static_cast<double>(o.retry_max_interval.count()));
      auto elapsed = std::chrono::duration_cast<std::chrono::milliseconds>(
          std::chrono::steady_clock::now() - first);
      if (o.retry_max_elapsed_time.count() > 0 &&
          elapsed + wait > o.retry_max_elapsed_time) {
        log::Error("gateway: export failed, retries exhausted; dropping the batch",
                   {{"tenant", tenant}, {"spans", std::to_string(spans)}, {"err", why},
                    {"elapsed_ms", std::to_string(elapsed.count())}});
        Drop(spans);
        Ack(seqs);
        return true;
      }
      log::Warn("gateway: export failed, will retry",
                {{"tenant", tenant}, {"spans", std::to_string(spans)}, {"err", why},
                 {"wait_ms", std::to_string(wait.count())}});
      retries->Inc();
      {
        std::lock_guard l(mu);
        ++stats.retries;
      }
      if (!SleepFor(wait)) return false;
    }
  }

  void Drop(uint64_t spans) {
    failed->Inc(static_cast<double>(spans));
    std::lock_guard l(mu);
    stats.failed_spans += spans;
  }

  void Run() {
    std::vector<const Item*> batch;
    while (NextBatch(&batch)) {
      if (!SendBatch(batch)) return;
    }
  }
};

OtlpExporter::OtlpExporter(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

OtlpExporter::~OtlpExporter() { Stop(); }

Result<std::unique_ptr<OtlpExporter>> OtlpExporter::Open(ExporterOptions options) {
  if (options.endpoint.rfind("http://", 0) != 0 && options.endpoint.rfind("https://", 0) != 0) {
    return InvalidArgumentError("traces.gateway.endpoint: \"" + options.endpoint +
                                "\" is not an http:// or https:// URL");
  }
  if (options.send_batch_size == 0) options.send_batch_size = 1;
  auto impl = std::make_unique<Impl>();
  impl->o = std::move(options);
  ExporterOptions& o = impl->o;
  impl->url = o.endpoint;
  while (!impl->url.empty() && impl->url.back() == '/') impl->url.pop_back();
  impl->url += "/v1/traces";

  telemetry::Registry& reg = o.registry ? *o.registry : telemetry::Registry::Default();
  impl->sent = &reg.AddCounter("otelcol_exporter_sent_spans",
                               "Spans the downstream accepted.", {"exporter"})
                    .WithLabels({"otlphttp"});
  impl->failed = &reg.AddCounter("otelcol_exporter_send_failed_spans",
                                 "Spans dropped after a permanent error or exhausted retries.",
                                 {"exporter"})
                      .WithLabels({"otlphttp"});
  impl->enqueue_failed = &reg.AddCounter("otelcol_exporter_enqueue_failed_spans",
                                         "Spans refused because the sending queue was full.",
                                         {"exporter"})
                              .WithLabels({"otlphttp"});
  impl->rejected = &reg.AddCounter("sightline_gateway_rejected_spans_total",
                                   "Spans the downstream reported in partial_success.",
                                   {"exporter"})
                        .WithLabels({"otlphttp"});
  impl->retries = &reg.AddCounter("sightline_gateway_retries_total",
                                  "Export attempts that failed and were retried.", {"exporter"})
                       .WithLabels({"otlphttp"});
  impl->queue_size_gauge =
      &reg.AddGauge("otelcol_exporter_queue_size", "Spans in the sending queue.", {"exporter"})
           .WithLabels({"otlphttp"});
  impl->queue_capacity_gauge = &reg.AddGauge("otelcol_exporter_queue_capacity",
                                             "Capacity of the sending queue in spans.",
                                             {"exporter"})
                                    .WithLabels({"otlphttp"});
  impl->queue_bytes_gauge = &reg.AddGauge("sightline_gateway_queue_bytes",
                                          "Encoded bytes in the sending queue.", {"exporter"})
                                 .WithLabels({"otlphttp"});
  impl->queue_capacity_gauge->Set(static_cast<double>(o.queue_size));

  wal::WalOptions wo;
  wo.dir = o.dir;
  wo.segment_size = std::max<uint64_t>(32u << 10, o.wal_segment_bytes / (32u << 10) * (32u << 10));
  wo.registry = &reg;
  wo.metrics_prefix = "sightline_gateway_wal_";
  SL_ASSIGN_OR_RETURN(impl->wal, wal::Wal::Open(std::move(wo)));

  // Replay: data records not acknowledged go back into the queue.
  std::map<uint64_t, Item> pending;
  std::unordered_set<uint64_t> acked;
  uint64_t max_seq = 0;
  SL_RETURN_IF_ERROR(impl->wal->Replay([&](std::string_view rec, wal::WalPosition pos) -> Status {
    if (rec.empty()) return Status::Ok();
    if (static_cast<uint8_t>(rec[0]) == kDataRecord) {
      Item it;
      if (!ParseData(rec, &it.seq, &it.tenant, &it.spans, nullptr)) {
        log::Warn("gateway queue: skipping a malformed record",
                  {{"segment", std::to_string(pos.segment)}});
        return Status::Ok();
      }
      it.segment = pos.segment;
      it.record = std::string(rec);
      max_seq = std::max(max_seq, it.seq);
      pending[it.seq] = std::move(it);
    } else if (static_cast<uint8_t>(rec[0]) == kAckRecord) {
      coding::Reader r(rec.substr(1));
      uint64_t n = r.Uvarint();
      for (uint64_t i = 0; i < n && r.ok(); ++i) {
        uint64_t seq = r.Uvarint();
        acked.insert(seq);
        // An ack may outlive its data record's segment: never reuse its seq.
        max_seq = std::max(max_seq, seq);
      }
    }
    return Status::Ok();
  }));
  auto now = std::chrono::steady_clock::now();
  for (auto& [seq, it] : pending) {
    if (acked.count(seq) != 0) continue;
    it.enqueued = now;
    impl->queued_spans += it.spans;
    impl->queued_bytes += it.record.size();
    impl->queue.push_back(std::move(it));
  }
  impl->next_seq = max_seq + 1;
  impl->stats.replayed_batches = impl->queue.size();
  impl->stats.queued_batches = impl->queue.size();
  impl->UpdateGaugesLocked();
  if (!impl->queue.empty()) {
    log::Info("gateway queue replayed", {{"batches", std::to_string(impl->queue.size())},
                                         {"spans", std::to_string(impl->queued_spans)}});
  }

  io::HttpTransportOptions ho;
  ho.connect_timeout_ms = static_cast<int>(std::min<int64_t>(o.timeout.count(), 10'000));
  ho.request_timeout_ms = static_cast<int>(o.timeout.count());
  impl->http = std::make_unique<io::HttpTransport>(ho);
  auto* raw = impl.get();
  std::unique_ptr<OtlpExporter> e(new OtlpExporter(std::move(impl)));
  raw->Truncate();
  return e;
}

Status OtlpExporter::Enqueue(std::string_view tenant, std::string payload, uint64_t spans) {
  // Reserve room first, so that concurrent pushes cannot overshoot.
  {
    std::lock_guard l(impl_->mu);
    if (impl_->closed) return UnavailableError("the gateway is shutting down");
    if (impl_->WouldOverflowLocked(spans, payload.size() + 16)) {
      impl_->enqueue_failed->Inc(static_cast<double>(spans));
      return UnavailableError("sending queue is full");
    }
    impl_->queued_spans += spans;
    impl_->queued_bytes += payload.size() + 16;
  }
  Item it;
  it.tenant = std::string(tenant);
  it.spans = spans;
  std::shared_lock al(impl_->append_mu);
  {
    std::lock_guard l(impl_->mu);
    it.seq = impl_->next_seq++;
  }
  it.record.push_back(static_cast<char>(kDataRecord));
  coding::PutUvarint(it.record, it.seq);
  coding::PutLengthPrefixed(it.record, tenant);
  coding::PutUvarint(it.record, spans);
  it.record += payload;
  auto pos = impl_->wal->Append(it.record);
  std::lock_guard l(impl_->mu);
  impl_->queued_spans -= spans;
  impl_->queued_bytes -= payload.size() + 16;
  if (!pos.ok()) {
    impl_->enqueue_failed->Inc(static_cast<double>(spans));
    return UnavailableError("gateway queue: " + pos.status().message());
  }
  it.segment = pos->segment;
  it.enqueued = std::chrono::steady_clock::now();
  impl_->queued_spans += spans;
  impl_->queued_bytes += it.record.size();
  impl_->bytes_since_rotate += it.record.size();
  // At the back (concurrent appends may finish slightly out of sequence
  // order, which only matters for batching): push_back keeps references to
  // the other items valid while the sender reads them without the lock.
  impl_->queue.push_back(std::move(it));
  impl_->stats.queued_batches = impl_->queue.size();
  impl_->UpdateGaugesLocked();
  impl_->cv.notify_all();
  return Status::Ok();
}

Status OtlpExporter::Push(std::string_view tenant, std::vector<Trace> traces,
                          ingest::PushResult* /*result*/) {
  if (traces.empty()) return Status::Ok();
  std::string payload;
  uint64_t spans = 0;
  coding::PutUvarint(payload, traces.size());
  std::string rec;
  for (const Trace& t : traces) {
    spans += t.spans.size();
    rec.clear();
    store::EncodeTrace(t, nullptr, &rec);
    coding::PutLengthPrefixed(payload, rec);
  }
  // The payload is [traces]{records}; Enqueue writes the header before it.
  return Enqueue(tenant, std::move(payload), spans);
}

Status OtlpExporter::PushEncoded(std::string_view tenant, const ingest::EncodedTraces& traces,
                                 ingest::PushResult* /*result*/) {
  if (traces.empty()) return Status::Ok();
  std::string payload;
  uint64_t spans = 0;
  coding::PutUvarint(payload, traces.size());
  for (size_t i = 0; i < traces.size(); ++i) {
    spans += traces.traces[i].num_spans;
    coding::PutLengthPrefixed(payload, traces.record(i));
  }
  return Enqueue(tenant, std::move(payload), spans);
}

bool OtlpExporter::Full() const {
  std::lock_guard l(impl_->mu);
  return impl_->WouldOverflowLocked(1, 1);
}

void OtlpExporter::Start() {
  std::lock_guard l(impl_->mu);
  if (impl_->sender.joinable() || impl_->closed) return;
  impl_->sender = std::thread([this] { impl_->Run(); });
}

void OtlpExporter::Stop() {
  if (!impl_) return;
  {
    std::lock_guard l(impl_->mu);
    if (impl_->closed) return;
    impl_->stopping = true;
    impl_->closed = true;
  }
  impl_->cv.notify_all();
  if (impl_->sender.joinable()) impl_->sender.join();
  std::unique_lock wl(impl_->append_mu);  // no append in flight
  Status s = impl_->wal->Close();
  if (!s.ok()) log::Error("gateway queue: closing the WAL", {{"err", s.ToString()}});
}

OtlpExporter::Stats OtlpExporter::stats() const {
  std::lock_guard l(impl_->mu);
  Stats s = impl_->stats;
  s.queued_spans = impl_->queued_spans;
  s.queued_bytes = impl_->queued_bytes;
  return s;
}

Status QueueGate::Push(std::string_view tenant, std::vector<Trace> traces,
                       ingest::PushResult* result) {
  if (exporter_->Full()) return UnavailableError("sending queue is full");
  return next_->Push(tenant, std::move(traces), result);
}

}  // namespace sightline::traces::gateway
