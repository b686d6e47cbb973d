// Starts the real sightline binary on port 0 and talks to it as users and
// scripts do: flags, config file, /ready, /metrics (checked by promtool),
// /config, signals.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zlib.h>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <thread>

#include "harness/harness.h"

namespace sightline {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using testing::HttpGet;
using testing::HttpPost;
using testing::HttpRequest;
using testing::SightlineServer;

struct RunResult {
  int exit_code = -1;
  std::string output;
};

// Runs the binary to completion (for --help, --version, bad configs).
RunResult RunBinary(const std::vector<std::string>& args) {
  std::vector<std::string> argv = {testing::SightlineBinary()};
  argv.insert(argv.end(), args.begin(), args.end());
  auto p = testing::Process::Start(argv);
  EXPECT_TRUE(p.ok());
  auto st = (*p)->Wait(std::chrono::seconds(30));
  RunResult r;
  if (st && WIFEXITED(*st)) r.exit_code = WEXITSTATUS(*st);
  r.output = (*p)->Output();
  return r;
}

TEST(ServerTest, VersionAndHelp) {
  RunResult v = RunBinary({"--version"});
  EXPECT_EQ(v.exit_code, 0);
  EXPECT_THAT(v.output, ::testing::MatchesRegex("sightline, version [0-9]+\\.[0-9]+\\.[0-9]+.*\n"));
  RunResult h = RunBinary({"--help"});
  EXPECT_EQ(h.exit_code, 0);
  for (const char* flag : {"--http.listen", "--grpc.listen", "--data.dir", "--storage.backend",
                           "--storage.path", "--multitenancy.enabled", "--target", "--config.file"}) {
    EXPECT_THAT(h.output, HasSubstr(flag));
  }
}

TEST(ServerTest, BadConfigIsRejectedWithFileAndLine) {
  testing::TempDir dir;
  testing::WriteFile(dir.Join("bad.yaml"), "server:\n  http:\n    listen: 127.0.0.1:0\n  gprc: {}\n");
  RunResult r = RunBinary({"--config.file=" + dir.Join("bad.yaml")});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_THAT(r.output, HasSubstr(dir.Join("bad.yaml") + ":4: unknown key \"gprc\" in server"));

  RunResult f = RunBinary({"--target=nonsense"});
  EXPECT_EQ(f.exit_code, 2);
  EXPECT_THAT(f.output, HasSubstr("unknown role \"nonsense\""));
}

TEST(ServerTest, ServesReadyHealthyMetricsConfig) {
  auto s = SightlineServer::Start();
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  auto& srv = **s;
  EXPECT_THAT(srv.process().Output(), ::testing::ContainsRegex(
                                          "msg=\"listening\" http=127\\.0\\.0\\.1:[0-9]+ grpc=127\\.0\\.0\\.1:[0-9]+"));
  EXPECT_EQ(HttpGet(srv.http_url() + "/ready").status, 200);
  EXPECT_EQ(HttpGet(srv.http_url() + "/-/healthy").status, 200);
  EXPECT_EQ(HttpGet(srv.http_url() + "/no/such/path").status, 404);

  auto cfg = HttpGet(srv.http_url() + "/config");
  EXPECT_EQ(cfg.status, 200);
  EXPECT_THAT(cfg.body, HasSubstr("data_dir: " + srv.data_dir()));
  EXPECT_THAT(cfg.body, HasSubstr("listen: 127.0.0.1:0"));

  auto m = HttpGet(srv.http_url() + "/metrics");
  ASSERT_EQ(m.status, 200);
  EXPECT_THAT(m.headers["content-type"], HasSubstr("text/plain; version=0.0.4"));
  EXPECT_THAT(m.body, HasSubstr("process_resident_memory_bytes "));
  EXPECT_THAT(m.body, HasSubstr("sightline_build_info{"));
  // The earlier requests were observed per route.
  EXPECT_THAT(m.body, ::testing::ContainsRegex("sightline_http_request_duration_seconds_count\\{[^}]*route=\"ready\""));

  if (std::system("command -v promtool >/dev/null 2>&1") == 0) {
    testing::TempDir dir;
    testing::WriteFile(dir.Join("metrics.txt"), m.body);
    std::string cmd = "promtool check metrics < " + dir.Join("metrics.txt") + " > " +
                      dir.Join("lint.txt") + " 2>&1";
    EXPECT_EQ(std::system(cmd.c_str()), 0) << testing::ReadFile(dir.Join("lint.txt"));
  } else {
    ADD_FAILURE() << "promtool missing: scripts/bootstrap installs the prometheus package";
  }
}

TEST(ServerTest, SigtermStopsCleanly) {
  auto s = SightlineServer::Start();
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  auto& p = (*s)->process();
  p.Signal(SIGTERM);
  auto st = p.Wait(std::chrono::seconds(20));
  ASSERT_TRUE(st.has_value()) << "did not exit after SIGTERM\n" << p.Output();
  EXPECT_TRUE(WIFEXITED(*st));
  EXPECT_EQ(WEXITSTATUS(*st), 0);
  EXPECT_THAT(p.Output(), HasSubstr("msg=\"stopped\""));
}

TEST(ServerTest, FilesystemObjectStoreUnderDataDir) {
  auto s = SightlineServer::Start();
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  EXPECT_THAT((*s)->process().Output(),
              HasSubstr("filesystem:" + (*s)->data_dir() + "/objects"));
}

TEST(ServerTest, S3BackendAgainstS3rver) {
  if (!testing::S3rver::Available()) GTEST_SKIP() << "s3rver not installed (run scripts/bootstrap)";
  auto s3 = testing::S3rver::Start("sightline");
  ASSERT_TRUE(s3.ok()) << s3.status().ToString();
  auto s = SightlineServer::Start({"--storage.backend=s3", "--storage.s3.bucket=sightline",
                                   "--storage.s3.endpoint=" + (*s3)->endpoint(),
                                   "--storage.s3.force_path_style=true",
                                   "--storage.s3.access_key_id=S3RVER",
                                   "--storage.s3.secret_access_key=S3RVER"});
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  auto cfg = HttpGet((*s)->http_url() + "/config");
  EXPECT_THAT(cfg.body, HasSubstr("backend: s3"));
  EXPECT_THAT(cfg.body, Not(HasSubstr("secret_access_key: S3RVER")));
}

// Raw socket helpers: curl refuses to send some of the bad input below.
int Connect(const std::string& http_url) {
  // http://HOST:PORT
  std::string hostport = http_url.substr(http_url.find("//") + 2);
  size_t colon = hostport.rfind(':');
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(std::stoi(hostport.substr(colon + 1)));
  inet_pton(AF_INET, hostport.substr(0, colon).c_str(), &addr.sin_addr);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    ::close(fd);
    return -1;
  }
  timeval tv{10, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  return fd;
}

bool SendAll(int fd, std::string_view data) {
  while (!data.empty()) {
    ssize_t n = ::send(fd, data.data(), data.size(), MSG_NOSIGNAL);
    if (n <= 0) return false;
    data.remove_prefix(n);
  }
  return true;
}

std::string ReadResponseHead(int fd) {
  std::string out;
  char buf[4096];
  while (out.find("\r\n\r\n") == std::string::npos) {
    ssize_t n = ::recv(fd, buf, sizeof(buf), 0);
    if (n <= 0) break;
    out.append(buf, n);
  }
  return out;
}

// A gzip stream that inflates to `inflated` zero bytes, built incrementally.
std::string GzipZeros(size_t inflated) {
  z_stream zs{};
  deflateInit2(&zs, 9, Z_DEFLATED, 15 + 16, 9, Z_DEFAULT_STRATEGY);
  std::string out;
  std::string zeros(1 << 20, '\0');
  char buf[1 << 16];
  size_t left = inflated;
  while (true) {
    size_t chunk = std::min(left, zeros.size());
    zs.next_in = reinterpret_cast<Bytef*>(zeros.data());
    zs.avail_in = static_cast<uInt>(chunk);
    left -= chunk;
    int flush = left == 0 ? Z_FINISH : Z_NO_FLUSH;
    int rc;
    do {
      zs.next_out = reinterpret_cast<Bytef*>(buf);
      zs.avail_out = sizeof(buf);
      rc = deflate(&zs, flush);
      out.append(buf, sizeof(buf) - zs.avail_out);
    } while (zs.avail_out == 0);
    if (flush == Z_FINISH && rc == Z_STREAM_END) break;
  }
  deflateEnd(&zs);
  return out;
}

TEST(ServerTest, HostileInputGetsA4xxAndServerKeepsServing) {
  auto s = SightlineServer::Start();
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  const std::string url = (*s)->http_url();

  // 1 GiB of zeros, gzip-compressed to ~1 MiB.
  std::string bomb = GzipZeros(size_t{1} << 30);
  ASSERT_LT(bomb.size(), 4u << 20);
  auto r = HttpPost(url + "/ready", bomb, {"Content-Encoding: gzip"});
  // The route only takes GET; a POST there is 405 before the body matters.
  EXPECT_EQ(r.status, 405);
  r = HttpRequest("GET", url + "/metrics", bomb, {"Content-Encoding: gzip"});
  EXPECT_EQ(r.status, 413) << r.body;

  // Garbage request line and headers.
  int fd = Connect(url);
  ASSERT_GE(fd, 0);
  SendAll(fd, "\x16\x03\x01 garbage that is not HTTP\r\n\r\n");
  EXPECT_THAT(ReadResponseHead(fd), ::testing::StartsWith("HTTP/1.1 400"));
  ::close(fd);
  fd = Connect(url);
  SendAll(fd, "GET /ready HTTP/1.1\r\nHost: x\r\nBad Header Without Colon\r\n\r\n");
  EXPECT_THAT(ReadResponseHead(fd), ::testing::StartsWith("HTTP/1.1 400"));
  ::close(fd);

  // A chunked body cut off in the middle, then the connection closed.
  fd = Connect(url);
  SendAll(fd, "POST /ready HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n100\r\nabc");
  ::shutdown(fd, SHUT_WR);
  ReadResponseHead(fd);
  ::close(fd);
  // Bad chunk syntax.
  fd = Connect(url);
  SendAll(fd, "GET /ready HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n");
  EXPECT_THAT(ReadResponseHead(fd), ::testing::StartsWith("HTTP/1.1 400"));
  ::close(fd);

  // Still serving.
  EXPECT_EQ(HttpGet(url + "/ready").status, 200);
  EXPECT_TRUE((*s)->process().Running());
}

}  // namespace
}  // namespace sightline
