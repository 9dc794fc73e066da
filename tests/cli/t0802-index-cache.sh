#!/bin/sh
# t0802-index-cache.sh - what lets `mine` open an index over millions of
# segments without reading them all, and that none of it changes a result:
# the checks `index build` records (the pending count and the staleness
# check, trusted only while index_epoch has not moved), the segment map and
# the corpus sample kept beside the index file, and the exemplars'
# recordings found through the map's hashes. Each run that uses them is
# compared with one that reads everything from the tables again.
. "$(dirname "$0")/../lib/testlib.sh"
US8K=$SHARED/data/audio/urbansound8k
MODEL=$SHARED/models/yamnet/yamnet.tflite
need_shared "$US8K/manifest.csv" "$MODEL" "$AUDIOSET/ontology.json"
command -v ffmpeg >/dev/null || skip_all "no ffmpeg"
export AEDCURATE_MODEL=$MODEL

# 8 dog_bark recordings of 3 clips each, 12 drilling and 12 street_music
# clips of distinct recordings: 48 clips of 4 s, 336 patch vectors.
$PY - "$US8K" "$T/c.csv" <<'EOF'
import collections, csv, sys
root, out = sys.argv[1:3]
rows = list(csv.DictReader(open(root + "/manifest.csv")))
by = collections.defaultdict(list)
for r in rows:
    if r["salience"] == "1":
        by[(r["class"], r["fsID"])].append(r)
keep = []
for (cls, fs), rs in sorted(by.items()):
    if cls == "dog_bark" and len(rs) >= 3 and sum(k["class"] == "dog_bark" for k in keep) < 24:
        keep += sorted(rs, key=lambda r: r["file"])[:3]
for cls in ("drilling", "street_music"):
    keep += [rs[0] for (c, fs), rs in sorted(by.items()) if c == cls][:12]
w = csv.DictWriter(open(out, "w", newline=""), fieldnames=list(rows[0].keys()))
w.writeheader()
for r in keep:
    r = dict(r); r["file"] = root + "/" + r["file"]; w.writerow(r)
EOF
check "init" $AED init
check "ontology ingest" $AED ontology ingest "$AUDIOSET/ontology.json"
check "ingest 48 clips" $AED segments ingest "$T/c.csv" --split us8k --columns path=file,labels=audioset_mid,group=fsID
check "fetch, decode, features, embed" sh -c "$AED fetch && $AED decode --clip-seconds 4 && $AED features && $AED embed"
check_eq "48 clips embedded" 48 "$(sql 'SELECT count(*) FROM embedding')"

# Exemplars: the first clip of the first two dog_bark recordings; the
# other two clips of each recording are left out with --exclude-group.
EX=$(sql "SELECT group_concat('-e ' || key, ' ') FROM (SELECT min(key) AS key FROM segment WHERE meta LIKE '%\"dog_bark\"%' GROUP BY source_group ORDER BY source_group LIMIT 2)")
# mine_json NAME: a mine run's JSON in $T/NAME.json.
mine_json() {
	# shellcheck disable=SC2086
	check "mine ($1)" $AED mine --class /m/05tny_ $EX --exclude-group --k 20 --json && cp "$T/out" "$T/$1.json"
}
# same A B WHAT: the two runs rank the same candidates with the same scores,
# leave out the same segments and search with the same queries.
same() {
	check "$3" $PY - "$T/$1.json" "$T/$2.json" <<'EOF'
import json, sys
a, b = (json.load(open(f)) for f in sys.argv[1:3])
rank = lambda d: [(c["key"], round(c["score"], 6), c["best_time_s"]) for c in d["candidates"]]
assert rank(a) == rank(b), (rank(a)[:3], rank(b)[:3])
for k in ("excluded_segments", "corpus_segments", "kept_frames", "queries", "generic_dropped"):
    assert a[k] == b[k], (k, a[k], b[k])
assert len(rank(a)) == 20
EOF
}

# --- an exact index ---------------------------------------------------------
check "index build (exact)" $AED index build
IX=$(sql 'SELECT path FROM vec_index')
N=$(sql 'SELECT count(*) FROM vec_segment')
check_eq "the build recorded its checks at the current epoch, nothing pending" 1 \
	"$(sql 'SELECT checked_epoch = (SELECT value FROM index_epoch) AND checked_pending = 0 FROM vec_index')"
check_eq "the segment map kept beside it: header and 3 x 8 bytes a segment, + 8" \
	$((48 + 8 * (3 * N + 1))) "$(stat -c %s "$IX.segments" 2>/dev/null)"
mine_json e1
check_eq "the exemplars and the 4 other clips of their recordings left out" 6 \
	"$($PY -c 'import json,sys; print(json.load(open(sys.argv[1]))["excluded_segments"])' "$T/e1.json")"
check "no sample kept for an exact index (it holds the vectors itself)" test ! -e "$IX.sample"
rm -f "$IX.segments"
mine_json e2
same e1 e2 "exact index: the map read from the tables ranks the same"
check "and is kept again" test -s "$IX.segments"

# --- a compressed index: the corpus sample is kept too --------------------------
check "index build --exact-below 100 compresses" $AED index build --rebuild --exact-below 100 --json
check_grep "PCA + IVF + 8-bit codes" '"factory": "PCA256,IVF[0-9]+,SQ8"' "$T/out"
rm -f "$IX.segments" "$IX.sample"
mine_json c1
NV=$(sql 'SELECT n_vectors FROM vec_index')
check_eq "the sample kept: header and the index's $NV vectors (fewer than 20,000) x 1024 floats" \
	$((56 + NV * 1024 * 4)) "$(stat -c %s "$IX.sample" 2>/dev/null)"
mine_json c2
same c1 c2 "the kept map and sample rank the same as reading them"
# A map or sample that is not this index's is not used, and is replaced.
printf 'XXXXXXXX' | dd of="$IX.segments" bs=1 count=8 conv=notrunc 2>/dev/null
printf 'XXXXXXXX' | dd of="$IX.sample" bs=1 count=8 conv=notrunc 2>/dev/null
mine_json c3
same c1 c3 "damaged headers: read from the tables and the array store instead"
check_eq "both rewritten" "AEDSEGM2 AEDSMPL1" "$(head -c 8 "$IX.segments") $(head -c 8 "$IX.sample")"

# The map's hashes only point at the rows to compare. Every segment given
# the hash of an exemplar's recording: the recordings are still compared by
# name, and the same 6 segments are left out.
G=$(sql "SELECT source_group FROM segment WHERE key = '$(echo "$EX" | awk '{print $2}')'")
check "every segment's hash set to the first exemplar's recording's" $PY - "$IX.segments" "$G" <<'EOF'
import struct, sys
h = 1469598103934665603
for c in sys.argv[2].encode():
    h = ((h ^ c) * 1099511628211) % (1 << 64)
b = bytearray(open(sys.argv[1], "rb").read())
n = struct.unpack_from("=q", b, 32)[0]
start = 48 + 8 * (2 * n + 1)
assert len(b) == start + 8 * n
b[start:] = struct.pack("=Q", h) * n
open(sys.argv[1], "wb").write(bytes(b))
EOF
mine_json c4
same c1 c4 "the same segments left out, and the same ranking"
rm -f "$IX.segments"
mine_json c5
same c1 c5 "the map derived again"

# --- the epoch: a write the recorded checks and the kept files did not see ----
# A clip moved to another recording: the map is derived again, and the clip
# may be a candidate.
MOVED=$(sql "SELECT max(key) FROM segment WHERE source_group = '$G'")
E0=$(sql 'SELECT value FROM index_epoch')
sql "UPDATE segment SET source_group = 'moved' WHERE key = '$MOVED'"
check_eq "a recording's change moves the epoch" $((E0 + 1)) "$(sql 'SELECT value FROM index_epoch')"
mine_json m1
check_eq "one clip fewer left out" 5 \
	"$($PY -c 'import json,sys; print(json.load(open(sys.argv[1]))["excluded_segments"])' "$T/m1.json")"
check "the map was rewritten at the new epoch" $PY -c 'import struct,sys; assert struct.unpack_from("=q", open(sys.argv[1], "rb").read(), 24)[0] == int(sys.argv[2])' "$IX.segments" "$((E0 + 1))"
sql "UPDATE segment SET source_group = '$G' WHERE key = '$MOVED'"
mine_json m2
same c1 m2 "moved back: the same run as before"
# And a clip of another recording moved into the exemplar's: left out too.
OTHER=$(sql "SELECT max(key) FROM segment WHERE source_group <> '$G' AND meta LIKE '%\"drilling\"%'")
OLDG=$(sql "SELECT source_group FROM segment WHERE key = '$OTHER'")
sql "UPDATE segment SET source_group = '$G' WHERE key = '$OTHER'"
mine_json m3
check_eq "a clip moved into an exemplar's recording is left out" 7 \
	"$($PY -c 'import json,sys; print(json.load(open(sys.argv[1]))["excluded_segments"])' "$T/m3.json")"
sql "UPDATE segment SET source_group = '$OLDG' WHERE key = '$OTHER'"

check "index status" $AED index status --json
check_grep "no pending segments" '"pending_segments": 0' "$T/out"
check_grep "counted from the tables: the epoch moved since the build" '"checks_recorded": false' "$T/out"
# An embedding removed behind the index's back: the epoch moved, so status
# reads the tables and finds it.
SEG=$(sql 'SELECT segment_id FROM vec_segment ORDER BY segment_id LIMIT 1')
ROW=$(sql "SELECT segment_id || ', ' || model_id || ', ' || n_patches || ', ' || coalesce(run_id, 'NULL') FROM embedding WHERE segment_id = $SEG")
sql "DELETE FROM embedding WHERE segment_id = $SEG"
check_fail "index status: stale" $AED index status
check_grep "it names the segment" "segment $SEG it holds has no embedding any more" "$T/err"
check_fail "mine refuses the stale index" $AED mine --class /m/05tny_ $EX --k 5
sql "INSERT INTO embedding(segment_id, model_id, n_patches, run_id) VALUES ($ROW)"
check "the same row back: current again" $AED index status
sql "UPDATE embedding SET run_id = coalesce(run_id, 0) + 1000 WHERE segment_id = $SEG"
check_fail "a segment re-embedded behind its back: stale" $AED index status
check_grep "it says so" "segment $SEG it holds was re-embedded" "$T/err"
sql "DELETE FROM embedding WHERE segment_id = $SEG; INSERT INTO embedding(segment_id, model_id, n_patches, run_id) VALUES ($ROW)"

# Segments embedded since the build are counted as pending (an embedding of
# no patch never is: index build never adds one).
MID=$(sql 'SELECT id FROM model')
sql "INSERT INTO segment(id, key, ytid, start_ms, source_group, shard) VALUES (9001, 'p1', 'p1', 0, 'p1', 0), (9002, 'p0', 'p0', 0, 'p0', 0);
     INSERT INTO embedding(segment_id, model_id, n_patches) VALUES (9001, $MID, 3), (9002, $MID, 0)"
check "index status" $AED index status --json
check_grep "one pending segment" '"pending_segments": 1' "$T/out"
# shellcheck disable=SC2086
check "mine" $AED mine --class /m/05tny_ $EX --exclude-group --k 5
check_grep "it warns of it" '1 embedded segments are not in the index yet' "$T/err"
sql "DELETE FROM embedding WHERE segment_id = 9001; DELETE FROM segment WHERE id = 9001"
check "index build: up to date" $AED index build
check_grep "nothing added" 'up to date' "$T/out"
check_eq "and the checks recorded at the current epoch" 1 \
	"$(sql 'SELECT checked_epoch = (SELECT value FROM index_epoch) AND checked_pending = 0 FROM vec_index')"
check "index status" $AED index status
check_grep "says the checks are the build's" 'checks recorded by index build' "$T/out"
mine_json u1
same c1 u1 "the same run as before"
# shellcheck disable=SC2086
check "mine's text report" $AED mine --class /m/05tny_ $EX --exclude-group --k 5
check_grep "says where the time went" '^time: [0-9.]+ s: open [0-9.]+, exemplars [0-9.]+, sample [0-9.]+, queries [0-9.]+, exclusions [0-9.]+, search [0-9.]+, record [0-9.]+$' "$T/out"
done_testing
