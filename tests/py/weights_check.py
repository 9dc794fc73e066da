#!/usr/bin/python3
"""weights_check.py MODEL DIR - the float weights the C loader made (DIR holds
L00.w.npy, L00.b.npy ... L26.*, dense.w.npy, dense.b.npy, written by
test_yamnet) equal, bit for bit, NumPy's dequantisation of the same bytes
read by tflite_ref.py, with tensors found by name (yamnet_ref.Weights)."""
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import yamnet_ref  # noqa: E402


def main():
    model, d = sys.argv[1], sys.argv[2]
    W = yamnet_ref.Weights(model)
    m = W.model
    # Recompute in float32 from the raw int8 bytes (not via tflite_ref.values).
    want = []
    for kind, stride, w, b in W.layers:
        want.append((w, b))
    bad = 0
    n = 0
    for i, (w, b) in enumerate(want + [(W.dense_w, W.dense_b)]):
        tag = "dense" if i == len(want) else "L%02d" % i
        cw = np.load(os.path.join(d, tag + ".w.npy"))
        cb = np.load(os.path.join(d, tag + ".b.npy"))
        rw = w.astype(np.float32).reshape(cw.shape)
        rb = b.astype(np.float32).reshape(cb.shape)
        if not (np.array_equal(cw, rw) and np.array_equal(cb, rb)):
            print("%s: differs (max %.3g)" % (tag, np.abs(cw - rw).max()))
            bad += 1
        n += cw.size + cb.size
    # and one int8 tensor straight from its bytes, scale applied in float32
    t = m.find("yamnet_frames/layer14/pointwise_conv/Conv2D")
    q = np.frombuffer(m.raw(t), np.int8).astype(np.float32) * np.float32(t["scale"][0])
    cw = np.load(os.path.join(d, "L26.w.npy")).ravel()
    if not np.array_equal(q, cw):
        print("layer14 pointwise: raw-byte dequantisation differs")
        bad += 1
    print("%d weights compared, %d tensors differ" % (n, bad))
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()
