#include "blocks/bucket.h"

#include <algorithm>

#include "io/object_store.h"
#include "telemetry/log.h"

namespace sightline::blocks {

std::string TenantPrefix(std::string_view signal, std::string_view tenant) {
  std::string p(signal);
  p += '/';
  p += tenant;
  p += '/';
  return p;
}

std::string BlockPrefix(std::string_view tenant_prefix, const Ulid& ulid) {
  std::string p(tenant_prefix);
  p += ulid.ToString();
  p += '/';
  return p;
}

namespace {

// Common prefixes one level below `prefix`, without `prefix` and the
// trailing '/'.
Result<std::vector<std::string>> ListChildren(io::ObjectStore& store, std::string_view prefix) {
  std::vector<std::string> out;
  io::ListOptions opts;
  opts.prefix = std::string(prefix);
  opts.delimiter = "/";
  while (true) {
    SL_ASSIGN_OR_RETURN(io::ListPage page, store.List(opts));
    for (const auto& cp : page.common_prefixes) {
      std::string name = cp.substr(prefix.size());
      if (!name.empty() && name.back() == '/') name.pop_back();
      if (!name.empty()) out.push_back(std::move(name));
    }
    if (page.next_continuation_token.empty()) break;
    opts.continuation_token = page.next_continuation_token;
  }
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace

Result<std::vector<std::string>> ListTenants(io::ObjectStore& store, std::string_view signal) {
  return ListChildren(store, std::string(signal) + "/");
}

Result<BlockMeta> ReadMeta(io::ObjectStore& store, std::string_view tenant_prefix, const Ulid& ulid) {
  SL_ASSIGN_OR_RETURN(std::string json, store.Get(BlockPrefix(tenant_prefix, ulid) + "meta.json"));
  SL_ASSIGN_OR_RETURN(BlockMeta meta, BlockMeta::Parse(json));
  if (meta.ulid != ulid) {
    return DataLossError("meta.json of block " + ulid.ToString() + " names block " +
                         meta.ulid.ToString());
  }
  return meta;
}

Result<std::vector<BlockMeta>> ListBlocks(
    io::ObjectStore& store, std::string_view tenant_prefix,
    const std::function<void(const std::string&, const Status&)>& on_bad) {
  SL_ASSIGN_OR_RETURN(std::vector<std::string> children, ListChildren(store, tenant_prefix));
  std::vector<BlockMeta> out;
  for (const auto& name : children) {
    auto ulid = Ulid::Parse(name);
    if (!ulid.ok()) continue;  // not a block (e.g. a marker folder)
    auto meta = ReadMeta(store, tenant_prefix, *ulid);
    if (meta.ok()) {
      out.push_back(std::move(meta).value());
    } else if (meta.status().code() != StatusCode::kNotFound) {
      if (on_bad) on_bad(std::string(tenant_prefix) + name + "/meta.json", meta.status());
    }
    // NotFound: partial upload; not a block yet.
  }
  return out;
}

Status DeleteBlock(io::ObjectStore& store, std::string_view tenant_prefix, const Ulid& ulid) {
  std::string prefix = BlockPrefix(tenant_prefix, ulid);
  SL_RETURN_IF_ERROR(store.Delete(prefix + "meta.json"));
  std::vector<std::string> keys;
  SL_RETURN_IF_ERROR(io::ListAll(store, prefix, [&](const io::ObjectInfo& info) {
    keys.push_back(info.key);
    return Status::Ok();
  }));
  if (keys.empty()) return Status::Ok();
  return store.DeleteMany(keys);
}

Result<int> ApplyRetention(io::ObjectStore& store, std::string_view tenant_prefix, int64_t cutoff_ms) {
  SL_ASSIGN_OR_RETURN(std::vector<BlockMeta> metas, ListBlocks(store, tenant_prefix));
  int deleted = 0;
  for (const auto& m : metas) {
    if (m.max_time > cutoff_ms) continue;
    SL_RETURN_IF_ERROR(DeleteBlock(store, tenant_prefix, m.ulid));
    log::Info("deleted block past retention",
              {{"block", m.ulid.ToString()}, {"prefix", tenant_prefix}, {"max_time", m.max_time}});
    ++deleted;
  }
  return deleted;
}

}  // namespace sightline::blocks
