# SPDX-License-Identifier: GPL-3.0-or-later
# The README's two commands. Each installs what it needs (deploy/install-deps.sh, idempotent) and builds.
#   make demo   stream a synthetic 64x64 scan of 128x128 frames through the engine into out/demo.h5
#   make test   build and run every test with ctest
BUILD ?= build
JOBS ?= $(shell nproc)
CMAKE_ARGS ?=

.PHONY: all deps build demo test clean

all: build

deps:
	deploy/install-deps.sh

build: deps
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=Release $(CMAKE_ARGS)
	cmake --build $(BUILD) -j$(JOBS)

demo: build
	deploy/demo.sh $(BUILD)

test: build
	cd $(BUILD) && ctest --output-on-failure -j$(JOBS)

clean:
	rm -rf $(BUILD) out
