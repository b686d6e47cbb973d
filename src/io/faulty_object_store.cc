#include "io/faulty_object_store.h"

#include <bit>
#include <fstream>
#include <sstream>
#include <thread>

namespace sightline::io {
namespace {

const char* OpName(FaultOp op) {
  switch (op) {
    case kFaultPut:
      return "put";
    case kFaultPutFile:
      return "put_file";
    case kFaultGet:
      return "get";
    case kFaultGetRange:
      return "get_range";
    case kFaultHead:
      return "head";
    case kFaultList:
      return "list";
    case kFaultDelete:
      return "delete";
    case kFaultDeleteMany:
      return "delete_many";
    default:
      return "op";
  }
}

int OpIndex(FaultOp op) { return std::countr_zero(static_cast<uint32_t>(op)); }

}  // namespace

FaultyObjectStore::FaultyObjectStore(ObjectStore* inner, FaultOptions opts)
    : inner_(inner), opts_(opts), rng_(opts.seed) {}

void FaultyObjectStore::SetOptions(const FaultOptions& opts) {
  std::lock_guard lock(mu_);
  opts_ = opts;
  rng_.seed(opts.seed);
}

void FaultyObjectStore::FailNext(uint32_t ops, int n, StatusCode code) {
  if (n <= 0) return;
  std::lock_guard lock(mu_);
  fail_next_.push_back({ops, n, code});
}

void FaultyObjectStore::TearNext(int n, TornUpload kind) {
  if (n <= 0) return;
  std::lock_guard lock(mu_);
  tear_next_.emplace_back(n, kind);
}

void FaultyObjectStore::Clear() {
  std::lock_guard lock(mu_);
  fail_next_.clear();
  tear_next_.clear();
  opts_.error_probability = 0;
  opts_.torn_probability = 0;
  opts_.latency = std::chrono::microseconds(0);
}

uint64_t FaultyObjectStore::injected() const {
  std::lock_guard lock(mu_);
  return injected_;
}

uint64_t FaultyObjectStore::calls(FaultOp op) const {
  std::lock_guard lock(mu_);
  return calls_[OpIndex(op)];
}

Status FaultyObjectStore::Before(FaultOp op, std::string_view key) {
  std::chrono::microseconds latency{0};
  Status injected;
  {
    std::lock_guard lock(mu_);
    ++calls_[OpIndex(op)];
    if (opts_.latency_ops & op) latency = opts_.latency;
    std::optional<StatusCode> code;
    for (auto it = fail_next_.begin(); it != fail_next_.end(); ++it) {
      if (it->ops & op) {
        code = it->code;
        if (--it->remaining == 0) fail_next_.erase(it);
        break;
      }
    }
    if (!code && (opts_.error_ops & op) && opts_.error_probability > 0 &&
        std::uniform_real_distribution<double>(0, 1)(rng_) < opts_.error_probability) {
      code = opts_.error_code;
    }
    if (code) {
      ++injected_;
      injected = Status(
          *code, std::string("injected fault: ") + OpName(op) + " " + std::string(key) + " failed");
    }
  }
  if (latency.count() > 0) std::this_thread::sleep_for(latency);
  return injected;
}

bool FaultyObjectStore::ShouldTear(TornUpload* kind) {
  std::lock_guard lock(mu_);
  if (!tear_next_.empty()) {
    *kind = tear_next_.front().second;
    if (--tear_next_.front().first == 0) tear_next_.pop_front();
    ++injected_;
    return true;
  }
  if (opts_.torn_probability > 0 &&
      std::uniform_real_distribution<double>(0, 1)(rng_) < opts_.torn_probability) {
    *kind = opts_.torn_kind;
    ++injected_;
    return true;
  }
  return false;
}

Status FaultyObjectStore::TornPut(std::string_view key, std::string_view data,
                                  const PutOptions& opts, TornUpload kind) {
  if (kind == TornUpload::kTruncated) {
    SL_RETURN_IF_ERROR(inner_->Put(key, data.substr(0, data.size() / 2), opts));
    return UnavailableError("injected fault: upload of " + std::string(key) + " torn after " +
                            std::to_string(data.size() / 2) + " of " + std::to_string(data.size()) +
                            " bytes");
  }
  SL_RETURN_IF_ERROR(inner_->Put(key, data, opts));
  return UnavailableError("injected fault: upload of " + std::string(key) +
                          " stored but reported as failed");
}

Status FaultyObjectStore::Put(std::string_view key, std::string_view data, const PutOptions& opts) {
  SL_RETURN_IF_ERROR(Before(kFaultPut, key));
  TornUpload kind;
  if (ShouldTear(&kind)) return TornPut(key, data, opts, kind);
  return inner_->Put(key, data, opts);
}

Status FaultyObjectStore::PutFile(std::string_view key, const std::string& local_path,
                                  const PutOptions& opts) {
  SL_RETURN_IF_ERROR(Before(kFaultPutFile, key));
  TornUpload kind;
  if (!ShouldTear(&kind)) return inner_->PutFile(key, local_path, opts);
  if (kind == TornUpload::kWrittenThenError) {
    SL_RETURN_IF_ERROR(inner_->PutFile(key, local_path, opts));
    return UnavailableError("injected fault: upload of " + std::string(key) +
                            " stored but reported as failed");
  }
  std::ifstream in(local_path, std::ios::binary);
  if (!in) return NotFoundError("cannot open " + local_path + " for upload");
  std::ostringstream buf;
  buf << in.rdbuf();
  return TornPut(key, buf.str(), opts, kind);
}

Result<std::string> FaultyObjectStore::Get(std::string_view key) {
  SL_RETURN_IF_ERROR(Before(kFaultGet, key));
  return inner_->Get(key);
}

Result<std::string> FaultyObjectStore::GetRange(std::string_view key, uint64_t offset,
                                                uint64_t length) {
  SL_RETURN_IF_ERROR(Before(kFaultGetRange, key));
  return inner_->GetRange(key, offset, length);
}

Result<ObjectInfo> FaultyObjectStore::Head(std::string_view key) {
  SL_RETURN_IF_ERROR(Before(kFaultHead, key));
  return inner_->Head(key);
}

Result<ListPage> FaultyObjectStore::List(const ListOptions& opts) {
  SL_RETURN_IF_ERROR(Before(kFaultList, opts.prefix));
  return inner_->List(opts);
}

Status FaultyObjectStore::Delete(std::string_view key) {
  SL_RETURN_IF_ERROR(Before(kFaultDelete, key));
  return inner_->Delete(key);
}

Status FaultyObjectStore::DeleteMany(const std::vector<std::string>& keys) {
  SL_RETURN_IF_ERROR(Before(kFaultDeleteMany, keys.empty() ? "" : keys.front()));
  return inner_->DeleteMany(keys);
}

}  // namespace sightline::io
