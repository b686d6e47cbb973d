// Helpers for profiles tests: small pprof profiles built with the real
// protobuf library.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "pprof/profile.pb.h"

namespace sightline::profiles::testutil {

// A profile with one sample type; each stack is root-first function names.
struct StackValue {
  StackValue(std::vector<std::string> f, int64_t v, std::string span = "")
      : frames(std::move(f)), value(v), span_id(std::move(span)) {}
  std::vector<std::string> frames;  // root first
  int64_t value;
  std::string span_id;  // "" for none
};

inline perftools::profiles::Profile MakeProfile(const std::string& type, const std::string& unit,
                                                const std::string& period_type,
                                                const std::string& period_unit,
                                                const std::vector<StackValue>& stacks,
                                                int64_t time_nanos = 0) {
  perftools::profiles::Profile p;
  std::vector<std::string> strings = {""};
  auto str = [&](const std::string& s) -> int64_t {
    for (size_t i = 0; i < strings.size(); ++i) {
      if (strings[i] == s) return static_cast<int64_t>(i);
    }
    strings.push_back(s);
    return static_cast<int64_t>(strings.size() - 1);
  };
  auto* st = p.add_sample_type();
  st->set_type(str(type));
  st->set_unit(str(unit));
  p.mutable_period_type()->set_type(str(period_type));
  p.mutable_period_type()->set_unit(str(period_unit));
  p.set_period(10000000);
  p.set_time_nanos(time_nanos);
  std::vector<std::string> fns;
  auto fn = [&](const std::string& name) -> uint64_t {
    for (size_t i = 0; i < fns.size(); ++i) {
      if (fns[i] == name) return i + 1;
    }
    fns.push_back(name);
    auto* f = p.add_function();
    f->set_id(fns.size());
    f->set_name(str(name));
    f->set_filename(str(name + ".go"));
    auto* l = p.add_location();
    l->set_id(fns.size());
    l->set_address(0x1000 + fns.size());
    auto* line = l->add_line();
    line->set_function_id(fns.size());
    line->set_line(10);
    return fns.size();
  };
  for (const auto& sv : stacks) {
    auto* s = p.add_sample();
    for (size_t i = sv.frames.size(); i-- > 0;) s->add_location_id(fn(sv.frames[i]));
    s->add_value(sv.value);
    if (!sv.span_id.empty()) {
      auto* l = s->add_label();
      l->set_key(str("span_id"));
      l->set_str(str(sv.span_id));
    }
  }
  for (const auto& s : strings) p.add_string_table(s);
  return p;
}

inline perftools::profiles::Profile CpuProfile(const std::vector<StackValue>& stacks,
                                               int64_t time_nanos = 0) {
  return MakeProfile("cpu", "nanoseconds", "cpu", "nanoseconds", stacks, time_nanos);
}

inline constexpr char kCpuType[] = "process_cpu:cpu:nanoseconds:cpu:nanoseconds";

}  // namespace sightline::profiles::testutil
