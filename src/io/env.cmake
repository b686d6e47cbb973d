# The local filesystem Env (env.h) with its in-memory and fault-injecting
# variants. Included from src/io/CMakeLists.txt.
sightline_library(sl_env
  SOURCES
    env_posix.cc
    mem_env.cc
    fault_env.cc
  DEPS sl_base)
