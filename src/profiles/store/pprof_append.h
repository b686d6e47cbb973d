// Turning one decoded pprof profile into series of a Segment.
//
// A pprof profile with N sample types becomes N series (one per profile
// type, name:sample_type:sample_unit:period_type:period_unit), sharing the
// service's symbol table and stack tree. String pprof sample labels become
// series labels (as Pyroscope splits a profile by its labels), except
// span_id, trace_id and profile_id: span_id is kept per sample for span
// profiles (SelectMergeSpanProfile), the others are dropped. Samples whose
// value is zero are not stored.
//
// The profile's __name__ is the base label's when given (the push API sends
// it); otherwise it is derived from the sample and period types as Pyroscope
// does for Go and Node SDK profiles: cpu → process_cpu, wall → wall,
// alloc_*/inuse_* → memory, goroutine(s) → goroutines, contentions/delay →
// mutex or block.
//
// Thread-safety: none; the caller owns the Segment.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "base/status.h"
#include "profiles/store/segment.h"

namespace perftools::profiles {
class Profile;
}

namespace sightline::profiles {

// The __name__ Pyroscope gives to a profile of these types.
std::string ProfileNameFor(const perftools::profiles::Profile& p);

// The profile types a profile holds, in sample-type order.
std::vector<ProfileType> ProfileTypesOf(const perftools::profiles::Profile& p,
                                        const std::string& name);

// Checks that every id the samples and locations use resolves and that each
// sample has one value per sample type: what AppendPprof needs.
Status CheckPprof(const perftools::profiles::Profile& p);

// Appends `p` to `seg` (after CheckPprof; a failed append leaves only unused
// symbols behind). `base` holds service_name and the series labels
// (normalized or not); `time_ms` is the profile's timestamp.
// InvalidArgument for a profile whose ids do not resolve.
Status AppendPprof(Segment* seg, Labels base, const perftools::profiles::Profile& p,
                   int64_t time_ms);

// Parses a span_id label value (16 hex digits) to its number; 0 if not hex.
uint64_t ParseSpanId(std::string_view hex);

}  // namespace sightline::profiles
