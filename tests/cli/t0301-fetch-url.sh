#!/bin/sh
# t0301-fetch-url.sh - fetch --url against tests/lib/httpd.py on 127.0.0.1:
# plain files, flaky 500s (retried), 404 (unavailable, not retried), 503
# forever, stalls, truncated bodies and wrong lengths (failed, then resumed with
# Range on a rerun), the size cap, shared whole-recording downloads, hostile ids.
. "$(dirname "$0")/../lib/testlib.sh"

check "init" $AED init
echo '[{"id": "/m/09x0r", "name": "Speech", "description": "", "citation_uri": "",
  "positive_examples": [], "child_ids": [], "restrictions": []}]' >"$T/onto.json"
check "ontology ingest" $AED ontology ingest "$T/onto.json"
# One split per server behaviour, so each fetch run looks at its own segments.
i=0
for split in ok flaky missing down stall trunc badlen big whole; do
	i=$((i + 1))
	printf '# %s\n#\n# YTID, start_seconds, end_seconds, positive_labels\n' "$split" >"$T/$split.csv"
	for n in 1 2; do
		echo "${split}$n, $((n * 10)).000, $((n * 10 + 10)).000, \"/m/09x0r\"" >>"$T/$split.csv"
	done
	check "ingest $split" $AED segments ingest --split "$split" "$T/$split.csv"
done
# the whole split: both segments come from one recording
printf '# w\n#\n# YTID, start_seconds, end_seconds, positive_labels\nrec, 0.000, 10.000, "/m/09x0r"\nrec, 20.000, 30.000, "/m/09x0r"\n' >"$T/w.csv"
check "ingest whole" $AED segments ingest --split whole2 "$T/w.csv"
mkdir -p "$T/d"
for k in $(sql "SELECT key FROM segment"); do head -c 40000 /dev/urandom >"$T/d/$k.flac"; done
head -c 50000 /dev/urandom >"$T/d/rec.flac"
start_httpd
U=http://127.0.0.1:$HTTP_PORT
F="--backoff 0.05 --retries 2 --stall-timeout 1 --timeout 10 --jobs 4 --json"
media() { sql "SELECT m.status, m.whole_video, coalesce(m.size, ''), coalesce(m.http_status, '')
               FROM media m JOIN segment s ON s.id = m.segment_id WHERE s.key = '$1'"; }
sha() { sha256sum <"$1" | cut -d' ' -f1; }
reqs() { grep -c " $1 " "$T/httpd.log"; }

check "plain files" $AED fetch --split ok $F --url "$U/files/d/{key}.flac"
check_grep "two downloaded" '"ok": 2, .*"downloaded": 2' "$T/out"
check_eq "ok row" "ok|0|40000|200" "$(media ok1_10000)"
check_eq "file in the media folder" "$(sha "$T/d/ok1_10000.flac")" "$(sha "$T/test.db.media/ok1_10000.flac")"
check_eq "sha256 recorded" "$(sha "$T/d/ok1_10000.flac")" \
	"$(sql "SELECT sha256 FROM media m JOIN segment s ON s.id = m.segment_id WHERE s.key = 'ok1_10000'")"
check_eq "source is the URL" "$U/files/d/ok1_10000.flac|url" \
	"$(sql "SELECT source, kind FROM media m JOIN segment s ON s.id = m.segment_id WHERE s.key = 'ok1_10000'")"

check "flaky: two 500s then the file" $AED fetch --split flaky $F --url "$U/flaky/2/d/{key}.flac"
check_eq "flaky ok after retries" "ok|0|40000|200" "$(media flaky1_10000)"
check_eq "three requests" 3 "$(reqs /flaky/2/d/flaky1_10000.flac)"
check_eq "attempts recorded" 3 \
	"$(sql "SELECT attempts FROM media m JOIN segment s ON s.id = m.segment_id WHERE s.key = 'flaky1_10000'")"

check "404" $AED fetch --split missing $F --url "$U/status/404/{key}"
check_grep "unavailable" '"ok": 0, "unavailable": 2, "failed": 0' "$T/out"
check_eq "404 recorded unavailable" "unavailable|0||404" "$(media missing1_10000)"
check_eq "404 not retried" 1 "$(reqs /status/404/missing1_10000)"
check_eq "unavailable is final (work done)" "done" \
	"$(sql "SELECT w.state FROM work w JOIN segment s ON s.id = w.item WHERE s.key = 'missing1_10000'")"

check "503 forever" $AED fetch --split down $F --url "$U/status/503/{key}"
check_eq "503 failed" "failed|0||503" "$(media down1_10000)"
check_eq "503 tried 1 + 2 retries" 3 "$(reqs /status/503/down1_10000)"
sql "SELECT error FROM media m JOIN segment s ON s.id = m.segment_id WHERE s.key = 'down1_10000'" >"$T/e"
check_grep "reason: status and attempts" "/status/503/down1_10000: HTTP 503 \(3 attempts\)" "$T/e"
check_eq "failed is retried by later runs (work failed)" "failed" \
	"$(sql "SELECT w.state FROM work w JOIN segment s ON s.id = w.item WHERE s.key = 'down1_10000'")"
check_eq "run counts" "ok|0|2" "$(sql "SELECT outcome, n_done, n_failed FROM run WHERE stage = 'fetch' ORDER BY id DESC LIMIT 1")"
check "another split's run" $AED fetch --split ok $F --url "$U/status/503/{key}"
check_grep "has nothing of its own to do" '"processed": 0' "$T/out"
check_eq "and leaves this split's failed items alone" "3|failed|1" "$(reqs /status/503/down1_10000)|$(sql "SELECT w.state, w.attempts FROM work w JOIN segment s ON s.id = w.item WHERE s.key = 'down1_10000'")"

check "503 again: a later run retries failed ones" $AED fetch --split down $F --url "$U/status/503/{key}"
check "and a third" $AED fetch --split down $F --url "$U/status/503/{key}"
check_eq "three runs so far" 9 "$(reqs /status/503/down1_10000)"
check "after --max-attempts (3) runs they rest" $AED fetch --split down $F --url "$U/status/503/{key}"
check_grep "nothing to do" '"processed": 0' "$T/out"
check "--retry-failed wakes them" $AED fetch --split down $F --retry-failed --url "$U/flaky/0/d/{key}.flac"
check_grep "both ok now" '"processed": 2, "ok": 2' "$T/out"
check_eq "attempts add up over runs" 10 \
	"$(sql "SELECT attempts FROM media m JOIN segment s ON s.id = m.segment_id WHERE s.key = 'down1_10000'")"

check "stall" $AED fetch --split stall $F --retries 0 --url "$U/stall/{key}"
check_eq "stall failed" "failed|0||200" "$(media stall1_10000)"
sql "SELECT error FROM media m JOIN segment s ON s.id = m.segment_id WHERE s.key = 'stall1_10000'" >"$T/e"
check_grep "reason: too slow" "/stall/stall1_10000: Operation too slow" "$T/e"

check "truncated bodies" $AED fetch --split trunc $F --retries 0 --url "$U/truncate/d/{key}.flac"
check_eq "truncated failed" "failed|0||200" "$(media trunc1_10000)"
sql "SELECT error FROM media m JOIN segment s ON s.id = m.segment_id WHERE s.key = 'trunc1_10000'" >"$T/e"
check_grep "reason: closed early" "transfer closed with 20000 bytes remaining" "$T/e"
check_eq "half kept in .part" 20000 "$(wc -c <"$T/test.db.media/trunc1_10000.flac.part" | tr -d ' ')"
check "rerun from a server with Range" $AED fetch --split trunc $F --url "$U/files/d/{key}.flac"
check_grep "both now ok" '"ok": 2, "unavailable": 0, "failed": 0' "$T/out"
check_grep "resumed with Range" "GET /files/d/trunc1_10000.flac range=bytes=20000- status=206" "$T/httpd.log"
check_eq "resumed file is whole" "$(sha "$T/d/trunc1_10000.flac")" "$(sha "$T/test.db.media/trunc1_10000.flac")"
check_eq "resumed row" "ok|0|40000|206" "$(media trunc1_10000)"
check_eq "no .part left" 0 "$(find "$T/test.db.media" -name '*.part' | wc -l | tr -d ' ')"

check "wrong content length" $AED fetch --split badlen $F --retries 0 --url "$U/badlength/d/{key}.flac"
check_eq "bad length failed" "failed|0||200" "$(media badlen1_10000)"
check "rerun: the .part is complete, the server says 416" $AED fetch --split badlen $F \
	--url "$U/files/d/{key}.flac"
check_eq "then ok: the .part was whole (416 for its size)" "ok|0|40000|416" "$(media badlen1_10000)"
check_eq "and whole" "$(sha "$T/d/badlen1_10000.flac")" "$(sha "$T/test.db.media/badlen1_10000.flac")"

check "size cap" $AED fetch --split big $F --max-bytes 1M --url "$U/big/3?{key}"
check_eq "over the cap failed" "failed|0||200" "$(media big1_10000)"
sql "SELECT error FROM media m JOIN segment s ON s.id = m.segment_id WHERE s.key = 'big1_10000'" >"$T/e"
check_grep "reason: the cap" "larger than the size cap of 1048576 bytes" "$T/e"
check_eq "cap not retried" 1 "$(reqs '/big/3?big1_10000')"

check "whole recording, shared" $AED fetch --split whole2 $F --url "$U/files/d/{ytid}.flac"
check_eq "both segments point to one file" "ok|1|50000|1" \
	"$(sql "SELECT min(status), min(whole_video), min(size), count(DISTINCT m.path) FROM media m JOIN segment s ON s.id = m.segment_id WHERE s.ytid = 'rec'")"
check_eq "downloaded once" 1 "$(reqs /files/d/rec.flac)"

# A hostile id is percent-encoded in the URL and cannot name a path.
sql "INSERT INTO segment(key, ytid, start_ms, end_ms, source_group, shard)
     VALUES('../x y?z#_0', '../x y?z#', 0, 1000, 'h', 0)"
check "hostile id" $AED fetch $F --url "$U/status/404/{ytid}"
check_grep "encoded in the request" "GET /status/404/..%2Fx%20y%3Fz%23 " "$T/httpd.log"
check_eq "it is just unavailable" "unavailable" \
	"$(sql "SELECT status FROM media m JOIN segment s ON s.id = m.segment_id WHERE s.key = '../x y?z#_0'")"

# A manifest whose paths are URLs: fetched with no source options at all.
printf 'path,start,end\n%s,,\n%s,,\n' "$U/files/d/ok1_10000.flac" "$U/status/410/gone.flac" >"$T/urls.csv"
check "ingest a manifest of URLs" $AED segments ingest --split urls "$T/urls.csv"
check "fetch the manifest's URLs" $AED fetch --split urls $F
check_grep "one ok, one gone" '"ok": 1, "unavailable": 1, "failed": 0' "$T/out"
check_eq "downloaded by its key" "$(sha "$T/d/ok1_10000.flac")" \
	"$(sha "$(sql "SELECT m.path FROM media m JOIN segment s ON s.id = m.segment_id WHERE s.path LIKE '%/files/d/ok1_10000.flac'")")"
check_eq "410 is unavailable" "unavailable|410" \
	"$(sql "SELECT m.status, m.http_status FROM media m JOIN segment s ON s.id = m.segment_id WHERE s.path LIKE '%/410/gone.flac'")"

check_fail "a non-http --url is refused" $AED fetch --url "file:///etc/{ytid}"
check_grep "says why" "only http:// and https://" "$T/err"
check_fail "{out} in --url is refused" $AED fetch --url "$U/{out}"
check_fail "bad --max-bytes" $AED fetch --url "$U/{key}" --max-bytes lots
done_testing
