#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-3.0-or-later
# What origin + bragg_vector_map + strain_map cost after bragg_disks, per frame, on the shared
# reference scans (goal: < 10 % of the Bragg operator's time). Prints one block per dataset.
#
# Also: origin mode "com" per frame (no Bragg operator), and dpc's scan-wide solve by scan size.
# Usage: bench/physics/run.sh   (BUILD=<cmake build dir>, default build; SHARED=<../shared>)
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
source "$ROOT/bench/lib.sh"
BUILD=${BUILD:-$ROOT/build}
SHARED=${SHARED:-$ROOT/../shared}
MIN_SECONDS=${MIN_SECONDS:-3}
cmake --build "$BUILD" --target bench_physics -j2 >/dev/null
echo "machine: $(nproc --all) cores, $(lscpu | sed -n 's/^Model name: *//p' | head -1); $(date -u +%Y-%m-%d); commit $(git -C "$ROOT" rev-parse --short HEAD)"
bench_load_begin
for d in "$SHARED"/reference/py4dstem-ref-*; do
  echo "load: $(cut -d' ' -f1 /proc/loadavg)"
  "$BUILD/bench/physics/bench_physics" --dataset "$d" --min-seconds "$MIN_SECONDS"
done
bench_load_end
