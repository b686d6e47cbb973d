#include "base/heap.h"

#include <malloc.h>

#include <cstddef>
#include <string>

// jemalloc's control interface, resolved at run time: null unless the
// process links jemalloc (Debian builds it without a symbol prefix).
extern "C" int mallctl(const char* name, void* oldp, size_t* oldlenp, void* newp, size_t newlen)
    __attribute__((weak));

namespace sightline {
namespace {

// MALLCTL_ARENAS_ALL: "arena.<i>.purge" with this index purges every arena.
constexpr unsigned kAllArenas = 4096;

bool ReadU64(const char* name, uint64_t* out) {
  size_t v = 0;
  size_t len = sizeof(v);
  if (mallctl(name, &v, &len, nullptr, 0) != 0) return false;
  *out = v;
  return true;
}

}  // namespace

bool HeapIsJemalloc() {
  if (mallctl == nullptr) return false;
  const char* version = nullptr;
  size_t len = sizeof(version);
  return mallctl("version", &version, &len, nullptr, 0) == 0 && version != nullptr;
}

void ReleaseFreeHeapMemory() {
  if (!HeapIsJemalloc()) {
    ::malloc_trim(0);
    return;
  }
  (void)mallctl("thread.tcache.flush", nullptr, nullptr, nullptr, 0);
  const std::string purge = "arena." + std::to_string(kAllArenas) + ".purge";
  (void)mallctl(purge.c_str(), nullptr, nullptr, nullptr, 0);
}

std::optional<HeapStats> ReadHeapStats() {
  if (!HeapIsJemalloc()) return std::nullopt;
  // The stats are a snapshot taken at the last "epoch" write.
  uint64_t epoch = 1;
  size_t len = sizeof(epoch);
  (void)mallctl("epoch", &epoch, &len, &epoch, len);
  HeapStats s;
  if (!ReadU64("stats.allocated", &s.allocated)) return std::nullopt;  // built without stats
  (void)ReadU64("stats.active", &s.active);
  (void)ReadU64("stats.resident", &s.resident);
  (void)ReadU64("stats.mapped", &s.mapped);
  (void)ReadU64("stats.retained", &s.retained);
  return s;
}

}  // namespace sightline
