// EncodeOtlpWire (what POST /v1/traces and gRPC Export run) against the
// protobuf path it replaces (ParseFromString + TracesFromOtlp): for every
// request it accepts, the records are exactly EncodeTrace of the protobuf
// path's model traces, with the same counts and messages; it must not
// accept what protobuf rejects.
#include "traces/ingest/otlp_wire.h"

#include <random>
#include <string>

#include <gtest/gtest.h>

#include "base/coding.h"
#include "opentelemetry/proto/collector/trace/v1/trace_service.pb.h"
#include "opentelemetry/proto/trace/v1/trace.pb.h"
#include "traces/store/codec.h"

namespace sightline::traces::ingest {
namespace {

namespace coltrace = opentelemetry::proto::collector::trace::v1;
namespace otlp = opentelemetry::proto::trace::v1;
namespace common = opentelemetry::proto::common::v1;

// EncodeOtlpWire against the protobuf path: the same counts and messages,
// records byte for byte what EncodeTrace writes for the model traces, span
// views equal to the spans.
void CheckEncoder(const EncodeResult& enc, const ConvertResult& m) {
  EXPECT_EQ(enc.spans, m.spans);
  EXPECT_EQ(enc.rejected_spans, m.rejected_spans);
  EXPECT_EQ(enc.truncated_values, m.truncated_values);
  EXPECT_EQ(enc.messages, m.messages);
  const EncodedTraces& et = enc.traces;
  ASSERT_EQ(et.size(), m.traces.size());
  size_t spans = 0;
  for (size_t i = 0; i < et.size(); ++i) {
    const Trace& t = m.traces[i];
    std::string want;
    store::EncodeTrace(t, nullptr, &want);
    EXPECT_EQ(et.record(i), want) << "trace " << i;
    EXPECT_EQ(et.trace_id(i), t.trace_id);
    ASSERT_EQ(et.traces[i].num_spans, t.spans.size());
    ASSERT_EQ(et.traces[i].first_span, spans);
    for (size_t k = 0; k < t.spans.size(); ++k) {
      const Span& s = t.spans[k];
      const SpanView& v = et.spans[spans + k];
      EXPECT_EQ(v.name, s.name);
      EXPECT_EQ(v.span_id, s.span_id);
      EXPECT_EQ(v.parent_span_id, s.parent_span_id);
      EXPECT_EQ(v.kind, s.kind);
      EXPECT_EQ(v.status_code, s.status_code);
      EXPECT_EQ(v.start_unix_nano, s.start_unix_nano);
      EXPECT_EQ(v.end_unix_nano, s.end_unix_nano);
      // The generator's service: the first service.name with a string value.
      std::string service = "unknown_service";
      for (const KeyValue& kv : t.resources[s.resource_index].attributes) {
        if (kv.key != "service.name") continue;
        if (const auto* sv = std::get_if<std::string>(&kv.value.v)) {
          service = *sv;
          break;
        }
      }
      EXPECT_EQ(v.service, service);
    }
    spans += t.spans.size();
  }
  EXPECT_EQ(et.spans.size(), spans);
  // The buffer is the store's WAL record of all the traces
  // (docs/formats/traces-wal.md): type, count, the records length-prefixed.
  ASSERT_TRUE(et.framed);
  std::string want_record(1, static_cast<char>(kWalTracesRecord));
  coding::PutUvarint(want_record, m.traces.size());
  for (size_t i = 0; i < et.size(); ++i) coding::PutLengthPrefixed(want_record, et.record(i));
  EXPECT_TRUE(et.wal_record() == want_record);
}

// Checks the wire encoder against protobuf; returns whether it accepted.
// Declining is always allowed (the receiver then takes the protobuf path);
// accepting what protobuf rejects, or answering differently, is not.
bool Check(const std::string& body, const ConvertOptions& o = {}) {
  auto enc = EncodeOtlpWire(body, o);
  if (!enc.ok()) {
    EXPECT_EQ(enc.status().code(), StatusCode::kInvalidArgument);
    return false;
  }
  coltrace::ExportTraceServiceRequest req;
  bool parsed = req.ParseFromString(body);
  EXPECT_TRUE(parsed) << "accepted a body protobuf rejects";
  if (parsed) CheckEncoder(*enc, TracesFromOtlp(req, o));
  return true;
}

void Str(google::protobuf::RepeatedPtrField<common::KeyValue>* a, const std::string& k,
         const std::string& v) {
  auto* kv = a->Add();
  kv->set_key(k);
  kv->mutable_value()->set_string_value(v);
}

std::string Id(std::mt19937_64& rng, size_t n) {
  std::string s(n, '\0');
  for (auto& c : s) c = static_cast<char>(rng());
  return s;
}

// Every field of the OTLP trace protos, several resources/scopes/traces.
coltrace::ExportTraceServiceRequest Rich(std::mt19937_64& rng) {
  coltrace::ExportTraceServiceRequest req;
  std::vector<std::string> traces = {Id(rng, 16), Id(rng, 16), Id(rng, 16)};
  for (int r = 0; r < 2; ++r) {
    auto* rs = req.add_resource_spans();
    rs->set_schema_url("https://opentelemetry.io/schemas/1.2" + std::to_string(r));
    Str(rs->mutable_resource()->mutable_attributes(), "service.name", "svc-" + std::to_string(r));
    Str(rs->mutable_resource()->mutable_attributes(), "host.name", std::string(40, 'h'));
    rs->mutable_resource()->set_dropped_attributes_count(3);
    for (int sc = 0; sc < 2; ++sc) {
      auto* ss = rs->add_scope_spans();
      ss->mutable_scope()->set_name("lib-" + std::to_string(sc));
      ss->mutable_scope()->set_version("1.0");
      Str(ss->mutable_scope()->mutable_attributes(), "scope.attr", "über");
      ss->mutable_scope()->set_dropped_attributes_count(1);
      ss->set_schema_url("scope-schema");
      for (int i = 0; i < 7; ++i) {
        auto* s = ss->add_spans();
        s->set_trace_id(traces[rng() % traces.size()]);
        s->set_span_id(Id(rng, 8));
        if (i % 3 != 0) s->set_parent_span_id(Id(rng, 8));
        if (i == 4) s->set_parent_span_id(std::string(8, '\0'));  // zero parent: root
        s->set_trace_state("rojo=00f067aa0ba902b7");
        s->set_flags(0x100 | (i & 1));
        s->set_name("op-" + std::to_string(i));
        s->set_kind(static_cast<otlp::Span::SpanKind>(i % 6));
        s->set_start_time_unix_nano(1'700'000'000'000'000'000ull + i * 1000);
        s->set_end_time_unix_nano(1'700'000'000'000'000'000ull + i * 1000 + 777);
        auto* a = s->mutable_attributes();
        Str(a, "http.url", "https://example.com/some/long/path?with=query&and=more" + std::to_string(i));
        Str(a, "empty", "");
        auto* b = a->Add();
        b->set_key("flag");
        b->mutable_value()->set_bool_value(i % 2);
        auto* n = a->Add();
        n->set_key("count");
        n->mutable_value()->set_int_value(-12345 * i);
        auto* d = a->Add();
        d->set_key("ratio");
        d->mutable_value()->set_double_value(0.25 * i);
        auto* by = a->Add();
        by->set_key("raw");
        by->mutable_value()->set_bytes_value(std::string("\x00\xff\x80 bytes", 9));
        auto* arr = a->Add();
        arr->set_key("list");
        arr->mutable_value()->mutable_array_value()->add_values()->set_string_value("x");
        arr->mutable_value()->mutable_array_value()->add_values()->set_int_value(7);
        auto* kvl = a->Add();
        kvl->set_key("map");
        auto* inner = kvl->mutable_value()->mutable_kvlist_value()->add_values();
        inner->set_key("nested");
        inner->mutable_value()->mutable_array_value()->add_values()->set_double_value(1.5);
        auto* novalue = a->Add();
        novalue->set_key("unset");
        s->set_dropped_attributes_count(i);
        if (i % 2 == 0) {
          auto* e = s->add_events();
          e->set_time_unix_nano(1'700'000'000'000'000'500ull + i);
          e->set_name("exception");
          Str(e->mutable_attributes(), "exception.message", std::string(100, 'e'));
          e->set_dropped_attributes_count(2);
        }
        s->set_dropped_events_count(1);
        if (i % 3 == 1) {
          auto* l = s->add_links();
          l->set_trace_id(Id(rng, 16));
          l->set_span_id(Id(rng, 8));
          l->set_trace_state("t=1");
          Str(l->mutable_attributes(), "link.kind", "follows");
          l->set_dropped_attributes_count(4);
          l->set_flags(0x301);
        }
        s->set_dropped_links_count(2);
        if (i % 4 == 1) {
          s->mutable_status()->set_code(otlp::Status::STATUS_CODE_ERROR);
          s->mutable_status()->set_message("boom");
        }
      }
    }
  }
  return req;
}

TEST(OtlpWire, SameAsProtobufForEveryField) {
  std::mt19937_64 rng(1);
  for (int i = 0; i < 20; ++i) {
    std::string body = Rich(rng).SerializeAsString();
    EXPECT_TRUE(Check(body));
    ConvertOptions cut;
    cut.max_attribute_value_bytes = 10;
    EXPECT_TRUE(Check(body, cut));
  }
}

TEST(OtlpWire, InvalidIdsRejectedLikeProtobuf) {
  std::mt19937_64 rng(2);
  auto req = Rich(rng);
  auto* spans = req.mutable_resource_spans(0)->mutable_scope_spans(0)->mutable_spans();
  spans->Mutable(0)->set_trace_id(std::string(16, '\0'));
  spans->Mutable(1)->set_trace_id("short");
  spans->Mutable(2)->set_span_id(std::string(8, '\0'));
  spans->Mutable(3)->clear_span_id();
  EXPECT_TRUE(Check(req.SerializeAsString()));
  // A ResourceSpans whose spans are all rejected (resource never used).
  auto* rs = req.add_resource_spans();
  Str(rs->mutable_resource()->mutable_attributes(), "service.name", std::string(50, 'x'));
  auto* s = rs->add_scope_spans()->add_spans();
  s->set_trace_id("bad");
  ConvertOptions cut;
  cut.max_attribute_value_bytes = 5;
  EXPECT_TRUE(Check(req.SerializeAsString(), cut));
}

TEST(OtlpWire, EmptyAndMinimalRequests) {
  EXPECT_TRUE(Check(""));
  coltrace::ExportTraceServiceRequest req;
  req.add_resource_spans();
  EXPECT_TRUE(Check(req.SerializeAsString()));
  req.mutable_resource_spans(0)->add_scope_spans();
  EXPECT_TRUE(Check(req.SerializeAsString()));
  auto* s = req.mutable_resource_spans(0)->mutable_scope_spans(0)->add_spans();
  s->set_trace_id(std::string(16, 'a'));
  s->set_span_id(std::string(8, 'b'));
  EXPECT_TRUE(Check(req.SerializeAsString()));
}

TEST(OtlpWire, FieldOrderAndUnknownFields) {
  std::mt19937_64 rng(3);
  auto req = Rich(rng);
  // The resource after the scope spans, and a scope after its spans.
  std::string body;
  for (const auto& rs : req.resource_spans()) {
    std::string inner;
    for (const auto& ss : rs.scope_spans()) {
      std::string sinner;
      for (const auto& sp : ss.spans()) {
        std::string b = sp.SerializeAsString();
        sinner += '\x12' + std::string(1, static_cast<char>(b.size() & 0x7f | 0x80)) +
                  std::string(1, static_cast<char>(b.size() >> 7)) + b;
      }
      std::string scope = ss.scope().SerializeAsString();
      sinner += '\x0a' + std::string(1, static_cast<char>(scope.size())) + scope;
      // Unknown fields of every wire type.
      sinner += std::string("\xa0\x06\x05", 3);                       // field 100 varint
      sinner += std::string("\xa9\x06", 2) + std::string(8, '\x01');  // field 101 fixed64
      sinner += std::string("\xb5\x06", 2) + std::string(4, '\x02');  // field 102 fixed32
      sinner += std::string("\xba\x06\x03xyz", 6);                    // field 103 bytes
      inner += '\x12' + std::string(1, static_cast<char>(sinner.size() & 0x7f | 0x80)) +
               std::string(1, static_cast<char>(sinner.size() >> 7)) + sinner;
    }
    std::string res = rs.resource().SerializeAsString();
    inner += '\x0a' + std::string(1, static_cast<char>(res.size())) + res;
    body += '\x0a' + std::string(1, static_cast<char>(inner.size() & 0x7f | 0x80)) +
            std::string(1, static_cast<char>((inner.size() >> 7) & 0x7f | 0x80)) +
            std::string(1, static_cast<char>(inner.size() >> 14)) + inner;
  }
  coltrace::ExportTraceServiceRequest parsed;
  ASSERT_TRUE(parsed.ParseFromString(body));
  EXPECT_EQ(parsed.resource_spans_size(), 2);
  EXPECT_TRUE(Check(body));
}

TEST(OtlpWire, NeverAcceptsWhatProtobufRejects) {
  std::mt19937_64 rng(4);
  std::string body = Rich(rng).SerializeAsString();
  int accepted = 0;
  // Every truncation and many single-byte corruptions.
  for (size_t n = 0; n < body.size(); n += 13) accepted += Check(body.substr(0, n));
  for (int i = 0; i < 600; ++i) {
    std::string b = body;
    b[rng() % b.size()] = static_cast<char>(rng());
    accepted += Check(b);
  }
  EXPECT_GT(accepted, 0);
}

TEST(OtlpWire, LeavesInvalidUtf8AndMergesToProtobuf) {
  coltrace::ExportTraceServiceRequest req;
  auto* s = req.add_resource_spans()->add_scope_spans()->add_spans();
  s->set_trace_id(std::string(16, 'a'));
  s->set_span_id(std::string(8, 'b'));
  s->set_name("ok");
  std::string body = req.SerializeAsString();
  // The span name as invalid UTF-8: protobuf rejects proto3 strings.
  std::string bad = body;
  bad.replace(bad.find("ok"), 2, "\xc3\x28");
  EXPECT_FALSE(EncodeOtlpWire(bad, {}).ok());
  coltrace::ExportTraceServiceRequest parsed;
  EXPECT_FALSE(parsed.ParseFromString(bad));
  // A singular message twice (protobuf merges): left to protobuf.
  auto* st = s->mutable_status();
  st->set_code(otlp::Status::STATUS_CODE_ERROR);
  std::string twice = req.SerializeAsString();
  std::string status = "\x7a\x02\x18\x02";  // field 15 again
  std::string span = s->SerializeAsString() + status;
  coltrace::ExportTraceServiceRequest r2;
  std::string body2 = "\x0a" + std::string(1, static_cast<char>(span.size() + 4)) + "\x12" +
                      std::string(1, static_cast<char>(span.size() + 2)) + "\x12" +
                      std::string(1, static_cast<char>(span.size())) + span;
  ASSERT_TRUE(r2.ParseFromString(body2));
  EXPECT_FALSE(EncodeOtlpWire(body2, {}).ok());
  EXPECT_TRUE(Check(twice));
}

// The UTF-8 check's ASCII fast path (strings under 64 bytes, checked in
// overlapping 8/4-byte loads): a bad byte at any position of a name of any
// length is refused, a valid two-byte sequence anywhere is accepted, as
// protobuf does.
TEST(OtlpWire, Utf8CheckedAtEveryPositionAndLength) {
  auto body_with_name = [](const std::string& name) {
    coltrace::ExportTraceServiceRequest req;
    auto* s = req.add_resource_spans()->add_scope_spans()->add_spans();
    s->set_trace_id(std::string(16, 'a'));
    s->set_span_id(std::string(8, 'b'));
    s->set_name(name);
    return req.SerializeAsString();
  };
  for (size_t len = 0; len <= 80; ++len) {
    std::string ascii(len, 'x');
    EXPECT_TRUE(EncodeOtlpWire(body_with_name(ascii), {}).ok()) << len;
    for (size_t pos = 0; pos < len; ++pos) {
      std::string bad = ascii;
      bad[pos] = '\xff';
      std::string body = body_with_name(bad);
      coltrace::ExportTraceServiceRequest parsed;
      ASSERT_FALSE(parsed.ParseFromString(body));
      EXPECT_FALSE(EncodeOtlpWire(body, {}).ok()) << len << " " << pos;
      if (pos + 1 < len) {
        std::string good = ascii;
        good[pos] = '\xc3';
        good[pos + 1] = '\xa9';  // U+00E9
        EXPECT_TRUE(Check(body_with_name(good))) << len << " " << pos;
      }
    }
  }
}

}  // namespace
}  // namespace sightline::traces::ingest
