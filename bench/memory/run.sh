#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-3.0-or-later
# bench/memory: stream ~5 GB and ~21 GB of 256x256 u16 frames through the engine with
# memory_limit = 256MiB and report the engine's peak RSS (/usr/bin/time -v) for each. The bound holds
# if the peak stays under 512 MiB and does not grow with the length of the stream.
#   bench/memory/run.sh [BUILD_DIR]
set -euo pipefail
cd "$(dirname "$0")/../.."
source bench/lib.sh
build=${1:-build}
port=5610
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

echo "bench/memory: $(date -u +%Y-%m-%dT%H:%MZ) on $(nproc) cores, memory_limit = 256MiB, virtual imaging + CoM"
bench_load_begin
printf "| scan | frames | GB streamed | engine frames/s | peak RSS (MiB) |\n|---|---|---|---|---|\n"
for scan in 200x200 400x400; do
  frames=$(( ${scan%x*} * ${scan#*x} ))
  /usr/bin/time -v "$build/pipeline/stemflow" run config/examples/demo.toml --series 1 \
    --set "input.endpoint=tcp://127.0.0.1:$port" --set 'pipeline.memory_limit="256MiB"' \
    --set "outputs.hdf5.path=$tmp/mem.h5" > "$tmp/engine.log" 2>&1 &
  eng=$!
  "$build/sim/stemflow-sim" synth --scan "$scan" --frame 256x256 --unique 256 \
    --bind "tcp://127.0.0.1:$port" > "$tmp/sim.log" 2>&1
  wait $eng
  rss_kb=$(grep "Maximum resident set size" "$tmp/engine.log" | awk '{print $NF}')
  fps=$(grep -o '[0-9]* frames/s' "$tmp/engine.log" | tail -1 | cut -d' ' -f1)
  awk -v s=$scan -v n=$frames -v r=$rss_kb -v f=$fps 'BEGIN {
    printf "| %s | %d | %.1f | %s | %.0f |\n", s, n, n*131072/1e9, f, r/1024 }'
done
bench_load_end
