#!/bin/sh
# t0102-ontology-url.sh - `ontology ingest URL` against a local HTTP server:
# a good download, redirects, a 404, a server that never answers and one
# that cuts the body short; failures leave the database as it was.
. "$(dirname "$0")/../lib/testlib.sh"
D=$ROOT/tests/data/ontology
dbsum() { sqlite3 "$AEDCURATE_DB" .dump | sha256sum | cut -d' ' -f1; }
cp "$D/small.json" "$T/ontology.json"
cp "$D/small_v2.json" "$T/ontology_v2.json"
cp "$D/labels_small.csv" "$T/labels.csv"
start_httpd --max-seconds 120
URL=http://127.0.0.1:$HTTP_PORT

check "init" $AED init
check "ingest over HTTP with labels over HTTP" $AED ontology ingest "$URL/files/ontology.json" --labels "$URL/files/labels.csv" --timeout 10
check_eq "5 classes from the URL" 5 "$(sql 'SELECT count(*) FROM class')"
check_eq "label indexes from the URL" 3 "$(sql 'SELECT count(label_index) FROM class')"
check_eq "the URL is the recorded source" "$URL/files/ontology.json" "$(sql 'SELECT source FROM ontology_version')"
check "the same bytes again through redirects" $AED ontology ingest "$URL/redirect/2/ontology.json" --timeout 10
check_grep "unchanged through redirects" '^unchanged' "$T/out"
check "a file:// URL" $AED ontology ingest "file://$T/ontology.json"
check_grep "file:// unchanged" '^unchanged' "$T/out"
sum0=$(dbsum)

check_fail "a 404 is refused" $AED ontology ingest "$URL/status/404" --timeout 10
check_grep "the error names the status" '404' "$T/err"
check_eq "404: database unchanged" "$sum0" "$(dbsum)"

s0=$(date +%s)
check_fail "a server that never answers is refused" $AED ontology ingest "$URL/hang" --timeout 2
s1=$(date +%s)
check_grep "the error says it timed out" '[Tt]ime' "$T/err"
if [ $((s1 - s0)) -le 15 ]; then ok "gave up within the timeout ($((s1 - s0)) s)"; else not_ok "took $((s1 - s0)) s with --timeout 2"; fi
check_eq "hang: database unchanged" "$sum0" "$(dbsum)"

check_fail "a body cut short is refused" $AED ontology ingest "$URL/truncate/ontology_v2.json" --timeout 10
check_eq "truncated body: database unchanged" "$sum0" "$(dbsum)"
check_fail "a labels URL that answers 500 is refused" $AED ontology ingest "$URL/files/ontology_v2.json" --labels "$URL/status/500" --timeout 10
check_grep "the labels error names the status" '500' "$T/err"
check_eq "500 on labels: database unchanged" "$sum0" "$(dbsum)"
check_fail "a connection refused is reported" $AED ontology ingest "http://127.0.0.1:1/ontology.json" --timeout 5
check_eq "refused connection: database unchanged" "$sum0" "$(dbsum)"

check "the newer version over HTTP" $AED ontology ingest "$URL/files/ontology_v2.json" --timeout 10
check_grep "newer version applied" 'version 2: 1 added, 1 updated, 1 removed' "$T/out"
done_testing
