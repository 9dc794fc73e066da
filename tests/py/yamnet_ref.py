#!/usr/bin/python3
"""yamnet_ref.py - YAMNet in NumPy, as an independent reference for the C code.

Weights come from tflite_ref.py (its own flatbuffer reader), found by their
tensor names (the C side finds operators by their output names and walks the
graph instead). The front end follows YAMNet's features.py: 16 kHz mono,
25 ms periodic Hann, 10 ms hop, 512-point |FFT|, 64 HTK mel bands 125-7500 Hz,
log(mel + 0.001), patches of 96 frames every 48.

  yamnet_ref.py MODEL logmel AUDIO OUT.npy        patches [n,96,64] (ffmpeg CLI decode, channels averaged)
  yamnet_ref.py MODEL forward PATCHES.npy EMB.npy SCORES.npy
  yamnet_ref.py MODEL melcheck                     our mel matrix vs the graph's
  yamnet_ref.py MODEL graphcheck AUDIO             our log-mel vs the graph's own front end
"""
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import tflite_ref  # noqa: E402
from tflite_run import decode  # noqa: E402,F401  (channels averaged, as YAMNet's inference)

STRIDES = {1: 2, 2: 1, 3: 2, 4: 1, 5: 2, 6: 1, 7: 2, 8: 1, 9: 1, 10: 1,
           11: 1, 12: 1, 13: 2, 14: 1}


def hz_to_mel(f):
    return 1127.0 * np.log1p(np.asarray(f, np.float64) / 700.0)


def mel_matrix(bands=64, bins=257, rate=16000, lo=125.0, hi=7500.0):
    """tf.signal.linear_to_mel_weight_matrix: [bins, bands], slopes in mel."""
    freqs = np.linspace(0.0, rate / 2.0, bins)[1:]
    mel = hz_to_mel(freqs)[:, None]
    edges = np.linspace(hz_to_mel(lo), hz_to_mel(hi), bands + 2)
    lower, center, upper = edges[:-2], edges[1:-1], edges[2:]
    w = np.maximum(0.0, np.minimum((mel - lower) / (center - lower),
                                   (upper - mel) / (upper - center)))
    return np.vstack([np.zeros((1, bands)), w])


def logmel(x, rate=16000):
    win, hop, nfft = 400, 160, 512
    if len(x) < win:
        return np.zeros((0, 64))
    n = 1 + (len(x) - win) // hop
    idx = np.arange(win)[None, :] + hop * np.arange(n)[:, None]
    window = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(win) / win)  # periodic
    spec = np.abs(np.fft.rfft(x[idx] * window, nfft))
    return np.log(spec @ mel_matrix() + 0.001)


def patches(lm, frames=96, hop=48):
    if len(lm) < frames:
        return np.zeros((0, frames, lm.shape[1]), np.float32)
    n = 1 + (len(lm) - frames) // hop
    return np.stack([lm[i * hop:i * hop + frames] for i in range(n)]).astype(np.float32)


def first(name):
    return name.split(";")[0]


class Weights:
    def __init__(self, path):
        m = tflite_ref.Model(path)
        const = [t for t in m.tensors if m.raw(t)]
        by_first = {}
        for t in const:
            by_first.setdefault(first(t["name"]), []).append(t)

        def get(name, ndim):
            c = [t for t in by_first.get(name, []) if len(t["shape"]) == ndim]
            if len(c) != 1:
                raise KeyError("%s: %d candidates" % (name, len(c)))
            return m.values(c[0]).astype(np.float64)

        p = "yamnet_frames/"
        self.layers = [("conv", 2, get(p + "layer1/conv/Conv2D", 4),
                        get(p + "layer1/conv/bn/FusedBatchNormV3", 1))]
        for n in range(2, 15):
            dw = p + "layer%d/depthwise_conv/" % n
            pw = p + "layer%d/pointwise_conv/" % n
            self.layers.append(("dw", STRIDES[n], get(dw + "bn/FusedBatchNormV3", 4),
                                get(dw + "bn/FusedBatchNormV3", 1)))
            self.layers.append(("pw", 1, get(pw + "Conv2D", 4),
                                get(pw + "bn/FusedBatchNormV3", 1)))
        self.dense_w = get(p + "dense/MatMul", 2)
        self.dense_b = get(p + "dense/BiasAdd/ReadVariableOp/resource", 1)
        self.model = m


def same_pad(x, stride):
    """TF SAME padding for a 3x3 kernel on [h,w,c]: extra at bottom/right."""
    h, w = x.shape[:2]
    ph = max((-(-h // stride) - 1) * stride + 3 - h, 0)
    pw = max((-(-w // stride) - 1) * stride + 3 - w, 0)
    return np.pad(x, ((ph // 2, ph - ph // 2), (pw // 2, pw - pw // 2), (0, 0)))


def taps(x, stride, h_out, w_out):
    for ky in range(3):
        for kx in range(3):
            yield ky, kx, x[ky:ky + stride * h_out:stride, kx:kx + stride * w_out:stride]


def forward(W, patch):
    x = patch.astype(np.float64)[:, :, None]
    for kind, stride, w, b in W.layers:
        h_out, w_out = -(-x.shape[0] // stride), -(-x.shape[1] // stride)
        if kind == "conv":  # w [cout,3,3,cin]
            xp = same_pad(x, stride)
            y = np.zeros((h_out, w_out, w.shape[0]))
            for ky, kx, v in taps(xp, stride, h_out, w_out):
                y += v @ w[:, ky, kx, :].T
        elif kind == "dw":  # w [1,3,3,c]
            xp = same_pad(x, stride)
            y = np.zeros((h_out, w_out, x.shape[2]))
            for ky, kx, v in taps(xp, stride, h_out, w_out):
                y += v * w[0, ky, kx, :]
        else:  # w [cout,1,1,cin]
            y = x @ w[:, 0, 0, :].T
        x = np.maximum(y + b, 0.0)
    emb = x.mean(axis=(0, 1))
    logits = W.dense_w @ emb + W.dense_b
    return emb, 1.0 / (1.0 + np.exp(-logits))


def main():
    model, cmd = sys.argv[1], sys.argv[2]
    if cmd == "logmel":
        np.save(sys.argv[4], patches(logmel(decode(sys.argv[3]))))
    elif cmd == "forward":
        W = Weights(model)
        P = np.load(sys.argv[3]).reshape(-1, 96, 64)
        out = [forward(W, p) for p in P]
        np.save(sys.argv[4], np.array([e for e, _ in out], np.float32).reshape(len(P), 1024))
        np.save(sys.argv[5], np.array([s for _, s in out], np.float32).reshape(len(P), 521))
    elif cmd == "graphcheck":
        sys.exit(0 if graphcheck(model, sys.argv[3]) < 0.05 else 1)
    elif cmd == "melcheck":
        m = tflite_ref.Model(model)
        g = m.values(m.find("yamnet_frames/tf_op_layer_MatMul_2/MatMul_2"))  # [64,257]
        ours = mel_matrix().T
        scale = m.find("yamnet_frames/tf_op_layer_MatMul_2/MatMul_2")["scale"][0]
        d = np.abs(g - ours).max()
        print("mel matrix: max |graph - ours| = %.6f (int8 step %.6f)" % (d, scale))
        sys.exit(0 if d <= scale * 0.5 + 1e-6 else 1)
    else:
        sys.exit("unknown command " + cmd)



def graph_frontend(m, x):
    """The model's own front end, run in NumPy from its tensors: 15600
    samples -> frames of 400 every 160 (gather), window, |DFT| by its two
    int8 matrices, mel matrix + 0.001, log. Returns [96, 64]."""
    x = np.asarray(x, np.float64)[:15600]
    idx = m.values(m.find("yamnet_frames/tf_op_layer_GatherV2/GatherV2/indices")).astype(int)
    blocks = x.reshape(195, 80)
    frames = blocks[idx].reshape(96, 400)
    frames = frames * m.values(m.find("yamnet_frames/tf_op_layer_Mul/Mul/y"))[0]
    frames = np.pad(frames, ((0, 0), (0, 112)))
    re = frames @ m.values(m.find("yamnet_frames/tf_op_layer_MatMul/MatMul")).T
    im = frames @ m.values(m.find("yamnet_frames/tf_op_layer_MatMul_1/MatMul_1")).T
    mag = np.sqrt(re * re + im * im)
    mel = mag @ m.values(m.find("yamnet_frames/tf_op_layer_MatMul_2/MatMul_2")).T
    mel = mel + m.values(m.find("yamnet_frames/tf_op_layer_MatMul_2/MatMul_21"))
    return np.log(mel)


def graphcheck(model, audio):
    """Our NumPy front end against the graph's on the first 0.975 s."""
    m = tflite_ref.Model(model)
    x = decode(audio)[:15600]
    g = graph_frontend(m, x)
    ours = logmel(x)
    d = np.abs(g - ours)
    print("front end vs the graph's own (int8 DFT): mean |diff| %.4f, 99th pct %.4f, "
          "max %.4f over %s" % (d.mean(), np.percentile(d, 99), d.max(), g.shape))
    return d.mean()


if __name__ == "__main__":
    main()
