// Sightline's configuration: one YAML file (--config.file) plus flags that
// override it. Loading never throws; every problem comes back as an
// InvalidArgument Status whose message names the file and line and says what
// is wrong ("sightline.yaml:12: unknown key \"http_listn\" in server").
//
// The stable flags (scripts and tests rely on their names):
//   --http.listen --grpc.listen --data.dir --storage.backend --storage.path
//   --multitenancy.enabled --target --config.file --log.level
//
// Config is a plain value: build it once at start, then share it read-only.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "base/status.h"
#include "io/storage_config.h"

namespace sightline::config {

struct HttpConfig {
  std::string listen = "0.0.0.0:9090";
  uint64_t max_body_bytes = 64ull << 20;
  uint64_t max_decompressed_bytes = 256ull << 20;
  uint64_t max_header_bytes = 64ull << 10;
  std::chrono::milliseconds read_header_timeout{10'000};
  std::chrono::milliseconds request_timeout{120'000};
  std::chrono::milliseconds idle_timeout{120'000};
  std::chrono::milliseconds shutdown_drain{10'000};
  int io_threads = 2;
  int worker_threads = 8;
};

struct GrpcConfig {
  std::string listen = "0.0.0.0:4317";
  uint64_t max_recv_bytes = 16ull << 20;
};

struct Config {
  std::vector<std::string> target = {"all"};
  std::string data_dir = "./data";
  std::string log_level = "info";
  HttpConfig http;
  GrpcConfig grpc;
  io::StorageConfig storage;
  bool multitenancy_enabled = false;

  // Where values came from, for messages and /config.
  std::string config_file;
};

// Outcome of command-line parsing: either run with a config, or print
// something (help, version) and exit 0.
struct CommandLine {
  enum class Action { kRun, kHelp, kVersion };
  Action action = Action::kRun;
  Config config;
};

// Parses argv (flags override the file given by --config.file). Applies
// defaults that depend on other values (storage path under data dir) and
// validates the result.
Result<CommandLine> ParseCommandLine(const std::vector<std::string>& args);

// Loads YAML text into `cfg` (used by ParseCommandLine; exposed for tests).
// `file_name` only labels messages.
Status LoadYaml(const std::string& text, const std::string& file_name, Config* cfg);

// Checks cross-field rules and fills derived defaults.
Status Finalize(Config* cfg);

// The effective configuration as YAML, secrets replaced by "<secret>".
std::string ToYaml(const Config& cfg);

// --help text.
std::string Usage();

// Parses "10s", "1m30s", "250ms", "2h".
Result<std::chrono::milliseconds> ParseDuration(std::string_view s);
// Parses "1024", "64KiB", "16MiB", "1GiB", "10MB".
Result<uint64_t> ParseBytes(std::string_view s);
// Checks "host:port" (port 0-65535; host may be empty, an IP, [v6] or a name).
Status ValidateListenAddress(std::string_view addr);

}  // namespace sightline::config
