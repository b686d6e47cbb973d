#include "net/otlp_http.h"

#include <google/protobuf/any.pb.h>
#include <google/protobuf/message.h>
#include <google/protobuf/util/json_util.h>

#include "google/rpc/error_details.pb.h"
#include "google/rpc/status.pb.h"

namespace sightline::net {

namespace {

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

std::string Base64Std(std::string_view in) {
  static constexpr char kChars[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  for (size_t i = 0; i + 2 < in.size(); i += 3) {
    uint32_t v = (uint8_t(in[i]) << 16) | (uint8_t(in[i + 1]) << 8) | uint8_t(in[i + 2]);
    out += kChars[v >> 18];
    out += kChars[(v >> 12) & 63];
    out += kChars[(v >> 6) & 63];
    out += kChars[v & 63];
  }
  return out;
}

google::rpc::Status RpcStatus(StatusCode code, const std::string& message,
                              int retry_after_seconds) {
  google::rpc::Status st;
  st.set_code(static_cast<int>(code));
  st.set_message(message);
  if (retry_after_seconds > 0) {
    google::rpc::RetryInfo ri;
    ri.mutable_retry_delay()->set_seconds(retry_after_seconds);
    st.add_details()->PackFrom(ri);
  }
  return st;
}

}  // namespace

OtlpEncoding OtlpEncodingOf(std::string_view content_type) {
  std::string_view media = content_type.substr(0, content_type.find(';'));
  while (!media.empty() && media.front() == ' ') media.remove_prefix(1);
  while (!media.empty() && media.back() == ' ') media.remove_suffix(1);
  if (EqualsIgnoreCase(media, kOtlpProtobuf)) return OtlpEncoding::kProtobuf;
  if (EqualsIgnoreCase(media, kOtlpJson)) return OtlpEncoding::kJson;
  return OtlpEncoding::kUnsupported;
}

Status ParseOtlpBody(std::string_view body, OtlpEncoding enc, google::protobuf::Message* msg) {
  if (enc == OtlpEncoding::kProtobuf) {
    if (!msg->ParseFromArray(body.data(), static_cast<int>(body.size()))) {
      return InvalidArgumentError("cannot decode OTLP request: body is not a " +
                                  msg->GetDescriptor()->name() + " protobuf message");
    }
    return Status::Ok();
  }
  if (enc == OtlpEncoding::kJson) {
    google::protobuf::util::JsonParseOptions jo;
    jo.ignore_unknown_fields = true;
    auto st = google::protobuf::util::JsonStringToMessage(
        google::protobuf::StringPiece(body.data(), body.size()), msg, jo);
    if (!st.ok()) {
      return InvalidArgumentError("cannot decode OTLP/JSON request: " +
                                  std::string(st.message()));
    }
    return Status::Ok();
  }
  return InvalidArgumentError("unsupported OTLP encoding");
}

void FixOtlpJsonId(std::string* id, size_t want_bytes) {
  if (id->size() != want_bytes * 3 / 2) return;
  std::string hex = Base64Std(*id);
  if (hex.size() != want_bytes * 2) return;
  std::string out(want_bytes, '\0');
  for (size_t i = 0; i < want_bytes; ++i) {
    int hi = HexValue(hex[2 * i]), lo = HexValue(hex[2 * i + 1]);
    if (hi < 0 || lo < 0) return;
    out[i] = static_cast<char>(hi << 4 | lo);
  }
  *id = std::move(out);
}

bool SerializeOtlp(const google::protobuf::Message& m, OtlpEncoding enc, std::string* out) {
  if (enc == OtlpEncoding::kJson) {
    return google::protobuf::util::MessageToJsonString(m, out).ok();
  }
  return m.SerializeToString(out);
}

void WriteOtlpResponse(HttpResponse& response, const google::protobuf::Message& m,
                       OtlpEncoding enc) {
  if (enc == OtlpEncoding::kUnsupported) enc = OtlpEncoding::kProtobuf;
  std::string body;
  SerializeOtlp(m, enc, &body);
  response.status = 200;
  response.SetHeader("Content-Type",
                     std::string(enc == OtlpEncoding::kJson ? kOtlpJson : kOtlpProtobuf));
  response.body = std::move(body);
}

void WriteOtlpError(HttpResponse& response, int http_status, StatusCode code,
                    const std::string& message, OtlpEncoding enc, int retry_after_seconds) {
  google::rpc::Status st = RpcStatus(code, message, retry_after_seconds);
  if (retry_after_seconds > 0) {
    response.SetHeader("Retry-After", std::to_string(retry_after_seconds));
  }
  response.status = http_status;
  std::string body;
  if (enc == OtlpEncoding::kUnsupported || !SerializeOtlp(st, enc, &body)) {
    response.Text(http_status, message + "\n");
    return;
  }
  response.SetHeader("Content-Type",
                     std::string(enc == OtlpEncoding::kJson ? kOtlpJson : kOtlpProtobuf));
  response.body = std::move(body);
}

std::string OtlpGrpcErrorDetails(StatusCode code, const std::string& message,
                                 int retry_after_seconds) {
  return RpcStatus(code, message, retry_after_seconds).SerializeAsString();
}

}  // namespace sightline::net
