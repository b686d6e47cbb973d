// Tenant resolution from the X-Scope-OrgID header (the Cortex/Loki/Tempo/
// Mimir convention, DESIGN.md §6).
//
// Without multi-tenancy every request belongs to tenant "anonymous" and the
// header is ignored, as Loki does with auth_enabled: false. With it, the
// header is required and must be a valid tenant ID:
//   - 1 to 150 bytes;
//   - only [a-zA-Z0-9] and ! - _ . * ' ( );
//   - not "." or "..".
// Tenant IDs name object-store prefixes (<signal>/<tenant>/...), which is why
// path separators and dot-segments are refused. Federated IDs ("a|b") are not
// accepted.
//
// Errors: Unauthenticated "no org id" when the header is missing or empty
// (the HTTP server answers 401); InvalidArgument for an invalid ID (400).
// Thread-safety: pure functions.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "base/status.h"

namespace sightline::net {

inline constexpr std::string_view kTenantHeader = "X-Scope-OrgID";
inline constexpr std::string_view kAnonymousTenant = "anonymous";
inline constexpr size_t kMaxTenantIdLength = 150;

// OK when `id` is a valid tenant ID (rules above).
Status ValidateTenantId(std::string_view id);

Result<std::string> ResolveTenant(std::optional<std::string_view> x_scope_orgid,
                                  bool multitenancy_enabled);

}  // namespace sightline::net
