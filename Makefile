# SPDX-License-Identifier: GPL-3.0-or-later
# The README's two commands. Each installs what it needs (deploy/install-deps.sh, idempotent) and builds.
#   make demo   stream a synthetic 64x64 scan of 128x128 frames through the engine into out/demo.h5
#   make test   build and run every test with ctest
#   make test-sanitize   the whole suite under ASan + UBSan (not part of make test or CI: about 3x
#                        the build and test time)
#   make test-tsan       the pipeline, ingest and sinks tests under TSan (not part of make test or CI)
BUILD ?= build
JOBS ?= $(shell nproc)
CMAKE_ARGS ?=

.PHONY: all deps venv build demo test test-sanitize test-tsan clean

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

# The tests of three folders, each folder's tests a label and a target (cmake/stemflow_helpers.cmake).
# TSan runs code 5-15 times slower: STEMFLOW_TEST_TIME_SCALE stretches the receivers' silence
# timeouts in the ingest tests (tests/ingest/source_harness.hpp). TSan remembers 4M accesses per
# thread at most (history_size=7): beyond it a report has one stack, and tsan.supp cannot see that
# its other side ran in oneTBB. TSAN_SKIP: the tests that move full-size frames (the shared DECTRIS
# files, 512x512 Merlin quads) through the decoders, whose reports lose the worker's stack.
TSAN_FOLDERS = pipeline ingest sinks
TSAN_SKIP = DectrisFile.MasterFileReplaysAllDataFilesInOrder \
  Merlin.RawFramesArriveAsSentClampedToTheDepth Merlin.FramesEncodedBeforeTheSeriesStartsArrive
test-tsan: deps
	cmake -S . -B build-tsan $(SANITIZE_ARGS) -DSTEMFLOW_SANITIZE=thread $(CMAKE_ARGS)
	cmake --build build-tsan -j$(JOBS) --target $(addprefix tests_,$(TSAN_FOLDERS))
	cd build-tsan && TSAN_OPTIONS=suppressions=$(CURDIR)/tests/sanitize/tsan.supp:history_size=7 \
	  STEMFLOW_TEST_TIME_SCALE=10 \
	  ctest --output-on-failure -j$(JOBS) --timeout 1200 -L '^($(subst $() ,|,$(TSAN_FOLDERS)))$$' \
	  -E '^($(subst $() ,|,$(strip $(TSAN_SKIP))))$$'

clean:
	rm -rf $(BUILD) out
