// Blocks in the object store: where they live, how to find them, how to
// remove them. Layout (DESIGN.md §5):
//
//   <signal>/<tenant>/<ULID>/meta.json     written last; the block exists once it does
//   <signal>/<tenant>/<ULID>/<files...>    index, chunks/000001, ... (per signal)
//
// A block directory without meta.json is an upload in progress or an
// abandoned one: readers skip it; DeletePartialBlocks() may remove it.
//
// Thread-safety: free functions; safe to call concurrently (the ObjectStore
// is thread-safe). Deleting a block that another process is reading is the
// caller's policy (the compactor deletes only after a delay).
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"
#include "blocks/meta.h"

namespace sightline::io {
class ObjectStore;
}

namespace sightline::blocks {

// "metrics/anonymous/" — the prefix of one tenant's blocks of one signal.
std::string TenantPrefix(std::string_view signal, std::string_view tenant);
// "metrics/anonymous/01H.../"
std::string BlockPrefix(std::string_view tenant_prefix, const Ulid& ulid);

// Tenants that have blocks of `signal` (sorted).
Result<std::vector<std::string>> ListTenants(io::ObjectStore& store, std::string_view signal);

// Every complete block (one with meta.json) under `tenant_prefix`, sorted by
// ULID. Blocks whose meta.json does not parse are skipped and reported
// through `on_bad` (if set) rather than failing the listing.
Result<std::vector<BlockMeta>> ListBlocks(
    io::ObjectStore& store, std::string_view tenant_prefix,
    const std::function<void(const std::string& key, const Status&)>& on_bad = nullptr);

Result<BlockMeta> ReadMeta(io::ObjectStore& store, std::string_view tenant_prefix, const Ulid& ulid);

// Deletes meta.json first (the block disappears for readers at once), then
// every other object of the block.
Status DeleteBlock(io::ObjectStore& store, std::string_view tenant_prefix, const Ulid& ulid);

// Deletes every block whose max_time is at or before `cutoff_ms` (retention).
// Returns how many were deleted.
Result<int> ApplyRetention(io::ObjectStore& store, std::string_view tenant_prefix, int64_t cutoff_ms);

}  // namespace sightline::blocks
