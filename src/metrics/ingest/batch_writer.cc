#include "metrics/ingest/batch_writer.h"

#include <chrono>
#include <limits>

#include "telemetry/log.h"
#include "telemetry/metrics.h"

namespace sightline::metrics::ingest {

IngestMetrics::IngestMetrics(telemetry::Registry& r)
    : requests(r.AddCounter("sightline_metrics_ingest_requests_total",
                            "Metrics ingest requests (remote write, OTLP) by outcome.",
                            {"protocol", "result"})),
      samples_received(r.AddCounter("sightline_metrics_ingest_samples_received_total",
                                    "Samples decoded from metrics ingest requests, before "
                                    "validation (OTLP: after translation to Prometheus series).",
                                    {"protocol"})),
      samples_rejected(r.AddCounter("sightline_metrics_ingest_samples_rejected_total",
                                    "Samples not stored, by reason.", {"protocol", "reason"})),
      exemplars_received(r.AddCounter("sightline_metrics_ingest_exemplars_received_total",
                                      "Exemplars decoded from metrics ingest requests.",
                                      {"protocol"})),
      exemplars_rejected(r.AddCounter("sightline_metrics_ingest_exemplars_rejected_total",
                                      "Exemplars not stored, by reason.", {"protocol", "reason"})),
      metadata_received(r.AddCounter("sightline_metrics_ingest_metadata_received_total",
                                     "Metric metadata entries received.", {"protocol"})),
      metadata_rejected(r.AddCounter("sightline_metrics_ingest_metadata_rejected_total",
                                     "Metric metadata entries not stored, by reason.",
                                     {"protocol", "reason"})) {}

IngestMetrics::IngestMetrics(telemetry::Registry* registry)
    : IngestMetrics(registry ? *registry : telemetry::Registry::Default()) {}

void CountRequest(IngestMetrics* m, std::string_view protocol, std::string_view result) {
  m->requests.WithLabels({protocol, result}).Inc();
}

std::string_view ReasonForStoreError(const Status& s) {
  if (s.code() == StatusCode::kResourceExhausted) return reason::kLimit;
  if (s.code() != StatusCode::kInvalidArgument) return reason::kStorageError;
  std::string_view m = s.message();
  auto starts = [&](std::string_view p) { return m.substr(0, p.size()) == p; };
  if (starts("out of order")) return reason::kOutOfOrder;
  if (starts("duplicate sample")) return reason::kDuplicateTimestamp;
  if (starts("out of bounds")) return reason::kOutOfBounds;
  if (starts("too old")) return reason::kTooOld;
  return reason::kInvalidSample;
}

namespace {

int64_t NowMs(const IngestOptions& o) {
  if (o.now_ms) return o.now_ms();
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace

BatchWriter::BatchWriter(Appendable* db, std::string_view tenant, std::string_view protocol,
                         const IngestOptions& options, IngestMetrics* metrics)
    : app_(db->NewAppender(tenant)),
      protocol_(protocol),
      metrics_(metrics),
      max_t_ms_(options.max_future_ms > 0 ? NowMs(options) + options.max_future_ms
                                          : std::numeric_limits<int64_t>::max()) {}

BatchWriter::~BatchWriter() {
  if (!finished_) app_->Rollback();
}

void BatchWriter::RecordRejection(std::string_view why, int64_t n, std::string message) {
  samples_rejected_ += n;
  bool found = false;
  for (ReasonCount& rc : sample_rejections_) {
    if (rc.reason == why) {
      rc.n += n;
      found = true;
      break;
    }
  }
  if (!found) sample_rejections_.push_back({why, n});
  if (first_error_.empty()) first_error_ = std::move(message);
}

bool BatchWriter::Append(uint64_t* ref, const Labels& labels, int64_t t_ms, double v) {
  if (!fatal_.ok()) return false;
  if (t_ms > max_t_ms_) {
    RecordRejection(
        reason::kTooFarInFuture, 1,
        "out of bounds: timestamp is too far in the future for series " + labels.ToString());
    return true;
  }
  Result<uint64_t> r = app_->Append(*ref, labels, t_ms, v);
  if (r.ok()) {
    *ref = *r;
    ++samples_appended_;
    return true;
  }
  const Status& s = r.status();
  switch (s.code()) {
    case StatusCode::kInvalidArgument:
      if (std::optional<limits::LimitReason> lim = limits::LastRejection(*app_)) {
        // The limit's message names the series and the limit already.
        if (!series_limit_) {
          series_limit_ = *lim;
          series_limit_message_ = s.message();
        }
        RecordRejection(limits::ReasonLabel(*lim), 1, s.message());
        return true;
      }
      RecordRejection(ReasonForStoreError(s), 1, s.message() + " for series " + labels.ToString());
      return true;
    case StatusCode::kResourceExhausted:
      if (!limited_) limit_message_ = s.message();
      limited_ = true;
      RecordRejection(reason::kLimit, 1, s.message() + " for series " + labels.ToString());
      return true;
    default:
      fatal_ = s;
      log::Warn("metrics ingest: storage error, rolling back the request",
                {{"protocol", protocol_}, {"err", s.ToString()}});
      return false;
  }
}

void BatchWriter::AppendExemplar(uint64_t ref, const Labels& series, const Exemplar& e) {
  ++exemplars_received_;
  if (!fatal_.ok()) return;
  std::string_view why;
  if (e.has_timestamp && e.timestamp_ms > max_t_ms_) {
    why = reason::kTooFarInFuture;
  } else {
    Status s = app_->AppendExemplar(ref, series, e);
    if (s.ok()) return;
    why = ReasonForStoreError(s);
    log::Debug("metrics ingest: exemplar rejected",
               {{"series", series.ToString()}, {"err", s.ToString()}});
  }
  RejectExemplarsCounted(why, 1);
}

void BatchWriter::RejectExemplars(std::string_view why, int64_t n) {
  if (n <= 0) return;
  exemplars_received_ += n;
  RejectExemplarsCounted(why, n);
}

void BatchWriter::RejectExemplarsCounted(std::string_view why, int64_t n) {
  for (ReasonCount& rc : exemplar_rejections_) {
    if (rc.reason == why) {
      rc.n += n;
      return;
    }
  }
  exemplar_rejections_.push_back({why, n});
}

void BatchWriter::UpdateMetadata(const std::string& metric_family, const MetricMetadata& m) {
  ++metadata_received_;
  if (!fatal_.ok()) return;
  Status s = app_->UpdateMetadata(metric_family, m);
  if (!s.ok()) {
    ++metadata_rejected_;
    log::Debug("metrics ingest: metadata rejected",
               {{"metric_family", metric_family}, {"err", s.ToString()}});
  }
}

void BatchWriter::Discard(std::string_view why, int64_t n) {
  if (n <= 0) return;
  samples_discarded_ += n;
  for (ReasonCount& rc : sample_rejections_) {
    if (rc.reason == why) {
      rc.n += n;
      return;
    }
  }
  sample_rejections_.push_back({why, n});
}

void BatchWriter::Reject(std::string_view why, int64_t n, std::string_view message) {
  RecordRejection(why, n, std::string(message));
}

Status BatchWriter::Finish() {
  finished_ = true;
  Status result;
  bool stored = false;
  if (!fatal_.ok()) {
    app_->Rollback();
    result = fatal_;
  } else if (Status c = app_->Commit(); !c.ok()) {
    log::Warn("metrics ingest: commit failed", {{"protocol", protocol_}, {"err", c.ToString()}});
    // A commit error is never the sender's fault: let it retry.
    result = c.code() == StatusCode::kInvalidArgument ? InternalError(c.message()) : c;
  } else {
    stored = true;
    if (limited_) {
      result = ResourceExhaustedError(limit_message_);
    } else if (samples_rejected_ > 0) {
      result = InvalidArgumentError(series_limit_ ? series_limit_message_ : first_error_);
    }
  }

  // Self-metrics. When the batch was not stored, everything not already
  // rejected for its own reason is lost to the storage error (or limit).
  const std::string& p = protocol_;
  metrics_->samples_received.WithLabels({p}).Inc(static_cast<double>(samples_received_));
  if (!stored) {
    int64_t lost = samples_received_ - samples_rejected_ - samples_discarded_;
    std::string_view why =
        result.code() == StatusCode::kResourceExhausted ? reason::kLimit : reason::kStorageError;
    if (lost > 0) metrics_->samples_rejected.WithLabels({p, why}).Inc(static_cast<double>(lost));
  }
  for (const ReasonCount& rc : sample_rejections_) {
    metrics_->samples_rejected.WithLabels({p, rc.reason}).Inc(static_cast<double>(rc.n));
  }
  if (exemplars_received_ > 0) {
    metrics_->exemplars_received.WithLabels({p}).Inc(static_cast<double>(exemplars_received_));
  }
  for (const ReasonCount& rc : exemplar_rejections_) {
    metrics_->exemplars_rejected.WithLabels({p, rc.reason}).Inc(static_cast<double>(rc.n));
  }
  if (metadata_received_ > 0) {
    metrics_->metadata_received.WithLabels({p}).Inc(static_cast<double>(metadata_received_));
  }
  if (metadata_rejected_ > 0) {
    metrics_->metadata_rejected.WithLabels({p, reason::kStorageError})
        .Inc(static_cast<double>(metadata_rejected_));
  }
  return result;
}

}  // namespace sightline::metrics::ingest
