#!/bin/sh
# t0305-fetch-norange.sh - resuming a .part against a server that ignores
# Range (answers 200 with the whole file): the .part starts over and the
# item completes, on a plain rerun, with --retry-failed and with --redo.
. "$(dirname "$0")/../lib/testlib.sh"

check "init" $AED init
echo '[{"id": "/m/09x0r", "name": "Speech", "description": "", "citation_uri": "",
  "positive_examples": [], "child_ids": [], "restrictions": []}]' >"$T/onto.json"
check "ontology ingest" $AED ontology ingest "$T/onto.json"
for split in rerun retry redo planted; do
	printf '# %s\n#\n# YTID, start_seconds, end_seconds, positive_labels\n' "$split" >"$T/$split.csv"
	for n in 1 2; do echo "${split}$n, $((n * 10)).000, $((n * 10 + 10)).000, \"/m/09x0r\"" >>"$T/$split.csv"; done
	check "ingest $split" $AED segments ingest --split "$split" "$T/$split.csv"
done
mkdir -p "$T/d"
for k in $(sql "SELECT key FROM segment"); do head -c 40000 /dev/urandom >"$T/d/$k.flac"; done
start_httpd
U=http://127.0.0.1:$HTTP_PORT
M=$T/test.db.media
F="--backoff 0.05 --retries 0 --timeout 10 --jobs 4 --json"
sha() { sha256sum <"$1" | cut -d' ' -f1; }
row() { sql "SELECT m.status, m.size, m.sha256, coalesce(m.http_status, '') FROM media m
             JOIN segment s ON s.id = m.segment_id WHERE s.key = '$1'"; }
want() { echo "ok|40000|$(sha "$T/d/$1.flac")|200"; }
# first_attempt SPLIT: a transfer cut short at half its body, as a dropped
# connection leaves it: failed, with a 20000-byte .part.
first_attempt() {
	check "$1: first attempt cut short" $AED fetch --split "$1" $F --url "$U/truncate/d/{key}.flac"
	check_grep "$1: failed" '"ok": 0, "unavailable": 0, "failed": 2' "$T/out"
	check_eq "$1: half kept in .part" 20000 "$(wc -c <"$M/${1}1_10000.flac.part" | tr -d ' ')"
}

first_attempt rerun
check "rerun against a server that ignores Range" $AED fetch --split rerun $F --url "$U/norange/d/{key}.flac"
check_grep "both ok" '"ok": 2, "unavailable": 0, "failed": 0' "$T/out"
check_grep "asked for the rest" "GET /norange/d/rerun1_10000.flac range=bytes=20000- status=200" "$T/httpd.log"
check_eq "got the whole file, started over" "$(want rerun1_10000)" "$(row rerun1_10000)"
check_eq "the file is whole" "$(sha "$T/d/rerun1_10000.flac")" "$(sha "$M/rerun1_10000.flac")"
check_eq "one request, no second try needed" 1 "$(grep -c "GET /norange/d/rerun1_10000.flac " "$T/httpd.log")"

first_attempt retry
check "--retry-failed against a server that ignores Range" $AED fetch --split retry $F --retry-failed \
	--url "$U/norange/d/{key}.flac"
check_grep "both ok" '"ok": 2, "unavailable": 0, "failed": 0' "$T/out"
check_eq "whole" "$(want retry2_20000)" "$(row retry2_20000)"

first_attempt redo
check "--redo against a server that ignores Range" $AED fetch --split redo $F --redo \
	--url "$U/norange/d/{key}.flac"
check_grep "both ok" '"ok": 2, "unavailable": 0, "failed": 0' "$T/out"
check_eq "whole" "$(want redo1_10000)" "$(row redo1_10000)"

# A .part that is not even a prefix of the file (left by another server):
# the whole body replaces it. The size cap applies to the new body alone,
# not to the .part plus it.
head -c 30000 /dev/urandom >"$M/planted1_10000.flac.part"
head -c 41000 /dev/urandom >"$M/planted2_20000.flac.part"
check "planted .part files" $AED fetch --split planted $F --max-bytes 45000 \
	--url "$U/norange/d/{key}.flac"
check_grep "both ok" '"ok": 2, "unavailable": 0, "failed": 0' "$T/out"
check_eq "shorter .part replaced" "$(want planted1_10000)" "$(row planted1_10000)"
check_eq "longer .part replaced" "$(want planted2_20000)" "$(row planted2_20000)"
check_eq "no .part left" "" "$(find "$M" -name '*.part')"
done_testing
