// Connect protocol (connectrpc.com) unary calls over our HTTP router, as the
// Pyroscope APIs and Grafana use them: POST /<package>.<Service>/<Method>
// with a protobuf (`application/proto`) or protobuf-JSON
// (`application/json`) body; the answer uses the request's encoding. Errors
// are JSON {"code": "invalid_argument", "message": "..."} with the HTTP
// status Connect maps the code to (400, 404, 429, 500, 501, 503, ...).
//
// Thread-safety: free functions.
#pragma once

#include <string_view>

#include "base/status.h"

namespace google::protobuf {
class Message;
}
namespace sightline::net {
class HttpRequest;
struct HttpResponse;
}  // namespace sightline::net

namespace sightline::profiles::connect {

// Connect's name for a Status code ("invalid_argument", ...).
std::string_view CodeName(StatusCode code);
// The HTTP status Connect uses for a code.
int HttpStatusFor(StatusCode code);

// Decodes the request body into `msg` by Content-Type. InvalidArgument for
// a bad body, Unimplemented (415 in WriteError) for another content type.
Status ParseRequest(const net::HttpRequest& req, google::protobuf::Message* msg);

// Encodes `msg` as the request asked (proto or JSON).
void WriteResponse(const net::HttpRequest& req, net::HttpResponse& resp,
                   const google::protobuf::Message& msg);

void WriteError(net::HttpResponse& resp, const Status& status);

}  // namespace sightline::profiles::connect
