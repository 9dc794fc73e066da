#!/usr/bin/python3
"""tflite_run.py - a generic interpreter of a TFLite flatbuffer in NumPy.

Executes the file's subgraph 0 operator by operator, in the file's order,
taking every parameter from the file: tensor shapes, operator inputs and
outputs, builtin options (padding, strides, dilation, depth multiplier, fused
activation, keep_num_dims, gather axis, strided-slice masks, reducer
keep_dims), shape/begin/size/paddings/axes operand tensors, and the
quantisation (scale, zero point, quantised dimension) of int8 weights. It knows
nothing about any particular network: layouts are the schema's (activations
NHWC, CONV_2D filters [out, kh, kw, in], DEPTHWISE_CONV_2D filters
[1, kh, kw, in * multiplier], FULLY_CONNECTED weights [out, in]). The file is
read with tflite_ref.py (its own flatbuffer reader).

Int8 weights feeding a float operator ("hybrid" ops) run with
  --semantics float   (default) weights dequantised, (q - zero_point) * scale,
                      everything computed in float64;
  --semantics hybrid  the input activation quantised as the TFLite reference
                      hybrid kernels do (int8, symmetric, one scale per batch
                      row: scale = max|x| / 127, q = round(x / scale)), an
                      integer dot product, then rescaled by input scale x
                      weight scale and the float bias added.

  tflite_run.py [--semantics S] MODEL run WAV.npy SCORES.npy [EMB.npy [PATCH.npy]]
      whole graph from the model's input (e.g. 15,600 float samples) to its
      first output; optionally saves the tensor named by --emb (default
      the global-average-pooling Mean) and --patch (default the [1,96,64,1]
      reshape feeding the first conv).
  tflite_run.py [--semantics S] MODEL from TENSOR PATCHES.npy SCORES.npy [EMB.npy]
      starts at TENSOR (name or index) and runs only what lies downstream of
      it, once per leading-axis item of PATCHES (each reshaped to TENSOR's
      shape); writes [n, ...] scores (and embeddings) as float32.
  tflite_run.py MODEL trace TENSOR PATCH.npy OUT.npz
      like `from` for one item, saving every computed tensor by index.

Checks of what `aedcurate embed` stored (exit status 1 on a mismatch):
  tflite_run.py MODEL check LOGMEL.npy EMB.npy SCORES.npy [TOL]
      LOGMEL is a segment's stored log-mel ([frames, 64], `dump features`),
      cut into patches the way the embed stage cuts them (96 frames every 48,
      frames past the end log(0.001)); each patch goes through the file's own
      network from the patch tensor; scores must agree within TOL (default
      1e-5) absolute, embeddings within TOL relative to max(1, |value|), and
      the clip's top 5 (max over patches) must be the same classes in the
      same order.
  tflite_run.py MODEL graphcheck AUDIO SCORES.npy [TOL [PATCHES [LOGMEL.npy]]]
      the whole graph, the file's quantised-DFT front end included, on
      15,600-sample windows of AUDIO decoded by the ffmpeg CLI (16 kHz f32,
      channels averaged) at patch i's offset (7,680 i samples), for the
      first PATCHES (default 2) patches that lie wholly in the audio; their
      scores must agree with row i of SCORES within TOL (default 0.1), the
      top-1 class must be the same and the top 5 share at least 4 classes.
      With LOGMEL (ours, [frames, 64]) the graph's own log-mel patch (the
      tensor feeding the network) is compared too: mean |difference| per
      window must stay below 0.1.
"""
import argparse
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import tflite_ref  # noqa: E402

EMB_NAME = "yamnet_frames/global_average_pooling2d/Mean"
PATCH_NAME = "yamnet_frames/reshape/Reshape"


def activation(x, kind):
    """ActivationFunctionType: NONE, RELU, RELU_N1_TO_1, RELU6, TANH."""
    if kind == 0:
        return x
    if kind == 1:
        return np.maximum(x, 0.0)
    if kind == 2:
        return np.clip(x, -1.0, 1.0)
    if kind == 3:
        return np.clip(x, 0.0, 6.0)
    if kind == 4:
        return np.tanh(x)
    raise ValueError("fused activation %d not supported" % kind)


def same_or_valid(size, k, stride, dil, padding):
    """Output size and padding before, as TensorFlow defines SAME/VALID."""
    eff = (k - 1) * dil + 1
    if padding == 0:  # SAME
        out = -(-size // stride)
        total = max((out - 1) * stride + eff - size, 0)
        return out, total // 2, total - total // 2
    if padding == 1:  # VALID
        return -(-(size - eff + 1) // stride), 0, 0
    raise ValueError("padding %d not known" % padding)


def tfl_round(x):
    """std::round: halves away from zero."""
    return np.sign(x) * np.floor(np.abs(x) + 0.5)


def quantise_rows(x):
    """TFLite's SymmetricQuantizeFloats per row of a 2-D array: range =
    max|x|, scale = range / 127, q = round(x * 127 / range) clamped to
    [-127, 127]; an all-zero row gets q = 0, scale 1. Returns (q, scale)."""
    r = np.abs(x).max(axis=1)
    safe = np.where(r > 0, r, 1.0)
    q = np.clip(tfl_round(x * (127.0 / safe)[:, None]), -127, 127)
    q[r == 0] = 0
    return q, np.where(r > 0, r / 127.0, 1.0)


class Interpreter:
    def __init__(self, path, semantics="float"):
        self.m = tflite_ref.Model(path)
        self.semantics = semantics
        self.const = {}
        self.qweights = {}
        for i, t in enumerate(self.m.tensors):
            if len(self.m.raw(t)) == 0:
                continue
            name, dt = tflite_ref.TYPES[t["type"]]
            a = np.frombuffer(self.m.raw(t), dtype=dt).reshape(t["shape"])
            q = self.m.quantised(t, np.float64)
            if q is not None:
                self.qweights[i] = q
                self.const[i] = (q[0] - q[2]) * q[1]
            elif name in ("float32", "float16"):
                self.const[i] = a.astype(np.float64)
            else:
                self.const[i] = a.copy()

    def index(self, name_or_index):
        if str(name_or_index).isdigit():
            return int(name_or_index)
        for i, t in enumerate(self.m.tensors):
            if t["name"] == name_or_index:
                return i
        raise KeyError(name_or_index)

    # ---- operators -------------------------------------------------------
    def _hybrid(self, w_index):
        return self.semantics == "hybrid" and w_index in self.qweights

    def _matmul(self, x2, w_index, w):
        """x2 [rows, in] times w [out, in]^T, float or hybrid."""
        if not self._hybrid(w_index):
            return x2 @ w.T
        q, s, z = self.qweights[w_index]
        if np.any(z != 0) or np.size(s) != 1:
            raise ValueError("hybrid path supports per-tensor symmetric weights only")
        xq, xs = quantise_rows(x2)
        return (xq @ q.reshape(q.shape[0], -1).T) * (xs[:, None] * float(np.ravel(s)[0]))

    def op_fully_connected(self, op, opt, x, w, b):
        k = w.shape[1]
        x2 = x.reshape(-1, k)
        y = self._matmul(x2, op["inputs"][1], w)
        if b is not None:
            y = y + b
        y = activation(y, opt.get("fused_activation_function", 0))
        if opt.get("keep_num_dims"):
            return y.reshape(tuple(x.shape[:-1]) + (w.shape[0],))
        return y

    def op_conv_2d(self, op, opt, x, w, b):
        n, h, wd, cin = x.shape
        cout, kh, kw, wcin = w.shape
        if wcin != cin:
            raise ValueError("conv: input has %d channels, filter %d" % (cin, wcin))
        sh, sw = opt["stride_h"], opt["stride_w"]
        dh, dw = opt["dilation_h_factor"], opt["dilation_w_factor"]
        oh, pt, pb = same_or_valid(h, kh, sh, dh, opt["padding"])
        ow, pl, pr = same_or_valid(wd, kw, sw, dw, opt["padding"])
        xp = np.pad(x, ((0, 0), (pt, pb), (pl, pr), (0, 0)))
        # im2col in [kh, kw, in] order, matching the filter's inner layout.
        cols = np.empty((n, oh, ow, kh, kw, cin), x.dtype)
        for i in range(kh):
            for j in range(kw):
                cols[:, :, :, i, j, :] = xp[:, i * dh:i * dh + sh * (oh - 1) + 1:sh,
                                            j * dw:j * dw + sw * (ow - 1) + 1:sw, :]
        if self._hybrid(op["inputs"][1]):
            # The hybrid conv quantises the whole input of each batch item.
            y = np.concatenate([
                self._matmul_batch(cols[bi].reshape(1, -1), cols[bi].reshape(oh * ow, -1),
                                   op["inputs"][1]) for bi in range(n)])
        else:
            y = cols.reshape(n * oh * ow, -1) @ w.reshape(cout, -1).T
        if b is not None:
            y = y + b
        return activation(y.reshape(n, oh, ow, cout), opt["fused_activation_function"])

    def _matmul_batch(self, whole, rows, w_index):
        """Hybrid conv (TFLite EvalHybrid): the whole input of one batch item
        quantised with one symmetric scale, then rows x int8 filter."""
        q, s, _ = self.qweights[w_index]
        r = np.abs(whole).max()
        if r == 0:
            return np.zeros((rows.shape[0], q.shape[0]))
        xq = np.clip(tfl_round(rows * (127.0 / r)), -127, 127)
        return (xq @ q.reshape(q.shape[0], -1).T) * (r / 127.0 * float(np.ravel(s)[0]))

    def op_depthwise_conv_2d(self, op, opt, x, w, b):
        n, h, wd, cin = x.shape
        one, kh, kw, cout = w.shape
        mult = opt["depth_multiplier"] or cout // cin
        if one != 1 or cout != cin * mult:
            raise ValueError("depthwise: filter %s for %d input channels x %d"
                             % (w.shape, cin, mult))
        if self._hybrid(op["inputs"][1]):
            raise ValueError("hybrid depthwise not supported")
        sh, sw = opt["stride_h"], opt["stride_w"]
        dh, dw = opt["dilation_h_factor"], opt["dilation_w_factor"]
        oh, pt, pb = same_or_valid(h, kh, sh, dh, opt["padding"])
        ow, pl, pr = same_or_valid(wd, kw, sw, dw, opt["padding"])
        xp = np.pad(x, ((0, 0), (pt, pb), (pl, pr), (0, 0)))
        # Output channel c reads input channel c // multiplier.
        xp = np.repeat(xp, mult, axis=3) if mult > 1 else xp
        y = np.zeros((n, oh, ow, cout), np.float64)
        for i in range(kh):
            for j in range(kw):
                y += xp[:, i * dh:i * dh + sh * (oh - 1) + 1:sh,
                        j * dw:j * dw + sw * (ow - 1) + 1:sw, :] * w[0, i, j, :]
        if b is not None:
            y = y + b
        return activation(y, opt["fused_activation_function"])

    def op_strided_slice(self, opt, x, begin, end, strides):
        if opt.get("ellipsis_mask") or opt.get("new_axis_mask"):
            raise ValueError("strided slice: ellipsis/new-axis masks not supported")
        idx, drop = [], []
        for a in range(x.ndim):
            if a >= len(begin):
                idx.append(slice(None))
                continue
            st = int(strides[a])
            bg, en = int(begin[a]), int(end[a])
            if opt.get("offset"):
                en = bg + en
            if opt["shrink_axis_mask"] >> a & 1:
                idx.append(bg if bg >= 0 else bg + x.shape[a])
                drop.append(a)
                continue
            if opt["begin_mask"] >> a & 1:
                bg = None
            if opt["end_mask"] >> a & 1:
                en = None
            idx.append(slice(bg, en, st))
        return x[tuple(idx)]

    def run_op(self, op, vals):
        code = op["code"]
        opt = self.m.options(op)
        ins = [vals[i] if i >= 0 else None for i in op["inputs"]]
        name = tflite_ref.OPS.get(code, str(code))
        if name == "RESHAPE":
            shape = [int(v) for v in ins[1]] if len(ins) > 1 and ins[1] is not None \
                else opt["new_shape"]
            return ins[0].reshape(shape)
        if name == "SLICE":
            b = [int(v) for v in ins[1]]
            s = [int(v) for v in ins[2]]
            return ins[0][tuple(slice(bb, None if ss == -1 else bb + ss) for bb, ss in zip(b, s))]
        if name == "GATHER":
            if opt.get("batch_dims", 0):
                raise ValueError("gather: batch_dims not supported")
            axis = opt.get("axis", 0)
            if axis < 0:
                axis += ins[0].ndim
            return np.take(ins[0], ins[1].astype(np.int64), axis=axis)
        if name in ("MUL", "ADD", "SUB", "DIV"):
            f = {"MUL": np.multiply, "ADD": np.add, "SUB": np.subtract, "DIV": np.divide}[name]
            return activation(f(ins[0], ins[1]), opt.get("fused_activation_function", 0))
        if name == "PAD":
            return np.pad(ins[0], [(int(a), int(b)) for a, b in ins[1]])
        if name == "FULLY_CONNECTED":
            return self.op_fully_connected(op, opt, ins[0], ins[1],
                                           ins[2] if len(ins) > 2 else None)
        if name == "CONV_2D":
            return self.op_conv_2d(op, opt, ins[0], ins[1], ins[2] if len(ins) > 2 else None)
        if name == "DEPTHWISE_CONV_2D":
            return self.op_depthwise_conv_2d(op, opt, ins[0], ins[1],
                                             ins[2] if len(ins) > 2 else None)
        if name == "SQRT":
            return np.sqrt(ins[0])
        if name == "LOG":
            return np.log(ins[0])
        if name == "LOGISTIC":
            return 1.0 / (1.0 + np.exp(-ins[0]))
        if name == "STRIDED_SLICE":
            return self.op_strided_slice(opt, ins[0], ins[1], ins[2], ins[3])
        if name == "MEAN":
            axes = tuple(int(a) % ins[0].ndim for a in np.ravel(ins[1]))
            return ins[0].mean(axis=axes, keepdims=bool(opt.get("keep_dims")))
        if name == "DEQUANTIZE":
            return self.const[op["inputs"][0]]
        raise ValueError("operator %s not supported" % name)

    def execute(self, feeds, keep=False):
        """Runs every operator whose inputs are known, in file order; feeds is
        {tensor index: array}. Operators upstream of a fed tensor are skipped.
        Returns {tensor index: value} of every tensor computed or fed."""
        vals = dict(self.const)
        for i, v in feeds.items():
            shape = self.m.tensors[i]["shape"]
            vals[i] = np.asarray(v, np.float64).reshape(shape)
        ran = 0
        for k, op in enumerate(self.m.ops):
            if any(o in feeds for o in op["outputs"]):
                continue
            if not all(i < 0 or i in vals for i in op["inputs"]):
                continue
            if all(o in vals for o in op["outputs"]) and op["outputs"][0] in self.const:
                continue
            y = self.run_op(op, vals)
            out = op["outputs"][0]
            want = self.m.tensors[out]["shape"]
            if list(y.shape) != list(want):
                raise ValueError("op %d (%s): computed shape %s, file says %s" % (
                    k, tflite_ref.OPS.get(op["code"], op["code"]), list(y.shape), want))
            vals[out] = y
            ran += 1
        self.last_ran = ran
        return vals


FLOOR = float(np.log(np.float32(0.001)))


def cut_patches(lm, frames=96, hop=48):
    """A [frames, bands] log-mel cut as the embed stage cuts it."""
    lm = lm.reshape(-1, lm.shape[-1])
    n = 1 if len(lm) <= frames else 1 + -(-(len(lm) - frames) // hop)
    out = np.full((n, frames, lm.shape[1]), FLOOR, np.float64)
    for i in range(n):
        part = lm[hop * i:hop * i + frames]
        out[i, :len(part)] = part
    return out


def top5(scores):
    return list(np.argsort(-np.asarray(scores).reshape(-1, scores.shape[-1]).max(axis=0),
                           kind="stable")[:5])


def cmd_check(it, lm_path, emb_path, sc_path, tol):
    start = it.index(PATCH_NAME)
    emb_idx, out_idx = it.index(EMB_NAME), it.m.outputs[0]
    emb, sc = np.load(emb_path), np.load(sc_path)
    P = cut_patches(np.load(lm_path))
    if emb.shape[0] != len(P) or sc.shape[0] != len(P):
        print("stored %s / %s rows, %d patches in the log-mel" % (emb.shape, sc.shape, len(P)))
        return 1
    gs, ge = [], []
    for p in P:
        vals = it.execute({start: p})
        gs.append(np.ravel(vals[out_idx]))
        ge.append(np.ravel(vals[emb_idx]))
    gs, ge = np.array(gs), np.array(ge)
    ds = np.abs(gs - sc).max()
    de = (np.abs(ge - emb) / np.maximum(1.0, np.abs(ge))).max()
    t_ours, t_graph = top5(sc), top5(gs)
    print("%d patches: max |score diff| %.3g, max embedding diff %.3g (rel.), "
          "top 5 ours %s graph %s" % (len(P), ds, de, t_ours, t_graph))
    ok = ds <= tol and de <= tol and t_ours == t_graph and np.abs(ge).max() > 0.5
    return 0 if ok else 1


def decode(path, rate=16000):
    """AUDIO as float64 samples at RATE through the ffmpeg CLI, channels
    averaged (YAMNet's own inference averages channels; ffmpeg's "-ac 1"
    would sum stereo at 1/sqrt(2) each, 3 dB louder)."""
    import subprocess
    ch = subprocess.run(["ffprobe", "-v", "error", "-select_streams", "a:0", "-show_entries",
                         "stream=channels", "-of", "csv=p=0", path],
                        check=True, stdout=subprocess.PIPE).stdout.decode().split()
    ch = int(ch[0]) if ch else 1
    raw = subprocess.run(["ffmpeg", "-v", "error", "-i", path, "-ar", str(rate),
                          "-f", "f32le", "-"], check=True, stdout=subprocess.PIPE).stdout
    x = np.frombuffer(raw, np.float32).astype(np.float64)
    return x[:len(x) // ch * ch].reshape(-1, ch).mean(axis=1)


def cmd_graphcheck(it, audio, sc_path, tol, n_max, lm_path=None):
    sc = np.load(sc_path)
    lm = np.load(lm_path).reshape(-1, 64) if lm_path else None
    inp, out_idx = it.m.inputs[0], it.m.outputs[0]
    patch_idx = it.index(PATCH_NAME)
    width = int(np.prod(it.m.tensors[inp]["shape"]))
    x = decode(audio)
    worst, rc, done = 0.0, 0, 0
    for i in range(min(n_max, len(sc))):
        off = 7680 * i
        if off + width > len(x):
            break
        vals = it.execute({inp: x[off:off + width]})
        g = np.ravel(vals[out_idx])
        d = np.abs(g - sc[i]).max()
        a, b = top5(sc[i:i + 1]), top5(g[None, :])
        common = len(set(a) & set(b))
        line = ("window %d (samples %d..%d): max |score diff| %.3g, top 5 ours %s graph %s"
                % (i, off, off + width, d, a, b))
        if lm is not None:
            gp = vals[patch_idx].reshape(-1, 64)
            ours = lm[48 * i:48 * i + len(gp)]
            dl = np.abs(gp[:len(ours)] - ours)
            line += ", log-mel mean |diff| %.3g (max %.3g)" % (dl.mean(), dl.max())
            if dl.mean() >= 0.1:
                rc = 1
        print(line)
        worst = max(worst, d)
        done += 1
        if d > tol or common < 4 or a[0] != b[0]:
            rc = 1
    print("%d windows, max |score diff| %.3g (bound %g)" % (done, worst, tol))
    return rc if done else 1


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--semantics", choices=("float", "hybrid"), default="float")
    ap.add_argument("--emb", default=EMB_NAME)
    ap.add_argument("--patch", default=PATCH_NAME)
    ap.add_argument("model")
    ap.add_argument("mode", choices=("run", "from", "trace", "check", "graphcheck"))
    ap.add_argument("args", nargs="+")
    a = ap.parse_args()
    it = Interpreter(a.model, a.semantics)
    out_idx = it.m.outputs[0]
    if a.mode == "check":
        sys.exit(cmd_check(it, *a.args[:3], float(a.args[3]) if len(a.args) > 3 else 1e-5))
    if a.mode == "graphcheck":
        sys.exit(cmd_graphcheck(it, a.args[0], a.args[1],
                                float(a.args[2]) if len(a.args) > 2 else 0.1,
                                int(a.args[3]) if len(a.args) > 3 else 2,
                                a.args[4] if len(a.args) > 4 else None))
    if a.mode == "run":
        x = np.load(a.args[0])
        inp = it.m.inputs[0]
        vals = it.execute({inp: x})
        np.save(a.args[1], vals[out_idx].astype(np.float32))
        if len(a.args) > 2:
            np.save(a.args[2], vals[it.index(a.emb)].astype(np.float32))
        if len(a.args) > 3:
            np.save(a.args[3], vals[it.index(a.patch)].astype(np.float32))
        print("ran %d operators" % it.last_ran)
        return
    start = it.index(a.args[0])
    P = np.load(a.args[1])
    shape = it.m.tensors[start]["shape"]
    P = P.reshape((-1,) + tuple(shape))
    if a.mode == "trace":
        vals = it.execute({start: P[0]})
        np.savez(a.args[2], **{"t%d" % k: v for k, v in vals.items()
                               if k not in it.const and isinstance(v, np.ndarray)})
        print("ran %d operators" % it.last_ran)
        return
    emb_idx = it.index(a.emb)
    scores, embs = [], []
    for p in P:
        vals = it.execute({start: p})
        scores.append(np.ravel(vals[out_idx]))
        embs.append(np.ravel(vals[emb_idx]))
    np.save(a.args[2], np.array(scores, np.float32).reshape(len(P), -1))
    if len(a.args) > 3:
        np.save(a.args[3], np.array(embs, np.float32).reshape(len(P), -1))
    print("%d items, %d operators each" % (len(P), it.last_ran))


if __name__ == "__main__":
    main()
