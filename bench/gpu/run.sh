#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-3.0-or-later
# The one script the GPU session runs, on the device machine, from the repository root:
#   1. unpacks the payload bench/gpu/prepare.sh staged (prebuilt executables for sm_90 + the shared
#      libraries the machine lacks + reference data + py4DSTEM wheels);
#   2. the GPU tests (GPU vs CPU reference, label `gpu`), then compute-sanitizer memcheck on them
#      (quick mode: smaller scans);
#   3. bench_gpu: frames/s at 128^2, 256^2, 512^2 (u16, Bragg poly + 3 virtual detectors + CoM, pinned
#      host memory to host results), the measured H2D bandwidth and PCIe-bound rate, the GPU stage
#      shares;
#   4. py4DSTEM 0.14.18's own CUDA path (CuPy, CUDA=True) on the same frames;
#   5. an engine smoke run: `stemflow run` on the reference scan with pipeline.device = cuda and cpu,
#      results files compared;
#   and prints a short table. Budget: about 8 minutes on one H100 (each step has a timeout).
#
# Device call (from the session with a GPU):
#   command: bash bench/gpu/run.sh        carry: ["build-gpu/carry"]        timeout_s: 600
# Everything printed also lands in $OUT (run.log, summary.md, details.tar.gz).
set -uo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
cd "$ROOT"
source "$ROOT/bench/lib.sh"
CARRY=${CARRY:-build-gpu/carry}
OUT=${OUT:-/tmp/stemflow-gpu-out}
W=/tmp/stemflow-gpu
DETAILS=$W/details
mkdir -p "$OUT"
T0=$(date +%s)
DEADLINE=$(( T0 + ${BUDGET_S:-480} ))  # every step's timeout is cut to what is left of this
step() { echo; echo "=== [$(( $(date +%s) - T0 )) s] $*"; }
SUMMARY=()
note() { SUMMARY+=("$*"); echo ">>> $*"; }
#! The timeout for a step that wants $1 seconds: at most what is left before the deadline.
tmo() {
  local want=$1 left=$(( DEADLINE - $(date +%s) ))
  (( left < want )) && want=$left
  (( want < 10 )) && want=10
  echo "$want"
}
left() { echo $(( DEADLINE - $(date +%s) )); }

main() {

step "machine"
nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm,pcie.link.gen.max,pcie.link.width.max \
  --format=csv,noheader 2>&1 | head -2
echo "kernel $(uname -r); $(ldd --version 2>&1 | head -1); $(python3 --version 2>&1); date $(date -u +%F)"
bench_load_begin

step "unpack $CARRY/payload.tar.xz"
rm -rf "$W"
if ! tar -C /tmp -xJf "$CARRY/payload.tar.xz" 2>/dev/null &&
   ! python3 -c "import tarfile, sys; tarfile.open(sys.argv[1]).extractall('/tmp')" "$CARRY/payload.tar.xz"; then
  note "FATAL: cannot unpack $CARRY/payload.tar.xz (run bench/gpu/prepare.sh and carry $CARRY)"
  return 2
fi
mkdir -p "$DETAILS"
head -3 "$W/MANIFEST.txt"
B=$W/bin
export STEMFLOW_SHARED_DIR=$W  # holds reference/ (tests read it from here)
LIBS="$W/lib:/usr/local/cuda/lib64:/usr/local/cuda/lib"
# Our libraries only for our executables: python (CuPy, PyTorch) keeps the machine's own.
sf() { LD_LIBRARY_PATH="$LIBS${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" "$@"; }
for exe in "$B"/*; do
  missing=$(sf ldd "$exe" 2>&1 | grep "not found" || true)
  [[ -n "$missing" ]] && note "WARNING: $(basename "$exe") cannot load: $missing"
done
CS=$(command -v compute-sanitizer || ls -d /usr/local/cuda*/bin/compute-sanitizer \
  /usr/local/cuda*/compute-sanitizer/compute-sanitizer /opt/nvidia/*/compute-sanitizer 2>/dev/null | head -1)

# ---- 2. tests -------------------------------------------------------------------------------------
step "GPU tests (GPU vs CPU reference; the py4DSTEM reference scans from $STEMFLOW_SHARED_DIR/reference)"
for spec in test_gpu_plan:30 test_gpu_device:30 test_gpu_detectors:90 test_gpu_bragg:150; do
  t=${spec%%:*}
  t1=$(date +%s)
  sf timeout "$(tmo ${spec##*:})" "$B/$t" --gtest_output="xml:$DETAILS/$t.xml" >"$DETAILS/$t.log" 2>&1
  rc=$?
  passed=$(grep -c '^\[       OK \]' "$DETAILS/$t.log")
  failed=$(grep -c '^\[  FAILED  \] .*([0-9]* ms)' "$DETAILS/$t.log")
  skipped=$(grep -c '^\[  SKIPPED \] .*([0-9]* ms)' "$DETAILS/$t.log")
  grep -E '^\[ .* \] GPU vs|checked against py4DSTEM|Failure|Expected|Which is|Value of|error' "$DETAILS/$t.log" | head -60
  note "$t: rc=$rc, $passed passed, $failed failed, $skipped skipped ($(( $(date +%s) - t1 )) s)"
  [[ $rc -ne 0 ]] && tail -25 "$DETAILS/$t.log"
done

step "compute-sanitizer memcheck on the GPU tests (STEMFLOW_GPU_TEST_QUICK=1: small scans)"
if [[ -n "$CS" ]]; then
  t1=$(date +%s)
  STEMFLOW_GPU_TEST_QUICK=1 sf timeout "$(tmo 80)" "$CS" --tool memcheck --error-exitcode 99 \
    "$B/test_gpu_detectors" --gtest_filter='-*Reference*' >"$DETAILS/memcheck_detectors.log" 2>&1
  rc1=$?
  STEMFLOW_GPU_TEST_QUICK=1 sf timeout "$(tmo 80)" "$CS" --tool memcheck --error-exitcode 99 \
    "$B/test_gpu_bragg" \
    --gtest_filter='GpuBragg.PixelMatchesCpu:GpuBragg.MulticorrMatchesCpu:GpuBragg.OddAndNonSquareFrames:GpuBragg.NonFiniteFramesFail:GpuBragg.ConcurrentBatchesEqualSerial' \
    >"$DETAILS/memcheck_bragg.log" 2>&1
  rc2=$?
  for f in memcheck_detectors memcheck_bragg; do
    grep -E '========= (ERROR SUMMARY|Invalid|Program hit|Error)' "$DETAILS/$f.log" | head -12
  done
  note "memcheck: test_gpu_detectors rc=$rc1, test_gpu_bragg rc=$rc2 (0 = clean; 99 = memory errors; 124 = timeout) ($(( $(date +%s) - t1 )) s)"
else
  note "memcheck: compute-sanitizer not found"
fi

# ---- 3. benchmark ----------------------------------------------------------------------------------
step "bench_gpu"
FRAMES=/tmp/stemflow-gpu-frames
rm -rf "$FRAMES"
# shellcheck disable=SC2086  # BENCH_ARGS: extra options (a dry run elsewhere uses tiny sizes)
sf timeout "$(tmo 120)" "$B/bench_gpu" ${BENCH_ARGS:---seconds 3} --dump "$FRAMES" | tee "$DETAILS/bench.log"
note "bench_gpu: rc=${PIPESTATUS[0]}"

# ---- 4. py4DSTEM's CUDA path on the same frames ----------------------------------------------------
step "py4DSTEM 0.14.18 CUDA path (CuPy) on the same frames"
SITE=/tmp/stemflow-py4dstem-site
rm -rf "$SITE"
if python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target "$SITE" \
     "$W"/wheels/*.whl >"$DETAILS/pip.log" 2>&1; then
  # One process for the three sizes: py4DSTEM + CuPy import once.
  PYTHONPATH="$SITE${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1 timeout "$(tmo 150)" \
    python3 bench/gpu/py4dstem_cuda.py --dir "$FRAMES"/128 "$FRAMES"/256 "$FRAMES"/512 2>&1 |
    tee "$DETAILS/py4dstem.log" | grep -vE '^\s*$' | tail -8
else
  note "py4DSTEM: pip install of the carried wheels failed"; tail -5 "$DETAILS/pip.log"
fi

# ---- 5. the engine on the GPU -----------------------------------------------------------------------
step "engine smoke run: stemflow run, pipeline.device = cuda vs cpu, on py4dstem-ref-256"
REF=$W/reference/py4dstem-ref-256
if (( $(left) < 30 )); then
  note "engine smoke run skipped: the time budget is spent"
elif [[ -x "$B/stemflow" && -f "$REF/data_uint16.raw" ]]; then
  E=/tmp/stemflow-engine
  rm -rf "$E" && mkdir -p "$E"
  python3 -c "import numpy as np; np.save('$E/template.npy', np.fromfile('$REF/template_float32.raw', np.float32).reshape(256, 256).astype(np.float64))"
  cat >"$E/run.toml" <<EOF
[input]
source = "file"
path = "$REF/data_uint16.raw"
format = "raw"
frame_shape = [256, 256]
[scan]
shape = [8, 8]
[pipeline]
batch_frames = 16
[[operators]]
type = "bragg_disks"
name = "bragg"
template = "$E/template.npy"
subpixel = "poly"
edge_boundary = 8
min_peak_spacing = 18
[[operators]]
type = "virtual_image"
name = "bf"
detector = "circle"
center = [128.276, 127.771]
radius = 10.97
[[operators]]
type = "center_of_mass"
name = "com"
[[operators]]
type = "mean_pattern"
name = "mean"
[outputs.hdf5]
path = "$E/out_{series}.h5"
if_exists = "overwrite"
EOF
  for dev in cuda cpu; do
    sf timeout "$(tmo 40)" "$B/stemflow" run "$E/run.toml" --series 1 --set pipeline.device=$dev \
      --set "outputs.hdf5.path=$E/$dev.h5" >"$DETAILS/engine_$dev.log" 2>&1
    echo "stemflow ($dev): rc=$?"; grep -E 'device|GPU|runs|series .* (ended|complete)|error' "$DETAILS/engine_$dev.log" | head -8
  done
  if [[ -f "$E/cuda.h5" && -f "$E/cpu.h5" ]]; then
    python3 bench/gpu/compare_h5.py "$E/cuda.h5" "$E/cpu.h5" 2>&1 | tail -25
    note "engine cuda vs cpu: rc=${PIPESTATUS[0]} (0 = agree)"
  else
    note "engine smoke run: results files missing (see engine_*.log)"
  fi
else
  note "engine smoke run skipped (no stemflow binary or reference scan)"
fi

# ---- table -----------------------------------------------------------------------------------------
step "summary"
{
  echo "## GPU run $(date -u +%F), $(nvidia-smi --query-gpu=name --format=csv,noheader | head -1)"
  echo
  for s in "${SUMMARY[@]}"; do echo "- $s"; done
  echo
  echo "| frame | stemflow frames/s | H2D GB/s | PCIe-bound frames/s | % of PCIe bound | py4DSTEM CUDA frames/s | speed-up | stages per batch, ms (copy / vimg+CoM / FFT / peaks / out) | peaks/frame (py4DSTEM counts = ours) |"
  echo "|---|---|---|---|---|---|---|---|---|"
  for q in 128 256 512; do
    r=$(grep "^RESULT size=$q " "$DETAILS/bench.log" 2>/dev/null | head -1)
    p=$(grep "^RESULT size=$q " "$DETAILS/py4dstem.log" 2>/dev/null | head -1)
    val() { sed -n "s/.* $1=\([^ ]*\).*/\1/p" <<<"$2"; }
    fps=$(val fps "$r"); pf=$(val fps "$p")
    speed=$( [[ -n "$fps" && -n "$pf" ]] && python3 -c "print(f'{$fps / $pf:.0f}x')" || echo "-")
    pct=$( [[ -n "$r" ]] && python3 -c "print(f'{100 * $(val ratio "$r"):.0f} %')" || echo "-")
    echo "| ${q}x${q} | ${fps:--} | $(val pcie_gbs "$r") | $(val pcie_fps "$r") | $pct | ${pf:--} | $speed | $(val copy_ms "$r") / $(val vimg_ms "$r") / $(val fft_ms "$r") / $(val peaks_ms "$r") / $(val out_ms "$r") | $(val peaks_per_frame "$r") ($(val counts_equal_stemflow "$p")) |"
  done
  echo
  echo "Goal: >= 200,000 frames/s at 256x256 and >= 50 % of the PCIe-bound rate at every size."
} | tee "$OUT/summary.md"
tar -C "$W" -czf "$OUT/details.tar.gz" details 2>/dev/null
bench_load_end | tee -a "$OUT/summary.md"
echo "total $(( $(date +%s) - T0 )) s"
}

main 2>&1 | tee "$OUT/run.log"
