# SPDX-License-Identifier: GPL-3.0-or-later
# The README's two commands. Each installs what it needs (deploy/install-deps.sh, idempotent) and builds.
#   make demo   stream a synthetic 64x64 scan of 128x128 frames through the engine into out/demo.h5
#   make test   build and run every test with ctest
#   make test-sanitize   the whole suite under ASan + UBSan (not part of make test or CI: about 3x
#                        the build and test time)
BUILD ?= build
JOBS ?= $(shell nproc)
CMAKE_ARGS ?=

.PHONY: all deps venv build demo test test-sanitize clean

all: build

deps:
	deploy/install-deps.sh

build: deps
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=Release $(CMAKE_ARGS)
	cmake --build $(BUILD) -j$(JOBS)

demo: build
	deploy/demo.sh $(BUILD)

# The test venv before the build (tests/python/ensure_venv.sh, idempotent): configuring finds
# nanobind in it and builds the Python module (STEMFLOW_PYTHON=AUTO) that the tests import.
venv: deps
	mkdir -p $(BUILD) && tests/python/ensure_venv.sh $(BUILD)/venv

test: venv build
	cd $(BUILD) && ctest --output-on-failure -j$(JOBS)

SANITIZE_ARGS = -DCMAKE_BUILD_TYPE=RelWithDebInfo -DSTEMFLOW_CUDA=OFF -DSTEMFLOW_BENCH=OFF
test-sanitize: deps
	cmake -S . -B build-asan $(SANITIZE_ARGS) -DSTEMFLOW_SANITIZE=address $(CMAKE_ARGS)
	cmake --build build-asan -j$(JOBS)
	cd build-asan && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:strict_string_checks=1 \
	  LSAN_OPTIONS=suppressions=$(CURDIR)/tests/sanitize/lsan.supp:print_suppressions=0 \
	  UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	  ctest --output-on-failure -j$(JOBS) --timeout 1200

clean:
	rm -rf $(BUILD) out
