# SPDX-License-Identifier: GPL-3.0-or-later
"""An independent DECTRIS stream V2 receiver, written as DECTRIS' example client does it: pyzmq PULL,
cbor2 with a tag hook for tags 40 (multi-dimensional array), 64-87 (typed arrays) and 56500
(compressed byte string, decoded with dectris.compression). Receives one series and saves its images
(channel CHANNEL) as a .npy of shape (number_of_images, H, W), plus a JSON summary.

usage: stream2_receive.py ENDPOINT OUT.npy OUT.json [CHANNEL]
"""
import json
import sys

import cbor2
import numpy as np
import zmq
from dectris.compression import decompress

TYPED = {64: "u1", 69: "<u2", 70: "<u4", 85: "<f4"}


def tag_hook(decoder, tag):
    if tag.tag == 56500:  # [algorithm, elem_size, bytes] -> the decompressed byte string
        algorithm, elem_size, data = tag.value
        return decompress(data, algorithm, elem_size=elem_size)
    if tag.tag in TYPED:
        return np.frombuffer(tag.value, dtype=TYPED[tag.tag])
    if tag.tag == 40:
        dims, array = tag.value
        return array.reshape(dims, order="C")
    return tag


def main():
    endpoint, out_npy, out_json = sys.argv[1:4]
    channel = sys.argv[4] if len(sys.argv) > 4 else None
    sock = zmq.Context().socket(zmq.PULL)
    sock.setsockopt(zmq.RCVTIMEO, 30000)
    sock.connect(endpoint)
    images, summary = {}, {"types": []}
    while True:
        msg = cbor2.loads(sock.recv(), tag_hook=tag_hook)
        if isinstance(msg, cbor2.CBORTag):  # the self-described tag 55799 wraps the map
            msg = msg.value
        summary["types"].append(msg["type"])
        if msg["type"] == "start":
            summary.update(series_id=msg["series_id"], number_of_images=msg["number_of_images"],
                           channels=msg["channels"], image_dtype=msg["image_dtype"])
        elif msg["type"] == "image":
            data = msg["data"]
            images[msg["image_id"]] = data[channel or next(iter(data))]
        elif msg["type"] == "end":
            break
    stack = np.stack([images[i] for i in sorted(images)])
    np.save(out_npy, stack)
    summary["image_ids"] = sorted(images)
    with open(out_json, "w") as f:
        json.dump(summary, f)


if __name__ == "__main__":
    main()
