#include "logs/ingest/otlp_logs.h"

#include <cctype>
#include <map>

#include "base/json_writer.h"
#include "opentelemetry/proto/collector/logs/v1/logs_service.pb.h"

namespace sightline::logs::ingest {

namespace colllogs = opentelemetry::proto::collector::logs::v1;
namespace common = opentelemetry::proto::common::v1;

const std::array<std::string_view, 18> kIndexedResourceAttributes = {
    "service.name",         "service.namespace",       "service.instance.id",
    "deployment.environment", "deployment.environment.name", "cloud.region",
    "cloud.availability_zone", "k8s.cluster.name",     "k8s.namespace.name",
    "k8s.pod.name",         "k8s.container.name",      "container.name",
    "k8s.replicaset.name",  "k8s.deployment.name",     "k8s.statefulset.name",
    "k8s.daemonset.name",   "k8s.cronjob.name",        "k8s.job.name",
};

namespace {

std::string Hex(std::string_view bytes) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  out.reserve(bytes.size() * 2);
  for (unsigned char c : bytes) {
    out.push_back(kDigits[c >> 4]);
    out.push_back(kDigits[c & 15]);
  }
  return out;
}

std::string Base64(std::string_view in) {
  static constexpr char k[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  size_t i = 0;
  for (; i + 2 < in.size(); i += 3) {
    uint32_t v = (uint8_t(in[i]) << 16) | (uint8_t(in[i + 1]) << 8) | uint8_t(in[i + 2]);
    out += {k[v >> 18], k[(v >> 12) & 63], k[(v >> 6) & 63], k[v & 63]};
  }
  if (i + 1 == in.size()) {
    uint32_t v = uint8_t(in[i]) << 16;
    out += {k[v >> 18], k[(v >> 12) & 63], '=', '='};
  } else if (i + 2 == in.size()) {
    uint32_t v = (uint8_t(in[i]) << 16) | (uint8_t(in[i + 1]) << 8);
    out += {k[v >> 18], k[(v >> 12) & 63], k[(v >> 6) & 63], '='};
  }
  return out;
}

void WriteJson(JsonWriter& w, const common::AnyValue& v) {
  switch (v.value_case()) {
    case common::AnyValue::kStringValue: w.String(v.string_value()); break;
    case common::AnyValue::kBoolValue: w.Bool(v.bool_value()); break;
    case common::AnyValue::kIntValue: w.Int(v.int_value()); break;
    case common::AnyValue::kDoubleValue: w.Double(v.double_value()); break;
    case common::AnyValue::kBytesValue: w.String(Base64(v.bytes_value())); break;
    case common::AnyValue::kArrayValue:
      w.BeginArray();
      for (const auto& e : v.array_value().values()) WriteJson(w, e);
      w.EndArray();
      break;
    case common::AnyValue::kKvlistValue:
      w.BeginObject();
      for (const auto& kv : v.kvlist_value().values()) {
        w.Key(kv.key());
        WriteJson(w, kv.value());
      }
      w.EndObject();
      break;
    default: w.Null(); break;
  }
}

std::string AsString(const common::AnyValue& v) {
  switch (v.value_case()) {
    case common::AnyValue::kStringValue: return v.string_value();
    case common::AnyValue::kBoolValue: return v.bool_value() ? "true" : "false";
    case common::AnyValue::kIntValue: return std::to_string(v.int_value());
    case common::AnyValue::kDoubleValue: {
      JsonWriter w;
      w.Double(v.double_value());
      return w.Take();
    }
    case common::AnyValue::kBytesValue: return Base64(v.bytes_value());
    case common::AnyValue::VALUE_NOT_SET: return "";
    default: {
      JsonWriter w;
      WriteJson(w, v);
      return w.Take();
    }
  }
}

std::string_view LevelFromSeverity(int number, std::string_view text) {
  if (number >= 1 && number <= 4) return "trace";
  if (number >= 5 && number <= 8) return "debug";
  if (number >= 9 && number <= 12) return "info";
  if (number >= 13 && number <= 16) return "warn";
  if (number >= 17 && number <= 20) return "error";
  if (number >= 21) return "fatal";
  std::string lower;
  for (char c : text) lower.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(c))));
  if (lower.rfind("trace", 0) == 0) return "trace";
  if (lower.rfind("debug", 0) == 0) return "debug";
  if (lower.rfind("info", 0) == 0) return "info";
  if (lower.rfind("warn", 0) == 0) return "warn";
  if (lower.rfind("err", 0) == 0) return "error";
  if (lower.rfind("fatal", 0) == 0 || lower.rfind("crit", 0) == 0) return "fatal";
  return "";
}

}  // namespace

std::string NormalizeAttributeName(std::string_view name) {
  std::string out;
  out.reserve(name.size() + 4);
  for (char c : name) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
    out.push_back(ok ? c : '_');
  }
  if (!out.empty() && out[0] >= '0' && out[0] <= '9') out = "key_" + out;
  return out;
}

std::vector<PushStream> TranslateOtlpLogs(const colllogs::ExportLogsServiceRequest& request,
                                          int64_t now_ns) {
  std::vector<PushStream> out;
  for (const auto& rl : request.resource_logs()) {
    std::map<std::string, std::string> stream_labels;
    std::map<std::string, std::string> resource_md;
    for (const auto& kv : rl.resource().attributes()) {
      bool indexed = false;
      for (auto name : kIndexedResourceAttributes) {
        if (kv.key() == name) indexed = true;
      }
      std::string value = AsString(kv.value());
      if (value.empty()) continue;
      (indexed ? stream_labels : resource_md)[NormalizeAttributeName(kv.key())] = value;
    }
    if (stream_labels.find("service_name") == stream_labels.end()) {
      stream_labels["service_name"] = "unknown_service";
    }
    stream_labels.erase("");
    std::vector<tsdb::Label> lv;
    for (auto& [k, v] : stream_labels) lv.push_back({k, v});
    PushStream ps;
    ps.labels = Labels::FromSortedUnchecked(std::move(lv));
    for (const auto& sl : rl.scope_logs()) {
      std::map<std::string, std::string> scope_md = resource_md;
      if (!sl.scope().name().empty()) scope_md["scope_name"] = sl.scope().name();
      if (!sl.scope().version().empty()) scope_md["scope_version"] = sl.scope().version();
      for (const auto& kv : sl.scope().attributes()) {
        std::string value = AsString(kv.value());
        if (!value.empty()) scope_md[NormalizeAttributeName(kv.key())] = value;
      }
      for (const auto& rec : sl.log_records()) {
        Entry e;
        e.timestamp_ns = rec.time_unix_nano() != 0
                             ? static_cast<int64_t>(rec.time_unix_nano())
                             : rec.observed_time_unix_nano() != 0
                                   ? static_cast<int64_t>(rec.observed_time_unix_nano())
                                   : now_ns;
        e.line = AsString(rec.body());
        std::map<std::string, std::string> md = scope_md;
        for (const auto& kv : rec.attributes()) {
          std::string value = AsString(kv.value());
          if (!value.empty()) md[NormalizeAttributeName(kv.key())] = value;
        }
        if (rec.trace_id().size() == 16) md["trace_id"] = Hex(rec.trace_id());
        if (rec.span_id().size() == 8) md["span_id"] = Hex(rec.span_id());
        if (!rec.severity_text().empty()) md["severity_text"] = rec.severity_text();
        if (rec.severity_number() != 0) {
          md["severity_number"] = std::to_string(static_cast<int>(rec.severity_number()));
        }
        std::string_view level =
            LevelFromSeverity(static_cast<int>(rec.severity_number()), rec.severity_text());
        if (!level.empty()) md["detected_level"] = std::string(level);
        if (rec.flags() != 0) md["flags"] = std::to_string(rec.flags());
        md.erase("");
        std::vector<tsdb::Label> mv;
        mv.reserve(md.size());
        for (auto& [k, v] : md) mv.push_back({k, v});
        e.structured_metadata = Labels::FromSortedUnchecked(std::move(mv));
        ps.entries.push_back(std::move(e));
      }
    }
    if (!ps.entries.empty()) out.push_back(std::move(ps));
  }
  return out;
}

}  // namespace sightline::logs::ingest
