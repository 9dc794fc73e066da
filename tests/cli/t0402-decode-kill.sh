#!/bin/sh
# t0402-decode-kill.sh - kill -9 in the middle of decode, rerun: the work
# counts, the clip table and every stored clip's bytes equal a clean run's.
. "$(dirname "$0")/../lib/testlib.sh"
US=$SHARED/data/audio/urbansound8k
need_shared "$US/manifest.csv"
N=600
head -n $((N + 1)) "$US/manifest.csv" >"$T/manifest.csv"
sed -i "s#^fold#$US/fold#" "$T/manifest.csv"
echo "$US/fold1/no-such-file.opus,1,dog_bark,/m/05tny_,1,0,4,1" >>"$T/manifest.csv" # one failure
mk_db() {
	export AEDCURATE_DB=$T/$1.db
	check "init $1" $AED init
	check "ontology $1" $AED ontology ingest "$AUDIOSET/ontology.json"
	check "segments $1" $AED segments ingest --columns path=file,labels=audioset_mid,group=fsID "$T/manifest.csv"
	sql "INSERT INTO media(segment_id, status, path, whole_video) SELECT id, 'ok', path, 0 FROM segment"
}
state() {
	sql "SELECT state, count(*) FROM work WHERE stage = 'decode' GROUP BY 1 ORDER BY 1"
	sql "SELECT s.key, c.n_samples, c.n_total, c.source_rate, c.channels, c.codec, c.peak, c.rms_db
	     FROM clip c JOIN segment s ON s.id = c.segment_id ORDER BY s.key"
	"$PY" "$ROOT/tests/py/array_digest.py" "$AEDCURATE_DB" clip
}

mk_db clean
check "clean run" $AED decode --threads 2 --json
check_grep "clean: all but one decoded" "\"done\": $N, \"failed\": 1" "$T/out"
state >"$T/expect"

mk_db killed
$AED decode --threads 2 >"$T/killed.out" 2>&1 &
pid=$!
i=0
while [ $i -lt 400 ]; do
	d=$(sql "SELECT count(*) FROM work WHERE stage = 'decode' AND state = 'done'" 2>/dev/null)
	[ "${d:-0}" -ge 100 ] && break
	sleep 0.05; i=$((i + 1))
done
kill -9 $pid
wait $pid 2>/dev/null
d=$(sql "SELECT count(*) FROM work WHERE stage = 'decode' AND state = 'done'")
if [ "$d" -gt 0 ] && [ "$d" -lt $N ]; then ok "killed mid-run ($d of $N done)"; else not_ok "the kill missed the run ($d done)"; fi
check_eq "the killed run is still marked running" running "$(sql "SELECT outcome FROM run WHERE stage = 'decode'")"
check "rerun" $AED decode --threads 2 --json
check_eq "the killed run is now interrupted" interrupted "$(sql "SELECT outcome FROM run WHERE stage = 'decode' ORDER BY id LIMIT 1")"
state >"$T/actual"
if cmp -s "$T/expect" "$T/actual"; then ok "counts, clip rows and clip bytes equal the clean run's"
else not_ok "the resumed store differs"; diff "$T/expect" "$T/actual" | head -20 | sed 's/^/#   /'; fi
check_eq "one array per clip, no orphans" "$N|$N" \
	"$(sql "SELECT (SELECT count(*) FROM clip), (SELECT count(*) FROM array_ref WHERE kind = 'clip')")"
done_testing
