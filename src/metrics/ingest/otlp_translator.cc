#include "metrics/ingest/otlp_translator.h"

#include <algorithm>
#include <bit>
#include <cmath>
#include <limits>
#include <map>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "metrics/ingest/batch_writer.h"
#include "metrics/ingest/names.h"
#include "opentelemetry/proto/collector/metrics/v1/metrics_service.pb.h"

namespace sightline::metrics::ingest {

namespace otlp = opentelemetry::proto;
using otlp::common::v1::AnyValue;
using otlp::common::v1::KeyValue;
using otlp::metrics::v1::Metric;

namespace {

constexpr std::string_view kServiceName = "service.name";
constexpr std::string_view kServiceNamespace = "service.namespace";
constexpr std::string_view kServiceInstanceId = "service.instance.id";
constexpr std::string_view kTargetInfo = "target_info";
// OpenMetrics: exemplar labels are at most 128 runes (names and values).
constexpr size_t kMaxExemplarRunes = 128;
// target_info gets one sample per lookback_delta/2; a request spanning
// longer than this many intervals (e.g. a point with timestamp 0) only gets
// the most recent ones.
constexpr int64_t kMaxTargetInfoSamples = 60;
constexpr size_t kMaxMessages = 8;

double StaleNaNValue() { return std::bit_cast<double>(kStaleNaNBits); }

int64_t NanosToMillis(uint64_t ns) { return static_cast<int64_t>(ns) / 1000000; }

bool NoRecordedValue(uint32_t flags) {
  return (flags & otlp::metrics::v1::DATA_POINT_FLAGS_NO_RECORDED_VALUE_MASK) != 0;
}

// ---- Attribute values as strings (pcommon Value.AsString) ----------------

std::string Base64(std::string_view in) {
  static constexpr char kChars[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  out.reserve((in.size() + 2) / 3 * 4);
  size_t i = 0;
  for (; i + 2 < in.size(); i += 3) {
    uint32_t v = (uint8_t(in[i]) << 16) | (uint8_t(in[i + 1]) << 8) | uint8_t(in[i + 2]);
    out += kChars[v >> 18];
    out += kChars[(v >> 12) & 63];
    out += kChars[(v >> 6) & 63];
    out += kChars[v & 63];
  }
  if (i + 1 == in.size()) {
    uint32_t v = uint8_t(in[i]) << 16;
    out += kChars[v >> 18];
    out += kChars[(v >> 12) & 63];
    out += "==";
  } else if (i + 2 == in.size()) {
    uint32_t v = (uint8_t(in[i]) << 16) | (uint8_t(in[i + 1]) << 8);
    out += kChars[v >> 18];
    out += kChars[(v >> 12) & 63];
    out += kChars[(v >> 6) & 63];
    out += '=';
  }
  return out;
}

// A JSON string as Go's encoding/json writes it (HTML-safe escapes).
void AppendGoJsonString(std::string& out, std::string_view s) {
  static constexpr char kHex[] = "0123456789abcdef";
  out += '"';
  for (size_t i = 0; i < s.size(); ++i) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    switch (c) {
      case '"':
        out += "\\\"";
        continue;
      case '\\':
        out += "\\\\";
        continue;
      case '\n':
        out += "\\n";
        continue;
      case '\r':
        out += "\\r";
        continue;
      case '\t':
        out += "\\t";
        continue;
      default:
        break;
    }
    if (c < 0x20 || c == '<' || c == '>' || c == '&') {
      out += "\\u00";
      out += kHex[c >> 4];
      out += kHex[c & 15];
    } else if (c == 0xE2 && i + 2 < s.size() && uint8_t(s[i + 1]) == 0x80 &&
               (uint8_t(s[i + 2]) == 0xA8 || uint8_t(s[i + 2]) == 0xA9)) {
      out += uint8_t(s[i + 2]) == 0xA8 ? "\\u2028" : "\\u2029";
      i += 2;
    } else {
      out += static_cast<char>(c);
    }
  }
  out += '"';
}

void AppendRawJson(std::string& out, const AnyValue& v);

void AppendMapJson(std::string& out, const otlp::common::v1::KeyValueList& kvs) {
  // Go marshals a map with sorted keys; a repeated key keeps its last value.
  std::map<std::string_view, const AnyValue*> sorted;
  for (const KeyValue& kv : kvs.values()) sorted[kv.key()] = &kv.value();
  out += '{';
  bool first = true;
  for (const auto& [k, v] : sorted) {
    if (!first) out += ',';
    first = false;
    AppendGoJsonString(out, k);
    out += ':';
    AppendRawJson(out, *v);
  }
  out += '}';
}

void AppendRawJson(std::string& out, const AnyValue& v) {
  switch (v.value_case()) {
    case AnyValue::kStringValue:
      AppendGoJsonString(out, v.string_value());
      return;
    case AnyValue::kBoolValue:
      out += v.bool_value() ? "true" : "false";
      return;
    case AnyValue::kIntValue:
      out += std::to_string(v.int_value());
      return;
    case AnyValue::kDoubleValue:
      if (std::isfinite(v.double_value())) {
        out += FormatFloatEs6(v.double_value());
      } else {
        out += "null";
      }
      return;
    case AnyValue::kBytesValue:
      out += '"';
      out += Base64(v.bytes_value());
      out += '"';
      return;
    case AnyValue::kArrayValue: {
      out += '[';
      for (int i = 0; i < v.array_value().values_size(); ++i) {
        if (i > 0) out += ',';
        AppendRawJson(out, v.array_value().values(i));
      }
      out += ']';
      return;
    }
    case AnyValue::kKvlistValue:
      AppendMapJson(out, v.kvlist_value());
      return;
    case AnyValue::VALUE_NOT_SET:
      out += "null";
      return;
  }
}

std::string AsString(const AnyValue& v) {
  switch (v.value_case()) {
    case AnyValue::kStringValue:
      return v.string_value();
    case AnyValue::kBoolValue:
      return v.bool_value() ? "true" : "false";
    case AnyValue::kIntValue:
      return std::to_string(v.int_value());
    case AnyValue::kDoubleValue:
      return FormatFloatEs6(v.double_value());
    case AnyValue::kBytesValue:
      return Base64(v.bytes_value());
    case AnyValue::kArrayValue:
    case AnyValue::kKvlistValue: {
      std::string out;
      AppendRawJson(out, v);
      return out;
    }
    case AnyValue::VALUE_NOT_SET:
      return "";
  }
  return "";
}

const AnyValue* Find(const google::protobuf::RepeatedPtrField<KeyValue>& attrs,
                     std::string_view key) {
  for (const KeyValue& kv : attrs) {
    if (kv.key() == key) return &kv.value();
  }
  return nullptr;
}

size_t RuneCount(std::string_view s) {
  size_t n = 0;
  for (char c : s) n += (static_cast<unsigned char>(c) & 0xC0) != 0x80;
  return n;
}

std::string Hex(std::string_view bytes) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(bytes.size() * 2);
  for (char c : bytes) {
    out += kHex[static_cast<unsigned char>(c) >> 4];
    out += kHex[static_cast<unsigned char>(c) & 15];
  }
  return out;
}

bool AllZero(std::string_view bytes) {
  return std::all_of(bytes.begin(), bytes.end(), [](char c) { return c == 0; });
}

// ---- Label sets ----------------------------------------------------------

// A small unsorted label list with the insertion rules of createAttributes.
class LabelList {
 public:
  void Clear() { labels_.clear(); }
  // Sets, replacing an existing value.
  void Set(std::string_view name, std::string_view value) {
    if (Label* l = Find(name)) {
      l->value.assign(value);
    } else {
      labels_.push_back(Label{std::string(name), std::string(value)});
    }
  }
  // Adds unless present.
  void AddIfAbsent(std::string_view name, std::string_view value) {
    if (!Find(name)) labels_.push_back(Label{std::string(name), std::string(value)});
  }
  // Adds, or appends ";value" to an existing one (attribute keys that
  // collide once sanitized).
  void Merge(std::string_view name, std::string_view value) {
    if (Label* l = Find(name)) {
      l->value += ';';
      l->value.append(value);
    } else {
      labels_.push_back(Label{std::string(name), std::string(value)});
    }
  }
  // Sorted, without empty values.
  Labels Build() const {
    std::vector<Label> v;
    v.reserve(labels_.size());
    for (const Label& l : labels_) {
      if (!l.value.empty()) v.push_back(l);
    }
    std::sort(v.begin(), v.end(), [](const Label& a, const Label& b) { return a.name < b.name; });
    return Labels::FromSortedUnchecked(std::move(v));
  }

 private:
  Label* Find(std::string_view name) {
    for (Label& l : labels_) {
      if (l.name == name) return &l;
    }
    return nullptr;
  }
  std::vector<Label> labels_;
};

// What every series of one resource (and scope) gets besides the point's
// own attributes.
struct ResourceLabels {
  std::vector<Label> promoted;  // sanitized names, sorted by original key
  std::vector<Label> scope;     // otel_scope_* when promoted
  std::string job;
  bool has_job = false;
  std::string instance;
  bool has_instance = false;
};

class Translator {
 public:
  Translator(const OtlpOptions& o, BatchWriter& w) : o_(o), w_(w) {}

  OtlpTranslation Run(const otlp::collector::metrics::v1::ExportMetricsServiceRequest& req) {
    for (const auto& rm : req.resource_metrics()) {
      if (w_.failed()) break;
      Resource(rm);
    }
    return std::move(result_);
  }

 private:
  void Message(std::string m) {
    if (result_.messages.size() >= kMaxMessages) return;
    if (std::find(result_.messages.begin(), result_.messages.end(), m) != result_.messages.end()) {
      return;
    }
    result_.messages.push_back(std::move(m));
  }

  // Rejects `n` data points before translation.
  void RejectPoints(std::string_view why, int64_t n, std::string message) {
    result_.data_points += n;
    result_.rejected_data_points += n;
    w_.CountReceived(n);
    w_.Reject(why, n, message);
    Message(std::move(message));
  }

  // Starts/ends one data point: counts it as rejected if any of its
  // samples was.
  void BeginPoint() {
    ++result_.data_points;
    rejected_at_begin_ = w_.rejected();
  }
  void EndPoint() {
    if (w_.rejected() > rejected_at_begin_) ++result_.rejected_data_points;
  }

  bool Append(uint64_t* ref, const Labels& ls, int64_t t, double v) {
    w_.CountReceived(1);
    return w_.Append(ref, ls, t, v);
  }

  void Resource(const otlp::metrics::v1::ResourceMetrics& rm) {
    const auto& attrs = rm.resource().attributes();
    ResourceLabels rl;
    if (const AnyValue* name = Find(attrs, kServiceName)) {
      rl.has_job = true;
      rl.job = AsString(*name);
      if (const AnyValue* ns = Find(attrs, kServiceNamespace)) {
        rl.job = AsString(*ns) + "/" + rl.job;
      }
    }
    if (const AnyValue* inst = Find(attrs, kServiceInstanceId)) {
      rl.has_instance = true;
      rl.instance = AsString(*inst);
    }
    PromotedAttributes(attrs, &rl.promoted);

    uint64_t earliest = std::numeric_limits<uint64_t>::max();
    uint64_t latest = 0;
    for (const auto& sm : rm.scope_metrics()) {
      rl.scope.clear();
      if (o_.promote_scope_metadata && !sm.scope().name().empty()) ScopeLabels(sm, &rl.scope);
      for (const Metric& m : sm.metrics()) {
        if (w_.failed()) return;
        MinMaxTimestamps(m, &earliest, &latest);
        Translate(m, rl);
      }
    }
    if (earliest != std::numeric_limits<uint64_t>::max() && !w_.failed()) {
      TargetInfo(rm, rl, NanosToMillis(earliest), NanosToMillis(latest));
    }
  }

  void PromotedAttributes(const google::protobuf::RepeatedPtrField<KeyValue>& attrs,
                          std::vector<Label>* out) {
    if (!o_.promote_all_resource_attributes && o_.promote_resource_attributes.empty()) return;
    auto listed = [](const std::vector<std::string>& v, const std::string& k) {
      return std::find(v.begin(), v.end(), k) != v.end();
    };
    std::vector<std::pair<std::string, std::string>> raw;
    for (const KeyValue& kv : attrs) {
      bool promote = o_.promote_all_resource_attributes
                         ? !listed(o_.ignore_resource_attributes, kv.key())
                         : listed(o_.promote_resource_attributes, kv.key());
      if (promote) raw.emplace_back(kv.key(), AsString(kv.value()));
    }
    std::stable_sort(raw.begin(), raw.end(),
                     [](const auto& a, const auto& b) { return a.first < b.first; });
    for (auto& [k, v] : raw) {
      Result<std::string> name = OtlpLabelName(k, o_.translation_strategy);
      if (!name.ok()) {
        Message(name.status().message());
        continue;
      }
      out->push_back(Label{std::move(*name), std::move(v)});
    }
  }

  void ScopeLabels(const otlp::metrics::v1::ScopeMetrics& sm, std::vector<Label>* out) {
    out->push_back(Label{"otel_scope_name", sm.scope().name()});
    out->push_back(Label{"otel_scope_version", sm.scope().version()});
    out->push_back(Label{"otel_scope_schema_url", sm.schema_url()});
    for (const KeyValue& kv : sm.scope().attributes()) {
      Result<std::string> name = OtlpLabelName("otel_scope_" + kv.key(), o_.translation_strategy);
      if (!name.ok()) {
        Message(name.status().message());
        continue;
      }
      out->push_back(Label{std::move(*name), AsString(kv.value())});
    }
  }

  // createAttributes: the point's attributes, then promoted resource
  // attributes, scope labels, job and instance. The caller then sets
  // __name__ and le/quantile. False (with the error recorded) if an
  // attribute key cannot be turned into a label name.
  bool BaseLabels(const google::protobuf::RepeatedPtrField<KeyValue>& attrs,
                  const ResourceLabels& rl, LabelList* out, std::string* error) {
    out->Clear();
    sorted_attrs_.clear();
    for (const KeyValue& kv : attrs) sorted_attrs_.push_back(&kv);
    std::stable_sort(sorted_attrs_.begin(), sorted_attrs_.end(),
                     [](const KeyValue* a, const KeyValue* b) { return a->key() < b->key(); });
    for (const KeyValue* kv : sorted_attrs_) {
      Result<std::string> name = OtlpLabelName(kv->key(), o_.translation_strategy);
      if (!name.ok()) {
        *error = name.status().message();
        return false;
      }
      out->Merge(*name, AsString(kv->value()));
    }
    for (const Label& l : rl.promoted) out->AddIfAbsent(l.name, l.value);
    for (const Label& l : rl.scope) out->Set(l.name, l.value);
    if (rl.has_job) out->Set("job", rl.job);
    if (rl.has_instance) out->Set("instance", rl.instance);
    return true;
  }

  static void MinMaxTimestamps(const Metric& m, uint64_t* lo, uint64_t* hi) {
    auto upd = [&](uint64_t t) {
      *lo = std::min(*lo, t);
      *hi = std::max(*hi, t);
    };
    switch (m.data_case()) {
      case Metric::kGauge:
        for (const auto& p : m.gauge().data_points()) upd(p.time_unix_nano());
        break;
      case Metric::kSum:
        for (const auto& p : m.sum().data_points()) upd(p.time_unix_nano());
        break;
      case Metric::kHistogram:
        for (const auto& p : m.histogram().data_points()) upd(p.time_unix_nano());
        break;
      case Metric::kExponentialHistogram:
        for (const auto& p : m.exponential_histogram().data_points()) upd(p.time_unix_nano());
        break;
      case Metric::kSummary:
        for (const auto& p : m.summary().data_points()) upd(p.time_unix_nano());
        break;
      case Metric::DATA_NOT_SET:
        break;
    }
  }

  static int PointCount(const Metric& m) {
    switch (m.data_case()) {
      case Metric::kGauge:
        return m.gauge().data_points_size();
      case Metric::kSum:
        return m.sum().data_points_size();
      case Metric::kHistogram:
        return m.histogram().data_points_size();
      case Metric::kExponentialHistogram:
        return m.exponential_histogram().data_points_size();
      case Metric::kSummary:
        return m.summary().data_points_size();
      case Metric::DATA_NOT_SET:
        return 0;
    }
    return 0;
  }

  void Translate(const Metric& m, const ResourceLabels& rl) {
    using otlp::metrics::v1::AggregationTemporality;
    OtlpMetricKind kind;
    std::string_view type;
    int temporality = -1;  // -1: the kind has none
    switch (m.data_case()) {
      case Metric::kGauge:
        kind = OtlpMetricKind::kGauge;
        type = "gauge";
        break;
      case Metric::kSum:
        kind = m.sum().is_monotonic() ? OtlpMetricKind::kMonotonicCounter
                                      : OtlpMetricKind::kNonMonotonicCounter;
        type = m.sum().is_monotonic() ? "counter" : "gauge";
        temporality = m.sum().aggregation_temporality();
        break;
      case Metric::kHistogram:
        kind = OtlpMetricKind::kHistogram;
        type = "histogram";
        temporality = m.histogram().aggregation_temporality();
        break;
      case Metric::kExponentialHistogram:
        kind = OtlpMetricKind::kExponentialHistogram;
        type = "histogram";
        temporality = m.exponential_histogram().aggregation_temporality();
        break;
      case Metric::kSummary:
        kind = OtlpMetricKind::kSummary;
        type = "summary";
        break;
      case Metric::DATA_NOT_SET:
      default:
        Message("unsupported metric type for metric \"" + m.name() + "\" (no data)");
        return;
    }
    int points = PointCount(m);
    if (temporality != -1 && temporality != otlp::metrics::v1::AGGREGATION_TEMPORALITY_CUMULATIVE) {
      std::string msg = "invalid temporality and type combination for metric \"" + m.name() + "\"";
      if (temporality == otlp::metrics::v1::AGGREGATION_TEMPORALITY_DELTA) {
        msg += ": delta temporality is not supported, export cumulative temporality";
      }
      RejectPoints(reason::kUnsupportedTemporality, points, std::move(msg));
      return;
    }
    if (points == 0) {
      Message("empty data points. " + m.name() + " is dropped");
      return;
    }
    Result<std::string> family = OtlpMetricName(m.name(), m.unit(), kind, o_.translation_strategy);
    if (!family.ok()) {
      RejectPoints(reason::kInvalidLabels, points, family.status().message());
      return;
    }
    MetricMetadata md;
    md.type = std::string(type);
    md.help = m.description();
    md.unit = m.unit();
    w_.UpdateMetadata(*family, md);

    switch (m.data_case()) {
      case Metric::kGauge:
        for (const auto& p : m.gauge().data_points()) {
          if (!NumberPoint(p, *family, rl, /*exemplars=*/false)) return;
        }
        break;
      case Metric::kSum:
        for (const auto& p : m.sum().data_points()) {
          if (!NumberPoint(p, *family, rl, /*exemplars=*/true)) return;
        }
        break;
      case Metric::kHistogram:
        for (const auto& p : m.histogram().data_points()) {
          if (!HistogramPoint(p, *family, rl)) return;
        }
        break;
      case Metric::kExponentialHistogram:
        for (const auto& p : m.exponential_histogram().data_points()) {
          if (!ExponentialPoint(p, *family, rl)) return;
        }
        break;
      case Metric::kSummary:
        for (const auto& p : m.summary().data_points()) {
          if (!SummaryPoint(p, *family, rl)) return;
        }
        break;
      default:
        break;
    }
  }

  // Sets up base_ for a point; false (point rejected) on bad attributes.
  template <typename Point>
  bool StartPoint(const Point& p, const ResourceLabels& rl) {
    BeginPoint();
    std::string error;
    if (!BaseLabels(p.attributes(), rl, &base_, &error)) {
      --result_.data_points;  // RejectPoints counts it
      RejectPoints(reason::kInvalidLabels, 1, std::move(error));
      return false;
    }
    base_sorted_ = base_.Build().items();
    return true;
  }

  // The point's base labels (sorted once per point) plus __name__ and an
  // optional le/quantile, which override attributes of the same name.
  Labels SeriesLabels(const std::string& name, std::string_view extra_name = {},
                      std::string_view extra_value = {}) const {
    std::vector<Label> v;
    v.reserve(base_sorted_.size() + 2);
    v = base_sorted_;
    auto put = [&v](std::string_view n, std::string_view value) {
      auto it = std::lower_bound(v.begin(), v.end(), n,
                                 [](const Label& l, std::string_view k) { return l.name < k; });
      if (it != v.end() && it->name == n) {
        if (value.empty()) {
          v.erase(it);
        } else {
          it->value.assign(value);
        }
      } else if (!value.empty()) {
        v.insert(it, Label{std::string(n), std::string(value)});
      }
    };
    if (!extra_name.empty()) put(extra_name, extra_value);
    put("__name__", name);
    return Labels::FromSortedUnchecked(std::move(v));
  }

  // Exemplar of an OTLP data point, or false if it has no usable value.
  static bool ConvertExemplar(const otlp::metrics::v1::Exemplar& x, Exemplar* e) {
    switch (x.value_case()) {
      case otlp::metrics::v1::Exemplar::kAsDouble:
        e->value = x.as_double();
        break;
      case otlp::metrics::v1::Exemplar::kAsInt:
        e->value = static_cast<double>(x.as_int());
        break;
      default:
        return false;
    }
    e->timestamp_ms = NanosToMillis(x.time_unix_nano());
    e->has_timestamp = x.time_unix_nano() != 0;
    tsdb::LabelsBuilder b;
    size_t runes = 0;
    if (!x.trace_id().empty() && !AllZero(x.trace_id())) {
      std::string v = Hex(x.trace_id());
      runes += RuneCount("trace_id") + v.size();
      b.Set("trace_id", v);
    }
    if (!x.span_id().empty() && !AllZero(x.span_id())) {
      std::string v = Hex(x.span_id());
      runes += RuneCount("span_id") + v.size();
      b.Set("span_id", v);
    }
    std::vector<std::pair<const std::string*, std::string>> attrs;
    for (const KeyValue& kv : x.filtered_attributes()) {
      std::string v = AsString(kv.value());
      runes += RuneCount(kv.key()) + RuneCount(v);
      attrs.emplace_back(&kv.key(), std::move(v));
    }
    // Filtered attributes only when everything fits the OpenMetrics limit.
    if (runes <= kMaxExemplarRunes) {
      for (auto& [k, v] : attrs) {
        if (b.Get(*k).empty()) b.Set(*k, v);
      }
    }
    e->labels = b.Build();
    return true;
  }

  template <typename Point>
  void Exemplars(const Point& p, uint64_t ref, const Labels& series) {
    for (const auto& x : p.exemplars()) {
      Exemplar e;
      if (!ConvertExemplar(x, &e)) {
        w_.RejectExemplars(reason::kInvalidSample, 1);
        continue;
      }
      w_.AppendExemplar(ref, series, e);
    }
  }

  bool NumberPoint(const otlp::metrics::v1::NumberDataPoint& p, const std::string& family,
                   const ResourceLabels& rl, bool exemplars) {
    if (!StartPoint(p, rl)) return !w_.failed();
    double v = 0;
    if (p.value_case() == otlp::metrics::v1::NumberDataPoint::kAsDouble) {
      v = p.as_double();
    } else if (p.value_case() == otlp::metrics::v1::NumberDataPoint::kAsInt) {
      v = static_cast<double>(p.as_int());
    }
    if (NoRecordedValue(p.flags())) v = StaleNaNValue();
    Labels ls = SeriesLabels(family);
    uint64_t ref = 0;
    if (!Append(&ref, ls, NanosToMillis(p.time_unix_nano()), v)) return false;
    if (exemplars) Exemplars(p, ref, ls);
    EndPoint();
    return true;
  }

  struct Bucket {
    double bound;
    uint64_t ref;
    Labels labels;
  };

  // Appends one cumulative `le` bucket and remembers it for exemplars.
  bool AppendBucket(const std::string& family, double bound, double cumulative, int64_t t,
                    bool stale, bool keep_for_exemplars) {
    Labels ls = SeriesLabels(family + "_bucket", "le", FormatFloatPlain(bound));
    uint64_t ref = 0;
    if (!Append(&ref, ls, t, stale ? StaleNaNValue() : cumulative)) return false;
    if (keep_for_exemplars) buckets_.push_back(Bucket{bound, ref, std::move(ls)});
    return true;
  }

  // _sum (when present) and _count.
  bool SumAndCount(const std::string& family, bool has_sum, double sum, uint64_t count, int64_t t,
                   bool stale) {
    uint64_t ref = 0;
    if (has_sum && !Append(&ref, SeriesLabels(family + "_sum"), t, stale ? StaleNaNValue() : sum)) {
      return false;
    }
    ref = 0;
    return Append(&ref, SeriesLabels(family + "_count"), t,
                  stale ? StaleNaNValue() : static_cast<double>(count));
  }

  template <typename Point>
  void BucketExemplars(const Point& p) {
    for (const auto& x : p.exemplars()) {
      Exemplar e;
      if (!ConvertExemplar(x, &e)) {
        w_.RejectExemplars(reason::kInvalidSample, 1);
        continue;
      }
      // The first bucket whose bound is >= the value (buckets_ is sorted).
      auto it = std::find_if(buckets_.begin(), buckets_.end(),
                             [&](const Bucket& b) { return e.value <= b.bound; });
      if (it == buckets_.end()) {
        w_.RejectExemplars(reason::kInvalidSample, 1);
        continue;
      }
      w_.AppendExemplar(it->ref, it->labels, e);
    }
  }

  bool HistogramPoint(const otlp::metrics::v1::HistogramDataPoint& p, const std::string& family,
                      const ResourceLabels& rl) {
    if (!StartPoint(p, rl)) return !w_.failed();
    int64_t t = NanosToMillis(p.time_unix_nano());
    bool stale = NoRecordedValue(p.flags());
    if (!SumAndCount(family, p.has_sum(), p.sum(), p.count(), t, stale)) return false;
    bool keep = p.exemplars_size() > 0;
    buckets_.clear();
    uint64_t cumulative = 0;
    int n = std::min(p.explicit_bounds_size(), p.bucket_counts_size());
    for (int i = 0; i < n; ++i) {
      cumulative += p.bucket_counts(i);
      // An explicit +Inf (or NaN) bound would collide with the +Inf bucket.
      if (!std::isfinite(p.explicit_bounds(i))) continue;
      if (!AppendBucket(family, p.explicit_bounds(i), static_cast<double>(cumulative), t, stale,
                        keep)) {
        return false;
      }
    }
    if (!AppendBucket(family, std::numeric_limits<double>::infinity(),
                      static_cast<double>(p.count()), t, stale, keep)) {
      return false;
    }
    if (keep) {
      std::stable_sort(buckets_.begin(), buckets_.end(),
                       [](const Bucket& a, const Bucket& b) { return a.bound < b.bound; });
      BucketExemplars(p);
    }
    EndPoint();
    return true;
  }

  // Upper bound of bucket `index` at `scale`: 2^((index+1) * 2^-scale), or,
  // for the negative range, called with index = i-1 to get b^i.
  static double ExpBound(int64_t exponent_numerator, int scale) {
    double e = std::ldexp(static_cast<double>(exponent_numerator), -scale);
    if (e == std::floor(e) && e > -1075 && e < 1024) return std::ldexp(1.0, static_cast<int>(e));
    return std::exp2(e);
  }

  // Bucket counts of one sign at the reduced scale, keyed by index.
  static std::map<int64_t, uint64_t> Downscale(
      const otlp::metrics::v1::ExponentialHistogramDataPoint::Buckets& b, int shift) {
    std::map<int64_t, uint64_t> out;
    for (int k = 0; k < b.bucket_counts_size(); ++k) {
      int64_t index = static_cast<int64_t>(b.offset()) + k;
      out[index >> shift] += b.bucket_counts(k);  // arithmetic shift: floor
    }
    return out;
  }

  static int64_t Span(const std::map<int64_t, uint64_t>& m) {
    return m.empty() ? 0 : m.rbegin()->first - m.begin()->first + 1;
  }

  bool ExponentialPoint(const otlp::metrics::v1::ExponentialHistogramDataPoint& p,
                        const std::string& family, const ResourceLabels& rl) {
    if (!StartPoint(p, rl)) return !w_.failed();
    int64_t t = NanosToMillis(p.time_unix_nano());
    bool stale = NoRecordedValue(p.flags());
    if (!SumAndCount(family, p.has_sum(), p.sum(), p.count(), t, stale)) return false;

    int scale = p.scale();
    int shift = std::max(0, scale - o_.exp_histogram_max_scale);
    std::map<int64_t, uint64_t> pos = Downscale(p.positive(), shift);
    std::map<int64_t, uint64_t> neg = Downscale(p.negative(), shift);
    int64_t max_buckets = std::max(1, o_.exp_histogram_max_buckets);
    while (Span(pos) + Span(neg) > max_buckets && shift < 62) {
      ++shift;
      pos = Downscale(p.positive(), shift);
      neg = Downscale(p.negative(), shift);
    }
    int s = scale - shift;

    bool keep = p.exemplars_size() > 0;
    buckets_.clear();
    uint64_t cumulative = 0;
    double last = -std::numeric_limits<double>::infinity();
    auto emit = [&](double bound) {
      // Out of order (zero threshold overlapping the buckets) or overflowed
      // to infinity: the count is carried into the next bucket.
      if (bound <= last || !std::isfinite(bound)) return true;
      last = bound;
      return AppendBucket(family, bound, static_cast<double>(cumulative), t, stale, keep);
    };
    if (!neg.empty()) {
      // Bucket i covers [-b^(i+1), -b^i): most negative first, le = -b^i.
      for (int64_t i = neg.rbegin()->first; i >= neg.begin()->first; --i) {
        auto it = neg.find(i);
        if (it != neg.end()) cumulative += it->second;
        if (!emit(-ExpBound(i, s))) return false;
      }
    }
    if (p.zero_count() > 0 || !neg.empty()) {
      cumulative += p.zero_count();
      if (!emit(p.zero_threshold())) return false;
    }
    if (!pos.empty()) {
      for (int64_t i = pos.begin()->first; i <= pos.rbegin()->first; ++i) {
        auto it = pos.find(i);
        if (it != pos.end()) cumulative += it->second;
        if (!emit(ExpBound(i + 1, s))) return false;
      }
    }
    if (!AppendBucket(family, std::numeric_limits<double>::infinity(),
                      static_cast<double>(p.count()), t, stale, keep)) {
      return false;
    }
    if (keep) BucketExemplars(p);
    EndPoint();
    return true;
  }

  bool SummaryPoint(const otlp::metrics::v1::SummaryDataPoint& p, const std::string& family,
                    const ResourceLabels& rl) {
    if (!StartPoint(p, rl)) return !w_.failed();
    int64_t t = NanosToMillis(p.time_unix_nano());
    bool stale = NoRecordedValue(p.flags());
    if (!SumAndCount(family, /*has_sum=*/true, p.sum(), p.count(), t, stale)) return false;
    for (const auto& q : p.quantile_values()) {
      uint64_t ref = 0;
      Labels ls = SeriesLabels(family, "quantile", FormatFloatPlain(q.quantile()));
      if (!Append(&ref, ls, t, stale ? StaleNaNValue() : q.value())) return false;
    }
    EndPoint();
    return true;
  }

  // target_info: the resource attributes that are not job/instance, on a
  // series that joins with the resource's series on job and instance.
  void TargetInfo(const otlp::metrics::v1::ResourceMetrics& rm, const ResourceLabels& rl,
                  int64_t earliest_ms, int64_t latest_ms) {
    if (o_.disable_target_info) return;
    const auto& attrs = rm.resource().attributes();
    auto identifying = [](std::string_view k) {
      return k == kServiceName || k == kServiceNamespace || k == kServiceInstanceId;
    };
    int non_identifying = attrs.size();
    for (std::string_view k : {kServiceName, kServiceNamespace, kServiceInstanceId}) {
      if (Find(attrs, k)) --non_identifying;
    }
    if (non_identifying <= 0) return;  // only job and instance: nothing to add
    if (!rl.has_job && !rl.has_instance) return;

    std::vector<std::pair<std::string, std::string>> raw;
    for (const KeyValue& kv : attrs) {
      if (!o_.keep_identifying_resource_attributes && identifying(kv.key())) continue;
      raw.emplace_back(kv.key(), AsString(kv.value()));
    }
    std::stable_sort(raw.begin(), raw.end(),
                     [](const auto& a, const auto& b) { return a.first < b.first; });
    LabelList l;
    for (const auto& [k, v] : raw) {
      Result<std::string> name = OtlpLabelName(k, o_.translation_strategy);
      if (!name.ok()) {
        Message(name.status().message());
        continue;
      }
      l.Merge(*name, v);
    }
    if (rl.has_job) l.Set("job", rl.job);
    if (rl.has_instance) l.Set("instance", rl.instance);
    l.Set("__name__", kTargetInfo);
    Labels ls = l.Build();
    if (!ls.Has("job") && !ls.Has("instance")) return;

    MetricMetadata md;
    md.type = "gauge";
    md.help = "Target metadata";
    w_.UpdateMetadata(std::string(kTargetInfo), md);

    int64_t interval = std::max<int64_t>(1, o_.lookback_delta_ms / 2);
    int64_t start = earliest_ms;
    if ((latest_ms - start) / interval > kMaxTargetInfoSamples) {
      start = latest_ms - kMaxTargetInfoSamples * interval;
    }
    uint64_t ref = 0;
    int64_t last = std::numeric_limits<int64_t>::min();
    for (int64_t ts = start; ts < latest_ms; ts += interval) {
      if (!Append(&ref, ls, ts, 1)) return;
      last = ts;
    }
    if (last < latest_ms) Append(&ref, ls, latest_ms, 1);
  }

  const OtlpOptions& o_;
  BatchWriter& w_;
  OtlpTranslation result_;
  int64_t rejected_at_begin_ = 0;
  LabelList base_;
  std::vector<Label> base_sorted_;
  std::vector<const KeyValue*> sorted_attrs_;
  std::vector<Bucket> buckets_;
};

}  // namespace

OtlpTranslation TranslateOtlpMetrics(
    const otlp::collector::metrics::v1::ExportMetricsServiceRequest& request,
    const OtlpOptions& options, BatchWriter& writer) {
  Translator t(options, writer);
  OtlpTranslation result = t.Run(request);
  if (!writer.first_error().empty() &&
      std::find(result.messages.begin(), result.messages.end(), writer.first_error()) ==
          result.messages.end() &&
      result.messages.size() < kMaxMessages) {
    result.messages.push_back(writer.first_error());
  }
  return result;
}

}  // namespace sightline::metrics::ingest
