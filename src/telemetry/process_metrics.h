// process_* metrics read from /proc when /metrics is scraped, with the names
// and meanings of the Prometheus client libraries, so dashboards built for
// Prometheus components work for Sightline too.
#pragma once

#include "telemetry/metrics.h"

namespace sightline::telemetry {

// Adds a collector for process_cpu_seconds_total, process_resident_memory_bytes,
// process_virtual_memory_bytes, process_start_time_seconds, process_open_fds
// and process_max_fds. Call once per registry.
void RegisterProcessCollector(Registry& registry);

}  // namespace sightline::telemetry
