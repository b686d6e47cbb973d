#include "metrics/ingest/remote_write.h"

#include <google/protobuf/arena.h>

#include <algorithm>
#include <string>
#include <string_view>
#include <vector>

#include "base/compression.h"
#include "metrics/ingest/batch_writer.h"
#include "metrics/ingest/names.h"
#include "prometheus/remote.pb.h"
#include "telemetry/log.h"

namespace sightline::metrics::ingest {

namespace {

constexpr std::string_view kProtobufMediaType = "application/x-protobuf";
constexpr std::string_view kV1Message = "prometheus.WriteRequest";
constexpr std::string_view kV2Message = "io.prometheus.write.v2.Request";
// Bound for snappy bodies the server did not decode (no Content-Encoding),
// when the route has no limit of its own: the HTTP server's default.
constexpr size_t kDefaultMaxDecompressed = size_t{128} << 20;

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// Checks Content-Type as Prometheus's receiver does: the media type must be
// application/x-protobuf; a proto= parameter must name the 1.0 message.
// Returns the 415 message, or "" when the request is acceptable.
std::string CheckContentType(std::string_view content_type) {
  content_type = Trim(content_type);
  if (content_type.empty()) return "";  // Old 1.0 senders send none.
  std::vector<std::string_view> parts;
  for (size_t start = 0;;) {
    size_t semi = content_type.find(';', start);
    parts.push_back(Trim(content_type.substr(start, semi - start)));
    if (semi == std::string_view::npos) break;
    start = semi + 1;
  }
  if (!net::EqualsIgnoreCase(parts[0], kProtobufMediaType)) {
    return "expected " + std::string(kProtobufMediaType) + " as the first (media) part, got " +
           std::string(content_type) + " content-type";
  }
  for (size_t i = 1; i < parts.size(); ++i) {
    size_t eq = parts[i].find('=');
    if (eq == std::string_view::npos) {
      return "expected parameters to be key-values, got " + std::string(parts[i]) + " in " +
             std::string(content_type) + " content-type";
    }
    if (Trim(parts[i].substr(0, eq)) != "proto") continue;
    std::string_view msg = Trim(parts[i].substr(eq + 1));
    if (msg == kV1Message) return "";
    if (msg == kV2Message) {
      return std::string(kV2Message) +
             " protobuf message is not accepted by this server; accepted [" +
             std::string(kV1Message) + "]";
    }
    return "got " + std::string(content_type) + " content type; unknown remote write message " +
           std::string(msg) + ", supported: " + std::string(kV1Message);
  }
  return "";
}

std::string_view MetricTypeName(prometheus::MetricMetadata::MetricType t) {
  switch (t) {
    case prometheus::MetricMetadata::COUNTER:
      return "counter";
    case prometheus::MetricMetadata::GAUGE:
      return "gauge";
    case prometheus::MetricMetadata::HISTOGRAM:
      return "histogram";
    case prometheus::MetricMetadata::GAUGEHISTOGRAM:
      return "gaugehistogram";
    case prometheus::MetricMetadata::SUMMARY:
      return "summary";
    case prometheus::MetricMetadata::INFO:
      return "info";
    case prometheus::MetricMetadata::STATESET:
      return "stateset";
    default:
      return "unknown";
  }
}

// {a="b", c="d"} for labels that may not form a valid Labels value.
std::string FormatLabels(const std::vector<Label>& ls) {
  std::string out = "{";
  for (size_t i = 0; i < ls.size(); ++i) {
    if (i > 0) out += ", ";
    out += ls[i].name;
    out += '=';
    out += tsdb::GoQuote(ls[i].value);
  }
  out += '}';
  return out;
}

// Builds the series labels of `ts`, or explains why the series is rejected
// (`why` set to a reason::k* and `message` to the error).
bool BuildSeriesLabels(const prometheus::TimeSeries& ts, bool utf8, std::vector<Label>* out,
                       std::string_view* why, std::string* message) {
  out->clear();
  out->reserve(ts.labels_size());
  bool sorted = true;
  for (int i = 0; i < ts.labels_size(); ++i) {
    const prometheus::Label& l = ts.labels(i);
    if (i > 0 && !(ts.labels(i - 1).name() < l.name())) sorted = false;
    out->push_back(Label{l.name(), l.value()});
  }
  if (!sorted) {
    std::stable_sort(out->begin(), out->end(),
                     [](const Label& a, const Label& b) { return a.name < b.name; });
    for (size_t i = 1; i < out->size(); ++i) {
      if ((*out)[i].name == (*out)[i - 1].name) {
        *why = reason::kDuplicateLabel;
        *message = "invalid labels for series, labels " + FormatLabels(*out) +
                   ", duplicated label " + (*out)[i].name;
        return false;
      }
    }
  }
  bool has_name = false;
  bool valid = true;
  for (const Label& l : *out) {
    if (l.name == "__name__") {
      has_name = !l.value.empty();
      if (has_name && !IsValidMetricName(l.value, utf8)) valid = false;
    } else if (!IsValidLabelName(l.name, utf8)) {
      valid = false;
    }
  }
  if (!has_name || !valid) {
    *why = has_name ? reason::kInvalidLabels : reason::kMissingMetricName;
    *message = "invalid metric name or labels, got " + FormatLabels(*out);
    return false;
  }
  // Prometheus treats an empty value as an absent label.
  out->erase(
      std::remove_if(out->begin(), out->end(), [](const Label& l) { return l.value.empty(); }),
      out->end());
  return true;
}

// Appends the WriteRequest; returns what Finish() says.
Status Write(const prometheus::WriteRequest& req, BatchWriter& w, bool utf8, int64_t* total) {
  int64_t samples = 0;
  for (const prometheus::TimeSeries& ts : req.timeseries()) {
    samples += ts.samples_size() + ts.histograms_size();
  }
  *total = samples;
  w.CountReceived(samples);

  std::vector<Label> scratch;
  for (const prometheus::TimeSeries& ts : req.timeseries()) {
    std::string_view why;
    std::string message;
    if (!BuildSeriesLabels(ts, utf8, &scratch, &why, &message)) {
      log::Debug("remote write: series rejected", {{"err", message}});
      w.Reject(why, ts.samples_size() + ts.histograms_size(), message);
      w.RejectExemplars(why, ts.exemplars_size());
      continue;
    }
    const Labels ls = Labels::FromSortedUnchecked(scratch);
    uint64_t ref = 0;
    bool ok = true;
    for (const prometheus::Sample& s : ts.samples()) {
      if (!(ok = w.Append(&ref, ls, s.timestamp(), s.value()))) break;
    }
    if (!ok) break;
    if (ts.histograms_size() > 0) w.Discard(reason::kNativeHistogram, ts.histograms_size());
    for (const prometheus::Exemplar& ep : ts.exemplars()) {
      std::vector<Label> el;
      el.reserve(ep.labels_size());
      for (const prometheus::Label& l : ep.labels()) {
        if (!l.value().empty()) el.push_back(Label{l.name(), l.value()});
      }
      Result<Labels> els = Labels::FromUnsorted(std::move(el));
      if (!els.ok()) {
        w.RejectExemplars(reason::kInvalidLabels, 1);
        continue;
      }
      Exemplar e;
      e.labels = std::move(*els);
      e.value = ep.value();
      e.timestamp_ms = ep.timestamp();
      e.has_timestamp = ep.timestamp() != 0;
      w.AppendExemplar(ref, ls, e);
    }
  }
  for (const prometheus::MetricMetadata& md : req.metadata()) {
    if (w.failed()) break;
    MetricMetadata m;
    m.type = std::string(MetricTypeName(md.type()));
    m.help = md.help();
    m.unit = md.unit();
    w.UpdateMetadata(md.metric_family_name(), m);
  }
  return w.Finish();
}

bool HasUnknownFields(const prometheus::WriteRequest& req) {
  return !req.GetReflection()->GetUnknownFields(req).empty();
}

}  // namespace

RemoteWriteHandler::RemoteWriteHandler(Appendable* db, IngestOptions options)
    : db_(db),
      options_(std::move(options)),
      metrics_(std::make_unique<IngestMetrics>(options_.registry)) {}

RemoteWriteHandler::~RemoteWriteHandler() = default;

void RemoteWriteHandler::Serve(const net::HttpRequest& request, net::HttpResponse& response) const {
  std::string bad_type = CheckContentType(request.Header("Content-Type").value_or(""));
  if (!bad_type.empty()) {
    CountRequest(metrics_.get(), kProtocolRemoteWrite, "invalid");
    response.Text(415, bad_type + "\n");
    return;
  }

  google::protobuf::Arena arena;
  auto* req = google::protobuf::Arena::CreateMessage<prometheus::WriteRequest>(&arena);
  const std::string& body = request.body();
  bool parsed = req->ParseFromString(body);
  if (!parsed || HasUnknownFields(*req)) {
    // Still snappy-compressed (sent without Content-Encoding)? Snappy's
    // length prefix must match exactly, so a real protobuf body is
    // practically never mistaken for one.
    size_t limit = options_.max_body_bytes ? options_.max_body_bytes : kDefaultMaxDecompressed;
    Result<std::string> plain = Decompress(Codec::kSnappy, body, limit);
    if (plain.ok()) {
      req->Clear();
      parsed = req->ParseFromString(*plain);
    } else if (plain.status().code() == StatusCode::kResourceExhausted) {
      CountRequest(metrics_.get(), kProtocolRemoteWrite, "invalid");
      response.Text(413,
                    "decompressed request body larger than " + std::to_string(limit) + " bytes\n");
      return;
    }
  }
  if (!parsed) {
    CountRequest(metrics_.get(), kProtocolRemoteWrite, "invalid");
    response.Text(400,
                  "cannot decode remote write request: body is not a (snappy-compressed) "
                  "prometheus.WriteRequest protobuf message\n");
    return;
  }

  BatchWriter w(db_, request.tenant(), kProtocolRemoteWrite, options_, metrics_.get());
  int64_t total = 0;
  Status s = Write(*req, w, options_.utf8_names, &total);
  if (s.ok()) {
    CountRequest(metrics_.get(), kProtocolRemoteWrite, "success");
    response.status = 204;
    return;
  }
  std::string counts =
      " (" + std::to_string(w.rejected()) + " of " + std::to_string(total) + " samples rejected)";
  switch (s.code()) {
    case StatusCode::kInvalidArgument:
      CountRequest(metrics_.get(), kProtocolRemoteWrite, "partial");
      response.Text(400, s.message() + counts + "\n");
      return;
    case StatusCode::kResourceExhausted:
      CountRequest(metrics_.get(), kProtocolRemoteWrite, "throttled");
      response.Text(429, s.message() + counts + "\n");
      response.SetHeader("Retry-After", std::to_string(options_.retry_after_seconds));
      return;
    default:
      CountRequest(metrics_.get(), kProtocolRemoteWrite, "failed");
      if (s.code() == StatusCode::kUnavailable) {
        response.Text(503, "storage unavailable: " + s.message() + "\n");
        response.SetHeader("Retry-After", std::to_string(options_.retry_after_seconds));
      } else {
        response.Text(500, "storage error: " + s.message() + "\n");
      }
      return;
  }
}

void RegisterRemoteWrite(net::Router& router, Appendable* db, const IngestOptions& options) {
  auto handler = std::make_shared<const RemoteWriteHandler>(db, options);
  auto serve = [handler](net::HttpRequest& req, net::HttpResponse& resp) {
    handler->Serve(req, resp);
  };
  net::RouteOptions push;
  push.name = "api_v1_push";
  push.max_body_bytes = options.max_body_bytes;
  net::RouteOptions write = push;
  write.name = "api_v1_write";
  router.Handle("POST", "/api/v1/push", serve, push);
  router.Handle("POST", "/api/v1/write", serve, write);
}

}  // namespace sightline::metrics::ingest
