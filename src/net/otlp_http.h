// Pieces of OTLP/HTTP and OTLP/gRPC (https://opentelemetry.io/docs/specs/otlp/)
// that every signal's receiver shares: the request encoding from
// Content-Type, OTLP/JSON decoding (protobuf JSON mapping plus OTLP's hex
// trace and span ids), error bodies (google.rpc.Status with RetryInfo in the
// request's encoding, Retry-After) and the gRPC error details.
//
// Thread-safety: free functions without shared state.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include "base/status.h"
#include "net/http.h"

namespace google::protobuf {
class Message;
}

namespace sightline::net {

enum class OtlpEncoding { kProtobuf, kJson, kUnsupported };

inline constexpr std::string_view kOtlpProtobuf = "application/x-protobuf";
inline constexpr std::string_view kOtlpJson = "application/json";

// From a Content-Type header value (parameters and case ignored).
OtlpEncoding OtlpEncodingOf(std::string_view content_type);

// Decodes `body` into `msg`. JSON: unknown fields are ignored, enums may be
// integers, int64 may be strings (protobuf's JSON mapping accepts all of
// these); ids still need FixOtlpJsonId. InvalidArgument with the parser's
// message when it does not decode.
Status ParseOtlpBody(std::string_view body, OtlpEncoding enc, google::protobuf::Message* msg);

// OTLP/JSON writes trace and span ids as hex where the protobuf JSON mapping
// expects base64. Hex digits are base64 digits too, so the parser decoded
// the 2*n hex characters as base64 into 3*n/2 bytes; encoding those again
// gives back the hex text, which is then decoded into n bytes. Ids sent as
// base64 (n bytes already) are left alone.
void FixOtlpJsonId(std::string* id, size_t want_bytes);

// Serializes in the given encoding (JSON with the proto field names'
// lowerCamelCase form). False on failure.
bool SerializeOtlp(const google::protobuf::Message& m, OtlpEncoding enc, std::string* out);

// A successful answer: `m` in the request's encoding with status 200.
void WriteOtlpResponse(HttpResponse& response, const google::protobuf::Message& m,
                       OtlpEncoding enc);

// An error answer: google.rpc.Status{code, message[, RetryInfo]} in the
// request's encoding (plain text when the encoding is unsupported), and
// Retry-After when retry_after_seconds > 0.
void WriteOtlpError(HttpResponse& response, int http_status, StatusCode code,
                    const std::string& message, OtlpEncoding enc, int retry_after_seconds);

// The serialized google.rpc.Status for a gRPC error's binary details, with a
// RetryInfo when retry_after_seconds > 0 (OTLP clients retry
// RESOURCE_EXHAUSTED only when it is present).
std::string OtlpGrpcErrorDetails(StatusCode code, const std::string& message,
                                 int retry_after_seconds);

}  // namespace sightline::net
