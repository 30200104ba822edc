# SPDX-License-Identifier: GPL-3.0-or-later
"""stemflow.find_bragg_disks: a drop-in for py4DSTEM 0.14.18's DataCube.find_Bragg_disks."""
import os
import tempfile

import numpy as np

from ._api import _PEAK_DTYPE, _as_frames, _braggvectors, run


class BraggPeaks:
    """Bragg peaks per scan position (what find_bragg_disks returns without py4DSTEM)."""

    def __init__(self, results, name):
        self._results = results
        self._name = name
        self.Rshape = tuple(results.scan_shape)
        self.Qshape = tuple(results.frame_shape)
        self.name = name

    def peaks(self, rx, ry):
        """A structured array with fields qx (row), qy (column), intensity, raw pixels."""
        return self._results.peaks(self._name, rx, ry)

    @property
    def results(self):
        return self._results

    def __repr__(self):
        return f"<stemflow.BraggPeaks {self.Rshape[0]}x{self.Rshape[1]} scan>"


def _not_supported(name, value, default):
    if value is not default and value != default:
        raise NotImplementedError(
            f"find_bragg_disks: {name}={value!r} is not supported by stemflow (only {default!r})")


def _integer(name, v, lo=0):
    if isinstance(v, bool) or not float(v).is_integer() or v < lo:
        raise ValueError(f"{name}: expected an integer >= {lo}, got {v!r}")
    return int(v)


def _number(name, v):
    if isinstance(v, bool) or not isinstance(v, (int, float, np.integer, np.floating)):
        raise TypeError(f"{name}: expected a number, got {type(v).__name__}")
    if not np.isfinite(v) or v < 0:
        raise ValueError(f"{name}: expected a finite number >= 0, got {v!r}")
    return float(v)


def find_bragg_disks(
    data,
    template,
    *,
    radial_bksb=False,
    filter_function=None,
    corrPower=1,
    sigma=None,
    sigma_dp=0,
    sigma_cc=2,
    subpixel="multicorr",
    upsample_factor=16,
    minAbsoluteIntensity=0,
    minRelativeIntensity=0.005,
    relativeToPeak=0,
    minPeakSpacing=60,
    edgeBoundary=20,
    maxNumPeaks=70,
    CUDA=False,
    CUDA_batched=True,
    distributed=None,
    ML=False,
    ml_model_path=None,
    ml_num_attempts=1,
    ml_batch_size=8,
    name="braggvectors",
    returncalc=True,
    precision="f64",
    threads=0,
    progress=False,
):
    """Bragg disk detection as py4DSTEM's DataCube.find_Bragg_disks (CPU path), on all cores.

    data: (Rx, Ry, Qx, Qy) uint8/uint16/uint32/float32 array, numpy memmap (read in place) or
    py4DSTEM DataCube. template: the (Qx, Qy) correlation kernel as py4DSTEM's get_kernel makes it
    (probe centre at pixel (0, 0)), or None. The keywords are py4DSTEM's, with its defaults.
    stemflow's own: precision ("f64": py4DSTEM's float64 arithmetic; "f32": faster), threads
    (0 = all cores), progress (a tqdm bar). Returns a py4DSTEM BraggVectors when py4DSTEM is
    importable, else a stemflow.BraggPeaks; None when returncalc is False.
    """
    frames = _as_frames(data)
    _not_supported("radial_bksb", radial_bksb, False)
    _not_supported("filter_function", filter_function, None)
    _not_supported("distributed", distributed, None)
    _not_supported("ML", ML, False)
    if subpixel not in ("none", "pixel", "poly", "multicorr"):
        raise ValueError(
            f"subpixel: expected 'none', 'poly' or 'multicorr', got {subpixel!r}")
    if precision not in ("f32", "f64"):
        raise ValueError(f"precision: expected 'f32' or 'f64', got {precision!r}")
    op = {
        "type": "bragg_disks",
        "name": name,
        "corr_power": _number("corrPower", corrPower),
        "sigma": _number("sigma", sigma if sigma is not None else sigma_cc),
        "sigma_dp": _number("sigma_dp", sigma_dp),
        "subpixel": subpixel,
        "upsample_factor": _integer("upsample_factor", upsample_factor, 1),
        "min_absolute_intensity": _number("minAbsoluteIntensity", minAbsoluteIntensity),
        "min_relative_intensity": _number("minRelativeIntensity", minRelativeIntensity),
        "relative_to_peak": _integer("relativeToPeak", relativeToPeak),
        "min_peak_spacing": _number("minPeakSpacing", minPeakSpacing),
        "edge_boundary": _integer("edgeBoundary", edgeBoundary),
        "max_num_peaks": _integer("maxNumPeaks", maxNumPeaks, 1),
        "precision": precision,
    }
    qshape = frames.shape[2:]
    tmp = None
    try:
        if template is None:
            op["template"] = "none"
        else:
            if hasattr(template, "data") and not isinstance(template, np.ndarray):
                template = template.data  # a py4DSTEM Probe's kernel array
            t = np.asarray(template)
            if t.ndim != 2 or t.shape != qshape:
                raise ValueError(
                    f"template: expected a 2-D array of the frame shape (Qx, Qy) = {qshape}, "
                    f"got shape {t.shape}")
            if not np.issubdtype(t.dtype, np.number) or np.iscomplexobj(t):
                raise TypeError(f"template: expected a real-valued array, got {t.dtype}")
            fd, tmp = tempfile.mkstemp(prefix="stemflow_template_", suffix=".npy")
            with os.fdopen(fd, "wb") as f:
                np.save(f, np.ascontiguousarray(t, dtype=np.float64))
            op["template"] = tmp
        config = {
            "pipeline": {"device": "cuda" if CUDA else "cpu", "threads": _integer("threads",
                                                                                    threads)},
            "operators": [op],
        }
        res = run(config, data=frames, progress=progress)
    finally:
        if tmp is not None:
            os.unlink(tmp)
    if not returncalc:
        return None
    try:
        import py4DSTEM  # noqa: F401
    except ImportError:
        return BraggPeaks(res, name)
    return _braggvectors(res, name, name)


__all__ = ["BraggPeaks", "find_bragg_disks", "_PEAK_DTYPE"]
