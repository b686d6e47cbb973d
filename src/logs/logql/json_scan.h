// A small JSON scanner for the json and unpack parsers: walks a document
// without building a tree, keeps numbers as their source text (Loki shows
// `1.50` as written), and reports syntax errors. Internal to src/logs/logql.
#pragma once

#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"

namespace sightline::logs::logql {

// Calls fn(flattened_key, value) for every string, number and boolean
// field; nested objects join keys with '_' (keys unsanitised); arrays and
// nulls are skipped. False (and *err) on a syntax error or a non-object.
bool JsonFlatten(std::string_view doc,
                 const std::function<void(std::string_view, std::string_view)>& fn,
                 std::string* err);

// Top-level string fields only (unpack).
bool JsonTopLevelStrings(std::string_view doc,
                         const std::function<void(std::string_view, std::string_view)>& fn,
                         std::string* err);

bool JsonValidate(std::string_view doc, std::string* err);

// A json parser expression: `a.b[0]["c d"]`.
struct JsonPathElem {
  bool index = false;
  int64_t i = 0;
  std::string key;
};
Result<std::vector<JsonPathElem>> ParseJsonPath(std::string_view expr);

// The value at `path` in a valid document: strings unescaped, numbers and
// booleans as written, objects and arrays as their JSON text; "" when absent
// or null.
void JsonExtract(std::string_view doc, const std::vector<JsonPathElem>& path, std::string* out);

}  // namespace sightline::logs::logql
