#include "profiles/ingest/ingest.h"

#include <fmt/format.h>

#include <charconv>
#include <chrono>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <unordered_map>

#include "base/compression.h"
#include "net/http.h"
#include "pprof/profile.pb.h"
#include "profiles/connect/connect.h"
#include "profiles/ingest/jfr.h"
#include "profiles/store/profile_db.h"
#include "pyroscope/push/v1/push.pb.h"
#include "telemetry/log.h"
#include "telemetry/metrics.h"

namespace sightline::profiles {

namespace {

namespace pp = perftools::profiles;

int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string Trim(std::string_view s) {
  size_t b = 0, e = s.size();
  while (b < e && std::isspace(static_cast<unsigned char>(s[b]))) ++b;
  while (e > b && std::isspace(static_cast<unsigned char>(s[e - 1]))) --e;
  return std::string(s.substr(b, e - b));
}

// Unix time given in s, ms, us or ns (by magnitude) → ms. 0 when absent.
Result<int64_t> ParseUnixTime(std::optional<std::string_view> v) {
  if (!v || v->empty()) return int64_t{0};
  int64_t t = 0;
  auto [p, ec] = std::from_chars(v->data(), v->data() + v->size(), t);
  if (ec != std::errc() || p != v->data() + v->size()) {
    return InvalidArgumentError(fmt::format("invalid time \"{}\": want unix seconds", *v));
  }
  if (t > 100'000'000'000'000'000) return t / 1'000'000;  // ns
  if (t > 100'000'000'000'000) return t / 1'000;          // us
  if (t > 100'000'000'000) return t;                      // ms
  return t * 1000;
}

const std::set<std::string, std::less<>>& KnownKinds() {
  static const auto* kinds = new std::set<std::string, std::less<>>{"cpu",
                                                                    "itimer",
                                                                    "wall",
                                                                    "alloc_objects",
                                                                    "alloc_space",
                                                                    "inuse_objects",
                                                                    "inuse_space",
                                                                    "goroutines",
                                                                    "mutex_count",
                                                                    "mutex_duration",
                                                                    "block_count",
                                                                    "block_duration",
                                                                    "lock_count",
                                                                    "lock_duration",
                                                                    "alloc_in_new_tlab_objects",
                                                                    "alloc_in_new_tlab_bytes"};
  return *kinds;
}

Status ValidLabelName(std::string_view n) {
  if (n.empty()) return InvalidArgumentError("empty label name");
  for (size_t i = 0; i < n.size(); ++i) {
    char c = n[i];
    bool ok = std::isalpha(static_cast<unsigned char>(c)) || c == '_' || c == '.' ||
              (i > 0 && std::isdigit(static_cast<unsigned char>(c)));
    if (!ok) return InvalidArgumentError(fmt::format("invalid label name \"{}\"", n));
  }
  return Status::Ok();
}

// Pyroscope's series labels use '_' where the legacy tags may use '.'.
std::string SanitizeLabelName(std::string_view n) {
  std::string out(n);
  for (char& c : out) {
    if (c == '.' || c == '-' || c == '/') c = '_';
  }
  return out;
}

struct TokenBucket {
  double tokens = 0;
  std::chrono::steady_clock::time_point last{};
  bool init = false;
};

// --- multipart/form-data ---

struct Part {
  std::string name;
  std::string body;
};

Result<std::vector<Part>> ParseMultipart(std::string_view content_type, std::string_view body) {
  size_t bpos = content_type.find("boundary=");
  if (bpos == std::string_view::npos) {
    return InvalidArgumentError("multipart body without a boundary");
  }
  std::string boundary(content_type.substr(bpos + 9));
  if (size_t semi = boundary.find(';'); semi != std::string::npos) boundary.resize(semi);
  if (boundary.size() >= 2 && boundary.front() == '"' && boundary.back() == '"') {
    boundary = boundary.substr(1, boundary.size() - 2);
  }
  const std::string delim = "--" + boundary;
  std::vector<Part> parts;
  size_t pos = body.find(delim);
  if (pos == std::string_view::npos) return InvalidArgumentError("multipart boundary not found");
  while (true) {
    pos += delim.size();
    if (body.substr(pos, 2) == "--") break;  // closing delimiter
    if (body.substr(pos, 2) == "\r\n") pos += 2;
    size_t hdr_end = body.find("\r\n\r\n", pos);
    if (hdr_end == std::string_view::npos) return InvalidArgumentError("truncated multipart part");
    std::string_view headers = body.substr(pos, hdr_end - pos);
    size_t next = body.find("\r\n" + delim, hdr_end + 4);
    if (next == std::string_view::npos) return InvalidArgumentError("unterminated multipart part");
    Part part;
    size_t n = headers.find("name=\"");
    if (n != std::string_view::npos) {
      size_t e = headers.find('"', n + 6);
      if (e != std::string_view::npos) part.name = std::string(headers.substr(n + 6, e - n - 6));
    }
    part.body = std::string(body.substr(hdr_end + 4, next - hdr_end - 4));
    parts.push_back(std::move(part));
    pos = next + 2;
  }
  return parts;
}

// sample_type_config: {"alloc_space": {"units": "bytes", "cumulative": true, ...}}
std::vector<std::string> CumulativeTypes(std::string_view json) {
  // A tiny scan: names of objects that contain "cumulative": true. The
  // config is small and produced by SDKs; anything unexpected yields none.
  std::vector<std::string> out;
  size_t pos = 0;
  while (true) {
    size_t q = json.find('"', pos);
    if (q == std::string_view::npos) break;
    size_t qe = json.find('"', q + 1);
    if (qe == std::string_view::npos) break;
    std::string key(json.substr(q + 1, qe - q - 1));
    size_t colon = json.find_first_not_of(" \t\r\n", qe + 1);
    if (colon != std::string_view::npos && json[colon] == ':') {
      size_t brace = json.find_first_not_of(" \t\r\n", colon + 1);
      if (brace != std::string_view::npos && json[brace] == '{') {
        size_t end = json.find('}', brace);
        if (end == std::string_view::npos) break;
        std::string_view obj = json.substr(brace, end - brace);
        size_t c = obj.find("\"cumulative\"");
        if (c != std::string_view::npos) {
          size_t t = obj.find_first_not_of(" \t\r\n:", c + 12);
          if (t != std::string_view::npos && obj.substr(t, 4) == "true") out.push_back(key);
        }
        pos = end + 1;
        continue;
      }
    }
    pos = qe + 1;
  }
  return out;
}

}  // namespace

Status DecodePprof(std::string_view body, uint64_t max_bytes, pp::Profile* out) {
  std::string inflated;
  if (body.size() >= 2 && static_cast<uint8_t>(body[0]) == 0x1f &&
      static_cast<uint8_t>(body[1]) == 0x8b) {
    auto r = Decompress(Codec::kGzip, body, max_bytes);
    if (!r.ok()) {
      if (r.status().code() == StatusCode::kResourceExhausted) {
        return ResourceExhaustedError(
            fmt::format("profile too large: over the limit of {} bytes", max_bytes));
      }
      return InvalidArgumentError("cannot gunzip the profile: " + r.status().message());
    }
    inflated = std::move(r).value();
    body = inflated;
  } else if (body.size() > max_bytes) {
    return ResourceExhaustedError(fmt::format(
        "profile too large: {} bytes over the limit of {} bytes", body.size(), max_bytes));
  }
  if (!out->ParseFromArray(body.data(), static_cast<int>(body.size()))) {
    return InvalidArgumentError("cannot decode the pprof profile");
  }
  return Status::Ok();
}

Status ValidateProfile(const pp::Profile& p, const Labels& labels, const IngestLimits& limits) {
  if (static_cast<int64_t>(labels.size()) > limits.max_label_names) {
    return InvalidArgumentError(fmt::format("profile series {} has {} labels, over the limit of {}",
                                            LabelsToString(labels), labels.size(),
                                            limits.max_label_names));
  }
  for (const auto& [n, v] : labels) {
    SL_RETURN_IF_ERROR(ValidLabelName(n));
    if (static_cast<int64_t>(n.size()) > limits.max_label_name_length) {
      return InvalidArgumentError(fmt::format("label name \"{}\" is longer than {} characters", n,
                                              limits.max_label_name_length));
    }
    if (static_cast<int64_t>(v.size()) > limits.max_label_value_length) {
      return InvalidArgumentError(
          fmt::format("the value of label \"{}\" is longer than {} characters", n,
                      limits.max_label_value_length));
    }
  }
  if (p.sample_size() > limits.max_samples) {
    return InvalidArgumentError(fmt::format("profile has {} samples, over the limit of {}",
                                            p.sample_size(), limits.max_samples));
  }
  for (const auto& s : p.sample()) {
    if (s.location_id_size() > limits.max_stack_depth) {
      return InvalidArgumentError(fmt::format("a stack trace has depth {}, over the limit of {}",
                                              s.location_id_size(), limits.max_stack_depth));
    }
  }
  if (p.string_table_size() > 0 && !p.string_table(0).empty()) {
    return InvalidArgumentError("malformed pprof: string_table[0] must be empty");
  }
  return Status::Ok();
}

Status ParseAppName(std::string_view name, Labels* labels, std::string* kind) {
  labels->clear();
  kind->clear();
  size_t brace = name.find('{');
  std::string app = Trim(name.substr(0, brace));
  if (brace != std::string_view::npos) {
    if (name.back() != '}') return InvalidArgumentError("name: missing closing '}'");
    std::string_view body = name.substr(brace + 1, name.size() - brace - 2);
    size_t pos = 0;
    while (pos < body.size()) {
      size_t comma = body.find(',', pos);
      if (comma == std::string_view::npos) comma = body.size();
      std::string_view kv = body.substr(pos, comma - pos);
      pos = comma + 1;
      if (Trim(kv).empty()) continue;
      size_t eq = kv.find('=');
      if (eq == std::string_view::npos) {
        return InvalidArgumentError(fmt::format("name: tag \"{}\" is not key=value", kv));
      }
      std::string k = Trim(kv.substr(0, eq));
      std::string v = Trim(kv.substr(eq + 1));
      if (v.size() >= 2 && v.front() == '"' && v.back() == '"') v = v.substr(1, v.size() - 2);
      if (k == "__name__") continue;
      labels->emplace_back(SanitizeLabelName(k), v);
    }
  }
  if (app.empty()) return InvalidArgumentError("name: the application name is empty");
  size_t dot = app.rfind('.');
  if (dot != std::string::npos && KnownKinds().count(app.substr(dot + 1))) {
    *kind = app.substr(dot + 1);
    app.resize(dot);
  }
  labels->emplace_back(std::string(kServiceNameLabel), app);
  NormalizeLabels(labels);
  return Status::Ok();
}

Status FoldedToPprof(std::string_view text, const FoldedOptions& o, pp::Profile* out,
                     std::string* name) {
  struct TypeDef {
    const char* name;
    const char* type;
    const char* unit;
    const char* period_type;
    const char* period_unit;
    bool scale_by_period;
  };
  const std::string kind = o.kind.empty() ? "cpu" : o.kind;
  TypeDef d{"process_cpu", "cpu", "nanoseconds", "cpu", "nanoseconds", true};
  if (kind == "wall") {
    d = {"wall", "wall", "nanoseconds", "wall", "nanoseconds", true};
  } else if (kind == "alloc_objects" || (kind == "cpu" && o.units == "objects")) {
    d = {"memory", "alloc_objects", "count", "space", "bytes", false};
  } else if (kind == "alloc_space" || (kind == "cpu" && o.units == "bytes")) {
    d = {"memory", "alloc_space", "bytes", "space", "bytes", false};
  } else if (kind == "inuse_objects") {
    d = {"memory", "inuse_objects", "count", "space", "bytes", false};
  } else if (kind == "inuse_space") {
    d = {"memory", "inuse_space", "bytes", "space", "bytes", false};
  } else if (kind == "goroutines" || o.units == "goroutines") {
    d = {"goroutines", "goroutine", "count", "goroutine", "count", false};
  } else if (kind == "mutex_count" || kind == "lock_count" || o.units == "lock_samples") {
    d = {"mutex", "contentions", "count", "contentions", "count", false};
  } else if (kind == "mutex_duration" || kind == "lock_duration" || o.units == "lock_nanoseconds") {
    d = {"mutex", "delay", "nanoseconds", "contentions", "count", false};
  } else if (kind == "block_count") {
    d = {"block", "contentions", "count", "contentions", "count", false};
  } else if (kind == "block_duration") {
    d = {"block", "delay", "nanoseconds", "contentions", "count", false};
  } else if (kind != "cpu" && kind != "itimer") {
    d = {nullptr, "samples", "count", "", "", false};
  }
  *name = d.name ? d.name : kind;
  const int64_t rate = o.sample_rate > 0 ? o.sample_rate : 100;
  const int64_t period = d.scale_by_period ? 1'000'000'000 / rate : 1;

  out->Clear();
  std::unordered_map<std::string, int64_t> strings;
  auto str = [&](std::string_view s) -> int64_t {
    auto [it, inserted] = strings.emplace(std::string(s), out->string_table_size());
    if (inserted) out->add_string_table(std::string(s));
    return it->second;
  };
  str("");
  auto* st = out->add_sample_type();
  st->set_type(str(d.type));
  st->set_unit(str(d.unit));
  if (*d.period_type) {
    out->mutable_period_type()->set_type(str(d.period_type));
    out->mutable_period_type()->set_unit(str(d.period_unit));
    out->set_period(period);
  }
  std::unordered_map<std::string, uint64_t> locs;  // frame → location id (= function id)
  std::unordered_map<std::string, size_t> stacks;  // folded stack → sample index
  size_t pos = 0;
  int line_no = 0;
  while (pos < text.size()) {
    size_t nl = text.find('\n', pos);
    if (nl == std::string_view::npos) nl = text.size();
    std::string_view line = text.substr(pos, nl - pos);
    pos = nl + 1;
    ++line_no;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (Trim(line).empty()) continue;
    std::string_view stack = line;
    int64_t count = 1;
    if (!o.lines) {
      size_t sp = line.rfind(' ');
      if (sp == std::string_view::npos) {
        return InvalidArgumentError(fmt::format("folded line {}: want \"a;b;c <count>\"", line_no));
      }
      std::string_view num = line.substr(sp + 1);
      auto [p, ec] = std::from_chars(num.data(), num.data() + num.size(), count);
      if (ec != std::errc() || p != num.data() + num.size() || count < 0) {
        return InvalidArgumentError(
            fmt::format("folded line {}: \"{}\" is not a sample count", line_no, num));
      }
      stack = line.substr(0, sp);
    }
    if (count == 0) continue;
    auto it = stacks.find(std::string(stack));
    if (it != stacks.end()) {
      auto* s = out->mutable_sample(static_cast<int>(it->second));
      s->set_value(0, s->value(0) + count * period);
      continue;
    }
    std::vector<uint64_t> ids;
    size_t fpos = 0;
    while (fpos <= stack.size()) {
      size_t semi = stack.find(';', fpos);
      if (semi == std::string_view::npos) semi = stack.size();
      std::string frame(stack.substr(fpos, semi - fpos));
      fpos = semi + 1;
      if (frame.empty()) continue;
      auto [lit, inserted] = locs.emplace(frame, locs.size() + 1);
      if (inserted) {
        auto* f = out->add_function();
        f->set_id(lit->second);
        f->set_name(str(frame));
        auto* l = out->add_location();
        l->set_id(lit->second);
        l->add_line()->set_function_id(lit->second);
      }
      ids.push_back(lit->second);
    }
    if (ids.empty()) continue;
    auto* s = out->add_sample();
    for (size_t i = ids.size(); i-- > 0;) s->add_location_id(ids[i]);  // leaf first
    s->add_value(count * period);
    stacks.emplace(std::string(stack), out->sample_size() - 1);
  }
  return Status::Ok();
}

void SubtractPrevious(pp::Profile* cur, const pp::Profile& prev,
                      const std::vector<std::string>& cumulative_types) {
  auto str = [](const pp::Profile& p, int64_t i) -> const std::string& {
    static const std::string kEmpty;
    return i >= 0 && i < p.string_table_size() ? p.string_table(static_cast<int>(i)) : kEmpty;
  };
  auto stack_key = [&](const pp::Profile& p, const pp::Sample& s,
                       const std::unordered_map<uint64_t, const pp::Location*>& locs,
                       const std::unordered_map<uint64_t, const pp::Function*>& fns) {
    std::string key;
    for (uint64_t id : s.location_id()) {
      auto it = locs.find(id);
      if (it == locs.end()) continue;
      for (const auto& line : it->second->line()) {
        auto f = fns.find(line.function_id());
        if (f != fns.end()) key += str(p, f->second->name());
        key += '\x1f';
      }
      key += '\x1e';
    }
    return key;
  };
  auto index = [](const pp::Profile& p, std::unordered_map<uint64_t, const pp::Location*>* locs,
                  std::unordered_map<uint64_t, const pp::Function*>* fns) {
    for (const auto& l : p.location()) (*locs)[l.id()] = &l;
    for (const auto& f : p.function()) (*fns)[f.id()] = &f;
  };
  std::vector<int> cur_cols, prev_cols;
  for (const auto& t : cumulative_types) {
    int c = -1, pc = -1;
    for (int i = 0; i < cur->sample_type_size(); ++i) {
      if (str(*cur, cur->sample_type(i).type()) == t) c = i;
    }
    for (int i = 0; i < prev.sample_type_size(); ++i) {
      if (str(prev, prev.sample_type(i).type()) == t) pc = i;
    }
    if (c >= 0 && pc >= 0) {
      cur_cols.push_back(c);
      prev_cols.push_back(pc);
    }
  }
  if (cur_cols.empty()) return;
  std::unordered_map<uint64_t, const pp::Location*> plocs, clocs;
  std::unordered_map<uint64_t, const pp::Function*> pfns, cfns;
  index(prev, &plocs, &pfns);
  index(*cur, &clocs, &cfns);
  std::unordered_map<std::string, std::vector<int64_t>> prev_values;
  for (const auto& s : prev.sample()) {
    auto& v = prev_values[stack_key(prev, s, plocs, pfns)];
    v.resize(prev_cols.size(), 0);
    for (size_t i = 0; i < prev_cols.size(); ++i) {
      if (prev_cols[i] < s.value_size()) v[i] += s.value(prev_cols[i]);
    }
  }
  for (auto& s : *cur->mutable_sample()) {
    auto it = prev_values.find(stack_key(*cur, s, clocs, cfns));
    if (it == prev_values.end()) continue;
    for (size_t i = 0; i < cur_cols.size(); ++i) {
      if (cur_cols[i] >= s.value_size()) continue;
      int64_t d = s.value(cur_cols[i]) - it->second[i];
      int64_t take = std::min(it->second[i], s.value(cur_cols[i]));
      it->second[i] -= take;  // a stack seen twice subtracts once
      s.set_value(cur_cols[i], d < 0 ? 0 : d);
    }
  }
}

// --- Ingester ---

struct Ingester::Impl {
  ProfileDB* db;
  LimitsFn limits_for;
  std::mutex mu;
  std::unordered_map<std::string, TokenBucket> buckets;
  telemetry::Family<telemetry::Counter>* received_bytes = nullptr;
  telemetry::Family<telemetry::Counter>* received_profiles = nullptr;
  telemetry::Family<telemetry::Counter>* discarded = nullptr;
};

Ingester::Ingester(ProfileDB* db, IngestLimits limits)
    : Ingester(db, [limits](std::string_view) { return limits; }) {}

Ingester::Ingester(ProfileDB* db, LimitsFn limits_for) : impl_(std::make_unique<Impl>()) {
  impl_->db = db;
  impl_->limits_for = std::move(limits_for);
  auto& reg = telemetry::Registry::Default();
  impl_->received_bytes = &reg.AddCounter("pyroscope_distributor_received_compressed_bytes_total",
                                          "Profile bytes received, as sent.", {"tenant"});
  impl_->received_profiles = &reg.AddCounter("pyroscope_distributor_received_profiles_total",
                                             "Profiles received.", {"tenant"});
  impl_->discarded = &reg.AddCounter("pyroscope_discarded_samples_total",
                                     "Profiles rejected, by reason.", {"reason", "tenant"});
}

Ingester::~Ingester() = default;

IngestLimits Ingester::Limits(std::string_view tenant) const { return impl_->limits_for(tenant); }

Status Ingester::Ingest(std::string_view tenant, Labels labels, pp::Profile& p, int64_t time_ms,
                        uint64_t raw_bytes) {
  const std::string t(tenant);
  NormalizeLabels(&labels);
  if (LabelValue(labels, kServiceNameLabel).empty()) {
    labels.emplace_back(std::string(kServiceNameLabel), "unknown_service");
    NormalizeLabels(&labels);
  }
  const IngestLimits limits = impl_->limits_for(tenant);
  Status v = ValidateProfile(p, labels, limits);
  if (!v.ok()) {
    impl_->discarded->WithLabels({"validation", t}).Inc();
    return v;
  }
  {
    std::lock_guard<std::mutex> l(impl_->mu);
    TokenBucket& b = impl_->buckets[t];
    auto now = std::chrono::steady_clock::now();
    const double rate = limits.ingestion_rate_bytes;
    const double burst = std::max(limits.ingestion_burst_bytes, rate);
    if (!b.init) {
      b.init = true;
      b.tokens = burst;
    } else {
      b.tokens =
          std::min(burst, b.tokens + rate * std::chrono::duration<double>(now - b.last).count());
    }
    b.last = now;
    if (rate > 0 && static_cast<double>(raw_bytes) > b.tokens) {
      impl_->discarded->WithLabels({"rate_limited", t}).Inc();
      return ResourceExhaustedError(
          fmt::format("push rate limit ({} bytes/s) exceeded for tenant {} while adding {} bytes",
                      static_cast<int64_t>(rate), t, raw_bytes));
    }
    b.tokens -= static_cast<double>(raw_bytes);
  }
  if (time_ms == 0) time_ms = p.time_nanos() > 0 ? p.time_nanos() / 1'000'000 : NowMs();
  SL_RETURN_IF_ERROR(impl_->db->Append(tenant, labels, p, time_ms));
  impl_->received_bytes->WithLabels({t}).Inc(static_cast<double>(raw_bytes));
  impl_->received_profiles->WithLabels({t}).Inc();
  return Status::Ok();
}

// --- HTTP ---

namespace {

void IngestError(net::HttpResponse& resp, const Status& s) {
  int code = s.code() == StatusCode::kResourceExhausted
                 ? (s.message().rfind("profile too large", 0) == 0 ? 413 : 429)
                 : net::HttpStatusFromCode(s.code());
  if (s.code() == StatusCode::kUnimplemented) code = 415;
  resp.Text(code, s.message() + "\n");
  if (code == 429) resp.SetHeader("Retry-After", "1");
}

// format=jfr: the body is the JFR file, or a multipart form with parts `jfr`
// and `labels` (a LabelsSnapshot); either may be gzipped. Each kind of
// event becomes one profile (see jfr.h), all with the request's labels.
void HandleJfr(Ingester* ing, net::HttpRequest& req, net::HttpResponse& resp, Labels labels,
               int64_t from_ms, int64_t until_ms, int64_t sample_rate, bool multipart,
               const std::string& content_type, const IngestLimits& limits) {
  std::string_view jfr = req.body();
  std::string_view labels_part;
  std::vector<Part> parts;
  if (multipart) {
    auto r = ParseMultipart(content_type, req.body());
    if (!r.ok()) return IngestError(resp, r.status());
    parts = std::move(r).value();
    jfr = {};
    for (const auto& part : parts) {
      if (part.name == "jfr") jfr = part.body;
      if (part.name == "labels") labels_part = part.body;
    }
    if (jfr.empty()) return IngestError(resp, InvalidArgumentError("multipart: no jfr part"));
  }
  auto gunzip = [&](std::string_view in, std::string* buf) -> Status {
    if (in.size() >= 2 && static_cast<uint8_t>(in[0]) == 0x1f &&
        static_cast<uint8_t>(in[1]) == 0x8b) {
      auto r = Decompress(Codec::kGzip, in, limits.max_profile_size_bytes);
      if (!r.ok()) {
        if (r.status().code() == StatusCode::kResourceExhausted) {
          return ResourceExhaustedError(fmt::format("profile too large: over the limit of {} bytes",
                                                    limits.max_profile_size_bytes));
        }
        return InvalidArgumentError("cannot gunzip the JFR body: " + r.status().message());
      }
      *buf = std::move(r).value();
    } else if (in.size() > limits.max_profile_size_bytes) {
      return ResourceExhaustedError(
          fmt::format("profile too large: {} bytes over the limit of {} bytes", in.size(),
                      limits.max_profile_size_bytes));
    } else {
      buf->assign(in);
    }
    return Status::Ok();
  };
  std::string jfr_buf, labels_buf;
  Status s = gunzip(jfr, &jfr_buf);
  if (s.ok() && !labels_part.empty()) s = gunzip(labels_part, &labels_buf);
  if (!s.ok()) return IngestError(resp, s);
  JfrOptions o;
  o.sample_rate = sample_rate;
  o.time_nanos = from_ms * 1'000'000;
  o.duration_nanos = until_ms > from_ms ? (until_ms - from_ms) * 1'000'000 : 0;
  std::vector<JfrProfile> profiles;
  s = ParseJfr(jfr_buf, labels_buf, o, &profiles);
  if (!s.ok()) return IngestError(resp, s);
  uint64_t raw_bytes = req.body().size();
  for (auto& jp : profiles) {
    Labels l = labels;
    l.emplace_back(std::string(kMetricNameLabel), jp.name);
    s = ing->Ingest(req.tenant(), std::move(l), jp.profile, from_ms, raw_bytes);
    if (!s.ok()) return IngestError(resp, s);
    raw_bytes = 0;  // the rate limit counts the request once
  }
  resp.status = 200;
}

void HandleIngest(Ingester* ing, net::HttpRequest& req, net::HttpResponse& resp) {
  const IngestLimits limits = ing->Limits(req.tenant());
  auto name = req.Param("name");
  if (!name || name->empty()) {
    resp.Text(400, "the name parameter is required (e.g. name=myapp.cpu{env=prod})\n");
    return;
  }
  Labels labels;
  std::string kind;
  Status s = ParseAppName(*name, &labels, &kind);
  if (!s.ok()) return IngestError(resp, s);
  auto from = ParseUnixTime(req.Param("from"));
  if (!from.ok()) return IngestError(resp, from.status());
  auto until = ParseUnixTime(req.Param("until"));
  if (!until.ok()) return IngestError(resp, until.status());
  const int64_t until_ms = *until;
  if (auto spy = req.Param("spyName"); spy && !spy->empty()) {
    labels.emplace_back("pyroscope_spy", std::string(*spy));
  }
  std::string format(req.Param("format").value_or(""));
  const std::string content_type(req.Header("Content-Type").value_or(""));
  const bool multipart = content_type.rfind("multipart/form-data", 0) == 0;
  if (format.empty()) format = multipart ? "pprof" : "folded";
  int64_t sample_rate = 100;
  bool sample_rate_given = false;
  if (auto r = req.Param("sampleRate"); r && !r->empty()) {
    sample_rate_given = true;
    auto [p, ec] = std::from_chars(r->data(), r->data() + r->size(), sample_rate);
    if (ec != std::errc() || p != r->data() + r->size() || sample_rate <= 0) {
      return IngestError(resp, InvalidArgumentError("sampleRate must be a positive integer"));
    }
  }
  if (req.body().size() > limits.max_profile_size_bytes && format != "pprof") {
    return IngestError(resp, ResourceExhaustedError(fmt::format(
                                 "profile too large: {} bytes over the limit of {} bytes",
                                 req.body().size(), limits.max_profile_size_bytes)));
  }
  pp::Profile p;
  if (format == "pprof") {
    std::string_view body = req.body();
    std::vector<std::string> cumulative;
    pp::Profile prev;
    bool has_prev = false;
    std::vector<Part> parts;
    if (multipart) {
      auto r = ParseMultipart(content_type, req.body());
      if (!r.ok()) return IngestError(resp, r.status());
      parts = std::move(r).value();
      body = {};
      for (const auto& part : parts) {
        if (part.name == "profile") body = part.body;
        if (part.name == "sample_type_config") cumulative = CumulativeTypes(part.body);
      }
      if (body.empty())
        return IngestError(resp, InvalidArgumentError("multipart: no profile part"));
      for (const auto& part : parts) {
        if (part.name == "prev_profile" && !part.body.empty()) {
          s = DecodePprof(part.body, limits.max_profile_size_bytes, &prev);
          if (!s.ok()) return IngestError(resp, s);
          has_prev = true;
        }
      }
    }
    s = DecodePprof(body, limits.max_profile_size_bytes, &p);
    if (!s.ok()) return IngestError(resp, s);
    if (has_prev) SubtractPrevious(&p, prev, cumulative);
  } else if (format == "folded" || format == "lines" || format == "trie" || format == "tree") {
    if (format == "trie" || format == "tree") {
      return IngestError(resp,
                         UnimplementedError(fmt::format(
                             "format={} is not supported; send folded, lines or pprof", format)));
    }
    FoldedOptions o;
    o.kind = kind;
    o.units = std::string(req.Param("units").value_or(""));
    o.sample_rate = sample_rate;
    o.lines = format == "lines";
    std::string metric_name;
    s = FoldedToPprof(req.body(), o, &p, &metric_name);
    if (!s.ok()) return IngestError(resp, s);
    labels.emplace_back(std::string(kMetricNameLabel), metric_name);
  } else if (format == "jfr") {
    return HandleJfr(ing, req, resp, std::move(labels), *from, until_ms,
                     sample_rate_given ? sample_rate : 0, multipart, content_type, limits);
  } else {
    return IngestError(resp, InvalidArgumentError(fmt::format("unknown format \"{}\"", format)));
  }
  s = ing->Ingest(req.tenant(), std::move(labels), p, *from, req.body().size());
  if (!s.ok()) return IngestError(resp, s);
  resp.status = 200;
}

void HandlePush(Ingester* ing, net::HttpRequest& req, net::HttpResponse& resp) {
  const IngestLimits limits = ing->Limits(req.tenant());
  push::v1::PushRequest pr;
  Status s = connect::ParseRequest(req, &pr);
  if (!s.ok()) return connect::WriteError(resp, s);
  for (const auto& series : pr.series()) {
    Labels labels;
    for (const auto& l : series.labels()) labels.emplace_back(l.name(), l.value());
    for (const auto& sample : series.samples()) {
      pp::Profile p;
      s = DecodePprof(sample.raw_profile(), limits.max_profile_size_bytes, &p);
      if (s.ok()) s = ing->Ingest(req.tenant(), labels, p, 0, sample.raw_profile().size());
      if (!s.ok()) {
        // Pyroscope answers invalid_argument for a profile over the size limit.
        if (s.code() == StatusCode::kResourceExhausted &&
            s.message().rfind("profile too large", 0) == 0) {
          s = InvalidArgumentError(s.message());
        }
        return connect::WriteError(resp, s);
      }
    }
  }
  connect::WriteResponse(req, resp, push::v1::PushResponse());
}

}  // namespace

std::unique_ptr<Ingester> RegisterIngest(net::Router& router, ProfileDB* db, IngestLimits limits) {
  auto ing = std::make_unique<Ingester>(db, limits);
  // The profile limit applies after decoding; leave room for multipart and
  // for the 413 to come from our check with a clear message.
  RegisterIngestRoutes(router, ing.get(),
                       std::max<uint64_t>(limits.max_profile_size_bytes * 4, 16u << 20));
  return ing;
}

void RegisterIngestRoutes(net::Router& router, Ingester* ing, uint64_t max_body_bytes) {
  net::RouteOptions o;
  o.name = "ingest";
  o.max_body_bytes = max_body_bytes;
  auto ingest = [ing](net::HttpRequest& req, net::HttpResponse& resp) {
    HandleIngest(ing, req, resp);
  };
  router.Handle("POST", "/ingest", ingest, o);
  o.name = "pyroscope_ingest";
  router.Handle("POST", "/pyroscope/ingest", ingest, o);
  o.name = "push_v1_pusherservice_push";
  router.Handle(
      "POST", "/push.v1.PusherService/Push",
      [ing](net::HttpRequest& req, net::HttpResponse& resp) { HandlePush(ing, req, resp); }, o);
}

}  // namespace sightline::profiles
