#!/usr/bin/python3
"""gen_segments.py - write an AudioSet-format segment list of N rows (default
2,000,000, the size of unbalanced_train_segments.csv) with real mids drawn from
class_labels_indices.csv: 3 comment lines, then
`YTID, start_seconds, end_seconds, "mid,mid"` with 1-6 labels per row
(about 2.5 on average, like the real list), sorted by YTID in byte order as
the real lists are. Deterministic for a given --seed.

usage: gen_segments.py CLASS_LABELS_CSV OUT [--rows N] [--seed S]
"""
import argparse
import csv
import random
import sys

ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("labels")
    ap.add_argument("out")
    ap.add_argument("--rows", type=int, default=2000000)
    ap.add_argument("--seed", type=int, default=1)
    a = ap.parse_args()
    with open(a.labels, newline="") as f:
        mids = [r["mid"] for r in csv.DictReader(f)]
    if not mids:
        sys.exit("gen_segments.py: no mids in " + a.labels)
    rng = random.Random(a.seed)
    # Label counts 1..6 with a mean near the real list's 2.5.
    counts = [1] * 30 + [2] * 25 + [3] * 20 + [4] * 13 + [5] * 8 + [6] * 4
    ids = set()
    while len(ids) < a.rows:
        ids.add("".join(rng.choice(ALPHABET) for _ in range(11)))
    n_labels = 0
    with open(a.out, "w", newline="") as out:
        out.write("# Segments csv created by gen_segments.py (synthetic)\n")
        out.write("# num_ytids=%d, num_segs=%d\n" % (a.rows, a.rows))
        out.write("# YTID, start_seconds, end_seconds, positive_labels\n")
        lines = []
        for ytid in sorted(ids):
            start = rng.randrange(0, 600) * 10
            labels = rng.sample(mids, rng.choice(counts))
            n_labels += len(labels)
            lines.append('%s, %d.000, %d.000, "%s"\n' % (ytid, start, start + 10, ",".join(labels)))
            if len(lines) >= 65536:
                out.writelines(lines)
                lines = []
        out.writelines(lines)
    print("%d rows, %d labels" % (a.rows, n_labels), file=sys.stderr)


if __name__ == "__main__":
    main()
