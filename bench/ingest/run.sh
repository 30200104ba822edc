#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-3.0-or-later
# bench/ingest: stemflow-sim -> stemflow over loopback TCP with virtual imaging only, beside a bare
# ZeroMQ PUSH/PULL of the same message sizes, in the same run. Prints frames/s, GB/s and the ratio.
# Both sides over the same window (issue 13): from the first frame received to the last frame done;
# for zmq_bare the last frame's pixels received into the buffer, for the engine the last batch
# through the sink node (analysed, reduced), i.e. the engine's log line "first frame in to last
# frame processed", not its "frames/s", which runs from the series header to the results written.
#   bench/ingest/run.sh [BUILD_DIR] [REPEATS]       (env SCAN=RxC replaces both scan sizes)
# Run time with the defaults on a 2-core VM: about 1 minute.
set -euo pipefail
cd "$(dirname "$0")/../.."
source bench/lib.sh
build=${1:-build}
repeats=${2:-3}
port=5600
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

engine_rate() {  # scan frame -> frames/s of the engine for one series, first frame to last frame
  local scan=$1 frame=$2
  "$build/pipeline/stemflow" run bench/ingest/virtual_imaging.toml --series 1 \
    --set "input.endpoint=tcp://127.0.0.1:$port" > "$tmp/engine.log" 2>&1 &
  local eng=$!
  "$build/sim/stemflow-sim" synth --scan "$scan" --frame "$frame" --unique 256 \
    --bind "tcp://127.0.0.1:$port" > "$tmp/sim.log" 2>&1
  wait $eng
  local fps
  fps=$(sed -n 's/.*first frame in to last frame processed [0-9.]* s, \([0-9]*\) fps.*/\1/p' \
    "$tmp/engine.log" | tail -1)
  if [[ -z $fps ]]; then
    echo "bench/ingest: no first-to-last-frame rate in the engine's log:" >&2
    cat "$tmp/engine.log" >&2
    return 1
  fi
  echo "$fps"
}

bare_rate() {  # frames bytes -> frames/s of bare ZeroMQ, first frame to last frame
  local frames=$1 bytes=$2
  "$build/bench/ingest/zmq_bare" pull "tcp://127.0.0.1:$port" "$frames" "$bytes" > "$tmp/bare.log" &
  local rx=$!
  "$build/bench/ingest/zmq_bare" push "tcp://127.0.0.1:$port" "$frames" "$bytes"
  wait $rx
  awk '{print $2}' "$tmp/bare.log"
}


echo "bench/ingest: $(date -u +%Y-%m-%dT%H:%MZ) on $(nproc) cores ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs))"
bench_load_begin
printf "| frame | frames | bare ZeroMQ frames/s | GB/s | stemflow frames/s | GB/s | ratio |\n"
printf "|---|---|---|---|---|---|---|\n"
for q in 128 256; do
  if [ $q = 128 ]; then scan=400x400; else scan=300x300; fi
  scan=${SCAN:-$scan}  # SCAN=20x20: a smoke test of the script
  frames=$(( ${scan%x*} * ${scan#*x} ))
  bytes=$(( q * q * 2 ))
  b=(); e=()
  for ((r = 0; r < repeats; r++)); do
    b+=("$(bare_rate $frames $bytes)")
    e+=("$(engine_rate $scan ${q}x${q})")
  done
  bm=$(printf '%s\n' "${b[@]}" | median)
  em=$(printf '%s\n' "${e[@]}" | median)
  awk -v q=$q -v n=$frames -v b=$bm -v e=$em -v by=$bytes 'BEGIN {
    printf "| %dx%d u16 | %d | %.0f | %.2f | %.0f | %.2f | %.2f |\n", q, q, n, b, b*by/1e9, e, e*by/1e9, e/b }'
done
echo "(median of $repeats runs each; bare and engine runs alternate; both rates are frames over the"
echo "time from the first frame received to the last frame done)"
bench_load_end
