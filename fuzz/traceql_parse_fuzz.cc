// Fuzz target for the TraceQL parser and evaluator: any bytes as a query.
//
// Besides "does not crash", it checks the contracts: a query that parses
// prints back to text that parses again and prints identically, and a parsed
// query evaluates (search, metrics or tags) over a small trace without
// failing for any reason but InvalidArgument.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "traces/traceql/engine.h"

namespace {

using namespace sightline;
using namespace sightline::traces;

[[noreturn]] void Fail(const char* what, std::string_view q) {
  std::fprintf(stderr, "contract violated: %s\nquery: %.*s\n", what, static_cast<int>(q.size()),
               q.data());
  std::abort();
}

KeyValue KV(std::string k, AttributeValue v) { return {std::move(k), std::move(v)}; }

Trace SmallTrace() {
  Trace t;
  t.trace_id = std::string(16, '\x01');
  Resource r;
  r.attributes = {KV("service.name", AttributeValue{std::string("api")})};
  t.resources.push_back(r);
  t.scopes.push_back(Scope{"lib", "1.0", {KV("x", AttributeValue{int64_t{1}})}, 0, ""});
  for (int i = 0; i < 4; ++i) {
    Span s;
    s.span_id = std::string(8, static_cast<char>('a' + i));
    if (i > 0) s.parent_span_id = std::string(8, static_cast<char>('a' + (i - 1) / 2));
    s.name = "op" + std::to_string(i);
    s.kind = i % 6;
    s.status_code = i % 3;
    s.start_unix_nano = 1'000'000'000'000 + i * 1'000'000ULL;
    s.end_unix_nano = s.start_unix_nano + (i + 1) * 5'000'000ULL;
    s.attributes = {
        KV("a", AttributeValue{int64_t{i}}), KV("b", AttributeValue{std::string(i, 'z')}),
        KV("arr", AttributeValue{ArrayValue{AttributeValue{1.5}, AttributeValue{true}}})};
    Event e;
    e.name = "ev";
    e.time_unix_nano = s.start_unix_nano + 1;
    e.attributes = {KV("c", AttributeValue{std::string("d")})};
    s.events.push_back(e);
    t.spans.push_back(std::move(s));
  }
  return t;
}

class OneTrace : public TraceSource {
 public:
  Status Scan(const ScanParams&, const std::function<bool(const Trace&)>& fn) override {
    static const Trace kTrace = SmallTrace();
    fn(kTrace);
    return Status::Ok();
  }
};

void CheckOk(const Status& s, std::string_view q) {
  if (!s.ok() && s.code() != StatusCode::kInvalidArgument &&
      s.code() != StatusCode::kResourceExhausted) {
    Fail("evaluation failed with an unexpected code", q);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size > 4096) return 0;
  std::string_view q(reinterpret_cast<const char*>(data), size);
  auto parsed = traces::traceql::Parse(q);
  if (!parsed.ok()) {
    if (parsed.status().code() != StatusCode::kInvalidArgument)
      Fail("parse error is not InvalidArgument", q);
    return 0;
  }
  std::string printed = traces::traceql::ToString(**parsed);
  auto again = traces::traceql::Parse(printed);
  if (!again.ok()) {
    // Printing adds parentheses and spaces: a query at the nesting or length
    // limit may not read back, anything else must.
    const std::string& m = again.status().message();
    if (m.find("nested too deeply") == std::string::npos &&
        m.find("too long") == std::string::npos) {
      Fail("printed query does not parse", printed);
    }
  } else if (traces::traceql::ToString(**again) != printed) {
    Fail("printing is not stable", printed);
  }

  OneTrace src;
  if (traces::traceql::IsMetricsQuery(**parsed)) {
    traces::traceql::MetricsRequest req;
    req.query = std::string(q);
    req.start_unix_nano = 1'000'000'000'000;
    req.end_unix_nano = req.start_unix_nano + 60'000'000'000ULL;
    req.step_nano = 10'000'000'000ULL;
    req.exemplars = 2;
    CheckOk(traces::traceql::MetricsQueryRange(src, req).status(), q);
    CheckOk(traces::traceql::MetricsQueryInstant(src, req).status(), q);
  } else {
    traces::traceql::SearchRequest req;
    req.query = std::string(q);
    CheckOk(traces::traceql::Search(src, req).status(), q);
    traces::traceql::TagValuesRequest tv;
    tv.tag = "span.a";
    tv.query = std::string(q);
    CheckOk(traces::traceql::TagValues(src, tv).status(), q);
  }
  (void)traces::traceql::DeriveScanHints(**parsed);
  return 0;
}
