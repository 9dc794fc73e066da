#!/usr/bin/python3
"""torch_probe.py - a trainer's view of an `aedcurate export` (WebDataset with
payload embedding), in plain PyTorch (Debian's python3-torch) and the standard
library: no webdataset package. The README's trainer example is this file.

  ShardDataset   a torch IterableDataset over one split's shards, read from
                 SPLIT.wids.json; DataLoader workers take every n-th shard
                 (get_worker_info), read members with tarfile and yield
                 (mean-pooled embedding, labels.npy target, worker id)
  probe          a linear layer on the embeddings, BCEWithLogitsLoss with
                 pos_weight.npy, a few epochs over the train split through a
                 DataLoader with --workers workers; prints the test mAP over
                 the columns with a train and a test positive

usage: torch_probe.py OUTDIR [--workers 2] [--epochs 4]
       torch_probe.py OUTDIR --bench [--workers 2]   (loader throughput)
Exits 1 when a worker got no shard, the loss did not fall or the test mAP is
not above the test split's positive rate (what random scores get)."""
import io
import json
import os
import sys
import tarfile
import time

import numpy as np
import torch
from torch.utils.data import DataLoader, IterableDataset, get_worker_info


class ShardDataset(IterableDataset):
    """One split of an export. Each sample: a dict of the members asked for
    (raw bytes, or arrays for .npy members) with the key under "__key__"."""

    def __init__(self, out, split, members=("labels.npy", "embedding.npy")):
        super().__init__()
        w = json.load(open(os.path.join(out, "%s.wids.json" % split)))
        self.shards = [os.path.join(out, s["url"]) for s in w["shardlist"]]
        self.members = set(members)

    def __iter__(self):
        info = get_worker_info()
        wid, nw = (info.id, info.num_workers) if info else (0, 1)
        for path in self.shards[wid::nw]:
            # a seekable open: members not asked for are skipped, not read
            with tarfile.open(path, "r:") as tf:
                cur, sample = None, {}
                for m in tf:
                    key, ext = m.name.split(".", 1)
                    if key != cur:
                        if sample:
                            yield sample
                        cur, sample = key, {"__key__": key, "__worker__": wid}
                    if ext in self.members:
                        b = tf.extractfile(m).read()
                        sample[ext] = np.load(io.BytesIO(b)) if ext.endswith(".npy") else b
                if sample:
                    yield sample


class ProbeSet(ShardDataset):
    """(embedding mean over patches, target, worker id) for a linear probe."""

    def __iter__(self):
        for s in super().__iter__():
            x = torch.from_numpy(s["embedding.npy"].mean(axis=0).astype(np.float32))
            yield x, torch.from_numpy(s["labels.npy"]), s["__worker__"]


def average_precision(y, s):
    """AP of scores s for binary targets y (the mean precision at each positive)."""
    order = np.argsort(-s, kind="stable")
    y = y[order]
    hits = np.cumsum(y)
    return float((hits[y > 0] / (np.flatnonzero(y > 0) + 1)).mean()) if y.sum() else float("nan")


def probe(out, workers, epochs):
    torch.manual_seed(0)
    classes = json.load(open(os.path.join(out, "classes.json")))
    n_cols = classes["n_columns"]
    pos_weight = torch.from_numpy(np.load(os.path.join(out, "pos_weight.npy")))
    model = torch.nn.Linear(1024, n_cols)
    loss_fn = torch.nn.BCEWithLogitsLoss(pos_weight=pos_weight)
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    train = DataLoader(ProbeSet(out, classes["train_split"]), batch_size=64, num_workers=workers)
    problems = []
    losses = []
    for ep in range(epochs):
        seen, total, n = set(), 0.0, 0
        for x, y, w in train:
            opt.zero_grad()
            loss = loss_fn(model(x), y)
            loss.backward()
            opt.step()
            total += float(loss) * len(y)
            n += len(y)
            seen |= set(w.tolist())
        losses.append(total / max(n, 1))
        print("epoch %d: %d train samples, loss %.4f, workers with data %s" % (ep + 1, n, losses[-1], sorted(seen)))
        if len(seen) != workers:
            problems.append("epoch %d: only workers %s of %d got train shards" % (ep + 1, sorted(seen), workers))
    if len(losses) > 1 and not losses[-1] < losses[0]:
        problems.append("the loss did not fall: %s" % losses)
    ys, ss, seen = [], [], set()
    with torch.no_grad():
        for x, y, w in DataLoader(ProbeSet(out, "test"), batch_size=64, num_workers=workers):
            ys.append(y.numpy())
            ss.append(torch.sigmoid(model(x)).numpy())
            seen |= set(w.tolist())
    if len(seen) != workers:
        problems.append("test: only workers %s of %d got shards" % (sorted(seen), workers))
    y, s = np.concatenate(ys), np.concatenate(ss)
    train_pos = np.array([c["positives"][classes["train_split"]] for c in classes["columns"]])
    cols = [k for k in range(n_cols) if y[:, k].sum() > 0 and train_pos[k] > 0]
    aps = [average_precision(y[:, k], s[:, k]) for k in cols]
    chance = float(np.mean([y[:, k].mean() for k in cols])) if cols else 0.0
    m = float(np.mean(aps)) if aps else float("nan")
    print("test mAP %.3f over %d classes with a train and a test positive (%d test samples; "
          "random scores: %.3f)" % (m, len(cols), len(y), chance))
    if not cols or not m > chance:
        problems.append("test mAP %.3f is not above chance %.3f" % (m, chance))
    for p in problems:
        print("problem:", p)
    return 1 if problems else 0


def bench(out, workers):
    """samples/s of the torch loader (audio and embedding payloads; first pass
    with worker start-up, then a second pass) and of a plain tarfile pass
    reading every member of the same shards."""
    classes = json.load(open(os.path.join(out, "classes.json")))
    split = classes["train_split"]
    ds = ShardDataset(out, split, members=("flac", "json", "labels.npy", "embedding.npy"))
    # persistent workers: the second pass is the steady state of a training run
    dl = DataLoader(ds, batch_size=None, num_workers=workers, persistent_workers=workers > 0,
                    collate_fn=lambda s: {"__key__": [s["__key__"]]})
    t = time.monotonic()
    n = sum(len(b["__key__"]) for b in dl)
    t_first = time.monotonic() - t
    t = time.monotonic()
    n = sum(len(b["__key__"]) for b in dl)
    t_torch = time.monotonic() - t
    t = time.monotonic()
    n_plain, nbytes = 0, 0
    for path in ds.shards:
        with tarfile.open(path, "r:") as tf:
            for m in tf:
                nbytes += len(tf.extractfile(m).read())
                n_plain += m.name.endswith(".json")
    t_plain = time.monotonic() - t
    print("%d %d %.4f %.4f %d %.4f" % (n, n_plain, t_torch, t_plain, nbytes, t_first))
    return 0 if n == n_plain else 1


def main():
    args = sys.argv[1:]
    out = args[0]
    workers = int(args[args.index("--workers") + 1]) if "--workers" in args else 2
    epochs = int(args[args.index("--epochs") + 1]) if "--epochs" in args else 4
    torch.set_num_threads(2)
    if "--bench" in args:
        return bench(out, workers)
    return probe(out, workers, epochs)


if __name__ == "__main__":
    sys.exit(main())
