// The module manager: what `--target` selects and in which order it starts.
//
// A module is a named unit with dependencies and start/stop hooks. Roles
// (ingester, querier, ...) are modules a user can name in --target; internal
// modules (server, object-store) are pulled in as dependencies. Groups expand
// to roles: `all` is every role, `write`/`read`/`backend` are the simple
// scalable groups. Modules start in dependency order (a module starts after
// everything it depends on) and stop in exactly the reverse order.
//
// Not thread-safe: used from main() only.
#pragma once

#include <functional>
#include <map>
#include <string>
#include <vector>

#include "base/status.h"

namespace sightline::app {

struct Module {
  std::string name;
  std::vector<std::string> deps;
  bool is_role = false;  // selectable with --target
  std::function<Status()> start;  // may be empty
  std::function<void()> stop;     // may be empty; called only if start succeeded
};

class ModuleManager {
 public:
  // Registers a module; a duplicate name replaces the earlier one.
  void Register(Module m);
  // Names a group of roles (e.g. "write" -> distributor, ingester).
  void RegisterGroup(std::string name, std::vector<std::string> roles);

  // Expands groups and dependencies of `targets` and returns every module
  // to run, in start order. Unknown names and dependency cycles are errors.
  Result<std::vector<std::string>> Resolve(const std::vector<std::string>& targets) const;

  // Starts `order` front to back. If one fails, stops those already started
  // (in reverse) and returns its error, annotated with the module name.
  Status StartAll(const std::vector<std::string>& order);
  // Stops every started module in reverse start order. Idempotent.
  void StopAll();

  const std::vector<std::string>& started() const { return started_; }
  std::vector<std::string> Roles() const;

 private:
  std::map<std::string, Module> modules_;
  std::map<std::string, std::vector<std::string>> groups_;
  std::vector<std::string> started_;
};

}  // namespace sightline::app
