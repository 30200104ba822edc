# SPDX-License-Identifier: GPL-3.0-or-later
"""Merlin .mib files and a Merlin TCP data stream, written here from the Quantum Detectors MIB/MPX
format as docs/protocols.md section 4 records it (LiberTEM's mib.py and LiberTEM-live's simulator
describe the same), and read back by LiberTEM (libertem.io.dataset.mib through libertem.api.Context
with the inline executor): the independent reference for stemflow's MIB replay and Merlin receiver.

  mib_peer.py write DIR RX RY SEED
      writes DIR/<case>/scan.mib for each case of CASES (RX x RY single-chip 256 x 256 frames of
      random counts), reads each with LiberTEM, and writes DIR/expected.json: per case, LiberTEM's
      and numpy's per-frame sums and sums over RECT (rows r0:r1, columns c0:c1), and LiberTEM's
      frame dtype. numpy's are of the frames as drawn, before they were encoded.
  mib_peer.py serve PORT MIB RX RY
      a Merlin data port: listens on 127.0.0.1:PORT, accepts one client, sends the acquisition
      header then each frame of MIB (header + pixels) as one "MPX,<10-digit L>,<payload>" message
      (L = payload bytes + 1), and closes.
"""
import json
import pathlib
import socket
import sys

import numpy as np

RECT = (100, 140, 60, 90)  # rows [100, 140) x columns [60, 90)
# name, pixel type, counter depth, the largest value drawn
CASES = [("u08", "U08", 6, 63), ("u16", "U16", 12, 4095), ("u32", "U32", 24, 2**24 - 1),
         ("r12", "R64", 12, 4095)]


def frame_header(seq, pixel_type, depth):
    """An MQ1 header for one 256 x 256 chip (384 bytes, NUL-padded), fields as docs/protocols.md
    section 4.2 lists them."""
    text = (f"MQ1,{seq:06d},00384,01,0256,0256,{pixel_type},   1x1,01,2024-01-01 00:00:00.000000,"
            "0.001000,0,0,0,1.000000E+1,0.000000E+0,0.000000E+0,0.000000E+0,0.000000E+0,"
            "0.000000E+0,0.000000E+0,0.000000E+0,"
            "3RX,175,511,000,000,000,000,000,000,125,255,125,125,100,100,082,100,087,030,128,004,"
            "255,129,128,176,168,511,511,"
            f"MQ1A,2024-01-01T00:00:00.000000000Z,1000000ns,{depth},")
    assert len(text) < 384
    return text.encode("ascii").ljust(384, b"\0")


def pixels(frame, pixel_type):
    if pixel_type == "R64":
        # 12-bit raw: big-endian u16 per pixel, the order reversed within each group of 4.
        return frame.astype(">u2").reshape(-1, 4)[:, ::-1].tobytes()
    return frame.astype({"U08": ">u1", "U16": ">u2", "U32": ">u4"}[pixel_type]).tobytes()


def acquisition_header(frames, depth, rx, ry):
    lines = [("Time and Date Stamp (day, mnth, yr, hr, min, s)", "01/01/2024 00:00:00"),
             ("Chip ID", "W0_X0,-,-,-"), ("Chip Type (Medipix 3.0, Medipix 3.1, Medipix 3RX)",
                                          "Medipix 3RX"),
             ("Assembly Size (NX1, 2X2)", "   1x1"), ("Chip Mode  (SPM, CSM, CM, CSCM)", "SPM"),
             ("Counter Depth (number)", str(depth)), ("Gain", "SLGM"),
             ("Active Counters", "Alternating"), ("Frames in Acquisition (Number)", str(frames)),
             ("Frames per Trigger (Number)", str(frames)), ("ScanX", str(ry)), ("ScanY", str(rx)),
             ("Software Version", "test")]
    text = "HDR,\t\n" + "".join(f"{k}:\t{v}\n" for k, v in lines) + "End\t"
    return text.encode("latin-1")


def write(out, rx, ry, seed):
    from libertem.api import Context
    from libertem.io.dataset.base import BufferedBackend
    from libertem.udf import UDF

    class SumsUDF(UDF):
        def get_preferred_input_dtype(self):
            return np.float64

        def get_result_buffers(self):
            return {"all": self.buffer(kind="nav", dtype=np.float64),
                    "rect": self.buffer(kind="nav", dtype=np.float64)}

        def process_frame(self, frame):
            r0, r1, c0, c1 = RECT
            self.results.all[:] = frame.sum()
            self.results.rect[:] = frame[r0:r1, c0:c1].sum()

    ctx = Context.make_with("inline")
    rng = np.random.default_rng(seed)
    expected = {"rect": list(RECT), "scan": [rx, ry], "cases": {}}
    for name, pixel_type, depth, top in CASES:
        # Mostly small counts with a bright disc, and the extremes present.
        frames = rng.poisson(3.0, size=(rx * ry, 256, 256)).astype(np.uint64)
        yy, xx = np.mgrid[:256, :256]
        frames[:, (yy - 120) ** 2 + (xx - 75) ** 2 < 400] += rng.integers(0, top // 2, rx * ry, dtype=np.uint64)[:, None]
        frames = np.minimum(frames, top)
        frames[:, 0, 0] = top
        # One folder per case: LiberTEM globs "<name without trailing digits>*.mib".
        path = out / name / "scan.mib"
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "wb") as f:
            for i, fr in enumerate(frames):
                f.write(frame_header(i + 1, pixel_type, depth))
                f.write(pixels(fr, pixel_type))
        (out / name / "acquisition.hdr.bin").write_bytes(acquisition_header(rx * ry, depth, rx, ry))
        # BufferedBackend, as tests/data/merlin/make_golden.py (the mmap backend trips on raw).
        ds = ctx.load("mib", path=str(path), nav_shape=(rx, ry), io_backend=BufferedBackend())
        res = ctx.run_udf(dataset=ds, udf=SumsUDF())
        r0, r1, c0, c1 = RECT
        expected["cases"][name] = {
            "pixel_type": pixel_type, "counter_depth": depth,
            "libertem_dtype": str(ds.dtype),
            "libertem_shape": [int(s) for s in ds.shape.sig],
            "libertem_all": np.asarray(res["all"].data).ravel().tolist(),
            "libertem_rect": np.asarray(res["rect"].data).ravel().tolist(),
            "numpy_all": frames.sum(axis=(1, 2)).astype(np.float64).tolist(),
            "numpy_rect": frames[:, r0:r1, c0:c1].sum(axis=(1, 2)).astype(np.float64).tolist(),
        }
        print(f"{name}: LiberTEM {ds.dtype} {tuple(ds.shape)}")
    (out / "expected.json").write_text(json.dumps(expected))


def mpx(payload):
    return b"MPX,%010d," % (len(payload) + 1) + payload


def serve(port, mib, rx, ry):
    data = pathlib.Path(mib).read_bytes()
    stride = len(data) // (rx * ry)
    depth = int(data[:384].rstrip(b"\0").split(b",")[-2])
    srv = socket.create_server(("127.0.0.1", port))
    srv.settimeout(60)
    conn, _ = srv.accept()
    conn.sendall(mpx(acquisition_header(rx * ry, depth, rx, ry)))
    for i in range(rx * ry):
        conn.sendall(mpx(data[i * stride:(i + 1) * stride]))
    conn.shutdown(socket.SHUT_WR)
    conn.recv(1)  # until the receiver closes
    conn.close()


if __name__ == "__main__":
    if sys.argv[1] == "write":
        write(pathlib.Path(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]))
    elif sys.argv[1] == "serve":
        serve(int(sys.argv[2]), sys.argv[3], int(sys.argv[4]), int(sys.argv[5]))
    else:
        sys.exit(f"usage: see {__file__}")
