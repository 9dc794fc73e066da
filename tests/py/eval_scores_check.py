#!/usr/bin/python3
"""eval_scores_check.py DB CLASS_MAP EVAL.json - recompute `aedcurate eval
scores --json` (yamnet scorer, max pooling) independently: YAMNet scores read
straight from the array store files, labels through class_closure, AP as
sklearn's average_precision_score, AUC from pairwise comparisons, EER from
the ROC by interpolation, and compare every class within 1e-6."""
import csv
import json
import math
import sqlite3
import sys

import numpy as np

db, cmap_path, out_path = sys.argv[1:4]
res = json.load(open(out_path))
con = sqlite3.connect(db)
split = res["split"]
segs = [r[0] for r in con.execute(
    "SELECT ss.segment_id FROM segment_split ss JOIN split sp ON sp.id = ss.split_id "
    "WHERE sp.name = ? ORDER BY 1", (split,))]
cmap = list(csv.reader(open(cmap_path)))[1:]
scores = {}
for s in segs:
    r = con.execute("SELECT f.path, r.offset, r.nbytes, r.dim0, r.dim1 FROM array_ref r JOIN array_file f "
                    "ON f.id = r.file_id WHERE r.kind = 'scores' AND r.item = ?", (s,)).fetchone()
    if r:
        with open(db + ".arrays/" + r[0], "rb") as f:
            f.seek(r[1])
            scores[s] = np.frombuffer(f.read(r[2]), "<f4").reshape(r[3], r[4]).max(axis=0)
labels = {}
for s, mid in con.execute("SELECT DISTINCT l.segment_id, a.mid FROM label l JOIN class_closure cc "
                          "ON cc.descendant_id = l.class_id JOIN class a ON a.id = cc.ancestor_id"):
    labels.setdefault(s, set()).add(mid)


def ap(sc, y):
    order = np.argsort(-sc, kind="stable")
    sc, y = sc[order], y[order]
    tps = np.cumsum(y)
    out, prev_r, i = 0.0, 0.0, 0
    while i < len(sc):
        j = i
        while j < len(sc) and sc[j] == sc[i]:
            j += 1
        r, p = tps[j - 1] / y.sum(), tps[j - 1] / j
        out += (r - prev_r) * p
        prev_r, i = r, j
    return out


def auc(sc, y):
    pos, neg = sc[y == 1], sc[y == 0]
    return ((pos[:, None] > neg[None, :]).sum() + 0.5 * (pos[:, None] == neg[None, :]).sum()) / (len(pos) * len(neg))


def eer(sc, y):
    th = np.unique(sc)[::-1]
    fpr = [0.0] + [((sc >= t) & (y == 0)).sum() / (y == 0).sum() for t in th]
    fnr = [1.0] + [1 - ((sc >= t) & (y == 1)).sum() / y.sum() for t in th]
    for k in range(1, len(fpr)):
        if fnr[k] <= fpr[k]:
            d = (fpr[k] - fpr[k - 1]) - (fnr[k] - fnr[k - 1])
            t = (fnr[k - 1] - fpr[k - 1]) / d if d else 0
            return fpr[k - 1] + t * (fpr[k] - fpr[k - 1])


have = [s for s in segs if s in scores]
by_mid = {c["mid"]: c for c in res["classes"]}
bad = checked = 0
for k, (idx, mid, name) in enumerate(cmap):
    y = np.array([mid in labels.get(s, ()) for s in have], dtype=int)
    if y.sum() < 1 or y.sum() == len(y):
        if mid in by_mid:
            bad += 1
            print("evaluated without positives and negatives:", mid, file=sys.stderr)
        continue
    sc = np.array([scores[s][k] for s in have], dtype=np.float32)
    c = by_mid.get(mid)
    if c is None:
        bad += 1
        print("missing class", mid, file=sys.stderr)
        continue
    want = {"ap": ap(sc, y), "auc": auc(sc, y), "eer": eer(sc, y)}
    want["dprime"] = math.sqrt(2) * __import__("statistics").NormalDist().inv_cdf(want["auc"]) if 0 < want["auc"] < 1 else None
    for key, v in want.items():
        got = c[key]
        if (v is None) != (got is None) or (v is not None and abs(v - got) > 1e-6):
            bad += 1
            print("mismatch", mid, key, v, got, file=sys.stderr)
    checked += 1
print(f"{checked} classes checked, {bad} mismatches; mAP {np.mean([by_mid[m]['ap'] for m in by_mid]):.4f}")
sys.exit(1 if bad or checked != len(res["classes"]) else 0)
