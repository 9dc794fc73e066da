#!/bin/sh
# b01-ingest.sh - ingest of a 2,000,000-row segment list in the AudioSet CSV
# format (the size of unbalanced_train_segments.csv, written by
# gen_segments.py with real mids): `aedcurate segments ingest` (parse, validate,
# link every label to its class, segment + split + label rows, one
# transaction) against the sqlite3 shell's `.import` of the same file into a
# plain 4-column table (no parsing of times or labels, no indexes), in the same
# run. Goal: within 2x of .import. BENCH_ROWS overrides the row count.
. "$(dirname "$0")/../lib/testlib.sh"
need_shared "$AUDIOSET/ontology.json" "$AUDIOSET/class_labels_indices.csv"
N=${BENCH_ROWS:-2000000}
now() { date +%s.%N; }

"$PY" "$ROOT/tests/bench/gen_segments.py" "$AUDIOSET/class_labels_indices.csv" "$T/segs.csv" --rows "$N" || exit 1
$AED init -q || exit 1
$AED ontology ingest -q "$AUDIOSET/ontology.json" >/dev/null || exit 1
cat "$T/segs.csv" >/dev/null # both readers start from the page cache

t0=$(now)
sqlite3 "$T/import.db" 'CREATE TABLE t(ytid TEXT, start_s TEXT, end_s TEXT, labels TEXT)' \
	'.mode csv' '.import --skip 3 '"$T/segs.csv"' t' 2>/dev/null
t1=$(now)
$AED segments ingest -q "$T/segs.csv" --split unbalanced_train --strict >"$T/out" || exit 1
t2=$(now)

rows=$(sqlite3 "$T/import.db" 'SELECT count(*) FROM t')
segs=$(sql 'SELECT count(*) FROM segment')
labels=$(sql 'SELECT count(*) FROM label')
[ "$rows" -eq "$N" ] && [ "$segs" -eq "$N" ] || { echo "row counts differ: .import $rows, aedcurate $segs, want $N"; exit 1; }
awk -v n="$N" -v l="$labels" -v a="$t0" -v b="$t1" -v c="$t2" 'BEGIN {
	imp = b - a; ours = c - b
	printf "rows %d, labels %d\n", n, l
	printf "sqlite3 .import:           %7.2f s (%.0f rows/s)\n", imp, n / imp
	printf "aedcurate segments ingest: %7.2f s (%.0f rows/s)\n", ours, n / ours
	printf "ratio (aedcurate / .import): %.2f (goal <= 2)\n", ours / imp
}'
