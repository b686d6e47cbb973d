// Decoding of Loki push requests (POST /loki/api/v1/push):
//
//   JSON (Content-Type application/json; gzip/deflate undone by the server):
//     {"streams":[{"stream":{"job":"x"},
//                  "values":[["<unix ns>","<line>",{"trace_id":"..."}], ...]}]}
//     The third element (structured metadata, string values) is optional.
//     The timestamp may be a string or a JSON integer.
//   Protobuf (application/x-protobuf): a logproto.PushRequest, snappy block
//     compressed (proto/loki/push.proto); the stream's labels come as text
//     ({job="x", level="info"}).
//
// Decoding checks syntax only (well-formed JSON/protobuf, parsable label
// text, valid label names, no duplicate names); limits are validation.h's
// job. Streams with the same labels in one request stay separate here.
//
// Errors: InvalidArgument with a message in Loki's spirit (the HTTP layer
// answers 400 with it). Thread-safety: pure functions.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"
#include "logs/store/appender.h"

namespace sightline::logs::ingest {

// A JSON push body.
Result<std::vector<PushStream>> DecodePushJson(std::string_view body);

// A protobuf push body, already snappy-decompressed.
Result<std::vector<PushStream>> DecodePushProto(std::string_view body);

// Parses stream labels written as a selector of equality matchers:
// {a="b", c="d"} (Go-quoted values; also `a="b"` without braces is not
// accepted). Names must be [a-zA-Z_][a-zA-Z0-9_]*. Sorted result.
Result<Labels> ParseLabelsText(std::string_view text);

// Loki's way of printing stream labels in messages: {a="b", c="d"}.
std::string LabelsText(const Labels& labels);

// Whether `name` is a valid Loki/Prometheus label name.
bool IsValidLabelName(std::string_view name);

}  // namespace sightline::logs::ingest
