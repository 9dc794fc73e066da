#!/usr/bin/python3
"""trainer_check.py - what a trainer takes from an `aedcurate export`, checked
independently of the exporter: the ontology's ancestors are walked from
ontology.json (not the database's closure), the labels come from the database's
label table, and the loss weights are recomputed from those.

For every WebDataset sample: KEY.labels.npy over classes.json's columns is the
sample's stored labels plus every ancestor of them that is a column (exactly
the stored labels with --no-ancestors); the JSON's `columns` name the same;
soft.npy / mask.npy are there exactly where soft labels / frames are, and a
refined column of mask.npy is its JSON mask. classes.json: the columns are the
classes of the exported samples in class_labels_indices order, positives per
split as counted here. pos_weight.npy = (mean prior / prior)^beta over the
train split (mean over columns with a train positive; 1 without one).
Splits: every clip ingested into IN of --keep IN=OUT is in split OUT (so in no
train shard); every split has at least min(--shards-per-split, samples)
shards; SPLIT.wids.json and index.json's brace pattern name its shards.

usage: trainer_check.py DB OUTDIR ONTOLOGY_JSON [--beta B] [--keep IN=OUT]
                        [--shards-per-split N] [--no-ancestors]
Prints a summary line; exits 1 with the problems listed."""
import io
import json
import os
import re
import sqlite3
import sys
import tarfile

import numpy as np


def ancestors_from_ontology(path):
    """mid -> set of proper ancestor mids, from each class's child_ids."""
    parents = {}
    for c in json.load(open(path)):
        for ch in c.get("child_ids", []):
            parents.setdefault(ch, set()).add(c["id"])
    memo = {}

    def up(m, seen=()):
        if m in memo:
            return memo[m]
        out = set()
        for p in parents.get(m, ()):
            if p in seen:
                continue
            out.add(p)
            out |= up(p, seen + (m,))
        memo[m] = out
        return out

    return up


def expand_braces(p):
    m = re.search(r"\{(\d+)\.\.(\d+)\}", p)
    if not m:
        return [p]
    a, b, w = int(m.group(1)), int(m.group(2)), len(m.group(1))
    return [p[:m.start()] + str(i).zfill(w) + p[m.end():] for i in range(a, b + 1)]


def main():
    args = sys.argv[1:]
    opts = {"beta": None, "keep": [], "spp": 2, "no_anc": False}
    pos = []
    i = 0
    while i < len(args):
        a = args[i]
        if a == "--beta":
            opts["beta"] = float(args[i + 1]); i += 2
        elif a == "--keep":
            opts["keep"].append(tuple(args[i + 1].split("="))); i += 2
        elif a == "--shards-per-split":
            opts["spp"] = int(args[i + 1]); i += 2
        elif a == "--no-ancestors":
            opts["no_anc"] = True; i += 1
        else:
            pos.append(a); i += 1
    db_path, out, onto = pos
    db = sqlite3.connect(db_path)
    up = ancestors_from_ontology(onto)
    problems = []
    bad = problems.append
    if opts["beta"] is None:
        r = db.execute("SELECT beta FROM class_prior ORDER BY run_id DESC LIMIT 1").fetchone()
        opts["beta"] = r[0] if r else 1.0

    def stored(key):
        return {m for (m,) in db.execute(
            "SELECT DISTINCT c.mid FROM label l JOIN class c ON c.id = l.class_id JOIN segment s ON "
            "s.id = l.segment_id WHERE s.key = ? AND NOT EXISTS (SELECT 1 FROM review_decision r WHERE "
            "r.segment_id = l.segment_id AND r.class_id = l.class_id AND r.decision = 'not_present')", (key,))}

    index = json.load(open(os.path.join(out, "index.json")))
    classes = json.load(open(os.path.join(out, "classes.json")))
    cols = [c["mid"] for c in classes["columns"]]
    col = {m: k for k, m in enumerate(cols)}
    pw = np.load(os.path.join(out, "pos_weight.npy"))
    if pw.dtype != np.float32 or pw.shape != (len(cols),):
        bad("pos_weight.npy: %s %s, want float32 [%d]" % (pw.dtype, pw.shape, len(cols)))

    samples = {}  # split -> list of (key, stored mids)
    carried = set()
    n_kept = 0
    for split, info in index["splits"].items():
        names = [s["name"] for s in info["shards"]]
        want_n = min(opts["spp"], info["samples"])
        if len(names) < want_n:
            bad("%s: %d shards for %d samples, want at least %d" % (split, len(names), info["samples"], want_n))
        if names and expand_braces(info["pattern"]) != names:
            bad("%s: pattern %s does not name its shards %s" % (split, info["pattern"], names))
        w = json.load(open(os.path.join(out, info["wids"])))
        if w.get("wids_version") != 1 or [(s["url"], s["nsamples"]) for s in w["shardlist"]] != \
                [(s["name"], s["samples"]) for s in info["shards"]]:
            bad("%s: %s differs from index.json" % (split, info["wids"]))
        for sh in info["shards"]:
            with tarfile.open(os.path.join(out, sh["name"])) as tf:
                mem = {}
                for m in tf.getmembers():
                    k, ext = m.name.split(".", 1)
                    mem.setdefault(k, {})[ext] = tf.extractfile(m).read()
            for key, s in mem.items():
                j = json.loads(s["json"])
                if j["provenance"]["augmented"]:
                    mids = stored(j["provenance"]["mix"]["a"]) | stored(j["provenance"]["mix"]["b"])
                else:
                    mids = stored(key)
                    ing = {n for (n,) in db.execute(
                        "SELECT p.name FROM segment_split ss JOIN split p ON p.id = ss.split_id JOIN "
                        "segment g ON g.id = ss.segment_id WHERE g.key = ?", (key,))}
                    if sorted(ing) != j["ingest_splits"]:
                        bad("%s: ingest_splits %s, database %s" % (key, j["ingest_splits"], sorted(ing)))
                    for a, b in opts["keep"]:
                        if a in ing:
                            n_kept += 1
                            if split != b:
                                bad("%s: ingested into %s, exported to %s (want %s)" % (key, a, split, b))
                carried |= mids
                samples.setdefault(split, []).append((key, mids))
                if sorted(j["mids"]) != sorted(mids):
                    bad("%s: JSON mids %s, database %s" % (key, j["mids"], sorted(mids)))
                if "labels.npy" not in s:
                    bad("%s: no labels.npy" % key)
                    continue
                y = np.load(io.BytesIO(s["labels.npy"]))
                want = set(mids)
                if not opts["no_anc"]:
                    for m in mids:
                        want |= {a for a in up(m) if a in col}
                got = {cols[k] for k in np.flatnonzero(y)} if y.shape == (len(cols),) else None
                if y.dtype != np.float32 or got != want or not set(np.unique(y)) <= {0.0, 1.0}:
                    bad("%s: labels.npy sets %s, want %s" % (key, sorted(got or []), sorted(want)))
                if j["columns"] != [k for k in range(len(cols)) if cols[k] in want]:
                    bad("%s: JSON columns %s differ from labels.npy" % (key, j["columns"]))
                if ("soft.npy" in s) != bool(j["soft_labels"]):
                    bad("%s: soft.npy present %s, soft labels %s" % (key, "soft.npy" in s, j["soft_labels"]))
                if "soft.npy" in s:
                    sy = np.load(io.BytesIO(s["soft.npy"]))
                    for m, v in j["soft_labels"].items():
                        if m in col and abs(sy[col[m]] - v["target"]) > 1e-6:
                            bad("%s: soft.npy %s is %g, JSON %g" % (key, m, sy[col[m]], v["target"]))
                if ("mask.npy" in s) != bool(j["frames"]):
                    bad("%s: mask.npy present %s, frames %s" % (key, "mask.npy" in s, sorted(j["frames"])))
                if "mask.npy" in s:
                    mk = np.load(io.BytesIO(s["mask.npy"]))
                    for m, f in j["frames"].items():
                        if m in col and list(mk[:len(f["mask"]), col[m]]) != [int(v) for v in f["mask"]]:
                            bad("%s: mask.npy column %s differs from the JSON mask" % (key, m))
    # the columns: every class carried, in class_labels_indices order
    idx = dict(db.execute("SELECT mid, label_index FROM class"))
    want_cols = sorted(carried, key=lambda m: (idx.get(m) is None, idx.get(m) or 0, m))
    if cols != want_cols:
        bad("classes.json columns %s..., want %s..." % (cols[:5], want_cols[:5]))
    # positives per split and pos_weight, from the targets computed here
    train = classes["train_split"]
    pos = {sp: np.zeros(len(cols)) for sp in samples}
    for sp, lst in samples.items():
        for key, mids in lst:
            want = set(mids)
            if not opts["no_anc"]:
                for m in mids:
                    want |= {a for a in up(m) if a in col}
            for m in want:
                pos[sp][col[m]] += 1
    for k, c in enumerate(classes["columns"]):
        for sp in samples:
            if c["positives"].get(sp) != pos[sp][k]:
                bad("column %d %s: %s positives %s, counted %d" % (k, c["mid"], sp, c["positives"].get(sp), pos[sp][k]))
    n_train = len(samples.get(train, []))
    prior = pos[train] / n_train if n_train else np.zeros(len(cols))
    m = prior[prior > 0].mean() if (prior > 0).any() else 0.0
    want_w = np.where(prior > 0, (m / np.where(prior > 0, prior, 1)) ** opts["beta"], 1.0)
    if pw.shape == want_w.shape and not np.allclose(pw, want_w, rtol=1e-5, atol=0):
        k = int(np.argmax(np.abs(pw - want_w)))
        bad("pos_weight.npy column %d (%s): %g, recomputed %g" % (k, cols[k], pw[k], want_w[k]))
    for p in problems[:40]:
        print("problem:", p)
    n_anc = sum(1 for lst in samples.values() for _, mids in lst
                if any(a in col for mm in mids for a in up(mm)))
    print("trainer: %d samples, %d columns, %d samples with an ancestor column set, %d clips kept "
          "by their ingest split, shards per split %s, %d problems"
          % (sum(len(v) for v in samples.values()), len(cols), n_anc, n_kept,
             {sp: len(i["shards"]) for sp, i in index["splits"].items()}, len(problems)))
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
