#include "profiles/connect/connect.h"

#include <google/protobuf/message.h>
#include <google/protobuf/util/json_util.h>

#include "base/json_writer.h"
#include "net/http.h"

namespace sightline::profiles::connect {

namespace {

bool IsJson(const net::HttpRequest& req) {
  auto ct = req.Header("Content-Type");
  if (!ct) return false;
  std::string_view v = *ct;
  return v.substr(0, 16) == "application/json" || v.substr(0, 24) == "application/connect+json";
}

}  // namespace

std::string_view CodeName(StatusCode code) {
  switch (code) {
    case StatusCode::kOk:
      return "ok";
    case StatusCode::kCancelled:
      return "canceled";
    case StatusCode::kInvalidArgument:
      return "invalid_argument";
    case StatusCode::kDeadlineExceeded:
      return "deadline_exceeded";
    case StatusCode::kNotFound:
      return "not_found";
    case StatusCode::kAlreadyExists:
      return "already_exists";
    case StatusCode::kPermissionDenied:
      return "permission_denied";
    case StatusCode::kResourceExhausted:
      return "resource_exhausted";
    case StatusCode::kFailedPrecondition:
      return "failed_precondition";
    case StatusCode::kOutOfRange:
      return "out_of_range";
    case StatusCode::kUnimplemented:
      return "unimplemented";
    case StatusCode::kUnavailable:
      return "unavailable";
    case StatusCode::kDataLoss:
      return "data_loss";
    case StatusCode::kUnauthenticated:
      return "unauthenticated";
    default:
      return "internal";
  }
}

int HttpStatusFor(StatusCode code) {
  // connectrpc.com/docs/protocol: error codes → HTTP status.
  switch (code) {
    case StatusCode::kCancelled:
      return 499;
    case StatusCode::kInvalidArgument:
      return 400;
    case StatusCode::kDeadlineExceeded:
      return 504;
    case StatusCode::kNotFound:
      return 404;
    case StatusCode::kAlreadyExists:
      return 409;
    case StatusCode::kPermissionDenied:
      return 403;
    case StatusCode::kResourceExhausted:
      return 429;
    case StatusCode::kFailedPrecondition:
      return 400;
    case StatusCode::kOutOfRange:
      return 400;
    case StatusCode::kUnimplemented:
      return 501;
    case StatusCode::kUnavailable:
      return 503;
    case StatusCode::kUnauthenticated:
      return 401;
    default:
      return 500;
  }
}

Status ParseRequest(const net::HttpRequest& req, google::protobuf::Message* msg) {
  auto ct = req.Header("Content-Type");
  std::string_view type = ct ? *ct : "application/proto";
  if (IsJson(req)) {
    google::protobuf::util::JsonParseOptions o;
    o.ignore_unknown_fields = true;
    auto st =
        google::protobuf::util::JsonStringToMessage(req.body().empty() ? "{}" : req.body(), msg, o);
    if (!st.ok()) {
      return InvalidArgumentError("cannot decode the JSON request: " + st.ToString());
    }
    return Status::Ok();
  }
  if (type.substr(0, 17) == "application/proto" ||
      type.substr(0, 25) == "application/connect+proto" ||
      type.substr(0, 24) == "application/x-protobuf" ||
      type.substr(0, 22) == "application/protobuf") {
    if (!msg->ParseFromString(req.body())) {
      return InvalidArgumentError("cannot decode the protobuf request body");
    }
    return Status::Ok();
  }
  return UnimplementedError("unsupported Content-Type \"" + std::string(type) +
                            "\": use application/proto or application/json");
}

void WriteResponse(const net::HttpRequest& req, net::HttpResponse& resp,
                   const google::protobuf::Message& msg) {
  resp.status = 200;
  if (IsJson(req)) {
    std::string out;
    google::protobuf::util::JsonPrintOptions o;
    o.preserve_proto_field_names = false;
    (void)google::protobuf::util::MessageToJsonString(msg, &out, o);
    resp.body = std::move(out);
    resp.SetHeader("Content-Type", "application/json");
  } else {
    resp.body = msg.SerializeAsString();
    resp.SetHeader("Content-Type", "application/proto");
  }
}

void WriteError(net::HttpResponse& resp, const Status& status) {
  int http = HttpStatusFor(status.code());
  if (status.code() == StatusCode::kUnimplemented &&
      status.message().find("Content-Type") != std::string::npos) {
    http = 415;
  }
  std::string body = "{\"code\":\"";
  body += CodeName(status.code());
  body += "\",\"message\":";
  AppendJsonString(body, status.message());
  body += "}";
  resp.Json(http, std::move(body));
  if (status.code() == StatusCode::kResourceExhausted) resp.SetHeader("Retry-After", "1");
}

}  // namespace sightline::profiles::connect
