// Scrape configuration: Prometheus's `global` and `scrape_configs` sections,
// read from the same YAML file as the rest of Sightline's configuration
// (docs/scrape.md lists the keys). Unknown keys are errors that name the
// file and line, with Prometheus 2.42's words ("field x not found in type
// config.ScrapeConfig"); service discoveries other than static_configs and
// file_sd_configs are refused by name.
//
//   global:
//     scrape_interval: 15s        # default 1m, as Prometheus
//     scrape_timeout: 10s         # default 10s, at most the interval
//     external_labels: {cluster: eu-1}
//   scrape_configs:
//     - job_name: node
//       tenant: team-a            # Sightline: the tenant written to (default anonymous)
//       scrape_interval / scrape_timeout / metrics_path / scheme / params
//       honor_labels / honor_timestamps / sample_limit / body_size_limit
//       label_limit / label_name_length_limit / label_value_length_limit
//       target_limit
//       basic_auth: {username, password | password_file}
//       authorization: {type: Bearer, credentials | credentials_file}
//       oauth2: {client_id, client_secret | client_secret_file, scopes, token_url,
//                endpoint_params, tls_config, proxy_url}
//       tls_config: {ca_file, cert_file, key_file, server_name, insecure_skip_verify,
//                    min_version, max_version}
//       proxy_url / proxy_connect_header / follow_redirects / enable_http2
//       static_configs: [{targets: [host:port], labels: {...}}]
//       file_sd_configs: [{files: [targets/*.json], refresh_interval: 5m}]
//       relabel_configs / metric_relabel_configs: [relabel rules]
//
// Thread-safety: plain values.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "base/status.h"
#include "metrics/scrape/relabel.h"
#include "metrics/tsdb/labels.h"

namespace sightline::metrics::scrape {

struct StaticConfig {
  std::vector<std::string> targets;
  std::map<std::string, std::string> labels;
  bool operator==(const StaticConfig&) const = default;
};

struct FileSdConfig {
  std::vector<std::string> files;  // paths; the last path element may hold * ? [..] globs
  std::chrono::milliseconds refresh_interval{std::chrono::minutes(5)};
  bool operator==(const FileSdConfig&) const = default;
};

// Prometheus's HTTP client settings of a scrape config (the subset
// Sightline implements). Relative file names are resolved against the
// configuration file's directory; *_file contents are read at every scrape
// (surrounding whitespace trimmed), so rotated secrets take effect.
struct BasicAuth {
  std::string username;
  std::string password;  // secret
  std::string password_file;
  bool operator==(const BasicAuth&) const = default;
};
struct Authorization {
  std::string type = "Bearer";
  std::string credentials;  // secret
  std::string credentials_file;
  bool operator==(const Authorization&) const = default;
};
struct TlsConfig {
  std::string ca_file;    // PEM CA bundle; empty: the system's
  std::string cert_file;  // client certificate (PEM), with key_file
  std::string key_file;
  std::string server_name;  // SNI and the name the certificate is checked against
  bool insecure_skip_verify = false;
  std::string min_version;  // "", TLS10, TLS11, TLS12, TLS13
  std::string max_version;
  bool operator==(const TlsConfig&) const = default;
};
// OAuth 2.0 client credentials (RFC 6749 4.4), as Prometheus's oauth2: the
// token is fetched from token_url, cached until 10 s before it expires,
// and sent as "Authorization: <token_type> <access_token>".
struct OAuth2 {
  std::string client_id;
  std::string client_secret;  // secret
  std::string client_secret_file;
  std::vector<std::string> scopes;
  std::string token_url;
  std::map<std::string, std::string> endpoint_params;
  TlsConfig tls_config;   // for the token request
  std::string proxy_url;  // for the token request
  bool operator==(const OAuth2&) const = default;
};
struct HttpClientConfig {
  bool has_basic_auth = false;
  BasicAuth basic_auth;
  bool has_authorization = false;  // also from the older bearer_token(_file)
  Authorization authorization;
  bool has_oauth2 = false;
  OAuth2 oauth2;
  TlsConfig tls_config;
  // HTTP proxy: http targets are requested through it, https ones tunnelled
  // with CONNECT (proxy_connect_header sent there). Empty: direct, whatever
  // the environment says (Prometheus 2.42 ignores HTTP_PROXY).
  std::string proxy_url;
  std::map<std::string, std::vector<std::string>> proxy_connect_header;  // secret values
  bool follow_redirects = true;
  bool enable_http2 = true;
  bool operator==(const HttpClientConfig&) const = default;
};

struct ScrapeConfig {
  std::string job_name;
  std::string tenant = "anonymous";
  std::chrono::milliseconds scrape_interval{0};  // 0 before Finalize: the global one
  std::chrono::milliseconds scrape_timeout{0};
  std::string metrics_path = "/metrics";
  std::string scheme = "http";
  std::map<std::string, std::vector<std::string>> params;
  bool honor_labels = false;
  bool honor_timestamps = true;
  uint64_t sample_limit = 0;     // 0: none
  uint64_t body_size_limit = 0;  // bytes, 0: none
  uint64_t label_limit = 0;               // 0: none (see LoopOptions)
  uint64_t label_name_length_limit = 0;   // 0: none
  uint64_t label_value_length_limit = 0;  // 0: none
  // More targets than this after relabeling: every scrape of the job fails
  // with "target_limit exceeded (number of targets: N, limit: L)". 0: none.
  uint64_t target_limit = 0;
  HttpClientConfig http_client;
  std::vector<StaticConfig> static_configs;
  std::vector<FileSdConfig> file_sd_configs;
  std::vector<relabel::Config> relabel_configs;
  std::vector<relabel::Config> metric_relabel_configs;
  bool operator==(const ScrapeConfig&) const = default;
};

struct GlobalConfig {
  std::chrono::milliseconds scrape_interval{std::chrono::minutes(1)};
  std::chrono::milliseconds scrape_timeout{std::chrono::seconds(10)};
  std::map<std::string, std::string> external_labels;
};

struct ScrapeFileConfig {
  GlobalConfig global;
  std::vector<ScrapeConfig> scrape_configs;
};

// Reads `global` and `scrape_configs` from YAML text (other top-level keys
// are ignored: they belong to other modules); applies the global defaults
// and Prometheus's checks (unique job names, timeout <= interval, valid
// relabel rules and label names). `file_name` labels messages. Relative
// file_sd paths are resolved against the directory of `file_name`.
Result<ScrapeFileConfig> ParseScrapeConfig(const std::string& yaml_text,
                                           const std::string& file_name);

// The same job syntax for other scrapers (the profiles scraper reads
// profiles.scrape_configs): the list found by following `path` from the
// root (absent: no jobs), jobs defaulting to `defaults`' interval and
// timeout, `extra_keys` accepted in a job and left to the caller. Same
// checks and file:line messages as ParseScrapeConfig.
Result<std::vector<ScrapeConfig>> ParseScrapeJobs(const std::string& yaml_text,
                                                  const std::string& file_name,
                                                  const std::vector<std::string>& path,
                                                  const GlobalConfig& defaults,
                                                  const std::vector<std::string>& extra_keys);

// `yaml_text`'s scrape_configs as YAML with every secret (basic_auth.password,
// authorization.credentials, bearer_token) replaced by "<secret>", for
// /config. Empty when the text has no scrape_configs (or is not YAML).
std::string RedactedScrapeConfigsYaml(const std::string& yaml_text);

// file_sd, for every scraper: the files the job's file_sd_configs patterns
// match now, with their modification times (ns; a change means re-read).
std::map<std::string, int64_t> MatchFileSdFiles(const ScrapeConfig& job);
// The job's static_configs followed by the target groups of `files`. A file
// that cannot be read is skipped; one that does not parse is skipped and its
// error appended to `errors` (if not null).
std::vector<StaticConfig> CollectTargetGroups(const ScrapeConfig& job,
                                              const std::map<std::string, int64_t>& files,
                                              std::vector<Status>* errors);

// A target group from file_sd (JSON or YAML: a list of {targets, labels}).
Result<std::vector<StaticConfig>> ParseFileSd(const std::string& text, const std::string& path);

}  // namespace sightline::metrics::scrape
