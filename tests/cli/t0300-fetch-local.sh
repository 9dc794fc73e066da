#!/bin/sh
# t0300-fetch-local.sh - fetch from local folders (name templates, recursion,
# .part files ignored) and from a manifest's own paths; reruns, --split,
# --limit, --shard, --retry-unavailable, hostile ids in file-name patterns.
. "$(dirname "$0")/../lib/testlib.sh"

check "init" $AED init
# The smallest ontology the segment lists can refer to.
echo '[{"id": "/m/09x0r", "name": "Speech", "description": "", "citation_uri": "",
  "positive_examples": [], "child_ids": [], "restrictions": []}]' >"$T/onto.json"
check "ontology ingest" $AED ontology ingest "$T/onto.json"
cat >"$T/segs.csv" <<'CSV'
# Segments for the fetch tests.
# num_ytids=5
# YTID, start_seconds, end_seconds, positive_labels
aaa, 30.000, 40.000, "/m/09x0r"
bbb, 0.000, 10.000, "/m/09x0r"
ccc, 12.500, 22.500, "/m/09x0r"
ddd, 5.000, 15.000, "/m/09x0r"
eee, 1.000, 11.000, "/m/09x0r"
CSV
check "segments ingest" $AED segments ingest --split eval "$T/segs.csv"
check_eq "5 segments" 5 "$(sql 'SELECT count(*) FROM segment')"

mkdir -p "$T/src/deep/er" "$T/src2"
head -c 3000 /dev/urandom >"$T/src/aaa_30000.flac"   # one file per segment
head -c 2000 /dev/urandom >"$T/src/bbb.wav"           # the whole recording
head -c 1000 /dev/urandom >"$T/src/deep/er/ccc_12500.ogg"
echo partial >"$T/src/ddd_5000.flac.part"              # never a match
echo hidden >"$T/src/.ddd_5000.flac"
head -c 500 /dev/urandom >"$T/src2/Yeee_1_11.wav"

check "fetch --from" $AED fetch --from "$T/src" --json
check_grep "summary counts" '"ok": 3, "unavailable": 2, "failed": 0' "$T/out"
check_eq "per-segment file" "ok|0|$T/src/aaa_30000.flac|3000" \
	"$(sql "SELECT status, whole_video, m.path, size FROM media m JOIN segment s ON s.id = segment_id WHERE s.key = 'aaa_30000'")"
check_eq "whole-recording file" "ok|1|$T/src/bbb.wav" \
	"$(sql "SELECT status, whole_video, m.path FROM media m JOIN segment s ON s.id = segment_id WHERE s.key = 'bbb_0'")"
check_eq "found in a subfolder" "$T/src/deep/er/ccc_12500.ogg" \
	"$(sql "SELECT m.path FROM media m JOIN segment s ON s.id = segment_id WHERE s.key = 'ccc_12500'")"
check_eq "sha256 of the file" "$(sha256sum <"$T/src/aaa_30000.flac" | cut -d' ' -f1)" \
	"$(sql "SELECT sha256 FROM media m JOIN segment s ON s.id = segment_id WHERE s.key = 'aaa_30000'")"
check_eq ".part and hidden files are not matches" "unavailable" \
	"$(sql "SELECT status FROM media m JOIN segment s ON s.id = segment_id WHERE s.key = 'ddd_5000'")"
sql "SELECT error FROM media m JOIN segment s ON s.id = segment_id WHERE s.key = 'ddd_5000'" >"$T/err.txt"
check_grep "reason names the pattern and folder" "no file matching 'ddd_5000\.\*' in $T/src" "$T/err.txt"
check_eq "source is the folder, kind local" "$T/src|local" \
	"$(sql "SELECT source, kind FROM media m JOIN segment s ON s.id = segment_id WHERE s.key = 'aaa_30000'")"
check_eq "work items done" "5" "$(sql "SELECT count(*) FROM work WHERE stage = 'fetch' AND state = 'done'")"
check_eq "run row counts" "ok|3|2" "$(sql "SELECT outcome, n_done, n_failed FROM run WHERE stage = 'fetch'")"

check "rerun does nothing new" $AED fetch --from "$T/src" --json
check_grep "nothing processed" '"processed": 0' "$T/out"

# A name template with seconds, in a second folder; unavailable ones looked at again.
check "--retry-unavailable with --name" $AED fetch --retry-unavailable --from "$T/src2" \
	--name 'Y{ytid}_{start}_{end}.wav' --json
check_grep "only the two unavailable ones" '"processed": 2, "ok": 1, "unavailable": 1' "$T/out"
check_eq "seconds template matched (per segment)" "ok|0|$T/src2/Yeee_1_11.wav" \
	"$(sql "SELECT status, whole_video, m.path FROM media m JOIN segment s ON s.id = segment_id WHERE s.key = 'eee_1000'")"
check_eq "rows never duplicate" "5" "$(sql 'SELECT count(*) FROM media')"

# --redo, --limit, --split
check "--redo --limit 2" $AED fetch --redo --limit 2 --from "$T/src" --json
check_grep "two processed" '"selected": 2, "processed": 2' "$T/out"
check_fail "--split of a missing split" $AED fetch --split nope --from "$T/src"
check_grep "names the split" "nope" "$T/err"
check_fail "--name with an unknown variable" $AED fetch --from "$T/src" --name '{ytid}_{bogus}.wav'
check_grep "names the variable" "bogus" "$T/err"
check_fail "--from a missing folder" $AED fetch --from "$T/nowhere"
check_grep "names the folder" "nowhere" "$T/err"

# --shard I/N over a fresh database: the two halves cover each segment once.
export AEDCURATE_DB=$T/shard.db
check "init shard db" $AED init
sql "INSERT INTO segment(key, ytid, start_ms, end_ms, source_group, shard)
     SELECT 'k' || value || '_0', 'k' || value, 0, 1000, 'g', value * 7919 % 1000
     FROM generate_series(1, 40)" 2>/dev/null || {
	i=1; while [ $i -le 40 ]; do
		sql "INSERT INTO segment(key, ytid, start_ms, end_ms, source_group, shard) VALUES('k${i}_0','k$i',0,1000,'g',$((i * 7919 % 1000)))"
		i=$((i + 1)); done; }
for i in 1 5 9 13 17 21 25 29 33 37; do : >"$T/src/k${i}_0.wav"; done
check "shard 0/2" $AED fetch --shard 0/2 --from "$T/src" --json
n0=$(sql 'SELECT count(*) FROM media')
check "shard 1/2" $AED fetch --shard 1/2 --from "$T/src" --json
check_eq "both shards cover all 40" 40 "$(sql 'SELECT count(*) FROM media')"
check_eq "shard 0 took the even hashes" "$n0" "$(sql 'SELECT count(*) FROM segment WHERE shard % 2 = 0')"
check_eq "10 found" 10 "$(sql "SELECT count(*) FROM media WHERE status = 'ok'")"

# Hostile ids in file-name patterns: glob characters are literal, '/' refused.
sql "INSERT INTO segment(key, ytid, start_ms, end_ms, source_group, shard) VALUES
  ('k*_0', 'k*', 0, 1000, 'g', 0), ('../src/k1_0', '../src/k1', 0, 1000, 'g', 0)"
check "fetch hostile ids" $AED fetch --from "$T/src" --json
check_eq "'k*' matches no other file" "unavailable" \
	"$(sql "SELECT status FROM media m JOIN segment s ON s.id = segment_id WHERE s.key = 'k*_0'")"
check_eq "a '/' in an id never leaves the folder" "unavailable" \
	"$(sql "SELECT status FROM media m JOIN segment s ON s.id = segment_id WHERE s.key = '../src/k1_0'")"

# Manifest rows: paths relative to the manifest, a missing file, a cut row.
export AEDCURATE_DB=$T/manifest.db
check "init manifest db" $AED init
check "ontology ingest" $AED ontology ingest "$T/onto.json"
mkdir -p "$T/man/clips"
head -c 700 /dev/urandom >"$T/man/clips/one.wav"
head -c 800 /dev/urandom >"$T/man/clips/two.wav"
printf 'path,start,end\nclips/one.wav,,\nclips/missing.wav,,\n' >"$T/man/m.csv"
printf 'path,start,end\nclips/two.wav,2,5\n' >"$T/man/cut.csv"
check "ingest manifest" $AED segments ingest "$T/man/m.csv"
check "ingest cut manifest" $AED segments ingest --cut "$T/man/cut.csv"
check "fetch with no source options" $AED fetch --json
check_grep "two ok, one unavailable" '"ok": 2, "unavailable": 1' "$T/out"
check_eq "manifest file is the clip" "ok|0|$T/man/clips/one.wav|manifest" \
	"$(sql "SELECT status, whole_video, m.path, kind FROM media m JOIN segment s ON s.id = segment_id WHERE s.ytid = 'one'")"
check_eq "--cut manifest file is the recording" "ok|1" \
	"$(sql "SELECT status, whole_video FROM media m JOIN segment s ON s.id = segment_id WHERE s.ytid = 'two'")"
sql "SELECT error FROM media m JOIN segment s ON s.id = segment_id WHERE s.ytid = 'missing'" >"$T/err.txt"
check_grep "missing manifest file named" "clips/missing.wav: no such file" "$T/err.txt"
done_testing
