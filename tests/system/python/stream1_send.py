# SPDX-License-Identifier: GPL-3.0-or-later
"""An independent DECTRIS stream V1 ("legacy", SIMPLON JSON multipart) sender, written here from the
SIMPLON stream interface as docs/protocols.md section 1.1 records it (and as DECTRIS' detectors, the
eiger-simulator and LiberTEM-rs send it), with pyzmq and the `lz4` and `bitshuffle` packages from
PyPI; nothing of stemflow's encoders. Sends the 4-D scan of SCAN.npy (Rx, Ry, H, W; uint8, uint16 or
uint32) as one series:

  global header: [{"htype": "dheader-1.0", "series", "header_detail": "basic"}, detector config]
  per frame:     [{"htype": "dimage-1.0", "series", "frame", "hash": md5 of the blob},
                  {"htype": "dimage_d-1.0", "shape": [x, y], "type", "encoding", "size"},
                  blob,
                  {"htype": "dconfig-1.0", "start_time", "stop_time", "real_time"} (ns)]
  end:           [{"htype": "dseries_end-1.0", "series"}]

Encodings cycle frame by frame through ENCODINGS (comma-separated), each one of:
  bs<8|16|32>-lz4<  the bitshuffle+LZ4 stream as the HDF5 filter frames it: a 12-byte header
                    (uint64 BE bytes, uint32 BE block bytes), then each block as uint32 BE
                    compressed size + LZ4 data (bitshuffle.compress_lz4 writes the blocks)
  lz4<              one raw LZ4 block of the whole frame, no framing (lz4.block, store_size=False)
  <                 the pixels as they are, little-endian
Block sizes alternate between bitshuffle's default (0) and 1024 elements, so that a receiver must
read the block size from the header.

usage: stream1_send.py ENDPOINT SCAN.npy SERIES_ID ENCODINGS
"""
import hashlib
import json
import struct
import sys
import time

import bitshuffle
import lz4.block
import numpy as np
import zmq

TYPES = {np.dtype("uint8"): "uint8", np.dtype("<u2"): "uint16", np.dtype("<u4"): "uint32"}


def default_block_elems(elem_size):
    # bitshuffle's bshuf_default_block_size: 8 KiB of elements, a multiple of 8, at least 128.
    return max(128, (8192 // elem_size) // 8 * 8)


def encode(frame, encoding, block_elems):
    raw = frame.tobytes()
    if encoding == "<":
        return raw
    if encoding == "lz4<":
        return lz4.block.compress(raw, mode="default", store_size=False)
    bits = int(encoding[2:encoding.index("-")])
    assert bits == 8 * frame.dtype.itemsize, (encoding, frame.dtype)
    blocks = bitshuffle.compress_lz4(frame.ravel(), block_elems).tobytes()
    used = block_elems or default_block_elems(frame.dtype.itemsize)
    return struct.pack(">QI", len(raw), used * frame.dtype.itemsize) + blocks


def main():
    endpoint, path, series = sys.argv[1], sys.argv[2], int(sys.argv[3])
    encodings = sys.argv[4].split(",")
    scan = np.load(path)
    rx, ry, h, w = scan.shape
    sock = zmq.Context().socket(zmq.PUSH)
    sock.setsockopt(zmq.LINGER, 30000)
    sock.setsockopt(zmq.SNDHWM, 1024)
    sock.bind(endpoint)
    time.sleep(0.5)  # let the engine connect
    dump = lambda obj: json.dumps(obj).encode()
    config = {
        "x_pixels_in_detector": w, "y_pixels_in_detector": h,
        "bit_depth_image": 8 * scan.dtype.itemsize, "bit_depth_readout": 12,
        "nimages": rx * ry, "ntrigger": 1, "trigger_mode": "ints",
        "compression": "bslz4", "description": "Python SIMPLON V1 test sender",
        "detector_number": "E-00-0000", "count_time": 0.001, "frame_time": 0.001,
        "x_pixel_size": 7.5e-05, "y_pixel_size": 7.5e-05, "software_version": "test",
    }
    sock.send_multipart([dump({"htype": "dheader-1.0", "series": series, "header_detail": "basic"}),
                         dump(config)])
    frames = scan.reshape(rx * ry, h, w)
    t = 0
    for i, frame in enumerate(frames):
        encoding = encodings[i % len(encodings)]
        blob = encode(np.ascontiguousarray(frame), encoding, 0 if (i // len(encodings)) % 2 == 0 else 1024)
        sock.send_multipart([
            dump({"htype": "dimage-1.0", "series": series, "frame": i,
                  "hash": hashlib.md5(blob).hexdigest()}),
            dump({"htype": "dimage_d-1.0", "shape": [w, h], "type": TYPES[scan.dtype],
                  "encoding": encoding, "size": len(blob)}),
            blob,
            dump({"htype": "dconfig-1.0", "start_time": t, "stop_time": t + 1000000,
                  "real_time": 1000000}),
        ])
        t += 1000000
    sock.send_multipart([dump({"htype": "dseries_end-1.0", "series": series})])
    sock.close()


if __name__ == "__main__":
    main()
