#!/usr/bin/python3
"""read_tfrecord.py - an independent reader of `aedcurate export --format
tfrecord` shards: a pure-Python CRC32C checks both CRCs of every record, the
tf.train.SequenceExample protobuf is parsed by hand (no protobuf package), and
each example is checked against the database: video_id, start/end seconds,
label indices, one 128-byte row per second of real audio. The rows are
recomputed with NumPy from the embeddings in the array store and the PCA files
of the export (pool patches overlapping each second, project, whiten, clip,
quantise) and must match (a byte may differ by 1 where float rounding lands
on a quantisation edge). No source group may be in two splits.

usage: read_tfrecord.py DB OUTDIR
Prints a summary line; exits 1 with the problems listed."""
import hashlib
import json
import math
import os
import sqlite3
import struct
import sys

import numpy as np

_T = []
for i in range(256):
    c = i
    for _ in range(8):
        c = (c >> 1) ^ 0x82F63B78 if c & 1 else c >> 1
    _T.append(c)


def crc32c(b):
    c = 0xFFFFFFFF
    for x in b:
        c = _T[(c ^ x) & 0xFF] ^ (c >> 8)
    return c ^ 0xFFFFFFFF


def masked(b):
    c = crc32c(b)
    return (((c >> 15) | (c << 17)) + 0xA282EAD8) & 0xFFFFFFFF


def varint(b, p):
    v = s = 0
    while True:
        if p >= len(b):
            raise ValueError("truncated varint")
        x = b[p]
        p += 1
        v |= (x & 0x7F) << s
        s += 7
        if not x & 0x80:
            return v, p


def fields(b):
    """(field, wire type, value) of one message; value bytes for wire type 2."""
    p = 0
    out = []
    while p < len(b):
        tag, p = varint(b, p)
        f, wt = tag >> 3, tag & 7
        if wt == 0:
            v, p = varint(b, p)
        elif wt == 2:
            n, p = varint(b, p)
            if p + n > len(b):
                raise ValueError("length past the end")
            v = b[p:p + n]
            p += n
        elif wt == 5:
            v = b[p:p + 4]
            p += 4
        elif wt == 1:
            v = b[p:p + 8]
            p += 8
        else:
            raise ValueError("wire type %d" % wt)
        out.append((f, wt, v))
    return out


def feature(b):
    """Feature -> ('bytes'|'float'|'int64', list)"""
    for f, wt, v in fields(b):
        if f == 1:
            return "bytes", [x for g, _, x in fields(v) if g == 1]
        if f == 2:
            vals = []
            for g, w, x in fields(v):
                if w == 2:
                    vals += list(struct.unpack("<%df" % (len(x) // 4), x))
                elif w == 5:
                    vals.append(struct.unpack("<f", x)[0])
            return "float", vals
        if f == 3:
            vals = []
            for g, w, x in fields(v):
                if w == 2:
                    q = 0
                    while q < len(x):
                        y, q = varint(x, q)
                        vals.append(y)
                else:
                    vals.append(x)
            return "int64", vals
    return None, []


def sequence_example(b):
    ctx, lists = {}, {}
    for f, wt, v in fields(b):
        if f == 1:
            for g, _, e in fields(v):
                kv = {h: x for h, _, x in fields(e)}
                ctx[kv[1].decode()] = feature(kv.get(2, b""))
        elif f == 2:
            for g, _, e in fields(v):
                kv = {h: x for h, _, x in fields(e)}
                lists[kv[1].decode()] = [feature(x) for h, _, x in fields(kv.get(2, b"")) if h == 1]
    return ctx, lists


def records(data, name, bad):
    p = 0
    while p < len(data):
        if len(data) - p < 12:
            bad("%s: truncated header at %d" % (name, p))
            return
        n = struct.unpack_from("<Q", data, p)[0]
        if struct.unpack_from("<I", data, p + 8)[0] != masked(data[p:p + 8]):
            bad("%s: length CRC at %d" % (name, p))
            return
        d = data[p + 12:p + 12 + n]
        if len(d) != n or len(data) < p + 16 + n:
            bad("%s: record at %d runs past the end" % (name, p))
            return
        if struct.unpack_from("<I", data, p + 12 + n)[0] != masked(d):
            bad("%s: data CRC at %d" % (name, p))
        else:
            yield d
        p += 16 + n


def main():
    db_path, out = sys.argv[1:3]
    db = sqlite3.connect(db_path)
    arrays = db_path + ".arrays"
    problems = []
    bad = problems.append
    mean = np.load(os.path.join(out, "pca_mean.npy")).astype(np.float64)
    comp = np.load(os.path.join(out, "pca_components.npy")).astype(np.float64)
    ev = np.array(json.load(open(os.path.join(out, "pca.json")))["eigenvalues"], dtype=np.float64)
    index = json.load(open(os.path.join(out, "index.json")))
    group_split = {}
    n = n_rows = n_off = 0
    for split, info in index["splits"].items():
        for sh in info["shards"]:
            data = open(os.path.join(out, sh["name"]), "rb").read()
            if hashlib.sha256(data).hexdigest() != sh["sha256"]:
                bad("%s: sha256 differs from index.json" % sh["name"])
            k = 0
            for rec in records(data, sh["name"], bad):
                k += 1
                n += 1
                try:
                    ctx, lists = sequence_example(rec)
                    vid = ctx["video_id"][1][0].decode()
                    start = ctx["start_time_seconds"][1][0]
                    end = ctx["end_time_seconds"][1][0]
                    labels = ctx["labels"][1]
                    rows = [f[1][0] for f in lists.get("audio_embedding", [])]
                except (ValueError, KeyError, IndexError, UnicodeDecodeError) as e:
                    bad("%s: record %d: not an AudioSet SequenceExample: %s" % (sh["name"], k, e))
                    continue
                key = "%s_%d" % (vid, round(start * 1000))
                r = db.execute("SELECT s.id, s.end_ms, s.source_group, c.n_samples, c.n_total FROM segment s "
                               "JOIN clip c ON c.segment_id = s.id WHERE s.key = ?", (key,)).fetchone()
                if r is None:
                    bad("%s: no segment %s" % (sh["name"], key))
                    continue
                sid, end_ms, group, ns, nt = r
                if group_split.setdefault(group, split) != split:
                    bad("%s: group %s in two splits" % (key, group))
                # as the WebDataset JSON's end_ms: open segments end at start + real samples, to the ms
                start_ms = round(start * 1000)
                want_end = (end_ms if end_ms is not None else start_ms + (ns * 1000 + 8000) // 16000) / 1000
                if abs(end - want_end) > max(1e-4, 1e-6 * want_end):
                    bad("%s: end %g, database %g" % (key, end, want_end))
                want = sorted(x for (x,) in db.execute(
                    "SELECT DISTINCT c.label_index FROM label l JOIN class c ON c.id = l.class_id "
                    "WHERE l.segment_id = ? AND c.label_index IS NOT NULL AND NOT EXISTS (SELECT 1 FROM "
                    "review_decision r WHERE r.segment_id = l.segment_id AND r.class_id = l.class_id "
                    "AND r.decision = 'not_present')", (sid,)))
                if labels != want:
                    bad("%s: labels %s, database %s" % (key, labels, want))
                secs = max(1, math.ceil(min(ns, nt) / 16000))
                if len(rows) != secs or any(len(x) != 128 for x in rows):
                    bad("%s: %d rows (%s bytes), want %d of 128" % (key, len(rows), {len(x) for x in rows}, secs))
                    continue
                a = db.execute("SELECT f.path, a.offset, a.nbytes, a.dim0, a.dim1 FROM array_ref a "
                               "JOIN array_file f ON f.id = a.file_id WHERE a.kind = 'embedding' "
                               "AND a.item = ?", (sid,)).fetchone()
                with open(os.path.join(arrays, a[0]), "rb") as f:
                    f.seek(a[1])
                    emb = np.frombuffer(f.read(a[2]), dtype="<f4").reshape(a[3], a[4]).astype(np.float64)
                starts = 0.48 * np.arange(emb.shape[0])
                got = np.frombuffer(b"".join(rows), dtype=np.uint8).reshape(secs, 128).astype(int)
                for s in range(secs):
                    use = (starts < s + 1 - 1e-9) & (starts + 0.96 > s + 1e-9)
                    pooled = emb[use].mean(axis=0) if use.any() else emb[-1]
                    y = comp @ (pooled - mean) / np.sqrt(ev)
                    q = np.floor((np.clip(y, -2, 2) + 2) * 255 / 4).astype(int)
                    diff = np.abs(q - got[s])
                    if diff.max() > 1:
                        bad("%s: second %d: bytes differ by up to %d" % (key, s, diff.max()))
                    n_off += int((diff == 1).sum())
                    n_rows += 1
            if k != sh["samples"]:
                bad("%s: %d records, index says %d" % (sh["name"], k, sh["samples"]))
    for p in problems[:40]:
        print("problem:", p)
    print("tfrecord: %d examples, %d rows checked, %d bytes off by one, %d groups, %d problems"
          % (n, n_rows, n_off, len(group_split), len(problems)))
    return 1 if problems or n == 0 else 0


if __name__ == "__main__":
    sys.exit(main())
