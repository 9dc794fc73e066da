#!/bin/sh
# b08-merge.sh - `aedcurate merge` next to what it follows and a plain SQL
# copy, in the same run:
#  1. the demo corpus (pipelines/demo.pipeline's ontology and lists: 44,292
#     segments, 1,802 clips) as 16 shards: each a copy of the ingested
#     database running fetch, decode, features, embed with --shard I/16, then
#     merged into one corpus. Goal: merge < 5% of the stages' wall time.
#  2. simulated shards at scale: BENCH_SEGMENTS (default 100,000: the whole
#     bench took 3.8 minutes on 2 cores at load 8; 1,000,000 takes about 7.5
#     minutes more) segments ingested from an AudioSet-format
#     list (gen_segments.py), in every one of 16 shard databases as --shard
#     makes them, each holding its sixteenth's per-segment results (media,
#     clip, embedding rows, 4 array refs, 4 work rows; the array files are
#     sparse, of the committed sizes, and not read) made in SQL. Merged by aedcurate,
#     and by the peer: the sqlite3 shell attaching each shard and copying
#     every table with INSERT OR IGNORE ... SELECT * (ids taken as they are,
#     which only holds because these shards are copies of one database; no
#     key matching, no conflict checks). Merge time per million segments is
#     next to the stages' time per million clips at part 1's clips/s.
# BENCH_SHARDS overrides 16; BENCH_DEMO=0 skips part 1.
. "$(dirname "$0")/../lib/testlib.sh"
US=$SHARED/data/audio/urbansound8k
EV=$SHARED/data/audio/audioset-eval
MODEL=$SHARED/models/yamnet/yamnet.tflite
need_shared "$AUDIOSET/ontology.json" "$AUDIOSET/class_labels_indices.csv" \
	"$AUDIOSET/balanced_train_segments.csv" "$AUDIOSET/eval_segments.csv" "$US/manifest.csv" \
	"$EV/labels.csv" "$MODEL"
export AEDCURATE_MODEL=$MODEL AEDCURATE_SHARED=$SHARED
S=${BENCH_SHARDS:-16}
NSEG=${BENCH_SEGMENTS:-100000}
load() { cut -d' ' -f1 /proc/loadavg; }
# secs CMD...: wall seconds of CMD (output discarded), added to $T/$TIMER.
secs() {
	_t0=$(date +%s.%N); "$@" >/dev/null 2>"$T/err" || { cat "$T/err"; exit 1; }
	echo "$_t0 $(date +%s.%N)" | awk '{ printf "%.4f\n", $2 - $1 }' >>"$T/$TIMER"
}
total() { awk '{ s += $1 } END { printf "%.3f", s }' "$T/$1"; }

if [ "${BENCH_DEMO:-1}" != 0 ]; then
	db=$T/base.db
	AEDCURATE_DB=$db $AED init -q >/dev/null || exit 1
	AEDCURATE_DB=$db $AED ontology ingest -q "$AUDIOSET/ontology.json" --labels "$AUDIOSET/class_labels_indices.csv" >/dev/null || exit 1
	AEDCURATE_DB=$db $AED segments ingest -q "$AUDIOSET/balanced_train_segments.csv" --split balanced_train >/dev/null || exit 1
	AEDCURATE_DB=$db $AED segments ingest -q "$AUDIOSET/eval_segments.csv" --split eval >/dev/null || exit 1
	AEDCURATE_DB=$db $AED segments ingest -q "$EV/labels.csv" --split eval \
		--columns path=file,labels=positive_labels,id=ytid,start=start_seconds,end=end_seconds >/dev/null || exit 1
	AEDCURATE_DB=$db $AED segments ingest -q "$US/manifest.csv" --split us8k \
		--columns path=file,labels=audioset_mid,group=fsID >/dev/null || exit 1
	sqlite3 "$db" "PRAGMA wal_checkpoint(TRUNCATE)" >/dev/null
	list=""
	TIMER=stages
	for i in $(seq 0 $((S - 1))); do
		cp "$db" "$T/d$i.db"
		for st in fetch decode "features --preset yamnet" embed; do
			AEDCURATE_DB=$T/d$i.db secs $AED $st -q --shard $i/$S
		done
		list="$list $T/d$i.db"
	done
	TIMER=merge
	secs $AED merge -q $list --into "$T/demo.db"
	clips=$(sqlite3 "$T/demo.db" "SELECT count(*) FROM embedding")
	segs=$(sqlite3 "$T/demo.db" "SELECT count(*) FROM segment")
	[ "$clips" -eq 1802 ] || { echo "merged corpus holds $clips embeddings, want 1802"; exit 1; }
	echo "$(total stages) $(total merge)" | awk -v s="$S" -v c="$clips" -v g="$segs" -v l="$(load)" '{
		printf "demo corpus, %d segments, %d clips, as %d shards (load %s)\n", g, c, s, l
		printf "  stages fetch+decode+features+embed, %d shards: %8.2f s wall (%.1f clips/s)\n", s, $1, c / $1
		printf "  aedcurate merge of the %d shards:             %8.2f s wall\n", s, $2
		printf "  merge / stages: %.2f%% (goal < 5%%)\n", 100 * $2 / $1
	}'
	echo "$clips $(total stages)" >"$T/rate"
fi

# --- simulated: NSEG segments in each of S shards ----------------------------
"$PY" "$ROOT/tests/bench/gen_segments.py" "$AUDIOSET/class_labels_indices.csv" "$T/segs.csv" --rows "$NSEG" >/dev/null 2>&1 || exit 1
db=$T/sim.db
AEDCURATE_DB=$db $AED init -q >/dev/null || exit 1
AEDCURATE_DB=$db $AED ontology ingest -q "$AUDIOSET/ontology.json" --labels "$AUDIOSET/class_labels_indices.csv" >/dev/null || exit 1
AEDCURATE_DB=$db $AED segments ingest -q "$T/segs.csv" --split unbalanced_train >/dev/null || exit 1
sqlite3 "$db" "PRAGMA wal_checkpoint(TRUNCATE)" >/dev/null
cp "$db" "$T/peer.db"
sqlite3 "$T/peer.db" "DELETE FROM label; DELETE FROM segment_split; DELETE FROM segment; DELETE FROM segment_source; VACUUM"
list=""
for i in $(seq 0 $((S - 1))); do
	cp "$db" "$T/s$i.db"
	# One run per stage on its own node; results of the shard's segments.
	sqlite3 "$T/s$i.db" "BEGIN;
INSERT INTO model(id, name, sha256, path, embed_dim, n_classes, patch_frames, patch_hop, quantized, macs, added_at)
 VALUES(1, 'yamnet', printf('%064d', 1), '/models/yamnet.tflite', 1024, 521, 96, 48, 0, 69200000, '2026-12-05T00:00:00Z');
INSERT INTO run(stage, started_at, ended_at, outcome, host, pid, pid_start)
 SELECT st, '2026-12-05T00:00:0' || n || 'Z', '2026-12-05T01:00:00Z', 'ok', 'node$i', 1000 + n, $i
 FROM (SELECT 'fetch' st, 1 n UNION ALL SELECT 'decode', 2 UNION ALL SELECT 'features_yamnet', 3 UNION ALL SELECT 'embed', 4);
CREATE TEMP TABLE mine AS SELECT id, row_number() OVER (ORDER BY id) - 1 AS n FROM segment WHERE shard % $S = $i;
CREATE TEMP TABLE kinds AS SELECT * FROM (SELECT 'clip' kind, 'decode' st, 'i16' dt, 160000 d0, 1 d1, 320000 nb
 UNION ALL SELECT 'logmel_yamnet', 'features_yamnet', 'f32', 998, 64, 255488
 UNION ALL SELECT 'embedding', 'embed', 'f32', 20, 1024, 81920 UNION ALL SELECT 'scores', 'embed', 'f32', 20, 521, 41728);
INSERT INTO media(segment_id, status, path, whole_video, size, sha256, kind, attempts, fetched_at, run_id)
 SELECT id, 'ok', '/data/' || id || '.flac', 0, 200000, printf('%064x', id), 'local', 1, '2026-12-05T00:10:00Z',
 (SELECT id FROM run WHERE stage = 'fetch') FROM mine;
INSERT INTO clip SELECT id, 160000, 160000, 0, 44100, 2, 'flac', 0.5, -20.0, (SELECT id FROM run WHERE stage = 'decode') FROM mine;
INSERT INTO embedding SELECT id, 1, 20, (SELECT id FROM run WHERE stage = 'embed') FROM mine;
INSERT INTO array_file(kind, path, run_id, committed_bytes)
 SELECT k.kind, k.kind || '/' || r.id || '-0.bin', r.id, (SELECT count(*) FROM mine) * k.nb FROM kinds k JOIN run r ON r.stage = k.st;
INSERT INTO array_ref SELECT k.kind, m.id, f.id, m.n * k.nb, k.d0 * k.d1 * (CASE k.dt WHEN 'i16' THEN 2 ELSE 4 END), k.dt, k.d0, k.d1, 1, f.run_id
 FROM mine m, kinds k JOIN array_file f ON f.kind = k.kind;
INSERT INTO work(stage, item, state, attempts, run_id, updated_at) SELECT r.stage, m.id, 'done', 1, r.id, '2026-12-05T01:00:00Z'
 FROM mine m, run r WHERE r.stage IN ('fetch', 'decode', 'features_yamnet', 'embed');
COMMIT; PRAGMA wal_checkpoint(TRUNCATE);" >/dev/null || exit 1
	# The array files, sparse: merge checks that each holds what its shard
	# committed, and reads none of it.
	sqlite3 -separator ' ' "$T/s$i.db" "SELECT path, committed_bytes FROM array_file" |
	while read -r f n; do mkdir -p "$(dirname "$T/s$i.db.arrays/$f")" && truncate -s "$n" "$T/s$i.db.arrays/$f" || exit 1; done || exit 1
	list="$list $T/s$i.db"
done
TIMER=sim_merge
secs $AED merge -q $list --into "$T/sim-corpus.db"
arrays=$(sqlite3 "$T/sim-corpus.db" "SELECT count(*) FROM array_ref")
segs=$(sqlite3 "$T/sim-corpus.db" "SELECT count(*) FROM segment")
[ "$segs" -eq "$NSEG" ] && [ "$arrays" -eq $((4 * NSEG)) ] || { echo "merged $segs segments, $arrays arrays; want $NSEG, $((4 * NSEG))"; exit 1; }
TIMER=sim_peer
for i in $(seq 0 $((S - 1))); do
	secs sqlite3 "$T/peer.db" "ATTACH '$T/s$i.db' AS s; BEGIN;
INSERT OR IGNORE INTO run SELECT * FROM s.run; INSERT OR IGNORE INTO model SELECT * FROM s.model;
INSERT OR IGNORE INTO segment SELECT * FROM s.segment; INSERT OR IGNORE INTO segment_split SELECT * FROM s.segment_split;
INSERT OR IGNORE INTO label SELECT * FROM s.label; INSERT OR IGNORE INTO media SELECT * FROM s.media;
INSERT OR IGNORE INTO clip SELECT * FROM s.clip; INSERT OR IGNORE INTO embedding SELECT * FROM s.embedding;
INSERT OR IGNORE INTO array_file SELECT * FROM s.array_file; INSERT OR IGNORE INTO array_ref SELECT * FROM s.array_ref;
INSERT OR IGNORE INTO work SELECT * FROM s.work; COMMIT;"
done
rate=$(cat "$T/rate" 2>/dev/null || echo "0 0")
echo "$(total sim_merge) $(total sim_peer) $rate" | awk -v s="$S" -v n="$NSEG" -v a="$arrays" -v l="$(load)" '{
	printf "simulated: %d segments in each of %d shards, %d arrays in all (load %s)\n", n, s, a, l
	printf "  aedcurate merge:                 %8.2f s wall, %.2f s per million segments\n", $1, $1 * 1e6 / n
	printf "    (each shard holds the whole list: %.2f s per million segment rows of all shards)\n", $1 * 1e6 / n / s
	printf "  sqlite3 ATTACH + INSERT SELECT *: %7.2f s wall (no key matching, no checks)\n", $2
	printf "  ratio (merge / plain copy): %.2f\n", $1 / $2
	if ($3 > 0) {
		st = $4 / $3 * 1e6
		printf "  stages per million clips at part 1 rate: %.0f s; merge / stages: %.3f%% (goal < 5%%)\n", st, 100 * $1 * 1e6 / n / st
	}
}'
