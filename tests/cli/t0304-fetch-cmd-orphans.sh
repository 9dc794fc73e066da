#!/bin/sh
# t0304-fetch-cmd-orphans.sh - fetch --cmd after kill -9: a command's own
# children (not just the shell the stage started) die before the item is
# retried, so a leftover of the killed run cannot write the rerun's output;
# a command that leaves a child behind when it exits has that child killed too.
. "$(dirname "$0")/../lib/testlib.sh"

check "init" $AED init
echo '[{"id": "/m/09x0r", "name": "Speech", "description": "", "citation_uri": "",
  "positive_examples": [], "child_ids": [], "restrictions": []}]' >"$T/onto.json"
check "ontology ingest" $AED ontology ingest "$T/onto.json"
printf '# o\n#\n# YTID, start_seconds, end_seconds, positive_labels\nv1, 1.000, 11.000, "/m/09x0r"\n' >"$T/o.csv"
check "segments" $AED segments ingest --split o "$T/o.csv"
printf '# p\n#\n# YTID, start_seconds, end_seconds, positive_labels\nv2, 1.000, 11.000, "/m/09x0r"\n' >"$T/p.csv"
check "segments" $AED segments ingest --split p "$T/p.csv"
echo "the right audio" >"$T/right.opus"
echo "some other audio" >"$T/other.opus"
sha() { sha256sum <"$1" | cut -d' ' -f1; }
# wait_for CMD...: poll (0.1 s) until CMD succeeds, at most 30 s.
wait_for() {
	_w=0
	while ! "$@" 2>/dev/null; do
		_w=$((_w + 1)); [ $_w -gt 300 ] && return 1; sleep 0.1
	done
}
# alive PID: the process exists and is not a zombie.
alive() {
	_s=$(ps -o stat= -p "$1" 2>/dev/null) || return 1
	case $_s in Z*|"") return 1 ;; esac
}

# The killed run's command starts a grandchild (a shell of its own, not the
# one the stage started) that writes {out} once told to: it stands for a
# download tool still running after the stage died.
cat >"$T/grandchild.sh" <<EOF
echo \$\$ >"$T/gc.pid.tmp" && mv "$T/gc.pid.tmp" "$T/gc.pid"
while [ ! -e "$T/go" ]; do sleep 0.05; done
cp "$T/other.opus" "\$1"
touch "$T/gc-wrote"
EOF
# The rerun's command: if the grandchild still lives, let it write first (the
# race the kill lost), then write the right file as {out}.opus, the way a
# tool that adds its own extension does; {out} itself would win over it.
cat >"$T/rerun.sh" <<EOF
gc=\$(cat "$T/gc.pid")
if [ -n "\$(ps -o stat= -p "\$gc" | grep -v '^Z')" ]; then
	touch "$T/go"
	n=0
	while [ ! -e "$T/gc-wrote" ] && [ \$n -lt 200 ]; do sleep 0.05; n=\$((n + 1)); done
fi
cp "$T/right.opus" "\$1.opus"
EOF

$AED fetch --split o --cmd "sh $T/grandchild.sh {out}; :" >"$T/killed.out" 2>&1 &
pid=$!
wait_for test -s "$T/gc.pid"
gc=$(cat "$T/gc.pid")
_bg_pids="${_bg_pids:-} $gc"
kill -9 $pid
wait $pid 2>/dev/null
check_eq "the run was left running" "running" "$(sql "SELECT outcome FROM run WHERE stage = 'fetch'")"

check "rerun" $AED fetch --split o --json --cmd "sh $T/rerun.sh {out}"
check_grep "ok" '"ok": 1, "unavailable": 0, "failed": 0' "$T/out"
check_eq "the killed run is marked interrupted" "interrupted" \
	"$(sql "SELECT outcome FROM run WHERE stage = 'fetch' ORDER BY id LIMIT 1")"
if alive "$gc"; then not_ok "the killed run's grandchild was killed"; else ok "the killed run's grandchild was killed"; fi
check_eq "the stored sha256 is the right file's" "$(sha "$T/right.opus")" \
	"$(sql "SELECT sha256 FROM media m JOIN segment s ON s.id = m.segment_id WHERE s.ytid = 'v1'")"
p=$(sql "SELECT m.path FROM media m JOIN segment s ON s.id = m.segment_id WHERE s.ytid = 'v1'")
# Told to write now, the grandchild cannot: it is gone. (A live one writes
# within 0.05 s of "go"; a negative can only be waited for, so 1 s.)
touch "$T/go"
sleep 1
if [ -e "$T/gc-wrote" ]; then not_ok "the grandchild wrote after the kill"; else ok "the grandchild never wrote"; fi
check_eq "the file is the right one" "the right audio" "$(cat "$p")"
check_eq "no temporary folders left" "" "$(find "$T/test.db.media" -name '.cmd-*')"

# Within a run: a command that exits leaving a child behind has its group
# killed before the output is taken.
rm -f "$T/go" "$T/gc-wrote" "$T/gc.pid"
check "a command that leaves a child" $AED fetch --split p --json \
	--cmd "(sh $T/grandchild.sh {out} &); while [ ! -s $T/gc.pid ]; do sleep 0.05; done; cp $T/right.opus {out}.opus"
check_grep "ok" '"ok": 1, "unavailable": 0, "failed": 0' "$T/out"
gc=$(cat "$T/gc.pid")
_bg_pids="${_bg_pids:-} $gc"
if alive "$gc"; then not_ok "the left-behind child was killed"; else ok "the left-behind child was killed"; fi
check_eq "the stored sha256 is the right file's" "$(sha "$T/right.opus")" \
	"$(sql "SELECT sha256 FROM media m JOIN segment s ON s.id = m.segment_id WHERE s.ytid = 'v2'")"
done_testing
