// JFR (Java Flight Recorder) → pprof, for `/ingest?format=jfr` (what
// Pyroscope's Java agent, i.e. async-profiler, and `java
// -XX:StartFlightRecording` produce). Format notes: docs/formats/profiles-jfr.md.
//
// The parser reads the chunk format itself: a file is one or more chunks,
// each a 68-byte big-endian header (magic "FLR\0", version, size, offsets
// of the last constant-pool event and of the metadata event, times,
// features; bit 0 = compressed integers), then events. The metadata event
// describes every type (classes with ordered fields, constant-pool refs and
// arrays), constant-pool events chain backwards from the header's offset,
// and every other event is decoded by the metadata. Integers are LEB128
// (9 bytes max) when compressed, big-endian otherwise; strings are null,
// empty, a constant-pool ref, UTF-8, char array or Latin-1.
//
// Events become pprof profiles as Pyroscope maps them (one profile per kind,
// __name__ given by JfrProfile::name):
//   jdk.ExecutionSample            → process_cpu  cpu:nanoseconds (not for
//                                    threads in STATE_SLEEPING), and wall
//                                    too when the recording's `event`
//                                    setting is "wall"; value 1e9/sampleRate
//   profiler.WallClockSample       → wall         wall:nanoseconds (× samples)
//   jdk.ObjectAllocationInNewTLAB  → memory alloc_in_new_tlab_{objects,bytes}
//   jdk.ObjectAllocationOutsideTLAB→ memory alloc_outside_tlab_{objects,bytes}
//   jdk.ObjectAllocationSample     → memory alloc_sample_{objects,bytes}
//   jdk.JavaMonitorEnter           → mutex  contentions:count, delay:nanoseconds
//   jdk.ThreadPark                 → block  contentions:count, delay:nanoseconds
//   profiler.LiveObject            → memory live:count
// Frames are `package/Class.method` with the line number. With a
// LabelsSnapshot (the multipart `labels` part) an event's contextId becomes
// the sample's labels and its spanId a `span_id` label.
//
// Bounds: every length is checked against the bytes that remain, nesting is
// limited, and the decoded values are capped at a small multiple of the
// input size, so a corrupt or hostile file costs memory proportional to its
// size and returns InvalidArgument with a reason.
//
// Thread-safety: stateless functions.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"
#include "pprof/profile.pb.h"

namespace sightline::profiles {

struct JfrOptions {
  // Samples per second of the cpu/wall sampler (the ingest sampleRate); a
  // sample weighs 1e9/sample_rate nanoseconds. 0 = take the period from
  // the recording's jdk.ExecutionSample setting, else 100 Hz.
  int64_t sample_rate = 0;
  int64_t time_nanos = 0;      // profile start (from)
  int64_t duration_nanos = 0;  // until - from
};

struct JfrProfile {
  std::string name;  // __name__: process_cpu, wall, memory, mutex, block
  perftools::profiles::Profile profile;
};

// Parses `jfr` (optionally with a serialized LabelsSnapshot) into profiles,
// appended to `out` in a stable order. InvalidArgument for a malformed file.
Status ParseJfr(std::string_view jfr, std::string_view labels_snapshot, const JfrOptions& options,
                std::vector<JfrProfile>* out);

}  // namespace sightline::profiles
