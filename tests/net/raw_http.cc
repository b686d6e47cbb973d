#include "net/raw_http.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <cstdio>
#include <cstdlib>

namespace sightline::net::testing {

using Clock = std::chrono::steady_clock;

std::unique_ptr<RawConnection> RawConnection::Connect(const std::string& host_port) {
  size_t colon = host_port.rfind(':');
  if (colon == std::string::npos) return nullptr;
  std::string host = host_port.substr(0, colon);
  int port = std::atoi(host_port.c_str() + colon + 1);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  if (inet_pton(AF_INET, host.c_str(), &addr.sin_addr) != 1) return nullptr;
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return nullptr;
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    close(fd);
    return nullptr;
  }
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  return std::unique_ptr<RawConnection>(new RawConnection(fd));
}

RawConnection::~RawConnection() { Close(); }

void RawConnection::Close() {
  if (fd_ >= 0) close(fd_);
  fd_ = -1;
}

bool RawConnection::Send(std::string_view data) {
  while (!data.empty()) {
    ssize_t n = send(fd_, data.data(), data.size(), MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    data.remove_prefix(static_cast<size_t>(n));
  }
  return true;
}

bool RawConnection::Fill(size_t n, Clock::time_point deadline) {
  char tmp[65536];
  while (buf_.size() < n) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    if (left.count() <= 0) return false;
    pollfd p{fd_, POLLIN, 0};
    int rc = poll(&p, 1, static_cast<int>(left.count()));
    if (rc < 0 && errno == EINTR) continue;
    if (rc <= 0) return false;
    ssize_t got = recv(fd_, tmp, sizeof(tmp), 0);
    if (got < 0 && errno == EINTR) continue;
    if (got <= 0) return false;
    buf_.append(tmp, static_cast<size_t>(got));
  }
  return true;
}

bool RawConnection::ReadLine(std::string& line, Clock::time_point deadline) {
  for (;;) {
    size_t eol = buf_.find("\r\n");
    if (eol != std::string::npos) {
      line = buf_.substr(0, eol);
      buf_.erase(0, eol + 2);
      return true;
    }
    if (!Fill(buf_.size() + 1, deadline)) return false;
  }
}

std::optional<RawResponse> RawConnection::Read(std::chrono::milliseconds timeout, bool head) {
  auto deadline = Clock::now() + timeout;
  RawResponse r;
  std::string line;
  if (!ReadLine(line, deadline)) return std::nullopt;
  // "HTTP/1.1 200 OK"
  if (line.size() < 12 || line.compare(0, 5, "HTTP/") != 0) return std::nullopt;
  r.status = std::atoi(line.c_str() + 9);
  for (;;) {
    if (!ReadLine(line, deadline)) return std::nullopt;
    if (line.empty()) break;
    size_t colon = line.find(':');
    if (colon == std::string::npos) return std::nullopt;
    std::string name = line.substr(0, colon);
    for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    size_t v = colon + 1;
    while (v < line.size() && line[v] == ' ') ++v;
    std::string value = line.substr(v);
    if (r.headers.count(name)) {
      r.headers[name] += ", " + value;
    } else {
      r.headers[name] = value;
    }
  }
  if (head || r.status / 100 == 1 || r.status == 204 || r.status == 304) return r;
  if (r.Header("transfer-encoding").find("chunked") != std::string::npos) {
    for (;;) {
      if (!ReadLine(line, deadline)) return std::nullopt;
      size_t size = std::strtoul(line.c_str(), nullptr, 16);
      if (size == 0) {
        // Trailers, then the empty line.
        do {
          if (!ReadLine(line, deadline)) return std::nullopt;
        } while (!line.empty());
        return r;
      }
      if (!Fill(size + 2, deadline)) return std::nullopt;
      r.body.append(buf_, 0, size);
      buf_.erase(0, size + 2);
    }
  }
  if (r.headers.count("content-length")) {
    size_t len = std::strtoul(r.Header("content-length").c_str(), nullptr, 10);
    if (!Fill(len, deadline)) return std::nullopt;
    r.body = buf_.substr(0, len);
    buf_.erase(0, len);
    return r;
  }
  // Body until close.
  while (Fill(buf_.size() + 1, deadline)) {
  }
  r.body.swap(buf_);
  buf_.clear();
  return r;
}

bool RawConnection::WaitClosed(std::chrono::milliseconds timeout) {
  auto deadline = Clock::now() + timeout;
  char tmp[65536];
  for (;;) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    if (left.count() <= 0) return false;
    pollfd p{fd_, POLLIN, 0};
    int rc = poll(&p, 1, static_cast<int>(left.count()));
    if (rc < 0 && errno == EINTR) continue;
    if (rc == 0) return false;
    if (rc < 0) return true;
    ssize_t got = recv(fd_, tmp, sizeof(tmp), 0);
    if (got < 0 && errno == EINTR) continue;
    if (got <= 0) return true;
  }
}

std::string BuildRequest(std::string_view method, std::string_view target,
                         std::string_view extra_headers, std::string_view body) {
  std::string r;
  r.append(method).append(" ").append(target).append(" HTTP/1.1\r\nHost: test\r\n");
  r.append(extra_headers);
  if (!body.empty() || method == "POST" || method == "PUT") {
    r.append("Content-Length: ").append(std::to_string(body.size())).append("\r\n");
  }
  r.append("\r\n").append(body);
  return r;
}

std::string Chunked(std::string_view body, size_t chunk_size) {
  std::string out;
  char hex[32];
  while (!body.empty()) {
    size_t n = std::min(chunk_size, body.size());
    std::snprintf(hex, sizeof(hex), "%zx\r\n", n);
    out.append(hex).append(body.substr(0, n)).append("\r\n");
    body.remove_prefix(n);
  }
  out.append("0\r\n\r\n");
  return out;
}

}  // namespace sightline::net::testing
