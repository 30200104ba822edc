# SPDX-License-Identifier: GPL-3.0-or-later
"""Watches a stemflow results file while the engine writes it, as a user's h5py session would:
opens it in SWMR mode every INTERVAL seconds and prints the number of scan positions covered.

Usage: h5py_watch.py RESULTS.h5 SECONDS INTERVAL
Prints one line per look: "<seconds> <covered>" (covered = -1 when the file cannot be opened yet).
"""
import sys
import time

import h5py


def main(path, seconds, interval):
    t0 = time.time()
    while time.time() - t0 < seconds:
        try:
            with h5py.File(path, "r", swmr=True, libver="latest") as f:
                d = f["stemflow/coverage/data"]
                d.refresh()
                covered = int(d[()].sum())
        except (OSError, KeyError):
            covered = -1
        print(f"{time.time() - t0:.2f} {covered}", flush=True)
        time.sleep(interval)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], float(sys.argv[2]), float(sys.argv[3])))
