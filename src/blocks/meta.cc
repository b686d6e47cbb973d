#include "blocks/meta.h"

#include <simdjson.h>

#include "base/json_writer.h"

namespace sightline::blocks {

std::string BlockMeta::ToJson() const {
  JsonWriter w;
  w.BeginObject();
  w.Key("ulid").String(ulid.ToString());
  w.Key("minTime").Int(min_time);
  w.Key("maxTime").Int(max_time);
  w.Key("stats").BeginObject();
  for (const auto& [k, v] : stats) w.Key(k).Uint(v);
  w.EndObject();
  w.Key("compaction").BeginObject();
  w.Key("level").Int(compaction_level);
  w.Key("sources").BeginArray();
  if (compaction_sources.empty()) {
    w.String(ulid.ToString());
  } else {
    for (const auto& s : compaction_sources) w.String(s.ToString());
  }
  w.EndArray();
  if (!compaction_parents.empty()) {
    w.Key("parents").BeginArray();
    for (const auto& p : compaction_parents) {
      w.BeginObject();
      w.Key("ulid").String(p.ulid.ToString());
      w.Key("minTime").Int(p.min_time);
      w.Key("maxTime").Int(p.max_time);
      w.EndObject();
    }
    w.EndArray();
  }
  w.EndObject();
  w.Key("version").Int(version);
  w.Key("thanos").BeginObject();
  w.Key("labels").BeginObject();
  for (const auto& [k, v] : labels) w.Key(k).String(v);
  w.EndObject();
  w.Key("downsample").BeginObject().Key("resolution").Int(downsample_resolution).EndObject();
  w.Key("source").String(source);
  if (!files.empty()) {
    w.Key("files").BeginArray();
    for (const auto& f : files) {
      w.BeginObject();
      w.Key("rel_path").String(f.rel_path);
      if (f.size_bytes > 0) w.Key("size_in_bytes").Uint(f.size_bytes);
      w.EndObject();
    }
    w.EndArray();
  }
  w.EndObject();
  if (!signal.empty() || !tenant.empty() || !format.empty()) {
    w.Key("sightline").BeginObject();
    w.Key("signal").String(signal);
    w.Key("tenant").String(tenant);
    w.Key("format").String(format);
    w.EndObject();
  }
  w.EndObject();
  std::string out = w.Take();
  out += '\n';
  return out;
}

namespace {

Status Bad(std::string_view what) {
  return InvalidArgumentError("meta.json: " + std::string(what));
}

// Reads an optional field: leaves `out` alone when absent or mistyped.
template <typename T, typename R>
void Optional(R&& result, T& out) {
  T v;
  if (std::forward<R>(result).get(v) == simdjson::SUCCESS) out = v;
}

Result<Ulid> ParseUlidField(simdjson::dom::element e, std::string_view what) {
  std::string_view s;
  if (e.get_string().get(s) != simdjson::SUCCESS) return Bad(std::string(what) + " must be a string");
  auto u = Ulid::Parse(s);
  if (!u.ok()) return Bad(u.status().message());
  return *u;
}

}  // namespace

Result<BlockMeta> BlockMeta::Parse(std::string_view json) {
  simdjson::dom::parser parser;
  simdjson::padded_string padded(json);
  simdjson::dom::element root;
  if (parser.parse(padded).get(root) != simdjson::SUCCESS) return Bad("not valid JSON");
  simdjson::dom::object obj;
  if (root.get_object().get(obj) != simdjson::SUCCESS) return Bad("not a JSON object");

  BlockMeta m;
  simdjson::dom::element e;
  if (obj["ulid"].get(e) != simdjson::SUCCESS) return Bad("missing ulid");
  SL_ASSIGN_OR_RETURN(m.ulid, ParseUlidField(e, "ulid"));
  if (obj["minTime"].get_int64().get(m.min_time) != simdjson::SUCCESS) return Bad("missing minTime");
  if (obj["maxTime"].get_int64().get(m.max_time) != simdjson::SUCCESS) return Bad("missing maxTime");
  int64_t version = 1;
  if (obj["version"].get_int64().get(version) == simdjson::SUCCESS) m.version = static_cast<int>(version);

  simdjson::dom::object stats;
  if (obj["stats"].get_object().get(stats) == simdjson::SUCCESS) {
    for (auto field : stats) {
      uint64_t v;
      if (field.value.get_uint64().get(v) == simdjson::SUCCESS) m.stats[std::string(field.key)] = v;
    }
  }
  simdjson::dom::object comp;
  if (obj["compaction"].get_object().get(comp) == simdjson::SUCCESS) {
    int64_t level;
    if (comp["level"].get_int64().get(level) == simdjson::SUCCESS) m.compaction_level = static_cast<int>(level);
    simdjson::dom::array sources;
    if (comp["sources"].get_array().get(sources) == simdjson::SUCCESS) {
      for (auto s : sources) {
        SL_ASSIGN_OR_RETURN(Ulid u, ParseUlidField(s, "compaction.sources[]"));
        m.compaction_sources.push_back(u);
      }
    }
    simdjson::dom::array parents;
    if (comp["parents"].get_array().get(parents) == simdjson::SUCCESS) {
      for (auto p : parents) {
        Parent parent;
        simdjson::dom::element pe;
        if (p["ulid"].get(pe) != simdjson::SUCCESS) return Bad("compaction.parents[] without ulid");
        SL_ASSIGN_OR_RETURN(parent.ulid, ParseUlidField(pe, "compaction.parents[].ulid"));
        Optional(p["minTime"].get_int64(), parent.min_time);
        Optional(p["maxTime"].get_int64(), parent.max_time);
        m.compaction_parents.push_back(parent);
      }
    }
  }
  simdjson::dom::object thanos;
  if (obj["thanos"].get_object().get(thanos) == simdjson::SUCCESS) {
    simdjson::dom::object labels;
    if (thanos["labels"].get_object().get(labels) == simdjson::SUCCESS) {
      for (auto field : labels) {
        std::string_view v;
        if (field.value.get_string().get(v) != simdjson::SUCCESS) return Bad("thanos.labels values must be strings");
        m.labels[std::string(field.key)] = std::string(v);
      }
    }
    Optional(thanos["downsample"]["resolution"].get_int64(), m.downsample_resolution);
    std::string_view source;
    if (thanos["source"].get_string().get(source) == simdjson::SUCCESS) m.source = std::string(source);
    simdjson::dom::array files;
    if (thanos["files"].get_array().get(files) == simdjson::SUCCESS) {
      for (auto f : files) {
        BlockFile bf;
        std::string_view rel;
        if (f["rel_path"].get_string().get(rel) != simdjson::SUCCESS) return Bad("thanos.files[] without rel_path");
        bf.rel_path = std::string(rel);
        Optional(f["size_in_bytes"].get_uint64(), bf.size_bytes);
        m.files.push_back(bf);
      }
    }
  }
  simdjson::dom::object sl;
  if (obj["sightline"].get_object().get(sl) == simdjson::SUCCESS) {
    std::string_view v;
    if (sl["signal"].get_string().get(v) == simdjson::SUCCESS) m.signal = std::string(v);
    if (sl["tenant"].get_string().get(v) == simdjson::SUCCESS) m.tenant = std::string(v);
    if (sl["format"].get_string().get(v) == simdjson::SUCCESS) m.format = std::string(v);
  }
  if (m.max_time < m.min_time) return Bad("maxTime is before minTime");
  return m;
}

}  // namespace sightline::blocks
