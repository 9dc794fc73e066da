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

"$PY" "$ROOT/tests/bench/gen_segments.py" "$AUDIOSET/class_labels_indices.csv" "$T/segs.csv" --rows "$N" || exit 1
$AED init -q || exit 1
$AED ontology ingest -q "$AUDIOSET/ontology.json" >/dev/null || exit 1
cat "$T/segs.csv" >/dev/null # both readers start from the page cache

# Wall and CPU (user + sys) seconds of one command: the machine may be shared.
timed() { /usr/bin/time -f '%e %U %S' -o "$T/time" "$@"; }
timed sqlite3 "$T/import.db" 'CREATE TABLE t(ytid TEXT, start_s TEXT, end_s TEXT, labels TEXT)' \
	'.mode csv' '.import --skip 3 '"$T/segs.csv"' t' 2>/dev/null
imp=$(cat "$T/time")
timed $AED segments ingest -q "$T/segs.csv" --split unbalanced_train --strict >"$T/out" || exit 1
ours=$(cat "$T/time")

rows=$(sqlite3 "$T/import.db" 'SELECT count(*) FROM t')
segs=$(sql 'SELECT count(*) FROM segment')
labels=$(sql 'SELECT count(*) FROM label')
[ "$rows" -eq "$N" ] && [ "$segs" -eq "$N" ] || { echo "row counts differ: .import $rows, aedcurate $segs, want $N"; exit 1; }
echo "$imp $ours" | awk -v n="$N" -v l="$labels" '{
	printf "rows %d, labels %d\n", n, l
	printf "sqlite3 .import:           %7.2f s wall, %6.2f s cpu (%.0f rows/s)\n", $1, $2 + $3, n / $1
	printf "aedcurate segments ingest: %7.2f s wall, %6.2f s cpu (%.0f rows/s)\n", $4, $5 + $6, n / $4
	printf "ratio (aedcurate / .import): %.2f wall, %.2f cpu (goal <= 2)\n", $4 / $1, ($5 + $6) / ($2 + $3)
}'
