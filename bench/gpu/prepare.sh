#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-3.0-or-later
# Builds the GPU tests and benchmark HERE (nvcc, sm_90) and stages everything the GPU machine needs
# into one folder that the device call carries: prebuilt executables, the non-glibc shared libraries
# they load (the GPU machine has CUDA 13 with cuFFT, but no FFTW/TBB/spdlog/ZeroMQ/HDF5...), a
# reference-data subset, and the py4DSTEM wheels. bench/gpu/run.sh, run there from the repository
# root, unpacks it and runs everything.
#
# Usage: bench/gpu/prepare.sh            (BUILD=build-gpu, CARRY=$BUILD/carry)
# Then, from the device tool:  run  command="bash bench/gpu/run.sh"  carry=["build-gpu/carry"]
#
# The device call moves at most 64 MiB (working tree + carried paths), so the payload is one
# xz-compressed tarball; the script fails if it would not fit.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=${BUILD:-$ROOT/build-gpu}
CARRY=${CARRY:-$BUILD/carry}
SHARED=${STEMFLOW_SHARED_DIR:-$ROOT/../shared}
JOBS=${JOBS:-2}
LIMIT_MIB=${LIMIT_MIB:-60}  # leaves room for the working tree itself within the 64 MiB

cd "$ROOT"
if [[ ! -f "$BUILD/CMakeCache.txt" ]]; then
  cmake -S "$ROOT" -B "$BUILD" -DCMAKE_BUILD_TYPE=Release -DSTEMFLOW_CUDA=ON >/dev/null
fi
TARGETS=(test_gpu_plan test_gpu_device test_gpu_bragg test_gpu_detectors bench_gpu stemflow)
cmake --build "$BUILD" -j"$JOBS" --target "${TARGETS[@]}"

STAGE=$(mktemp -d)
trap 'rm -rf "$STAGE"' EXIT
P="$STAGE/stemflow-gpu"
mkdir -p "$P/bin" "$P/lib" "$P/reference" "$P/wheels"

# 1. executables
cp "$BUILD/tests/operators/gpu/test_gpu_plan" "$BUILD/tests/operators/gpu/test_gpu_device" \
   "$BUILD/tests/operators/gpu/test_gpu_bragg" "$BUILD/tests/operators/gpu/test_gpu_detectors" \
   "$BUILD/bench/gpu/bench_gpu" "$BUILD/pipeline/stemflow" "$P/bin/"
strip --strip-unneeded "$P"/bin/* 2>/dev/null || true

# 2. shared libraries they load, except glibc / the C++ runtime (the GPU machine's are newer: the
# binaries need GLIBC 2.35 and GLIBCXX 3.4.30 at most) and the CUDA toolkit's (there: cuFFT 12 of
# CUDA 13 in /usr/local/cuda/lib64; cudart is linked statically).
skip='^(linux-vdso|ld-linux|libc\.so|libm\.so|libmvec|libdl\.so|librt\.so|libpthread\.so|libresolv|libnss|libnsl|libanl|libutil\.so|libthread_db|libBrokenLocale|libstdc\+\+|libgcc_s|libcufft|libcudart|libcuda\.so)'
for exe in "$P"/bin/*; do
  ldd "$exe" | awk '/=>/ {print $1, $3}' | while read -r name path; do
    [[ "$name" =~ $skip ]] && continue
    [[ -f "$path" && ! -f "$P/lib/$name" ]] && cp -L "$path" "$P/lib/$name"
  done
done
strip --strip-unneeded "$P"/lib/* 2>/dev/null || true

# 3. reference data: the 256^2 set whole, the 128^2 set cut to its first 8 of 32 scan rows (the
# tests compare the frames present); no HDF5 sample or debug stages.
for ds in py4dstem-ref-256 py4dstem-ref-128; do
  src="$SHARED/reference/$ds"
  [[ -d "$src" ]] || { echo "prepare.sh: $src missing: the GPU tests will skip the references" >&2; continue; }
  mkdir -p "$P/reference/$ds"
  cp "$src"/meta.json "$src"/template_float32.raw "$src"/peaks_*.csv "$src"/virtual_*_float64.raw \
     "$src"/com_q*_float64.raw "$P/reference/$ds/"
  if [[ $ds == py4dstem-ref-128 ]]; then
    head -c $((8 * 32 * 128 * 128 * 2)) "$src/data_uint16.raw" >"$P/reference/$ds/data_uint16.raw"
  else
    cp "$src/data_uint16.raw" "$P/reference/$ds/"
  fi
done

# 4. py4DSTEM 0.14.18 and emdfile (pure Python; everything else py4DSTEM needs for disk detection is
# on the GPU machine: numpy, scipy, h5py, matplotlib, scikit-image, scikit-learn, tqdm, CuPy).
python3 -m pip download -q --no-deps --only-binary=:all: -d "$P/wheels" \
  py4dstem==0.14.18 emdfile==0.0.16

# 5. what is inside
{
  echo "built $(date -u +%Y-%m-%dT%H:%MZ) on $(uname -n): $(git -C "$ROOT" rev-parse --short HEAD) + working tree"
  nvcc --version | tail -1
  grep -o -- '--generate-code=[^ ]*' "$BUILD/operators/gpu/CMakeFiles/stemflow_cuda_ops.dir/flags.make"
  (cd "$P" && find . -type f -printf '%8s %p\n' | sort -k2)
} >"$P/MANIFEST.txt"

rm -rf "$CARRY"
mkdir -p "$CARRY"
tar -C "$STAGE" -cf - stemflow-gpu | xz -T"$JOBS" -6 >"$CARRY/payload.tar.xz"
cp "$P/MANIFEST.txt" "$CARRY/"
size=$(du -sb "$CARRY" | cut -f1)
tree=$(git -C "$ROOT" ls-files -co --exclude-standard -z | xargs -0 du -cb 2>/dev/null | tail -1 | cut -f1)
echo "prepare.sh: $CARRY = $((size >> 20)) MiB (uncompressed $(du -sm "$P" | cut -f1) MiB); working tree $((tree >> 20)) MiB"
if (( (size + tree) >> 20 >= LIMIT_MIB )); then
  echo "prepare.sh: more than $LIMIT_MIB MiB would travel; drop the engine binary or a dataset" >&2
  exit 1
fi
echo "device call: command=\"bash bench/gpu/run.sh\" carry=[\"${CARRY#$ROOT/}\"]"
