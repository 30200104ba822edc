#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-3.0-or-later
# bench/soak: a live DECTRIS stream V2 at 80 % of the measured capacity with injected faults, all
# sinks and a headless browser on the dashboard, for MINUTES; reconciled frame by frame with the
# injector's log, RSS and descriptors sampled every 10 s, latency p50/p99 (soak.py says how).
#   bench/soak/run.sh MINUTES [BUILD_DIR] [OUT_DIR]   (default build, out/soak)
# `make test` runs a 1-minute soak (ctest `soak`); BENCHMARKS.md records a 10-minute one.
set -euo pipefail
cd "$(dirname "$0")/../.."
source bench/lib.sh
minutes=${1:?usage: bench/soak/run.sh MINUTES [BUILD_DIR] [OUT_DIR]}
build=$(realpath "${2:-build}")
out=${3:-out/soak}
python=$build/venv/bin/python
if [[ ! -x $python ]]; then
  echo "no test venv at $build/venv (tests/python/ensure_venv.sh $build/venv)"
  # Skipped (77) where the venv could not be made; in CI, where it can, a failure.
  [[ "${CI:-}" == "true" ]] && exit 1 || exit 77
fi
bench_load_begin
rc=0
"$python" bench/soak/soak.py "$build" "$minutes" "$out" || rc=$?
bench_load_end
exit $rc
