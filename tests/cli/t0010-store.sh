#!/bin/sh
# t0010-store.sh - init, status, schema refusal, and the pipeline runner:
# the demo pipeline on the shared AudioSet lists, skipping on rerun, --from,
# and kill -9 in the middle of a step followed by a rerun that completes it.
. "$(dirname "$0")/../lib/testlib.sh"
need_shared "$AUDIOSET/ontology.json" "$AUDIOSET/balanced_train_segments.csv"

check "init creates the database" $AED init
check "init again is harmless" $AED init
check_eq "WAL mode" "wal" "$(sql 'PRAGMA journal_mode')"
check "status --json" $AED status --json
cp "$T/out" "$T/status.json"
check "status --json is JSON" $PY -c 'import json,sys; d=json.load(open(sys.argv[1])); assert d["totals"]["segments"] == 0' "$T/status.json"
check_fail "status on a missing database fails" $AED --db "$T/nope.db" status
check_grep "and says how to create one" "aedcurate init" "$T/err"
check_fail "unknown option is refused" $AED status --bogus
check_grep "naming it" "unknown option --bogus" "$T/err"
check "the command list" $AED --help
sed -n 's/^  \([a-z][a-z]*\( [a-z][a-z]*\)\?\)  .*/\1/p' "$T/out" >"$T/commands"
check "it lists at least 20 commands" test "$(wc -l <"$T/commands")" -ge 20
while read -r c; do
	check "$c --help" $AED $c --help
	check_grep "$c --help shows its synopsis" "^usage: aedcurate $c " "$T/out"
done <"$T/commands"

# A database from a newer aedcurate is refused, not modified.
cp "$AEDCURATE_DB" "$T/newer.db"
sqlite3 "$T/newer.db" "PRAGMA user_version = 999"
check_fail "newer schema refused" $AED --db "$T/newer.db" status
check_grep "with a clear message" "newer than this aedcurate" "$T/err"
check_eq "and left as it was" "999" "$(sqlite3 "$T/newer.db" 'PRAGMA user_version')"

# The list steps of the demo pipeline, offline: every source falls back to the
# shared copy. (t1400-demo.sh runs the whole pipeline.)
export AEDCURATE_SHARED="$SHARED"
sed -n '1,/^step eval:/p' "$ROOT/pipelines/demo.pipeline" >"$T/lists.pipeline"
check "demo pipeline's list steps run" $AED run "$T/lists.pipeline" --offline
check_eq "632 classes" 632 "$(sql 'SELECT count(*) FROM class')"
check_eq "22,160 balanced_train segments" 22160 "$(sql "SELECT count(*) FROM segment_split JOIN split ON split.id = split_id WHERE name = 'balanced_train'")"
check_eq "20,371 eval segments" 20371 "$(sql "SELECT count(*) FROM segment_split JOIN split ON split.id = split_id WHERE name = 'eval'")"
check "rerun" $AED run "$T/lists.pipeline" --offline
check_grep "skips finished steps" "0 steps run, 3 skipped" "$T/err"
check "--from reruns from a step" $AED run "$T/lists.pipeline" --offline --from eval
check_grep "just that step onwards" "1 steps run, 0 skipped" "$T/err"
check_eq "and changes nothing" 42531 "$(sql 'SELECT count(*) FROM segment')"
check "status shows the runs" $AED status
check_grep "per-stage runs listed" "segments +ok" "$T/out"
check_fail "--from an unknown step" $AED run "$T/lists.pipeline" --offline --from nope
check_grep "names it" "no such step" "$T/err"

# kill -9 in the middle of a long step, then rerun: same result as a clean run.
$PY - "$AUDIOSET/class_labels_indices.csv" "$T/big.csv" <<'PYEOF'
import csv, random, sys
mids = [r[1] for r in list(csv.reader(open(sys.argv[1])))[1:]]
rnd = random.Random(7)
with open(sys.argv[2], "w") as f:
    f.write("# YTID, start_seconds, end_seconds, positive_labels\n")
    for i in range(400000):
        labels = ",".join(rnd.sample(mids, rnd.randint(1, 3)))
        f.write('Y%010d, %d.000, %d.000, "%s"\n' % (i, i % 300, i % 300 + 10, labels))
PYEOF
cat > "$T/big.pipeline" <<PEOF
pipeline big
step ontology: ontology ingest $AUDIOSET/ontology.json
step big: segments ingest $T/big.csv --split big
PEOF
export AEDCURATE_DB="$T/kill.db"
$AED run "$T/big.pipeline" >/dev/null 2>&1 &
pid=$!
# Wait until the big step has started, then kill it mid-transaction.
for i in $(seq 1 200); do
	[ "$(sqlite3 "$AEDCURATE_DB" "SELECT count(*) FROM run WHERE stage = 'segments'" 2>/dev/null)" = 1 ] && break
	sleep 0.02
done
sleep 0.3
kill -9 $pid 2>/dev/null; wait $pid 2>/dev/null
check_eq "the killed step left no partial segments" 0 "$(sql "SELECT count(*) FROM segment")"
check "rerun after kill -9" $AED run "$T/big.pipeline"
check_grep "skips the finished ontology step" "1 steps run, 1 skipped" "$T/err"
check_eq "the dead run is marked interrupted" "interrupted" "$(sql "SELECT outcome FROM run WHERE stage = 'pipeline' ORDER BY id LIMIT 1")"
export AEDCURATE_DB="$T/clean.db"
check "clean run" $AED run "$T/big.pipeline"
a=$(sqlite3 "$T/kill.db" "SELECT count(*), sum(start_ms), (SELECT count(*) FROM label) FROM segment")
b=$(sqlite3 "$T/clean.db" "SELECT count(*), sum(start_ms), (SELECT count(*) FROM label) FROM segment")
check_eq "killed-and-rerun equals a clean run" "$b" "$a"
done_testing
