"""mixcorpus.py - the steps both benchmark scripts use to make a mixture set
with tests/py/mix_events.py (imported by mine_corpora.py, refine_bench.py).

  run(aed, db, *args)             aedcurate with AEDCURATE_DB=db; exits on failure
  make_set(aed, shared, w, seed, select_args, mix_args)
      chooses the source clips (mix_events.py select), decodes them with
      aedcurate and dumps each as W/wav/<id>.wav, then mixes them
      (mix_events.py mix): W/mixtures.csv, W/strong.tsv, W/truth.csv.
"""
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))


def run(aed, db, *args):
    r = subprocess.run([aed, *args], env=dict(os.environ, AEDCURATE_DB=db), stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, text=True)
    if r.returncode:
        sys.exit("aedcurate %s: %s" % (" ".join(args), r.stderr.strip()))
    return r.stdout


def make_set(aed, shared, w, seed, select_args=(), mix_args=()):
    os.makedirs(os.path.join(w, "wav"), exist_ok=True)
    mix = [sys.executable, os.path.join(HERE, "mix_events.py")]
    us8k = os.path.join(shared, "data/audio/urbansound8k")
    subprocess.run(mix + ["select", us8k, w, "--seed", str(seed), *select_args], check=True,
                   stdout=subprocess.DEVNULL)
    src = os.path.join(w, "src.db")
    run(aed, src, "ontology", "ingest", "-q", os.path.join(shared, "data/audioset/ontology.json"))
    run(aed, src, "segments", "ingest", "-q", os.path.join(w, "sources.csv"), "--format", "manifest", "--strict")
    run(aed, src, "fetch", "-q")
    run(aed, src, "decode", "-q")
    keys = subprocess.run(["sqlite3", src, "SELECT key FROM segment"], capture_output=True, text=True,
                          check=True).stdout.split()
    for k in keys:
        run(aed, src, "dump", "clip", k, "-o", os.path.join(w, "wav", k[:-2] + ".wav"), "--trim", "-q")
    subprocess.run(mix + ["mix", w, "--seed", str(seed), *mix_args], check=True, stdout=subprocess.DEVNULL)
