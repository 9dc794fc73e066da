#!/usr/bin/python3
"""yamnet_frontend_check.py MODEL - the front end built into YAMNet's TFLite
graph is what aedcurate's log-mel computes: the framing gather (400-sample
frames every 160), the window (periodic Hann), the 512-point DFT matrices, the
64 x 257 mel matrix (against mel_features.py's algorithm, here in
vggish_ref.py) and the log offset (the bias before LOG). The graph's matrices
are int8 with one scale per tensor, so they must agree within half a step.
Tensors are read with tests/py/tflite_ref.py; prints one line per check and
exits 1 if any fails."""
import os
import subprocess
import sys
import tempfile

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import vggish_ref  # noqa: E402

PREFIX = "yamnet_frames/tf_op_layer_"


def dump(model, name, tmp):
    out = os.path.join(tmp, "t.npy")
    subprocess.run([sys.executable, os.path.join(HERE, "tflite_ref.py"), model, "dump", name, out],
                   check=True)
    return np.load(out).astype(np.float64)


def scale_of(model, name):
    listing = subprocess.run([sys.executable, os.path.join(HERE, "tflite_ref.py"), model, "list"],
                             check=True, capture_output=True, text=True).stdout
    for line in listing.splitlines():
        f = line.split(" ", 2)
        if len(f) == 3 and f[1] == name and "scale=[" in line:
            return float(line.split("scale=[")[1].split("]")[0])
    raise SystemExit("no quantisation scale for " + name)


def main(model):
    bad = 0

    def check(what, err, tol):
        nonlocal bad
        ok = err <= tol
        bad += not ok
        print("%s %s: max error %.3g (tolerance %.3g)" % ("ok" if ok else "FAIL", what, err, tol))

    with tempfile.TemporaryDirectory() as tmp:
        idx = dump(model, PREFIX + "GatherV2/GatherV2/indices", tmp)  # [96, 5] chunks of 80
        want = np.arange(96)[:, None] * 2 + np.arange(5)[None, :]
        check("framing: 96 frames of 5 x 80 = 400 samples every 2 x 80 = 160", np.abs(idx - want).max(), 0)
        win = dump(model, PREFIX + "Mul/Mul/y", tmp).ravel()
        check("window: periodic Hann of 400", np.abs(win - vggish_ref.periodic_hann(400)).max(), 1e-6)
        k = np.arange(257)[:, None]
        n = np.arange(512)[None, :]
        for name, ref in (("MatMul/MatMul", np.cos(2 * np.pi * k * n / 512)),
                          ("MatMul_1/MatMul_1", np.sin(2 * np.pi * k * n / 512))):
            m = dump(model, PREFIX + name, tmp)
            step = scale_of(model, PREFIX + name)
            err = min(np.abs(m - ref).max(), np.abs(m + ref).max())  # the sign of sin is free
            check("512-point DFT matrix %s (int8)" % name, err, step / 2 + 1e-6)
        mel = dump(model, PREFIX + "MatMul_2/MatMul_2", tmp)  # [64, 257]
        ref = vggish_ref.spectrogram_to_mel_matrix(64, 257, 16000, 125.0, 7500.0).T
        step = scale_of(model, PREFIX + "MatMul_2/MatMul_2")
        check("64 x 257 HTK mel matrix 125-7500 Hz, DC zeroed (int8)", np.abs(mel - ref).max(), step / 2 + 1e-6)
        bias = dump(model, PREFIX + "MatMul_2/MatMul_21", tmp)
        check("log offset 0.001 (yamnet preset)", np.abs(bias - vggish_ref.LOG_OFFSET["yamnet"]).max(), 1e-9)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
