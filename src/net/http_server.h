// HttpServer: the HTTP/1.1 server every Sightline API is served from.
//
// Connections are handled by `io_threads` I/O threads (Boost.Beast/Asio, kept
// out of this header); handlers run on `worker_threads` worker threads or,
// while another I/O thread stays free, on the I/O thread that read the
// request (handlers_on_io_threads), so a slow handler never stalls all of
// the other connections' I/O.
//
// Per request, in order (docs/http.md has the user-facing version):
//   1. Read the header within read_header_timeout (counted from the accept,
//      or from the first byte of a later request on a keep-alive connection;
//      between requests the connection may stay idle for idle_timeout).
//      Malformed → 400, header larger than max_header_bytes → 431; both
//      close the connection.
//   2. Route (404 / 405 with Allow), resolve the tenant when the route wants
//      one (401 missing, 400 invalid), check Content-Encoding (415 unknown)
//      and the declared Content-Length against the body limit (413). These
//      early answers close the connection if a body is still unread.
//   3. Answer "100 Continue" if the client expects it, then read the body
//      (Content-Length or chunked) within request_timeout; a chunked body
//      that grows past the limit → 413 and close.
//   4. On a worker (or on the I/O thread itself, see
//      handlers_on_io_threads): undo Content-Encoding (gzip, deflate, snappy, zstd)
//      bounded by the decompressed limit (413 over it, 400 malformed), parse
//      a form body, run the handler (an exception becomes a 500).
//   5. gzip the response if the client accepts it and it is worth it, write
//      it within request_timeout, keep the connection alive if both sides
//      want to.
// WebSocket routes (Router::AddWebSocket): an upgrade request goes through
// steps 1-2, then its handler runs on a worker; if it accepts, the server
// completes the handshake (101) and runs the session function on a thread
// of its own, while the connection's I/O (message writes in Send() order,
// reads, ping/pong keep-alive, the close handshake) stays on the I/O
// threads. Stop() closes open WebSockets with 1001 and waits for their
// session functions to return.
// Limits are per server, overridable per route (RouteOptions).
//
// Self-metrics (in the given registry): sightline_http_request_duration_seconds
// {route,method,status_code} histogram, sightline_http_requests_in_flight
// gauge, plus each route's RouteOptions::duration_histogram.
//
// Thread-safety: Start/Stop/bound_address may be called from any thread;
// Stop is idempotent. The Router and the registry must outlive the server.
#pragma once

#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <string>

#include "base/status.h"
#include "net/http.h"

namespace sightline::telemetry {
class Registry;
}  // namespace sightline::telemetry

namespace sightline::net {

struct HttpServerOptions {
  // "host:port", "[v6]:port" or ":port" (all interfaces). Port 0 picks a free
  // port; bound_address() tells which.
  std::string listen = "0.0.0.0:3100";
  int io_threads = 2;
  int worker_threads = 4;
  // Handlers may run on an I/O thread, skipping the hand-off to a worker
  // and back (two thread wake-ups per request), while at least one other
  // I/O thread is free for the other connections' I/O: at most
  // io_threads - 1 handlers run there at once, the rest go to the workers.
  // WebSocket upgrades always go to a worker. False: always a worker.
  bool handlers_on_io_threads = true;
  // Request body as sent (before decompression).
  size_t max_body_bytes = size_t{64} << 20;
  // Request body after undoing Content-Encoding.
  size_t max_decompressed_bytes = size_t{128} << 20;
  // Request line plus header fields.
  size_t max_header_bytes = size_t{64} << 10;
  // Time to receive a request header (slowloris guard).
  std::chrono::milliseconds read_header_timeout{std::chrono::seconds(10)};
  // Time to receive a request body once its header is in, and again to write
  // the response. Not a limit on the handler's own run time.
  std::chrono::milliseconds request_timeout{std::chrono::seconds(60)};
  // How long a keep-alive connection may wait for its next request.
  std::chrono::milliseconds idle_timeout{std::chrono::seconds(120)};
  // Require X-Scope-OrgID (tenant.h).
  bool multitenancy = false;
  // Responses smaller than this are not gzipped.
  size_t min_gzip_bytes = 1024;
  // WebSocket routes (Router::AddWebSocket): a ping goes out after this much
  // silence from the peer; a peer silent for twice as long is gone (the
  // connection closes, the session sees closed()).
  std::chrono::milliseconds websocket_ping_interval{std::chrono::seconds(15)};
  // Largest message accepted from a peer (larger: close 1009).
  size_t websocket_max_message_bytes = size_t{1} << 20;
  // Unsent bytes one connection may queue before Send() gives up (1008).
  size_t websocket_max_queued_bytes = size_t{16} << 20;
  // Open WebSocket connections, over all routes (more: 503 to the upgrade).
  int max_websockets = 1024;
  // Plaintext HTTP/2 ("h2c", what gRPC clients speak) on the HTTP port: when
  // set, the first bytes of each new connection are peeked (not consumed);
  // a connection that opens with the HTTP/2 client preface
  // "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" is handed to this callback, which
  // then owns the fd (e.g. GrpcServer::AdoptConnection). Everything else is
  // served as HTTP/1.1. Called on an I/O thread; must not block. Unset: no
  // peeking, every connection is HTTP/1.1.
  std::function<void(int fd)> on_h2c_connection;
};

class HttpServer {
 public:
  // Binds, listens and starts the threads. `router` must outlive the server
  // and not change any more. `registry` nullptr: telemetry::Registry::Default().
  // Unavailable if the address cannot be bound; InvalidArgument for a bad
  // listen address or options.
  static Result<std::unique_ptr<HttpServer>> Start(HttpServerOptions options, const Router* router,
                                                   telemetry::Registry* registry);

  // Stops with no drain time, if Stop() was not called.
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // The address actually bound, "127.0.0.1:41234" or "[::1]:41234".
  std::string bound_address() const;

  // Stops accepting, closes idle connections and WebSockets (1001), lets
  // requests in progress finish for up to `drain` (their connections close
  // after the response), then closes everything. Returns when all threads have exited, which
  // includes waiting for handlers that are still running.
  void Stop(std::chrono::milliseconds drain);

  class Impl;

 private:
  explicit HttpServer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace sightline::net
