#include "metrics/scrape/scrape_config.h"

#include <fmt/format.h>
#include <glob.h>
#include <sys/stat.h>
#include <yaml-cpp/yaml.h>

#include <cctype>
#include <fstream>
#include <set>
#include <sstream>

#include "config/config.h"
#include "config/yaml_util.h"

namespace sightline::metrics::scrape {

namespace {

using config::yaml::Bool;
using config::yaml::Err;
using config::yaml::Scalar;
using config::yaml::Where;

Result<std::chrono::milliseconds> Duration(const std::string& file, const YAML::Node& n,
                                           const std::string& key) {
  SL_ASSIGN_OR_RETURN(std::string s, Scalar(file, n, key));
  auto d = config::ParseDuration(s);
  if (!d.ok()) return Err(file, n, key + ": " + d.status().message());
  return *d;
}

Result<uint64_t> Uint(const std::string& file, const YAML::Node& n, const std::string& key,
                      bool bytes) {
  SL_ASSIGN_OR_RETURN(std::string s, Scalar(file, n, key));
  if (bytes) {
    auto b = config::ParseBytes(s);
    if (!b.ok()) return Err(file, n, key + ": " + b.status().message());
    return *b;
  }
  uint64_t v = 0;
  if (s.empty()) return Err(file, n, key + ": not a number");
  for (char c : s) {
    if (c < '0' || c > '9') return Err(file, n, fmt::format("{}: \"{}\" is not a number", key, s));
    v = v * 10 + static_cast<uint64_t>(c - '0');
  }
  return v;
}

Result<std::vector<std::string>> StringList(const std::string& file, const YAML::Node& n,
                                            const std::string& key) {
  std::vector<std::string> out;
  if (n.IsNull()) return out;
  if (!n.IsSequence()) return Err(file, n, key + " must be a list");
  for (const auto& item : n) {
    if (!item.IsScalar()) return Err(file, item, key + " must be a list of strings");
    out.push_back(item.Scalar());
  }
  return out;
}

Result<std::map<std::string, std::string>> StringMap(const std::string& file, const YAML::Node& n,
                                                     const std::string& key) {
  std::map<std::string, std::string> out;
  if (n.IsNull()) return out;
  if (!n.IsMap()) return Err(file, n, key + " must be a mapping");
  for (auto it = n.begin(); it != n.end(); ++it) {
    std::string name = it->first.as<std::string>("");
    if (!relabel::IsValidLabelName(name)) {
      return Err(file, it->first, fmt::format("\"{}\" is not a valid label name", name));
    }
    YAML::Node v = it->second;
    SL_ASSIGN_OR_RETURN(std::string value, Scalar(file, v, key + "." + name));
    out[name] = value;
  }
  return out;
}

// The Go type Prometheus 2.42 names in "field x not found in type T" for
// each section, so that messages read like promtool's.
constexpr std::string_view kTypeScrapeConfig = "config.ScrapeConfig";
constexpr std::string_view kTypePlain = "config.plain";  // global, basic_auth, tls_config
constexpr std::string_view kTypeAuthorization = "config.Authorization";
constexpr std::string_view kTypeOAuth2 = "config.OAuth2";
constexpr std::string_view kTypeStaticConfig =
    "struct { Targets []string \"yaml:\\\"targets\\\"\"; Labels model.LabelSet "
    "\"yaml:\\\"labels\\\"\" }";
constexpr std::string_view kTypeFileSd = "file.plain";
constexpr std::string_view kTypeRelabel = "relabel.plain";

// Whether messages use Prometheus's words (scrape_configs) or Sightline's
// own (other sections reusing the job syntax, e.g. profiles.scrape_configs).
thread_local bool prometheus_messages = true;

Status CheckKeys(const std::string& file, const YAML::Node& n, const std::string& where,
                 std::initializer_list<std::string_view> known,
                 const std::vector<std::string>* extra = nullptr, std::string_view go_type = {}) {
  if (!n.IsMap()) return Err(file, n, where + " must be a mapping");
  for (auto it = n.begin(); it != n.end(); ++it) {
    std::string key = it->first.as<std::string>("");
    bool ok = false;
    for (std::string_view k : known) ok = ok || k == key;
    if (extra != nullptr) {
      for (const std::string& k : *extra) ok = ok || k == key;
    }
    if (ok) continue;
    if (prometheus_messages && !go_type.empty()) {
      return Err(file, it->first, fmt::format("field {} not found in type {}", key, go_type));
    }
    return Err(file, it->first, fmt::format("unknown key \"{}\" in {}", key, where));
  }
  return Status::Ok();
}

// Service discoveries Prometheus 2.42 has and Sightline does not: refused by
// name rather than as unknown fields.
constexpr std::string_view kUnsupportedSd[] = {
    "azure_sd_configs",      "consul_sd_configs",      "digitalocean_sd_configs",
    "docker_sd_configs",     "dockerswarm_sd_configs", "dns_sd_configs",
    "ec2_sd_configs",        "eureka_sd_configs",      "gce_sd_configs",
    "hetzner_sd_configs",    "http_sd_configs",        "ionos_sd_configs",
    "kubernetes_sd_configs", "kuma_sd_configs",        "lightsail_sd_configs",
    "linode_sd_configs",     "marathon_sd_configs",    "nerve_sd_configs",
    "nomad_sd_configs",      "openstack_sd_configs",   "ovhcloud_sd_configs",
    "puppetdb_sd_configs",   "scaleway_sd_configs",    "serverset_sd_configs",
    "triton_sd_configs",     "uyuni_sd_configs",       "vultr_sd_configs"};

// Go's url.Parse refusals that matter for proxy_url: an empty scheme.
Status CheckUrl(const std::string& file, const YAML::Node& n, const std::string& url) {
  if (!url.empty() && url[0] == ':') {
    return Err(file, n, fmt::format("parse \"{}\": missing protocol scheme", url));
  }
  return Status::Ok();
}

Result<std::vector<relabel::Config>> RelabelConfigs(const std::string& file, const YAML::Node& n,
                                                    const std::string& key) {
  std::vector<relabel::Config> out;
  if (n.IsNull()) return out;
  if (!n.IsSequence()) return Err(file, n, key + " must be a list");
  for (const auto& item : n) {
    SL_RETURN_IF_ERROR(CheckKeys(
        file, item, key,
        {"source_labels", "separator", "regex", "modulus", "target_label", "replacement", "action"},
        nullptr, kTypeRelabel));
    relabel::Config c;
    if (item["source_labels"]) {
      SL_ASSIGN_OR_RETURN(c.source_labels,
                          StringList(file, item["source_labels"], "source_labels"));
    }
    if (item["separator"]) {
      SL_ASSIGN_OR_RETURN(c.separator, Scalar(file, item["separator"], "separator"));
    }
    if (item["regex"]) {
      SL_ASSIGN_OR_RETURN(c.regex, Scalar(file, item["regex"], "regex"));
    }
    if (item["modulus"]) {
      SL_ASSIGN_OR_RETURN(c.modulus, Uint(file, item["modulus"], "modulus", false));
    }
    if (item["target_label"]) {
      SL_ASSIGN_OR_RETURN(c.target_label, Scalar(file, item["target_label"], "target_label"));
    }
    if (item["replacement"]) {
      SL_ASSIGN_OR_RETURN(c.replacement, Scalar(file, item["replacement"], "replacement"));
    }
    if (item["action"]) {
      SL_ASSIGN_OR_RETURN(std::string a, Scalar(file, item["action"], "action"));
      auto action = relabel::ParseAction(a);
      if (!action.ok()) return Err(file, item["action"], action.status().message());
      c.action = *action;
    }
    auto rule = relabel::Rule::Compile(c);
    if (!rule.ok()) return Err(file, item, rule.status().message());
    out.push_back(std::move(c));
  }
  return out;
}

std::string Dir(const std::string& file) {
  size_t slash = file.rfind('/');
  return slash == std::string::npos ? "." : file.substr(0, slash);
}

std::string Resolve(const std::string& config_file, const std::string& path) {
  if (path.empty() || path[0] == '/') return path;
  return Dir(config_file) + "/" + path;
}

Status ParseTls(const std::string& file, const YAML::Node& t, TlsConfig* tls) {
  SL_RETURN_IF_ERROR(CheckKeys(file, t, "tls_config",
                               {"ca_file", "cert_file", "key_file", "server_name",
                                "insecure_skip_verify", "min_version", "max_version"},
                               nullptr, kTypePlain));
  auto path = [&](const char* key, std::string* out) -> Status {
    if (!t[key]) return Status::Ok();
    SL_ASSIGN_OR_RETURN(std::string v, Scalar(file, t[key], key));
    *out = Resolve(file, v);
    return Status::Ok();
  };
  SL_RETURN_IF_ERROR(path("ca_file", &tls->ca_file));
  SL_RETURN_IF_ERROR(path("cert_file", &tls->cert_file));
  SL_RETURN_IF_ERROR(path("key_file", &tls->key_file));
  if (t["server_name"]) {
    SL_ASSIGN_OR_RETURN(tls->server_name, Scalar(file, t["server_name"], "server_name"));
  }
  if (t["insecure_skip_verify"]) {
    SL_ASSIGN_OR_RETURN(tls->insecure_skip_verify,
                        Bool(file, t["insecure_skip_verify"], "insecure_skip_verify"));
  }
  for (auto [key, field] : {std::pair<const char*, std::string*>{"min_version", &tls->min_version},
                            {"max_version", &tls->max_version}}) {
    if (!t[key]) continue;
    SL_ASSIGN_OR_RETURN(*field, Scalar(file, t[key], key));
    if (*field != "TLS10" && *field != "TLS11" && *field != "TLS12" && *field != "TLS13") {
      return Err(file, t[key], fmt::format("unknown TLS version: {}", *field));
    }
  }
  if (!tls->cert_file.empty() && tls->key_file.empty()) {
    return Err(file, t,
               fmt::format("client cert file \"{}\" specified without client key file \"\"",
                           tls->cert_file));
  }
  if (tls->cert_file.empty() && !tls->key_file.empty()) {
    return Err(file, t,
               fmt::format("client key file \"{}\" specified without client cert file \"\"",
                           tls->key_file));
  }
  return Status::Ok();
}

// basic_auth, authorization, bearer_token(_file), oauth2, tls_config and the
// proxy and redirect settings, with the checks of Prometheus 2.42's
// HTTPClientConfig.Validate and TLSConfig.
Status ParseHttpClient(const std::string& file, const YAML::Node& n, HttpClientConfig* c) {
  if (YAML::Node b = n["basic_auth"]; b && !b.IsNull()) {
    SL_RETURN_IF_ERROR(CheckKeys(file, b, "basic_auth", {"username", "password", "password_file"},
                                 nullptr, kTypePlain));
    c->has_basic_auth = true;
    if (b["username"]) {
      SL_ASSIGN_OR_RETURN(c->basic_auth.username, Scalar(file, b["username"], "username"));
    }
    if (b["password"]) {
      SL_ASSIGN_OR_RETURN(c->basic_auth.password, Scalar(file, b["password"], "password"));
    }
    if (b["password_file"]) {
      SL_ASSIGN_OR_RETURN(std::string f, Scalar(file, b["password_file"], "password_file"));
      c->basic_auth.password_file = Resolve(file, f);
    }
    if (!c->basic_auth.password.empty() && !c->basic_auth.password_file.empty()) {
      return Err(file, b, "at most one of basic_auth password & password_file must be configured");
    }
  }
  std::string bearer_token, bearer_token_file;
  if (n["bearer_token"]) {
    SL_ASSIGN_OR_RETURN(bearer_token, Scalar(file, n["bearer_token"], "bearer_token"));
  }
  if (n["bearer_token_file"]) {
    SL_ASSIGN_OR_RETURN(bearer_token_file,
                        Scalar(file, n["bearer_token_file"], "bearer_token_file"));
  }
  if (!bearer_token.empty() && !bearer_token_file.empty()) {
    return Err(file, n, "at most one of bearer_token & bearer_token_file must be configured");
  }
  const bool bearer = !bearer_token.empty() || !bearer_token_file.empty();
  if (c->has_basic_auth && bearer) {
    return Err(file, n,
               "at most one of basic_auth, oauth2, bearer_token & bearer_token_file must be "
               "configured");
  }
  if (YAML::Node a = n["authorization"]; a && !a.IsNull()) {
    SL_RETURN_IF_ERROR(CheckKeys(file, a, "authorization",
                                 {"type", "credentials", "credentials_file"}, nullptr,
                                 kTypeAuthorization));
    if (bearer) {
      return Err(file, a, "authorization is not compatible with bearer_token & bearer_token_file");
    }
    c->has_authorization = true;
    if (a["type"]) {
      SL_ASSIGN_OR_RETURN(c->authorization.type, Scalar(file, a["type"], "type"));
      if (c->authorization.type.empty()) c->authorization.type = "Bearer";
    }
    if (a["credentials"]) {
      SL_ASSIGN_OR_RETURN(c->authorization.credentials,
                          Scalar(file, a["credentials"], "credentials"));
    }
    if (a["credentials_file"]) {
      SL_ASSIGN_OR_RETURN(std::string f, Scalar(file, a["credentials_file"], "credentials_file"));
      c->authorization.credentials_file = Resolve(file, f);
    }
    if (!c->authorization.credentials.empty() && !c->authorization.credentials_file.empty()) {
      return Err(file, a,
                 "at most one of authorization credentials & credentials_file must be configured");
    }
    std::string lower = c->authorization.type;
    for (char& ch : lower) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
    if (lower == "basic") {
      return Err(file, a,
                 "authorization type cannot be set to \"basic\", use \"basic_auth\" instead");
    }
    if (c->has_basic_auth) {
      return Err(file, a, "at most one of basic_auth, oauth2 & authorization must be configured");
    }
  } else if (bearer) {
    c->has_authorization = true;
    c->authorization.credentials = bearer_token;
    c->authorization.credentials_file = Resolve(file, bearer_token_file);
  }
  if (YAML::Node t = n["tls_config"]; t && !t.IsNull()) {
    SL_RETURN_IF_ERROR(ParseTls(file, t, &c->tls_config));
  }
  if (YAML::Node o = n["oauth2"]; o && !o.IsNull()) {
    SL_RETURN_IF_ERROR(CheckKeys(file, o, "oauth2",
                                 {"client_id", "client_secret", "client_secret_file", "scopes",
                                  "token_url", "endpoint_params", "tls_config", "proxy_url"},
                                 nullptr, kTypeOAuth2));
    OAuth2& o2 = c->oauth2;
    c->has_oauth2 = true;
    for (auto [key, field] : {std::pair<const char*, std::string*>{"client_id", &o2.client_id},
                              {"client_secret", &o2.client_secret},
                              {"token_url", &o2.token_url},
                              {"proxy_url", &o2.proxy_url}}) {
      if (o[key]) {
        SL_ASSIGN_OR_RETURN(*field, Scalar(file, o[key], key));
      }
    }
    if (o["client_secret_file"]) {
      SL_ASSIGN_OR_RETURN(std::string f,
                          Scalar(file, o["client_secret_file"], "client_secret_file"));
      o2.client_secret_file = Resolve(file, f);
    }
    if (o["scopes"]) {
      SL_ASSIGN_OR_RETURN(o2.scopes, StringList(file, o["scopes"], "scopes"));
    }
    if (YAML::Node ep = o["endpoint_params"]; ep && !ep.IsNull()) {
      if (!ep.IsMap()) return Err(file, ep, "endpoint_params must be a mapping");
      for (auto it = ep.begin(); it != ep.end(); ++it) {
        YAML::Node v = it->second;
        SL_ASSIGN_OR_RETURN(o2.endpoint_params[it->first.as<std::string>("")],
                            Scalar(file, v, "endpoint_params"));
      }
    }
    if (YAML::Node t = o["tls_config"]; t && !t.IsNull()) {
      SL_RETURN_IF_ERROR(ParseTls(file, t, &o2.tls_config));
    }
    SL_RETURN_IF_ERROR(CheckUrl(file, o, o2.proxy_url));
    // Prometheus's HTTPClientConfig.Validate, in its order.
    if (bearer) {
      return Err(file, n,
                 "at most one of basic_auth, oauth2, bearer_token & bearer_token_file must be "
                 "configured");
    }
    if (c->has_basic_auth || c->has_authorization) {
      return Err(file, o, "at most one of basic_auth, oauth2 & authorization must be configured");
    }
    if (o2.client_id.empty()) return Err(file, o, "oauth2 client_id must be configured");
    if (o2.client_secret.empty() && o2.client_secret_file.empty()) {
      return Err(file, o, "either oauth2 client_secret or client_secret_file must be configured");
    }
    if (o2.token_url.empty()) return Err(file, o, "oauth2 token_url must be configured");
    if (!o2.client_secret.empty() && !o2.client_secret_file.empty()) {
      return Err(file, o,
                 "at most one of oauth2 client_secret & client_secret_file must be configured");
    }
  }
  if (n["proxy_url"]) {
    SL_ASSIGN_OR_RETURN(c->proxy_url, Scalar(file, n["proxy_url"], "proxy_url"));
    SL_RETURN_IF_ERROR(CheckUrl(file, n["proxy_url"], c->proxy_url));
  }
  if (YAML::Node h = n["proxy_connect_header"]; h && !h.IsNull()) {
    if (!h.IsMap()) return Err(file, h, "proxy_connect_header must be a mapping");
    for (auto it = h.begin(); it != h.end(); ++it) {
      YAML::Node v = it->second;
      if (!v.IsNull() && !v.IsSequence()) {
        return Err(file, v,
                   fmt::format("cannot unmarshal !!str `{}` into []config.Secret",
                               v.IsScalar() ? v.Scalar() : std::string("...")));
      }
      SL_ASSIGN_OR_RETURN(c->proxy_connect_header[it->first.as<std::string>("")],
                          StringList(file, v, "proxy_connect_header"));
    }
    if (!c->proxy_connect_header.empty() && c->proxy_url.empty()) {
      return Err(file, h,
                 "if proxy_connect_header is configured proxy_url must also be configured");
    }
  }
  if (n["follow_redirects"]) {
    SL_ASSIGN_OR_RETURN(c->follow_redirects, Bool(file, n["follow_redirects"], "follow_redirects"));
  }
  if (n["enable_http2"]) {
    SL_ASSIGN_OR_RETURN(c->enable_http2, Bool(file, n["enable_http2"], "enable_http2"));
  }
  return Status::Ok();
}

Result<ScrapeConfig> ParseJob(const std::string& file, const YAML::Node& n,
                              const GlobalConfig& global,
                              const std::vector<std::string>* extra_keys = nullptr) {
  if (n.IsMap()) {
    for (auto it = n.begin(); it != n.end(); ++it) {
      std::string key = it->first.as<std::string>("");
      for (std::string_view sd : kUnsupportedSd) {
        if (key == sd) {
          return Err(file, it->first,
                     fmt::format("{} is not supported by Sightline (static_configs and "
                                 "file_sd_configs are)",
                                 key));
        }
      }
    }
  }
  SL_RETURN_IF_ERROR(CheckKeys(file, n, "scrape_configs",
                               {"job_name",
                                "tenant",
                                "scrape_interval",
                                "scrape_timeout",
                                "metrics_path",
                                "scheme",
                                "params",
                                "honor_labels",
                                "honor_timestamps",
                                "sample_limit",
                                "body_size_limit",
                                "label_limit",
                                "label_name_length_limit",
                                "label_value_length_limit",
                                "target_limit",
                                "basic_auth",
                                "authorization",
                                "bearer_token",
                                "bearer_token_file",
                                "oauth2",
                                "tls_config",
                                "proxy_url",
                                "proxy_connect_header",
                                "follow_redirects",
                                "enable_http2",
                                "static_configs",
                                "file_sd_configs",
                                "relabel_configs",
                                "metric_relabel_configs"},
                               extra_keys, kTypeScrapeConfig));
  ScrapeConfig c;
  if (!n["job_name"]) return Err(file, n, "job_name is empty");
  SL_ASSIGN_OR_RETURN(c.job_name, Scalar(file, n["job_name"], "job_name"));
  if (c.job_name.empty()) return Err(file, n, "job_name is empty");
  if (n["tenant"]) {
    SL_ASSIGN_OR_RETURN(c.tenant, Scalar(file, n["tenant"], "tenant"));
  }
  c.scrape_interval = global.scrape_interval;
  if (n["scrape_interval"]) {
    SL_ASSIGN_OR_RETURN(c.scrape_interval, Duration(file, n["scrape_interval"], "scrape_interval"));
  }
  if (n["scrape_timeout"]) {
    SL_ASSIGN_OR_RETURN(c.scrape_timeout, Duration(file, n["scrape_timeout"], "scrape_timeout"));
  } else {
    // Prometheus: the global timeout, capped at the job's interval.
    c.scrape_timeout = std::min(global.scrape_timeout, c.scrape_interval);
  }
  if (c.scrape_interval.count() <= 0) return Err(file, n, "scrape_interval must be positive");
  if (c.scrape_timeout > c.scrape_interval) {
    return Err(file, n,
               fmt::format("scrape timeout greater than scrape interval for scrape config with "
                           "job name \"{}\"",
                           c.job_name));
  }
  if (n["metrics_path"]) {
    SL_ASSIGN_OR_RETURN(c.metrics_path, Scalar(file, n["metrics_path"], "metrics_path"));
  }
  if (n["scheme"]) {
    SL_ASSIGN_OR_RETURN(c.scheme, Scalar(file, n["scheme"], "scheme"));
  }
  if (c.scheme != "http" && c.scheme != "https") {
    return Err(file, n["scheme"], fmt::format("unknown scheme \"{}\" (http or https)", c.scheme));
  }
  if (YAML::Node p = n["params"]; p) {
    if (!p.IsMap()) return Err(file, p, "params must be a mapping of names to lists");
    for (auto it = p.begin(); it != p.end(); ++it) {
      YAML::Node v = it->second;
      SL_ASSIGN_OR_RETURN(c.params[it->first.as<std::string>("")], StringList(file, v, "params"));
    }
  }
  if (n["honor_labels"]) {
    SL_ASSIGN_OR_RETURN(c.honor_labels, Bool(file, n["honor_labels"], "honor_labels"));
  }
  if (n["honor_timestamps"]) {
    SL_ASSIGN_OR_RETURN(c.honor_timestamps, Bool(file, n["honor_timestamps"], "honor_timestamps"));
  }
  if (n["sample_limit"]) {
    SL_ASSIGN_OR_RETURN(c.sample_limit, Uint(file, n["sample_limit"], "sample_limit", false));
  }
  if (n["body_size_limit"]) {
    SL_ASSIGN_OR_RETURN(c.body_size_limit,
                        Uint(file, n["body_size_limit"], "body_size_limit", true));
  }
  for (auto [key, field] : {std::pair<const char*, uint64_t*>{"label_limit", &c.label_limit},
                            {"label_name_length_limit", &c.label_name_length_limit},
                            {"label_value_length_limit", &c.label_value_length_limit},
                            {"target_limit", &c.target_limit}}) {
    if (n[key]) {
      SL_ASSIGN_OR_RETURN(*field, Uint(file, n[key], key, false));
    }
  }
  SL_RETURN_IF_ERROR(ParseHttpClient(file, n, &c.http_client));
  if (YAML::Node sc = n["static_configs"]; sc) {
    if (!sc.IsSequence()) return Err(file, sc, "static_configs must be a list");
    for (const auto& g : sc) {
      SL_RETURN_IF_ERROR(
          CheckKeys(file, g, "static_configs", {"targets", "labels"}, nullptr, kTypeStaticConfig));
      StaticConfig s;
      if (g["targets"]) {
        SL_ASSIGN_OR_RETURN(s.targets, StringList(file, g["targets"], "targets"));
      }
      if (g["labels"]) {
        SL_ASSIGN_OR_RETURN(s.labels, StringMap(file, g["labels"], "labels"));
      }
      c.static_configs.push_back(std::move(s));
    }
  }
  if (YAML::Node fs = n["file_sd_configs"]; fs) {
    if (!fs.IsSequence()) return Err(file, fs, "file_sd_configs must be a list");
    for (const auto& g : fs) {
      SL_RETURN_IF_ERROR(CheckKeys(file, g, "file_sd_configs", {"files", "refresh_interval"},
                                   nullptr, kTypeFileSd));
      FileSdConfig f;
      if (g["files"]) {
        SL_ASSIGN_OR_RETURN(f.files, StringList(file, g["files"], "files"));
      }
      if (f.files.empty())
        return Err(file, g, "file service discovery config must contain at least one path name");
      for (std::string& path : f.files) {
        bool json = path.size() >= 5 && path.substr(path.size() - 5) == ".json";
        bool yml = (path.size() >= 4 && path.substr(path.size() - 4) == ".yml") ||
                   (path.size() >= 5 && path.substr(path.size() - 5) == ".yaml");
        if (!json && !yml) {
          return Err(file, g,
                     fmt::format("path name \"{}\" is not valid for file discovery", path));
        }
        if (!path.empty() && path[0] != '/') path = Dir(file) + "/" + path;
      }
      if (g["refresh_interval"]) {
        SL_ASSIGN_OR_RETURN(f.refresh_interval,
                            Duration(file, g["refresh_interval"], "refresh_interval"));
      }
      c.file_sd_configs.push_back(std::move(f));
    }
  }
  if (n["relabel_configs"]) {
    SL_ASSIGN_OR_RETURN(c.relabel_configs,
                        RelabelConfigs(file, n["relabel_configs"], "relabel_configs"));
  }
  if (n["metric_relabel_configs"]) {
    SL_ASSIGN_OR_RETURN(c.metric_relabel_configs, RelabelConfigs(file, n["metric_relabel_configs"],
                                                                 "metric_relabel_configs"));
  }
  return c;
}

}  // namespace

Result<ScrapeFileConfig> ParseScrapeConfig(const std::string& yaml_text,
                                           const std::string& file_name) {
  ScrapeFileConfig out;
  YAML::Node root;
  try {
    root = YAML::Load(yaml_text);
  } catch (const YAML::Exception& e) {
    return InvalidArgumentError(
        fmt::format("{}:{}: the file is not valid YAML: {}", file_name, e.mark.line + 1, e.msg));
  }
  if (!root.IsMap()) return out;
  try {
    if (YAML::Node g = root["global"]; g && !g.IsNull()) {
      SL_RETURN_IF_ERROR(CheckKeys(file_name, g, "global",
                                   // evaluation_interval and query_log_file are Prometheus's own
                                   // (rules, query log): accepted and left alone.
                                   {"scrape_interval", "scrape_timeout", "external_labels",
                                    "evaluation_interval", "query_log_file"},
                                   nullptr, kTypePlain));
      if (g["scrape_interval"]) {
        SL_ASSIGN_OR_RETURN(out.global.scrape_interval,
                            Duration(file_name, g["scrape_interval"], "global.scrape_interval"));
      }
      if (g["scrape_timeout"]) {
        SL_ASSIGN_OR_RETURN(out.global.scrape_timeout,
                            Duration(file_name, g["scrape_timeout"], "global.scrape_timeout"));
      } else {
        out.global.scrape_timeout = std::min(out.global.scrape_timeout, out.global.scrape_interval);
      }
      if (out.global.scrape_timeout > out.global.scrape_interval) {
        return Err(file_name, g, "global scrape timeout greater than scrape interval");
      }
      if (g["external_labels"]) {
        SL_ASSIGN_OR_RETURN(out.global.external_labels,
                            StringMap(file_name, g["external_labels"], "external_labels"));
      }
    }
    YAML::Node sc = root["scrape_configs"];
    if (!sc || sc.IsNull()) return out;
    if (!sc.IsSequence()) return Err(file_name, sc, "scrape_configs must be a list");
    std::set<std::string> jobs;
    for (const auto& item : sc) {
      SL_ASSIGN_OR_RETURN(ScrapeConfig c, ParseJob(file_name, item, out.global));
      if (!jobs.insert(c.job_name).second) {
        return Err(file_name, item,
                   fmt::format("found multiple scrape configs with job name \"{}\"", c.job_name));
      }
      out.scrape_configs.push_back(std::move(c));
    }
  } catch (const YAML::Exception& e) {
    return InvalidArgumentError(fmt::format("{}:{}: {}", file_name, e.mark.line + 1, e.msg));
  }
  return out;
}

Result<std::vector<ScrapeConfig>> ParseScrapeJobs(const std::string& yaml_text,
                                                  const std::string& file_name,
                                                  const std::vector<std::string>& path,
                                                  const GlobalConfig& defaults,
                                                  const std::vector<std::string>& extra_keys) {
  std::vector<ScrapeConfig> out;
  YAML::Node root;
  try {
    root = YAML::Load(yaml_text);
  } catch (const YAML::Exception& e) {
    return InvalidArgumentError(
        fmt::format("{}:{}: the file is not valid YAML: {}", file_name, e.mark.line + 1, e.msg));
  }
  // Not Prometheus's section: Sightline's own words for unknown keys.
  struct Words {
    Words() { prometheus_messages = false; }
    ~Words() { prometheus_messages = true; }
  } words;
  try {
    YAML::Node sc = root;
    for (const std::string& key : path) {
      if (!sc.IsMap()) return out;
      sc = sc[key];
      if (!sc) return out;
    }
    if (sc.IsNull()) return out;
    if (!sc.IsSequence()) {
      return Err(file_name, sc, (path.empty() ? "scrape_configs" : path.back()) + " must be a list");
    }
    std::set<std::string> jobs;
    for (const auto& item : sc) {
      SL_ASSIGN_OR_RETURN(ScrapeConfig c, ParseJob(file_name, item, defaults, &extra_keys));
      if (!jobs.insert(c.job_name).second) {
        return Err(file_name, item,
                   fmt::format("found multiple scrape configs with job name \"{}\"", c.job_name));
      }
      out.push_back(std::move(c));
    }
  } catch (const YAML::Exception& e) {
    return InvalidArgumentError(fmt::format("{}:{}: {}", file_name, e.mark.line + 1, e.msg));
  }
  return out;
}

std::string RedactedScrapeConfigsYaml(const std::string& yaml_text) {
  try {
    YAML::Node root = YAML::Load(yaml_text);
    if (!root.IsMap() || !root["scrape_configs"]) return "";
    YAML::Node sc = YAML::Clone(root["scrape_configs"]);
    if (!sc.IsSequence()) return "";
    for (YAML::Node job : sc) {
      if (!job.IsMap()) continue;
      if (job["basic_auth"] && job["basic_auth"].IsMap() && job["basic_auth"]["password"]) {
        job["basic_auth"]["password"] = "<secret>";
      }
      if (job["authorization"] && job["authorization"].IsMap() &&
          job["authorization"]["credentials"]) {
        job["authorization"]["credentials"] = "<secret>";
      }
      if (job["bearer_token"]) job["bearer_token"] = "<secret>";
      if (job["oauth2"] && job["oauth2"].IsMap() && job["oauth2"]["client_secret"]) {
        job["oauth2"]["client_secret"] = "<secret>";
      }
      if (job["proxy_connect_header"] && job["proxy_connect_header"].IsMap()) {
        for (auto h : job["proxy_connect_header"]) {
          YAML::Node values = h.second;
          if (!values.IsSequence()) continue;
          for (size_t i = 0; i < values.size(); ++i) values[i] = "<secret>";
        }
      }
    }
    YAML::Node out(YAML::NodeType::Map);
    out["scrape_configs"] = sc;
    YAML::Emitter e;
    e << out;
    return std::string(e.c_str()) + "\n";
  } catch (const YAML::Exception&) {
    return "";
  }
}

std::map<std::string, int64_t> MatchFileSdFiles(const ScrapeConfig& job) {
  std::map<std::string, int64_t> out;
  for (const FileSdConfig& f : job.file_sd_configs) {
    for (const std::string& pattern : f.files) {
      glob_t g{};
      if (::glob(pattern.c_str(), 0, nullptr, &g) == 0) {
        for (size_t i = 0; i < g.gl_pathc; ++i) {
          struct stat st {};
          const char* path = g.gl_pathv[i];
          out[path] = ::stat(path, &st) != 0 ? -1
                                              : static_cast<int64_t>(st.st_mtim.tv_sec) * 1000000000 +
                                                    st.st_mtim.tv_nsec;
        }
      }
      globfree(&g);
    }
  }
  return out;
}

std::vector<StaticConfig> CollectTargetGroups(const ScrapeConfig& job,
                                              const std::map<std::string, int64_t>& files,
                                              std::vector<Status>* errors) {
  std::vector<StaticConfig> groups = job.static_configs;
  for (const auto& [path, mtime] : files) {
    std::ifstream in(path);
    if (!in) continue;
    std::stringstream ss;
    ss << in.rdbuf();
    auto parsed = ParseFileSd(ss.str(), path);
    if (!parsed.ok()) {
      if (errors != nullptr) errors->push_back(parsed.status());
      continue;
    }
    for (auto& g : *parsed) groups.push_back(std::move(g));
  }
  return groups;
}

Result<std::vector<StaticConfig>> ParseFileSd(const std::string& text, const std::string& path) {
  std::vector<StaticConfig> out;
  YAML::Node root;
  try {
    root = YAML::Load(text);  // JSON is YAML
  } catch (const YAML::Exception& e) {
    return InvalidArgumentError(fmt::format("{}:{}: {}", path, e.mark.line + 1, e.msg));
  }
  if (root.IsNull()) return out;
  try {
    if (!root.IsSequence())
      return Err(path, root, "a target file must hold a list of target groups");
    for (const auto& g : root) {
      SL_RETURN_IF_ERROR(CheckKeys(path, g, "target group", {"targets", "labels"}));
      StaticConfig s;
      if (g["targets"]) {
        SL_ASSIGN_OR_RETURN(s.targets, StringList(path, g["targets"], "targets"));
      }
      if (g["labels"]) {
        SL_ASSIGN_OR_RETURN(s.labels, StringMap(path, g["labels"], "labels"));
      }
      out.push_back(std::move(s));
    }
  } catch (const YAML::Exception& e) {
    return InvalidArgumentError(fmt::format("{}:{}: {}", path, e.mark.line + 1, e.msg));
  }
  return out;
}

}  // namespace sightline::metrics::scrape
