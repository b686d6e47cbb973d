// The only translation unit that includes Beast: keep it that way, Beast and
// Asio cost a lot of compile time on two cores.
#include "net/http_server.h"

// Boost 1.74 Asio under GCC 12 -std=c++20 needs <utility> first.
#include <utility>
// clang-format off
#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket.hpp>
// clang-format on

#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <cerrno>
#include <condition_variable>
#include <cstdint>
#include <cstdlib>
#include <deque>
#include <exception>
#include <functional>
#include <future>
#include <limits>
#include <map>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

#include "base/compression.h"
#include "net/tenant.h"
#include "telemetry/log.h"
#include "telemetry/metrics.h"

namespace sightline::net {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = boost::beast::http;
namespace websocket = boost::beast::websocket;
using tcp = asio::ip::tcp;
using Clock = std::chrono::steady_clock;

namespace {

// After an early answer with a request body still on the wire, we read and
// drop up to this much for up to this long before closing, so the client sees
// our answer instead of a connection reset.
constexpr size_t kLingerBytes = size_t{4} << 20;
constexpr auto kLingerTime = std::chrono::milliseconds(1000);

constexpr std::string_view kOtherRoute = "other";

// The largest SO_RCVLOWAT a body read asks for.
constexpr size_t kMaxRcvLowat = size_t{1} << 20;

// Boost 1.74 Beast speaks boost::string_view.
std::string_view Sv(beast::string_view s) { return {s.data(), s.size()}; }
beast::string_view Bv(std::string_view s) { return {s.data(), s.size()}; }

// Handlers run here, never on the I/O threads.
class WorkerPool {
 public:
  explicit WorkerPool(int threads) {
    for (int i = 0; i < threads; ++i) threads_.emplace_back([this] { Run(); });
  }
  ~WorkerPool() { Shutdown(); }

  void Submit(std::function<void()> task) {
    {
      std::lock_guard lock(mu_);
      if (stopped_) return;
      queue_.push_back(std::move(task));
    }
    cv_.notify_one();
  }

  // Drops queued tasks, waits for running ones.
  void Shutdown() {
    std::deque<std::function<void()>> dropped;
    {
      std::lock_guard lock(mu_);
      if (stopped_ && threads_.empty()) return;
      stopped_ = true;
      dropped.swap(queue_);
    }
    cv_.notify_all();
    for (auto& t : threads_) t.join();
    threads_.clear();
    // `dropped` releases its sessions here, outside the lock.
  }

 private:
  void Run() {
    for (;;) {
      std::function<void()> task;
      {
        std::unique_lock lock(mu_);
        cv_.wait(lock, [&] { return stopped_ || !queue_.empty(); });
        if (stopped_) return;
        task = std::move(queue_.front());
        queue_.pop_front();
      }
      task();
    }
  }

  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::function<void()>> queue_;
  bool stopped_ = false;
  std::vector<std::thread> threads_;
};

std::string EndpointString(const tcp::endpoint& ep) {
  const auto addr = ep.address();
  if (addr.is_v6()) return "[" + addr.to_string() + "]:" + std::to_string(ep.port());
  return addr.to_string() + ":" + std::to_string(ep.port());
}

Result<tcp::endpoint> ResolveListen(const std::string& listen, asio::io_context& ioc) {
  size_t colon = listen.rfind(':');
  if (colon == std::string::npos) {
    return InvalidArgumentError("listen address \"" + listen + "\" is not host:port");
  }
  std::string host = listen.substr(0, colon);
  std::string port_str = listen.substr(colon + 1);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  if (host.empty()) host = "0.0.0.0";
  int port = -1;
  try {
    size_t used = 0;
    port = std::stoi(port_str, &used);
    if (used != port_str.size()) port = -1;
  } catch (const std::exception&) {
    port = -1;
  }
  if (port < 0 || port > 65535) {
    return InvalidArgumentError("listen address \"" + listen + "\" has a bad port");
  }
  beast::error_code ec;
  auto addr = asio::ip::make_address(host, ec);
  if (!ec) return tcp::endpoint(addr, static_cast<uint16_t>(port));
  tcp::resolver resolver(ioc);
  auto results = resolver.resolve(host, port_str, ec);
  if (ec || results.empty()) {
    return InvalidArgumentError("cannot resolve listen host \"" + host + "\": " + ec.message());
  }
  return results.begin()->endpoint();
}

bool AcceptsGzip(std::string_view accept_encoding) {
  while (!accept_encoding.empty()) {
    size_t comma = accept_encoding.find(',');
    std::string_view item = accept_encoding.substr(0, comma);
    accept_encoding.remove_prefix(comma == std::string_view::npos ? accept_encoding.size()
                                                                  : comma + 1);
    size_t semi = item.find(';');
    std::string_view name = item.substr(0, semi);
    while (!name.empty() && name.front() == ' ') name.remove_prefix(1);
    while (!name.empty() && name.back() == ' ') name.remove_suffix(1);
    if (!EqualsIgnoreCase(name, "gzip") && name != "*") continue;
    if (semi == std::string_view::npos) return true;
    std::string_view params = item.substr(semi + 1);
    size_t q = params.find("q=");
    if (q == std::string_view::npos) return true;
    std::string qv(params.substr(q + 2));
    char* end = nullptr;
    double value = std::strtod(qv.c_str(), &end);
    if (end != qv.c_str() && value > 0) return true;
  }
  return false;
}

// Content types not worth gzipping: already compressed.
bool AlreadyCompressedType(std::string_view content_type) {
  for (std::string_view prefix :
       {"image/", "video/", "audio/", "application/gzip", "application/zip", "application/zstd"}) {
    if (content_type.size() >= prefix.size() &&
        EqualsIgnoreCase(content_type.substr(0, prefix.size()), prefix)) {
      return true;
    }
  }
  return false;
}

std::string_view MethodLabel(std::string_view method) {
  for (std::string_view m : {"GET", "POST", "PUT", "DELETE", "HEAD", "OPTIONS", "PATCH"}) {
    if (method == m) return m;
  }
  return "other";
}

}  // namespace

class Session;
class WsConn;

class HttpServer::Impl {
 public:
  Impl(HttpServerOptions options, const Router* router, telemetry::Registry* registry)
      : options_(std::move(options)),
        router_(router),
        duration_(registry->AddHistogram(
            "sightline_http_request_duration_seconds",
            "Time from a request's header being read to its response being written.",
            {"route", "method", "status_code"})),
        in_flight_(registry
                       ->AddGauge("sightline_http_requests_in_flight",
                                  "HTTP requests being read, handled or answered.")
                       .Get()),
        ioc_(std::max(1, options_.io_threads)),
        work_(asio::make_work_guard(ioc_)),
        acceptor_(asio::make_strand(ioc_)),
        workers_(std::max(1, options_.worker_threads)) {}

  ~Impl() { Stop(std::chrono::milliseconds(0)); }

  Status Listen() {
    SL_ASSIGN_OR_RETURN(tcp::endpoint ep, ResolveListen(options_.listen, ioc_));
    beast::error_code ec;
    acceptor_.open(ep.protocol(), ec);
    if (!ec) acceptor_.set_option(asio::socket_base::reuse_address(true), ec);
    if (!ec) acceptor_.bind(ep, ec);
    if (!ec) acceptor_.listen(asio::socket_base::max_listen_connections, ec);
    if (ec) {
      return UnavailableError("cannot listen on " + options_.listen + ": " + ec.message());
    }
    bound_address_ = EndpointString(acceptor_.local_endpoint(ec));
    Accept();
    int n = std::max(1, options_.io_threads);
    for (int i = 0; i < n; ++i) {
      io_threads_.emplace_back([this] {
        for (;;) {
          try {
            ioc_.run();
            return;
          } catch (const std::exception& e) {
            // Nothing of ours throws; a library bug must not take the server down.
            log::Error("http server: exception on I/O thread", {{"err", e.what()}});
          }
        }
      });
    }
    log::Info("http server listening", {{"addr", bound_address_}});
    return Status::Ok();
  }

  void Stop(std::chrono::milliseconds drain);

  const std::string& bound_address() const { return bound_address_; }
  const HttpServerOptions& options() const { return options_; }
  const Router& router() const { return *router_; }
  WorkerPool& workers() { return workers_; }
  bool stopping() const { return stopping_.load(std::memory_order_acquire); }

  void Register(uint64_t id, std::weak_ptr<Session> s) {
    std::lock_guard lock(sessions_mu_);
    sessions_.emplace(id, std::move(s));
  }
  void Unregister(uint64_t id) {
    std::lock_guard lock(sessions_mu_);
    sessions_.erase(id);
  }
  uint64_t NextSessionId() { return next_session_id_.fetch_add(1); }

  // A handler may run on the calling I/O thread if this returns true (then
  // LeaveIoHandler() once it has run): while fewer than io_threads - 1 do.
  bool TryEnterIoHandler() {
    if (max_io_handlers_ <= 0) return false;
    if (io_handlers_.fetch_add(1, std::memory_order_acq_rel) < max_io_handlers_) return true;
    io_handlers_.fetch_sub(1, std::memory_order_acq_rel);
    return false;
  }
  void LeaveIoHandler() { io_handlers_.fetch_sub(1, std::memory_order_acq_rel); }

  void RequestStarted() { active_requests_.fetch_add(1); }
  void RequestEnded() { active_requests_.fetch_sub(1); }
  telemetry::Gauge& in_flight() { return in_flight_; }

  void ObserveDuration(const Router::Route* route, std::string_view method, int status,
                       double seconds, bool ws = false) {
    std::string code = std::to_string(status);
    std::string_view name = route != nullptr ? std::string_view(route->options.name) : kOtherRoute;
    std::string_view m = MethodLabel(method);
    duration_.WithLabels({name, m, code}).Observe(seconds);
    if (route == nullptr || route->options.duration_histogram == nullptr) return;
    auto* extra = route->options.duration_histogram;
    switch (route->options.duration_labels) {
      case DurationLabels::kMethodRouteStatusWs:
        extra->WithLabels({m, name, code, ws ? "true" : "false"}).Observe(seconds);
        break;
      case DurationLabels::kHandler:
        extra->WithLabels({route->pattern}).Observe(seconds);
        break;
    }
  }

  // WebSocket connections: counted from the upgrade request on, registered
  // once the handshake is done; each session function runs on its own
  // thread, joined by a later spawn or by Stop().
  bool ReserveWebSocket() {
    int n = websockets_open_.fetch_add(1);
    if (n < options_.max_websockets) return true;
    websockets_open_.fetch_sub(1);
    return false;
  }
  void ReleaseWebSocket() { websockets_open_.fetch_sub(1); }
  void RegisterWebSocket(uint64_t id, std::weak_ptr<WsConn> c) {
    std::lock_guard lock(ws_mu_);
    websockets_.emplace(id, std::move(c));
  }
  void UnregisterWebSocket(uint64_t id) {
    std::lock_guard lock(ws_mu_);
    websockets_.erase(id);
  }
  void SpawnWebSocketSession(std::shared_ptr<WsConn> conn);

 private:
  void Accept();
  // Runs `fn` on every live connection's strand; the counter reaches 0 when
  // all have run.
  std::shared_ptr<std::atomic<int>> ForEachSession(void (*fn)(Session&));
  std::vector<std::shared_ptr<WsConn>> LiveWebSockets();
  void JoinWebSocketThreads();

  HttpServerOptions options_;
  const Router* router_;
  telemetry::Family<telemetry::Histogram>& duration_;
  telemetry::Gauge& in_flight_;

  std::atomic<bool> stopping_{false};
  std::atomic<bool> stopped_{false};
  std::atomic<int> active_requests_{0};
  std::atomic<uint64_t> next_session_id_{1};
  const int max_io_handlers_ =
      options_.handlers_on_io_threads ? std::max(1, options_.io_threads) - 1 : 0;
  std::atomic<int> io_handlers_{0};
  std::mutex stop_mu_;

  std::mutex sessions_mu_;
  std::map<uint64_t, std::weak_ptr<Session>> sessions_;

  std::atomic<int> websockets_open_{0};
  std::mutex ws_mu_;
  std::map<uint64_t, std::weak_ptr<WsConn>> websockets_;
  std::map<uint64_t, std::thread> ws_threads_;  // session functions running
  std::vector<std::thread> ws_finished_;         // returned, not joined yet

  // Destroyed before the members above (sessions unregister themselves).
  asio::io_context ioc_;
  // Keeps run() going while every connection is busy in a handler (no I/O
  // pending): the worker's post back to the strand must find a running loop.
  asio::executor_work_guard<asio::io_context::executor_type> work_;
  tcp::acceptor acceptor_;
  std::vector<std::thread> io_threads_;
  WorkerPool workers_;
  std::string bound_address_;
};

// One WebSocket connection after the handshake. The Beast stream is touched
// only on the connection's strand (reads, writes, close); the WebSocket
// methods a session function calls from its own thread only take mu_ and
// post to the strand. At most one read and one write (or close) are
// outstanding at a time. Owned by its pending operations and by the thread
// that runs the session function.
class WsConn final : public WebSocket, public std::enable_shared_from_this<WsConn> {
 public:
  WsConn(HttpServer::Impl* server, uint64_t id, beast::tcp_stream stream,
         const Router::Route* route)
      : server_(server), id_(id), ws_(std::move(stream)), route_(route) {}

  ~WsConn() override { server_->ReleaseWebSocket(); }

  uint64_t id() const { return id_; }

  // Strand. Completes the handshake for `req`, then starts reading and the
  // session function.
  void Accept(http::request<http::string_body> req, WebSocketSession session) {
    session_ = std::move(session);
    upgrade_request_ = std::move(req);
    started_ = Clock::now();
    const auto& o = server_->options();
    beast::get_lowest_layer(ws_).expires_never();  // the WebSocket timeouts take over
    websocket::stream_base::timeout t;
    t.handshake_timeout = std::chrono::seconds(5);
    t.idle_timeout = 2 * o.websocket_ping_interval;
    t.keep_alive_pings = true;
    ws_.set_option(t);
    ws_.set_option(websocket::stream_base::decorator(
        [](websocket::response_type& res) { res.set(http::field::server, "sightline"); }));
    ws_.read_message_max(o.websocket_max_message_bytes);
    ws_.async_accept(upgrade_request_, [self = shared_from_this()](beast::error_code ec) {
      self->OnAccept(ec);
    });
  }

  // Session function thread.
  void RunSession() {
    try {
      session_(*this);
    } catch (const std::exception& e) {
      log::Error("websocket session threw", {{"route", route_->options.name}, {"err", e.what()}});
    } catch (...) {
      log::Error("websocket session threw", {{"route", route_->options.name}});
    }
    Close(1000, "");
  }

  // Any thread: the server is stopping.
  void ForceClose() {
    asio::post(ws_.get_executor(), [self = shared_from_this()] {
      beast::error_code ec;
      beast::get_lowest_layer(self->ws_).socket().close(ec);
      self->MarkClosed(1006);
    });
  }

  bool Send(std::string text) override {
    std::unique_lock lock(mu_);
    if (closing_) return false;
    if (queued_bytes_ + text.size() > server_->options().websocket_max_queued_bytes) {
      lock.unlock();
      CloseDroppingQueue(1008, "send queue full: the client does not read fast enough");
      return false;
    }
    queued_bytes_ += text.size();
    outbox_.push_back(std::move(text));
    if (!writing_) {
      writing_ = true;
      asio::post(ws_.get_executor(), [self = shared_from_this()] { self->DoWrite(); });
    }
    return true;
  }

  void Close(int code, std::string reason) override {
    StartClose(code, std::move(reason), /*drop_queue=*/false);
  }

  bool closed() const override { return closing_flag_.load(std::memory_order_acquire); }

  bool WaitClosed(std::chrono::milliseconds timeout) override {
    std::unique_lock lock(mu_);
    cv_.wait_for(lock, timeout, [&] { return closing_; });
    return closing_;
  }

  std::optional<std::string> Receive(std::chrono::milliseconds timeout) override {
    std::unique_lock lock(mu_);
    cv_.wait_for(lock, timeout, [&] { return !inbox_.empty() || closing_; });
    if (inbox_.empty()) return std::nullopt;
    std::string m = std::move(inbox_.front());
    inbox_.pop_front();
    return m;
  }

  int peer_close_code() const override { return peer_code_.load(); }
  uint64_t messages_sent() const override { return messages_sent_.load(); }

 private:
  static constexpr size_t kMaxInbox = 64;

  void CloseDroppingQueue(int code, std::string reason) {
    StartClose(code, std::move(reason), /*drop_queue=*/true);
  }

  void StartClose(int code, std::string reason, bool drop_queue) {
    bool post_close = false;
    {
      std::lock_guard lock(mu_);
      if (closing_) return;
      closing_ = true;
      closing_flag_.store(true, std::memory_order_release);
      close_code_ = code;
      if (reason.size() > 123) reason.resize(123);
      close_reason_ = std::move(reason);
      if (drop_queue) {
        outbox_.clear();
        queued_bytes_ = 0;
      }
      // A write in progress runs the close after the queue is flushed.
      if (!writing_) {
        writing_ = true;
        post_close = true;
      }
    }
    cv_.notify_all();
    if (post_close) {
      asio::post(ws_.get_executor(), [self = shared_from_this()] { self->DoClose(); });
    }
  }

  // Strand.
  void OnAccept(beast::error_code ec) {
    if (ec) {
      log::Debug("websocket handshake failed", {{"err", ec.message()}});
      MarkClosed(1006);
      return;
    }
    accepted_ = true;
    server_->RegisterWebSocket(id_, weak_from_this());
    server_->SpawnWebSocketSession(shared_from_this());
    if (server_->stopping()) Close(1001, "server shutting down");
    DoRead();
  }

  void DoRead() {
    ws_.async_read(read_buffer_, [self = shared_from_this()](beast::error_code ec, size_t) {
      self->OnRead(ec);
    });
  }

  void OnRead(beast::error_code ec) {
    if (ec) {
      int code = 1006;
      if (ec == websocket::error::closed) code = ws_.reason().code;
      if (ec == websocket::error::message_too_big) {
        code = 1009;
      }
      MarkClosed(code);
      return;
    }
    std::string msg = beast::buffers_to_string(read_buffer_.data());
    read_buffer_.consume(read_buffer_.size());
    {
      std::lock_guard lock(mu_);
      inbox_.push_back(std::move(msg));
      if (inbox_.size() > kMaxInbox) inbox_.pop_front();
    }
    cv_.notify_all();
    DoRead();
  }

  void DoWrite() {
    std::unique_lock lock(mu_);
    if (outbox_.empty()) {
      if (closing_) {
        lock.unlock();
        return DoClose();
      }
      writing_ = false;
      return;
    }
    current_ = std::move(outbox_.front());
    outbox_.pop_front();
    lock.unlock();
    ws_.text(true);
    ws_.async_write(asio::buffer(current_),
                    [self = shared_from_this()](beast::error_code ec, size_t) {
                      self->OnWrite(ec);
                    });
  }

  void OnWrite(beast::error_code ec) {
    {
      std::lock_guard lock(mu_);
      queued_bytes_ -= std::min(queued_bytes_, current_.size());
    }
    current_.clear();
    if (ec) {
      MarkClosed(1006);
      return;
    }
    messages_sent_.fetch_add(1);
    DoWrite();
  }

  void DoClose() {
    if (finished_ || close_sent_) return;
    close_sent_ = true;
    int code;
    std::string reason;
    {
      std::lock_guard lock(mu_);
      code = close_code_;
      reason = close_reason_;
    }
    websocket::close_reason cr(static_cast<websocket::close_code>(code), Bv(reason));
    ws_.async_close(cr, [self = shared_from_this()](beast::error_code ec) {
      int peer = ec ? 1006 : self->ws_.reason().code;
      beast::error_code ignored;
      beast::get_lowest_layer(self->ws_).socket().close(ignored);
      self->MarkClosed(peer);
    });
  }

  // Strand. The connection is over (either side closed, or it broke).
  void MarkClosed(int peer_code) {
    if (finished_) return;
    finished_ = true;
    if (peer_code_.load() == 0) peer_code_.store(peer_code);
    {
      std::lock_guard lock(mu_);
      closing_ = true;
      closing_flag_.store(true, std::memory_order_release);
      outbox_.clear();
      queued_bytes_ = 0;
    }
    cv_.notify_all();
    if (accepted_) {
      server_->UnregisterWebSocket(id_);
      double seconds = std::chrono::duration<double>(Clock::now() - started_).count();
      server_->ObserveDuration(route_, "GET", 101, seconds, /*ws=*/true);
    }
    // Pending operations complete with operation_aborted and release us.
    beast::error_code ec;
    beast::get_lowest_layer(ws_).socket().close(ec);
  }

  HttpServer::Impl* server_;
  const uint64_t id_;
  websocket::stream<beast::tcp_stream> ws_;
  const Router::Route* route_;
  WebSocketSession session_;
  http::request<http::string_body> upgrade_request_;
  Clock::time_point started_;

  // Strand only.
  beast::flat_buffer read_buffer_;
  std::string current_;  // the message being written
  bool accepted_ = false;
  bool close_sent_ = false;
  bool finished_ = false;

  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::string> outbox_;
  size_t queued_bytes_ = 0;
  bool writing_ = false;  // a DoWrite/DoClose chain is scheduled or running
  bool closing_ = false;
  int close_code_ = 1000;
  std::string close_reason_;
  std::deque<std::string> inbox_;

  std::atomic<bool> closing_flag_{false};
  std::atomic<int> peer_code_{0};
  std::atomic<uint64_t> messages_sent_{0};
};

// One connection. Owned by the completion handlers that refer to it (the
// Asio idiom; a shared_ptr because several asynchronous operations and the
// worker that runs its handler share it). Everything except RunHandler runs
// on the connection's strand; RunHandler runs on a worker while no I/O is
// pending for the connection, and only touches request/response state
// (HandleRequest may also run on the strand itself, see Dispatch).
class Session : public std::enable_shared_from_this<Session> {
 public:
  Session(HttpServer::Impl* server, tcp::socket socket)
      : server_(server),
        id_(server->NextSessionId()),
        stream_(std::move(socket)),
        executor_(stream_.get_executor()) {
    beast::error_code ec;
    auto ep = stream_.socket().remote_endpoint(ec);
    if (!ec) remote_ = EndpointString(ep);
  }

  ~Session() {
    EndRequest();
    server_->Unregister(id_);
  }

  // The connection's strand (still valid after a WebSocket upgrade moved the
  // stream away).
  asio::any_io_executor executor() { return executor_; }

  void Start() {
    server_->Register(id_, weak_from_this());
    WaitForRequest(/*first=*/true);
  }

  // Posted by Stop(): an idle connection closes now; a busy one closes after
  // its response (Write() checks stopping()).
  void OnServerStop() {
    if (state_ == State::kIdle) ForceClose();
  }

  // Posted by Stop() when the drain time is over.
  void ForceClose() {
    if (upgraded_) return;
    beast::error_code ec;
    stream_.socket().shutdown(tcp::socket::shutdown_both, ec);
    stream_.socket().close(ec);
  }

 private:
  enum class State { kIdle, kReading, kHandling, kWriting, kClosing };

  void WaitForRequest(bool first) {
    state_ = State::kIdle;
    if (server_->stopping()) return Close();
    if (buffer_.size() > 0) return ReadHeader();  // pipelined request
    const auto& o = server_->options();
    stream_.expires_after(first ? o.read_header_timeout : o.idle_timeout);
    stream_.async_read_some(buffer_.prepare(4096),
                            [self = shared_from_this()](beast::error_code ec, size_t n) {
                              if (ec) return self->Close();
                              self->buffer_.commit(n);
                              self->ReadHeader();
                            });
  }

  void ReadHeader() {
    state_ = State::kReading;
    close_after_ = false;
    BeginRequest();
    const auto& o = server_->options();
    parser_.emplace();
    parser_->header_limit(static_cast<uint32_t>(std::min<size_t>(o.max_header_bytes, UINT32_MAX)));
    // The route's limit is set once the header is in. Not boost::none: Beast
    // 1.74 compares the Content-Length against the optional, and any value
    // is greater than none.
    parser_->body_limit(std::numeric_limits<std::uint64_t>::max());
    stream_.expires_after(o.read_header_timeout);
    http::async_read_header(
        stream_, buffer_, *parser_,
        [self = shared_from_this()](beast::error_code ec, size_t) { self->OnHeader(ec); });
  }

  void OnHeader(beast::error_code ec) {
    if (ec == http::error::header_limit) {
      return Reject(431,
                    "request header is larger than " +
                        std::to_string(server_->options().max_header_bytes) + " bytes",
                    /*close=*/true);
    }
    if (ec) {
      if (IsConnectionEnd(ec)) return Close();
      return Reject(400, "malformed HTTP request: " + ec.message(), /*close=*/true);
    }
    header_done_ = Clock::now();
    server_->in_flight().Inc();
    counted_in_flight_ = true;

    auto& msg = parser_->get();
    method_ = std::string(msg.method_string());
    request_ = HttpRequest();
    request_.set_method(method_);
    request_.set_remote_address(remote_);
    for (const auto& field : msg) {
      request_.mutable_headers().Add(std::string(field.name_string()), std::string(field.value()));
    }
    keep_alive_ = msg.keep_alive();
    if (Status s = request_.SetTarget(Sv(msg.target())); !s.ok()) {
      return Reject(400, s.message(), !parser_->is_done());
    }

    Router::MatchResult match = server_->router().Match(method_, request_.raw_path());
    if (match.route == nullptr) {
      response_.clear();
      if (match.status == 405) {
        return RejectWith(405, "405 method not allowed\n", match.allow);
      }
      return RejectWith(404, "404 page not found\n", "");
    }
    route_ = match.route;
    request_.set_route(route_->options.name);
    request_.set_path_params(std::move(match.params));
    const RouteOptions& ro = route_->options;
    const auto& o = server_->options();

    if (ro.tenant) {
      auto tenant = ResolveTenant(request_.Header(kTenantHeader), o.multitenancy);
      if (!tenant.ok()) {
        int code = tenant.status().code() == StatusCode::kUnauthenticated ? 401 : 400;
        return Reject(code, tenant.status().message(), !parser_->is_done());
      }
      request_.set_tenant(std::move(tenant).value());
    }

    if (route_->websocket && websocket::is_upgrade(msg)) {
      if (!parser_->is_done()) {
        return Reject(400, "a WebSocket upgrade request must not have a body", /*close=*/true);
      }
      if (!server_->ReserveWebSocket()) {
        return Reject(503, "too many open WebSocket connections", /*close=*/true);
      }
      state_ = State::kHandling;
      stream_.expires_never();
      server_->workers().Submit([self = shared_from_this()] { self->RunWebSocketHandler(); });
      return;
    }

    codec_ = Codec::kNone;
    if (ro.decompress) {
      if (auto ce = request_.Header("Content-Encoding")) {
        auto codec = CodecFromContentEncoding(*ce);
        if (!codec.ok()) return Reject(415, codec.status().message(), !parser_->is_done());
        codec_ = *codec;
      }
    }

    body_limit_ = ro.max_body_bytes != 0 ? ro.max_body_bytes : o.max_body_bytes;
    decompressed_limit_ = ro.max_body_bytes != 0 ? ro.max_body_bytes : o.max_decompressed_bytes;
    if (auto len = parser_->content_length(); len && *len > body_limit_) {
      return Reject(413,
                    "request body of " + std::to_string(*len) +
                        " bytes is larger than the limit of " + std::to_string(body_limit_) +
                        " bytes",
                    /*close=*/true);
    }
    if (parser_->is_done()) return Dispatch();
    parser_->body_limit(body_limit_);

    auto expect = request_.Header("Expect");
    if (expect && EqualsIgnoreCase(*expect, "100-continue") && msg.version() >= 11) {
      continue_.emplace(http::status::continue_, 11);
      stream_.expires_after(o.request_timeout);
      http::async_write(stream_, *continue_,
                        [self = shared_from_this()](beast::error_code ec, size_t) {
                          if (ec) return self->Close();
                          self->ReadBody();
                        });
      return;
    }
    ReadBody();
  }

  void ReadBody() {
    // A Content-Length body goes straight from the socket into body_: no
    // copy out of buffer_ through the parser, and one wake-up for the bulk
    // of it rather than one per segment that arrives (SO_RCVLOWAT).
    // Chunked bodies, and pipelined bytes beyond this body, take the parser.
    if (auto len = parser_->content_length();
        len && *len > 0 && *len <= body_limit_ && buffer_.size() <= *len) {
      body_.clear();
      body_.resize(static_cast<size_t>(*len));
      const size_t have = buffer_.size();
      asio::buffer_copy(asio::buffer(body_.data(), have), buffer_.data());
      buffer_.consume(have);
      body_read_ = have;
      stream_.expires_after(server_->options().request_timeout);
      return ReadRawBody();
    }
    stream_.expires_after(server_->options().request_timeout);
    http::async_read(
        stream_, buffer_, *parser_,
        [self = shared_from_this()](beast::error_code ec, size_t) { self->OnBody(ec); });
  }

  void ReadRawBody() {
    const size_t left = body_.size() - body_read_;
    if (left == 0) {
      SetRcvLowat(1);
      return Dispatch(/*raw_body=*/true);
    }
    // Wake up when the rest is in (at most half the receive buffer, the
    // kernel caps it there anyway); never more than what is still to come,
    // or the read would wait for bytes that are not sent.
    SetRcvLowat(std::min<size_t>(left, kMaxRcvLowat));
    stream_.async_read_some(asio::buffer(body_.data() + body_read_, left),
                            [self = shared_from_this()](beast::error_code ec, size_t n) {
                              self->OnRawBody(ec, n);
                            });
  }

  void OnRawBody(beast::error_code ec, size_t n) {
    if (ec) {
      SetRcvLowat(1);
      if (IsConnectionEnd(ec)) return Close();
      return Reject(400, "malformed HTTP request body: " + ec.message(), /*close=*/true);
    }
    body_read_ += n;
    ReadRawBody();
  }

  void SetRcvLowat(size_t bytes) {
    int v = static_cast<int>(bytes);
    if (v == rcvlowat_) return;
    // Best effort: without it the read only wakes up more often.
    if (::setsockopt(stream_.socket().native_handle(), SOL_SOCKET, SO_RCVLOWAT, &v, sizeof v) ==
        0) {
      rcvlowat_ = v;
    }
  }

  void OnBody(beast::error_code ec) {
    if (ec == http::error::body_limit) {
      return Reject(
          413, "request body is larger than the limit of " + std::to_string(body_limit_) + " bytes",
          /*close=*/true);
    }
    if (ec) {
      if (IsConnectionEnd(ec)) return Close();
      return Reject(400, "malformed HTTP request body: " + ec.message(), /*close=*/true);
    }
    Dispatch();
  }

  // With raw_body, body_ holds the body (ReadRawBody), else the parser does.
  void Dispatch(bool raw_body = false) {
    state_ = State::kHandling;
    stream_.expires_never();
    if (!raw_body) body_ = std::move(parser_->get().body());
    if (server_->TryEnterIoHandler()) {
      // On this I/O thread (the strand): no hand-off to a worker and back.
      HandleRequest();
      server_->LeaveIoHandler();
      return Write();
    }
    server_->workers().Submit([self = shared_from_this()] { self->RunHandler(); });
  }

  // Worker thread.
  void RunHandler() {
    HandleRequest();
    asio::post(stream_.get_executor(), [self = shared_from_this()] { self->Write(); });
  }

  // A worker, or the strand (Dispatch): decodes the body, runs the handler,
  // fills response_.
  void HandleRequest() {
    HttpResponse out;
    const RouteOptions& ro = route_->options;
    bool ok = true;
    if (codec_ != Codec::kNone && !body_.empty()) {
      Result<std::string> decoded = InternalError("not decoded");
      try {
        decoded = Decompress(codec_, body_, decompressed_limit_);
      } catch (const std::bad_alloc&) {
        decoded = ResourceExhaustedError("out of memory while decompressing the request body");
      }
      if (!decoded.ok()) {
        int code = decoded.status().code() == StatusCode::kResourceExhausted ? 413 : 400;
        out.Text(code, decoded.status().message() + "\n");
        ok = false;
      } else {
        body_ = std::move(decoded).value();
      }
    }
    if (ok && codec_ != Codec::kNone) request_.mutable_headers().Remove("Content-Encoding");
    if (ok) {
      if (Status s = request_.SetBody(std::move(body_)); !s.ok()) {
        out.Text(400, s.message() + "\n");
        ok = false;
      }
    }
    if (ok) {
      try {
        route_->handler(request_, out);
      } catch (const std::exception& e) {
        log::Error("http handler threw", {{"route", ro.name}, {"err", e.what()}});
        out = HttpResponse();
        out.Text(500, "internal error\n");
      } catch (...) {
        log::Error("http handler threw", {{"route", ro.name}});
        out = HttpResponse();
        out.Text(500, "internal error\n");
      }
    }
    BuildResponse(std::move(out), /*may_compress=*/true);
  }

  // Worker thread: the WebSocket route's handler decides between an upgrade
  // and an HTTP answer.
  void RunWebSocketHandler() {
    HttpResponse out;
    WebSocketSession session;
    try {
      session = route_->websocket(request_, out);
    } catch (const std::exception& e) {
      log::Error("websocket handler threw", {{"route", route_->options.name}, {"err", e.what()}});
      session = nullptr;
      out = HttpResponse();
      out.Text(500, "internal error\n");
    }
    if (!session) {
      server_->ReleaseWebSocket();
      close_after_ = true;
      BuildResponse(std::move(out), /*may_compress=*/true);
      asio::post(executor_, [self = shared_from_this()] { self->Write(); });
      return;
    }
    asio::post(executor_, [self = shared_from_this(), session = std::move(session)]() mutable {
      self->Upgrade(std::move(session));
    });
  }

  // Strand: hands the socket to a WsConn, which completes the handshake.
  // This Session is then done (no more I/O; it goes away with its last
  // reference).
  void Upgrade(WebSocketSession session) {
    if (server_->stopping()) {
      server_->ReleaseWebSocket();
      return Reject(503, "server shutting down", /*close=*/true);
    }
    upgraded_ = true;
    server_->Unregister(id_);
    EndRequest();
    auto conn = std::make_shared<WsConn>(server_, id_, std::move(stream_), route_);
    conn->Accept(parser_->release(), std::move(session));
    parser_.reset();
    request_ = HttpRequest();
  }

  // Fills response_ from `out`. Runs on a worker or, for early answers, on
  // the strand.
  void BuildResponse(HttpResponse out, bool may_compress) {
    const auto& o = server_->options();
    const bool head = method_ == "HEAD";
    if (may_compress && out.compressible && !head && out.body.size() >= o.min_gzip_bytes &&
        out.status != 204 && out.status != 304 && !out.headers.Has("Content-Encoding") &&
        !AlreadyCompressedType(out.headers.Get("Content-Type").value_or(""))) {
      auto ae = request_.Header("Accept-Encoding");
      if (ae && AcceptsGzip(*ae)) {
        // Level 1: on two cores, speed matters more than the last few percent.
        auto gz = Compress(Codec::kGzip, out.body, 1);
        if (gz.ok()) {
          out.body = std::move(gz).value();
          out.headers.Set("Content-Encoding", "gzip");
        }
      }
      out.headers.Add("Vary", "Accept-Encoding");
    }
    response_.clear();
    response_.body().clear();
    response_.version(parser_ && parser_->is_header_done() ? parser_->get().version() : 11);
    response_.result(static_cast<unsigned>(out.status));
    if (auto reason = HttpReasonPhrase(out.status); !reason.empty()) response_.reason(Bv(reason));
    for (const auto& [name, value] : out.headers) {
      // Framing is the server's business, not the handler's.
      if (EqualsIgnoreCase(name, "Content-Length") || EqualsIgnoreCase(name, "Transfer-Encoding") ||
          EqualsIgnoreCase(name, "Connection")) {
        continue;
      }
      response_.insert(Bv(name), Bv(value));
    }
    status_ = out.status;
    if (head) {
      response_.content_length(out.body.size());
    } else {
      response_.body() = std::move(out.body);
      response_.prepare_payload();
    }
  }

  void Write() {
    state_ = State::kWriting;
    bool keep = keep_alive_ && !close_after_ && !server_->stopping();
    response_.keep_alive(keep);
    stream_.expires_after(server_->options().request_timeout);
    http::async_write(stream_, response_,
                      [self = shared_from_this(), keep](beast::error_code ec, size_t) {
                        self->OnWrite(ec, keep);
                      });
  }

  void OnWrite(beast::error_code ec, bool keep) {
    double seconds =
        std::chrono::duration<double>(Clock::now() - (counted_in_flight_ ? header_done_ : started_))
            .count();
    server_->ObserveDuration(route_, method_, status_, seconds);
    EndRequest();
    // Idle keep-alive connections should not hold on to the last body.
    request_ = HttpRequest();
    parser_.reset();
    if (ec || !keep) return Linger();
    WaitForRequest(/*first=*/false);
  }

  // Answers without running a handler (on the strand). With `close`, the
  // connection closes afterwards (a request body may still be unread).
  void Reject(int status, std::string message, bool close) {
    HttpResponse out;
    out.Text(status, std::move(message) + "\n");
    close_after_ = close_after_ || close;
    state_ = State::kHandling;
    BuildResponse(std::move(out), /*may_compress=*/false);
    Write();
  }

  void RejectWith(int status, std::string body, const std::string& allow) {
    HttpResponse out;
    out.Text(status, std::move(body));
    if (!allow.empty()) out.SetHeader("Allow", allow);
    close_after_ = close_after_ || !parser_->is_done();
    state_ = State::kHandling;
    BuildResponse(std::move(out), /*may_compress=*/false);
    Write();
  }

  // Half-closes, then reads and drops what the client still sends for a
  // little while, so that our last response is not lost to a reset.
  void Linger() {
    state_ = State::kClosing;
    beast::error_code ec;
    stream_.socket().shutdown(tcp::socket::shutdown_send, ec);
    if (ec) return Close();
    linger_deadline_ = Clock::now() + kLingerTime;
    LingerRead();
  }

  void LingerRead() {
    auto left = linger_deadline_ - Clock::now();
    if (left <= Clock::duration::zero() || lingered_ >= kLingerBytes) return Close();
    stream_.expires_after(std::chrono::duration_cast<std::chrono::milliseconds>(left));
    stream_.async_read_some(asio::buffer(drain_),
                            [self = shared_from_this()](beast::error_code ec, size_t n) {
                              if (ec) return self->Close();
                              self->lingered_ += n;
                              self->LingerRead();
                            });
  }

  void Close() {
    state_ = State::kClosing;
    EndRequest();
    beast::error_code ec;
    stream_.socket().shutdown(tcp::socket::shutdown_both, ec);
    stream_.socket().close(ec);
  }

  void BeginRequest() {
    if (request_active_) return;
    request_active_ = true;
    started_ = Clock::now();
    route_ = nullptr;
    method_.clear();
    status_ = 0;
    server_->RequestStarted();
  }

  void EndRequest() {
    if (counted_in_flight_) {
      server_->in_flight().Dec();
      counted_in_flight_ = false;
    }
    if (request_active_) {
      request_active_ = false;
      server_->RequestEnded();
    }
  }

  static bool IsConnectionEnd(const beast::error_code& ec) {
    return ec == http::error::end_of_stream || ec == http::error::partial_message ||
           ec == beast::error::timeout || ec == asio::error::eof ||
           ec == asio::error::connection_reset || ec == asio::error::operation_aborted ||
           ec == asio::error::broken_pipe || ec == asio::error::bad_descriptor;
  }

  HttpServer::Impl* server_;
  const uint64_t id_;
  beast::tcp_stream stream_;
  const asio::any_io_executor executor_;
  bool upgraded_ = false;  // stream_ moved to a WsConn
  beast::flat_buffer buffer_;
  std::string remote_;
  State state_ = State::kIdle;

  // The request in progress.
  std::optional<http::request_parser<http::string_body>> parser_;
  std::optional<http::response<http::empty_body>> continue_;
  http::response<http::string_body> response_;
  HttpRequest request_;
  std::string body_;
  size_t body_read_ = 0;  // ReadRawBody: bytes of body_ in
  int rcvlowat_ = 1;      // the socket's SO_RCVLOWAT
  std::string method_;
  const Router::Route* route_ = nullptr;
  Codec codec_ = Codec::kNone;
  size_t body_limit_ = 0;
  size_t decompressed_limit_ = 0;
  int status_ = 0;
  bool keep_alive_ = false;
  bool close_after_ = false;
  bool request_active_ = false;
  bool counted_in_flight_ = false;
  Clock::time_point started_;
  Clock::time_point header_done_;

  // Linger-close state.
  Clock::time_point linger_deadline_;
  size_t lingered_ = 0;
  std::array<char, 16384> drain_;
};

// A new connection when HttpServerOptions::on_h2c_connection is set: waits
// for its first bytes, peeks at them (MSG_PEEK, nothing is consumed), hands
// an HTTP/2 prefaced connection to the callback and anything else to a
// Session. Strand only.
class H2cSniffer : public std::enable_shared_from_this<H2cSniffer> {
 public:
  H2cSniffer(HttpServer::Impl* server, tcp::socket socket)
      : server_(server),
        socket_(std::move(socket)),
        poll_(socket_.get_executor()),
        deadline_(socket_.get_executor()) {}

  void Start() {
    // A peer that sends nothing is dropped after read_header_timeout, as an
    // HTTP connection would be.
    deadline_.expires_after(server_->options().read_header_timeout);
    deadline_.async_wait([self = shared_from_this()](beast::error_code ec) {
      if (!ec) self->Close();
    });
    Wait();
  }

 private:
  void Wait() {
    socket_.async_wait(tcp::socket::wait_read,
                       [self = shared_from_this()](beast::error_code ec) { self->OnReadable(ec); });
  }

  static constexpr std::string_view kPreface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

  void OnReadable(beast::error_code ec) {
    if (ec || server_->stopping()) return Close();
    std::array<char, kPreface.size()> buf;
    ssize_t n = ::recv(socket_.native_handle(), buf.data(), buf.size(), MSG_PEEK | MSG_DONTWAIT);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) return Wait();
    if (n <= 0) return Close();  // closed before sending anything, or broken
    std::string_view got(buf.data(), static_cast<size_t>(n));
    if (got != kPreface.substr(0, got.size())) {
      deadline_.cancel();
      std::make_shared<Session>(server_, std::move(socket_))->Start();
      return;
    }
    if (got.size() == kPreface.size()) return HandOver();
    // A prefix of the preface so far (or an HTTP/1.1 "P..." method): the
    // rest is on its way. The socket stays readable, so poll briefly until
    // it comes or the deadline closes the socket.
    poll_.expires_after(std::chrono::milliseconds(2));
    poll_.async_wait([self = shared_from_this()](beast::error_code e) {
      if (e) return;
      self->OnReadable({});
    });
  }

  void HandOver() {
    // release(), not dup() + close(): Asio must take the fd out of its epoll
    // set, which it skips when closing (the kernel would do it, but not
    // while a dup keeps the file open).
    beast::error_code ec;
    int fd = socket_.release(ec);
    Close();
    if (ec || fd < 0) {
      log::Warn("h2c connection: cannot take the socket over", {{"err", ec.message()}});
      return;
    }
    int flags = ::fcntl(fd, F_GETFL, 0);
    if (flags >= 0) ::fcntl(fd, F_SETFL, flags | O_NONBLOCK);
    server_->options().on_h2c_connection(fd);
  }

  void Close() {
    beast::error_code ignored;
    poll_.cancel();
    deadline_.cancel();
    socket_.close(ignored);
  }

  HttpServer::Impl* server_;
  tcp::socket socket_;
  asio::steady_timer poll_;
  asio::steady_timer deadline_;
};

void HttpServer::Impl::Accept() {
  acceptor_.async_accept(asio::make_strand(ioc_), [this](beast::error_code ec, tcp::socket socket) {
    if (ec) {
      if (ec == asio::error::operation_aborted || !acceptor_.is_open()) return;
      // EMFILE and the like: log, back off a little, go on.
      log::Warn("http accept failed", {{"err", ec.message()}});
      auto timer = std::make_shared<asio::steady_timer>(acceptor_.get_executor(),
                                                        std::chrono::milliseconds(50));
      timer->async_wait([this, timer](beast::error_code) {
        if (acceptor_.is_open()) Accept();
      });
      return;
    }
    if (stopping()) {
      beast::error_code ignored;
      socket.close(ignored);
      return;
    }
    beast::error_code ignored;
    socket.set_option(tcp::no_delay(true), ignored);
    if (options_.on_h2c_connection) {
      std::make_shared<H2cSniffer>(this, std::move(socket))->Start();
    } else {
      std::make_shared<Session>(this, std::move(socket))->Start();
    }
    Accept();
  });
}

std::shared_ptr<std::atomic<int>> HttpServer::Impl::ForEachSession(void (*fn)(Session&)) {
  std::vector<std::shared_ptr<Session>> live;
  {
    std::lock_guard lock(sessions_mu_);
    for (auto& [id, weak] : sessions_) {
      if (auto s = weak.lock()) live.push_back(std::move(s));
    }
  }
  auto pending = std::make_shared<std::atomic<int>>(static_cast<int>(live.size()));
  for (auto& s : live) {
    Session* raw = s.get();
    asio::post(raw->executor(), [s, fn, pending] {
      fn(*s);
      pending->fetch_sub(1);
    });
  }
  return pending;
}

void HttpServer::Impl::SpawnWebSocketSession(std::shared_ptr<WsConn> conn) {
  std::vector<std::thread> finished;
  {
    std::lock_guard lock(ws_mu_);
    finished.swap(ws_finished_);
    const uint64_t id = conn->id();
    // The thread looks itself up under ws_mu_, which we hold until it is in
    // the map.
    ws_threads_.emplace(id, std::thread([this, conn = std::move(conn), id]() mutable {
      conn->RunSession();
      conn.reset();
      std::lock_guard done_lock(ws_mu_);
      auto it = ws_threads_.find(id);
      if (it != ws_threads_.end()) {
        ws_finished_.push_back(std::move(it->second));
        ws_threads_.erase(it);
      }
    }));
  }
  for (auto& t : finished) t.join();  // they have returned already
}

std::vector<std::shared_ptr<WsConn>> HttpServer::Impl::LiveWebSockets() {
  std::vector<std::shared_ptr<WsConn>> live;
  std::lock_guard lock(ws_mu_);
  for (auto& [id, weak] : websockets_) {
    if (auto c = weak.lock()) live.push_back(std::move(c));
  }
  return live;
}

void HttpServer::Impl::JoinWebSocketThreads() {
  for (;;) {
    std::vector<std::thread> threads;
    {
      std::lock_guard lock(ws_mu_);
      threads.swap(ws_finished_);
      for (auto& [id, t] : ws_threads_) threads.push_back(std::move(t));
      ws_threads_.clear();
    }
    if (threads.empty()) return;
    for (auto& t : threads) t.join();
  }
}

void HttpServer::Impl::Stop(std::chrono::milliseconds drain) {
  std::lock_guard stop_lock(stop_mu_);
  if (stopped_.exchange(true)) return;
  stopping_.store(true, std::memory_order_release);

  std::promise<void> closed;
  asio::post(acceptor_.get_executor(), [this, &closed] {
    beast::error_code ec;
    acceptor_.close(ec);
    closed.set_value();
  });
  if (!io_threads_.empty()) closed.get_future().wait();

  ForEachSession([](Session& s) { s.OnServerStop(); });
  // Session functions see closed() now and return; their sockets get the
  // close frame once queued messages are out.
  for (auto& c : LiveWebSockets()) c->Close(1001, "server shutting down");

  auto deadline = Clock::now() + drain;
  while (active_requests_.load() > 0 && Clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  // Close what is left, so clients see the end now rather than when the
  // server object is destroyed; give the strands a moment to run it.
  auto pending = ForEachSession([](Session& s) { s.ForceClose(); });
  auto close_deadline = Clock::now() + std::chrono::milliseconds(500);
  while (pending->load() > 0 && Clock::now() < close_deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  // WebSocket close handshakes get the same half second, then the sockets go.
  while (!LiveWebSockets().empty() && Clock::now() < close_deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  for (auto& c : LiveWebSockets()) c->ForceClose();
  if (!LiveWebSockets().empty()) std::this_thread::sleep_for(std::chrono::milliseconds(20));
  work_.reset();
  ioc_.stop();
  for (auto& t : io_threads_) t.join();
  io_threads_.clear();
  JoinWebSocketThreads();
  workers_.Shutdown();
  if (!bound_address_.empty()) log::Info("http server stopped", {{"addr", bound_address_}});
}

HttpServer::HttpServer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

HttpServer::~HttpServer() { impl_->Stop(std::chrono::milliseconds(0)); }

Result<std::unique_ptr<HttpServer>> HttpServer::Start(HttpServerOptions options,
                                                      const Router* router,
                                                      telemetry::Registry* registry) {
  if (router == nullptr) return InvalidArgumentError("http server needs a router");
  if (registry == nullptr) registry = &telemetry::Registry::Default();
  if (options.max_header_bytes < 256) {
    return InvalidArgumentError("max_header_bytes must be at least 256");
  }
  auto impl = std::make_unique<Impl>(std::move(options), router, registry);
  SL_RETURN_IF_ERROR(impl->Listen());
  return std::unique_ptr<HttpServer>(new HttpServer(std::move(impl)));
}

std::string HttpServer::bound_address() const { return impl_->bound_address(); }

void HttpServer::Stop(std::chrono::milliseconds drain) { impl_->Stop(drain); }

}  // namespace sightline::net
