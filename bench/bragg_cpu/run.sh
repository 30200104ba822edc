#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-3.0-or-later
# Bragg disk detection on the CPU: py4DSTEM 0.14.18 (its real DataCube.find_Bragg_disks path) against
# stemflow's BraggDisksOp on the same synthetic frames, with the same template and parameters
# (docs/py4dstem.md section 5). Prints one table; each (frame size, subpixel) has four rows:
#   py4DSTEM serial        one process, one core (BLAS pinned to one thread)
#   py4DSTEM N processes   one process per core over contiguous frame ranges (as the paper's Dask
#                          version splits the scan), started together after each has warmed up;
#                          wall time from the first start to the last end (one clock, CLOCK_MONOTONIC)
#   stemflow f32 / f64     bench_bragg_cpu on N threads, float32 (the default) and float64
# Fairness (issue 13): both sides warm (py4DSTEM: one untimed call on --warmup frames in the same
# process first; stemflow: one untimed pass over all frames, FFTW plans made); the same frames on
# every row, multicorr included; the same N cores (nproc: the CPUs this script may run on, so
# `taskset -c 0-3 bench/bragg_cpu/run.sh` restricts both sides alike); no pinning of threads or
# processes on either side. "per core" = wall fps / cores the row used; "x py4DSTEM" = wall fps over
# the py4DSTEM N-process row, i.e. on the same cores.
#
# Usage: bench/bragg_cpu/run.sh            (BUILD=<cmake build dir>, default build-bragg, else build)
# Env: MIN_SECONDS (3) stemflow's timed replay, REPEAT (2) runs per row (best kept), SIZES ("128 256
# 512"), FRAMES (per size: 1024 / 400 / 144), WARMUP (4) py4DSTEM warm-up frames, VENV.
# Needs: a configured build directory (the script builds bench_bragg_cpu), python3 with venv, and
# PyPI access the first time (py4dstem==0.14.18 into .venv-bench, git-ignored).
# Run time on a 2-core EPYC VM with the defaults: about 6 minutes (multicorr's serial py4DSTEM
# rows dominate: ~13 s / ~12 s / ~15 s per run at 128² / 256² / 512²).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
source "$ROOT/bench/lib.sh"
BUILD=${BUILD:-}
if [[ -z "$BUILD" ]]; then
  if [[ -d "$ROOT/build-bragg" ]]; then BUILD="$ROOT/build-bragg"; else BUILD="$ROOT/build"; fi
fi
VENV=${VENV:-$ROOT/.venv-bench}
DATA="$BUILD/bench_data"
HERE="$ROOT/bench/bragg_cpu"
MIN_SECONDS=${MIN_SECONDS:-3}
REPEAT=${REPEAT:-2}  # each row runs REPEAT times; the best rates are kept (the VM is noisy)
SIZES=${SIZES:-128 256 512}
WARMUP=${WARMUP:-4}
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT

# 1. py4DSTEM from PyPI, in a git-ignored virtual environment.
if ! "$VENV/bin/python" -c "import py4DSTEM" 2>/dev/null; then
  echo "run.sh: creating $VENV with py4dstem==0.14.18" >&2
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q "numpy<2" "py4dstem==0.14.18"
fi
PY="$VENV/bin/python"

# 2. the stemflow benchmark binary.
if [[ ! -f "$BUILD/CMakeCache.txt" ]]; then
  cmake -S "$ROOT" -B "$BUILD" -DCMAKE_BUILD_TYPE=Release -DSTEMFLOW_CUDA=OFF >/dev/null
fi
cmake --build "$BUILD" --target bench_bragg_cpu -j2 >/dev/null
BENCH="$BUILD/bench/bragg_cpu/bench_bragg_cpu"

CORES=$(nproc)  # the CPUs this process may use (taskset/cgroup aware), for both sides
# py4DSTEM's processes run their numpy BLAS (multicorr's matrix products) on one thread each, so that
# N processes use N cores, as stemflow's N threads do.
PYENV=(env OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 PYTHONDONTWRITEBYTECODE=1)

frames_for() {  # size -> frames, the same for every row and both subpixel modes
  if [[ -n "${FRAMES:-}" ]]; then echo "$FRAMES"; return; fi
  case $1 in 128) echo 1024 ;; 256) echo 400 ;; 512) echo 144 ;; *) echo 64 ;; esac
}
best() { python3 -c "print(max($1, $2))"; }
field() { sed -n "s/.*$1=\([0-9.]*\).*/\1/p"; }  # value of key=value (key may start with a space)

py_args() {  # Q sub eb sp -> the detection arguments common to every py4DSTEM run
  echo --dir "$dir" --size "$1" --subpixel "$2" --edge-boundary "$3" --min-peak-spacing "$4" \
    --warmup "$WARMUP"
}

# One py4DSTEM process per core over contiguous frame ranges. Each warms up, says it is ready, and
# waits; all are released together. Prints "fps=... fps_per_cpu_second=..." for the n frames, with
# the wall time from the first timed start to the last end; writes the peaks of all n frames.
py_parallel() {  # Q sub eb sp n peaks_csv
  local Q=$1 sub=$2 eb=$3 sp=$4 n=$5 peaks=$6 i first count
  local pids=()
  rm -f "$TMP"/ready.* "$TMP"/go "$TMP"/par.*
  for ((i = 0; i < CORES; ++i)); do
    first=$((i * n / CORES))
    count=$(((i + 1) * n / CORES - first))
    # shellcheck disable=SC2046
    "${PYENV[@]}" "$PY" "$HERE/py4dstem_bench.py" detect $(py_args "$Q" "$sub" "$eb" "$sp") \
      --first "$first" --frames "$count" --ready-file "$TMP/ready.$i" --go-file "$TMP/go" \
      --peaks-out "$TMP/par.$i.csv" > "$TMP/par.$i.out" &
    pids+=($!)
  done
  while (($(find "$TMP" -maxdepth 1 -name 'ready.*' | wc -l) < CORES)); do
    for i in "${pids[@]}"; do  # none can end before "go" unless it failed
      if ! kill -0 "$i" 2>/dev/null; then
        echo "run.sh: a py4DSTEM process ended before it was ready:" >&2
        cat "$TMP"/par.*.out >&2
        kill "${pids[@]}" 2>/dev/null || true  # the others would wait for "go" forever
        return 1
      fi
    done
    sleep 0.05
  done
  touch "$TMP/go"
  for i in "${pids[@]}"; do wait "$i"; done
  { head -1 "$TMP/par.0.csv"; for ((i = 0; i < CORES; ++i)); do tail -n +2 "$TMP/par.$i.csv"; done; } > "$peaks"
  cat "$TMP"/par.*.out | awk -v n="$n" '
    { for (k = 1; k <= NF; ++k) { split($k, kv, "="); v[kv[1]] = kv[2] }
      if (NR == 1 || v["t_start"] < t0) t0 = v["t_start"]
      if (NR == 1 || v["t_end"] > t1) t1 = v["t_end"]
      cpu += v["cpu_seconds"]; frames += v["frames"] }
    END { if (frames != n) { print "frames=" frames " != " n > "/dev/stderr"; exit 1 }
          printf "fps=%.3f fps_per_cpu_second=%.3f seconds=%.3f\n", n / (t1 - t0), n / cpu, t1 - t0 }'
}

echo "machine: $CORES cores, $(lscpu | sed -n 's/^Model name: *//p' | head -1); $(date -u +%Y-%m-%d)"
echo "py4DSTEM $("$PY" -c 'import py4DSTEM; print(py4DSTEM.__version__)'), numpy $("$PY" -c 'import numpy; print(numpy.__version__)') (BLAS on 1 thread per process); stemflow on $CORES threads"
echo "wall fps: frames / elapsed seconds; per core: wall fps / cores the row used; /CPU-s: frames per"
echo "CPU-second of the process(es); x py4DSTEM: wall fps / py4DSTEM's $CORES-process wall fps (same"
echo "cores). Both sides warm, the same frames on every row; best of $REPEAT runs each; load: 1-min"
echo "load average before the row (other work on the machine lowers the rates)."
bench_load_begin
echo
printf "| %-7s | %-9s | %-20s | %-5s | %-6s | %-10s | %-9s | %-10s | %-11s | %-5s | %-20s |\n" \
  "frame" "subpixel" "implementation" "cores" "frames" "wall fps" "per core" "/CPU-s" "x py4DSTEM" "load" "counts same, max dpos"
printf "|%s|%s|%s|%s|%s|%s|%s|%s|%s|%s|%s|\n" "---------" "-----------" "----------------------" "-------" \
  "--------" "------------" "-----------" "------------" "-------------" "-------" "----------------------"
row() {  # Q sub impl cores n fps cpu_fps ref_fps load agree
  printf "| %-7s | %-9s | %-20s | %-5s | %-6s | %-10s | %-9s | %-10s | %-11s | %-5s | %-20s |\n" \
    "$1^2" "$2" "$3" "$4" "$5" "$6" "$(python3 -c "print(f'{$6 / $4:.1f}')")" "$7" \
    "$(python3 -c "print(f'{$6 / $8:.2f}x')")" "$9" "${10}"
}
for Q in $SIZES; do
  n=$(frames_for "$Q")
  dir="$DATA/q$Q"
  if [[ ! -f "$dir/data_uint16.raw" ]] || [[ "$(sed -n 's/^frames //p' "$dir/meta.txt" 2>/dev/null)" != "$n" ]]; then
    "$PY" "$HERE/gen_frames.py" --size "$Q" --frames "$n" --out "$dir" >/dev/null
  fi
  [[ -f "$dir/template_float64.raw" ]] || "$PY" "$HERE/py4dstem_bench.py" template --dir "$dir" --size "$Q" >/dev/null
  eb=$((Q / 32))
  sp=$((9 * Q / 128))
  for sub in poly multicorr; do
    load=$(bench_load1)
    py_fps=0; py_cpu=0; pp_fps=0; pp_cpu=0
    declare -A sf_fps=([f32]=0 [f64]=0) sf_cpu=([f32]=0 [f64]=0)
    for ((rep = 0; rep < REPEAT; ++rep)); do
      # shellcheck disable=SC2046
      py_out=$("${PYENV[@]}" "$PY" "$HERE/py4dstem_bench.py" detect $(py_args "$Q" $sub $eb $sp) \
        --frames "$n" --peaks-out "$dir/py_peaks_$sub.csv")
      py_fps=$(best "$py_fps" "$(echo "$py_out" | field " fps")")
      py_cpu=$(best "$py_cpu" "$(echo "$py_out" | field fps_per_cpu_second)")
      pp_out=$(py_parallel "$Q" $sub $eb $sp "$n" "$dir/pypar_peaks_$sub.csv")
      pp_fps=$(best "$pp_fps" "$(echo "$pp_out" | field "fps")")
      pp_cpu=$(best "$pp_cpu" "$(echo "$pp_out" | field fps_per_cpu_second)")
      for prec in f32 f64; do
        sf_out=$("$BENCH" --data "$dir/data_uint16.raw" --template "$dir/template_float64.raw" \
          --frames "$n" --size "$Q" --subpixel $sub --precision $prec --edge-boundary $eb \
          --min-peak-spacing $sp --sigma 2 --min-relative-intensity 0.005 --max-num-peaks 70 \
          --upsample-factor 16 --threads "$CORES" --min-seconds "$MIN_SECONDS" \
          --peaks-out "$dir/sf_peaks_${sub}_$prec.csv")
        sf_fps[$prec]=$(best "${sf_fps[$prec]}" "$(echo "$sf_out" | field " fps")")
        sf_cpu[$prec]=$(best "${sf_cpu[$prec]}" "$(echo "$sf_out" | field fps_per_cpu_second)")
      done
    done
    ref="$dir/py_peaks_$sub.csv"
    row "$Q" $sub "py4DSTEM serial" 1 "$n" "$py_fps" "$py_cpu" "$pp_fps" "$load" "reference"
    row "$Q" $sub "py4DSTEM $CORES processes" "$CORES" "$n" "$pp_fps" "$pp_cpu" "$pp_fps" "$load" \
      "$("$PY" "$HERE/compare.py" "$ref" "$dir/pypar_peaks_$sub.csv" "$n")"
    for prec in f32 f64; do
      row "$Q" $sub "stemflow $prec" "$CORES" "$n" "${sf_fps[$prec]}" "${sf_cpu[$prec]}" "$pp_fps" "$load" \
        "$("$PY" "$HERE/compare.py" "$ref" "$dir/sf_peaks_${sub}_$prec.csv" "$n")"
    done
  done
done
echo
bench_load_end
