#include "traces/ingest/zipkin.h"

#include <simdjson.h>

#include <map>
#include <unordered_map>

#include "traces/ingest/ids.h"

namespace sightline::traces::ingest {

namespace {

using simdjson::dom::element;
using simdjson::dom::object;

std::string_view Str(object o, std::string_view key) {
  std::string_view v;
  if (o[key].get_string().get(v) != simdjson::SUCCESS) return {};
  return v;
}

uint64_t Uint(object o, std::string_view key) {
  element e;
  if (o[key].get(e) != simdjson::SUCCESS) return 0;
  uint64_t u;
  if (e.get_uint64().get(u) == simdjson::SUCCESS) return u;
  int64_t i;
  if (e.get_int64().get(i) == simdjson::SUCCESS) return i < 0 ? 0 : static_cast<uint64_t>(i);
  double d;
  if (e.get_double().get(d) == simdjson::SUCCESS) return d < 0 ? 0 : static_cast<uint64_t>(d);
  return 0;
}

KeyValue StringAttr(std::string key, std::string_view value, const ConvertOptions& o,
                    uint64_t* truncated) {
  std::string v(value);
  if (o.max_attribute_value_bytes > 0 && v.size() > o.max_attribute_value_bytes) {
    TruncateUtf8(&v, o.max_attribute_value_bytes);
    ++*truncated;
  }
  KeyValue kv;
  kv.key = std::move(key);
  kv.value.v = std::move(v);
  return kv;
}

int KindOf(std::string_view k) {
  if (k == "SERVER") return 2;
  if (k == "CLIENT") return 3;
  if (k == "PRODUCER") return 4;
  if (k == "CONSUMER") return 5;
  return 1;  // internal
}

}  // namespace

Result<ConvertResult> TracesFromZipkinJson(std::string_view body, const ConvertOptions& options) {
  simdjson::dom::parser parser;
  simdjson::padded_string padded(body);
  element doc;
  if (auto err = parser.parse(padded).get(doc); err != simdjson::SUCCESS) {
    return InvalidArgumentError(std::string("cannot decode Zipkin JSON: ") +
                                simdjson::error_message(err));
  }
  simdjson::dom::array spans;
  if (doc.get_array().get(spans) != simdjson::SUCCESS) {
    return InvalidArgumentError("Zipkin v2 JSON must be an array of spans");
  }
  ConvertResult result;
  std::unordered_map<std::string, size_t> by_id;
  // (trace, service) → resource index.
  std::map<std::pair<size_t, std::string>, uint32_t> resources;
  size_t n = 0;
  for (element e : spans) {
    ++n;
    object o;
    if (e.get_object().get(o) != simdjson::SUCCESS) {
      return InvalidArgumentError("Zipkin span " + std::to_string(n) + " is not an object");
    }
    auto trace_id = HexToId(Str(o, "traceId"), 16);
    auto span_id = HexToId(Str(o, "id"), 8);
    if (!trace_id || IsZeroId(*trace_id) || !span_id || IsZeroId(*span_id)) {
      return InvalidArgumentError("Zipkin span " + std::to_string(n) +
                                  ": traceId (16 or 32 hex digits) and id (16 hex digits) "
                                  "are required");
    }
    auto [it, inserted] = by_id.try_emplace(*trace_id, result.traces.size());
    if (inserted) {
      result.traces.emplace_back();
      result.traces.back().trace_id = *trace_id;
      result.traces.back().scopes.push_back(Scope{});
    }
    Trace& t = result.traces[it->second];

    std::string service;
    object local;
    if (o["localEndpoint"].get_object().get(local) == simdjson::SUCCESS) {
      service = std::string(Str(local, "serviceName"));
    }
    auto [rit, rnew] = resources.try_emplace({it->second, service}, 0);
    if (rnew) {
      Resource r;
      if (!service.empty()) {
        r.attributes.push_back(StringAttr("service.name", service, options,
                                          &result.truncated_values));
      }
      t.resources.push_back(std::move(r));
      rit->second = static_cast<uint32_t>(t.resources.size() - 1);
    }

    Span s;
    s.span_id = *span_id;
    if (auto p = HexToId(Str(o, "parentId"), 8); p && !IsZeroId(*p)) s.parent_span_id = *p;
    s.name = std::string(Str(o, "name"));
    s.kind = KindOf(Str(o, "kind"));
    s.start_unix_nano = Uint(o, "timestamp") * 1000;
    s.end_unix_nano = s.start_unix_nano + Uint(o, "duration") * 1000;
    s.resource_index = rit->second;
    s.scope_index = 0;

    object tags;
    if (o["tags"].get_object().get(tags) == simdjson::SUCCESS) {
      for (auto field : tags) {
        std::string_view v;
        if (field.value.get_string().get(v) != simdjson::SUCCESS) continue;
        std::string_view k = field.key;
        if (k == "error") {
          s.status_code = 2;
          if (v != "true" && v != "") s.status_message = std::string(v);
          continue;
        }
        if (k == "otel.status_code") {
          s.status_code = v == "ERROR" ? 2 : v == "OK" ? 1 : 0;
          continue;
        }
        if (k == "otel.status_description") {
          s.status_message = std::string(v);
          continue;
        }
        s.attributes.push_back(StringAttr(std::string(k), v, options, &result.truncated_values));
      }
    }
    object remote;
    if (o["remoteEndpoint"].get_object().get(remote) == simdjson::SUCCESS) {
      if (auto sn = Str(remote, "serviceName"); !sn.empty()) {
        s.attributes.push_back(StringAttr("peer.service", sn, options, &result.truncated_values));
      }
      if (auto ip = Str(remote, "ipv4"); !ip.empty()) {
        s.attributes.push_back(StringAttr("net.peer.ip", ip, options, &result.truncated_values));
      } else if (auto ip6 = Str(remote, "ipv6"); !ip6.empty()) {
        s.attributes.push_back(StringAttr("net.peer.ip", ip6, options, &result.truncated_values));
      }
      if (uint64_t port = Uint(remote, "port"); port > 0) {
        KeyValue kv;
        kv.key = "net.peer.port";
        kv.value.v = static_cast<int64_t>(port);
        s.attributes.push_back(std::move(kv));
      }
    }
    simdjson::dom::array annotations;
    if (o["annotations"].get_array().get(annotations) == simdjson::SUCCESS) {
      for (element a : annotations) {
        object ao;
        if (a.get_object().get(ao) != simdjson::SUCCESS) continue;
        Event ev;
        ev.time_unix_nano = Uint(ao, "timestamp") * 1000;
        ev.name = std::string(Str(ao, "value"));
        s.events.push_back(std::move(ev));
      }
    }
    t.spans.push_back(std::move(s));
    ++result.spans;
  }
  return result;
}

}  // namespace sightline::traces::ingest
