#!/bin/sh
# t0302-fetch-cmd.sh - fetch --cmd: a small shell command writes {out}; tools
# that add their own extension; non-zero exits with their stderr tail;
# timeouts; hostile ids that try to inject shell commands; mixing sources.
. "$(dirname "$0")/../lib/testlib.sh"

check "init" $AED init
echo '[{"id": "/m/09x0r", "name": "Speech", "description": "", "citation_uri": "",
  "positive_examples": [], "child_ids": [], "restrictions": []}]' >"$T/onto.json"
check "ontology ingest" $AED ontology ingest "$T/onto.json"
for split in a b c d; do
	printf '# %s\n#\n# YTID, start_seconds, end_seconds, positive_labels\n' "$split" >"$T/$split.csv"
	for n in 1 2; do echo "${split}$n, $((n * 10)).500, $((n * 10 + 10)).000, \"/m/09x0r\"" >>"$T/$split.csv"; done
	check "ingest $split" $AED segments ingest --split "$split" "$T/$split.csv"
done
mkdir -p "$T/store"
for id in a1 a2 b1 b2 c1 c2 d1 d2; do echo "audio of $id" >"$T/store/$id.bin"; done
M=$T/test.db.media
media() { sql "SELECT m.status, m.whole_video, coalesce(m.exit_status, ''), coalesce(m.size, '')
               FROM media m JOIN segment s ON s.id = m.segment_id WHERE s.ytid = '$1'"; }

# {start} and {end} in seconds make the file the segment itself.
check "cmd writes {out}" $AED fetch --split a --json \
	--cmd "cp $T/store/{ytid}.bin {out} && echo {start}-{end} >>{out}"
check_grep "two commands, two ok" '"ok": 2, .*"commands": 2' "$T/out"
check_eq "row" "ok|0|0|20" "$(media a1)"
check_eq "file content" "audio of a1
10.5-20" "$(cat "$M/a1_10500")"
check_eq "the source is the expanded command" "cp $T/store/'a1'.bin '$M/.cmd-a1_10500/a1_10500' && echo '10.5'-'20' >>'$M/.cmd-a1_10500/a1_10500'|cmd" \
	"$(sql "SELECT source, kind FROM media m JOIN segment s ON s.id = m.segment_id WHERE s.ytid = 'a1'")"
check_eq "no temporary folders left" 0 "$(find "$M" -name '.cmd-*' | wc -l | tr -d ' ')"

# A tool that picks its own extension (yt-dlp -x writes out.opus).
check "cmd adds an extension" $AED fetch --split b --json --cmd "cp $T/store/{ytid}.bin {out}.opus"
check_eq "whole recording, by ytid" "ok|1|0|12" "$(media b1)"
check_eq "kept the extension" "$M/b1.opus" \
	"$(sql "SELECT m.path FROM media m JOIN segment s ON s.id = m.segment_id WHERE s.ytid = 'b1'")"

check "cmd fails" $AED fetch --split c --json --cmd "echo 'ERROR: {ytid} is private' >&2; exit 3; : {out}"
check_grep "failed, not aborted" '"ok": 0, "unavailable": 0, "failed": 2' "$T/out"
check_eq "exit status recorded" "failed|0|3|" "$(media c1)"
sql "SELECT error FROM media m JOIN segment s ON s.id = m.segment_id WHERE s.ytid = 'c1'" >"$T/e"
check_grep "stderr tail recorded" "command exited with status 3: ERROR: c1 is private" "$T/e"

check "cmd exits 0 without writing" $AED fetch --split c --json --cmd "true {out}"
sql "SELECT error FROM media m JOIN segment s ON s.id = m.segment_id WHERE s.ytid = 'c1'" >"$T/e"
check_grep "says so" "wrote no file" "$T/e"

check "cmd times out" $AED fetch --split d --json --cmd-timeout 1 --cmd "sleep 30; : {out}"
check_eq "timed out" "failed|0||" "$(media d1)"
sql "SELECT error FROM media m JOIN segment s ON s.id = m.segment_id WHERE s.ytid = 'd1'" >"$T/e"
check_grep "reason" "timed out after 1 s" "$T/e"

# Mixed sources: a folder first, the command for what the folder lacks.
mkdir -p "$T/local"
echo local >"$T/local/d1.wav"
check "folder then command" $AED fetch --split d --json --from "$T/local" --cmd "cp $T/store/{ytid}.bin {out}"
check_eq "d1 from the folder" "local" "$(sql "SELECT kind FROM media m JOIN segment s ON s.id = m.segment_id WHERE s.ytid = 'd1'")"
check_eq "d2 from the command" "cmd" "$(sql "SELECT kind FROM media m JOIN segment s ON s.id = m.segment_id WHERE s.ytid = 'd2'")"

# Hostile ids: every one is a single shell word; nothing runs.
mkdir -p "$T/trap"
sql "INSERT INTO segment(key, ytid, start_ms, end_ms, source_group, shard) VALUES
  ('h1_0', 'x''; touch $T/trap/semicolon; echo ''', 0, 1000, 'h', 0),
  ('h2_0', '\$(touch $T/trap/dollar)', 0, 1000, 'h', 0),
  ('h3_0', '\`touch $T/trap/backtick\`', 0, 1000, 'h', 0),
  ('h4_0', '-rf * ; > $T/trap/redirect', 0, 1000, 'h', 0),
  ('h5_0', 'a
touch $T/trap/newline', 0, 1000, 'h', 0)"
check "hostile ids" $AED fetch --json --cmd 'printf %s {ytid} >{out}'
check_eq "no command was injected" "" "$(ls "$T/trap")"
check_eq "all five ok" 5 "$(sql "SELECT count(*) FROM media m JOIN segment s ON s.id = m.segment_id WHERE s.key LIKE 'h%' AND m.status = 'ok'")"
ok_all=1
for k in h1_0 h2_0 h3_0 h4_0 h5_0; do
	p=$(sql "SELECT m.path FROM media m JOIN segment s ON s.id = m.segment_id WHERE s.key = '$k'")
	want=$(sql "SELECT ytid FROM segment WHERE key = '$k'")
	case $p in "$M"/*) ;; *) ok_all=0 ;; esac
	[ "$(cat "$p")" = "$want" ] || ok_all=0
done
if [ $ok_all = 1 ]; then ok "each wrote its exact id, inside the media folder"; else not_ok "hostile id files"; fi

check_fail "--cmd without {out}" $AED fetch --cmd "echo {ytid}"
check_grep "says so" "must write to \{out\}" "$T/err"
done_testing
