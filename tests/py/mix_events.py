#!/usr/bin/python3
"""mix_events.py - a refinement test set from real recordings: real foreground
events (UrbanSound8K gun_shot, dog_bark) placed at known times into 10 s real
backgrounds (UrbanSound8K air_conditioner, engine_idling, street_music clips
joined end to end), labelled weakly, with the true event times kept.

  mix_events.py select US8K_DIR OUT_DIR [--seed S] [--per-class N] [--fg C,C...]
                [--audioset EVAL_DIR]
      writes OUT_DIR/sources.csv, a manifest (path,id) of the chosen clips;
      decode them with aedcurate and dump each as OUT_DIR/wav/<id>.wav.
      --audioset adds the AudioSet eval clips of EVAL_DIR (its labels.csv)
      that carry none of the seven short-event classes (FG_ALL) or their
      descendants in the ontology (EVAL_DIR/../../audioset/ontology.json) as
      backgrounds.
  mix_events.py mix OUT_DIR [--seed S] [--gun N] [--dog N] [--neg N]
                [--fg C,C... --pos N] [--snr LO,HI] [--max-event S]
      reads OUT_DIR/wav/*.wav (16 kHz mono 16-bit), writes OUT_DIR/mix/*.wav,
      OUT_DIR/mixtures.csv (manifest: path,id,labels; weak labels),
      OUT_DIR/strong.tsv (the strong-label release's format: segment_id
      "<id>_0", start, end, mid) and OUT_DIR/truth.csv (id,mid,start,end).

Event extent: a foreground clip is cut to where its 20 ms RMS envelope is
within 25 dB of its peak (first to last such frame), and scaled to 3..12 dB
above the background's RMS over the span it covers. The true intervals are
where the placed event is audible: the 20 ms frames in which the scaled
event's envelope is within 25 dB of its peak and at least as loud as the
background's (local SNR >= 0 dB), runs closer than 0.3 s merged (a clip with
three barks gives up to three intervals). Events in one mixture are at least
0.5 s apart. Everything is drawn from one seeded RNG,
so the set is the same on every machine.

--fg picks the foreground classes among UrbanSound8K's short-event ones
(FG_ALL; default gun_shot,dog_bark), --pos N mixtures of each (then --gun and
--dog are not read), --snr the range of event-to-background levels in dB
(default 3,12) and --max-event the longest event in seconds (default 3.0):
the refinement benchmark (tests/py/refine_bench.py) mixes all seven classes
into one corpus at 0-12 dB with events up to 4 s.

With AudioSet backgrounds (select --audioset), a mixture's background is one
of the three UrbanSound8K classes or an AudioSet eval clip, with equal odds
(the clip's first 10 s, looped if shorter, at the same -30 dBFS); the mixture
then carries that clip's own weak labels. Without it, the sets are
byte-identical to those made before the option existed.
"""
import csv
import json
import os
import sys
import wave

import numpy as np

RATE = 16000
CLIP_S = 10.0
BG_CLASSES = {"air_conditioner": "/m/025wky1", "engine_idling": "/m/07pb8fc",
              "street_music": "/m/04rlf"}
FG_ALL = {"gun_shot": "/m/032s66", "dog_bark": "/m/05tny_", "car_horn": "/m/0912c9",
          "siren": "/m/03kmc9", "children_playing": "/t/dd00013", "drilling": "/m/01d380",
          "jackhammer": "/m/03p19w"}
FG_CLASSES = {c: FG_ALL[c] for c in (sys.argv[sys.argv.index("--fg") + 1].split(",")
                                      if "--fg" in sys.argv else ["gun_shot", "dog_bark"])}


def arg(name, default):
    if name in sys.argv:
        return type(default)(sys.argv[sys.argv.index(name) + 1])
    return default


def select(us8k, out):
    rng = np.random.default_rng(arg("--seed", 1))
    per = arg("--per-class", 24)
    rows = list(csv.DictReader(open(os.path.join(us8k, "manifest.csv"))))
    chosen = []
    for cls in list(BG_CLASSES) + list(FG_CLASSES):
        # foreground events: salience 1 only (the sound is in front)
        cand = [r for r in rows if r["class"] == cls and (cls in BG_CLASSES or r["salience"] == "1")]
        cand.sort(key=lambda r: r["file"])
        n = per * (2 if cls in FG_CLASSES else 1)
        idx = rng.permutation(len(cand))[:n]
        chosen += [(cls, cand[i]) for i in sorted(idx)]
    os.makedirs(out, exist_ok=True)
    with open(os.path.join(out, "sources.csv"), "w", newline="") as f:
        w = csv.writer(f)
        extra = audioset_backgrounds()
        w.writerow(["path", "id", "us8k_class"] + (["labels"] if extra else []))
        for cls, r in chosen:
            stem = os.path.splitext(os.path.basename(r["file"]))[0]
            w.writerow([os.path.abspath(os.path.join(us8k, r["file"])), "src-" + stem, cls] + ([""] if extra else []))
        for path, stem, mids in extra:
            w.writerow([path, "src-as-" + stem, AUDIOSET, ";".join(mids)])
            chosen.append((AUDIOSET, None))
    print(f"{len(chosen)} source clips")


AUDIOSET = "audioset"  # the background "class" of AudioSet eval clips


def audioset_backgrounds():
    """[(path, stem, mids)] of the --audioset clips that carry none of the
    seven short-event classes (FG_ALL, whatever --fg picks) nor any of their
    descendants, sorted by file name. Ancestors are not excluded: a clip
    labelled Vehicle or Domestic animals stays, as in a real corpus."""
    if "--audioset" not in sys.argv:
        return []
    d = sys.argv[sys.argv.index("--audioset") + 1]
    ont = {c["id"]: c for c in json.load(open(os.path.join(d, "..", "..", "audioset", "ontology.json")))}

    def below(mid):
        out = {mid}
        for ch in ont[mid].get("child_ids", []):
            out |= below(ch)
        return out

    banned = set().union(*(below(m) for m in FG_ALL.values()))
    out = []
    for r in sorted(csv.DictReader(open(os.path.join(d, "labels.csv"))), key=lambda r: r["file"]):
        mids = r["positive_labels"].split(",")
        if not banned & set(mids):
            out.append((os.path.abspath(os.path.join(d, r["file"])), os.path.splitext(r["file"])[0], mids))
    return out


def read_wav(path):
    with wave.open(path) as w:
        assert w.getframerate() == RATE and w.getnchannels() == 1 and w.getsampwidth() == 2, path
        return np.frombuffer(w.readframes(w.getnframes()), "<i2").astype(np.float64) / 32768.0


def write_wav(path, x):
    pcm = np.clip(np.round(x * 32768.0), -32768, 32767).astype("<i2")
    with wave.open(path, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(RATE)
        w.writeframes(pcm.tobytes())


def envelope_db(x, hop=320):
    n = len(x) // hop
    if n == 0:
        return np.array([-120.0])
    e = np.sqrt(np.mean(x[: n * hop].reshape(n, hop) ** 2, axis=1))
    return 20 * np.log10(np.maximum(e, 1e-6))


HOP = 320  # 20 ms envelope frames


def event_extent(x):
    """The event cut to where it is within 25 dB of its peak."""
    env = envelope_db(x, HOP)
    idx = np.nonzero(env >= env.max() - 25)[0]
    return x[idx[0] * HOP: (idx[-1] + 1) * HOP]


def audible_runs(ev, bg):
    """[(start_s, end_s)] relative to the event where it is within 25 dB of
    its peak and at least as loud as the background (same-length arrays)."""
    e, b = envelope_db(ev, HOP), envelope_db(bg, HOP)
    act = (e >= e.max() - 25) & (e >= b)
    runs, start = [], None
    for i, a in enumerate(list(act) + [False]):
        if a and start is None:
            start = i
        if not a and start is not None:
            runs.append([start, i])
            start = None
    merged = []
    for r in runs:
        if merged and (r[0] - merged[-1][1]) * HOP / RATE < 0.3:
            merged[-1][1] = r[1]
        else:
            merged.append(r)
    return [(s * HOP / RATE, e * HOP / RATE) for s, e in merged]


def background(rng, pool):
    """10 s of one background class: its clips end to end, 50 ms crossfades."""
    n = int(CLIP_S * RATE)
    fade = int(0.05 * RATE)
    out = np.zeros(0)
    for i in rng.permutation(len(pool)).tolist() * 4:
        x = pool[i]
        if len(x) < 4 * fade:
            continue
        if len(out) == 0:
            out = x.copy()
        else:
            r = np.linspace(0, 1, fade)
            out[-fade:] = out[-fade:] * (1 - r) + x[:fade] * r
            out = np.concatenate([out, x[fade:]])
        if len(out) >= n:
            break
    out = out[:n]
    return out / max(np.sqrt(np.mean(out ** 2)), 1e-6) * 10 ** (-30 / 20)  # -30 dBFS


def loop_to(x, n):
    """x repeated until it is n samples long, then cut to n."""
    return np.tile(x, -(-n // len(x)))[:n]


def mix(out):
    rng = np.random.default_rng(arg("--seed", 1) + 1000)
    if "--fg" in sys.argv:
        counts = {c: arg("--pos", 30) for c in FG_CLASSES}
    else:
        counts = {"gun_shot": arg("--gun", 30), "dog_bark": arg("--dog", 30)}
    counts[None] = arg("--neg", 30)
    snr_lo, snr_hi = (float(v) for v in arg("--snr", "3,12").split(","))
    max_event = arg("--max-event", 3.0)
    src = list(csv.DictReader(open(os.path.join(out, "sources.csv"))))
    pools, as_labels = {}, {}
    for r in src:
        p = os.path.join(out, "wav", r["id"] + ".wav")
        x = read_wav(p)
        if np.sqrt(np.mean(x ** 2)) < 1e-4:
            continue  # silent clip
        pools.setdefault(r["us8k_class"], []).append(x)
        if r["us8k_class"] == AUDIOSET:
            as_labels[len(pools[AUDIOSET]) - 1] = (r["id"][len("src-as-"):], r.get("labels", "").split(";"))
    fg = {c: [event_extent(x) for x in pools[c]] for c in FG_CLASSES}
    os.makedirs(os.path.join(out, "mix"), exist_ok=True)
    man = csv.writer(open(os.path.join(out, "mixtures.csv"), "w", newline=""))
    man.writerow(["path", "id", "labels", "background"])
    strong = open(os.path.join(out, "strong.tsv"), "w")
    strong.write("segment_id\tstart_time_seconds\tend_time_seconds\tlabel\n")
    truth = csv.writer(open(os.path.join(out, "truth.csv"), "w", newline=""))
    truth.writerow(["id", "mid", "start", "end"])
    k = 0
    for cls, n in counts.items():
        for _ in range(n):
            k += 1
            bg_all = sorted(BG_CLASSES) + ([AUDIOSET] if AUDIOSET in pools else [])
            bg_cls = bg_all[rng.integers(len(bg_all))]
            if bg_cls == AUDIOSET:
                i = int(rng.integers(len(pools[AUDIOSET])))
                y = loop_to(pools[AUDIOSET][i], int(CLIP_S * RATE))
                y = y / max(np.sqrt(np.mean(y ** 2)), 1e-6) * 10 ** (-30 / 20)
                stem, bg_labels = as_labels[i]
                bg_name = AUDIOSET + ":" + stem
            else:
                y = background(rng, pools[bg_cls])
                bg_labels, bg_name = [BG_CLASSES[bg_cls]], bg_cls
            name = f"mix{k:03d}-{cls or 'none'}-{bg_cls}"
            labels = list(bg_labels)
            placed = []
            if cls:
                mid = FG_CLASSES[cls]
                labels.insert(0, mid)
                for _e in range(int(rng.integers(1, 3))):
                    cut = fg[cls][rng.integers(len(fg[cls]))][: int(max_event * RATE)]
                    dur = len(cut) / RATE
                    for _try in range(50):
                        t0 = float(rng.uniform(0.2, CLIP_S - dur - 0.2))
                        if all(t0 + dur + 0.5 <= a or t0 >= b + 0.5 for a, b in placed):
                            break
                    else:
                        continue
                    i0 = int(round(t0 * RATE))
                    seg = y[i0: i0 + len(cut)]
                    snr = rng.uniform(snr_lo, snr_hi)
                    gain = np.sqrt(np.mean(seg ** 2)) / max(np.sqrt(np.mean(cut ** 2)), 1e-9) * 10 ** (snr / 20)
                    runs = audible_runs(gain * cut, seg)
                    y[i0: i0 + len(cut)] += gain * cut
                    placed.append((t0, t0 + dur))
                    for a, b in runs:
                        s, e = round(t0 + a, 3), round(t0 + b, 3)
                        strong.write(f"{name}_0\t{s:.3f}\t{e:.3f}\t{mid}\n")
                        truth.writerow([name, mid, f"{s:.3f}", f"{e:.3f}"])
            peak = np.max(np.abs(y))
            if peak > 0.99:
                y *= 0.99 / peak
            path = os.path.join(out, "mix", name + ".wav")
            write_wav(path, y)
            man.writerow([os.path.abspath(path), name, ";".join(labels), bg_name])
    print(f"{k} mixtures")


if __name__ == "__main__":
    if len(sys.argv) >= 4 and sys.argv[1] == "select":
        select(sys.argv[2], sys.argv[3])
    elif len(sys.argv) >= 3 and sys.argv[1] == "mix":
        mix(sys.argv[2])
    else:
        sys.exit(__doc__)
