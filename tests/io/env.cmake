# The filesystem Env: POSIX, MemEnv and FaultEnv held to one suite.
sightline_test(env_test
  SOURCES env_test.cc
  DEPS sl_env sl_test_harness)
