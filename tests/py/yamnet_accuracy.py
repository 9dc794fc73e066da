#!/usr/bin/python3
"""yamnet_accuracy.py - how well the stored YAMNet scores name real sounds.

  yamnet_accuracy.py select MANIFEST N          manifest (path column) of N foreground
                                                clips of each checked class, evenly
                                                spread (N = 0: all of them)
  yamnet_accuracy.py urbansound DB MANIFEST [MIN]
      For every UrbanSound8K foreground clip (salience 1) of dog_bark, siren,
      gun_shot, car_horn, jackhammer and drilling in DB: the clip's top 5
      classes (max over the patches that hold real audio) must contain the
      class's AudioSet mid, or a direct parent or child of it in the
      ontology. Prints the per-class table; exits 1 if the overall rate is
      below MIN (default 0.70).
  yamnet_accuracy.py audioset DB LABELS_CSV
      Label-ranking mAP (LRAP) of the AudioSet eval clips against their
      positive labels, clip scores = mean and max over real patches, next to
      the chance level of random scores.

Scores are read from the array store (kind 'scores', f32 [patches, 521]);
of each clip only the patches YAMNet itself would make of its real samples
(clip table n_samples: 1 + ceil((n - 15600) / 7680)) count, not those of
the zero padding up to --clip-seconds. Class map and ontology
come from $AEDCURATE_SHARED (default ../shared).
"""
import csv
import json
import os
import sqlite3
import sys

import numpy as np

CLASSES = ["dog_bark", "siren", "gun_shot", "car_horn", "jackhammer", "drilling"]
SHARED = os.environ.get("AEDCURATE_SHARED") or os.path.join(
    os.path.dirname(os.path.abspath(__file__)), "..", "..", "..", "shared")


def manifest_rows(path):
    with open(path, newline="") as f:
        return [{k: (v or "").strip() for k, v in r.items()} for r in csv.DictReader(f)]


def class_map():
    with open(os.path.join(SHARED, "models/yamnet/yamnet_class_map.csv"), newline="") as f:
        rows = list(csv.DictReader(f))
    return [r["mid"] for r in rows], [r["display_name"] for r in rows]


def relatives(mid):
    """mid, its direct parents and its direct children."""
    with open(os.path.join(SHARED, "data/audioset/ontology.json")) as f:
        onto = json.load(f)
    rel = {mid}
    for c in onto:
        if mid in c["child_ids"]:
            rel.add(c["id"])
        if c["id"] == mid:
            rel.update(c["child_ids"])
    return rel


def stored_scores(db):
    """segment path -> scores of the patches holding real audio."""
    con = sqlite3.connect("file:%s?mode=ro" % db, uri=True)
    q = ("SELECT s.path, c.n_samples, r.dim0, r.dim1, f.path, r.offset, r.nbytes "
         "FROM segment s JOIN clip c ON c.segment_id = s.id "
         "JOIN array_ref r ON r.item = s.id AND r.kind = 'scores' "
         "JOIN array_file f ON f.id = r.file_id")
    out = {}
    for path, n_samples, d0, d1, fpath, off, n in con.execute(q):
        with open(os.path.join(db + ".arrays", fpath), "rb") as f:
            f.seek(off)
            a = np.frombuffer(f.read(n), np.float32).reshape(d0, d1)
        # the patches YAMNet itself makes of n_samples (features.py pads the
        # waveform to 0.975 s, then to whole 0.48 s hops)
        real = 1 + max(0, -(-(n_samples - 15600) // 7680))
        out[os.path.realpath(path)] = a[:min(real, d0)]
    return out


def cmd_select(manifest, n):
    """N clips of each class, evenly spread over its foreground clips (so a
    subset is not a handful of source recordings)."""
    base = os.path.dirname(os.path.abspath(manifest))
    by = {c: [] for c in CLASSES}
    for r in manifest_rows(manifest):
        if r["class"] in by and r["salience"] == "1":
            by[r["class"]].append(r["file"])
    print("path")
    for c in CLASSES:
        files = by[c]
        pick = files if n == 0 or n >= len(files) else \
            [files[(i * len(files)) // n] for i in range(n)]
        for f in pick:
            print(os.path.join(base, f))


def cmd_urbansound(db, manifest, minimum):
    mids, names = class_map()
    scores = stored_scores(db)
    base = os.path.dirname(os.path.abspath(manifest))
    table = {c: [0, 0, 0] for c in CLASSES}  # clips, hit (parent/child), hit exact mid
    rel = {}
    missing = 0
    misses = {c: {} for c in CLASSES}  # top-1 class of the clips missed
    for r in manifest_rows(manifest):
        c = r["class"]
        if c not in table or r["salience"] != "1":
            continue
        s = scores.get(os.path.realpath(os.path.join(base, r["file"])))
        if s is None:
            missing += 1
            continue
        if c not in rel:
            rel[c] = relatives(r["audioset_mid"])
        top = [mids[i] for i in np.argsort(-s.max(axis=0), kind="stable")[:5]]
        t = table[c]
        t[0] += 1
        t[1] += any(m in rel[c] for m in top)
        t[2] += r["audioset_mid"] in top
        if not any(m in rel[c] for m in top):
            name = names[mids.index(top[0])]
            misses[c][name] = misses[c].get(name, 0) + 1
    print("%-11s %-10s %6s %14s %12s" % ("class", "mid", "clips", "top5 (+rel.)", "top5 exact"))
    tot = [0, 0, 0]
    for c in CLASSES:
        n, h, e = table[c]
        tot = [a + b for a, b in zip(tot, table[c])]
        mid = [r["audioset_mid"] for r in manifest_rows(manifest) if r["class"] == c][0]
        print("%-11s %-10s %6d %8d %5.1f%% %6d %5.1f%%" % (c, mid, n, h, 100.0 * h / max(n, 1),
                                                          e, 100.0 * e / max(n, 1)))
    n, h, e = tot
    rate = h / max(n, 1)
    print("%-11s %-10s %6d %8d %5.1f%% %6d %5.1f%%" % ("all", "", n, h, 100.0 * rate, e,
                                                      100.0 * e / max(n, 1)))
    for c in CLASSES:
        common = sorted(misses[c].items(), key=lambda kv: -kv[1])[:3]
        if common:
            print("# %s misses, top-1 was: %s" % (c, ", ".join("%s (%d)" % kv for kv in common)))
    if missing:
        print("# %d manifest clips of these classes have no stored scores (not in DB)" % missing)
    print("# top-5 hit rate %.3f (required >= %.2f)" % (rate, minimum))
    return 0 if n > 0 and rate >= minimum else 1


def lrap(truth, score):
    """Label-ranking average precision over clips (sklearn's definition)."""
    tot = 0.0
    for t, s in zip(truth, score):
        pos = np.flatnonzero(t)
        if len(pos) == 0:
            continue
        ap = 0.0
        for j in pos:
            rank = np.sum(s >= s[j])
            ap += np.sum(s[pos] >= s[j]) / rank
        tot += ap / len(pos)
    return tot / len(truth)


def cmd_audioset(db, labels):
    mids, names = class_map()
    index = {m: i for i, m in enumerate(mids)}
    scores = stored_scores(db)
    base = os.path.dirname(os.path.abspath(labels))
    truth, smean, smax, dropped = [], [], [], 0
    for r in manifest_rows(labels):
        s = scores.get(os.path.realpath(os.path.join(base, r["file"])))
        if s is None:
            continue
        t = np.zeros(len(mids))
        for m in r["positive_labels"].split(","):
            if m in index:
                t[index[m]] = 1
            else:
                dropped += 1
        if t.sum() == 0:
            continue
        truth.append(t)
        smean.append(s.mean(axis=0))
        smax.append(s.max(axis=0))
    rng = np.random.default_rng(0)
    chance = np.mean([lrap(truth, [rng.random(len(mids)) for _ in truth]) for _ in range(20)])
    print("clips %d (labels outside YAMNet's 521 classes dropped: %d)" % (len(truth), dropped))
    print("label-ranking mAP, clip = mean over patches: %.3f" % lrap(truth, smean))
    print("label-ranking mAP, clip = max over patches:  %.3f" % lrap(truth, smax))
    print("chance (random scores, 20 draws):            %.3f" % chance)
    return 0 if truth else 1


def main():
    a = sys.argv[1:]
    if a and a[0] == "select":
        cmd_select(a[1], int(a[2]))
        return 0
    if a and a[0] == "urbansound":
        return cmd_urbansound(a[1], a[2], float(a[3]) if len(a) > 3 else 0.70)
    if a and a[0] == "audioset":
        return cmd_audioset(a[1], a[2])
    sys.exit(__doc__)


if __name__ == "__main__":
    sys.exit(main())
