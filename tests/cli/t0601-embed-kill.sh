#!/bin/sh
# t0601-embed-kill.sh - kill -9 in the middle of embed, then rerun: every
# stored embedding and score array is bit for bit the one a clean run on a
# copy of the same database stores. Two processes embedding the same database
# at once, and a run with another thread count and batch size, also store
# exactly that.
. "$(dirname "$0")/../lib/testlib.sh"
MODEL=$SHARED/models/yamnet/yamnet.tflite
US=$SHARED/data/audio/urbansound8k
need_shared "$MODEL" "$US/manifest.csv" "$AUDIOSET/ontology.json"
N=48
{ echo path; awk -F, 'NR > 1 && $2 == 1 { print $1 }' "$US/manifest.csv" | head -$N | sed "s|^|$US/|"; } >"$T/m.csv"

check "init" $AED init
check "ontology" $AED ontology ingest "$AUDIOSET/ontology.json"
check "segments" $AED segments ingest --format manifest "$T/m.csv"
check "fetch" $AED fetch
check "decode" $AED decode --clip-seconds 4
check "features" $AED features
check_eq "$N log-mels" $N "$(sql "SELECT count(*) FROM array_ref WHERE kind = 'logmel_yamnet'")"
sql "PRAGMA wal_checkpoint(TRUNCATE)" >/dev/null
cp "$T/test.db" "$T/clean.db"
cp -R "$T/test.db.arrays" "$T/clean.db.arrays"
cp "$T/test.db" "$T/two.db"
cp -R "$T/test.db.arrays" "$T/two.db.arrays"
cp "$T/test.db" "$T/other.db"
cp -R "$T/test.db.arrays" "$T/other.db.arrays"

AEDCURATE_DB=$T/clean.db check "clean run" $AED embed --threads 2 --batch 8 --json
check_grep "all done" "\"done\": $N, \"failed\": 0" "$T/out"

# Kill as soon as the first transaction has committed.
$AED embed --threads 2 --batch 8 >"$T/killed.out" 2>&1 &
pid=$!
i=0
while [ $i -lt 600 ]; do
	d=$(sql "SELECT count(*) FROM work WHERE stage = 'embed' AND state = 'done'" 2>/dev/null)
	[ "${d:-0}" -gt 0 ] && break
	kill -0 $pid 2>/dev/null || break
	sleep 0.02; i=$((i + 1))
done
kill -9 $pid 2>/dev/null
wait $pid 2>/dev/null
done_before=$(sql "SELECT count(*) FROM work WHERE stage = 'embed' AND state = 'done'")
if [ "$done_before" -gt 0 ] && [ "$done_before" -lt $N ]; then ok "killed part way ($done_before of $N done)"
else not_ok "the kill did not land part way ($done_before of $N done)"; fi
check_eq "the killed run is left running" running "$(sql "SELECT outcome FROM run WHERE stage = 'embed'")"

check "rerun" $AED embed --threads 2 --batch 8 --json
check_grep "finishes the rest" "\"done\": $((N - done_before)), \"failed\": 0, \"skipped\": $done_before" "$T/out"
check_eq "the killed run is marked interrupted" interrupted \
	"$(sql "SELECT outcome FROM run WHERE stage = 'embed' ORDER BY id LIMIT 1")"
for k in embedding scores; do $PY "$ROOT/tests/py/array_digest.py" "$T/clean.db" $k; done >"$T/expect"
for k in embedding scores; do $PY "$ROOT/tests/py/array_digest.py" "$T/test.db" $k; done >"$T/actual"
check_eq "$((2 * N)) arrays in each" "$((2 * N)) $((2 * N))" "$(wc -l <"$T/expect" | tr -d ' ') $(wc -l <"$T/actual" | tr -d ' ')"
if cmp -s "$T/expect" "$T/actual"; then ok "identical to the clean run, bit for bit"
else not_ok "results differ from the clean run"; diff "$T/expect" "$T/actual" | head -10 | sed 's/^/#   /'; fi
check_eq "one embedding row per segment" "$N" "$(sql "SELECT count(*) FROM embedding")"

# Two processes at once share the work; together they store the same.
export AEDCURATE_DB=$T/two.db
$AED embed --threads 2 --batch 8 --json >"$T/p1.json" 2>"$T/p1.err" &
p1=$!
$AED embed --threads 2 --batch 8 --json >"$T/p2.json" 2>"$T/p2.err"
rc2=$?
wait $p1
rc1=$?
check_eq "both processes succeed" "0 0" "$rc1 $rc2"
check_eq "each segment done once between them" "$N" \
	"$($PY -c "import json; print(sum(json.load(open(f))['done'] for f in ('$T/p1.json', '$T/p2.json')))")"
for k in embedding scores; do $PY "$ROOT/tests/py/array_digest.py" "$T/two.db" $k; done >"$T/two"
if cmp -s "$T/expect" "$T/two"; then ok "two processes store what one clean run stores"
else not_ok "two-process results differ"; diff "$T/expect" "$T/two" | head -10 | sed 's/^/#   /'; fi
# Another thread count and batch size: the same bits (each patch runs
# through the network on its own, whatever its batch).
export AEDCURATE_DB=$T/other.db
check "one thread, batches of 3" $AED embed --threads 1 --batch 3 --json
for k in embedding scores; do $PY "$ROOT/tests/py/array_digest.py" "$T/other.db" $k; done >"$T/other"
if cmp -s "$T/expect" "$T/other"; then ok "--threads 1 --batch 3 stores what --threads 2 --batch 8 stores"
else not_ok "results depend on threads or batch size"; diff "$T/expect" "$T/other" | head -10 | sed 's/^/#   /'; fi
check_fail "an unknown backend is refused" $AED embed --backend nosuch
check_grep "naming it" "no backend named .nosuch." "$T/err"
done_testing
