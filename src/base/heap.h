// Heap: what the process allocator holds, and giving its free pages back to
// the operating system.
//
// The release binary links jemalloc (src/app/CMakeLists.txt); sanitizer
// builds use the sanitizer's allocator and tests may use glibc's. These
// functions find jemalloc at run time (weak `mallctl`), so every build
// links them:
//  - jemalloc: ReleaseFreeHeapMemory flushes the calling thread's cache and
//    purges the dirty and muzzy pages of every arena (madvise), which
//    jemalloc would otherwise return only after its decay time and only
//    when the arena sees more allocation activity. ReadHeapStats reads
//    stats.{allocated,active,resident,mapped,retained}.
//  - otherwise: ReleaseFreeHeapMemory calls glibc's malloc_trim(0) (a no-op
//    under ASan); ReadHeapStats returns nullopt.
//
// Call ReleaseFreeHeapMemory after a phase that freed much (WAL replay
// before a server reports ready): it costs a few milliseconds per GiB of
// free pages, never frees memory in use, and is safe from any thread at
// any time.
#pragma once

#include <cstdint>
#include <optional>

namespace sightline {

struct HeapStats {
  uint64_t allocated = 0;  // bytes the program holds
  uint64_t active = 0;     // bytes in pages with live allocations
  uint64_t resident = 0;   // allocator pages in RAM (incl. metadata and free pages not purged)
  uint64_t mapped = 0;
  uint64_t retained = 0;  // virtual memory kept for reuse, not resident
};

// True when the process runs on jemalloc.
bool HeapIsJemalloc();

// Returns free heap pages to the OS (see above).
void ReleaseFreeHeapMemory();

// jemalloc's counters (refreshed first); nullopt on other allocators.
std::optional<HeapStats> ReadHeapStats();

}  // namespace sightline
