#!/bin/sh
# t0200-source.sh - commands that take a SOURCE read it from a path, a file://
# URL or http:// (tests/lib/httpd.py): redirects followed, HTTP errors and
# broken transfers reported with the URL and the status.
. "$(dirname "$0")/../lib/testlib.sh"

check "init" $AED init
echo '[{"id": "/m/09x0r", "name": "Speech", "description": "", "citation_uri": "",
  "positive_examples": [], "child_ids": [], "restrictions": []},
 {"id": "/m/04rlf", "name": "Music", "description": "", "citation_uri": "",
  "positive_examples": [], "child_ids": [], "restrictions": []}]' >"$T/onto.json"
printf '# a\n#\n# YTID, start_seconds, end_seconds, positive_labels\nabc, 1.000, 2.000, "/m/09x0r"\n' >"$T/seg list.csv"
start_httpd
U=http://127.0.0.1:$HTTP_PORT

check "ontology over http, through two redirects" $AED ontology ingest "$U/redirect/2/onto.json"
check_eq "both classes" 2 "$(sql 'SELECT count(*) FROM class')"
check_grep "server saw the redirects" "GET /redirect/2/onto.json .*status=302" "$T/httpd.log"
check_grep "and the file" "GET /files/onto.json .*status=200" "$T/httpd.log"

check_fail "404" $AED ontology ingest "$U/status/404"
check_grep "error names the URL and the status" "$U/status/404: HTTP 404" "$T/err"
check_fail "500" $AED segments ingest "$U/status/500"
check_grep "error names the status" "HTTP 500" "$T/err"
check_fail "truncated body" $AED ontology ingest "$U/truncate/onto.json"
check_grep "error names the URL" "$U/truncate/onto.json" "$T/err"
check_fail "wrong length" $AED ontology ingest "$U/badlength/onto.json"
check_grep "error names the URL" "$U/badlength/onto.json" "$T/err"
check_fail "nothing listening" $AED ontology ingest "http://127.0.0.1:1/onto.json"
check_grep "error names the URL" "127.0.0.1:1/onto.json" "$T/err"

check "file:// URL with an escaped space" $AED segments ingest "file://$T/seg%20list.csv"
check_eq "segment stored" "abc_1000" "$(sql 'SELECT key FROM segment')"
check "plain path" $AED segments ingest "$T/seg list.csv"
check_fail "missing file" $AED segments ingest "$T/no such.csv"
check_grep "error names the file" "no such.csv" "$T/err"
check_fail "unsupported scheme" $AED segments ingest "gopher://127.0.0.1/x"
check_grep "error names the URL" "gopher://127.0.0.1/x" "$T/err"
done_testing
