#!/usr/bin/python3
"""embed_check.py - check what `aedcurate embed` stored for one segment
against the NumPy reference (yamnet_ref.py):

  embed_check.py MODEL LOGMEL.npy EMB.npy SCORES.npy [AUDIO]

LOGMEL is the segment's stored log-mel ([frames, 64], `dump features`). Its
patches are cut as the embed stage cuts them (96 frames every 48; frames past
the end are silence, log(0.001)), run through the NumPy network, and compared
with the stored embedding and scores: both within 1e-4. With AUDIO, our
FFTW log-mel is also compared with the NumPy front end on the decoded file
(ffmpeg CLI): the mean absolute difference must stay below 0.01.
"""
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import yamnet_ref  # noqa: E402

FLOOR = np.float32(np.log(np.float32(0.001)))


def cut(lm):
    frames = len(lm)
    if frames == 0:
        return np.zeros((0, 96, 64), np.float32)
    n = 1 if frames <= 96 else 1 + -(-(frames - 96) // 48)
    out = np.full((n, 96, 64), FLOOR, np.float32)
    for i in range(n):
        part = lm[48 * i:48 * i + 96]
        out[i, :len(part)] = part
    return out


def main():
    model, lm_path, emb_path, sc_path = sys.argv[1:5]
    lm = np.load(lm_path).reshape(-1, 64)
    emb = np.load(emb_path)
    sc = np.load(sc_path)
    P = cut(lm)
    if emb.shape != (len(P), 1024) or sc.shape != (len(P), 521):
        sys.exit("shapes %s %s, expected %d patches" % (emb.shape, sc.shape, len(P)))
    W = yamnet_ref.Weights(model)
    ref = [yamnet_ref.forward(W, p) for p in P]
    re = np.array([e for e, _ in ref])
    rs = np.array([s for _, s in ref])
    de = (np.abs(emb - re) / np.maximum(1.0, np.abs(re))).max()
    ds = np.abs(sc - rs).max()
    print("patches %d: max embedding diff %.3g, max score diff %.3g" % (len(P), de, ds))
    ok = de < 1e-4 and ds < 1e-4 and np.abs(re).max() > 0.5
    if len(sys.argv) > 5:
        ours = yamnet_ref.logmel(yamnet_ref.decode(sys.argv[5]))
        n = min(len(ours), len(lm))
        d = np.abs(lm[:n] - ours[:n])
        print("front end: %d frames, mean |FFTW - NumPy| %.4g, 99th percentile %.4g"
              % (n, d.mean(), np.percentile(d, 99)))
        ok = ok and n > 0 and d.mean() < 0.01
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
