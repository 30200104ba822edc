# SPDX-License-Identifier: GPL-3.0-or-later
"""py4DSTEM 0.14.18's own origin / Bragg vector map / strain workflow on a reference dataset's
peaks, for tests/operators/strain_map (the C++ test compares stemflow's operators with it).

  py4dstem_strain.py REF_DIR PEAKS_CSV OUT_DIR RX0 RX1 RY0 RY1 MAX_PEAK_SPACING BVM_PEAKS

Writes to OUT_DIR: origin_meas.csv, origin_fit.csv (rx, ry, qx0, qy0), bvm.raw (float64,
Q shape), bvm_center.txt (the mean fitted origin), g1g2.csv (rx, ry, g1x, g1y, g2x, g2y, mask),
strain.csv (rx, ry, e_xx, e_yy, e_xy, theta, mask), com_origin.csv (get_origin on the first
scan row: rx, ry, qx0, qy0).
"""
import csv
import json
import os
import sys

import matplotlib

matplotlib.use("Agg")
import numpy as np  # noqa: E402
import py4DSTEM  # noqa: E402
from py4DSTEM.braggvectors import BraggVectors  # noqa: E402


def main():
    ref, peaks_csv, out = sys.argv[1], sys.argv[2], sys.argv[3]
    rx0, rx1, ry0, ry1 = (int(v) for v in sys.argv[4:8])
    spacing = float(sys.argv[8])
    os.makedirs(out, exist_ok=True)
    meta = json.load(open(os.path.join(ref, "meta.json")))
    R = tuple(meta["data"]["shape"][:2])
    Q = tuple(meta["data"]["shape"][2:])

    bv = BraggVectors(R, Q)
    rows = {}
    with open(peaks_csv) as f:
        for r in csv.DictReader(f):
            rows.setdefault((int(r["rx"]), int(r["ry"])), []).append(
                (float(r["qx"]), float(r["qy"]), float(r["intensity"])))
    for (rx, ry), pl in rows.items():
        arr = np.array(pl, dtype=[("qx", float), ("qy", float), ("intensity", float)])
        bv._v_uncal[rx, ry].add_data_by_field((arr["qx"], arr["qy"], arr["intensity"]))

    qx0, qy0, _ = bv.measure_origin()
    qx0_fit, qy0_fit, _, _ = bv.fit_origin(fitfunction="plane", plot=False)
    with open(os.path.join(out, "origin_meas.csv"), "w") as f:
        for rx in range(R[0]):
            for ry in range(R[1]):
                f.write(f"{rx},{ry},{qx0[rx, ry]!r},{qy0[rx, ry]!r}\n")
    with open(os.path.join(out, "origin_fit.csv"), "w") as f:
        for rx in range(R[0]):
            for ry in range(R[1]):
                f.write(f"{rx},{ry},{qx0_fit[rx, ry]!r},{qy0_fit[rx, ry]!r}\n")
    bv.calibration.set_origin((qx0_fit, qy0_fit))
    bv.calibrate()
    bvm = bv.histogram(mode="cal", sampling=1)
    np.asarray(bvm.data, dtype=np.float64).tofile(os.path.join(out, "bvm.raw"))
    c = bv.calibration.get_origin_mean()
    with open(os.path.join(out, "bvm_center.txt"), "w") as f:
        f.write(f"{float(c[0])!r} {float(c[1])!r}\n")

    sm = py4DSTEM.StrainMap(braggvectors=bv)
    sm.choose_basis_vectors(minSpacing=5, maxNumPeaks=int(sys.argv[9]))
    sm.set_max_peak_spacing(spacing)
    sm.fit_basis_vectors()
    roi = np.zeros(R, dtype=bool)
    roi[rx0:rx1, ry0:ry1] = True
    sm.get_strain(gvects=roi)
    g = sm.g1g2_map
    with open(os.path.join(out, "g1g2.csv"), "w") as f:
        for rx in range(R[0]):
            for ry in range(R[1]):
                vals = [g[k].data[rx, ry] for k in ("g1x", "g1y", "g2x", "g2y", "mask")]
                f.write(",".join([str(rx), str(ry)] + [repr(float(v)) for v in vals]) + "\n")
    # get_origin (the centre of mass of the central disk) on the first scan row's frames.
    data = np.fromfile(os.path.join(ref, "data_uint16.raw"), dtype="<u2").reshape(R + Q)
    dc = py4DSTEM.DataCube(data=np.ascontiguousarray(data[0:1]))
    radius = float(meta["template"]["alpha"])
    cqx0, cqy0, _ = py4DSTEM.process.calibration.get_origin(dc, r=radius)
    with open(os.path.join(out, "com_origin.csv"), "w") as f:
        f.write(f"{radius!r}\n")
        for ry in range(R[1]):
            f.write(f"0,{ry},{cqx0[0, ry]!r},{cqy0[0, ry]!r}\n")
    with open(os.path.join(out, "strain.csv"), "w") as f:
        for rx in range(R[0]):
            for ry in range(R[1]):
                vals = [sm.data[k, rx, ry] for k in range(5)]
                f.write(",".join([str(rx), str(ry)] + [repr(float(v)) for v in vals]) + "\n")


if __name__ == "__main__":
    main()
