#!/bin/sh
# t0211-segments-bad.sh - hostile segment lists: every bad row is reported as
# FILE:LINE: reason, skipped and counted by default; --strict aborts and
# leaves the database byte-for-byte as it was.
. "$(dirname "$0")/../lib/testlib.sh"
need_shared "$AUDIOSET/ontology.json"
D=$ROOT/tests/data/segments

dump() { sqlite3 "$AEDCURATE_DB" .dump | sha256sum; }

check "init" $AED init
check_fail "no ontology yet: refused" $AED segments ingest "$D/small.csv"
check_grep "says to ingest the ontology first" 'ontology' "$T/err"
check "ontology ingest" $AED ontology ingest "$AUDIOSET/ontology.json"
check "small.csv ingests" $AED segments ingest "$D/small.csv" --split train
check_eq "5 segments, 8 labels" "5|8" "$(sql 'SELECT (SELECT count(*) FROM segment), (SELECT count(*) FROM label)')"
check_eq "fractional times in ms" "5500|15500" "$(sql "SELECT start_ms, end_ms FROM segment WHERE key='aaaaaaaaaa3_5500'")"

# Default mode: skip, count, report every bad row with its line.
check "bad.csv: bad rows skipped" $AED segments ingest "$D/bad.csv" --split train --json
cat >"$T/expect" <<EOX
$D/bad.csv:4: expected 4 fields (YTID, start, end, "labels"), got 3
$D/bad.csv:5: start: not a number 'nan'
$D/bad.csv:6: start: negative time '-5.000'
$D/bad.csv:7: end 10.000 is not after start 20.000
$D/bad.csv:8: end 10.000 is not after start 10.000
$D/bad.csv:9: unknown class '/m/notamid'
$D/bad.csv:10: segment good0000001_0 appears twice in this file
$D/bad.csv:11: quote left open
$D/bad.csv:13: start: not a number 'inf'
$D/bad.csv:14: bad YTID 'bad id!'
$D/bad.csv:15: no labels
EOX
if cmp -s "$T/expect" "$T/err"; then ok "each bad row reported with file:line and reason"; else not_ok "messages differ: $(diff "$T/expect" "$T/err" | head -6)"; fi
$PY -c 'import json,sys; j=json.load(sys.stdin); print(j["rows"], j["ingested"], j["bad"], " ".join("%s=%d" % kv for kv in sorted(j["bad_by_reason"].items())))' <"$T/out" >"$T/sum"
check_eq "--json summary counts bad rows by reason" \
	"13 2 11 class=2 duplicate=1 fields=1 id=1 range=2 syntax=1 time=3" "$(cat "$T/sum")"
check_eq "only the two good rows were added" "good0000001_0 good0000002_0" \
	"$(sql "SELECT key FROM segment WHERE key LIKE 'good%' ORDER BY key" | tr '\n' ' ' | sed 's/ $//')"
check_eq "the good row's label is its own" "/m/09x0r" \
	"$(sql "SELECT c.mid FROM label l JOIN class c ON c.id=l.class_id JOIN segment s ON s.id=l.segment_id WHERE s.key='good0000001_0'")"
check_eq "segment_source counts bad rows" "13|11" "$(sql "SELECT n_rows, n_bad FROM segment_source ORDER BY id DESC LIMIT 1")"

check "--max-errors 3" $AED segments ingest "$D/bad.csv" --max-errors 3
check_eq "3 messages then a count" 4 "$(wc -l <"$T/err")"
check_grep "... and 8 more" '^\.\.\. and 8 more bad rows$' "$T/err"
check_grep "human summary names the reasons" 'bad rows by reason: syntax 1 fields 1 time 3 range 2 id 1 class 2 duplicate 1' "$T/out"

# --strict: the first bad row aborts; the database is untouched.
before=$(dump)
check_fail "--strict bad.csv fails" $AED segments ingest "$D/bad.csv" --strict --split x
check_grep "--strict names the first bad line" "bad.csv:4: expected 4 fields" "$T/err"
check_eq "--strict: database unchanged" "$before" "$(dump)"

strict_case() { # NAME EXPECTED-REGEX: $T/h.csv must fail with that message, db untouched
	check_fail "--strict $1: refused" $AED segments ingest "$T/h.csv" --strict --split hostile
	check_grep "--strict $1: message '$2'" "$2" "$T/err"
	check_eq "--strict $1: database unchanged" "$before" "$(dump)"
}
hdr='# YTID, start_seconds, end_seconds, positive_labels'
printf '%s\nokrow000001, 0.000, 10.000, "/m/09x0r"\nthreefields, 0.000, 10.000\n' "$hdr" >"$T/h.csv"
strict_case "3 fields" 'h\.csv:3: expected 4 fields'
printf '%s\nnantime0001, NaN, 10.000, "/m/09x0r"\n' "$hdr" >"$T/h.csv"
strict_case "NaN time" "h\\.csv:2: start: not a number 'NaN'"
printf '%s\nnantime0001, 0.000, 1e3, "/m/09x0r"\n' "$hdr" >"$T/h.csv"
strict_case "exponent time" "h\\.csv:2: end: not a number '1e3'"
printf '%s\nokrow000001, 0.000, 10.000, "/m/09x0r"\nopenquote01, 0.000, 10.000, "/m/09x0r,/m/04rlf\nokrow000002, 0.000, 10.000, "/m/09x0r"\n' "$hdr" >"$T/h.csv"
strict_case "open quote" 'h\.csv:3: quote left open'
printf '%s\nunknown0001, 0.000, 10.000, "/m/09x0r,/m/00000zz"\n' "$hdr" >"$T/h.csv"
strict_case "unknown mid" "h\\.csv:2: unknown class '/m/00000zz'"
printf '%s\nokrow000001, 0.000, 10.000, "/m/09x0r"\nokrow000001, 0.000, 10.000, "/m/09x0r"\n' "$hdr" >"$T/h.csv"
strict_case "duplicate segment" 'h\.csv:3: segment okrow000001_0 appears twice'
printf '%s\nbackwards01, 10.000, 9.999, "/m/09x0r"\n' "$hdr" >"$T/h.csv"
strict_case "end before start" 'h\.csv:2: end 9\.999 is not after start 10\.000'
printf '%s\nnulbyte0001, 0.000, 10.000, "/m/09\0x0r"\n' "$hdr" >"$T/h.csv"
strict_case "NUL byte" 'h\.csv:2: NUL byte'
printf '%s\naaaaaaaaaa1, 0.000, 9.000, "/m/09x0r"\n' "$hdr" >"$T/h.csv"
before=$(dump)
strict_case "conflicting end" 'h\.csv:2: segment aaaaaaaaaa1_0 is stored with end 10\.000 s'
# A single line of 8 MiB (one huge label list) between two good rows.
$PY - "$T/h.csv" <<'PY'
import sys
with open(sys.argv[1], "w") as f:
    f.write("# YTID, start_seconds, end_seconds, positive_labels\n")
    f.write('hugeok00001, 0.000, 10.000, "/m/09x0r"\n')
    f.write('hugeline001, 0.000, 10.000, "' + ",".join(["/m/09x0r"] * (8 << 17)) + '"\n')
    f.write('hugeok00002, 0.000, 10.000, "/m/04rlf"\n')
PY
strict_case "8 MiB line" 'h\.csv:3: line longer than 1 MiB'
check "8 MiB line: default mode skips that line only" $AED segments ingest "$T/h.csv"
check_grep "8 MiB line reported" 'h\.csv:3: line longer than 1 MiB' "$T/err"
check_eq "rows around the huge line are ingested" 2 "$(sql "SELECT count(*) FROM segment WHERE key LIKE 'hugeok%'")"

# CRLF line ends and a byte order mark are accepted.
printf '\357\273\277# comment\r\nwindows0001, 1.000, 2.500, "/m/09x0r,/m/04rlf"\r\nwindows0002, 3, 4, "/m/04rlf"\r\n' >"$T/crlf.csv"
check "CRLF + BOM file ingests" $AED segments ingest "$T/crlf.csv" --strict
check_eq "CRLF: values exact" "windows0001_1000|1000|2500|2" \
	"$(sql "SELECT key, start_ms, end_ms, (SELECT count(*) FROM label WHERE segment_id=segment.id) FROM segment WHERE key='windows0001_1000'")"

# Files that are not segment lists at all.
: >"$T/empty.csv"
check_fail "empty file refused" $AED segments ingest "$T/empty.csv"
check_grep "says empty" 'empty\.csv: empty file' "$T/err"
printf '# only comments\n# here\n' >"$T/comments.csv"
check_fail "comments only: no data rows" $AED segments ingest "$T/comments.csv"
check_grep "says no data rows" 'comments\.csv: no data rows' "$T/err"
printf 'hello world\nthis is prose\n' >"$T/prose.txt"
check_fail "prose: format not recognised" $AED segments ingest "$T/prose.txt"
check_grep "suggests --format" 'use --format' "$T/err"
check_fail "missing file" $AED segments ingest "$T/nope.csv"
check_grep "names the missing file" 'nope\.csv' "$T/err"
check_fail "--format bogus" $AED segments ingest "$D/small.csv" --format bogus
check_fail "--columns with --format csv" $AED segments ingest "$D/small.csv" --format csv --columns path=x

# Strong and manifest parsers report lines too.
check "strong_bad.tsv" $AED segments ingest "$D/strong_bad.tsv"
cat >"$T/expect" <<EOX
$D/strong_bad.tsv:3: same row as line 2
$D/strong_bad.tsv:4: bad segment_id 'nosuffix' (want YTID_STARTMS)
$D/strong_bad.tsv:5: start: not a number 'NaN'
$D/strong_bad.tsv:6: end 1.0 is not after start 2.0
$D/strong_bad.tsv:7: unknown class '/m/xyz'
$D/strong_bad.tsv:8: expected 4 tab-separated fields (segment_id, start, end, label), got 3
EOX
if cmp -s "$T/expect" "$T/err"; then ok "strong TSV: each bad row with its line"; else not_ok "strong messages differ: $(diff "$T/expect" "$T/err" | head -6)"; fi
check "manifest_bad.csv" $AED segments ingest "$D/manifest_bad.csv"
cat >"$T/expect" <<EOX
$D/manifest_bad.csv:3: start: not a number 'abc'
$D/manifest_bad.csv:4: end 2000 ms is not after start 5000 ms
$D/manifest_bad.csv:5: unknown class 'Not A Class'
$D/manifest_bad.csv:6: segment a_0 appears twice in this file
$D/manifest_bad.csv:7: expected 4 fields as in the header, got 2
EOX
if cmp -s "$T/expect" "$T/err"; then ok "manifest: each bad row with its line"; else not_ok "manifest messages differ: $(diff "$T/expect" "$T/err" | head -6)"; fi

# A list whose file name is not UTF-8: the run still records its params as
# valid JSON, the odd byte as U+FFFD.
odd=$(printf '%s/odd-\377.csv' "$T")
cp "$D/small.csv" "$odd"
check "a file name that is not UTF-8 ingests" $AED segments ingest "$odd" --split odd
check_eq "its run's params are valid JSON, the byte replaced" "1|1" \
	"$(sql "SELECT json_valid(params), json_extract(params, '\$.source') = '$T/odd-' || char(65533) || '.csv' FROM run WHERE stage = 'segments' ORDER BY id DESC LIMIT 1")"

# status shows a run whose message is not UTF-8 (an error about such a
# file), in text and in JSON.
sql "INSERT INTO run(stage, params, started_at, ended_at, outcome, message, host, pid, pid_start) VALUES('segments', '{}', '2026-12-05T00:00:00Z', '2026-12-05T00:00:01Z', 'failed', CAST(X'6F64642DFF2E637376' AS TEXT), 'h', 1, 1)"
check "status" $AED status
check_grep "lists the run with that message" "segments .*failed .*odd-" "$T/out"
check "status --json" $AED status --json
cp "$T/out" "$T/status.json"
check "its JSON parses, the byte as U+FFFD" "$PY" -c "import json, sys; j = json.load(open(sys.argv[1])); assert j['recent_runs'][0]['message'] == 'odd-\ufffd.csv', j['recent_runs'][0]" "$T/status.json"

done_testing
