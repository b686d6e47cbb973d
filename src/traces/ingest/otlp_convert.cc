#include "traces/ingest/otlp_convert.h"

#include <map>
#include <optional>
#include <set>
#include <unordered_map>

#include "opentelemetry/proto/collector/trace/v1/trace_service.pb.h"
#include "opentelemetry/proto/trace/v1/trace.pb.h"
#include "traces/ingest/ids.h"

namespace sightline::traces::ingest {

namespace otlp = opentelemetry::proto::trace::v1;
namespace otlpcommon = opentelemetry::proto::common::v1;
namespace coltrace = opentelemetry::proto::collector::trace::v1;

namespace {

struct Converter {
  const ConvertOptions& options;
  uint64_t truncated = 0;

  void Cut(std::string* s) {
    if (options.max_attribute_value_bytes > 0 && s->size() > options.max_attribute_value_bytes) {
      TruncateUtf8(s, options.max_attribute_value_bytes);
      ++truncated;
    }
  }

  AttributeValue Value(const otlpcommon::AnyValue& v) {
    AttributeValue out;
    switch (v.value_case()) {
      case otlpcommon::AnyValue::kStringValue: {
        std::string s = v.string_value();
        Cut(&s);
        out.v = std::move(s);
        break;
      }
      case otlpcommon::AnyValue::kBoolValue:
        out.v = v.bool_value();
        break;
      case otlpcommon::AnyValue::kIntValue:
        out.v = static_cast<int64_t>(v.int_value());
        break;
      case otlpcommon::AnyValue::kDoubleValue:
        out.v = v.double_value();
        break;
      case otlpcommon::AnyValue::kBytesValue: {
        std::string s = v.bytes_value();
        Cut(&s);
        out.v = std::move(s);
        out.is_bytes = true;
        break;
      }
      case otlpcommon::AnyValue::kArrayValue: {
        ArrayValue arr;
        arr.reserve(v.array_value().values_size());
        for (const auto& e : v.array_value().values()) arr.push_back(Value(e));
        out.v = std::move(arr);
        break;
      }
      case otlpcommon::AnyValue::kKvlistValue: {
        KeyValueList kvs;
        for (const auto& kv : v.kvlist_value().values()) kvs.push_back({kv.key(), Value(kv.value())});
        out.v = std::move(kvs);
        break;
      }
      default:
        break;
    }
    return out;
  }

  std::vector<KeyValue> Attrs(
      const google::protobuf::RepeatedPtrField<otlpcommon::KeyValue>& attrs) {
    std::vector<KeyValue> out;
    out.reserve(attrs.size());
    for (const auto& kv : attrs) out.push_back({kv.key(), Value(kv.value())});
    return out;
  }
};

void ToAny(const AttributeValue& v, otlpcommon::AnyValue* out);

void ToKeyValues(const std::vector<KeyValue>& in,
                 google::protobuf::RepeatedPtrField<otlpcommon::KeyValue>* out) {
  out->Reserve(static_cast<int>(in.size()));
  for (const KeyValue& kv : in) {
    auto* o = out->Add();
    o->set_key(kv.key);
    ToAny(kv.value, o->mutable_value());
  }
}

void ToAny(const AttributeValue& v, otlpcommon::AnyValue* out) {
  if (const auto* s = std::get_if<std::string>(&v.v)) {
    if (v.is_bytes) {
      out->set_bytes_value(*s);
    } else {
      out->set_string_value(*s);
    }
  } else if (const auto* b = std::get_if<bool>(&v.v)) {
    out->set_bool_value(*b);
  } else if (const auto* i = std::get_if<int64_t>(&v.v)) {
    out->set_int_value(*i);
  } else if (const auto* d = std::get_if<double>(&v.v)) {
    out->set_double_value(*d);
  } else if (const auto* a = std::get_if<ArrayValue>(&v.v)) {
    auto* arr = out->mutable_array_value();
    for (const auto& e : *a) ToAny(e, arr->add_values());
  } else if (const auto* kvs = std::get_if<KeyValueList>(&v.v)) {
    ToKeyValues(*kvs, out->mutable_kvlist_value()->mutable_values());
  }
}

}  // namespace

void AttributeToOtlp(const KeyValue& kv, otlpcommon::KeyValue* out) {
  out->set_key(kv.key);
  ToAny(kv.value, out->mutable_value());
}

void AttributeToOtlp(const AttributeValue& v, otlpcommon::AnyValue* out) { ToAny(v, out); }

void TruncateUtf8(std::string* s, size_t max) {
  if (s->size() <= max) return;
  size_t n = max;
  // Back off continuation bytes so that a multi-byte sequence is not split.
  while (n > 0 && (static_cast<unsigned char>((*s)[n]) & 0xC0) == 0x80) --n;
  s->resize(n);
}

ConvertResult TracesFromOtlp(const coltrace::ExportTraceServiceRequest& request,
                             const ConvertOptions& options) {
  ConvertResult result;
  Converter conv{options};
  std::unordered_map<std::string, size_t> by_id;
  std::set<std::string> messages;

  for (const auto& rs : request.resource_spans()) {
    // Each trace gets its own copy of this resource (and scope) the first
    // time one of its spans uses it.
    std::optional<Resource> resource;
    std::unordered_map<size_t, uint32_t> resource_index;  // trace → index
    for (const auto& ss : rs.scope_spans()) {
      std::optional<Scope> scope;
      std::unordered_map<size_t, uint32_t> scope_index;
      for (const auto& sp : ss.spans()) {
        if (sp.trace_id().size() != 16 || IsZeroId(sp.trace_id())) {
          ++result.rejected_spans;
          messages.insert("span with an invalid trace id (want 16 bytes, not all zero)");
          continue;
        }
        if (sp.span_id().size() != 8 || IsZeroId(sp.span_id())) {
          ++result.rejected_spans;
          messages.insert("span with an invalid span id (want 8 bytes, not all zero)");
          continue;
        }
        auto [it, inserted] = by_id.try_emplace(sp.trace_id(), result.traces.size());
        if (inserted) {
          result.traces.emplace_back();
          result.traces.back().trace_id = sp.trace_id();
        }
        size_t ti = it->second;
        Trace& t = result.traces[ti];

        auto ri = resource_index.find(ti);
        if (ri == resource_index.end()) {
          if (!resource) {
            resource.emplace();
            resource->attributes = conv.Attrs(rs.resource().attributes());
            resource->dropped_attributes_count = rs.resource().dropped_attributes_count();
            resource->schema_url = rs.schema_url();
          }
          t.resources.push_back(*resource);
          ri = resource_index.emplace(ti, static_cast<uint32_t>(t.resources.size() - 1)).first;
        }
        auto si = scope_index.find(ti);
        if (si == scope_index.end()) {
          if (!scope) {
            scope.emplace();
            scope->name = ss.scope().name();
            scope->version = ss.scope().version();
            scope->attributes = conv.Attrs(ss.scope().attributes());
            scope->dropped_attributes_count = ss.scope().dropped_attributes_count();
            scope->schema_url = ss.schema_url();
          }
          t.scopes.push_back(*scope);
          si = scope_index.emplace(ti, static_cast<uint32_t>(t.scopes.size() - 1)).first;
        }

        Span s;
        s.span_id = sp.span_id();
        if (sp.parent_span_id().size() == 8 && !IsZeroId(sp.parent_span_id())) {
          s.parent_span_id = sp.parent_span_id();
        }
        s.trace_state = sp.trace_state();
        s.flags = sp.flags();
        s.name = sp.name();
        s.kind = static_cast<int>(sp.kind());
        s.start_unix_nano = sp.start_time_unix_nano();
        s.end_unix_nano = sp.end_time_unix_nano();
        s.attributes = conv.Attrs(sp.attributes());
        s.dropped_attributes_count = sp.dropped_attributes_count();
        s.events.reserve(sp.events_size());
        for (const auto& e : sp.events()) {
          s.events.push_back({e.time_unix_nano(), e.name(), conv.Attrs(e.attributes()),
                              e.dropped_attributes_count()});
        }
        s.dropped_events_count = sp.dropped_events_count();
        for (const auto& l : sp.links()) {
          s.links.push_back({l.trace_id(), l.span_id(), l.trace_state(), conv.Attrs(l.attributes()),
                             l.dropped_attributes_count(), l.flags()});
        }
        s.dropped_links_count = sp.dropped_links_count();
        s.status_code = static_cast<int>(sp.status().code());
        s.status_message = sp.status().message();
        s.resource_index = ri->second;
        s.scope_index = si->second;
        t.spans.push_back(std::move(s));
        ++result.spans;
      }
    }
  }
  result.truncated_values = conv.truncated;
  result.messages.assign(messages.begin(), messages.end());
  return result;
}

void TraceToOtlp(const Trace& trace, otlp::TracesData* out) {
  // resource index → (scope index → ScopeSpans), in order of first use.
  std::map<uint32_t, otlp::ResourceSpans*> rs_of;
  std::map<std::pair<uint32_t, uint32_t>, otlp::ScopeSpans*> ss_of;
  for (const Span& s : trace.spans) {
    otlp::ResourceSpans*& rs = rs_of[s.resource_index];
    if (rs == nullptr) {
      rs = out->add_resource_spans();
      if (s.resource_index < trace.resources.size()) {
        const Resource& r = trace.resources[s.resource_index];
        ToKeyValues(r.attributes, rs->mutable_resource()->mutable_attributes());
        rs->mutable_resource()->set_dropped_attributes_count(r.dropped_attributes_count);
        rs->set_schema_url(r.schema_url);
      }
    }
    otlp::ScopeSpans*& ss = ss_of[{s.resource_index, s.scope_index}];
    if (ss == nullptr) {
      ss = rs->add_scope_spans();
      if (s.scope_index < trace.scopes.size()) {
        const Scope& sc = trace.scopes[s.scope_index];
        ss->mutable_scope()->set_name(sc.name);
        ss->mutable_scope()->set_version(sc.version);
        ToKeyValues(sc.attributes, ss->mutable_scope()->mutable_attributes());
        ss->mutable_scope()->set_dropped_attributes_count(sc.dropped_attributes_count);
        ss->set_schema_url(sc.schema_url);
      }
    }
    otlp::Span* o = ss->add_spans();
    o->set_trace_id(trace.trace_id);
    o->set_span_id(s.span_id);
    o->set_parent_span_id(s.parent_span_id);
    o->set_trace_state(s.trace_state);
    o->set_flags(s.flags);
    o->set_name(s.name);
    o->set_kind(static_cast<otlp::Span::SpanKind>(s.kind));
    o->set_start_time_unix_nano(s.start_unix_nano);
    o->set_end_time_unix_nano(s.end_unix_nano);
    ToKeyValues(s.attributes, o->mutable_attributes());
    o->set_dropped_attributes_count(s.dropped_attributes_count);
    for (const Event& e : s.events) {
      auto* oe = o->add_events();
      oe->set_time_unix_nano(e.time_unix_nano);
      oe->set_name(e.name);
      ToKeyValues(e.attributes, oe->mutable_attributes());
      oe->set_dropped_attributes_count(e.dropped_attributes_count);
    }
    o->set_dropped_events_count(s.dropped_events_count);
    for (const Link& l : s.links) {
      auto* ol = o->add_links();
      ol->set_trace_id(l.trace_id);
      ol->set_span_id(l.span_id);
      ol->set_trace_state(l.trace_state);
      ToKeyValues(l.attributes, ol->mutable_attributes());
      ol->set_dropped_attributes_count(l.dropped_attributes_count);
      ol->set_flags(l.flags);
    }
    o->set_dropped_links_count(s.dropped_links_count);
    if (s.status_code != 0 || !s.status_message.empty()) {
      o->mutable_status()->set_code(static_cast<otlp::Status::StatusCode>(s.status_code));
      o->mutable_status()->set_message(s.status_message);
    }
  }
}

}  // namespace sightline::traces::ingest
