// A deliberately dumb HTTP/1.1 client over a POSIX socket, for server tests
// that need to send what curl would refuse to (garbage, truncated chunks,
// oversized headers) or to watch one connection's lifetime (keep-alive,
// idle timeout). Blocking, one thread, tests only.
#pragma once

#include <chrono>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

namespace sightline::net::testing {

struct RawResponse {
  int status = 0;
  std::map<std::string, std::string> headers;  // lower-cased names
  std::string body;
  std::string Header(const std::string& lower_name) const {
    auto it = headers.find(lower_name);
    return it == headers.end() ? "" : it->second;
  }
};

class RawConnection {
 public:
  // Connects to "host:port" (IPv4); nullptr on failure.
  static std::unique_ptr<RawConnection> Connect(const std::string& host_port);
  ~RawConnection();

  // Sends everything; false on error (e.g. the server closed).
  bool Send(std::string_view data);
  // Reads one response; nullopt on EOF, error or timeout. `head`: the
  // request was HEAD, so there is no body whatever the headers say.
  std::optional<RawResponse> Read(std::chrono::milliseconds timeout = std::chrono::seconds(10),
                                  bool head = false);
  // True when the server closes (EOF or reset) within `timeout`; data that
  // arrives meanwhile is discarded.
  bool WaitClosed(std::chrono::milliseconds timeout);
  void Close();

 private:
  explicit RawConnection(int fd) : fd_(fd) {}
  // Fills buf_ until it holds `n` bytes (false on EOF/error/timeout).
  bool Fill(size_t n, std::chrono::steady_clock::time_point deadline);
  bool ReadLine(std::string& line, std::chrono::steady_clock::time_point deadline);

  int fd_;
  std::string buf_;
};

// "GET /path HTTP/1.1\r\nHost: x\r\n<extra>\r\n" + body with Content-Length
// when `body` is non-empty or the method is POST/PUT.
std::string BuildRequest(std::string_view method, std::string_view target,
                         std::string_view extra_headers = "", std::string_view body = "");

// Encodes `body` as chunks of `chunk_size` bytes plus the last chunk.
std::string Chunked(std::string_view body, size_t chunk_size);

}  // namespace sightline::net::testing
