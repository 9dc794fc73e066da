#!/bin/sh
# t1301-export-balance.sh - selection worked out by hand on a tiny corpus of
# generated 1 s tones: classes A (2 clips), B (5) and C (10), one clip A+C and
# one B+C. With min=2,max=4 every seed must give A=2, B=4, C=4; min=3 leaves A
# short (the corpus has 2) and --mix-augment tops it up with one mix of its two
# clips; no cap exports everything; a group of clips never straddles splits;
# a label annotators rejected is left out and listed among the negatives.
. "$(dirname "$0")/../lib/testlib.sh"

cat >"$T/onto.json" <<'J'
[{"id": "/x/a", "name": "Alpha"}, {"id": "/x/b", "name": "Beta"}, {"id": "/x/c", "name": "Gamma"}]
J
printf 'index,mid,display_name\n0,/x/a,Alpha\n1,/x/b,Beta\n2,/x/c,Gamma\n' >"$T/labels.csv"
{
	echo "path,labels,group"
	echo "s01.wav,\"/x/a,/x/c\",g1"
	echo "s02.wav,/x/a,g2"
	for i in 03 04 06 07; do echo "s$i.wav,/x/b,g$i"; done
	echo "s05.wav,\"/x/b,/x/c\",g5"
	for i in 08 09 10 11; do echo "s$i.wav,/x/c,gc1"; done   # one recording, four clips
	for i in 12 13 14 15; do echo "s$i.wav,/x/c,g$i"; done
} >"$T/manifest.csv"
for i in 01 02 03 04 05 06 07 08 09 10 11 12 13 14 15; do
	ffmpeg -nostdin -v error -f lavfi -i "sine=frequency=$((200 + 50 * ${i#0})):duration=1" -ar 16000 "$T/s$i.wav" || exit 1
done
check "init" $AED init
check "ontology" $AED ontology ingest "$T/onto.json" --labels "$T/labels.csv"
check "manifest" $AED segments ingest "$T/manifest.csv"
check "fetch" $AED fetch -q
check "decode" $AED decode -q --clip-seconds 1

counts() { # class counts of the latest export, real clips only, rejected labels not: "A B C"
	sql "SELECT c.name, count(*) FROM export_sample e JOIN label l ON l.segment_id = e.segment_id
	     JOIN class c ON c.id = l.class_id WHERE e.export_id = (SELECT max(id) FROM export)
	     AND NOT EXISTS (SELECT 1 FROM review_decision r WHERE r.segment_id = l.segment_id
	                     AND r.class_id = l.class_id AND r.decision = 'not_present')
	     GROUP BY c.name ORDER BY c.name" | cut -d'|' -f2 | tr '\n' ' ' | sed 's/ $//'
}
for seed in 1 2 3 4 5; do
	check "min=2,max=4 seed $seed" $AED export --out "$T/e$seed" --balance min=2,max=4 --seed $seed
	check_eq "seed $seed: A=2 B=4 C=4" "2 4 4" "$(counts)"
	check_eq "seed $seed: no group in two splits" "0" "$(sql "SELECT count(*) FROM (SELECT s.source_group FROM export_sample e JOIN segment s ON s.id = e.segment_id WHERE e.export_id = (SELECT max(id) FROM export) GROUP BY s.source_group HAVING count(DISTINCT e.split) > 1)")"
done
check "python agrees on min/max" $PY "$ROOT/tests/py/read_webdataset.py" "$AEDCURATE_DB" "$T/e5" --min 2 --max 4 --ffmpeg 2

check "min=3: A has only 2" $AED export --out "$T/s" --balance min=3,max=4 --split train=1 --json
check_eq "one class below min, short of candidates" "1 1" "$($PY -c 'import json,sys; d=json.load(sys.stdin); print(d["classes_below_min"], d["classes_short"])' <"$T/out")"
check_grep "the manifest says why" 'fewer candidates than min' "$T/s/manifest.json"
check "mix-augment tops A up" $AED export --out "$T/m" --balance min=3,max=4 --split train=1 --mix-augment
check_eq "one mix, of the two A clips" "1 s01_0 s02_0" "$(sql "SELECT count(*), min(a.key), max(b.key) FROM export_sample e JOIN segment a ON a.id = min(e.mix_a, e.mix_b) JOIN segment b ON b.id = max(e.mix_a, e.mix_b) WHERE e.export_id = (SELECT max(id) FROM export) AND e.segment_id IS NULL" | tr '|' ' ')"
check "python reads the mix" $PY "$ROOT/tests/py/read_webdataset.py" "$AEDCURATE_DB" "$T/m" --min 3 --max 4 --ffmpeg 2
check_grep "1 augmented" '\(1 augmented' "$T/out"
check "no cap: everything" $AED export --out "$T/all" --split train=1
check_eq "A=2 B=5 C=10" "2 5 10" "$(counts)"
check "no cap, three splits" $AED export --out "$T/all3" --split train=0.5,val=0.25,test=0.25
check_eq "the four clips of one recording: one split" "4 1" "$(sql "SELECT count(*), count(DISTINCT e.split) FROM export_sample e JOIN segment s ON s.id = e.segment_id WHERE s.source_group = 'gc1' AND e.export_id = (SELECT max(id) FROM export)" | tr '|' ' ')"
check_eq "every split used" "3" "$(sql "SELECT count(DISTINCT split) FROM export_sample WHERE export_id = (SELECT max(id) FROM export)")"

# a label annotators rejected is left out and listed as a negative
sql "INSERT INTO review_decision (class_id, segment_id, decision, n_ratings, n_present, n_not_present, n_unsure, n_not_acoustic, agreement, updated_at) SELECT c.id, s.id, 'not_present', 1, 0, 1, 0, 0, 1.0, '2026-01-01T00:00:00Z' FROM class c, segment s WHERE c.mid = '/x/c' AND s.key = 's01_0'"
check "export after a review" $AED export --out "$T/rev" --split train=1
check_eq "C loses the rejected clip" "2 5 9" "$(counts)"
tar -xOf "$T/rev/train-000000.tar" s01_0.json >"$T/s01.json"
check_eq "its JSON: label A, negative C" "['/x/a'] ['/x/c']" "$($PY -c 'import json,sys; j=json.load(open(sys.argv[1])); print(j["mids"], j["negatives"])' "$T/s01.json")"
check "python agrees" $PY "$ROOT/tests/py/read_webdataset.py" "$AEDCURATE_DB" "$T/rev" --ffmpeg 1
done_testing
