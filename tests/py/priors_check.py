#!/usr/bin/python3
"""priors_check.py ONTOLOGY.json SEGMENTS.csv PRIORS.csv BETA - recompute every
class prior and weight of `aedcurate priors` independently (ontology closure by
depth-first search, AudioSet CSV parsed with the csv module) and compare."""
import csv
import sys

onto_path, seg_path, priors_path, beta = sys.argv[1], sys.argv[2], sys.argv[3], float(sys.argv[4])
import json
onto = json.load(open(onto_path))
children = {c["id"]: c.get("child_ids", []) for c in onto}

ancestors = {}
def anc(mid):
    # every class whose subtree holds mid (itself included)
    if mid in ancestors:
        return ancestors[mid]
    out = {mid}
    for p, ch in children.items():
        if mid in ch:
            out |= anc(p)
    ancestors[mid] = out
    return out

pos = {}
total = 0
with open(seg_path) as f:
    for row in csv.reader((l for l in f if not l.startswith("#")), skipinitialspace=True):
        if not row or row[0] == "YTID":
            continue
        mids = set(row[3].split(","))
        if not mids:
            continue
        total += 1
        carried = set()
        for m in mids:
            carried |= anc(m)
        for m in carried:
            pos[m] = pos.get(m, 0) + 1

priors = {m: n / total for m, n in pos.items()}
mean = sum(priors.values()) / len(priors)
bad = 0
rows = 0
with open(priors_path) as f:
    for r in csv.DictReader(f):
        rows += 1
        m = r["mid"]
        p = priors.get(m, 0.0)
        w = (mean / p) ** beta if p > 0 else 0.0
        if int(r["n_total"]) != total or int(r["n_pos"]) != pos.get(m, 0) \
                or abs(float(r["prior"]) - p) > 1e-8 * max(1, p) \
                or abs(float(r["weight"]) - w) > 1e-6 * max(1, w):
            bad += 1
            if bad < 5:
                print("mismatch", m, r, p, w, file=sys.stderr)
missing = [m for m in priors if m not in {r["mid"] for r in csv.DictReader(open(priors_path))}]
print(f"{rows} rows checked, {bad} mismatches, {len(missing)} classes missing, "
      f"{total} segments, mean prior {mean:.6g}")
sys.exit(1 if bad or missing else 0)
