// An in-memory LogQuerier for engine tests and the conformance runner:
// streams keyed by labels, entries kept in ingest order and returned sorted
// by timestamp (stable), as storage.h requires.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "logs/logql/storage.h"

namespace sightline::logs::logql::testing {

class MemoryLogQuerier : public LogQuerier {
 public:
  void Add(const Labels& stream, Entry e);
  void Clear() { streams_.clear(); }
  size_t num_streams() const { return streams_.size(); }
  // How many SelectLogs calls asked for which literal hints (pushdown tests).
  const std::vector<std::vector<std::string>>& seen_hints() const { return hints_; }
  // The label_trace_id hint of each SelectLogs call ("" when unset).
  const std::vector<std::string>& seen_label_trace_ids() const { return label_trace_ids_; }

  Result<std::vector<std::unique_ptr<StreamIterator>>> SelectLogs(
      const SelectLogsParams& params) override;
  Result<std::vector<Labels>> Series(const std::vector<Matcher>& matchers, int64_t start_ns,
                                     int64_t end_ns) override;
  Result<std::vector<std::string>> LabelNames(const std::vector<Matcher>& matchers,
                                              int64_t start_ns, int64_t end_ns) override;
  Result<std::vector<std::string>> LabelValues(const std::string& name,
                                               const std::vector<Matcher>& matchers,
                                               int64_t start_ns, int64_t end_ns) override;

 private:
  struct Stream {
    Labels labels;
    std::vector<Entry> entries;
    bool sorted = true;
  };
  std::vector<const Stream*> Match(const std::vector<Matcher>& matchers, int64_t start_ns,
                                   int64_t end_ns);
  std::map<Labels, Stream> streams_;
  std::vector<std::vector<std::string>> hints_;
  std::vector<std::string> label_trace_ids_;
};

}  // namespace sightline::logs::logql::testing
