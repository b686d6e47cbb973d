// Starts tests/io/fake_aws.py (a scriptable fake of S3 and STS) and reads
// back the requests it received. Test-only.
#pragma once

#include <chrono>
#include <fstream>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "harness/harness.h"

namespace sightline::io::testing {

struct FakeRequest {
  std::string method;
  std::string target;                          // path and query as received
  std::map<std::string, std::string> headers;  // lowercase names
};

class FakeAws {
 public:
  // `args` are extra flags for fake_aws.py (--script ..., --sts-ttl ...).
  static Result<std::unique_ptr<FakeAws>> Start(const std::vector<std::string>& args = {}) {
    std::unique_ptr<FakeAws> f(new FakeAws());
    std::string script = sightline::testing::SourceDir() + "/tests/io/fake_aws.py";
    std::vector<std::string> argv = {"/usr/bin/python3",   script,  "--port-file",
                                     f->dir_.Join("port"), "--log", f->dir_.Join("requests.log")};
    argv.insert(argv.end(), args.begin(), args.end());
    SL_ASSIGN_OR_RETURN(f->process_,
                        sightline::testing::Process::Start(argv, {}, f->dir_.Join("server.out")));
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    while (std::chrono::steady_clock::now() < deadline) {
      std::ifstream in(f->dir_.Join("port"));
      int port = 0;
      if (in >> port && port > 0) {
        f->endpoint_ = "http://127.0.0.1:" + std::to_string(port);
        return f;
      }
      if (!f->process_->Running()) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return UnavailableError("fake_aws.py did not start: " + f->process_->Output());
  }

  const std::string& endpoint() const { return endpoint_; }
  const sightline::testing::TempDir& dir() const { return dir_; }

  std::vector<FakeRequest> Requests() const {
    std::vector<FakeRequest> out;
    std::ifstream in(dir_.Join("requests.log"));
    std::string line;
    while (std::getline(in, line)) {
      std::vector<std::string> fields;
      std::stringstream ss(line);
      std::string f;
      while (std::getline(ss, f, '\t')) fields.push_back(f);
      if (fields.size() < 2) continue;
      FakeRequest r{fields[0], fields[1], {}};
      for (size_t i = 2; i < fields.size(); ++i) {
        size_t eq = fields[i].find('=');
        if (eq != std::string::npos) r.headers[fields[i].substr(0, eq)] = fields[i].substr(eq + 1);
      }
      out.push_back(std::move(r));
    }
    return out;
  }

  // Requests that were not STS calls.
  std::vector<FakeRequest> S3Requests() const {
    std::vector<FakeRequest> out;
    for (auto& r : Requests()) {
      if (r.headers.count("authorization")) out.push_back(std::move(r));
    }
    return out;
  }

  std::string ServerOutput() const { return process_->Output(); }

 private:
  FakeAws() = default;
  sightline::testing::TempDir dir_;
  std::unique_ptr<sightline::testing::Process> process_;
  std::string endpoint_;
};

}  // namespace sightline::io::testing
