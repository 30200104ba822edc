#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-3.0-or-later
# The demo behind `make demo`: stemflow-sim binds a PUSH socket on loopback (as a detector does) and
# streams a synthetic 64x64 scan of 128x128 u16 frames; stemflow connects, computes virtual images and
# the centre of mass, and writes out/demo.h5.
set -euo pipefail
build=${1:-build}
port=${STEMFLOW_DEMO_PORT:-5555}
mkdir -p out
rm -f out/demo.h5

"$build/sim/stemflow-sim" synth --scan 64x64 --frame 128x128 --seed 1 \
  --bind "tcp://127.0.0.1:$port" > out/demo-sim.log 2>&1 &
sim=$!
trap 'kill $sim 2>/dev/null || true' EXIT

"$build/pipeline/stemflow" run config/examples/demo.toml --series 1 \
  --set "input.endpoint=tcp://127.0.0.1:$port" 2>&1 | tee out/demo-engine.log
wait $sim
trap - EXIT

summary=$(grep -E "series 1 (complete|timeout|interrupted)" out/demo-engine.log | sed 's/^\[[^]]*\] \[[^]]*\] //')
echo
echo "stemflow demo"
echo "  ${summary%% -> *}"
echo "  results: out/demo.h5 (virtual images bright_field, annular_dark_field, quadrant; com_qx, com_qy,"
echo "           com_intensity; coverage; provenance), logs: out/demo-engine.log, out/demo-sim.log"
echo "  look inside: h5ls -r out/demo.h5"
