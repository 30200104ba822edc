#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-3.0-or-later
# Ingest benchmark per protocol (issue 5): frames/s and GB/s through the engine for 256x256 u16
# frames over loopback, with and without bslz4, plus Merlin raw (R64) 12-bit 512x512 quads; the
# bslz4 decode rate per core beside the reference bitshuffle library, and the Merlin raw decode rate
# per core at 1, 6 and 12 bit, in one run. Writes RESULTS.md beside this script.
#   bench/ingest_protocols/run.sh [BUILD_DIR] [FRAMES]
# BUILD_DIR (default build-ingest) must hold stemflow, stemflow-sim, libstemflow_ingest.a and
# libstemflow_codecs.a (cmake --build BUILD_DIR --target stemflow stemflow-sim stemflow_ingest).
# The bslz4 reference runs twice when it can (issue 13): Debian's plugin build (generic x86-64:
# SSE2), and bitshuffle 0.5.2 built here from source with -O3 -march=native, its best on this CPU
# (AVX2, AVX-512 where the CPU has it). The source: $BITSHUFFLE_SRC (a checkout or unpacked sdist,
# holding src/bitshuffle_core.c; BITSHUFFLE_VERSION names it), else the PyPI sdist, fetched once with pip into BUILD_DIR.
# Run time with the defaults on a 2-core VM: about 2 minutes.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
source "$root/bench/lib.sh"
build="$(cd "${1:-$root/build-ingest}" && pwd)"
frames_side="${2:-128}"  # scan frames_side x frames_side
work="$(mktemp -d /tmp/stemflow-bench-protocols.XXXXXX)"
trap 'rm -rf "$work"' EXIT
out="$here/RESULTS.md"

# ---- the reference built at its best -------------------------------------------------------------
bshuf_version=0.5.2
bshuf_src="${BITSHUFFLE_SRC:-}"
if [[ -z $bshuf_src ]]; then
  bshuf_src="$build/bitshuffle-$bshuf_version"
  if [[ ! -f $bshuf_src/src/bitshuffle_core.c ]]; then
    # Only bitshuffle as an sdist (its C sources); its build requirements come as wheels.
    if timeout 600 python3 -m pip download -q --no-deps --no-binary bitshuffle \
        "bitshuffle==$bshuf_version" -d "$work/sdist" >/dev/null 2>&1; then
      tar xzf "$work/sdist/bitshuffle-$bshuf_version.tar.gz" -C "$build"
    fi
  fi
fi
bshuf_note="bitshuffle from source: not built (no source; set BITSHUFFLE_SRC)"
if [[ -f $bshuf_src/src/bitshuffle_core.c ]]; then
  # -march=native: the instruction sets of this CPU; bitshuffle picks its SIMD code at compile time.
  gcc -O3 -march=native -shared -fPIC -I"$bshuf_src/src" "$bshuf_src/src/bitshuffle_core.c" \
    "$bshuf_src/src/bitshuffle.c" "$bshuf_src/src/iochain.c" -llz4 -o "$work/libbshuf_native.so"
  export BSHUF_NATIVE_LIB="$work/libbshuf_native.so"
  # The sdist's name carries its version (bitshuffle_core.h's defaults do not: setup.py sets them).
  v=$(basename "$bshuf_src" | sed -n 's/^bitshuffle-\([0-9.]*\)$/\1/p')
  export BSHUF_NATIVE_LABEL="bitshuffle ${v:-${BITSHUFFLE_VERSION:-?}}, -O3 -march=native"
  bshuf_note="bitshuffle from source ($bshuf_src): gcc $(gcc -dumpfullversion) -O3 -march=native, system LZ4 $(pkg-config --modversion liblz4 2>/dev/null || echo '?')"
fi

bench_load_begin >/dev/null

# ---- decode rate per core ------------------------------------------------------------------------
# The Merlin decoder (ingest/merlin/mpx.cpp) is in libstemflow_ingest.a; of it only mpx.o is linked,
# which needs fmt.
g++ -O2 -std=c++20 -I"$root" "$here/bench_decode.cpp" "$build/ingest/libstemflow_ingest.a" \
  "$build/ingest/codecs/libstemflow_codecs.a" -lfmt -llz4 -lmd -ltbb -ldl -o "$work/bench_decode"
decode_seconds=${DECODE_SECONDS:-2}  # per row; DECODE_SECONDS=0.2 for a smoke run
decode_table="$(OMP_NUM_THREADS=1 "$work/bench_decode" 64 "$decode_seconds" bslz4)"
merlin_table="$(OMP_NUM_THREADS=1 "$work/bench_decode" 64 "$decode_seconds" merlin)"

# ---- through the engine ----------------------------------------------------------------------------
port=$((20000 + RANDOM % 20000))
engine_rows=""
run_case() {  # protocol codec [label frame dtype sim-args...]: label names the pixels in the table
  local protocol=$1 codec=$2 label=${3:-$2} frame=${4:-256x256} dtype=${5:-u16}
  local tag="$protocol-${label//[^A-Za-z0-9]/-}"
  shift $(( $# < 5 ? $# : 5 ))
  port=$((port + 1))
  cat > "$work/$tag.toml" <<TOML
[input]
protocol = "$protocol"
endpoint = "tcp://127.0.0.1:$port"
series_timeout = 10.0
[pipeline]
batch_frames = 64
memory_limit = "256MiB"
TOML
  "$build/pipeline/stemflow" run "$work/$tag.toml" --series 1 > "$work/$tag-engine.log" 2>&1 &
  local engine=$!
  # Stream V1 without md5 hashes: the engine does not verify them by default, and hashing every
  # frame on the sending thread would measure the sender.
  local sim_extra=("$@")
  if [[ $protocol == dectris-stream1 ]]; then sim_extra+=(--no-hash); fi
  "$build/sim/stemflow-sim" synth --scan "${frames_side}x${frames_side}" --frame "$frame" \
    --dtype "$dtype" --unique 64 --protocol "$protocol" --codec "$codec" \
    --bind "tcp://127.0.0.1:$port" "${sim_extra[@]}" > "$work/$tag-sim.log" 2>&1
  wait "$engine"
  # "series 1 complete: N frames received, N processed, ... S s, F frames/s, M MB/s"
  local line fps mbs processed
  line="$(grep -E 'series [0-9]+ (complete|timeout|end_of_file)' "$work/$tag-engine.log" | tail -1)"
  fps="$(sed -E 's/.* ([0-9.]+) frames\/s.*/\1/' <<< "$line")"
  mbs="$(sed -E 's/.* ([0-9.]+) MB\/s.*/\1/' <<< "$line")"
  processed="$(sed -E 's/.* ([0-9]+) processed.*/\1/' <<< "$line")"
  local wire
  wire="$(grep -Eo '[0-9.]+ MB/s decoded' "$work/$tag-sim.log" | head -1 || true)"
  engine_rows+="| $protocol | $label | $processed | $fps | $(awk "BEGIN{printf \"%.2f\", $mbs/1000}") |"$'\n'
}
run_case native none
run_case dectris-stream2 none
run_case dectris-stream2 bslz4
run_case dectris-stream1 none
run_case dectris-stream1 bslz4
run_case merlin none
# 64 distinct 512x512 frames (32 MiB encoded), sent as raw 12-bit quads: 512 KiB on the wire and
# decoded per frame.
run_case merlin none "raw 12-bit 2x2 (512x512)" 512x512 u16 --merlin-raw 12 --merlin-layout 2x2

{
  echo "# Ingest per protocol (issue 5)"
  echo
  echo "- command: \`bench/ingest_protocols/run.sh $(basename "$build") $frames_side\`"
  echo "- machine: $(nproc)-core VM, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(free -g | awk '/Mem:/{print $2}') GiB"
  echo "- date: $(date -u +%Y-%m-%dT%H:%MZ); git $(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo '?')"
  bench_load_end | sed 's/^/- /'
  echo "- bslz4 references: Debian's bitshuffle 0.3.5 HDF5 plugin (libh5bshuf.so, built for generic"
  echo "  x86-64: SSE2); $bshuf_note. Each row names the instruction set the library reports"
  echo "  (bshuf_using_*). stemflow's decoder picks its bit transposition at run time (scalar, sse2,"
  echo "  avx2; no AVX-512 path); libstemflow_codecs as CMake's Release build made it."
  echo
  echo "## bslz4 decode, 256x256 u16 frames"
  echo
  echo "$decode_table"
  echo
  echo "## Merlin raw (R64) decode, 512x512 quads (2x2)"
  echo
  echo "$merlin_table"
  echo
  echo "## Through the engine over loopback (stemflow-sim -> stemflow, no operators)"
  echo
  echo "${frames_side}x${frames_side} scan of 256x256 u16 frames (128 KiB), stemflow-sim sending 64 distinct"
  echo "frames pre-encoded (--unique 64) on the same 2 cores as the engine. GB/s are decoded bytes."
  echo "The merlin raw row sends 512x512 frames (512 KiB on the wire and decoded), 64 distinct ones,"
  echo "as a quad's raw 12-bit rows; the other merlin row sends big-endian U16 counts."
  echo
  echo "| protocol | pixels | frames | frames/s | GB/s |"
  echo "|---|---|---:|---:|---:|"
  printf "%s" "$engine_rows"
} > "$out"
cat "$out"
