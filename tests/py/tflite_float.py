#!/usr/bin/python3
"""tflite_float.py IN OUT - write a float32-weight copy of a TFLite model, the
way float exports (e.g. MediaPipe's float32 YAMNet) store weights: every
int8/uint8 constant tensor becomes float32 holding its dequantised values.

The file is patched, not re-serialised: each new float32 data vector is
appended at the end (16-byte aligned), the tensor's Buffer.data offset is
pointed at it, and the tensor's type byte is set to FLOAT32. Everything else
(graph, names, options) stays byte for byte. Uses tflite_ref.py's reader."""
import os
import struct
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import tflite_ref  # noqa: E402


def main():
    src, dst = sys.argv[1], sys.argv[2]
    m = tflite_ref.Model(src)
    buf = bytearray(m.buf)
    root = tflite_ref.Table(m.buf, struct.unpack_from("<I", m.buf, 0)[0])
    buffers = root.tables(4)
    tensors = root.tables(2)[0].tables(0)
    n = 0
    for t, info in zip(tensors, m.tensors):
        if info["type"] not in (3, 9) or not m.raw(info):
            continue
        vals = m.values(info).astype("<f4").tobytes()
        while len(buf) % 16 != 12:  # data (after the u32 length) 16-byte aligned
            buf.append(0)
        vec = len(buf)
        buf += struct.pack("<I", len(vals)) + vals
        field = buffers[info["buffer"]].pos + buffers[info["buffer"]]._off(0)
        struct.pack_into("<I", buf, field, vec - field)
        type_at = t.pos + t._off(1)
        if not t._off(1):
            sys.exit("tensor %s stores no type field" % info["name"])
        buf[type_at] = 0  # FLOAT32
        n += 1
    with open(dst, "wb") as f:
        f.write(buf)
    print("%s: %d int8 tensors written as float32" % (dst, n))


if __name__ == "__main__":
    main()
