#!/usr/bin/python3
"""mine_eval.py - precision of `aedcurate mine` on a labelled corpus.

For each class of the corpus (UrbanSound8K: segment.meta "class", with its
AudioSet mid as the clip's label): take N exemplars from the class's
foreground clips (meta salience 1, each from a different source recording),
mine with them alone (--no-class-exemplars), leaving out every clip cut from
the same source recording as an exemplar (--exclude-group), and measure
precision@10 and @50 of the queue against the class prior among the clips
that could be candidates. Labels are read here only, to score the queue.

  mine_eval.py --db us8k.db [--aed bin/aedcurate] [--trials 3] [--exemplars 5]
               [--variants z,raw,mean] [--classes dog_bark,siren] [--json out.json]
               [--build SHARED]

--build SHARED first makes the database from scratch: the ontology and the
UrbanSound8K manifest of SHARED (../shared), fetch, decode (4 s clips),
features, embed (YAMNet from SHARED/models/yamnet), index build.

Prints one markdown table (per class and the mean) and exits non-zero if the
checks fail: the default method far above the prior for every class
(P@10 >= 2 x prior + 0.1), and ahead of --method mean on average.
"""
import argparse
import json
import random
import sqlite3
import subprocess
import sys

VARIANTS = {
    # name: extra mine options
    "z": [],                                   # the default: exemplar, score z
    "raw": ["--score", "raw"],                 # exemplar, mean raw cosine
    "z-nogeneric": ["--generic", "0"],         # no generic-frame drop
    "z-noshare": ["--no-share"],               # no per-frame shared test
    "z-all": ["--min-exemplars", "1", "--generic", "0", "--no-share"],  # every frame a query
    "z-k8": ["--clusters", "8"],               # one cluster per exemplar frame count
    "z-k8-nogeneric": ["--clusters", "8", "--generic", "0"],
    "mean": ["--method", "mean"],              # the baseline
}


def build(aed, db, shared):
    """The evaluation corpus, made with the tool itself."""
    steps = [
        ["init"],
        ["ontology", "ingest", shared + "/data/audioset/ontology.json"],
        ["segments", "ingest", shared + "/data/audio/urbansound8k/manifest.csv", "--split", "us8k",
         "--columns", "path=file,labels=audioset_mid,group=fsID"],
        ["fetch"], ["decode", "--clip-seconds", "4"], ["features"],
        ["embed", "--model", shared + "/models/yamnet/yamnet.tflite"],
        ["index", "build"],
    ]
    for st in steps:
        r = subprocess.run([aed, "--db", db, "--quiet"] + st, capture_output=True, text=True)
        if r.returncode != 0:
            sys.exit("build: %s failed:\n%s" % (" ".join(st), r.stderr))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--db", required=True)
    ap.add_argument("--aed", default="bin/aedcurate")
    ap.add_argument("--trials", type=int, default=3)
    ap.add_argument("--exemplars", type=int, default=5)
    ap.add_argument("--variants", default="z,raw,mean")
    ap.add_argument("--classes", default="")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--json", default="")
    ap.add_argument("--build", default="", metavar="SHARED")
    ap.add_argument("--no-check", action="store_true")
    ap.add_argument("--check", default="all", choices=["all", "prior"],
                    help="prior: only the far-above-the-prior check (small corpora)")
    a = ap.parse_args()
    variants = [v for v in a.variants.split(",") if v]
    for v in variants:
        if v not in VARIANTS:
            sys.exit("unknown variant %s (have %s)" % (v, ", ".join(VARIANTS)))

    if a.build:
        build(a.aed, a.db, a.build)
    db = sqlite3.connect(a.db)
    rows = db.execute(
        "SELECT s.id, s.key, s.source_group, s.meta FROM segment s JOIN vec_segment v "
        "ON v.segment_id = s.id WHERE v.index_id = (SELECT max(id) FROM vec_index) "
        "ORDER BY s.id").fetchall()
    seg = []
    for sid, key, group, meta in rows:
        m = json.loads(meta or "{}")
        if "class" not in m:
            continue
        seg.append({"id": sid, "key": key, "group": group, "class": m["class"],
                    "salience": m.get("salience", "")})
    mids = dict(db.execute(
        "SELECT json_extract(s.meta, '$.class'), c.mid FROM segment s JOIN label l ON "
        "l.segment_id = s.id JOIN class c ON c.id = l.class_id GROUP BY 1").fetchall())
    classes = sorted({s["class"] for s in seg})
    if a.classes:
        classes = [c for c in classes if c in a.classes.split(",")]
    by_id = {s["id"]: s for s in seg}

    rng = random.Random(a.seed)
    results = {}
    for cls in classes:
        fg = [s for s in seg if s["class"] == cls and s["salience"] == "1"]
        groups = {}
        for s in fg:
            groups.setdefault(s["group"], []).append(s)
        gkeys = sorted(groups)
        res = {v: {"p10": [], "p50": []} for v in variants}
        res["prior"] = []
        for t in range(a.trials):
            chosen = rng.sample(gkeys, min(a.exemplars, len(gkeys)))
            ex = [rng.choice(groups[g]) for g in chosen]
            ex_groups = {s["group"] for s in ex}
            pool = [s for s in seg if s["group"] not in ex_groups]
            prior = sum(s["class"] == cls for s in pool) / len(pool)
            res["prior"].append(prior)
            for v in variants:
                cmd = [a.aed, "--db", a.db, "--json", "--quiet", "mine", "--class", mids[cls],
                       "--no-class-exemplars", "--no-ranker", "--exclude-group", "--k", "50"] + VARIANTS[v]
                for s in ex:
                    cmd += ["--exemplar", s["key"]]
                out = subprocess.run(cmd, capture_output=True, text=True)
                if out.returncode != 0:
                    sys.exit("mine failed: %s\n%s" % (" ".join(cmd), out.stderr))
                cands = json.loads(out.stdout)["candidates"]
                for c in cands:
                    assert by_id[c["segment_id"]]["group"] not in ex_groups, "excluded group leaked"
                hits = [by_id[c["segment_id"]]["class"] == cls for c in cands]
                res[v]["p10"].append(sum(hits[:10]) / 10.0)
                res[v]["p50"].append(sum(hits[:50]) / 50.0)
        results[cls] = res

    def mean(x):
        return sum(x) / len(x) if x else 0.0

    head = "| class | prior |" + "".join(" %s P@10 | %s P@50 |" % (v, v) for v in variants)
    print(head)
    print("|" + "---|" * (2 + 2 * len(variants)))
    tot = {v: {"p10": [], "p50": []} for v in variants}
    priors = []
    for cls in classes:
        r = results[cls]
        line = "| %s | %.3f |" % (cls, mean(r["prior"]))
        priors.append(mean(r["prior"]))
        for v in variants:
            p10, p50 = mean(r[v]["p10"]), mean(r[v]["p50"])
            tot[v]["p10"].append(p10)
            tot[v]["p50"].append(p50)
            line += " %.2f | %.2f |" % (p10, p50)
        print(line)
    line = "| **mean** | %.3f |" % mean(priors)
    for v in variants:
        line += " **%.2f** | **%.2f** |" % (mean(tot[v]["p10"]), mean(tot[v]["p50"]))
    print(line)
    print("\n%d classes, %d trials of %d exemplars each (seed %d); candidates exclude the "
          "exemplars' source recordings (fsID)." % (len(classes), a.trials, a.exemplars, a.seed))
    if a.json:
        with open(a.json, "w") as f:
            json.dump(results, f, indent=1)

    if a.no_check:
        return 0
    bad = []
    main_v = variants[0]
    for cls in classes:
        p10 = mean(results[cls][main_v]["p10"])
        prior = mean(results[cls]["prior"])
        if p10 < 2 * prior + 0.1:
            bad.append("%s: %s P@10 %.2f is not far above the prior %.3f" % (cls, main_v, p10, prior))
    if a.check == "all" and "mean" in variants and main_v != "mean":
        m_ex = mean(tot[main_v]["p10"]) + mean(tot[main_v]["p50"])
        m_mean = mean(tot["mean"]["p10"]) + mean(tot["mean"]["p50"])
        if m_ex < m_mean:
            bad.append("%s is not ahead of --method mean on average (P@10+P@50 %.3f vs %.3f)"
                       % (main_v, m_ex, m_mean))
    for b in bad:
        print("CHECK FAILED: " + b)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
