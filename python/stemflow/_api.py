# SPDX-License-Identifier: GPL-3.0-or-later
"""stemflow.run / stemflow.start and what they return (Run, Results)."""
import os
import time
import warnings

import numpy as np

from . import _core, _toml

_DTYPES = ("uint8", "uint16", "uint32", "float32")
_PEAK_DTYPE = np.dtype([("qx", np.float64), ("qy", np.float64), ("intensity", np.float64)])


def _as_frames(data):
    """The caller's 4-D array, never copied: a numpy array or memmap, or a py4DSTEM DataCube."""
    if hasattr(data, "data") and type(data).__name__ == "DataCube":
        data = data.data
    if not isinstance(data, np.ndarray):
        if not hasattr(data, "__array__") and not hasattr(data, "__array_interface__"):
            raise TypeError(
                f"data: expected a 4-D numpy array (Rx, Ry, Qx, Qy), a numpy memmap or a py4DSTEM "
                f"DataCube, got {type(data).__name__}")
        data = np.asarray(data)
    if data.ndim != 4:
        raise ValueError(
            f"data: expected a 4-D array (Rx, Ry, Qx, Qy), got {data.ndim}-D of shape {data.shape}")
    if data.dtype.name not in _DTYPES or not data.dtype.isnative:
        raise TypeError(
            f"data: expected dtype uint8, uint16, uint32 or float32 (native byte order), "
            f"got {data.dtype}")
    if 0 in data.shape:
        raise ValueError(f"data: the array is empty (shape {data.shape})")
    return data


def _overrides(set_):
    if set_ is None:
        return []
    if isinstance(set_, str):
        set_ = [set_]
    if isinstance(set_, dict):
        return [f"{k}={_toml.value(v, k)}" for k, v in set_.items()]
    out = []
    for s in set_:
        if not isinstance(s, str) or "=" not in s:
            raise TypeError(f"set: expected 'key=value' strings or a dict, got {s!r}")
        out.append(s)
    return out


def start(config, *, data=None, set=None, max_series=None):
    """Starts the engine and returns at once: a Run, running on the engine's own threads.

    config: a TOML file path or a dict of the same structure. data: a 4-D array (Rx, Ry, Qx, Qy)
    of uint8/uint16/uint32/float32 (or a numpy memmap, read in place) used as the input instead
    of the configured one. set: overrides like --set ({'pipeline.threads': 2} or ['key=value']).
    max_series: stop after this many series (a live stream runs until stop()).
    """
    overrides = _overrides(set)
    array = None
    description = ""
    if data is not None:
        array = _as_frames(data)
        overrides = ["input.source=memory"] + overrides
        kind = "memmap" if isinstance(array, np.memmap) else "array"
        where = f" of {array.filename}" if isinstance(array, np.memmap) and array.filename else ""
        description = f"{kind}{where} {array.shape} {array.dtype}"
    if isinstance(config, (str, os.PathLike)):
        path = os.fspath(config)
        core = _core._Run(path, True, path, overrides, array, description, max_series)
    else:
        core = _core._Run(_toml.dumps(config), False, "<dict>", overrides, array, description,
                          max_series)
    return Run(core, data)


def run(config, *, data=None, set=None, progress=True):
    """Runs the engine until its input ends and returns the Results (see start() for the
    arguments). progress: a tqdm bar (a widget in a notebook, a line in a terminal).
    Ctrl-C (KeyboardInterrupt) stops the engine as SIGINT does (what was received is processed)
    and the partial results are returned, with a warning; a second one cuts them short.
    """
    r = start(config, data=data, set=set)
    return r._wait(progress=progress, interruptible=True)


class Run:
    """A running engine (stemflow.start). Its methods may be called from any thread."""

    def __init__(self, core, data):
        self._core = core
        self._data = data  # the caller's array stays alive as long as the run
        self._results = None

    def progress(self):
        """{'frames': scan positions, 'received', 'processed', 'dropped', 'fps', 'eta' (s),
        'elapsed' (s), 'series', 'in_series', 'done'}."""
        return self._core.progress()

    def snapshot(self, name):
        """A copy of map `name` as it is now: (Rx, Ry) float64, NaN where no frame has arrived."""
        return self._core.snapshot(name)

    @property
    def names(self):
        """The maps snapshot() knows (once the series has started)."""
        return self._core.map_names()

    def stop(self):
        """Drains what was received, writes the results and ends, as SIGINT does."""
        self._core.stop()

    def done(self):
        return self._core.done()

    def wait(self, timeout=None):
        """Waits for the end (at most `timeout` seconds); the Results, or None if not over."""
        if timeout is not None:
            if not self._core.wait(float(timeout)):
                return None
            return self._collect()
        return self._wait(progress=False, interruptible=False)

    def _collect(self):
        if self._results is None:
            d = self._core.results()
            if self._data is not None and "refused" in d:
                # The array is the only series: a configuration it does not fit is an error.
                raise _core.ConfigError(f"the data does not fit the configuration: {d['refused']}")
            self._results = Results(d)
            if d.get("output_error"):
                # An engine error like any other is an exception; the results kept in memory go
                # with it.
                err = RuntimeError(f"the results file was not written: {d['output_error']}")
                err.results = self._results
                raise err
        return self._results

    def _wait(self, progress, interruptible):
        bar = _Bar() if progress else None
        interrupted = False
        try:
            while True:
                try:
                    if self._core.wait(0.1):
                        break
                    if bar is not None:
                        bar.update(self._core.progress())
                except KeyboardInterrupt:
                    if not interruptible:
                        raise  # Run.wait(): the run goes on; stop() ends it
                    if interrupted:
                        self._core.abort()  # a second Ctrl-C: cut short
                    else:
                        self._core.stop()
                    interrupted = True
            if bar is not None:
                bar.update(self._core.progress())
        finally:
            if bar is not None:
                bar.close()
        res = self._collect()
        if interrupted:
            res.interrupted = True
            warnings.warn(
                f"stemflow.run interrupted: the results hold {res.counts.get('processed', 0)} of "
                f"{res.coverage.size if res.coverage is not None else 0} frames",
                RuntimeWarning, stacklevel=3)
        return res

    def __del__(self):
        core = getattr(self, "_core", None)
        if core is not None and not core.done():
            core.stop()


class _Bar:
    def __init__(self):
        from tqdm.auto import tqdm

        self._tqdm = tqdm
        self._bar = None
        self._n = 0

    def update(self, p):
        if self._bar is None:
            if not p["frames"]:
                return
            # The average rate since the series started (smoothing=0 and its start time), not
            # the jump of the first poll.
            self._bar = self._tqdm(total=p["frames"], unit="frame", desc="stemflow",
                                   dynamic_ncols=True, smoothing=0)
            self._bar.start_t -= p["elapsed"]
        n = p["processed"]
        if n > self._n:
            self._bar.update(n - self._n)
            self._n = n
        if p["dropped"]:
            self._bar.set_postfix(dropped=p["dropped"], refresh=False)

    def close(self):
        if self._bar is not None:
            self._bar.close()


class Results:
    """What a run gave (its last series): Results[name] is a numpy array."""

    def __init__(self, d):
        self._d = d
        self._maps = d.get("maps", {})
        self._images = d.get("images", {})
        self._peaks = d.get("peaks", {})
        cov = d.get("coverage")
        self.coverage = cov.astype(bool) if cov is not None else None
        """(Rx, Ry) bool: True where a frame reached the results."""
        self.counts = dict(d.get("counts", {}))
        """received, accepted, processed, failed, dropped ({reason: n}), end."""
        self.path = d.get("path")
        """The HDF5 file written ([outputs.hdf5]), else None."""
        self.exit_code = d.get("exit_code", 0)
        self.scan_shape = d.get("scan_shape")
        self.frame_shape = d.get("frame_shape")
        self.interrupted = False

    @property
    def names(self):
        return list(self._maps) + list(self._images) + list(self._peaks)

    def __contains__(self, name):
        return name in self.names

    def __getitem__(self, name):
        if name in self._maps:
            return self._maps[name]
        if name in self._images:
            return self._images[name]
        if name in self._peaks:
            # Every peak of the scan: rx, ry, qx, qy, intensity (the HDF5 file's peak table).
            flat, offsets = self._peaks[name]
            counts = np.diff(offsets)
            pos = np.repeat(np.arange(counts.size), counts)
            out = np.empty(counts.sum(), dtype=[("rx", np.int64), ("ry", np.int64)] +
                           _PEAK_DTYPE.descr)
            out["rx"], out["ry"] = np.divmod(pos, self.scan_shape[1])
            out["qx"], out["qy"], out["intensity"] = flat[:, 0], flat[:, 1], flat[:, 2]
            return out
        raise KeyError(f"no result named '{name}' (results: {', '.join(self.names) or 'none'})")

    def peaks(self, name, rx, ry):
        """The peaks found at scan position (rx, ry): a structured array qx, qy, intensity."""
        if name not in self._peaks:
            raise KeyError(f"no peak list named '{name}' (peak lists: "
                           f"{', '.join(self._peaks) or 'none'})")
        rows, cols = self.scan_shape
        if not (0 <= rx < rows and 0 <= ry < cols):
            raise IndexError(f"scan position ({rx}, {ry}) outside the {rows}x{cols} scan")
        flat, offsets = self._peaks[name]
        i = rx * cols + ry
        return flat[offsets[i]:offsets[i + 1]].view(_PEAK_DTYPE).reshape(-1)

    def to_py4dstem(self, name):
        """A py4DSTEM object: BraggVectors (peak lists), VirtualImage (maps), DiffractionSlice
        (patterns)."""
        import py4DSTEM

        if name in self._peaks:
            return _braggvectors(self, name, name)
        if name in self._maps:
            return py4DSTEM.VirtualImage(data=np.array(self._maps[name]), name=name)
        if name in self._images:
            return py4DSTEM.DiffractionSlice(data=np.array(self._images[name]), name=name)
        raise KeyError(f"no result named '{name}' (results: {', '.join(self.names) or 'none'})")

    def __repr__(self):
        shape = "x".join(map(str, self.scan_shape)) if self.scan_shape else "?"
        return (f"<stemflow.Results {shape} scan: {', '.join(self.names)}; "
                f"{self.counts.get('processed', 0)} frames processed>")


def _braggvectors(res, peaks_name, bv_name):
    from emdfile import PointList
    from py4DSTEM import BraggVectors

    rows, cols = res.scan_shape
    bv = BraggVectors((rows, cols), tuple(res.frame_shape), name=bv_name)
    flat, offsets = res._peaks[peaks_name]
    structured = flat.view(_PEAK_DTYPE).reshape(-1)
    pla = bv._v_uncal
    for rx in range(rows):
        for ry in range(cols):
            i = rx * cols + ry
            pla._pointlists[rx][ry] = PointList(data=structured[offsets[i]:offsets[i + 1]].copy(),
                                                name=f"{rx},{ry}")
    return bv
