#!/usr/bin/python3
"""tflite_ref.py - an independent TFLite flatbuffer reader in pure Python/NumPy.

Used by the tests as a cross-check of the C reader (src/nn/tflite.c): it lists
tensors, operators and raw buffers, and dequantises int8/uint8 weights with
NumPy. It shares no code with the C side.

  tflite_ref.py MODEL list                 one line per tensor
  tflite_ref.py MODEL ops                  one line per operator
  tflite_ref.py MODEL options              each operator's builtin options
  tflite_ref.py MODEL dump NAME OUT.npy    a tensor's values as float32
"""
import struct
import sys

import numpy as np

TYPES = {0: ("float32", np.float32), 1: ("float16", np.float16),
         2: ("int32", np.int32), 3: ("uint8", np.uint8), 4: ("int64", np.int64),
         6: ("bool", np.bool_), 7: ("int16", np.int16), 9: ("int8", np.int8)}
OPS = {0: "ADD", 2: "CONCATENATION", 3: "CONV_2D", 4: "DEPTHWISE_CONV_2D",
       6: "DEQUANTIZE", 9: "FULLY_CONNECTED", 14: "LOGISTIC", 18: "MUL",
       19: "RELU", 22: "RESHAPE", 25: "SOFTMAX", 32: "CUSTOM", 34: "PAD",
       36: "GATHER", 39: "TRANSPOSE", 40: "MEAN", 41: "SUB", 42: "DIV",
       43: "SQUEEZE", 45: "STRIDED_SLICE", 47: "EXP", 53: "CAST", 55: "MAXIMUM",
       65: "SLICE", 73: "LOG", 75: "SQRT", 77: "SHAPE", 83: "PACK",
       88: "UNPACK", 92: "SQUARE", 99: "SQUARED_DIFFERENCE", 114: "QUANTIZE",
       124: "RFFT2D", 130: "BROADCAST_TO"}

# Builtin options, from tensorflow/lite/schema/schema.fbs: the BuiltinOptions
# union member (1-based, 0 = none) and its fields in declaration order, each
# (name, struct format or "[i" for a vector of int32, default).
OPTIONS = {
    1: ("Conv2DOptions", [("padding", "b", 0), ("stride_w", "i", 0), ("stride_h", "i", 0),
                          ("fused_activation_function", "b", 0),
                          ("dilation_w_factor", "i", 1), ("dilation_h_factor", "i", 1)]),
    2: ("DepthwiseConv2DOptions", [("padding", "b", 0), ("stride_w", "i", 0),
                                   ("stride_h", "i", 0), ("depth_multiplier", "i", 0),
                                   ("fused_activation_function", "b", 0),
                                   ("dilation_w_factor", "i", 1), ("dilation_h_factor", "i", 1)]),
    8: ("FullyConnectedOptions", [("fused_activation_function", "b", 0),
                                  ("weights_format", "b", 0), ("keep_num_dims", "?", False),
                                  ("asymmetric_quantize_inputs", "?", False)]),
    11: ("AddOptions", [("fused_activation_function", "b", 0), ("pot_scale_int16", "?", True)]),
    17: ("ReshapeOptions", [("new_shape", "[i", None)]),
    21: ("MulOptions", [("fused_activation_function", "b", 0)]),
    22: ("PadOptions", []),
    23: ("GatherOptions", [("axis", "i", 0), ("batch_dims", "i", 0)]),
    27: ("ReducerOptions", [("keep_dims", "?", False)]),
    32: ("StridedSliceOptions", [("begin_mask", "i", 0), ("end_mask", "i", 0),
                                 ("ellipsis_mask", "i", 0), ("new_axis_mask", "i", 0),
                                 ("shrink_axis_mask", "i", 0), ("offset", "?", False)]),
    38: ("DequantizeOptions", []),
    48: ("SliceOptions", []),
}


class Table:
    """A flatbuffer table: field lookup through its vtable."""

    def __init__(self, buf, pos):
        self.buf, self.pos = buf, pos
        vt = pos - struct.unpack_from("<i", buf, pos)[0]
        self.vt = vt
        self.vtlen = struct.unpack_from("<H", buf, vt)[0]

    def _off(self, field):
        o = 4 + 2 * field
        if o + 2 > self.vtlen:
            return 0
        return struct.unpack_from("<H", self.buf, self.vt + o)[0]

    def scalar(self, field, fmt, default=0):
        o = self._off(field)
        if not o:
            return default
        return struct.unpack_from("<" + fmt, self.buf, self.pos + o)[0]

    def _ref(self, field):
        o = self._off(field)
        if not o:
            return None
        p = self.pos + o
        return p + struct.unpack_from("<I", self.buf, p)[0]

    def table(self, field):
        p = self._ref(field)
        return None if p is None else Table(self.buf, p)

    def vector(self, field, fmt):
        p = self._ref(field)
        if p is None:
            return []
        n = struct.unpack_from("<I", self.buf, p)[0]
        return list(struct.unpack_from("<%d%s" % (n, fmt), self.buf, p + 4))

    def vector_bytes(self, field):
        p = self._ref(field)
        if p is None:
            return b""
        n = struct.unpack_from("<I", self.buf, p)[0]
        return self.buf[p + 4:p + 4 + n]

    def tables(self, field):
        p = self._ref(field)
        if p is None:
            return []
        n = struct.unpack_from("<I", self.buf, p)[0]
        out = []
        for i in range(n):
            e = p + 4 + 4 * i
            out.append(Table(self.buf, e + struct.unpack_from("<I", self.buf, e)[0]))
        return out

    def string(self, field):
        return self.vector_bytes(field).decode("utf-8", "replace")


class Model:
    def __init__(self, path):
        with open(path, "rb") as f:
            self.buf = f.read()
        root = Table(self.buf, struct.unpack_from("<I", self.buf, 0)[0])
        self.version = root.scalar(0, "I")
        self.opcodes = []
        for oc in root.tables(1):
            code = oc.scalar(3, "i")
            dep = oc.scalar(0, "b")
            self.opcodes.append(max(code, dep))
        self.buffers = [b.vector_bytes(0) for b in root.tables(4)]
        sg = root.tables(2)[0]
        self.tensors = []
        for t in sg.tables(0):
            q = t.table(4)
            scale = q.vector(2, "f") if q else []
            zp = q.vector(3, "q") if q else []
            self.tensors.append({
                "name": t.string(3), "shape": t.vector(0, "i"),
                "type": t.scalar(1, "b"), "buffer": t.scalar(2, "I"),
                "scale": scale, "zero_point": zp,
                "qdim": q.scalar(6, "i") if q else 0})
        self.inputs = sg.vector(1, "i")
        self.outputs = sg.vector(2, "i")
        self.ops = []
        for op in sg.tables(3):
            opts = op.table(4)
            self.ops.append({"code": self.opcodes[op.scalar(0, "I")],
                             "inputs": op.vector(1, "i"),
                             "outputs": op.vector(2, "i"),
                             "opts_type": op.scalar(3, "B"), "opts": opts})

    def options(self, op):
        """An operator's builtin options as a dict (schema defaults filled in),
        with "_type" the union member's name; {} when the operator has none."""
        kind = op["opts_type"]
        if kind == 0 or op["opts"] is None:
            return {}
        if kind not in OPTIONS:
            raise ValueError("builtin options type %d not known to this reader" % kind)
        name, fields = OPTIONS[kind]
        out = {"_type": name}
        for i, (fname, fmt, default) in enumerate(fields):
            if fmt == "[i":
                v = op["opts"].vector(i, "i")
                out[fname] = v if op["opts"]._off(i) else default
            else:
                out[fname] = op["opts"].scalar(i, fmt, default)
        return out

    def raw(self, t):
        return self.buffers[t["buffer"]]

    def quantised(self, t, dtype=np.float32):
        """An int8/uint8 tensor with a scale as (q, scale, zero point) in dtype,
        scale and zero point shaped to broadcast along the quantised axis;
        None for any other tensor."""
        name, dt = TYPES[t["type"]]
        if name not in ("int8", "uint8") or not t["scale"]:
            return None
        a = np.frombuffer(self.raw(t), dtype=dt).reshape(t["shape"])
        s = np.asarray(t["scale"], dtype)
        z = np.asarray(t["zero_point"] or [0] * len(s), dtype)
        if len(s) > 1:
            shp = [1] * a.ndim
            shp[t["qdim"]] = len(s)
            s, z = s.reshape(shp), z.reshape(shp)
        return a.astype(dtype), s, z

    def values(self, t):
        """The tensor as float32: int8/uint8 dequantised with NumPy."""
        q = self.quantised(t)
        if q is not None:
            return ((q[0] - q[2]) * q[1]).astype(np.float32)
        name, dt = TYPES[t["type"]]
        return np.frombuffer(self.raw(t), dtype=dt).reshape(t["shape"]).astype(np.float32)

    def find(self, name):
        for t in self.tensors:
            if t["name"] == name:
                return t
        raise KeyError(name)


def main():
    m = Model(sys.argv[1])
    cmd = sys.argv[2]
    if cmd == "list":
        for i, t in enumerate(m.tensors):
            print(i, t["name"], t["shape"], TYPES.get(t["type"], (t["type"],))[0],
                  "buf=%d(%d)" % (t["buffer"], len(m.raw(t))),
                  ("scale=%s zp=%s" % (t["scale"][:2], t["zero_point"][:2])) if t["scale"] else "")
    elif cmd == "ops":
        for i, op in enumerate(m.ops):
            print(i, OPS.get(op["code"], op["code"]), op["inputs"], "->", op["outputs"],
                  [m.tensors[j]["name"] for j in op["outputs"]])
    elif cmd == "options":
        for i, op in enumerate(m.ops):
            print(i, OPS.get(op["code"], op["code"]), m.options(op))
    elif cmd == "dump":
        np.save(sys.argv[4], m.values(m.find(sys.argv[3])))
    else:
        sys.exit("unknown command " + cmd)


if __name__ == "__main__":
    main()
