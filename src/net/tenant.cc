#include "net/tenant.h"

#include <cstdio>

namespace sightline::net {
namespace {

bool AllowedTenantChar(char c) {
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) return true;
  switch (c) {
    case '!':
    case '-':
    case '_':
    case '.':
    case '*':
    case '\'':
    case '(':
    case ')':
      return true;
    default:
      return false;
  }
}

}  // namespace

Status ValidateTenantId(std::string_view id) {
  if (id.empty()) return InvalidArgumentError("tenant ID is empty");
  if (id.size() > kMaxTenantIdLength) {
    return InvalidArgumentError("tenant ID is too long: max " + std::to_string(kMaxTenantIdLength) +
                                " characters");
  }
  if (id == "." || id == "..") return InvalidArgumentError("tenant ID is '.' or '..'");
  for (char c : id) {
    if (!AllowedTenantChar(c)) {
      std::string shown(1, c);
      if (c < 0x20 || c >= 0x7f) {
        char hex[8];
        std::snprintf(hex, sizeof(hex), "\\x%02x", static_cast<unsigned char>(c));
        shown = hex;
      }
      return InvalidArgumentError("tenant ID contains unsupported character '" + shown +
                                  "'; allowed: a-z A-Z 0-9 ! - _ . * ' ( )");
    }
  }
  return Status::Ok();
}

Result<std::string> ResolveTenant(std::optional<std::string_view> x_scope_orgid,
                                  bool multitenancy_enabled) {
  if (!multitenancy_enabled) return std::string(kAnonymousTenant);
  if (!x_scope_orgid || x_scope_orgid->empty()) return UnauthenticatedError("no org id");
  SL_RETURN_IF_ERROR(ValidateTenantId(*x_scope_orgid));
  return std::string(*x_scope_orgid);
}

}  // namespace sightline::net
