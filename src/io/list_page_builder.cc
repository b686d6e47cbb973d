#include "io/list_page_builder.h"

#include <algorithm>

namespace sightline::io {
namespace {

// A version byte in front of the entry, so that a token from another backend
// (or a future format) is rejected instead of silently misread.
constexpr char kTokenVersion = '1';

}  // namespace

std::string PrefixSuccessor(std::string_view prefix) {
  std::string s(prefix);
  while (!s.empty()) {
    auto last = static_cast<unsigned char>(s.back());
    if (last != 0xff) {
      s.back() = static_cast<char>(last + 1);
      return s;
    }
    s.pop_back();
  }
  return s;
}

Result<ListPageBuilder> ListPageBuilder::Create(const ListOptions& opts) {
  ListPageBuilder b;
  b.prefix_ = opts.prefix;
  b.delimiter_ = opts.delimiter;
  b.start_after_ = opts.start_after;
  if (!opts.continuation_token.empty()) {
    if (opts.continuation_token[0] != kTokenVersion) {
      return InvalidArgumentError("list: continuation token was not returned by this store");
    }
    b.token_entry_ = opts.continuation_token.substr(1);
  }
  b.max_entries_ = (opts.max_keys < 1 || opts.max_keys > 1000) ? 1000 : opts.max_keys;
  // Keys must be > start_after and, for a continued listing, > the token's
  // entry; "x" + '\0' is the smallest string greater than "x".
  b.lower_bound_ = b.prefix_;
  if (!b.start_after_.empty()) {
    std::string after = b.start_after_ + '\0';
    b.lower_bound_ = std::max(b.lower_bound_, after);
  }
  if (!b.token_entry_.empty()) {
    std::string after = b.token_entry_ + '\0';
    b.lower_bound_ = std::max(b.lower_bound_, after);
  }
  return b;
}

ListPageBuilder::Decision ListPageBuilder::Offer(std::string_view key) {
  Decision d;
  if (!key.starts_with(prefix_)) {
    // Keys with a given prefix form one contiguous range in byte order.
    d.kind = key < std::string_view(prefix_) ? Decision::kSkip : Decision::kStop;
    return d;
  }
  if (!start_after_.empty() && key <= std::string_view(start_after_)) return d;

  std::string_view entry = key;
  bool is_prefix = false;
  if (!delimiter_.empty()) {
    size_t pos = key.find(delimiter_, prefix_.size());
    if (pos != std::string_view::npos) {
      entry = key.substr(0, pos + delimiter_.size());
      is_prefix = true;
    }
  }
  // Entries up to the token were on earlier pages. Comparing the rolled-up
  // entry (not the key) matters: after a page that ended with common prefix
  // "a/", the keys "a/x" must not bring "a/" back.
  if (!token_entry_.empty() && entry <= std::string_view(token_entry_)) {
    if (is_prefix) d.skip_prefix = std::string(entry);
    return d;
  }
  if (is_prefix && entry == std::string_view(last_common_prefix_)) {
    d.skip_prefix = last_common_prefix_;
    return d;
  }
  if (entries_ == max_entries_) {
    // There is at least one more entry: the page is truncated.
    page_.next_continuation_token = kTokenVersion + last_entry_;
    d.kind = Decision::kStop;
    return d;
  }
  ++entries_;
  last_entry_.assign(entry);
  if (is_prefix) {
    last_common_prefix_.assign(entry);
    page_.common_prefixes.emplace_back(entry);
    d.skip_prefix = last_common_prefix_;
    return d;
  }
  d.kind = Decision::kTake;
  return d;
}

void ListPageBuilder::Take(ObjectInfo info) { page_.objects.push_back(std::move(info)); }

ListPage ListPageBuilder::Finish() && { return std::move(page_); }

}  // namespace sightline::io
