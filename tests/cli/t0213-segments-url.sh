#!/bin/sh
# t0213-segments-url.sh - segment lists from http:// and file:// URLs against
# the local test server: a good download ingests; 404, a server that never
# answers, a stalled body and a redirect loop give a clear error and an
# untouched database.
. "$(dirname "$0")/../lib/testlib.sh"
need_shared "$AUDIOSET/ontology.json"
D=$(cd "$ROOT/tests/data/segments" && pwd -P)

dump() { sqlite3 "$AEDCURATE_DB" .dump | sha256sum; }

check "ontology ingest" $AED ontology ingest "$AUDIOSET/ontology.json"
cp "$D/small.csv" "$D/manifest.csv" "$T/"
start_httpd --max-seconds 120
U=http://127.0.0.1:$HTTP_PORT

check "csv over http" $AED segments ingest "$U/files/small.csv" --split web --strict
check_grep "5 rows from the URL" '5 rows, 5 ingested, 0 bad' "$T/out"
check_eq "source recorded as the URL" "$U/files/small.csv|csv|$(sha256sum <"$D/small.csv" | cut -d' ' -f1)" \
	"$(sql 'SELECT source, format, sha256 FROM segment_source')"
check "redirects are followed" $AED segments ingest "$U/redirect/2/small.csv" --split web
check_grep "same segments again" '0 new segments, 5 already stored' "$T/out"
check "file:// URL" $AED segments ingest "file://$D/small.csv" --split web

# A manifest from a URL: relative paths resolve against the URL's directory.
check "manifest over http" $AED segments ingest "$U/files/manifest.csv" --strict
check_eq "relative path joined to the URL" "$U/files/clips/dog1.wav" "$(sql "SELECT path FROM segment WHERE key='dog1_0'")"

before=$(dump)
check_fail "HTTP 404 refused" $AED segments ingest "$U/status/404" --split web
check_grep "message has the status" '404' "$T/err"
check_eq "404: database unchanged" "$before" "$(dump)"

t0=$(date +%s)
check_fail "server that never answers: timeout" $AED segments ingest "$U/hang" --timeout 2
t1=$(date +%s)
check_grep "message names the URL" '/hang' "$T/err"
check_eq "gave up within the timeout (+5 s slack)" 1 "$([ $((t1 - t0)) -le 7 ] && echo 1 || echo 0)"
check_eq "hang: database unchanged" "$before" "$(dump)"

check_fail "body that stalls: timeout" $AED segments ingest "$U/stall" --timeout 2
check_eq "stall: database unchanged" "$before" "$(dump)"
check_fail "truncated body refused" $AED segments ingest "$U/truncate/small.csv" --timeout 5
check_eq "truncate: database unchanged" "$before" "$(dump)"
check_fail "connection refused" $AED segments ingest "http://127.0.0.1:1/x.csv" --timeout 2
check_eq "refused: database unchanged" "$before" "$(dump)"

done_testing
