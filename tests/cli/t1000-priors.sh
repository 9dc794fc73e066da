#!/bin/sh
# t1000-priors.sh - class priors count ontology descendants, weights follow
# (mean prior / prior)^beta on a hand-computed case; on balanced_train every
# prior and weight matches an independent Python recomputation.
. "$(dirname "$0")/../lib/testlib.sh"

cat >"$T/onto.json" <<'J'
[{"id": "/x/a", "name": "Alpha", "child_ids": ["/x/b"]},
 {"id": "/x/b", "name": "Beta"},
 {"id": "/x/c", "name": "Gamma, with comma"},
 {"id": "/x/d", "name": "Delta"}]
J
printf 'index,mid,display_name\n0,/x/a,Alpha\n1,/x/b,Beta\n2,/x/c,"Gamma, with comma"\n3,/x/d,Delta\n' >"$T/labels.csv"
# s1 Beta, s2 Alpha, s3 Gamma, s4 Beta+Gamma, s5 Gamma; Beta counts for Alpha.
cat >"$T/segs.csv" <<'C'
# YTID, start_seconds, end_seconds, positive_labels
s1, 0.000, 10.000, "/x/b"
s2, 0.000, 10.000, "/x/a"
s3, 0.000, 10.000, "/x/c"
s4, 0.000, 10.000, "/x/b,/x/c"
s5, 0.000, 10.000, "/x/c"
C
check "init" $AED init
check_fail "priors without labels is refused" $AED priors
check_grep "it says why" 'no ontology|no labelled' "$T/err"
check "ontology" $AED ontology ingest "$T/onto.json" --labels "$T/labels.csv"
check "segments" $AED segments ingest "$T/segs.csv" --split train
check "priors, beta 1" $AED priors --out "$T/p1"
# priors a .6 b .4 c .6 d 0; mean of non-zero 1.6/3
check_eq "priors.csv" "index,mid,display_name,n_pos,n_total,prior,weight
0,/x/a,Alpha,3,5,0.6,0.888888889
1,/x/b,Beta,2,5,0.4,1.33333333
2,/x/c,\"Gamma, with comma\",3,5,0.6,0.888888889
3,/x/d,Delta,0,5,0,0" "$(cat "$T/p1/priors.csv")"
check_eq "stored in class_prior" "/x/a|3|0.6|0.889
/x/b|2|0.4|1.333
/x/c|3|0.6|0.889
/x/d|0|0.0|0.0" "$(sql "SELECT c.mid, p.n_pos, p.prior, round(p.weight, 3) FROM class_prior p JOIN class c ON c.id = p.class_id ORDER BY c.mid")"
check_eq "json keyed by index" "1.3333333333333333" "$($PY -c 'import json,sys; print(json.load(open(sys.argv[1]))["by_index"]["1"]["weight"])' "$T/p1/priors.json")"
check_eq "json keyed by mid" "3" "$($PY -c 'import json,sys; print(json.load(open(sys.argv[1]))["by_mid"]["/x/c"]["n_pos"])' "$T/p1/priors.json")"
check "beta 0.5 backs off" $AED priors --beta 0.5 --json
check_eq "sqrt(4/3)" "1.154701" "$($PY -c 'import json,sys; d=json.load(sys.stdin); print("%.6f" % [c for c in d["classes"] if c["mid"]=="/x/b"][0]["weight"])' <"$T/out")"
check_eq "a rerun replaces the rows" "4 0.5" "$(sql 'SELECT count(*), max(beta) FROM class_prior' | tr '|' ' ')"
check_fail "a negative beta is refused" $AED priors --beta -1
check_grep "it names the option" 'beta' "$T/err"
check_fail "an unknown split is refused" $AED priors --split nope
check "beta 0 weighs every positive 1" $AED priors --beta 0 --split train
check_eq "all weights 1 (but the empty class)" "1.0 3" "$(sql 'SELECT max(weight), sum(weight = 1) FROM class_prior' | tr '|' ' ')"

need_shared "$AUDIOSET/balanced_train_segments.csv" "$AUDIOSET/ontology.json"
export AEDCURATE_DB=$T/bal.db
check "real ontology" $AED ontology ingest "$AUDIOSET/ontology.json" --labels "$AUDIOSET/class_labels_indices.csv"
check "balanced_train" $AED segments ingest "$AUDIOSET/balanced_train_segments.csv" --split balanced_train
check "priors on balanced_train" $AED priors --out "$T/bal"
check_grep "22160 labelled segments" '^priors: 22160 labelled segments' "$T/out"
check "python recomputes every prior and weight" $PY "$ROOT/tests/py/priors_check.py" "$AUDIOSET/ontology.json" "$AUDIOSET/balanced_train_segments.csv" "$T/bal/priors.csv" 1
# balanced: ~60 clips per leaf class, Music and Speech far more common
check_eq "the spread: rarest prior > 0.002, commonest (Music) ~0.4" "/m/04rlf 1" "$(sql "SELECT c.mid, min(p.prior) > 0.002 FROM class_prior p JOIN class c ON c.id = p.class_id WHERE p.prior = (SELECT max(prior) FROM class_prior)" | tr '|' ' ')"
check_eq "rare classes weigh > 3, Music < 0.03" "1 1" "$(sql "SELECT max(weight) > 3, (SELECT weight FROM class_prior p JOIN class c ON c.id = p.class_id WHERE c.mid = '/m/04rlf') < 0.03 FROM class_prior" | tr '|' ' ')"
done_testing
