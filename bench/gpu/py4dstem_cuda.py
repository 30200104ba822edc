#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-3.0-or-later
"""py4DSTEM 0.14.18's own CUDA path on the frames bench_gpu wrote (the peer a user would pick).

  DataCube(frames).find_Bragg_disks(template, CUDA=True, CUDA_batched=True, subpixel='poly', ...)
  with the benchmark parameters of docs/py4dstem.md section 5 and bench_gpu's template; the first
  call warms CuPy up (kernel compilation, memory pool), the second is timed as a whole. Prints one
  "RESULT ..." line with frames/s and how often py4DSTEM's peak count equals stemflow's.

py4DSTEM imports modules its disk detection never calls (ptychography, file readers, dask); those
the GPU machine lacks are replaced by inert stand-ins, and the script says which.
"""
import argparse
import importlib.abc
import importlib.machinery
import os
import sys
import time
import types
import warnings

# Modules py4DSTEM imports unconditionally at load time but never uses for disk detection (file
# readers, ptychography, plotting colour spaces, the broken distributed paths). Optional imports
# that py4DSTEM guards itself (pymatgen, tensorflow, ...) are left alone.
STUB_ROOTS = {
    "gdown", "hdf5plugin", "dask", "distributed", "mpire", "bs4", "pyaml", "ncempy", "pylops",
    "skopt", "colorspacious", "dill",
}


class _Inert:
    """Stands in for anything taken from a stubbed module; usable as a base class."""

    def __init__(self, *a, **k):
        pass

    def __call__(self, *a, **k):
        return _Inert()

    def __getattr__(self, name):
        if name.startswith("__"):
            raise AttributeError(name)
        return _Inert()

    def __mro_entries__(self, bases):
        return (object,)


class _StubModule(types.ModuleType):
    def __getattr__(self, name):
        if name.startswith("__"):
            raise AttributeError(name)
        return _Inert()


class _StubFinder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Consulted last: only modules the normal finders cannot find are stubbed."""

    def __init__(self):
        self.used = set()

    def find_spec(self, fullname, path, target=None):
        if fullname.split(".")[0] not in STUB_ROOTS:
            return None
        self.used.add(fullname.split(".")[0])
        return importlib.machinery.ModuleSpec(fullname, self, is_package=True)

    def create_module(self, spec):
        m = _StubModule(spec.name)
        m.__path__ = []
        return m

    def exec_module(self, module):
        pass


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--dir", required=True, nargs="+", help="bench_gpu --dump DIR/<size> (several)")
    ap.add_argument("--frames", type=int, default=0)
    ap.add_argument("--cpu", action="store_true", help="py4DSTEM's CPU path (checks the script without a GPU)")
    a = ap.parse_args()
    warnings.filterwarnings("ignore")
    finder = _StubFinder()
    sys.meta_path.append(finder)

    import numpy as np

    t_import = time.perf_counter()
    import py4DSTEM

    if a.cpu:
        cupy = None
    else:
        import cupy

    t_import = time.perf_counter() - t_import
    if finder.used:
        print(f"py4dstem_cuda: stand-ins for modules not installed here: {sorted(finder.used)}")
    print(f"py4dstem_cuda: py4DSTEM {py4DSTEM.__version__}, CuPy {cupy.__version__ if cupy else '-'}, numpy "
          f"{np.__version__}, imported in {t_import:.1f} s")
    for d in a.dir:
        if os.path.isdir(d):
            run(d, a.frames, np, py4DSTEM, cupy)


def run(d, frames, np, py4DSTEM, cupy):
    params = {}
    with open(os.path.join(d, "params.txt")) as fh:
        for line in fh:
            k, v = line.split()
            params[k] = float(v)
    q = int(params["size"])
    data = np.fromfile(os.path.join(d, "data_uint16.raw"), dtype=np.uint16).reshape(-1, q, q)
    n = frames if 0 < frames <= data.shape[0] else data.shape[0]
    data = np.ascontiguousarray(data[:n]).reshape(1, n, q, q)
    template = np.fromfile(os.path.join(d, "template_float64.raw"), dtype=np.float64).reshape(q, q)
    ours = np.loadtxt(os.path.join(d, "counts.txt"), dtype=np.int64).reshape(-1)[:n]
    dc = py4DSTEM.DataCube(data=data)
    kw = dict(
        corrPower=1.0, sigma=params["sigma"], sigma_dp=0, edgeBoundary=int(params["edge_boundary"]),
        minRelativeIntensity=params["min_relative_intensity"], relativeToPeak=0,
        minAbsoluteIntensity=0, minPeakSpacing=params["min_peak_spacing"],
        maxNumPeaks=int(params["max_num_peaks"]), upsample_factor=16, subpixel="poly",
        filter_function=None, radial_bksb=False, CUDA=cupy is not None, CUDA_batched=True,
    )
    sync = cupy.cuda.runtime.deviceSynchronize if cupy is not None else (lambda: None)
    devnull = open(os.devnull, "w")
    out, err = sys.stdout, sys.stderr
    times = []
    bv = None
    for _ in range(2):  # warm-up (CuPy compiles its kernels), then the timed run
        sys.stdout, sys.stderr = devnull, devnull  # py4DSTEM prints progress and rates
        try:
            sync()
            t0 = time.perf_counter()
            bv = dc.find_Bragg_disks(template=template, **kw)
            sync()
            times.append(time.perf_counter() - t0)
        finally:
            sys.stdout, sys.stderr = out, err
    counts = np.array([bv.raw[0, i].data.shape[0] for i in range(n)])
    same = float(np.mean(counts == ours)) if ours.size == n else float("nan")
    print(f"RESULT size={q} frames={n} fps={n / times[-1]:.1f} warm_s={times[0]:.2f} "
          f"timed_s={times[-1]:.3f} mean_peaks={counts.mean():.2f} counts_equal_stemflow={same:.4f}",
          flush=True)


if __name__ == "__main__":
    main()
