// OTLP logs → Loki streams, following Loki's OTLP ingestion convention
// (Loki 3.x docs, "Ingesting logs to Loki using OpenTelemetry Collector"):
//
//  - Resource attributes in kIndexedResourceAttributes become stream labels,
//    their names normalized Prometheus-style ("service.name" → service_name;
//    every character outside [a-zA-Z0-9_] becomes '_'). A resource without
//    service.name gets service_name="unknown_service".
//  - Every other resource attribute, the scope (scope_name, scope_version,
//    scope attributes) and the log record's attributes become structured
//    metadata (normalized names; non-string values as text, maps and arrays
//    as JSON).
//  - trace_id and span_id (lowercase hex), severity_text, severity_number and
//    flags (when set) go to structured metadata; the severity also gives
//    `detected_level` (trace, debug, info, warn, error, fatal), which
//    Grafana's logs volume groups by.
//  - The line is the body as a string (maps and arrays as JSON); the
//    timestamp is time_unix_nano, else observed_time_unix_nano, else now.
//
// Thread-safety: pure function.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "logs/store/appender.h"

namespace opentelemetry::proto::collector::logs::v1 {
class ExportLogsServiceRequest;
}

namespace sightline::logs::ingest {

extern const std::array<std::string_view, 18> kIndexedResourceAttributes;

// "service.name" → "service_name"; a leading digit gets "key_" prepended.
std::string NormalizeAttributeName(std::string_view name);

// One PushStream per resource (records of one resource share its labels).
std::vector<PushStream> TranslateOtlpLogs(
    const opentelemetry::proto::collector::logs::v1::ExportLogsServiceRequest& request,
    int64_t now_ns);

}  // namespace sightline::logs::ingest
