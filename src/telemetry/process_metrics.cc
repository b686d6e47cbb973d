#include "telemetry/process_metrics.h"

#include <dirent.h>
#include <sys/resource.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>

namespace sightline::telemetry {
namespace {

void Emit(std::string& out, const char* name, const char* type, const char* help, double v) {
  out += "# HELP ";
  out += name;
  out += ' ';
  out += help;
  out += "\n# TYPE ";
  out += name;
  out += ' ';
  out += type;
  out += '\n';
  out += name;
  out += ' ';
  out += FormatValue(v);
  out += '\n';
}

double BootTimeSeconds() {
  std::ifstream in("/proc/stat");
  std::string key;
  while (in >> key) {
    if (key == "btime") {
      double v = 0;
      in >> v;
      return v;
    }
    std::string rest;
    std::getline(in, rest);
  }
  return 0;
}

int CountOpenFds() {
  DIR* d = opendir("/proc/self/fd");
  if (d == nullptr) return 0;
  int n = 0;
  while (readdir(d) != nullptr) ++n;
  closedir(d);
  return n - 3;  // ".", ".." and the DIR's own descriptor
}

void Collect(std::string& out) {
  std::ifstream in("/proc/self/stat");
  std::string stat((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  // Fields after the command name, which is in parentheses and may hold spaces.
  size_t close = stat.rfind(')');
  if (close == std::string::npos) return;
  std::istringstream fields(stat.substr(close + 2));
  std::vector<std::string> f;
  std::string tok;
  while (fields >> tok) f.push_back(tok);
  // f[0] is field 3 (state); utime=14, stime=15, starttime=22, vsize=23, rss=24.
  auto field = [&](int n) -> double { return n - 3 < static_cast<int>(f.size()) ? std::stod(f[n - 3]) : 0; };
  double ticks = static_cast<double>(sysconf(_SC_CLK_TCK));
  double page = static_cast<double>(sysconf(_SC_PAGESIZE));
  Emit(out, "process_cpu_seconds_total", "counter", "Total user and system CPU time spent in seconds.",
       (field(14) + field(15)) / ticks);
  Emit(out, "process_resident_memory_bytes", "gauge", "Resident memory size in bytes.",
       field(24) * page);
  Emit(out, "process_virtual_memory_bytes", "gauge", "Virtual memory size in bytes.", field(23));
  Emit(out, "process_start_time_seconds", "gauge",
       "Start time of the process since unix epoch in seconds.",
       BootTimeSeconds() + field(22) / ticks);
  Emit(out, "process_open_fds", "gauge", "Number of open file descriptors.", CountOpenFds());
  struct rlimit rl;
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
    Emit(out, "process_max_fds", "gauge", "Maximum number of open file descriptors.",
         static_cast<double>(rl.rlim_cur));
  }
}

}  // namespace

void RegisterProcessCollector(Registry& registry) { registry.AddCollector(Collect); }

}  // namespace sightline::telemetry
