#!/usr/bin/env bash
# Installs the Debian 12 packages stemflow needs to build, test and run its demo.
# Idempotent: asks dpkg first and calls apt-get only for what is missing.
# Usage: deploy/install-deps.sh
set -euo pipefail

packages=(
  build-essential cmake pkg-config python3
  python3-venv  # bench/bragg_cpu/run.sh: py4DSTEM from PyPI in a virtual environment
  python3-dev  # the Python module stemflow._core (python/): Python.h for nanobind
  libzmq3-dev cppzmq-dev
  libflatbuffers-dev flatbuffers-compiler
  libtbb-dev
  libhdf5-dev hdf5-tools
  prometheus-cpp-dev
  libgtest-dev libgmock-dev libbenchmark-dev
  libfftw3-dev
  liblz4-dev
  libmd-dev  # MD5 of DECTRIS stream V1 image blobs (<md5.h>)
  libcbor-dev
  bitshuffle hdf5-filter-plugin  # reference bslz4/lz4 decoders for tests and bench/ingest_protocols
  libtomlplusplus-dev
  libcli11-dev
  libspdlog-dev libfmt-dev
  libexpected-dev nlohmann-json3-dev
  libcivetweb-dev  # HTTP server of the live dashboard (and of prometheus-cpp's /metrics)
  prometheus chromium  # real peers of tests/system/test_prometheus and test_dashboard_browser
  time
  clang-format  # tests/format: the tree follows .clang-format (Debian 12: clang-format 14)
  libopenmpi-dev openmpi-bin  # one scan across MPI ranks (mpi/, tests/mpi: mpirun)
)

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if ((${#missing[@]} == 0)); then
  exit 0
fi

echo "install-deps: installing ${missing[*]}" >&2
SUDO=""
if [[ $(id -u) -ne 0 ]]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
