#include "net/http_server.h"

#include <gtest/gtest.h>
#include <zlib.h>

#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <mutex>
#include <vector>
#include <chrono>
#include <future>
#include <string>
#include <thread>

#include "base/compression.h"
#include "harness/harness.h"
#include "net/raw_http.h"
#include "telemetry/metrics.h"

namespace sightline::net {
namespace {

using namespace std::chrono_literals;
using testing::BuildRequest;
using testing::Chunked;
using testing::RawConnection;
using testing::RawResponse;

constexpr size_t kMaxBody = 8 << 20;          // as sent
constexpr size_t kMaxDecompressed = 4 << 20;  // after Content-Encoding

// A single-member gzip stream of `mib` MiB of zeros, about 1 KiB per MiB,
// built without ever holding (or compressing) the plain text: after a full
// flush a deflate stream forgets its history, so the compressed form of
// "1 MiB of zeros" is the same block every time and can be repeated.
std::string GzipOfZeroMiBs(size_t mib) {
  const std::string zeros(1 << 20, '\0');
  z_stream zs{};
  EXPECT_EQ(deflateInit2(&zs, 9, Z_DEFLATED, -15, 9, Z_DEFAULT_STRATEGY), Z_OK);
  auto flushed = [&](int flush) {
    std::string out(64 << 10, '\0');
    zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(zeros.data()));
    zs.avail_in = flush == Z_FINISH ? 0 : static_cast<uInt>(zeros.size());
    zs.next_out = reinterpret_cast<Bytef*>(out.data());
    zs.avail_out = static_cast<uInt>(out.size());
    deflate(&zs, flush);
    EXPECT_EQ(zs.avail_in, 0u);
    out.resize(out.size() - zs.avail_out);
    return out;
  };
  std::string first = flushed(Z_FULL_FLUSH);
  std::string block = flushed(Z_FULL_FLUSH);
  std::string last = flushed(Z_FINISH);
  deflateEnd(&zs);
  uLong crc_mib = crc32(0, reinterpret_cast<const Bytef*>(zeros.data()), zeros.size());
  uLong crc = crc_mib;
  std::string out("\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff", 10);
  out += first;
  for (size_t i = 1; i < mib; ++i) {
    out += block;
    crc = crc32_combine(crc, crc_mib, zeros.size());
  }
  out += last;
  uint32_t size = static_cast<uint32_t>(mib << 20);  // ISIZE is the size mod 2^32
  for (uint32_t v : {static_cast<uint32_t>(crc), size}) {
    for (int i = 0; i < 4; ++i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
  }
  return out;
}

std::string Compressible(size_t n) {
  std::string s;
  while (s.size() < n)
    s += "{\"metric\":{\"__name__\":\"up\",\"job\":\"api\"},\"value\":[1,\"1\"]},";
  s.resize(n);
  return s;
}

class HttpServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    router_.Handle("GET", "/hello",
                   [](HttpRequest&, HttpResponse& resp) { resp.Text(200, "hello"); });
    router_.Handle("POST,PUT", "/echo", [](HttpRequest& req, HttpResponse& resp) {
      resp.Text(200, req.body());
      resp.SetHeader("X-Tenant", req.tenant());
      resp.SetHeader("X-Had-Content-Encoding", req.Header("Content-Encoding") ? "yes" : "no");
      resp.compressible = false;
    });
    router_.Handle("GET,POST", "/api/v1/query", [](HttpRequest& req, HttpResponse& resp) {
      std::string out = "query=" + std::string(req.FormParam("query").value_or("<none>"));
      for (std::string_view m : req.FormParams("match[]")) out += " match=" + std::string(m);
      resp.Text(200, out);
    });
    router_.Handle("GET", "/big", [](HttpRequest&, HttpResponse& resp) {
      resp.Json(200, Compressible(64 << 10));
    });
    router_.Handle("GET", "/slow", [this](HttpRequest& req, HttpResponse& resp) {
      slow_started_.store(true);
      int ms = std::stoi(std::string(req.Param("ms").value_or("300")));
      std::this_thread::sleep_for(std::chrono::milliseconds(ms));
      resp.Text(200, "done");
    });
    router_.Handle(
        "POST", "/small",
        [](HttpRequest& req, HttpResponse& resp) {
          resp.Text(200, std::to_string(req.body().size()));
        },
        RouteOptions{.name = "small", .max_body_bytes = 1024});
    router_.Handle(
        "GET", "/metrics",
        [](HttpRequest& req, HttpResponse& resp) {
          resp.Text(200, "tenant=[" + req.tenant() + "]");
        },
        RouteOptions{.name = "metrics", .tenant = false});
    router_.Handle("GET", "/throw",
                   [](HttpRequest&, HttpResponse&) { throw std::runtime_error("boom"); });
    router_.Handle("GET", "/user/{id}/items/{rest...}", [](HttpRequest& req, HttpResponse& resp) {
      resp.Text(200, std::string(req.PathParam("id")) + "|" + std::string(req.PathParam("rest")));
    });
    router_.Handle(
        "GET", "/extra", [](HttpRequest&, HttpResponse& resp) { resp.Text(200, "x"); },
        RouteOptions{.name = "extra_route", .duration_histogram = &extra_hist_});
  }

  void TearDown() override {
    if (server_) server_->Stop(0ms);
  }

  void Start(HttpServerOptions o = {}) {
    o.listen = "127.0.0.1:0";
    o.io_threads = io_threads_;
    o.worker_threads = 2;
    o.max_body_bytes = kMaxBody;
    o.max_decompressed_bytes = kMaxDecompressed;
    if (o.max_header_bytes == HttpServerOptions{}.max_header_bytes) o.max_header_bytes = 8 << 10;
    auto s = HttpServer::Start(o, &router_, &registry_);
    ASSERT_TRUE(s.ok()) << s.status().ToString();
    server_ = std::move(s).value();
    addr_ = server_->bound_address();
  }

  std::unique_ptr<RawConnection> Connect() {
    auto c = RawConnection::Connect(addr_);
    EXPECT_NE(c, nullptr);
    return c;
  }

  // One request on a fresh connection.
  std::optional<RawResponse> Roundtrip(const std::string& request) {
    auto c = Connect();
    if (!c || !c->Send(request)) return std::nullopt;
    return c->Read();
  }

  void ExpectStillServing() {
    auto r = Roundtrip(BuildRequest("GET", "/hello"));
    ASSERT_TRUE(r.has_value()) << "server stopped answering";
    EXPECT_EQ(r->status, 200);
    EXPECT_EQ(r->body, "hello");
  }

  telemetry::Registry registry_;
  telemetry::Family<telemetry::Histogram>& extra_hist_ = registry_.AddHistogram(
      "test_request_duration_seconds", "test", {"method", "route", "status_code", "ws"});
  Router router_;
  std::unique_ptr<HttpServer> server_;
  std::string addr_;
  std::atomic<bool> slow_started_{false};
  // One I/O thread: every handler runs on a worker (HandlersOnIoThreads
  // below uses more).
  int io_threads_ = 1;
};

TEST_F(HttpServerTest, BindsAFreePortOnPortZero) {
  Start();
  EXPECT_EQ(addr_.rfind("127.0.0.1:", 0), 0u) << addr_;
  EXPECT_NE(addr_, "127.0.0.1:0");
  ExpectStillServing();
}

TEST_F(HttpServerTest, BusyPortIsUnavailable) {
  Start();
  HttpServerOptions o;
  o.listen = addr_;
  auto again = HttpServer::Start(o, &router_, &registry_);
  ASSERT_FALSE(again.ok());
  EXPECT_EQ(again.status().code(), StatusCode::kUnavailable);
}

TEST_F(HttpServerTest, KeepAliveServesSeveralRequestsOnOneConnection) {
  Start();
  auto c = Connect();
  for (int i = 0; i < 5; ++i) {
    ASSERT_TRUE(c->Send(BuildRequest("GET", "/hello")));
    auto r = c->Read();
    ASSERT_TRUE(r.has_value()) << "request " << i;
    EXPECT_EQ(r->status, 200);
    EXPECT_EQ(r->body, "hello");
  }
  // Pipelined: two requests in one write, two answers in order.
  ASSERT_TRUE(c->Send(BuildRequest("GET", "/hello") + BuildRequest("POST", "/echo", "", "abc")));
  auto a = c->Read();
  auto b = c->Read();
  ASSERT_TRUE(a && b);
  EXPECT_EQ(a->body, "hello");
  EXPECT_EQ(b->body, "abc");
}

TEST_F(HttpServerTest, ConnectionCloseIsHonoured) {
  Start();
  auto c = Connect();
  ASSERT_TRUE(c->Send(BuildRequest("GET", "/hello", "Connection: close\r\n")));
  auto r = c->Read();
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->Header("connection"), "close");
  EXPECT_TRUE(c->WaitClosed(2s));
}

TEST_F(HttpServerTest, ChunkedRequestBody) {
  Start();
  std::string body = Compressible(100000);
  auto r = Roundtrip("POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n" +
                     Chunked(body, 7000));
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->status, 200);
  EXPECT_TRUE(r->body == body);
}

TEST_F(HttpServerTest, ContentLengthOverLimitIs413BeforeTheBodyIsRead) {
  Start();
  auto c = Connect();
  ASSERT_TRUE(c->Send("POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: " +
                      std::to_string(kMaxBody + 1) + "\r\n\r\n"));
  auto r = c->Read(5s);
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->status, 413);
  EXPECT_TRUE(c->WaitClosed(5s));
  // Per-route limit.
  auto small = Roundtrip(BuildRequest("POST", "/small", "", std::string(1025, 'x')));
  ASSERT_TRUE(small.has_value());
  EXPECT_EQ(small->status, 413);
  auto fits = Roundtrip(BuildRequest("POST", "/small", "", std::string(1024, 'x')));
  ASSERT_TRUE(fits.has_value());
  EXPECT_EQ(fits->body, "1024");
  ExpectStillServing();
}

TEST_F(HttpServerTest, ChunkedBodyOverLimitIs413) {
  Start();
  auto c = Connect();
  std::string body(kMaxBody + 100000, 'x');
  // The server answers while we are still sending; keep sending anyway (it
  // drains a while before closing), then read its answer.
  c->Send("POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n" +
          Chunked(body, 1 << 16));
  auto r = c->Read(5s);
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->status, 413);
  EXPECT_TRUE(c->WaitClosed(5s));
  ExpectStillServing();
}

TEST_F(HttpServerTest, GzipBombIs413AndServerKeepsServing) {
  Start();
  // The construction is valid gzip: a small one decodes exactly.
  auto small = Decompress(Codec::kGzip, GzipOfZeroMiBs(3), 3 << 20);
  ASSERT_TRUE(small.ok()) << small.status().ToString();
  ASSERT_EQ(small->size(), size_t{3} << 20);
  ASSERT_EQ(small->find_first_not_of('\0'), std::string::npos);

  std::string bomb = GzipOfZeroMiBs(1024);  // 1 GiB
  ASSERT_LT(bomb.size(), kMaxBody) << "the bomb must pass the wire limit";
  auto r = Roundtrip(BuildRequest("POST", "/echo", "Content-Encoding: gzip\r\n", bomb));
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->status, 413) << r->body;
  EXPECT_NE(r->body.find("larger than the limit"), std::string::npos) << r->body;
  ExpectStillServing();
}

TEST_F(HttpServerTest, DecodesEveryContentEncoding) {
  Start();
  std::string body = Compressible(200000);
  for (Codec c : {Codec::kGzip, Codec::kDeflate, Codec::kSnappy, Codec::kZstd}) {
    std::string encoded = *Compress(c, body);
    auto r = Roundtrip(BuildRequest(
        "POST", "/echo", "Content-Encoding: " + std::string(CodecName(c)) + "\r\n", encoded));
    ASSERT_TRUE(r.has_value()) << CodecName(c);
    EXPECT_EQ(r->status, 200) << CodecName(c) << ": " << r->body.substr(0, 200);
    EXPECT_TRUE(r->body == body) << CodecName(c);
    EXPECT_EQ(r->Header("x-had-content-encoding"), "no") << CodecName(c);
  }
  // Compressed and chunked together, as OTel JS exporters send with gzip on.
  std::string gz = *Compress(Codec::kGzip, body);
  auto r = Roundtrip(
      "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Encoding: gzip\r\nTransfer-Encoding: "
      "chunked\r\n\r\n" +
      Chunked(gz, 999));
  ASSERT_TRUE(r.has_value());
  EXPECT_TRUE(r->body == body);
}

TEST_F(HttpServerTest, UnknownEncodingIs415AndMalformedIs400) {
  Start();
  auto br = Roundtrip(BuildRequest("POST", "/echo", "Content-Encoding: br\r\n", "xxxx"));
  ASSERT_TRUE(br.has_value());
  EXPECT_EQ(br->status, 415);
  auto bad = Roundtrip(BuildRequest("POST", "/echo", "Content-Encoding: gzip\r\n", "not gzip"));
  ASSERT_TRUE(bad.has_value());
  EXPECT_EQ(bad->status, 400);
  auto zbad = Roundtrip(BuildRequest("POST", "/echo", "Content-Encoding: zstd\r\n", "nope"));
  ASSERT_TRUE(zbad.has_value());
  EXPECT_EQ(zbad->status, 400);
  ExpectStillServing();
}

TEST_F(HttpServerTest, TruncatedChunkedBodyThenCloseLeavesServerServing) {
  Start();
  {
    auto c = Connect();
    ASSERT_TRUE(
        c->Send("POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n1000\r\nabc"));
    std::this_thread::sleep_for(50ms);
    c->Close();
  }
  {
    // A chunk size that is not hex.
    auto c = Connect();
    ASSERT_TRUE(c->Send(
        "POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n"));
    auto r = c->Read(5s);
    ASSERT_TRUE(r.has_value());
    EXPECT_EQ(r->status, 400);
  }
  ExpectStillServing();
}

TEST_F(HttpServerTest, GarbageIs400AndClosesTheConnection) {
  Start();
  for (std::string garbage :
       {std::string("THIS IS NOT HTTP\r\n\r\n"),
        std::string("GET /hello HTTP/1.1\r\nNo colon here\r\n\r\n"),
        std::string("GET /hello HTTP/9.9\r\n\r\n"),
        std::string("\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", 11) + "\r\n\r\n",
        std::string("GET /hello HTTP/1.1\r\nContent-Length: abc\r\n\r\n")}) {
    auto c = Connect();
    ASSERT_TRUE(c->Send(garbage));
    auto r = c->Read(5s);
    ASSERT_TRUE(r.has_value()) << garbage;
    EXPECT_EQ(r->status, 400) << garbage;
    EXPECT_TRUE(c->WaitClosed(5s)) << garbage;
  }
  ExpectStillServing();
}

TEST_F(HttpServerTest, OversizedHeaderIs431) {
  Start();
  auto c = Connect();
  ASSERT_TRUE(
      c->Send("GET /hello HTTP/1.1\r\nHost: t\r\nX-Big: " + std::string(20000, 'a') + "\r\n\r\n"));
  auto r = c->Read(5s);
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->status, 431);
  EXPECT_TRUE(c->WaitClosed(5s));
  ExpectStillServing();
}

TEST_F(HttpServerTest, NotFoundAndMethodNotAllowed) {
  Start();
  auto nf = Roundtrip(BuildRequest("GET", "/nope"));
  ASSERT_TRUE(nf.has_value());
  EXPECT_EQ(nf->status, 404);
  auto na = Roundtrip(BuildRequest("DELETE", "/hello"));
  ASSERT_TRUE(na.has_value());
  EXPECT_EQ(na->status, 405);
  EXPECT_EQ(na->Header("allow"), "GET, HEAD");
  auto bad = Roundtrip(BuildRequest("GET", "/a%zz"));
  ASSERT_TRUE(bad.has_value());
  EXPECT_EQ(bad->status, 400);
  auto params = Roundtrip(BuildRequest("GET", "/user/u%201/items/a/b"));
  ASSERT_TRUE(params.has_value());
  EXPECT_EQ(params->body, "u 1|a/b");
}

TEST_F(HttpServerTest, Expect100Continue) {
  Start();
  auto c = Connect();
  ASSERT_TRUE(c->Send(
      "POST /echo HTTP/1.1\r\nHost: t\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n"));
  auto cont = c->Read(5s);
  ASSERT_TRUE(cont.has_value());
  EXPECT_EQ(cont->status, 100);
  ASSERT_TRUE(c->Send("12345"));
  auto r = c->Read(5s);
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->body, "12345");
  // Too large: the final answer comes instead of 100 Continue.
  auto c2 = Connect();
  ASSERT_TRUE(
      c2->Send("POST /echo HTTP/1.1\r\nHost: t\r\nExpect: 100-continue\r\nContent-Length: " +
               std::to_string(kMaxBody * 2) + "\r\n\r\n"));
  auto r2 = c2->Read(5s);
  ASSERT_TRUE(r2.has_value());
  EXPECT_EQ(r2->status, 413);
}

TEST_F(HttpServerTest, CurlPostsLargeBodiesWithExpectContinue) {
  Start();
  std::string body = Compressible(3 << 20);  // curl adds Expect: 100-continue past 1 MiB
  auto r = sightline::testing::HttpPost("http://" + addr_ + "/echo", body);
  EXPECT_EQ(r.status, 200) << r.error;
  EXPECT_EQ(r.body.size(), body.size());
  EXPECT_TRUE(r.body == body);
  auto chunked = sightline::testing::HttpPost("http://" + addr_ + "/echo", "abc",
                                              {"Transfer-Encoding: chunked"});
  EXPECT_EQ(chunked.status, 200);
  EXPECT_EQ(chunked.body, "abc");
}

TEST_F(HttpServerTest, HeadHasNoBody) {
  Start();
  auto c = Connect();
  ASSERT_TRUE(c->Send(BuildRequest("HEAD", "/hello")));
  auto r = c->Read(5s, /*head=*/true);
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->Header("content-length"), "5");
  // Were a body sent, it would be parsed as the next response here.
  ASSERT_TRUE(c->Send(BuildRequest("GET", "/hello")));
  auto next = c->Read(5s);
  ASSERT_TRUE(next.has_value());
  EXPECT_EQ(next->body, "hello");
}

TEST_F(HttpServerTest, GzipsResponsesWhenAccepted) {
  Start();
  auto plain = Roundtrip(BuildRequest("GET", "/big"));
  ASSERT_TRUE(plain.has_value());
  EXPECT_EQ(plain->Header("content-encoding"), "");
  EXPECT_EQ(plain->body.size(), size_t{64} << 10);

  auto gz = Roundtrip(BuildRequest("GET", "/big", "Accept-Encoding: gzip, deflate, br\r\n"));
  ASSERT_TRUE(gz.has_value());
  EXPECT_EQ(gz->Header("content-encoding"), "gzip");
  EXPECT_EQ(gz->Header("vary"), "Accept-Encoding");
  EXPECT_LT(gz->body.size(), plain->body.size() / 4);
  auto decoded = Decompress(Codec::kGzip, gz->body, 1 << 20);
  ASSERT_TRUE(decoded.ok());
  EXPECT_TRUE(*decoded == plain->body);

  auto refused = Roundtrip(BuildRequest("GET", "/big", "Accept-Encoding: gzip;q=0\r\n"));
  ASSERT_TRUE(refused.has_value());
  EXPECT_EQ(refused->Header("content-encoding"), "");

  auto tiny = Roundtrip(BuildRequest("GET", "/hello", "Accept-Encoding: gzip\r\n"));
  ASSERT_TRUE(tiny.has_value());
  EXPECT_EQ(tiny->Header("content-encoding"), "");
  EXPECT_EQ(tiny->body, "hello");
}

TEST_F(HttpServerTest, FormPostParams) {
  Start();
  auto r = Roundtrip(BuildRequest("POST", "/api/v1/query?match[]=fromquery",
                                  "Content-Type: application/x-www-form-urlencoded\r\n",
                                  "query=sum%28rate%28x%5B5m%5D%29%29&match[]=a+b"));
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->body, "query=sum(rate(x[5m])) match=a b match=fromquery");
  auto get = Roundtrip(BuildRequest("GET", "/api/v1/query?query=up"));
  ASSERT_TRUE(get.has_value());
  EXPECT_EQ(get->body, "query=up");
  auto bad = Roundtrip(BuildRequest("POST", "/api/v1/query",
                                    "Content-Type: application/x-www-form-urlencoded\r\n", "q=%"));
  ASSERT_TRUE(bad.has_value());
  EXPECT_EQ(bad->status, 400);
}

TEST_F(HttpServerTest, TenancyOff) {
  Start();
  auto r = Roundtrip(BuildRequest("POST", "/echo", "X-Scope-OrgID: a/b\r\n", "x"));
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->Header("x-tenant"), "anonymous");
}

TEST_F(HttpServerTest, TenancyOn) {
  HttpServerOptions o;
  o.multitenancy = true;
  Start(o);
  auto missing = Roundtrip(BuildRequest("POST", "/echo", "", "x"));
  ASSERT_TRUE(missing.has_value());
  EXPECT_EQ(missing->status, 401);
  EXPECT_EQ(missing->body, "no org id\n");
  auto invalid = Roundtrip(BuildRequest("POST", "/echo", "X-Scope-OrgID: a/b\r\n", "x"));
  ASSERT_TRUE(invalid.has_value());
  EXPECT_EQ(invalid->status, 400);
  auto ok = Roundtrip(BuildRequest("POST", "/echo", "X-Scope-OrgID: team-1\r\n", "x"));
  ASSERT_TRUE(ok.has_value());
  EXPECT_EQ(ok->status, 200);
  EXPECT_EQ(ok->Header("x-tenant"), "team-1");
  auto metrics = Roundtrip(BuildRequest("GET", "/metrics"));
  ASSERT_TRUE(metrics.has_value());
  EXPECT_EQ(metrics->status, 200);
  EXPECT_EQ(metrics->body, "tenant=[]");
}

TEST_F(HttpServerTest, IdleKeepAliveConnectionIsClosed) {
  HttpServerOptions o;
  o.idle_timeout = 300ms;
  Start(o);
  auto c = Connect();
  ASSERT_TRUE(c->Send(BuildRequest("GET", "/hello")));
  ASSERT_TRUE(c->Read().has_value());
  auto t0 = std::chrono::steady_clock::now();
  EXPECT_FALSE(c->WaitClosed(100ms)) << "closed before the idle timeout";
  EXPECT_TRUE(c->WaitClosed(5s)) << "idle connection was not closed";
  EXPECT_GE(std::chrono::steady_clock::now() - t0, 250ms);
}

TEST_F(HttpServerTest, SlowHeaderIsCutOff) {
  HttpServerOptions o;
  o.read_header_timeout = 300ms;
  Start(o);
  auto c = Connect();
  ASSERT_TRUE(c->Send("GET /hello HTTP/1.1\r\nHost"));
  EXPECT_TRUE(c->WaitClosed(5s));
  ExpectStillServing();
}

TEST_F(HttpServerTest, SlowBodyIsCutOff) {
  HttpServerOptions o;
  o.request_timeout = 300ms;
  Start(o);
  auto c = Connect();
  ASSERT_TRUE(c->Send("POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 100\r\n\r\nabc"));
  EXPECT_TRUE(c->WaitClosed(5s));
  ExpectStillServing();
}

TEST_F(HttpServerTest, HandlerExceptionIs500) {
  Start();
  auto r = Roundtrip(BuildRequest("GET", "/throw"));
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->status, 500);
  ExpectStillServing();
}

TEST_F(HttpServerTest, StopDrainsAnInFlightRequest) {
  Start();
  auto c = Connect();
  ASSERT_TRUE(c->Send(BuildRequest("GET", "/slow?ms=500")));
  for (int i = 0; i < 500 && !slow_started_.load(); ++i) std::this_thread::sleep_for(5ms);
  ASSERT_TRUE(slow_started_.load());
  auto idle = Connect();  // an idle connection is closed at once
  std::this_thread::sleep_for(20ms);
  auto t0 = std::chrono::steady_clock::now();
  auto stopped = std::async(std::launch::async, [&] { server_->Stop(10s); });
  auto r = c->Read(5s);
  ASSERT_TRUE(r.has_value()) << "in-flight request was not answered";
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->body, "done");
  EXPECT_EQ(r->Header("connection"), "close");
  EXPECT_TRUE(idle->WaitClosed(2s));
  stopped.wait();
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 5s) << "Stop waited for the whole drain";
  EXPECT_EQ(RawConnection::Connect(addr_), nullptr) << "still accepting after Stop";
}

TEST_F(HttpServerTest, StopWithoutDrainDoesNotWaitForSlowClients) {
  Start();
  auto c = Connect();
  ASSERT_TRUE(c->Send("GET /hello HTTP/1.1\r\nHo"));  // a header that never completes
  std::this_thread::sleep_for(50ms);
  auto t0 = std::chrono::steady_clock::now();
  server_->Stop(200ms);
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 2s);
  EXPECT_TRUE(c->WaitClosed(2s));
}

TEST_F(HttpServerTest, RecordsMetrics) {
  Start();
  ExpectStillServing();
  Roundtrip(BuildRequest("GET", "/nope"));
  Roundtrip(BuildRequest("GET", "/extra"));
  // Metrics are observed after the response is written: give it a moment.
  std::string text;
  for (int i = 0; i < 100; ++i) {
    text = registry_.Expose();
    if (text.find("test_request_duration_seconds_count") != std::string::npos) break;
    std::this_thread::sleep_for(10ms);
  }
  EXPECT_NE(text.find("sightline_http_request_duration_seconds_count{route=\"hello\",method="
                      "\"GET\",status_code=\"200\"} 1"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("sightline_http_request_duration_seconds_count{route=\"other\",method="
                      "\"GET\",status_code=\"404\"} 1"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("test_request_duration_seconds_count{method=\"GET\",route=\"extra_route\","
                      "status_code=\"200\",ws=\"false\"} 1"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("sightline_http_requests_in_flight 0"), std::string::npos) << text;
}

TEST_F(HttpServerTest, ManyConcurrentClients) {
  Start();
  std::vector<std::thread> threads;
  std::atomic<int> ok{0};
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&] {
      auto c = RawConnection::Connect(addr_);
      if (!c) return;
      for (int i = 0; i < 20; ++i) {
        if (!c->Send(BuildRequest("POST", "/echo", "", "ping"))) return;
        auto r = c->Read();
        if (r && r->body == "ping") ok.fetch_add(1);
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(ok.load(), 160);
}


// Bodies of every size go through the direct Content-Length read (what is
// already in the header's buffer, then straight from the socket) intact,
// on a connection that is kept alive, also when the body arrives in pieces
// slowly (SO_RCVLOWAT asks for the rest; the pieces must still be read).
TEST_F(HttpServerTest, ContentLengthBodiesOfEverySizeArriveIntact) {
  Start();
  auto c = Connect();
  for (size_t n : {size_t{1}, size_t{100}, size_t{4095}, size_t{4096}, size_t{70000},
                   size_t{1} << 20, size_t{5} << 20}) {
    std::string body = Compressible(n);
    body[n / 2] = 'X';
    ASSERT_TRUE(c->Send(BuildRequest("POST", "/echo", "", body)));
    auto r = c->Read(10s);
    ASSERT_TRUE(r.has_value()) << n;
    EXPECT_EQ(r->status, 200) << n;
    EXPECT_EQ(r->body.size(), n);
    EXPECT_TRUE(r->body == body) << n;
  }
  // Header, then the body in three pieces with pauses.
  std::string body = Compressible(300000);
  ASSERT_TRUE(c->Send("POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 300000\r\n\r\n" +
                      body.substr(0, 1000)));
  std::this_thread::sleep_for(50ms);
  ASSERT_TRUE(c->Send(body.substr(1000, 200000)));
  std::this_thread::sleep_for(50ms);
  ASSERT_TRUE(c->Send(body.substr(201000)));
  auto r = c->Read(10s);
  ASSERT_TRUE(r.has_value());
  EXPECT_TRUE(r->body == body);
  // A request right behind a body in the same write is answered too.
  ASSERT_TRUE(c->Send(BuildRequest("POST", "/echo", "", "first") + BuildRequest("GET", "/hello")));
  auto a = c->Read(5s);
  auto b = c->Read(5s);
  ASSERT_TRUE(a && b);
  EXPECT_EQ(a->body, "first");
  EXPECT_EQ(b->body, "hello");
}

// A client that stops in the middle of a body: the connection closes after
// request_timeout, the server keeps serving.
TEST_F(HttpServerTest, BodyThatStopsHalfwayIsCutOff) {
  HttpServerOptions o;
  o.request_timeout = 300ms;
  Start(o);
  auto c = Connect();
  ASSERT_TRUE(c->Send("POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 1000000\r\n\r\n" +
                      std::string(500000, 'a')));
  EXPECT_TRUE(c->WaitClosed(5s));
  ExpectStillServing();
}

// handlers_on_io_threads with several I/O threads: handlers run on the I/O
// thread that read the request while another one stays free, so a slow
// handler never holds up the other connections.
class HandlersOnIoThreadsTest : public HttpServerTest {
 protected:
  void SetUp() override {
    HttpServerTest::SetUp();
    io_threads_ = 2;
    router_.Handle("POST", "/block", [this](HttpRequest& req, HttpResponse& resp) {
      std::unique_lock lock(block_mu_);
      ++blocked_;
      block_cv_.notify_all();
      block_cv_.wait_for(lock, 10s, [&] { return released_; });
      resp.Text(200, std::to_string(req.body().size()));
    });
  }
  void Release() {
    std::lock_guard lock(block_mu_);
    released_ = true;
    block_cv_.notify_all();
  }
  bool WaitBlocked(int n) {
    std::unique_lock lock(block_mu_);
    return block_cv_.wait_for(lock, 5s, [&] { return blocked_ >= n; });
  }

  std::mutex block_mu_;
  std::condition_variable block_cv_;
  int blocked_ = 0;
  bool released_ = false;
};

TEST_F(HandlersOnIoThreadsTest, BlockedHandlersDoNotStopOtherConnections) {
  Start();
  // Two blocked handlers: one on an I/O thread (at most io_threads - 1
  // there), the other on a worker; the connections' I/O goes on and the
  // other worker answers the rest.
  std::vector<std::unique_ptr<RawConnection>> blocked;
  for (int i = 0; i < 2; ++i) {
    blocked.push_back(Connect());
    ASSERT_TRUE(blocked.back()->Send(BuildRequest("POST", "/block", "", std::string(200000, 'b'))));
  }
  ASSERT_TRUE(WaitBlocked(2));
  for (int i = 0; i < 20; ++i) ExpectStillServing();
  auto c = Connect();
  std::string body = Compressible(2 << 20);
  ASSERT_TRUE(c->Send(BuildRequest("POST", "/echo", "", body)));
  auto r = c->Read(5s);
  ASSERT_TRUE(r.has_value());
  EXPECT_TRUE(r->body == body);
  Release();
  for (auto& b : blocked) {
    auto br = b->Read(10s);
    ASSERT_TRUE(br.has_value());
    EXPECT_EQ(br->status, 200);
    EXPECT_EQ(br->body, "200000");
  }
}

TEST_F(HandlersOnIoThreadsTest, KeepAlivePipeliningAndConcurrentClients) {
  Start();
  auto c = Connect();
  ASSERT_TRUE(c->Send(BuildRequest("GET", "/hello") + BuildRequest("POST", "/echo", "", "abc") +
                      BuildRequest("POST", "/echo", "", Compressible(100000))));
  auto a = c->Read(5s);
  auto b = c->Read(5s);
  auto d = c->Read(5s);
  ASSERT_TRUE(a && b && d);
  EXPECT_EQ(a->body, "hello");
  EXPECT_EQ(b->body, "abc");
  EXPECT_TRUE(d->body == Compressible(100000));
  std::vector<std::thread> threads;
  std::atomic<int> ok{0};
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&, t] {
      auto conn = RawConnection::Connect(addr_);
      if (!conn) return;
      std::string body = Compressible(1000 + 20000 * t);
      for (int i = 0; i < 20; ++i) {
        if (!conn->Send(BuildRequest("POST", "/echo", "", body))) return;
        auto r = conn->Read(10s);
        if (r && r->body == body) ok.fetch_add(1);
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(ok.load(), 160);
}

TEST_F(HandlersOnIoThreadsTest, StopDrainsAHandlerOnAnIoThread) {
  Start();
  auto c = Connect();
  ASSERT_TRUE(c->Send(BuildRequest("POST", "/block", "", "x")));
  ASSERT_TRUE(WaitBlocked(1));
  auto stopped = std::async(std::launch::async, [&] { server_->Stop(10s); });
  std::this_thread::sleep_for(100ms);
  Release();
  auto r = c->Read(5s);
  ASSERT_TRUE(r.has_value()) << "in-flight request was not answered";
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->Header("connection"), "close");
  stopped.wait();
}

// The HTTP/2 hand-over (on_h2c_connection): a connection that opens with the
// client preface is given to the callback with every byte still unread, even
// when the preface arrives in pieces; anything else stays HTTP/1.1.
class H2cHandOverTest : public HttpServerTest {
 protected:
  void StartWithHook() {
    HttpServerOptions o;
    o.on_h2c_connection = [this](int fd) {
      std::lock_guard lock(mu_);
      handed_.push_back(fd);
      cv_.notify_all();
    };
    Start(o);
  }
  void TearDown() override {
    HttpServerTest::TearDown();
    for (int fd : handed_) ::close(fd);
  }
  // The fd handed over, or -1 after `timeout`.
  int WaitHandedOver(std::chrono::milliseconds timeout) {
    std::unique_lock lock(mu_);
    cv_.wait_for(lock, timeout, [&] { return !handed_.empty(); });
    return handed_.empty() ? -1 : handed_.front();
  }
  // Reads exactly `n` bytes from a (non-blocking) fd within 5 s.
  static std::string ReadN(int fd, size_t n) {
    std::string out;
    auto deadline = std::chrono::steady_clock::now() + 5s;
    while (out.size() < n && std::chrono::steady_clock::now() < deadline) {
      char buf[256];
      ssize_t got = ::recv(fd, buf, std::min(sizeof buf, n - out.size()), MSG_DONTWAIT);
      if (got > 0) {
        out.append(buf, static_cast<size_t>(got));
      } else if (got == 0) {
        break;
      } else {
        std::this_thread::sleep_for(5ms);
      }
    }
    return out;
  }

  static constexpr std::string_view kPreface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<int> handed_;
};

TEST_F(H2cHandOverTest, PrefaceInPiecesIsHandedOverUnread) {
  StartWithHook();
  auto c = Connect();
  ASSERT_NE(c, nullptr);
  const std::string settings("\x00\x00\x00\x04\x00\x00\x00\x00\x00", 9);  // empty SETTINGS
  ASSERT_TRUE(c->Send(kPreface.substr(0, 3)));
  std::this_thread::sleep_for(50ms);
  EXPECT_EQ(WaitHandedOver(0ms), -1) << "handed over on a partial preface";
  ASSERT_TRUE(c->Send(kPreface.substr(3, 10)));
  std::this_thread::sleep_for(50ms);
  ASSERT_TRUE(c->Send(std::string(kPreface.substr(13)) + settings));
  int fd = WaitHandedOver(5s);
  ASSERT_GE(fd, 0) << "preface not handed over";
  EXPECT_EQ(ReadN(fd, kPreface.size() + settings.size()), std::string(kPreface) + settings);
  // The server no longer reads or answers that connection: what we write
  // now arrives on the handed-over fd.
  ASSERT_TRUE(c->Send("after"));
  EXPECT_EQ(ReadN(fd, 5), "after");
  ExpectStillServing();
}

TEST_F(H2cHandOverTest, Http11RequestsStayHttp11WithTheHookSet) {
  StartWithHook();
  // A method that starts like the preface, sent a byte at a time first.
  auto c = Connect();
  ASSERT_NE(c, nullptr);
  std::string req = BuildRequest("POST", "/echo", "", "ping");
  ASSERT_TRUE(c->Send(req.substr(0, 1)));
  std::this_thread::sleep_for(50ms);
  ASSERT_TRUE(c->Send(req.substr(1)));
  auto r = c->Read();
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->body, "ping");
  // "PRI " then something that is not the preface: an ordinary (unknown) request.
  r = Roundtrip(BuildRequest("PRI", "/hello"));
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->status, 405);
  ExpectStillServing();
  EXPECT_EQ(WaitHandedOver(100ms), -1);
}

TEST_F(H2cHandOverTest, WithoutTheHookThePrefaceIsNotHttp11) {
  Start();
  auto r = Roundtrip(std::string(kPreface));
  if (r.has_value()) {
    EXPECT_GE(r->status, 400);
  }
  ExpectStillServing();
}

TEST_F(H2cHandOverTest, SilentConnectionIsClosedAfterTheHeaderTimeout) {
  HttpServerOptions o;
  o.read_header_timeout = 200ms;
  o.on_h2c_connection = [this](int fd) {
    std::lock_guard lock(mu_);
    handed_.push_back(fd);
  };
  Start(o);
  auto c = Connect();
  ASSERT_NE(c, nullptr);
  EXPECT_TRUE(c->WaitClosed(5s));
  EXPECT_EQ(WaitHandedOver(0ms), -1);
}

}  // namespace
}  // namespace sightline::net
