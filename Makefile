# npusim — top-level entry points. `make run` and `make test` work on a fresh Debian 12 machine:
# they install missing Debian packages (no apt call when everything is present), configure with
# Ninja and build.
BUILD      ?= build
BUILD_TYPE ?= Release
JOBS       ?= $(shell nproc)
PACKAGES   := g++ cmake ninja-build pkg-config libsystemc-dev libyaml-cpp-dev libspdlog-dev \
              libfmt-dev libgtest-dev libgmock-dev libbenchmark-dev nlohmann-json3-dev
SUDO       := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: run test build deps bench clean

run: build
	$(BUILD)/npusim run configs/runs/quickstart.yaml --out reports/out/quickstart

test: build
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS)

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

clean:
	rm -rf $(BUILD)
