#!/bin/sh
# t0210-segments-audioset.sh - the real AudioSet segment lists and strong-label
# TSVs: counts against the files' own headers and an independent Python count,
# re-ingest changes nothing, segments list filters.
. "$(dirname "$0")/../lib/testlib.sh"
need_shared "$AUDIOSET/ontology.json" "$AUDIOSET/balanced_train_segments.csv" \
	"$AUDIOSET/eval_segments.csv" "$AUDIOSET/strong"

check "ontology ingest" $AED ontology ingest "$AUDIOSET/ontology.json"

check "balanced_train ingests" $AED segments ingest "$AUDIOSET/balanced_train_segments.csv" --split train
check_grep "summary: 22160 rows, none bad" '22160 rows, 22160 ingested, 0 bad' "$T/out"
check_eq "balanced_train: 22,160 segments" 22160 "$(sql 'SELECT count(*) FROM segment')"
# The file's header says num_positive_labels=52882.
check_eq "balanced_train: 52,882 weak labels" 52882 "$(sql "SELECT count(*) FROM label WHERE source='weak'")"
check_eq "all in split train" 22160 "$(sql "SELECT count(*) FROM segment_split ss JOIN split s ON s.id=ss.split_id WHERE s.name='train'")"

check "eval ingests (uncommented header row)" $AED segments ingest "$AUDIOSET/eval_segments.csv" --split eval --json
check_eq "eval: 20,371 segments in split eval" 20371 \
	"$(sql "SELECT count(*) FROM segment_split ss JOIN split s ON s.id=ss.split_id WHERE s.name='eval'")"
check_eq "eval --json: rows" 20371 "$($PY -c 'import json,sys; print(json.load(sys.stdin)["segments_new"])' <"$T/out")"
check_eq "eval: 51,804 labels" 51804 "$(sql "SELECT count(*) FROM label l JOIN segment_split ss ON ss.segment_id=l.segment_id JOIN split s ON s.id=ss.split_id WHERE s.name='eval'")"

# Independent count with Python's csv module (skipinitialspace handles ", ").
$PY - "$AUDIOSET/balanced_train_segments.csv" "$AUDIOSET/eval_segments.csv" >"$T/py" <<'PY'
import csv, sys
rows = []
for path in sys.argv[1:]:
    with open(path, newline="") as f:
        for r in csv.reader((l for l in f if not l.startswith("#")), skipinitialspace=True):
            if r[0] == "YTID":
                continue
            ms = round(float(r[1]) * 1000)
            for mid in sorted(r[3].split(",")):
                rows.append("%s_%d|%d|%d|%s" % (r[0], ms, ms, round(float(r[2]) * 1000), mid))
print("\n".join(sorted(rows)))
PY
sql "SELECT s.key, s.start_ms, s.end_ms, c.mid FROM segment s JOIN label l ON l.segment_id=s.id JOIN class c ON c.id=l.class_id" | sort >"$T/db"
if cmp -s "$T/py" "$T/db"; then ok "every (segment, start, end, mid) matches Python's reading"; else not_ok "db differs from Python: $(diff "$T/py" "$T/db" | head -5)"; fi
check_eq "key, ytid and group are consistent, no path" 0 \
	"$(sql "SELECT count(*) FROM segment WHERE key != ytid || '_' || start_ms OR source_group != ytid OR path IS NOT NULL")"

# Re-ingesting the same file changes no segment, split or label row.
dump() { sql "SELECT * FROM segment ORDER BY id; SELECT * FROM segment_split ORDER BY 1,2; SELECT * FROM label ORDER BY 1,2,3; SELECT * FROM split" | sha256sum; }
before=$(dump)
check "re-ingest balanced_train" $AED segments ingest "$AUDIOSET/balanced_train_segments.csv" --split train
check_grep "re-ingest: 0 new, all already stored" '0 new segments, 22160 already stored, 0 labels' "$T/out"
check_eq "re-ingest: tables unchanged" "$before" "$(dump)"
check_eq "each ingest is logged" 3 "$(sql 'SELECT count(*) FROM segment_source')"
check_eq "runs recorded as ok" 3 "$(sql "SELECT count(*) FROM run WHERE stage='segments' AND outcome='ok'")"

# Strong labels: all six real TSVs.
for f in "$AUDIOSET"/strong/*.tsv; do
	check "strong: $(basename "$f")" $AED segments ingest "$f"
done
$PY - "$AUDIOSET"/strong/*.tsv >"$T/py" <<'PY'
import sys
rows = set()
for path in sys.argv[1:]:
    for line in open(path).read().splitlines()[1:]:
        sid, a, b, mid = line.split("\t")
        rows.add((sid, float(a), float(b), mid))
segs = {r[0] for r in rows}
print(len(rows), len(segs), len({(r[0], r[3]) for r in rows}))
PY
check_eq "strong_label rows, segments, clip labels match Python" "$(cat "$T/py")" \
	"$(sql "SELECT (SELECT count(*) FROM strong_label), (SELECT count(DISTINCT segment_id) FROM strong_label), (SELECT count(*) FROM label WHERE source='strong')" | tr '|' ' ')"
check_eq "strong segments are 10 s from the id's start" 0 \
	"$(sql "SELECT count(*) FROM segment s WHERE s.id IN (SELECT segment_id FROM strong_label) AND s.end_ms - s.start_ms != 10000 AND s.id NOT IN (SELECT segment_id FROM segment_split)")"
check_eq "a strong segment already in eval keeps its split" 1 \
	"$(sql "SELECT count(*) FROM segment s JOIN segment_split ss ON ss.segment_id=s.id JOIN split p ON p.id=ss.split_id WHERE s.key='-9O1cb8z7Mk_0' AND p.name='eval'")"
check_eq "strong times are relative to the segment" "1.598|2.307" \
	"$(sql "SELECT start_s, end_s FROM strong_label sl JOIN segment s ON s.id=sl.segment_id WHERE s.key='-9O1cb8z7Mk_0' ORDER BY start_s LIMIT 1")"

# segments list
check "list --split eval --class Gunshot" $AED segments list --split eval --class "/m/032s66"
n=$(wc -l <"$T/out")
check_eq "list: eval segments with gunshot or a descendant" \
	"$(sql "SELECT count(DISTINCT l.segment_id) FROM label l JOIN segment_split ss ON ss.segment_id=l.segment_id JOIN split p ON p.id=ss.split_id WHERE p.name='eval' AND l.class_id IN (SELECT descendant_id FROM class_closure WHERE ancestor_id=(SELECT id FROM class WHERE mid='/m/032s66'))")" "$n"
check "list --json --limit 3" $AED segments list --split train --limit 3 --json
check_eq "list --json has 3 rows" 3 "$($PY -c 'import json,sys; print(len(json.load(sys.stdin)))' <"$T/out")"
check_fail "list --class of an unknown class fails" $AED segments list --class "No Such Class"
check_grep "names the class" 'No Such Class' "$T/err"

done_testing
