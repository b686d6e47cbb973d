#include "traces/traceql/combine.h"

#include <algorithm>
#include <string>
#include <unordered_map>
#include <variant>

namespace sightline::traces::traceql {

namespace {

constexpr std::string_view kNoRoot = "<root span not yet received>";

bool HasRoot(const TraceSearchResult& r) {
  return !r.root_service_name.empty() && r.root_service_name != kNoRoot;
}

std::string ValueKey(const AttributeValue& v) {
  std::string out = std::to_string(v.v.index()) + ":";
  if (const auto* s = std::get_if<std::string>(&v.v)) out += *s;
  if (const auto* b = std::get_if<bool>(&v.v)) out += *b ? "true" : "false";
  if (const auto* i = std::get_if<int64_t>(&v.v)) out += std::to_string(*i);
  if (const auto* d = std::get_if<double>(&v.v)) out += std::to_string(*d);
  return out;
}

// A spanset's identity: its by() values (Tempo: attributes whose key
// starts with "by").
std::string SpansetKey(const SpanSetResult& ss) {
  std::string id;
  for (const KeyValue& kv : ss.attributes) {
    if (kv.key.rfind("by", 0) != 0) continue;
    id += kv.key;
    id.push_back('\0');
    id += ValueKey(kv.value);
    id.push_back('\0');
  }
  return id;
}

void CombineSpanset(SpanSetResult* into, const SpanSetResult& part, uint32_t spss) {
  for (const SpanResult& s : part.spans) {
    const bool have = std::any_of(into->spans.begin(), into->spans.end(),
                                  [&](const SpanResult& o) { return o.span_id == s.span_id; });
    if (!have) into->spans.push_back(s);
  }
  std::stable_sort(into->spans.begin(), into->spans.end(),
                   [](const SpanResult& a, const SpanResult& b) {
                     return a.start_unix_nano < b.start_unix_nano;
                   });
  if (into->spans.size() > spss) into->spans.resize(spss);
  into->matched += part.matched;
  // Pipeline aggregates (count() etc.) of a part are not those of the
  // whole: the larger part's stand, as in Tempo.
  if (part.matched > into->matched - part.matched) {
    for (const KeyValue& kv : part.attributes) {
      if (kv.key.rfind("by", 0) == 0) continue;
      bool found = false;
      for (KeyValue& o : into->attributes) {
        if (o.key == kv.key) {
          o.value = kv.value;
          found = true;
        }
      }
      if (!found) into->attributes.push_back(kv);
    }
  }
}

}  // namespace

void CombineSearchResult(TraceSearchResult* into, const TraceSearchResult& part, uint32_t spss) {
  if (spss == 0) spss = 3;
  if (into->trace_id.empty()) into->trace_id = part.trace_id;
  if (!HasRoot(*into) && HasRoot(part)) {
    into->root_service_name = part.root_service_name;
    into->root_trace_name = part.root_trace_name;
  } else if (into->root_trace_name.empty() && !HasRoot(*into)) {
    into->root_trace_name = part.root_trace_name;
  }
  const uint64_t end = std::max(into->start_unix_nano + uint64_t{into->duration_ms} * 1'000'000,
                                part.start_unix_nano + uint64_t{part.duration_ms} * 1'000'000);
  if (into->start_unix_nano == 0 ||
      (part.start_unix_nano != 0 && part.start_unix_nano < into->start_unix_nano)) {
    into->start_unix_nano = part.start_unix_nano;
  }
  into->duration_ms = static_cast<uint32_t>((end - into->start_unix_nano) / 1'000'000);

  for (const ServiceStats& st : part.service_stats) {
    auto it = std::find_if(into->service_stats.begin(), into->service_stats.end(),
                           [&](const ServiceStats& o) { return o.service == st.service; });
    if (it == into->service_stats.end()) {
      into->service_stats.push_back(st);
    } else {
      it->span_count += st.span_count;
      it->error_count += st.error_count;
    }
  }
  std::sort(into->service_stats.begin(), into->service_stats.end(),
            [](const ServiceStats& a, const ServiceStats& b) { return a.service < b.service; });

  for (const SpanSetResult& ss : part.span_sets) {
    const std::string key = SpansetKey(ss);
    auto it = std::find_if(into->span_sets.begin(), into->span_sets.end(),
                           [&](const SpanSetResult& o) { return SpansetKey(o) == key; });
    if (it == into->span_sets.end()) {
      into->span_sets.push_back(ss);
    } else {
      CombineSpanset(&*it, ss, spss);
    }
  }
}

size_t CombineByTraceId(std::vector<TraceSearchResult>* results, uint32_t spss) {
  std::unordered_map<std::string, size_t> first;
  size_t folded = 0, out = 0;
  for (size_t i = 0; i < results->size(); ++i) {
    auto [it, inserted] = first.try_emplace((*results)[i].trace_id, out);
    if (!inserted) {
      CombineSearchResult(&(*results)[it->second], (*results)[i], spss);
      ++folded;
      continue;
    }
    if (out != i) (*results)[out] = std::move((*results)[i]);
    ++out;
  }
  results->resize(out);
  return folded;
}

}  // namespace sightline::traces::traceql
