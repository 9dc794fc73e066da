#!/bin/sh
# t0303-fetch-kill.sh - kill -9 in the middle of a fetch of many slow
# downloads, then rerun: the partial .part files are resumed with Range and the
# final media table equals that of a clean, uninterrupted run.
. "$(dirname "$0")/../lib/testlib.sh"

N=12
mk_db() {
	check "init $1" $AED init
	check "ontology $1" $AED ontology ingest "$T/onto.json"
	check "segments $1" $AED segments ingest "$T/segs.csv"
}
echo '[{"id": "/m/09x0r", "name": "Speech", "description": "", "citation_uri": "",
  "positive_examples": [], "child_ids": [], "restrictions": []}]' >"$T/onto.json"
printf '# kill\n#\n# YTID, start_seconds, end_seconds, positive_labels\n' >"$T/segs.csv"
mkdir -p "$T/d"
i=1
while [ $i -le $N ]; do
	echo "vid$i, $i.000, $((i + 10)).000, \"/m/09x0r\"" >>"$T/segs.csv"
	head -c 12000 /dev/urandom >"$T/d/vid${i}_${i}000.flac"
	i=$((i + 1))
done
start_httpd
U=http://127.0.0.1:$HTTP_PORT
# wait_for CMD...: poll (0.1 s) until CMD succeeds, at most 20 s.
wait_for() {
	_w=0
	while ! "$@" 2>/dev/null; do
		_w=$((_w + 1)); [ $_w -gt 200 ] && return 1; sleep 0.1
	done
}
# a .part under 6 KiB of its 12 KB: at least half a second of download left,
# so on a loaded machine the kill still lands before it completes
has_part() { [ -n "$(find "$1" -name '*.part' -size +0 -size -6k 2>/dev/null | head -1)" ]; }
n_final() { [ "$(find "$1" -name '*.flac' 2>/dev/null | wc -l)" -ge "$2" ]; }
table() { sql "SELECT s.key, m.status, m.whole_video, m.size, m.sha256, replace(m.path, rtrim(m.path, replace(m.path, '/', '')), '')
               FROM media m JOIN segment s ON s.id = m.segment_id ORDER BY s.key"; }

# The reference: a clean run.
export AEDCURATE_DB=$T/clean.db
mk_db clean
check "clean run" $AED fetch --json --url "$U/files/d/{key}.flac"
check_grep "all ok" "\"ok\": $N, \"unavailable\": 0, \"failed\": 0" "$T/out"
table >"$T/expect"

# 12 KB at 12 KB/s each, 4 at a time: about 3 s in all; killed once the
# first files are complete and others are partial.
export AEDCURATE_DB=$T/killed.db
mk_db killed
$AED fetch --jobs 4 --url "$U/slow/12000/d/{key}.flac" >"$T/killed.out" 2>&1 &
pid=$!
wait_for n_final "$T/killed.db.media" 2 && wait_for has_part "$T/killed.db.media"
kill -9 $pid
wait $pid 2>/dev/null
check_eq "the run was left running" "running" "$(sql "SELECT outcome FROM run WHERE stage = 'fetch'")"
nparts=$(find "$T/killed.db.media" -name '*.part' -size +0 | wc -l | tr -d ' ')
if [ "$nparts" -gt 0 ]; then ok "partial downloads left ($nparts)"; else not_ok "no partial downloads to resume"; fi
before=$(sql "SELECT count(*) FROM media")
if [ "$before" -lt $N ]; then ok "not all recorded yet ($before)"; else not_ok "the kill came too late"; fi

check "rerun" $AED fetch --jobs 4 --json --url "$U/slow/12000/d/{key}.flac"
check_eq "the killed run is marked interrupted" "interrupted" \
	"$(sql "SELECT outcome FROM run WHERE stage = 'fetch' ORDER BY id LIMIT 1")"
check_grep "partial files resumed with Range" "GET /slow/12000/d/vid[0-9]+_[0-9]+\.flac range=bytes=[1-9][0-9]*- status=206" "$T/httpd.log"
table >"$T/actual"
if cmp -s "$T/expect" "$T/actual"; then ok "same media table as the clean run"
else not_ok "media tables differ"; diff "$T/expect" "$T/actual" | sed 's/^/#   /' | head -20; fi
check_eq "one row per segment" "$N|$N" "$(sql "SELECT count(*), count(DISTINCT segment_id) FROM media")"
check_eq "all work done, nothing claimed" "$N" "$(sql "SELECT count(*) FROM work WHERE stage = 'fetch' AND state = 'done'")"
check_eq "no .part left" 0 "$(find "$T/killed.db.media" -name '*.part' | wc -l | tr -d ' ')"
check "a third run has nothing to do" $AED fetch --json --url "$U/slow/12000/d/{key}.flac"
check_grep "nothing" '"processed": 0' "$T/out"

# SIGTERM stops cleanly: what finished is kept, claims go back, commands die.
export AEDCURATE_DB=$T/term.db
mk_db term
$AED fetch --jobs 2 --url "$U/slow/12000/d/{key}.flac" >"$T/term.out" 2>&1 &
pid=$!
wait_for n_final "$T/term.db.media" 2
kill -TERM $pid
wait $pid; rc=$?
check_eq "exits 1 (not by the signal)" 1 "$rc"
check_grep "says it was interrupted" "interrupted" "$T/term.out"
check_eq "run marked interrupted" "interrupted" "$(sql "SELECT outcome FROM run WHERE stage = 'fetch'")"
check_eq "no claims left" 0 "$(sql "SELECT count(*) FROM work WHERE stage = 'fetch' AND state = 'claimed'")"
done1=$(sql "SELECT count(*) FROM media WHERE status = 'ok'")
if [ "$done1" -ge 2 ]; then ok "finished downloads were recorded ($done1)"; else not_ok "finished downloads lost ($done1)"; fi

export AEDCURATE_DB=$T/termcmd.db
mk_db termcmd
$AED fetch --jobs 2 --cmd "sleep 30; touch $T/cmd-survived-{ytid}; : {out}" >"$T/term.out" 2>&1 &
pid=$!
wait_for pgrep -f "$T/cmd-survived-'" >/dev/null
kill -TERM $pid
wait $pid
sleep 0.3
check_eq "commands killed with the stage" "" "$(pgrep -f "$T/cmd-survived-'" || true)"
check_eq "run marked interrupted" "interrupted" "$(sql "SELECT outcome FROM run WHERE stage = 'fetch'")"
done_testing
