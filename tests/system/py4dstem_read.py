# SPDX-License-Identifier: GPL-3.0-or-later
"""Loads a stemflow results file with py4DSTEM.read() and checks that every object comes back with
the values stemflow wrote (read independently with h5py): each VirtualImage / RealSlice /
DiffractionSlice array, and each BraggVectors' peak lists position by position.

Usage: py4dstem_read.py RESULTS.h5 [EXPECTED_NAMES,...]
Exit 0 when everything matches; prints what it checked.
"""
import sys

import h5py
import numpy as np
import py4DSTEM


def main(path, expected):
    root = py4DSTEM.read(path)
    names = list(root.treekeys) if hasattr(root, "treekeys") else []
    checked = 0
    with h5py.File(path, "r") as f:
        g = f["stemflow"]
        for name, obj in g.items():
            if not isinstance(obj, h5py.Group):
                continue
            cls = obj.attrs.get("python_class")
            if cls in ("VirtualImage", "RealSlice", "DiffractionSlice", "Array"):
                node = root.tree(name)
                want = obj["data"][()]
                got = np.asarray(node.data)
                assert type(node).__name__ == cls, f"{name}: py4DSTEM made a {type(node).__name__}"
                assert got.shape == want.shape, f"{name}: shape {got.shape} != {want.shape}"
                assert np.array_equal(got, want, equal_nan=True), f"{name}: values differ"
                checked += 1
            elif cls == "BraggVectors":
                bv = py4DSTEM.read(path, datapath=f"stemflow/{name}")
                vl = obj["_v_uncal/data"]
                rx, ry = vl.shape
                assert tuple(bv.Rshape) == (rx, ry), f"{name}: Rshape {bv.Rshape}"
                n = 0
                for i in range(rx):
                    for j in range(ry):
                        want = vl[i, j]
                        got = bv.raw[i, j].data
                        assert len(got) == len(want), f"{name}[{i},{j}]: {len(got)} peaks != {len(want)}"
                        for field in ("qx", "qy", "intensity"):
                            assert np.array_equal(got[field], want[field]), f"{name}[{i},{j}].{field}"
                        n += len(want)
                print(f"  {name}: BraggVectors {rx}x{ry}, {n} peaks equal")
                checked += 1
    for name in expected:
        assert name in f"{names}" or root.tree(name) is not None, f"missing {name}"
    md = root.metadata["provenance"]
    print(f"py4DSTEM.read({path}): {checked} objects equal; provenance series_end={md['series_end']}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], [n for n in (sys.argv[2].split(",") if len(sys.argv) > 2 else []) if n]))
