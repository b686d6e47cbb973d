// A small, strict XML parser for the documents S3 and STS return
// (ListBucketResult, Error, InitiateMultipartUploadResult, DeleteResult,
// AssumeRoleWithWebIdentityResponse, ...). It builds an element tree and
// keeps what those documents use: element names (namespace prefixes
// stripped), attributes, and character data with entities and CDATA
// resolved. Comments, processing instructions and the XML declaration are
// skipped; a DOCTYPE is rejected (no entity expansion, so no "billion
// laughs"). Nesting is limited to 64 levels and input to 64 MiB.
//
// Thread-safety: pure functions; elements are values.
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "base/status.h"

namespace sightline::io {

struct XmlElement {
  std::string name;  // local name: "Key", not "s3:Key"
  std::vector<std::pair<std::string, std::string>> attributes;
  std::string text;  // character data directly inside this element
  std::vector<XmlElement> children;

  // First child with this local name, or nullptr.
  const XmlElement* Child(std::string_view child_name) const;
  // All children with this local name, in document order.
  std::vector<const XmlElement*> Children(std::string_view child_name) const;
  // Text of the first such child, or "" when absent.
  std::string ChildText(std::string_view child_name) const;
};

// Parses a whole document; InvalidArgument (with the byte offset) if it is
// not well-formed.
Result<XmlElement> ParseXml(std::string_view document);

// Escapes &, <, >, " and ' for element text and attribute values.
std::string XmlEscape(std::string_view s);

}  // namespace sightline::io
