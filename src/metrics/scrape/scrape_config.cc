#include "metrics/scrape/scrape_config.h"

#include <fmt/format.h>
#include <yaml-cpp/yaml.h>

#include <set>

#include "config/config.h"

namespace sightline::metrics::scrape {

namespace {

std::string Where(const std::string& file, const YAML::Node& n) {
  return fmt::format("{}:{}", file, n.Mark().line + 1);
}

Status Err(const std::string& file, const YAML::Node& n, const std::string& msg) {
  return InvalidArgumentError(Where(file, n) + ": " + msg);
}

Result<std::string> Scalar(const std::string& file, const YAML::Node& n, const std::string& key) {
  if (n.IsNull()) return std::string();
  if (!n.IsScalar()) return Err(file, n, key + " must be a single value");
  return n.Scalar();
}

Result<bool> Bool(const std::string& file, const YAML::Node& n, const std::string& key) {
  SL_ASSIGN_OR_RETURN(std::string s, Scalar(file, n, key));
  if (s == "true") return true;
  if (s == "false") return false;
  return Err(file, n, fmt::format("{}: \"{}\" is not a boolean (true or false)", key, s));
}

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

Status CheckKeys(const std::string& file, const YAML::Node& n, const std::string& where,
                 std::initializer_list<std::string_view> known) {
  if (!n.IsMap()) return Err(file, n, where + " must be a mapping");
  for (auto it = n.begin(); it != n.end(); ++it) {
    std::string key = it->first.as<std::string>("");
    bool ok = false;
    for (std::string_view k : known) ok = ok || k == key;
    if (!ok) return Err(file, it->first, fmt::format("unknown key \"{}\" in {}", key, where));
  }
  return Status::Ok();
}

Result<std::vector<relabel::Config>> RelabelConfigs(const std::string& file, const YAML::Node& n,
                                                    const std::string& key) {
  std::vector<relabel::Config> out;
  if (n.IsNull()) return out;
  if (!n.IsSequence()) return Err(file, n, key + " must be a list");
  for (const auto& item : n) {
    SL_RETURN_IF_ERROR(CheckKeys(file, item, key,
                                 {"source_labels", "separator", "regex", "modulus", "target_label",
                                  "replacement", "action"}));
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

Result<ScrapeConfig> ParseJob(const std::string& file, const YAML::Node& n,
                              const GlobalConfig& global) {
  SL_RETURN_IF_ERROR(CheckKeys(
      file, n, "scrape_configs",
      {"job_name", "tenant", "scrape_interval", "scrape_timeout", "metrics_path", "scheme",
       "params", "honor_labels", "honor_timestamps", "sample_limit", "body_size_limit",
       "static_configs", "file_sd_configs", "relabel_configs", "metric_relabel_configs"}));
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
  if (YAML::Node sc = n["static_configs"]; sc) {
    if (!sc.IsSequence()) return Err(file, sc, "static_configs must be a list");
    for (const auto& g : sc) {
      SL_RETURN_IF_ERROR(CheckKeys(file, g, "static_configs", {"targets", "labels"}));
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
      SL_RETURN_IF_ERROR(CheckKeys(file, g, "file_sd_configs", {"files", "refresh_interval"}));
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
      SL_RETURN_IF_ERROR(CheckKeys(
          file_name, g, "global",
          {"scrape_interval", "scrape_timeout", "external_labels", "evaluation_interval"}));
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
