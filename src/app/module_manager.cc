#include "app/module_manager.h"

#include <fmt/format.h>

#include <algorithm>
#include <set>

namespace sightline::app {

void ModuleManager::Register(Module m) {
  std::string name = m.name;
  modules_[name] = std::move(m);
}

void ModuleManager::RegisterGroup(std::string name, std::vector<std::string> roles) {
  groups_[std::move(name)] = std::move(roles);
}

std::vector<std::string> ModuleManager::Roles() const {
  std::vector<std::string> out;
  for (const auto& [name, m] : modules_) {
    if (m.is_role) out.push_back(name);
  }
  return out;
}

Result<std::vector<std::string>> ModuleManager::Resolve(
    const std::vector<std::string>& targets) const {
  // Expand groups ("all" is every role unless registered otherwise).
  std::vector<std::string> roots;
  std::set<std::string> seen_groups;
  std::function<Status(const std::string&)> expand = [&](const std::string& t) -> Status {
    if (t == "all" && groups_.count("all") == 0) {
      for (const auto& r : Roles()) roots.push_back(r);
      return Status::Ok();
    }
    auto g = groups_.find(t);
    if (g != groups_.end()) {
      if (!seen_groups.insert(t).second) return Status::Ok();
      for (const auto& r : g->second) SL_RETURN_IF_ERROR(expand(r));
      return Status::Ok();
    }
    auto m = modules_.find(t);
    if (m == modules_.end() || !m->second.is_role) {
      std::string known;
      for (const auto& r : Roles()) known += (known.empty() ? "" : ", ") + r;
      for (const auto& [g_name, unused] : groups_) known += ", " + g_name;
      return InvalidArgumentError(fmt::format("unknown target \"{}\" (known: all, {})", t, known));
    }
    roots.push_back(t);
    return Status::Ok();
  };
  for (const auto& t : targets) SL_RETURN_IF_ERROR(expand(t));

  // Depth-first topological sort; dependencies first, cycle detection by
  // the "visiting" mark.
  std::vector<std::string> order;
  std::map<std::string, int> state;  // 1 visiting, 2 done
  std::function<Status(const std::string&, const std::string&)> visit =
      [&](const std::string& name, const std::string& from) -> Status {
    auto it = modules_.find(name);
    if (it == modules_.end()) {
      return InternalError(fmt::format("module \"{}\" depends on unknown module \"{}\"", from, name));
    }
    int& st = state[name];
    if (st == 2) return Status::Ok();
    if (st == 1) return InternalError(fmt::format("dependency cycle through module \"{}\"", name));
    st = 1;
    for (const auto& d : it->second.deps) SL_RETURN_IF_ERROR(visit(d, name));
    state[name] = 2;
    order.push_back(name);
    return Status::Ok();
  };
  for (const auto& r : roots) SL_RETURN_IF_ERROR(visit(r, "--target"));
  return order;
}

Status ModuleManager::StartAll(const std::vector<std::string>& order) {
  for (const auto& name : order) {
    auto it = modules_.find(name);
    if (it == modules_.end()) return InternalError("unknown module " + name);
    if (std::find(started_.begin(), started_.end(), name) != started_.end()) continue;
    if (it->second.start) {
      Status s = it->second.start();
      if (!s.ok()) {
        StopAll();
        return s.Annotate(fmt::format("starting {}", name));
      }
    }
    started_.push_back(name);
  }
  return Status::Ok();
}

void ModuleManager::StopAll() {
  while (!started_.empty()) {
    std::string name = started_.back();
    started_.pop_back();
    auto it = modules_.find(name);
    if (it != modules_.end() && it->second.stop) it->second.stop();
  }
}

}  // namespace sightline::app
