# The two commands of the README. Both install what is missing first
# (scripts/bootstrap: apt + npm, idempotent), then build with CMake + Ninja.
#   make run   Release build, starts sightline --target=all on ./data
#   make test  Debug build (ASan + UBSan), runs every test with ctest
JOBS ?= 2
RUN_DIR := build/release
TEST_DIR := build/debug
CMAKE_FLAGS ?=
RUN_ARGS ?=

.PHONY: run test build build-debug bootstrap bench fuzz format clean

bootstrap:
	@./scripts/bootstrap

$(RUN_DIR)/build.ninja:
	cmake -S . -B $(RUN_DIR) -G Ninja -DCMAKE_BUILD_TYPE=Release -DSIGHTLINE_TESTS=OFF $(CMAKE_FLAGS)

$(TEST_DIR)/build.ninja:
	cmake -S . -B $(TEST_DIR) -G Ninja -DCMAKE_BUILD_TYPE=Debug -DSIGHTLINE_BENCH=OFF $(CMAKE_FLAGS)

build: bootstrap $(RUN_DIR)/build.ninja
	ninja -C $(RUN_DIR) -j$(JOBS) sightline

build-debug: bootstrap $(TEST_DIR)/build.ninja
	ninja -C $(TEST_DIR) -j$(JOBS)

run: build
	./$(RUN_DIR)/sightline --target=all --data.dir=./data $(RUN_ARGS)

test: build-debug
	cd $(TEST_DIR) && ctest -j$(JOBS) --output-on-failure --timeout 600

bench: bootstrap
	cmake -S . -B build/bench -G Ninja -DCMAKE_BUILD_TYPE=Release -DSIGHTLINE_TESTS=OFF
	ninja -C build/bench -j$(JOBS)
	@echo "benchmarks are in build/bench/bench/ (see docs/benchmarks.md)"

fuzz: bootstrap
	cmake -S . -B build/fuzz -G Ninja -DCMAKE_BUILD_TYPE=Debug -DCMAKE_C_COMPILER=clang \
	  -DCMAKE_CXX_COMPILER=clang++ -DSIGHTLINE_FUZZ=ON -DSIGHTLINE_TESTS=OFF -DSIGHTLINE_BENCH=OFF
	ninja -C build/fuzz -j$(JOBS)

format:
	git ls-files '*.cc' '*.h' | xargs clang-format -i

clean:
	rm -rf build
