#!/bin/sh
# t0012-store-readonly.sh - a database in a folder this user cannot write:
# status reads it (immutable when no writer shares a -shm; through the
# writer's -shm when one has it open), a -wal without its -shm and every
# writing command are refused with a message naming the folder. status reaps
# a killed run when it can write, and shows it dead without writing when not.
# Runs the read-only user as nobody (setpriv), so it needs root.
. "$(dirname "$0")/../lib/testlib.sh"
if [ "$(id -u)" != 0 ] || ! command -v setpriv >/dev/null; then
	skip_all "needs root and setpriv to run as nobody"
fi
as_nobody() { setpriv --reuid=nobody --regid=nogroup --clear-groups "$@"; }
if ! as_nobody $AED --help >/dev/null 2>&1; then
	skip_all "nobody cannot run $AED (a folder above it is private)"
fi
chmod 711 "$T"
D=$T/ro
mkdir "$D"
export AEDCURATE_DB=$D/x.db
check "init" $AED init
# A run killed with a claim: its pid is gone (and its start time is wrong).
sh -c 'exit 0' & dead=$!; wait $dead
sql "INSERT INTO segment(id, key, ytid, start_ms, end_ms, source_group, shard) VALUES(1, 'k_0', 'k', 0, 1000, 'g', 0);
     INSERT INTO run(id, stage, started_at, host, pid, pid_start) VALUES(7, 'decode', '2026-01-01T00:00:00Z', '$(uname -n)', $dead, 1);
     INSERT INTO work(stage, item, state, run_id) VALUES('decode', 1, 'claimed', 7)"
cp "$D/x.db" "$T/copy.db"
mkdir "$T/old"
cp "$D/x.db" "$T/old/old.db"
sqlite3 "$T/old/old.db" "PRAGMA user_version = $(($(sql 'PRAGMA user_version') - 1))"
chmod 755 "$D" "$T/old"; chmod 644 "$D/x.db" "$T/old/old.db"
check_eq "no -wal, no -shm left" "x.db" "$(ls "$D")"
check_fail "an older schema cannot be migrated there" as_nobody $AED --db "$T/old/old.db" status
check_grep "says why it must write" "schema is older than this aedcurate's .* must be migrated once, which writes it: .*folder $T/old is not writable" "$T/err"

check "status as a user who cannot write the folder" as_nobody $AED status
check_grep "shows the killed run as dead, not running" "^7 +decode +dead \(not yet reaped\)" "$T/out"
check "status --json" as_nobody $AED status --json
cp "$T/out" "$T/s.json"
check "says dead" $PY -c 'import json,sys; d=json.load(open(sys.argv[1])); assert d["recent_runs"][0]["outcome"] == "dead", d' "$T/s.json"
check_eq "and wrote nothing" "running|claimed|x.db" "$(sql "SELECT outcome FROM run WHERE id = 7")|$(sql "SELECT state FROM work")|$(ls "$D")"
check_fail "a writing command is refused" as_nobody $AED decode
check_grep "naming the folder and the -wal/-shm files" "folder $D is not writable: SQLite keeps $D/x.db-wal and $D/x.db-shm" "$T/err"

# A writer has the database open: the reader shares its -shm (read-only).
rm -f "$T/ready"
$PY - "$D/x.db" "$T/ready" "$T/stop" <<'PYEOF' &
import os, sqlite3, sys, time
c = sqlite3.connect(sys.argv[1], isolation_level=None)
c.execute("PRAGMA wal_autocheckpoint = 0")
c.execute("INSERT INTO segment(id, key, ytid, start_ms, end_ms, source_group, shard) VALUES(2, 'w_0', 'w', 0, 1000, 'g', 0)")
open(sys.argv[2], "w").close()
for _ in range(1200):
    if os.path.exists(sys.argv[3]): break
    time.sleep(0.05)
PYEOF
writer=$!
_bg_pids="${_bg_pids:-} $writer"
for i in $(seq 1 200); do [ -e "$T/ready" ] && break; sleep 0.05; done
check "status while a writer has it open" as_nobody $AED status --json
cp "$T/out" "$T/s.json"
check "sees the writer's committed row" $PY -c 'import json,sys; d=json.load(open(sys.argv[1])); assert d["totals"]["segments"] == 2, d' "$T/s.json"
# A -wal whose -shm is gone cannot be read without writing the folder.
mkdir "$T/nowal"
cp "$D/x.db" "$D/x.db-wal" "$T/nowal/"
chmod 755 "$T/nowal"; chmod 644 "$T/nowal/"*
touch "$T/stop"; wait $writer
check_fail "a -wal without its -shm" as_nobody $AED --db "$T/nowal/x.db" status
check_grep "says the folder must be writable" "x.db-wal holds changes.*-shm.*cannot create in a folder" "$T/err"

# Who can write reaps it, with status as with any stage.
export AEDCURATE_DB=$T/copy.db
check "status as the owner" $AED status --json
check_eq "the killed run is interrupted, its claim pending" "interrupted|pending" \
	"$(sql "SELECT outcome FROM run WHERE id = 7")|$(sql "SELECT state FROM work")"
check "status text" $AED status
check_grep "lists it interrupted" "^7 +decode +interrupted" "$T/out"
done_testing
