#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-3.0-or-later
"""Compares the results files of two engine runs (pipeline.device = cuda and cpu) dataset by dataset.

Numeric datasets of the same shape: the largest relative difference (NaN-aware). Peak tables
(compound data): rows per frame and the largest position difference after matching. Also prints the
provenance's device string of each file. Exit status 0 when every image agrees within 1e-6 relative
and the peak counts agree in >= 99.5 % of frames.
"""
import sys

import h5py
import numpy as np


def walk(f):
    out = {}

    def visit(name, obj):
        if isinstance(obj, h5py.Dataset):
            out[name] = obj

    f.visititems(visit)
    return out


def device_strings(f):
    found = []

    def visit(name, obj):
        for k, v in obj.attrs.items():
            s = v.decode() if isinstance(v, bytes) else v
            if isinstance(s, str) and ("cuda" in s or s == "cpu") and "device" in k.lower():
                found.append(f"{name}@{k}={s}")
        if isinstance(obj, h5py.Dataset) and obj.dtype.kind in "SO" and obj.size == 1 and "device" in name.lower():
            v = obj[()]
            found.append(f"{name}={v.decode() if isinstance(v, bytes) else v}")

    f.visititems(visit)
    return found


def main():
    a, b = h5py.File(sys.argv[1], "r"), h5py.File(sys.argv[2], "r")
    da, db = walk(a), walk(b)
    print("devices:", device_strings(a), "|", device_strings(b))
    ok = True
    for name in sorted(set(da) & set(db)):
        x, y = da[name], db[name]
        if x.shape != y.shape and x.dtype.names is None:
            print(f"  {name}: shapes differ {x.shape} vs {y.shape}")
            ok = False
            continue
        if x.dtype.kind in "fiu" and x.dtype.names is None:
            xv, yv = x[()].astype(np.float64), y[()].astype(np.float64)
            both = np.isfinite(xv) & np.isfinite(yv)
            if not np.array_equal(np.isnan(xv), np.isnan(yv)):
                print(f"  {name}: NaN positions differ")
                ok = False
            d = np.abs(xv[both] - yv[both]) / np.maximum(np.abs(yv[both]), 1e-300) if both.any() else np.zeros(1)
            worst = float(d.max()) if d.size else 0.0
            flag = "" if worst <= 1e-6 else "   <-- above 1e-6"
            if "count" in name.lower() and worst > 0:
                frac = float(np.mean(xv == yv))
                flag = f"   (equal in {100 * frac:.2f} % of frames)"
                ok &= frac >= 0.995
            elif worst > 1e-6 and "time" not in name.lower():
                ok = False
            print(f"  {name}: {x.shape} max rel diff {worst:.3g}{flag}")
    missing = sorted(set(da) ^ set(db))
    if missing:
        print("  only in one file:", missing)
    print("compare_h5:", "AGREE" if ok else "DIFFER")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
