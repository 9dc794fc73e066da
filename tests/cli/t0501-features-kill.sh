#!/bin/sh
# t0501-features-kill.sh - kill -9 in the middle of features, rerun: the work
# counts and every stored log-mel's bytes equal a clean run's.
. "$(dirname "$0")/../lib/testlib.sh"
US=$SHARED/data/audio/urbansound8k
need_shared "$US/manifest.csv"
N=600
head -n $((N + 1)) "$US/manifest.csv" | sed "s#^fold#$US/fold#" >"$T/manifest.csv"
export AEDCURATE_DB=$T/clean.db
check "init" $AED init
check "ontology" $AED ontology ingest "$AUDIOSET/ontology.json"
check "segments" $AED segments ingest --columns path=file,labels=audioset_mid,group=fsID "$T/manifest.csv"
sql "INSERT INTO media(segment_id, status, path, whole_video) SELECT id, 'ok', path, 0 FROM segment"
check "decode" $AED decode --json
check_grep "decoded" "\"done\": $N, \"failed\": 0" "$T/out"
sql "PRAGMA wal_checkpoint(TRUNCATE)" >/dev/null
cp "$T/clean.db" "$T/killed.db"
cp -r "$T/clean.db.arrays" "$T/killed.db.arrays"
state() {
	sql "SELECT state, count(*) FROM work WHERE stage = 'features_yamnet' GROUP BY 1 ORDER BY 1"
	"$PY" "$ROOT/tests/py/array_digest.py" "$AEDCURATE_DB" logmel_yamnet
}

check "clean run" $AED features --threads 2 --json
check_grep "clean: all done" "\"done\": $N, \"failed\": 0" "$T/out"
state >"$T/expect"

export AEDCURATE_DB=$T/killed.db
$AED features --threads 2 --batch 8 >"$T/killed.out" 2>&1 &
pid=$!
i=0
while [ $i -lt 1000 ]; do
	d=$(sql "SELECT count(*) FROM work WHERE stage = 'features_yamnet' AND state = 'done'" 2>/dev/null)
	[ "${d:-0}" -ge 40 ] && break
	sleep 0.01; i=$((i + 1))
done
kill -9 $pid
wait $pid 2>/dev/null
d=$(sql "SELECT count(*) FROM work WHERE stage = 'features_yamnet' AND state = 'done'")
if [ "$d" -gt 0 ] && [ "$d" -lt $N ]; then ok "killed mid-run ($d of $N done)"; else not_ok "the kill missed the run ($d done)"; fi
check "rerun" $AED features --threads 2 --json
state >"$T/actual"
if cmp -s "$T/expect" "$T/actual"; then ok "counts and log-mel bytes equal the clean run's"
else not_ok "the resumed store differs"; diff "$T/expect" "$T/actual" | head -20 | sed 's/^/#   /'; fi
check_eq "one log-mel per clip" "$N" "$(sql "SELECT count(*) FROM array_ref WHERE kind = 'logmel_yamnet'")"
check_eq "no claims left" 0 "$(sql "SELECT count(*) FROM work WHERE state = 'claimed'")"
done_testing
