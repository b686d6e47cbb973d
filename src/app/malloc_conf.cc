// jemalloc's compiled-in options for the sightline binary (read by jemalloc
// at its first allocation; MALLOC_CONF in the environment still overrides
// them). Builds without jemalloc (sanitizers) ignore the symbol.
//
// background_thread: free pages are returned to the OS by jemalloc's own
// threads as they decay (dirty_decay_ms, default 10 s), also when the
// process is idle. Without it jemalloc purges only inside allocation calls
// of the arena that freed them, so memory freed by threads that stopped
// allocating (the WAL replay workers once the server is ready, a burst of
// queries) stays resident indefinitely. The head also purges explicitly
// after WAL replay (ReleaseFreeHeapMemory, src/base/heap.h).
extern "C" {
// NOLINTNEXTLINE(readability-identifier-naming): the name jemalloc looks up.
extern const char* malloc_conf;
const char* malloc_conf = "background_thread:true";
}
