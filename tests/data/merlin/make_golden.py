# SPDX-License-Identifier: GPL-3.0-or-later
"""Makes golden.json: raw (R64) Merlin frames decoded by LiberTEM, the independent reference for
stemflow's raw decoder (tests/ingest/test_merlin_raw.cpp, MerlinRawGolden).

For each case a one-frame .mib file is written (an MQ1 header as Merlin writes it, then raw pixel
bytes drawn from SplitMix64 with the case's seed, see raw_bytes()), LiberTEM's MIB reader decodes
it, and golden.json keeps the header text, the SHA-256 of the raw bytes (so that the C++ test can
check that it drew the same bytes), the SHA-256 of LiberTEM's decoded frame (little-endian, in the
dtype stemflow decodes to: u8 at 1 and 6 bit, u16 at 12, u32 at 24) and a few pixels for readable
failures. The raw bytes themselves are not stored: a quad frame is 32 to 512 KiB.

LiberTEM decodes 1x1 raw at 1/6/12/24 bit and 2x2 raw at 1/6/12 bit; it reads 2x2G as 2x2 (it drops
the G, so its frame has no gap). No 24-bit quad is here: no peer decodes one.

Run (any machine with PyPI; the output does not depend on the machine):
    python3 -m venv /tmp/lt && /tmp/lt/bin/pip install libertem==0.16.0
    /tmp/lt/bin/python tests/data/merlin/make_golden.py
"""

import hashlib
import json
import pathlib
import re
import tempfile

import libertem
import numpy as np
from libertem.api import Context
from libertem.io.dataset.base import BufferedBackend
from libertem.udf import UDF

MASK64 = (1 << 64) - 1


class FrameUDF(UDF):
    """The frame as LiberTEM decodes it, read as float64: PickUDF reads in the file's native dtype,
    which LiberTEM gives as uint16 for 24-bit raw, so that the high bits would be lost."""

    def get_preferred_input_dtype(self):
        return np.float64

    def get_result_buffers(self):
        return {"frame": self.buffer(kind="sig", dtype=np.float64)}

    def process_frame(self, frame):
        self.results.frame[:] += frame

    def merge(self, dest, src):
        dest.frame[:] += src.frame


def splitmix64(seed):
    state = seed & MASK64
    while True:
        state = (state + 0x9E3779B97F4A7C15) & MASK64
        z = state
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK64
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK64
        yield z ^ (z >> 31)


def raw_bytes(depth, pixels, seed):
    """The raw pixel bytes: one draw per byte (1 bit: & 0xFF, 6 bit: & 0x3F) or per big-endian u16
    (12 and 24 bit: & 0x0FFF; 24 bit has two 12-bit frames, 2 * pixels values)."""
    gen = splitmix64(seed)
    if depth == 1:
        return bytes(next(gen) & 0xFF for _ in range(pixels // 8))
    if depth == 6:
        return bytes(next(gen) & 0x3F for _ in range(pixels))
    count = pixels * (2 if depth == 24 else 1)
    values = np.fromiter((next(gen) & 0x0FFF for _ in range(count)), dtype=">u2", count=count)
    return values.tobytes()


def header(layout, depth, chips, wire_width, wire_height):
    """An MQ1 header as Merlin writes it (docs/protocols.md section 4.2): 384 bytes for one chip,
    768 for four."""
    offset = 384 if chips == 1 else 768
    text = (
        f"MQ1,000001,{offset:05d},{chips:02d},{wire_width:04d},{wire_height:04d},R64,{layout:>6},"
        f"{(1 << chips) - 1:02X},2024-01-01 00:00:00.000000,0.001000,0,0,0,"
        "1.000000E+1,0.000000E+0,0.000000E+0,0.000000E+0,0.000000E+0,0.000000E+0,0.000000E+0,"
        "0.000000E+0,"
    )
    text += chips * (
        "3RX,175,511,000,000,000,000,000,000,125,255,125,125,100,100,082,100,087,030,128,004,255,"
        "129,128,176,168,511,511,"
    )
    text += f"MQ1A,2024-01-01T00:00:00.000000000Z,1000000ns,{depth},"
    assert len(text) < offset
    return text, offset


# name, layout, counter depth, chips, seed
CASES = [
    ("single_r1", "1x1", 1, 1, 11),
    ("single_r6", "1x1", 6, 1, 12),
    ("single_r12", "1x1", 12, 1, 13),
    ("single_r24", "1x1", 24, 1, 14),
    ("quad_r1", "2x2", 1, 4, 21),
    ("quad_r6", "2x2", 6, 4, 22),
    ("quad_r12", "2x2", 12, 4, 23),
    ("quad_gap_r12", "2x2G", 12, 4, 24),
]
OUR_DTYPE = {1: "<u1", 6: "<u1", 12: "<u2", 24: "<u4"}


def sample_positions(rows, cols):
    """Every quadrant's corners and centre, and a fixed spread of others."""
    pos = set()
    for y0 in (0, rows // 2):
        for x0 in (0, cols // 2):
            for dy, dx in (
                (0, 0),
                (0, cols // 2 - 1),
                (rows // 2 - 1, 0),
                (rows // 2 - 1, cols // 2 - 1),
                (rows // 4, cols // 4),
            ):
                pos.add((y0 + dy, x0 + dx))
    gen = splitmix64(99)
    while len(pos) < 32:
        pos.add((next(gen) % rows, next(gen) % cols))
    return sorted(pos)


def main():
    ctx = Context.make_with("inline")
    out = {
        "made_by": "tests/data/merlin/make_golden.py",
        "libertem_version": libertem.__version__,
        "generator": "SplitMix64(seed); see raw_bytes() in make_golden.py",
        "cases": [],
    }
    with tempfile.TemporaryDirectory() as tmp:
        for name, layout, depth, chips, seed in CASES:
            pixels = chips * 256 * 256
            raw = raw_bytes(depth, pixels, seed)
            wire_width = (1024 if chips == 4 else 256) * (2 if depth == 24 else 1)
            text, offset = header(layout, depth, chips, wire_width, 256)
            # One folder per case: LiberTEM globs "<name without trailing digits>*.mib".
            path = pathlib.Path(tmp) / name / "frame.mib"
            path.parent.mkdir()
            path.write_bytes(text.encode("ascii").ljust(offset, b"\0") + raw)
            # BufferedBackend: LiberTEM's default mmap backend fails an assertion on 1-bit raw
            # files (it sizes them with the 8-byte native dtype).
            ds = ctx.load("mib", path=str(path), nav_shape=(1, 1), io_backend=BufferedBackend())
            frame = np.asarray(ctx.run_udf(dataset=ds, udf=FrameUDF())["frame"].raw_data)
            assert np.all(frame == np.round(frame)) and frame.min() >= 0
            decoded = frame.astype(np.uint64).astype(OUR_DTYPE[depth])
            assert np.array_equal(decoded.astype(np.uint64), frame.astype(np.uint64)), name
            rows, cols = decoded.shape
            out["cases"].append(
                {
                    "name": name,
                    "layout": layout,
                    "counter_depth": depth,
                    "seed": seed,
                    "header": text,
                    "raw_bytes": len(raw),
                    "raw_sha256": hashlib.sha256(raw).hexdigest(),
                    "libertem_shape": [rows, cols],
                    "libertem_dtype": str(ds.dtype),
                    "decoded_sha256": hashlib.sha256(decoded.tobytes()).hexdigest(),
                    "samples": [
                        [y, x, int(decoded[y, x])] for y, x in sample_positions(rows, cols)
                    ],
                }
            )
            print(f"{name}: {layout} {depth}-bit -> {rows} x {cols}, max {int(decoded.max())}")
    dest = pathlib.Path(__file__).with_name("golden.json")
    text = json.dumps(out, indent=1)
    # One line per sample and per shape: short lists of numbers are not worth a line each.
    text = re.sub(
        r"\[\s+(\d+),\s+(\d+)(?:,\s+(\d+))?\s+\]",
        lambda m: "[" + ", ".join(g for g in m.groups() if g is not None) + "]",
        text,
    )
    dest.write_text(text + "\n")
    print(f"wrote {dest}")


if __name__ == "__main__":
    main()
