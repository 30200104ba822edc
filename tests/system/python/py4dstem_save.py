# SPDX-License-Identifier: GPL-3.0-or-later
"""Saves SCAN.npy as a py4DSTEM DataCube with py4DSTEM.save (py4DSTEM 0.14.18, its EMD 1.0 writer):
the file stemflow's EMD replay must read as py4DSTEM's users write it.

usage: py4dstem_save.py SCAN.npy OUT.h5
"""
import sys

import numpy as np
import py4DSTEM


def main():
    scan = np.load(sys.argv[1])
    dc = py4DSTEM.DataCube(data=scan, name="scan")
    py4DSTEM.save(sys.argv[2], dc, mode="o")
    back = py4DSTEM.read(sys.argv[2])
    assert np.array_equal(np.asarray(back.data), scan), "py4DSTEM does not read back its own file"
    print(f"saved {scan.shape} {scan.dtype} with py4DSTEM {py4DSTEM.__version__}")


if __name__ == "__main__":
    main()
