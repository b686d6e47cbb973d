// ListPageBuilder: ListObjectsV2 paging rules for backends that can walk
// their keys in ascending order (memory, filesystem). One builder per List
// call; not thread-safe.
//
// The caller offers keys in strictly ascending byte order, starting anywhere
// at or before lower_bound(), and obeys each Decision. The builder applies
// prefix, start_after, continuation token, delimiter roll-up and max_keys
// exactly as S3 does, and produces the continuation token.
//
// Continuation tokens are the last entry (key or common prefix) of the page,
// prefixed with a version byte; they are opaque to callers.
#pragma once

#include <string>
#include <string_view>

#include "base/status.h"
#include "io/object_store.h"

namespace sightline::io {

class ListPageBuilder {
 public:
  // InvalidArgument if the continuation token was not made by a builder.
  static Result<ListPageBuilder> Create(const ListOptions& opts);

  // No key below this can be part of the page.
  const std::string& lower_bound() const { return lower_bound_; }

  struct Decision {
    enum Kind {
      kSkip,  // not part of the page; offer the next key
      kTake,  // call Take() with this key's ObjectInfo, then offer the next key
      kStop,  // the page is complete; offer nothing more
    };
    Kind kind = kSkip;
    // With kSkip: when non-empty, every key starting with this string will be
    // skipped too, so the caller may jump past them.
    std::string skip_prefix;
  };
  Decision Offer(std::string_view key);
  void Take(ObjectInfo info);

  ListPage Finish() &&;

 private:
  ListPageBuilder() = default;

  std::string prefix_;
  std::string delimiter_;
  std::string start_after_;
  std::string token_entry_;  // decoded continuation token, "" if none
  std::string lower_bound_;
  std::string last_common_prefix_;
  std::string last_entry_;
  size_t max_entries_ = 1000;
  size_t entries_ = 0;
  ListPage page_;
};

// The smallest string greater than every string that starts with `prefix`;
// empty when there is none (prefix is all 0xff bytes).
std::string PrefixSuccessor(std::string_view prefix);

}  // namespace sightline::io
