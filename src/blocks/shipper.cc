#include "blocks/shipper.h"

#include <simdjson.h>

#include <algorithm>
#include <vector>

#include "base/json_writer.h"
#include "blocks/bucket.h"
#include "io/env.h"
#include "io/object_store.h"
#include "telemetry/log.h"
#include "telemetry/metrics.h"

namespace sightline::blocks {
namespace {

constexpr char kStateFile[] = "shipper.json";

struct ShipperMetrics {
  telemetry::Family<telemetry::Counter>& uploads;
  telemetry::Family<telemetry::Counter>& upload_failures;
  telemetry::Family<telemetry::Counter>& syncs;
  telemetry::Family<telemetry::Counter>& sync_failures;
  telemetry::Family<telemetry::Gauge>& pending;

  static ShipperMetrics& Get() {
    auto& r = telemetry::Registry::Default();
    static ShipperMetrics m{
        r.AddCounter("thanos_shipper_uploads_total", "Blocks uploaded to the object store.",
                     {"signal"}),
        r.AddCounter("thanos_shipper_upload_failures_total",
                     "Block uploads that failed (they are retried).", {"signal"}),
        r.AddCounter("thanos_shipper_dir_syncs_total", "Shipper passes over the local blocks.",
                     {"signal"}),
        r.AddCounter("thanos_shipper_dir_sync_failures_total", "Shipper passes that failed.",
                     {"signal"}),
        r.AddGauge("sightline_shipper_pending_blocks",
                   "Complete local blocks not yet in the object store.", {"signal"}),
    };
    return m;
  }
};

}  // namespace

Shipper::Shipper(io::Env* env, io::ObjectStore* store, ShipperOptions options)
    : env_(env),
      store_(store),
      options_(std::move(options)),
      backoff_(options_.min_backoff),
      worker_("ship-" + options_.signal, options_.interval, [this] { return Pass(); }) {}

Shipper::~Shipper() { Stop(); }

Status Shipper::Init() {
  std::string path = options_.local_dir + "/" + kStateFile;
  SL_RETURN_IF_ERROR(env_->CreateDirs(options_.local_dir));
  if (!env_->FileExists(path)) return Status::Ok();
  SL_ASSIGN_OR_RETURN(std::string text, env_->ReadFile(path));
  simdjson::dom::parser parser;
  simdjson::padded_string padded(text);
  simdjson::dom::element root;
  simdjson::dom::array arr;
  if (parser.parse(padded).get(root) != simdjson::SUCCESS ||
      root["uploaded"].get_array().get(arr) != simdjson::SUCCESS) {
    // A broken state file costs re-uploads, never data: uploads are idempotent.
    log::Warn("shipper state file unreadable; blocks will be uploaded again",
              {{"file", path}, {"signal", options_.signal}});
    return Status::Ok();
  }
  std::lock_guard<std::mutex> lock(mu_);
  for (auto e : arr) {
    std::string_view s;
    if (e.get_string().get(s) != simdjson::SUCCESS) continue;
    auto u = Ulid::Parse(s);
    if (u.ok()) uploaded_.insert(*u);
  }
  return Status::Ok();
}

bool Shipper::IsUploaded(const Ulid& ulid) const {
  std::lock_guard<std::mutex> lock(mu_);
  return uploaded_.count(ulid) != 0;
}

std::set<Ulid> Shipper::Uploaded() const {
  std::lock_guard<std::mutex> lock(mu_);
  return uploaded_;
}

Status Shipper::SaveState() {
  JsonWriter w;
  w.BeginObject().Key("version").Int(1).Key("uploaded").BeginArray();
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (const auto& u : uploaded_) w.String(u.ToString());
  }
  w.EndArray().EndObject();
  return env_->WriteFileAtomic(options_.local_dir + "/" + kStateFile, w.str() + "\n");
}

namespace {

// Relative paths of every file under `dir` (recursively), sorted. A child is a
// directory when it can be listed.
Status WalkFiles(io::Env* env, const std::string& dir, const std::string& rel,
                 std::vector<std::string>* out) {
  SL_ASSIGN_OR_RETURN(std::vector<std::string> children, env->GetChildren(dir));
  for (const auto& c : children) {
    if (c == "." || c == "..") continue;
    std::string path = dir + "/" + c;
    std::string child_rel = rel.empty() ? c : rel + "/" + c;
    auto sub = env->GetChildren(path);
    if (sub.ok()) {
      SL_RETURN_IF_ERROR(WalkFiles(env, path, child_rel, out));
    } else {
      out->push_back(child_rel);
    }
  }
  return Status::Ok();
}

}  // namespace

Status Shipper::UploadBlock(const Ulid& ulid) {
  std::string dir = options_.local_dir + "/" + ulid.ToString();
  SL_ASSIGN_OR_RETURN(std::string meta_json, env_->ReadFile(dir + "/meta.json"));
  SL_ASSIGN_OR_RETURN(BlockMeta meta, BlockMeta::Parse(meta_json));

  std::vector<std::string> files;
  SL_RETURN_IF_ERROR(WalkFiles(env_, dir, "", &files));
  std::sort(files.begin(), files.end());
  std::string prefix = BlockPrefix(options_.remote_prefix, ulid);
  meta.files.clear();
  for (const auto& rel : files) {
    if (rel == "meta.json") continue;
    std::string path = dir + "/" + rel;
    SL_ASSIGN_OR_RETURN(uint64_t size, env_->GetFileSize(path));
    SL_RETURN_IF_ERROR(store_->PutFile(prefix + rel, path).Annotate("upload " + prefix + rel));
    meta.files.push_back({rel, size});
  }
  // The Thanos section, as the sidecar writes it; meta.json goes last.
  if (meta.labels.empty()) meta.labels = options_.external_labels;
  meta.source = options_.source;
  meta.files.push_back({"meta.json", 0});
  if (meta.signal.empty()) meta.signal = options_.signal;
  SL_RETURN_IF_ERROR(store_->Put(prefix + "meta.json", meta.ToJson()).Annotate("upload " + prefix + "meta.json"));
  return Status::Ok();
}

Result<int> Shipper::Sync() {
  std::lock_guard<std::mutex> sync_lock(sync_mu_);
  auto& metrics = ShipperMetrics::Get();
  metrics.syncs.WithLabels({options_.signal}).Inc();
  SL_ASSIGN_OR_RETURN(std::vector<std::string> children, env_->GetChildren(options_.local_dir));
  std::vector<Ulid> pending;
  for (const auto& name : children) {
    auto ulid = Ulid::Parse(name);
    if (!ulid.ok() || IsUploaded(*ulid)) continue;
    if (!env_->FileExists(options_.local_dir + "/" + name + "/meta.json")) continue;  // still being written
    pending.push_back(*ulid);
  }
  std::sort(pending.begin(), pending.end());
  metrics.pending.WithLabels({options_.signal}).Set(static_cast<double>(pending.size()));
  int done = 0;
  for (const auto& ulid : pending) {
    Status s = UploadBlock(ulid);
    if (!s.ok()) {
      metrics.upload_failures.WithLabels({options_.signal}).Inc();
      metrics.sync_failures.WithLabels({options_.signal}).Inc();
      if (options_.on_upload_failure) options_.on_upload_failure();
      log::Warn("block upload failed; will retry",
                {{"signal", options_.signal}, {"block", ulid.ToString()}, {"err", s.ToString()}});
      return s;
    }
    {
      std::lock_guard<std::mutex> lock(mu_);
      uploaded_.insert(ulid);
    }
    SL_RETURN_IF_ERROR(SaveState());
    metrics.uploads.WithLabels({options_.signal}).Inc();
    metrics.pending.WithLabels({options_.signal}).Set(static_cast<double>(pending.size() - ++done));
    log::Info("uploaded block", {{"signal", options_.signal}, {"block", ulid.ToString()},
                                 {"prefix", options_.remote_prefix}});
  }
  return done;
}

void Shipper::Start() { worker_.Start(/*first_delay=*/std::chrono::milliseconds(0)); }

void Shipper::Notify() { worker_.Wake(); }

void Shipper::Stop() { worker_.Stop(); }

PeriodicWorker::Next Shipper::Pass() {
  if (Sync().ok()) {
    backoff_ = options_.min_backoff;
    return PeriodicWorker::Next::Period();
  }
  // After a failure the backoff holds even if new blocks arrive: a store
  // that is down should not be hammered by every cut.
  const auto wait = backoff_;
  backoff_ = std::min(backoff_ * 2, options_.max_backoff);
  return PeriodicWorker::Next::After(wait, /*wakeable=*/false);
}

}  // namespace sightline::blocks
