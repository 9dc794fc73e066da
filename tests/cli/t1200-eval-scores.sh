#!/bin/sh
# t1200-eval-scores.sh - `eval scores` reproduces hand-computed AP, AUC, d'
# and EER on a small fixed case, pools patches by max or mean, and on the
# shared AudioSet eval clips prints a per-class table of YAMNet's agreement
# with the labels that an independent Python recomputation matches.
. "$(dirname "$0")/../lib/testlib.sh"

cat >"$T/onto.json" <<'J'
[{"id": "/x/a", "name": "Alpha"}, {"id": "/x/b", "name": "Beta"}]
J
# Clip scores 0.9 .. 0.3 ranked + + - + - - + - : AP = (1 + 1 + 3/4 + 4/7) / 4,
# AUC = 12/16, d' = sqrt(2) * Phi^-1(0.75), EER = 1/4; at 0.6: P = R = 3/4.
printf '# YTID, start, end, labels\n' >"$T/segs.csv"
i=0
for y in a a b a b b a b; do i=$((i + 1)); echo "s$i, 0, 10, \"/x/$y\"" >>"$T/segs.csv"; done
check "init" $AED init
check "ontology" $AED ontology ingest "$T/onto.json"
check "segments" $AED segments ingest "$T/segs.csv" --split hand
check_fail "no trained scores yet" $AED eval scores --split hand --scorer trained
check_grep "it says what to run" 'refine --scorer trained' "$T/err"
# two patches per clip: max pooling sees the listed score, mean pooling half of it
$PY - "$AEDCURATE_DB" <<'P'
import sqlite3, struct, sys
con = sqlite3.connect(sys.argv[1])
a = con.execute("SELECT id FROM class WHERE mid = '/x/a'").fetchone()[0]
for k, s in enumerate([0.9, 0.8, 0.7, 0.6, 0.55, 0.5, 0.4, 0.3]):
    seg = con.execute("SELECT id FROM segment WHERE key = ?", ("s%d_0" % (k + 1),)).fetchone()[0]
    con.execute("INSERT INTO frame_score VALUES (?, ?, 'trained', NULL, 2, 480, ?)",
                (seg, a, struct.pack("<2f", s, 0.0)))
con.commit()
P
check "eval scores --json" $AED eval scores --split hand --scorer trained --threshold 0.6 --json
get() { $PY -c 'import json,sys; d=json.load(open(sys.argv[1])); c=d["classes"][0]; print(" ".join("%.6f" % c[k] for k in ("ap","auc","dprime","eer")), " ".join("%.4f" % c["at_threshold"][k] for k in ("precision","recall","f1")))' "$T/out"; }
check_eq "AP AUC d' EER and P R F1 at 0.6 by hand" "0.830357 0.750000 0.953873 0.250000 0.7500 0.7500 0.7500" "$(get)"
check_eq "one class evaluated, mAP = its AP" "1 0.830357" "$($PY -c 'import json,sys; d=json.load(open(sys.argv[1])); print(d["classes_evaluated"], "%.6f" % d["map"])' "$T/out")"
check "mean pooling" $AED eval scores --split hand --scorer trained --pool mean --threshold 0.3 --json
check_eq "same ranking, halved scores: at 0.3 the top four" "0.830357 0.750000 0.953873 0.250000 0.7500 0.7500 0.7500" "$(get)"
check "a table" $AED eval scores --split hand --scorer trained
check_grep "the table row" '/x/a +4 +4 +0\.830 +0\.750 +0\.954 +0\.250' "$T/out"
check_fail "an unknown split" $AED eval scores --split nope --scorer trained
check_fail "--split is required" $AED eval scores
check_fail "a bad pooling" $AED eval scores --split hand --pool median
check_fail "a bad threshold" $AED eval scores --split hand --threshold 0

need_shared "$SHARED/data/audio/audioset-eval/labels.csv" "$SHARED/models/yamnet/yamnet.tflite"
export AEDCURATE_SHARED=$SHARED AEDCURATE_DB=$T/aseval.db
check "ontology" $AED ontology ingest "$AUDIOSET/ontology.json" --labels "$AUDIOSET/class_labels_indices.csv" -q
check "the 41 eval clips" $AED segments ingest "$SHARED/data/audio/audioset-eval/labels.csv" --format manifest --columns path=file,id=ytid,start=start_seconds,end=end_seconds,labels=positive_labels --split eval --strict
check "fetch" $AED fetch -q
check "decode" $AED decode -q
check "features" $AED features -q
check "embed" $AED embed -q
check "eval scores" $AED eval scores --split eval
sed 's/^/# /' "$T/out" | tail -3
check_grep "41 clips scored" '41 clips scored, 0 without scores' "$T/out"
check_grep "a row per class: Music" '^ +137  /m/04rlf ' "$T/out"
check_grep "averages" '^mAP 0\.[0-9]+  mean AUC 0\.9' "$T/out"
check "eval scores --json" $AED eval scores --split eval --json
cp "$T/out" "$T/eval.json"
check "Python recomputes every class" $PY "$ROOT/tests/py/eval_scores_check.py" "$AEDCURATE_DB" "$SHARED/models/yamnet/yamnet_class_map.csv" "$T/eval.json"
sed 's/^/# /' "$T/out"
done_testing
