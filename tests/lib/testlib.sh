# testlib.sh - sourced by every tests/cli/t*.sh script.
#
#   . "$(dirname "$0")/../lib/testlib.sh"
#   check "ingest accepts the real ontology" $AED ontology ingest "$AUDIOSET/ontology.json"
#   check_fail "a cycle is refused" $AED ontology ingest "$T/cycle.json"
#   check_grep "error names the cycle" 'cycle' "$T/err"
#   ok "some condition" ; not_ok "why"
#   done_testing
#
# Each check prints "ok - what" or "not ok - what"; tests/run.sh counts them.
# $T is a fresh temporary directory removed at exit; $AEDCURATE_DB points into
# it so tests never touch ./aedcurate.db. Command output goes to $T/out and
# $T/err (the last command's stdout and stderr).
set -u
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
AED=${AEDCURATE_BIN:-$ROOT/bin/aedcurate}
case $AED in /*) ;; *) AED=$ROOT/$AED ;; esac
SHARED=${AEDCURATE_SHARED:-$ROOT/../shared}
AUDIOSET=$SHARED/data/audioset
PY=/usr/bin/python3
T=$(mktemp -d "${TMPDIR:-/tmp}/aedtest.XXXXXX")
export AEDCURATE_DB=$T/test.db
export AEDCURATE_QUIET_PROGRESS=1
_n_ok=0
_n_fail=0
_cleanup() { [ -n "${KEEP_TMP:-}" ] || rm -rf "$T"; for p in ${_bg_pids:-}; do kill "$p" 2>/dev/null; done; }
trap _cleanup EXIT

ok() { _n_ok=$((_n_ok + 1)); echo "ok - $1"; }
not_ok() {
	_n_fail=$((_n_fail + 1)); echo "not ok - $1"
	if [ -s "$T/err" ]; then sed 's/^/#   stderr: /' "$T/err" | tail -n 15; fi
}
# check DESC CMD...: CMD must exit 0.
check() {
	_d=$1; shift
	if "$@" >"$T/out" 2>"$T/err"; then ok "$_d"; else not_ok "$_d (exit $?)"; fi
}
# check_fail DESC CMD...: CMD must exit non-zero (and not crash with a signal).
check_fail() {
	_d=$1; shift
	"$@" >"$T/out" 2>"$T/err"; _rc=$?
	if [ $_rc -ne 0 ] && [ $_rc -lt 128 ]; then ok "$_d"; else not_ok "$_d (exit $_rc)"; fi
}
# check_grep DESC PATTERN FILE: extended regex must match a line of FILE.
check_grep() {
	if grep -Eq -- "$2" "$3"; then ok "$1"; else not_ok "$1 (no /$2/ in $(basename "$3"))"; fi
}
# check_eq DESC EXPECTED ACTUAL
check_eq() {
	if [ "$2" = "$3" ]; then ok "$1"; else not_ok "$1 (expected '$2', got '$3')"; return 1; fi
}
# sql QUERY: print the result of a query on $AEDCURATE_DB.
sql() { sqlite3 -batch -noheader "$AEDCURATE_DB" "$1"; }
# skip_all REASON: skip the whole script; tests/run.sh reports and counts it.
skip_all() { echo "# skip: $*"; echo "skipped"; exit 0; }
# skip_part REASON: note a part of the script not run (counted as a skip).
skip_part() { echo "# skip: $*"; }
# shared_part_missing REASON: a part that needs shared data cannot run: a skip,
# or under CI (which always has the data) a failure.
shared_part_missing() { if [ -n "${CI:-}" ]; then not_ok "$* (CI needs the shared data)"; else skip_part "$*"; fi; }
# need_shared PATH...: skip the whole script when shared data is absent; under
# CI (CI=true), which always has ../shared, a missing file is a failure.
need_shared() {
	for _p in "$@"; do
		[ -e "$_p" ] && continue
		if [ -n "${CI:-}" ]; then
			echo "not ok - $_p not present: CI needs the shared data (AEDCURATE_SHARED=${AEDCURATE_SHARED:-unset})"
			exit 1
		fi
		skip_all "$_p not present (set AEDCURATE_SHARED)"
	done
}
# start_httpd MODE...: start tests/lib/httpd.py on 127.0.0.1; sets $HTTP_PORT.
start_httpd() {
	"$PY" "$ROOT/tests/lib/httpd.py" --root "$T" --port-file "$T/port" "$@" >"$T/httpd.log" 2>&1 &
	_bg_pids="${_bg_pids:-} $!"
	for _i in $(seq 1 100); do [ -s "$T/port" ] && break; sleep 0.05; done
	HTTP_PORT=$(cat "$T/port")
}
done_testing() {
	echo "# $(basename "$0"): $_n_ok passed, $_n_fail failed"
	[ "$_n_fail" -eq 0 ]
}
