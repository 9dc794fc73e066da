#!/usr/bin/python3
"""mine_corpora.py - mining's default against `--method mean` on four corpora
from ../shared, with `aedcurate eval mine` (the README's cross-corpus table).

  mine_corpora.py --shared DIR --work DIR [--trials T] [--aed PATH]
                  [--variant NAME=ARGS ...]

Corpora, each its own database with its own index:
  fold1, fold2  UrbanSound8K fold 1 / fold 2 alone: 5 foreground exemplars
                (--exemplar-meta salience=1), every class with clips of at
                least 2 recordings, candidates the rest of the fold;
  eval          the 41 AudioSet eval clips (their own labels; most classes
                have 2-3 recordings: a smoke test more than a measurement);
  mix           short events in long backgrounds: tests/py/mix_events.py sets
                1-3 (seeds 1, 2, 3; 90 mixtures each: 30 gun shots, 30 dog
                barks, 30 backgrounds only), classes Gunshot and Bark.
Every run: --exemplars 5 --trials T --exclude-group --seed 7 --baseline mean,
so the default and the mean embedding rank the same draws in the same run.
A --variant NAME="--generic 0 ..." ranks the same draws again with those
mining options. Prints a Markdown table: P@10, P@50, AP of each, the worst
class by AP, the spread (population sd) over trials of the class-mean AP, and
the paired AP difference with its sd over trials. Slow part: embedding the
1,802 clips once (about 10 min on 2 cores); each eval mine takes a minute.
"""
import argparse
import json
import os
import shutil
import statistics as st
import subprocess

import mixcorpus

HERE = os.path.dirname(os.path.abspath(__file__))


def run(aed, db, *args, out=None):
    text = mixcorpus.run(aed, db, *args)
    if out:
        with open(out, "w") as f:
            f.write(text)
    return text


def sql(db, q):
    subprocess.run(["sqlite3", db, q], check=True, stdout=subprocess.DEVNULL)


def build_all(a, shared, work):
    """The UrbanSound8K and AudioSet eval clips, embedded once."""
    db = os.path.join(work, "all.db")
    if os.path.exists(db) and "1802" in subprocess.run(["sqlite3", db, "SELECT count(*) FROM embedding"],
                                                        capture_output=True, text=True).stdout:
        return db
    for p in (db, db + "-wal", db + "-shm"):
        if os.path.exists(p):
            os.remove(p)
    shutil.rmtree(db + ".arrays", ignore_errors=True)
    aus = os.path.join(shared, "data", "audioset")
    run(a, db, "ontology", "ingest", "-q", os.path.join(aus, "ontology.json"),
        "--labels", os.path.join(aus, "class_labels_indices.csv"))
    run(a, db, "segments", "ingest", "-q", os.path.join(shared, "data/audio/urbansound8k/manifest.csv"),
        "--columns", "path=file,labels=audioset_mid,group=fsID", "--split", "us8k")
    run(a, db, "segments", "ingest", "-q", os.path.join(shared, "data/audio/audioset-eval/labels.csv"),
        "--columns", "path=file,labels=positive_labels,id=ytid,start=start_seconds,end=end_seconds",
        "--split", "eval")
    for stage in (["fetch"], ["decode"], ["features"], ["embed"]):
        run(a, db, *stage, "-q")
    return db


def subset(a, src, work, name, keep_sql):
    """A copy of src holding only the segments keep_sql selects, indexed."""
    db = os.path.join(work, name + ".db")
    for p in (db, db + "-wal", db + "-shm"):
        if os.path.exists(p):
            os.remove(p)
    shutil.rmtree(db + ".index", ignore_errors=True)
    # The copy's array store is the source's (array_file paths are relative
    # to <db>.arrays): a link, not a second copy of the embeddings.
    if os.path.islink(db + ".arrays"):
        os.remove(db + ".arrays")
    shutil.rmtree(db + ".arrays", ignore_errors=True)
    os.symlink(os.path.abspath(src) + ".arrays", db + ".arrays")
    sql(src, ".backup '%s'" % db)
    sql(db, "PRAGMA foreign_keys = ON; DELETE FROM segment WHERE id NOT IN "
        "(SELECT segment_id FROM embedding) OR NOT coalesce(%s, 0); VACUUM" % keep_sql)
    run(a, db, "index", "build", "-q")
    return db


def build_mix(a, shared, work):
    db = os.path.join(work, "mix.db")
    if os.path.exists(db + ".index"):
        return db
    aus = os.path.join(shared, "data", "audioset")
    run(a, db, "ontology", "ingest", "-q", os.path.join(aus, "ontology.json"),
        "--labels", os.path.join(aus, "class_labels_indices.csv"))
    for seed in (1, 2, 3):
        w = os.path.join(work, "mix", str(seed))
        mixcorpus.make_set(a, shared, w, seed)
        # Ids unique across the three sets.
        man = os.path.join(w, "mixtures.csv")
        rows = open(man).read().splitlines()
        with open(man, "w") as f:
            f.write(rows[0] + "\n")
            for r in rows[1:]:
                path, ident, rest = r.split(",", 2)
                f.write("%s,s%d_%s,%s\n" % (path, seed, ident, rest))
        run(a, db, "segments", "ingest", "-q", man, "--split", "mix", "--strict")
    for stage in ("fetch", "decode", "features", "embed"):
        run(a, db, stage, "-q")
    run(a, db, "index", "build", "-q")
    return db


def summary(path):
    j = json.load(open(path))
    cl = j["classes"]
    nt = min(len(c["trials"]) for c in cl)
    out = {}
    for key, tkey in (("mean", "method"), ("baseline_mean", "baseline_mean")):
        worst = min(cl, key=lambda c: c[key]["ap"])
        trials = [st.mean(c["trials"][t][tkey]["ap"] for c in cl) for t in range(nt)]
        out[key] = dict(p10=st.mean(c[key]["p10"] for c in cl), p50=st.mean(c[key]["p50"] for c in cl),
                        ap=st.mean(c[key]["ap"] for c in cl), worst=(worst["name"], worst[key]["ap"]),
                        sd=st.pstdev(trials), trials=trials)
    d = [x - y for x, y in zip(out["mean"]["trials"], out["baseline_mean"]["trials"])]
    out["diff"], out["diff_sd"] = out["mean"]["ap"] - out["baseline_mean"]["ap"], st.pstdev(d)
    out["classes"], out["trials"], out["prior"] = len(cl), nt, j["prior"]
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--shared", required=True)
    ap.add_argument("--work", required=True)
    ap.add_argument("--trials", type=int, default=10)
    ap.add_argument("--aed", default=os.path.join(HERE, "..", "..", "bin", "aedcurate"))
    ap.add_argument("--variant", action="append", default=[], metavar="NAME=ARGS")
    o = ap.parse_args()
    os.makedirs(o.work, exist_ok=True)
    os.environ.setdefault("AEDCURATE_MODEL", os.path.join(o.shared, "models/yamnet/yamnet.tflite"))
    a = os.path.abspath(o.aed)
    full = build_all(a, o.shared, o.work)
    corpora = [
        ("UrbanSound8K fold 1", subset(a, full, o.work, "fold1", "json_extract(meta, '$.fold') = '1'"),
         ["--all-classes", "--exemplar-meta", "salience=1"]),
        ("UrbanSound8K fold 2", subset(a, full, o.work, "fold2", "json_extract(meta, '$.fold') = '2'"),
         ["--all-classes", "--exemplar-meta", "salience=1"]),
        ("AudioSet eval clips", subset(a, full, o.work, "eval", "coalesce(meta, '') NOT LIKE '%\"fold\"%'"),
         ["--all-classes"]),
        ("mixtures (short events in 10 s backgrounds)", build_mix(a, o.shared, o.work),
         ["--class", "Gunshot", "--class", "Bark"]),
    ]
    variants = [("default", [])] + [(v.split("=", 1)[0], v.split("=", 1)[1].split()) for v in o.variant]
    print("| corpus | classes | prior | variant | P@10 | P@50 | AP | worst class (AP) | trials' sd | "
          "`mean` P@10 | P@50 | AP | worst class (AP) | AP - mean's (paired sd) |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for name, db, args in corpora:
        for vname, vargs in variants:
            out = os.path.join(o.work, "%s.%s.json" % (os.path.basename(db)[:-3], vname))
            run(a, db, "eval", "mine", *args, "--exemplars", "5", "--trials", str(o.trials), "--seed", "7",
                "--exclude-group", "--baseline", "mean", "--json", *vargs, out=out)
            s = summary(out)
            m, b = s["mean"], s["baseline_mean"]
            print("| %s | %d | %.3f | %s | %.2f | %.2f | %.3f | %s %.3f | %.3f | %.2f | %.2f | %.3f | %s %.3f | "
                  "%+.3f (%.3f) |" % (name, s["classes"], s["prior"], vname, m["p10"], m["p50"], m["ap"],
                                      m["worst"][0], m["worst"][1], m["sd"], b["p10"], b["p50"], b["ap"],
                                      b["worst"][0], b["worst"][1], s["diff"], s["diff_sd"]), flush=True)


if __name__ == "__main__":
    main()
