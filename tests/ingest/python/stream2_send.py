# SPDX-License-Identifier: GPL-3.0-or-later
"""An independent DECTRIS stream V2 sender written with cbor2: sends the 4-D scan of SCAN.npy
(Rx, Ry, H, W) as one series. Even images carry "lz4" (HDF5 framing built here around python-lz4
blocks), odd ones uncompressed typed arrays; every message has the self-described tag.

usage: stream2_send.py ENDPOINT SCAN.npy SERIES_ID
"""
import struct
import sys
import time

import cbor2
import lz4.block
import numpy as np
import zmq

TAG = {np.dtype("uint8"): 64, np.dtype("<u2"): 69, np.dtype("<u4"): 70}


def lz4_hdf5(raw: bytes) -> bytes:
    # 12-byte header (BE uint64 size, BE uint32 block size), then one block: BE uint32 length + data
    block = lz4.block.compress(raw, mode="default", store_size=False)
    if len(block) >= len(raw):
        block = raw  # stored uncompressed: its length equals the block size
    return struct.pack(">QI", len(raw), len(raw)) + struct.pack(">I", len(block)) + block


def main():
    endpoint, path, series_id = sys.argv[1], sys.argv[2], int(sys.argv[3])
    scan = np.load(path)
    rx, ry, h, w = scan.shape
    sock = zmq.Context().socket(zmq.PUSH)
    sock.setsockopt(zmq.LINGER, 30000)
    sock.bind(endpoint)
    time.sleep(0.5)  # let the engine connect
    dtype_name = {64: "uint8", 69: "uint16", 70: "uint32"}[TAG[scan.dtype]]
    send = lambda m: sock.send(cbor2.dumps(cbor2.CBORTag(55799, m)))
    send({"type": "start", "series_id": series_id, "series_unique_id": "py", "channels": ["threshold_1"],
          "image_dtype": dtype_name, "image_size_x": w, "image_size_y": h,
          "number_of_images": rx * ry, "detector_description": "cbor2 test sender",
          "user_data": {"stemflow": {"scan_shape": [rx, ry]}}})
    frames = scan.reshape(rx * ry, h, w)
    for i, frame in enumerate(frames):
        raw = np.ascontiguousarray(frame).tobytes()
        payload = cbor2.CBORTag(56500, ["lz4", 0, lz4_hdf5(raw)]) if i % 2 == 0 else raw
        send({"type": "image", "series_id": series_id, "series_unique_id": "py", "image_id": i,
              "real_time": [1, 1000], "data": {"threshold_1": cbor2.CBORTag(40, [[h, w], cbor2.CBORTag(TAG[scan.dtype], payload)])}})
    send({"type": "end", "series_id": series_id, "series_unique_id": "py"})
    sock.close()


if __name__ == "__main__":
    main()
