#!/usr/bin/python3
"""read_webdataset.py - an independent reader of `aedcurate export` WebDataset
shards: Python's tarfile, json and NumPy, the database through sqlite3 and the
array store read from its raw files. Checks every sample against the database:
labels, label indices, refined masks and scores, soft labels, fetch sha256,
audio length (FLAC STREAMINFO) and, through the ffmpeg CLI, the decoded FLAC
samples against the stored clip; labels annotators rejected left out and
listed as negatives; log-mel / embedding .npy against the store;
shard sizes and sha256 against index.json; no source group in two splits; the
per-class counts against --min / --max.

usage: read_webdataset.py DB OUTDIR [--min N] [--max M] [--ffmpeg N]
(--ffmpeg N: decode the FLAC of the first N real clips with ffmpeg, default 25)
Prints a summary line; exits 1 with the problems listed."""
import hashlib
import io
import json
import os
import sqlite3
import subprocess
import sys
import tarfile

import numpy as np

DTYPES = {"f32": "<f4", "i16": "<i2", "u8": "u1"}
EXPORTED = set()  # segment ids of the real clips found in the shards


def main():
    args = sys.argv[1:]
    opts = {"min": 0, "max": 0, "ffmpeg": 25}
    pos = []
    i = 0
    while i < len(args):
        if args[i] in ("--min", "--max", "--ffmpeg"):
            opts[args[i][2:]] = int(args[i + 1])
            i += 2
        else:
            pos.append(args[i])
            i += 1
    db_path, out = pos
    db = sqlite3.connect(db_path)
    arrays = db_path + ".arrays"
    problems = []

    def bad(msg):
        problems.append(msg)

    def array(kind, item):
        r = db.execute("SELECT f.path, a.offset, a.nbytes, a.dtype, a.dim0, a.dim1, a.dim2 "
                       "FROM array_ref a JOIN array_file f ON f.id = a.file_id "
                       "WHERE a.kind = ? AND a.item = ?", (kind, item)).fetchone()
        if r is None:
            return None
        with open(os.path.join(arrays, r[0]), "rb") as f:
            f.seek(r[1])
            raw = f.read(r[2])
        dims = [d for d in (r[4], r[5], r[6])]
        while len(dims) > 1 and dims[-1] == 1:
            dims.pop()
        return np.frombuffer(raw, dtype=DTYPES[r[3]]).reshape(dims)

    index = json.load(open(os.path.join(out, "index.json")))
    members_expected = index["members"]
    group_split = {}
    counts = {}
    seen_keys = set()
    n_samples = n_aug = n_refined = 0
    for split, info in index["splits"].items():
        total = 0
        sizes = []
        for sh in info["shards"]:
            path = os.path.join(out, sh["name"])
            data = open(path, "rb").read()
            if len(data) != sh["bytes"]:
                bad("%s: %d bytes, index says %d" % (sh["name"], len(data), sh["bytes"]))
            if hashlib.sha256(data).hexdigest() != sh["sha256"]:
                bad("%s: sha256 differs from index.json" % sh["name"])
            samples = {}
            order = []
            with tarfile.open(fileobj=io.BytesIO(data), mode="r:") as tf:
                for m in tf.getmembers():
                    if not m.isfile():
                        bad("%s: %s is not a regular file" % (sh["name"], m.name))
                        continue
                    if m.uid or m.gid or m.mtime != tf.getmembers()[0].mtime:
                        bad("%s: %s: uid/gid/mtime not fixed" % (sh["name"], m.name))
                    key, ext = m.name.split(".", 1)
                    if key not in samples:
                        if order and order[-1] != key and key in samples:
                            bad("%s: members of %s not together" % (sh["name"], key))
                        samples[key] = {}
                        order.append(key)
                    elif order[-1] != key:
                        bad("%s: members of %s not together" % (sh["name"], key))
                    samples[key][ext] = tf.extractfile(m).read()
            if len(samples) != sh["samples"]:
                bad("%s: %d samples, index says %d" % (sh["name"], len(samples), sh["samples"]))
            sizes.append(len(samples))
            total += len(samples)
            for key in order:
                s = samples[key]
                n_samples += 1
                if key in seen_keys:
                    bad("%s: key %s twice in the export" % (sh["name"], key))
                seen_keys.add(key)
                if "." in key:
                    bad("key %s has a dot" % key)
                optional = index.get("optional_members", [])
                if sorted(e for e in s if e not in optional) != sorted(members_expected):
                    bad("%s: members %s, index says %s" % (key, sorted(s), sorted(members_expected)))
                    continue
                j = json.loads(s["json"])
                if j["key"] != key or j["split"] != split:
                    bad("%s: json key/split %s/%s" % (key, j["key"], j["split"]))
                check_sample(db, array, key, j, s, split, opts, bad, group_split, counts)
                if j["provenance"]["augmented"]:
                    n_aug += 1
                if j["refined"]:
                    n_refined += 1
        if total != info["samples"]:
            bad("%s: %d samples, index says %d" % (split, total, info["samples"]))
        if sizes and max(sizes) - min(sizes) > 1:
            bad("%s: shard sizes %s are not equal" % (split, sizes))
    check_balance(db, counts, opts, bad)
    for p in problems[:40]:
        print("problem:", p)
    print("webdataset: %d samples (%d augmented, %d refined), %d groups, %d classes, "
          "%d FLAC decoded, %d problems" % (n_samples, n_aug, n_refined, len(group_split),
                                            len(counts), opts.get("decoded", 0), len(problems)))
    return 1 if problems else 0


def flac_total_samples(b):
    if b[:4] != b"fLaC" or len(b) < 42:
        return -1
    s = b[8:8 + 34]
    return ((s[13] & 0x0F) << 32) | (s[14] << 24) | (s[15] << 16) | (s[16] << 8) | s[17]


def check_sample(db, array, key, j, s, split, opts, bad, group_split, counts):
    prov = j["provenance"]
    group = prov["source_group"]
    if group_split.setdefault(group, split) != split:
        bad("%s: source group %s in %s and %s" % (key, group, group_split[group], split))
    n = j["audio"]["n_samples"]
    if "flac" in s:
        if flac_total_samples(s["flac"]) != n:
            bad("%s: FLAC holds %d samples, json says %d" % (key, flac_total_samples(s["flac"]), n))
    if prov["augmented"]:
        mix = prov["mix"]
        mid = mix["class"]
        if mid not in j["mids"]:
            bad("%s: mix class %s not among its mids" % (key, mid))
        for src in (mix["a"], mix["b"]):
            row = db.execute("SELECT s.id, s.source_group FROM segment s WHERE s.key = ?", (src,)).fetchone()
            if row is None:
                bad("%s: mix source %s unknown" % (key, src))
                continue
            mids = {r[0] for r in db.execute("SELECT c.mid FROM label l JOIN class c ON c.id = l.class_id "
                                              "WHERE l.segment_id = ? AND NOT EXISTS (SELECT 1 FROM "
                                              "review_decision r WHERE r.segment_id = l.segment_id AND "
                                              "r.class_id = l.class_id AND r.decision = 'not_present')",
                                              (row[0],))}
            if mid not in mids:
                bad("%s: mix source %s does not carry %s" % (key, src, mid))
            if group_split.setdefault(row[1], split) != split:
                bad("%s: mix source group %s is in split %s" % (key, row[1], group_split[row[1]]))
        for m in j["mids"]:
            counts.setdefault(m, [0, 0])[1] += 1
        return
    row = db.execute("SELECT s.id, s.ytid, s.start_ms, s.source_group, c.n_samples, m.sha256 "
                     "FROM segment s JOIN clip c ON c.segment_id = s.id "
                     "LEFT JOIN media m ON m.segment_id = s.id WHERE s.key = ?", (key,)).fetchone()
    if row is None:
        bad("%s: no such segment with a clip in the database" % key)
        return
    sid, ytid, start_ms, sgroup, n_db, sha = row
    EXPORTED.add(sid)
    if (j["ytid"], j["start_ms"], group) != (ytid, start_ms, sgroup):
        bad("%s: ytid/start/group %s differ from the database" % (key, (j["ytid"], j["start_ms"], group)))
    if n != n_db:
        bad("%s: %d samples, the clip table says %d" % (key, n, n_db))
    if prov["sha256"] != sha:
        bad("%s: fetch sha256 differs" % key)
    rejected = {m for (m,) in db.execute("SELECT c.mid FROM review_decision r JOIN class c ON c.id = r.class_id "
                                          "WHERE r.segment_id = ? AND r.decision = 'not_present'", (sid,))}
    labels = [(m, i) for m, i in db.execute("SELECT DISTINCT c.mid, c.label_index FROM label l JOIN class c "
                                            "ON c.id = l.class_id WHERE l.segment_id = ?", (sid,))
              if m not in rejected]
    if sorted(j["negatives"]) != sorted(rejected):
        bad("%s: negatives %s, review decisions %s" % (key, j["negatives"], sorted(rejected)))
    if sorted(j["mids"]) != sorted(m for m, _ in labels):
        bad("%s: mids %s, database %s" % (key, j["mids"], sorted(m for m, _ in labels)))
    if j["labels"] != sorted(i for _, i in labels if i is not None):
        bad("%s: label indices %s differ" % (key, j["labels"]))
    for m in j["mids"]:
        counts.setdefault(m, [0, 0])[0] += 1
    # no per-sample weight: pos_weight.npy carries the loss weights (it would count twice)
    if "weight" in j:
        bad("%s: a per-sample weight besides pos_weight.npy" % key)
    end = db.execute("SELECT end_ms FROM segment WHERE id = ?", (sid,)).fetchone()[0]
    want_end = end if end is not None else start_ms + (n_db * 1000 + 8000) // 16000
    if j["end_ms"] != want_end:
        bad("%s: end_ms %s, want %s" % (key, j["end_ms"], want_end))
    # refinement: the preferred mask per class, its scorer's scores
    masks = {}
    for mid, method, scorer, mask in db.execute(
            "SELECT c.mid, f.method, f.scorer, f.mask FROM frame_mask f JOIN class c ON c.id = f.class_id "
            "WHERE f.segment_id = ? ORDER BY c.mid, f.method = 'hysteresis' DESC, f.method", (sid,)):
        masks.setdefault(mid, (method, scorer, list(mask)))
    soft = {mid: t for mid, t in db.execute("SELECT c.mid, s.target FROM soft_label s JOIN class c "
                                            "ON c.id = s.class_id WHERE s.segment_id = ?", (sid,))}
    if j["refined"] != bool(masks or soft):
        bad("%s: refined is %s, database has %d masks, %d soft labels" % (key, j["refined"], len(masks), len(soft)))
    if set(j["frames"]) != set(masks):
        bad("%s: frames for %s, database %s" % (key, sorted(j["frames"]), sorted(masks)))
    for mid, (method, scorer, mask) in masks.items():
        f = j["frames"].get(mid)
        if not f:
            continue
        if f["method"] != method or [int(v) for v in f["mask"]] != [1 if v else 0 for v in mask]:
            bad("%s: %s mask differs" % (key, mid))
        sc = db.execute("SELECT scores FROM frame_score WHERE segment_id = ? AND class_id = "
                        "(SELECT id FROM class WHERE mid = ?) AND scorer = ?", (sid, mid, scorer)).fetchone()
        if sc is not None:
            want = np.frombuffer(sc[0], dtype="<f4")
            got = np.array(f["scores"], dtype=np.float64)
            if got.shape != want.shape or np.max(np.abs(got - want), initial=0) > 1e-6:
                bad("%s: %s scores differ" % (key, mid))
    for mid, t in soft.items():
        if abs(j["soft_labels"].get(mid, {}).get("target", -1) - t) > 1e-6:
            bad("%s: soft label of %s differs" % (key, mid))
    clip = array("clip", sid)
    if "flac" in s and clip is not None:
        if opts["ffmpeg"] > 0:
            opts["ffmpeg"] -= 1
            opts["decoded"] = opts.get("decoded", 0) + 1
            pcm = subprocess.run(["ffmpeg", "-v", "error", "-i", "-", "-f", "s16le", "-"],
                                 input=s["flac"], capture_output=True, check=True).stdout
            got = np.frombuffer(pcm, dtype="<i2")
            if got.shape[0] != n_db or not np.array_equal(got, clip[:n_db]):
                bad("%s: decoded FLAC differs from the stored clip" % key)
    for ext, kind in (("logmel.npy", "logmel_yamnet"), ("embedding.npy", "embedding")):
        if ext in s:
            a = np.load(io.BytesIO(s[ext]))
            want = array(kind, sid)
            if want is None or a.shape != want.shape or not np.array_equal(a, want):
                bad("%s: %s differs from the array store" % (key, ext))


def check_balance(db, counts, opts, bad):
    """Every class: real count <= max; below min only if the corpus has no more,
    or every left-out candidate of the class carries a class already at max."""
    lo, hi = opts["min"], opts["max"]
    if not hi:
        return
    cand = {}
    for sid, mid in db.execute("SELECT DISTINCT l.segment_id, c.mid FROM label l JOIN class c "
                               "ON c.id = l.class_id JOIN clip k ON k.segment_id = l.segment_id "
                               "WHERE NOT EXISTS (SELECT 1 FROM review_decision r WHERE r.segment_id = "
                               "l.segment_id AND r.class_id = l.class_id AND r.decision = 'not_present')"):
        cand.setdefault(sid, set()).add(mid)
    exported = EXPORTED
    for mid, (real, _) in counts.items():
        if real > hi:
            bad("class %s: %d clips, above max %d" % (mid, real, hi))
    for mid in {m for ms in cand.values() for m in ms}:
        real = counts.get(mid, [0, 0])[0]
        if real >= lo:
            continue
        for sid, mids in cand.items():
            if mid in mids and sid not in exported:
                if not any(counts.get(m, [0, 0])[0] >= hi for m in mids):
                    bad("class %s: %d clips, below min %d, yet segment %d was left out with no "
                        "class at max" % (mid, real, lo, sid))
                    break


if __name__ == "__main__":
    sys.exit(main())
