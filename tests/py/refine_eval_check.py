#!/usr/bin/python3
"""refine_eval_check.py DB MID EVAL.json - recompute `aedcurate eval refine
--json` from the stored masks and strong labels: patch references by the
half-of-the-shorter overlap rule, the collar (partly overlapped patches left
out), and sed_eval's segment-based F1 and error rate on 1 s segments with a
kept patch standing for its central 0.48 s (the first from 0, the last to the
clip's end); 10 ms frames, a frame positive when its centre lies in an event
(reference) or in the kept time (the method's frame_mask_fine row, else the
kept patches' central parts). Every figure must agree within 1e-9."""
import json
import math
import sqlite3
import sys

db, mid, out = sys.argv[1:4]
res = json.load(open(out))
con = sqlite3.connect(db)
cid = con.execute("SELECT id FROM class WHERE mid = ?", (mid,)).fetchone()[0]
sub = [r[0] for r in con.execute("SELECT descendant_id FROM class_closure WHERE ancestor_id = ?", (cid,))]
HOP, LEN = 0.48, 0.96


def overlap(a0, a1, b0, b1):
    return min(a1, b1) - max(a0, b0)


def measures(method):
    tp = fp = fn = ctp = cfp = cfn = 0
    ftp = ffp = ffn = 0
    ntp = nref = nsys = S = D = I = 0
    nseg = 0
    for seg, n, mask in con.execute("SELECT segment_id, n_patches, mask FROM frame_mask WHERE class_id = ? "
                                    "AND method = ? ORDER BY segment_id", (cid, method if method != "weak" else "maxnorm")):
        ev = con.execute("SELECT start_s, end_s FROM strong_label WHERE segment_id = ? AND class_id IN (%s)"
                         % ",".join("?" * len(sub)), [seg] + sub).fetchall()
        if not ev:
            continue
        nseg += 1
        m = [1] * n if method == "weak" else list(mask)
        clip = con.execute("SELECT coalesce((s.end_ms - s.start_ms) / 1000.0, c.n_samples / 16000.0) FROM segment s "
                           "LEFT JOIN clip c ON c.segment_id = s.id WHERE s.id = ?", (seg,)).fetchone()[0]
        for i in range(n):
            p0 = i * HOP
            ovs = [overlap(p0, p0 + LEN, a, b) for a, b in ev]
            ref = any(o > 0 and o >= 0.5 * min(LEN, b - a) - 1e-9 for o, (a, b) in zip(ovs, ev))
            amb = not ref and any(o > 1e-9 for o in ovs)
            tp += m[i] and ref
            fp += m[i] and not ref
            fn += (not m[i]) and ref
            if not amb:
                ctp += m[i] and ref
                cfp += m[i] and not ref
                cfn += (not m[i]) and ref
        # 1 s segments
        K = math.ceil(clip - 1e-9)
        sysiv = []
        for i in range(n):
            if m[i]:
                a, b = i * HOP + (LEN - HOP) / 2, i * HOP + (LEN + HOP) / 2
                if i == 0:
                    a = 0
                if i == n - 1 and clip > b:
                    b = clip
                sysiv.append((a, min(b, clip)))
        # 10 ms frames
        NF = int(math.floor(clip * 100 + 0.5))
        row = con.execute("SELECT mask FROM frame_mask_fine WHERE segment_id = ? AND class_id = ? AND method = ? "
                          "AND frame_ms = 10", (seg, cid, method)).fetchone()
        for f in range(NF):
            c = (f + 0.5) * 0.01
            r = any(a <= c < b for a, b in ev)
            if row is not None:
                s = f < len(row[0]) and row[0][f] == 1
            else:
                s = any(a <= c < b for a, b in sysiv)
            ftp += r and s
            ffp += s and not r
            ffn += r and not s
        for j in range(K):
            r = any(a < j + 1 and b > j for a, b in ev if b > a)
            s = any(a < j + 1 and b > j for a, b in sysiv if b > a)
            t = r and s
            ntp += t
            nref += r
            nsys += s
            fnj, fpj = r - t, s - t
            S += min(fnj, fpj)
            D += max(0, fnj - fpj)
            I += max(0, fpj - fnj)

    def prf(tp, fp, fn):
        p = tp / (tp + fp) if tp + fp else None
        r = tp / (tp + fn) if tp + fn else None
        return p, r
    P, R = prf(ntp, nsys - ntp, nref - ntp)
    return {"frame": prf(tp, fp, fn), "frame_collar": prf(ctp, cfp, cfn), "frame_10ms": prf(ftp, ffp, ffn),
            "segment": (P, R, 2 * P * R / (P + R) if P and R else 0.0, (S + D + I) / nref), "n": nseg}


bad = 0
for m in res["methods"]:
    want = measures(m["method"])
    got = {"frame": (m["frame"]["precision"], m["frame"]["recall"]),
           "frame_collar": (m["frame_collar"]["precision"], m["frame_collar"]["recall"]),
           "frame_10ms": (m["frame_10ms"]["precision"], m["frame_10ms"]["recall"]),
           "segment": (m["segment_1s"]["precision"], m["segment_1s"]["recall"], m["segment_1s"]["f1"],
                       m["segment_1s"]["error_rate"]), "n": m["segments"]}
    for k in want:
        w, g = want[k], got[k]
        same = w == g if k == "n" else all(abs(a - b) < 1e-9 for a, b in zip(w, g))
        if not same:
            bad += 1
            print("mismatch", m["method"], k, w, g, file=sys.stderr)
    print(m["method"], "frame P %.4f R %.4f, segment F1 %.4f ER %.4f" % (want["frame"] + want["segment"][2:]))
sys.exit(1 if bad else 0)
