# npusim — top-level entry points. `make run` and `make test` work on a fresh Debian 12 machine:
# they install missing Debian packages (no apt call when everything is present), configure with
# Ninja and build.
BUILD      ?= build
BUILD_TYPE ?= Release
JOBS       ?= $(shell nproc)
PACKAGES   := g++ cmake ninja-build pkg-config libsystemc-dev libyaml-cpp-dev libspdlog-dev \
              libfmt-dev libgtest-dev libgmock-dev libbenchmark-dev nlohmann-json3-dev libcli11-dev gnuplot-nox
# The browser test of report.html (make test) and the sanitizer / fuzzing build (clang's runtime).
TEST_PACKAGES := chromium
SAN_PACKAGES  := clang libclang-rt-14-dev
FORMAT_PACKAGES := clang-format
SOURCE_DIRS := app bench devices fuzz model ops reports tests workloads
SAN_BUILD  ?= build-asan
FUZZ_SECONDS ?= 60
CLI_FUZZ_SECONDS ?= 30
KERNEL_FUZZ_SECONDS ?= 60
SUDO       := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: run test test-slow build deps test-deps san-deps format-deps format format-check sanitize san-build fuzz bench install clean
PREFIX     ?= /usr/local

run: build
	$(BUILD)/npusim run configs/runs/quickstart.yaml --out reports/out/quickstart

# Every test but the calibration rows marked slow (label calibration_slow, minutes each: the long
# chunk-prefill kernels and the largest serving loads), which `make test-slow` runs: CI stays
# within its hour; run test-slow (or `npusim calibrate -j --record`) after a change to timing.
test: build test-deps
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS) -LE calibration_slow

test-slow: build
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS) -L calibration_slow

# Every C++ source as the checked-in .clang-format lays it out: `format-check` fails on the first
# file that differs (CI runs it), `format` rewrites them.
format-check: format-deps
	find $(SOURCE_DIRS) -name '*.cpp' -o -name '*.h' | sort | xargs clang-format --style=file --dry-run --Werror

format: format-deps
	find $(SOURCE_DIRS) -name '*.cpp' -o -name '*.h' | sort | xargs clang-format --style=file -i

# The whole test suite built with clang, AddressSanitizer and UBSan (undefined behaviour aborts),
# except the calibration corpus (label calibration: long simulations `make test` already ran) and
# SAN_SKIP, the six longest end-to-end serving tests (3-4x slower under ASan, ~8 CPU-minutes
# together): capacity searches and long runs whose code paths the shorter serving, capacity-page
# and attention tests take under ASan too; and the two Docs tests, which rerun the README's and
# the example pages' commands (two capacity searches among them) to catch drift in what they
# print, a check of text that `make test` makes. `make sanitize SAN_SKIP=` runs them as well.
# Leak checks off: tests that fork children end them with _exit (see ../shared/reference/systemc.md).
SAN_SKIP ?= Capacity\.NamesTheBindingConstraintAndKeepsTheCurve|ReportPage\.CapacityPagesRender|Run\.TwoReplicasServeTwiceTheLoadOfOneInTheSameTime|Attention\.LongExtendOverAPrefixExtrapolatesToTheSimulatedTime|Attention\.LongCausalPrefillExtrapolatesToTheSimulatedTime|Run\.TinyHybridFunctionalReportsTokensComparisonsAndKernelErrors|Docs\.
sanitize: san-build test-deps
	cd $(SAN_BUILD) && ASAN_OPTIONS=detect_leaks=0 UBSAN_OPTIONS=print_stacktrace=1 ctest --output-on-failure -j $(JOBS) -LE calibration \
	  $(if $(SAN_SKIP),-E '$(SAN_SKIP)')

san-build: deps san-deps
	@[ -f $(SAN_BUILD)/build.ninja ] || cmake -S . -B $(SAN_BUILD) -G Ninja -DCMAKE_CXX_COMPILER=clang++ \
	  -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O1 -gline-tables-only" -DNPUSIM_SANITIZE=address,undefined -DNPUSIM_FUZZ=ON -DNPUSIM_WERROR=OFF
	cmake --build $(SAN_BUILD) -j $(JOBS)

# libFuzzer on the input readers for FUZZ_SECONDS, seeded with every shipped config, on the
# command-line parser for CLI_FUZZ_SECONDS and on the kernels (small, functional, parameters and
# index tensors drawn from the bytes) for KERNEL_FUZZ_SECONDS (fuzz/README.md).
fuzz: san-build
	bash fuzz/run.sh $(SAN_BUILD)/fuzz/config_fuzz $(FUZZ_SECONDS)
	bash fuzz/run.sh $(SAN_BUILD)/fuzz/cli_fuzz $(CLI_FUZZ_SECONDS)
	bash fuzz/run.sh $(SAN_BUILD)/fuzz/kernel_fuzz $(KERNEL_FUZZ_SECONDS)

# The binary to $(PREFIX)/bin and the configs it reads to $(PREFIX)/share/npusim/configs.
install: build
	cmake --install $(BUILD) --prefix $(PREFIX)

bench: build
	$(BUILD)/bench/npusim_bench
	$(BUILD)/bench/npusim_serving_bench

build: deps
	@[ -f $(BUILD)/build.ninja ] || cmake -S . -B $(BUILD) -G Ninja -DCMAKE_BUILD_TYPE=$(BUILD_TYPE)
	cmake --build $(BUILD) -j $(JOBS)

deps:
	@missing=$$(for p in $(PACKAGES); do dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q 'install ok installed' || echo $$p; done); \
	if [ -n "$$missing" ]; then \
	  echo "installing missing packages:" $$missing; \
	  $(SUDO) apt-get update && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y --no-install-recommends $$missing; \
	fi

test-deps:
	@$(MAKE) --no-print-directory deps PACKAGES="$(TEST_PACKAGES)"

san-deps:
	@$(MAKE) --no-print-directory deps PACKAGES="$(SAN_PACKAGES)"

format-deps:
	@$(MAKE) --no-print-directory deps PACKAGES="$(FORMAT_PACKAGES)"

clean:
	rm -rf $(BUILD) $(SAN_BUILD)
