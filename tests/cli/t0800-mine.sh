#!/bin/sh
# t0800-mine.sh - index build and exemplar mining end to end on real clips:
# a small UrbanSound8K corpus embedded with YAMNet, plus real AudioSet
# backgrounds and one clip mixed from a 1-second dog bark in 10 s of stream
# noise. Covers: the index (incremental add, up to date, stale and foreign
# model refused, factory strings, concurrent builds taking turns), mining (precision against the labels, the
# mixed clip found at its event, exclusions, the review queue rows, file
# exemplars, --method mean), and the refusals of the issue (unknown class,
# class without exemplars, index of another model, empty corpus).
. "$(dirname "$0")/../lib/testlib.sh"
US8K=$SHARED/data/audio/urbansound8k
ASE=$SHARED/data/audio/audioset-eval
MODEL=$SHARED/models/yamnet/yamnet.tflite
need_shared "$US8K/manifest.csv" "$ASE/labels.csv" "$MODEL" "$AUDIOSET/ontology.json"
command -v ffmpeg >/dev/null || skip_all "no ffmpeg"
export AEDCURATE_MODEL=$MODEL

# --- the empty corpus ------------------------------------------------------
check "init" $AED init
check "ontology ingest" $AED ontology ingest "$AUDIOSET/ontology.json"
check_fail "index build on an empty corpus fails" $AED index build
check_grep "it says the corpus is empty" 'corpus is empty' "$T/err"
check_fail "mine on an empty corpus fails" $AED mine --class Bark -e nothing
check_eq "one line of message" 1 "$(wc -l < "$T/err")"

# --- a small corpus: 5 classes x 12 foreground clips, distinct recordings ----
$PY - "$US8K" "$T/us8k.csv" "$T/extra.txt" <<'EOF'
import csv, sys
root, out, extra = sys.argv[1:4]
rows = list(csv.DictReader(open(root + "/manifest.csv")))
keep, seen, spare = [], set(), []
for cls in ("dog_bark", "drilling", "children_playing", "street_music", "car_horn"):
    n = 0
    for r in rows:
        if r["class"] != cls or r["salience"] != "1" or r["fsID"] in seen:
            continue
        if n < 12:
            seen.add(r["fsID"]); keep.append(r); n += 1
        elif cls == "dog_bark" and len(spare) < 2:
            seen.add(r["fsID"]); spare.append(r)
w = csv.DictWriter(open(out, "w", newline=""), fieldnames=list(rows[0].keys()))
w.writeheader()
for r in keep:
    r = dict(r); r["file"] = root + "/" + r["file"]; w.writerow(r)
open(extra, "w").write("\n".join(root + "/" + r["file"] for r in spare) + "\n")
EOF
check "ingest the corpus manifest" $AED segments ingest "$T/us8k.csv" --split us8k \
	--columns path=file,labels=audioset_mid,group=fsID
check "fetch" $AED fetch
check "decode (4 s clips)" $AED decode --clip-seconds 4
check "features" $AED features
check_fail "index build before embed: nothing to index" $AED index build
check "embed" $AED embed

# --- index --------------------------------------------------------------------
check_fail "mine before index build fails" $AED mine --class Bark -e 1
check_grep "it says to build the index" 'index build' "$T/err"
check "index build" $AED index build
check_grep "a first build is exact (Flat)" 'Flat' "$T/out"
check_eq "vec_map holds every patch" "$(sql 'SELECT sum(n_patches) FROM embedding')" \
	"$(sql 'SELECT count(*) FROM vec_map')"
check_eq "vec_index agrees" "$(sql 'SELECT sum(n_patches) FROM embedding')" \
	"$(sql 'SELECT n_vectors FROM vec_index')"
check_eq "vector ids tile the segments" "0" "$(sql 'SELECT count(*) FROM vec_segment a JOIN vec_segment b ON b.index_id = a.index_id AND b.first_vec > a.first_vec AND b.first_vec < a.first_vec + a.n_patches')"
check_eq "the index records the model" "$(sql 'SELECT sha256 FROM model')" \
	"$(sql 'SELECT model_sha256 FROM vec_index')"
check "index build again" $AED index build
check_grep "nothing to add" 'up to date' "$T/out"
check "index status" $AED index status --json
check_grep "status: no pending segments" '"pending_segments": 0' "$T/out"

# --- refusals -------------------------------------------------------------------
check_fail "unknown class" $AED mine --class "no such sound xyzzy" -e 1
check_eq "one line of message" 1 "$(wc -l < "$T/err")"
check_fail "class without exemplars in the corpus" $AED mine --class Bark
check_grep "it names the class and says why" 'Bark.*no exemplar' "$T/err"
check_eq "one line of message" 1 "$(wc -l < "$T/err")"
check_fail "unknown exemplar" $AED mine --class Bark -e /no/such/file.wav
check_grep "it names the exemplar" '/no/such/file.wav' "$T/err"
check_fail "bad --method" $AED mine --class Bark -e 1 --method median
check_fail "bad factory string" $AED index build --rebuild --factory 'NoSuchIndex9'
check_grep "it names the factory string" 'NoSuchIndex9' "$T/err"
check_eq "one line of message" 1 "$(wc -l < "$T/err")"
check "the index survived the bad rebuild" $AED index status

# --- mining: precision on held-out recordings -------------------------------
EX=$(sql "SELECT group_concat('-e ' || key, ' ') FROM (SELECT key FROM segment WHERE meta LIKE '%\"dog_bark\"%' ORDER BY id LIMIT 4)")
# shellcheck disable=SC2086
check "mine Bark with 4 exemplars" $AED mine --class /m/05tny_ $EX --exclude-group --k 30 --json
cp "$T/out" "$T/mine.json"
check_eq "30 candidates queued" 30 "$(sql 'SELECT count(*) FROM candidate WHERE mine_run_id = (SELECT max(id) FROM mine_run)')"
check_eq "ranks 1..30" "1 30 30" "$(sql 'SELECT min(rank), max(rank), count(DISTINCT rank) FROM candidate WHERE mine_run_id = (SELECT max(id) FROM mine_run)' | tr '|' ' ')"
check_eq "4 exemplars recorded, all user-named" "4 user" "$(sql "SELECT count(*), group_concat(DISTINCT source) FROM mine_exemplar WHERE mine_run_id = (SELECT max(id) FROM mine_run)" | tr '|' ' ')"
check_eq "no exemplar is a candidate" 0 "$(sql 'SELECT count(*) FROM candidate c JOIN mine_exemplar e USING (mine_run_id, segment_id) WHERE mine_run_id = (SELECT max(id) FROM mine_run)')"
check_eq "no candidate shares an exemplar's recording" 0 "$(sql 'SELECT count(*) FROM candidate c JOIN segment s ON s.id = c.segment_id WHERE c.mine_run_id = (SELECT max(id) FROM mine_run) AND s.source_group IN (SELECT s2.source_group FROM mine_exemplar e JOIN segment s2 ON s2.id = e.segment_id WHERE e.mine_run_id = c.mine_run_id)')"
check_eq "run recorded with method, index and model" "exemplar 1 $(sql 'SELECT sha256 FROM model')" \
	"$(sql 'SELECT method, index_id, model_sha256 FROM mine_run ORDER BY id DESC LIMIT 1' | tr '|' ' ')"
P10=$(sql "SELECT count(*) FROM candidate c JOIN segment s ON s.id = c.segment_id WHERE c.mine_run_id = (SELECT max(id) FROM mine_run) AND c.rank <= 10 AND s.meta LIKE '%\"dog_bark\"%'")
# 8 of 56 candidates are dog barks: the prior is 0.14.
if [ "$P10" -ge 6 ]; then ok "precision@10 $P10/10 against a prior of 0.14"; else not_ok "precision@10 $P10/10"; fi
check "mine --method mean" $AED mine --class /m/05tny_ $EX --exclude-group --k 30 --method mean
check_grep "mean: one query" 'method mean' "$T/out"
check_eq "mean run recorded" mean "$(sql 'SELECT method FROM mine_run ORDER BY id DESC LIMIT 1')"
# shellcheck disable=SC2086
check "text report says which frames were kept and why" $AED mine --class /m/05tny_ $EX --k 5
check_grep "clusters listed" 'cluster 0: [0-9]+ frames from [0-9]+ exemplar' "$T/out"
check_grep "top candidates with their labels" '/m/05tny_ Bark \(manifest\)' "$T/out"
# More kept frames than --max-queries: merged into that many weighted queries.
# The planted barks still lead (precision@10 as above), and the run says so.
KEPT=$($PY -c 'import json,sys; d=json.load(open(sys.argv[1])); print(d["kept_frames"], d["queries"])' "$T/mine.json")
check_eq "the default run kept every kept frame as a query (<= 32)" "$(echo "$KEPT" | cut -d' ' -f1)" \
	"$(echo "$KEPT" | cut -d' ' -f2)"
# The run's index: how many vectors the score query's hits are capped at.
NV=$(sql "SELECT v.n_vectors FROM mine_run r JOIN vec_index v ON v.id = r.index_id ORDER BY r.id DESC LIMIT 1")
check "the score query searched too, with 4 times each query frame's hits (at most the index's $NV vectors)" \
	$PY -c 'import json,sys; s=json.load(open(sys.argv[1]))["search"]; h=s["hits_per_query"]; sys.exit(not (h > 0 and s["score_query_hits"] == min(4 * h, int(sys.argv[2]))))' "$T/mine.json" "$NV"
# shellcheck disable=SC2086
check "mine --max-queries 3" $AED mine --class /m/05tny_ $EX --exclude-group --k 30 --max-queries 3 --json
cp "$T/out" "$T/mq.json"
check "3 queries from the kept frames, recorded" $PY - "$T/mq.json" "$(echo "$KEPT" | cut -d' ' -f1)" "$AEDCURATE_DB" <<'EOF'
import json, sqlite3, sys
d = json.load(open(sys.argv[1]))
assert d["kept_frames"] == int(sys.argv[2]) > 3 and d["queries"] == 3, (d["kept_frames"], d["queries"])
db = sqlite3.connect(sys.argv[3])
p = json.loads(db.execute("SELECT params FROM mine_run ORDER BY id DESC LIMIT 1").fetchone()[0])
assert p["queries"] == 3 and p["max_queries"] == 3 and p["kept_frames"] == d["kept_frames"], p
top = [c["key"] for c in d["candidates"][:10]]
meta = dict(db.execute("SELECT key, meta FROM segment"))
hits = sum('"dog_bark"' in meta[k] for k in top)
assert hits >= 6, hits
print("# --max-queries 3: %d kept frames, precision@10 %d/10" % (d["kept_frames"], hits))
EOF
sed -n 's/^# /# /p' "$T/out"
# shellcheck disable=SC2086
check "text report: merged" $AED mine --class /m/05tny_ $EX --k 5 --max-queries 3
check_grep "it says how many queries" 'kept frames, merged into 3 \(--max-queries\)' "$T/out"
check_grep "and the score query's hits" '^search: [0-9]+ hits per query frame, [1-9][0-9]* for the score query; ' "$T/out"

# --- the evaluation script on this corpus: 5 classes, 2 trials ------------------
check "mine_eval.py: exemplar and mean against the prior" $PY "$ROOT/tests/py/mine_eval.py" \
	--db "$AEDCURATE_DB" --aed "$AED" --trials 2 --variants z,mean --check prior
sed 's/^/# /' "$T/out"
check_grep "a row per class" '^\| drilling \| 0\.[0-9]+ \|' "$T/out"

# --- a file exemplar outside the corpus, embedded on the fly -----------------
F1=$(sed -n 1p "$T/extra.txt")
check "mine with a file exemplar" $AED mine --class Bark -e "$F1" --k 10 --json
check_grep "recorded as a file exemplar" '"source": "file"' "$T/out"
NB=$($PY -c 'import json,sys; print(sum("dog_bark" in c["key"] or "/m/05tny_" in c["labels"] for c in json.load(open(sys.argv[1]))["candidates"]))' "$T/out")
if [ "$NB" -ge 6 ]; then ok "file exemplar: $NB/10 barks"; else not_ok "file exemplar: $NB/10 barks"; fi

# --- a compressed index: hits re-ranked against the stored embeddings ----------
# With the threshold lowered, "auto" compresses even this corpus (PCA to 256
# dimensions, 8-bit codes). Every score mine reports must still be the exact
# cosine similarity: the same as over the exact index, and as NumPy computes
# it from the dumped embeddings.
# shellcheck disable=SC2086
check "mine --method mean on the exact index" $AED mine --class /m/05tny_ $EX --exclude-group --k 30 --method mean --json
cp "$T/out" "$T/mean-exact.json"
check "index build --exact-below 100 compresses" $AED index build --rebuild --exact-below 100 --json
check_grep "PCA + IVF + 8-bit codes" '"factory": "PCA256,IVF[0-9]+,SQ8"' "$T/out"
check "index status" $AED index status
check_grep "status: bytes a vector, compressed" 'compressed; hits re-ranked exactly' "$T/out"
check "index status --json" $AED index status --json
cp "$T/out" "$T/status.json"
# 264 bytes of codes and id a vector, plus the PCA (5 MB), which on this
# small corpus is most of the file: the figure is the file over its vectors.
check "bytes a vector: the file over its vectors" $PY -c 'import json,sys; j=json.load(open(sys.argv[1])); sys.exit(not (j["bytes_per_vector"] > 264 and abs(j["bytes_per_vector"] - j["file_bytes"] / j["vectors"]) < 1))' "$T/status.json"
# shellcheck disable=SC2086
check "mine --method mean on the compressed index" $AED mine --class /m/05tny_ $EX --exclude-group --k 30 --method mean --json
cp "$T/out" "$T/mean-pq.json"
mkdir -p "$T/emb"
for e in $EX; do [ "$e" = -e ] || $AED dump embeddings "$e" -o "$T/emb/ex-$e.npy" >/dev/null 2>&1; done
for key in $($PY -c 'import json,sys; print(" ".join(c["key"] for c in json.load(open(sys.argv[1]))["candidates"][:10]))' "$T/mean-pq.json"); do
	$AED dump embeddings "$key" -o "$T/emb/c-$key.npy" >/dev/null 2>&1
done
check "compressed index: scores are exact cosines (Flat run, NumPy)" $PY - "$T/mean-exact.json" "$T/mean-pq.json" "$T/emb" <<'EOF'
import glob, json, os, sys
import numpy as np
flat = {c["key"]: c["score"] for c in json.load(open(sys.argv[1]))["candidates"]}
pq = json.load(open(sys.argv[2]))["candidates"]
d = sys.argv[3]
unit = lambda a: a / np.maximum(np.linalg.norm(a, axis=1, keepdims=True), 1e-30)
ex = np.concatenate([unit(np.load(f).reshape(-1, 1024).astype(np.float64)) for f in sorted(glob.glob(d + "/ex-*.npy"))])
q = ex.sum(0); q /= np.linalg.norm(q)
same = [c for c in pq if c["key"] in flat]
bad = [c["key"] for c in same if abs(c["score"] - flat[c["key"]]) > 1e-5]
print("# %d of %d candidates also in the exact run's top 30, %d differ" % (len(same), len(pq), len(bad)))
if len(same) < 25 or bad:
    sys.exit(1)
for c in pq[:10]:
    x = unit(np.load(os.path.join(d, "c-%s.npy" % c["key"])).reshape(-1, 1024).astype(np.float64))
    if abs((x @ q).max() - c["score"]) > 1e-4:
        print("# %s: reported %.6f, NumPy %.6f" % (c["key"], c["score"], (x @ q).max()))
        sys.exit(1)
EOF
# shellcheck disable=SC2086
check "exemplar mining on the compressed index" $AED mine --class /m/05tny_ $EX --exclude-group --k 30 --json
P10C=$(sql "SELECT count(*) FROM candidate c JOIN segment s ON s.id = c.segment_id WHERE c.mine_run_id = (SELECT max(id) FROM mine_run) AND c.rank <= 10 AND s.meta LIKE '%\"dog_bark\"%'")
if [ "$P10C" -ge 6 ]; then ok "compressed: precision@10 $P10C/10"; else not_ok "compressed: precision@10 $P10C/10"; fi

# --- one second of bark in ten seconds of a real stream ------------------------
BG=$ASE/xNRCwF4TStY_110000.m4a
F2=$(sed -n 2p "$T/extra.txt")
# The loudest second of a held-out bark, 10 dB above the stream over that
# second (YAMNet hears "Dog" in the patch at 5.76 s, nothing before).
check "mix a 1 s bark into 10 s of stream at 6 s" $PY "$ROOT/tests/py/mine_eval_mix.py" "$BG" "$F2" "$T/mix.wav" 6 10
ffmpeg -nostdin -loglevel error -i "$BG" -t 10 -ar 16000 -ac 1 "$T/bg.wav"
{
	echo "path,id"
	echo "$T/mix.wav,mixedbark"
	echo "$T/bg.wav,streamonly"
	for f in "$ASE"/Z19W44ZI15Q_190000.m4a "$ASE"/gTI8l9Is0G0_40000.m4a "$ASE"/kUnw2t6xJtU_300000.m4a "$ASE"/_ZiJA6phEq8_30000.m4a; do
		echo "$f,$(basename "$f" .m4a)"
	done
} > "$T/long.csv"
# The long clips go into an IVF index: incremental adds work on it too.
check "an IVF factory string" $AED index build --factory 'IVF8,Flat' --json
check_grep "IVF index built" '"factory": "IVF8,Flat"' "$T/out"
check_grep "rebuilt for the new factory" '"rebuilt": true' "$T/out"
check "ingest the long clips" $AED segments ingest "$T/long.csv" --split long
check "fetch" $AED fetch
check "decode (10 s)" $AED decode --clip-seconds 10
check "features" $AED features
check "embed" $AED embed
check "index build adds them incrementally" $AED index build --json
check_grep "added 6 segments" '"added_segments": 6' "$T/out"
check_grep "not rebuilt" '"rebuilt": false' "$T/out"
check_grep "still the IVF index" '"factory": "IVF8,Flat"' "$T/out"
# shellcheck disable=SC2086
check "mine Bark again" $AED mine --class /m/05tny_ $EX --exclude-group --k 40
RANK=$(sql "SELECT c.rank FROM candidate c JOIN segment s ON s.id = c.segment_id WHERE c.mine_run_id = (SELECT max(id) FROM mine_run) AND s.key = 'mixedbark_0'")
TIME=$(sql "SELECT c.best_time_s FROM candidate c JOIN segment s ON s.id = c.segment_id WHERE c.mine_run_id = (SELECT max(id) FROM mine_run) AND s.key = 'mixedbark_0'")
BGR=$(sql "SELECT coalesce((SELECT c.rank FROM candidate c JOIN segment s ON s.id = c.segment_id WHERE c.mine_run_id = (SELECT max(id) FROM mine_run) AND s.key = 'streamonly_0'), 999)")
echo "# mixed clip: rank ${RANK:-none}, best frame at ${TIME:-?} s; stream alone: rank $BGR"
# 8 dog barks of the corpus can be candidates, then ~55 other clips. The
# mix must come in the top quarter, right after the barks and the sounds most
# like them, and far ahead of the same stream without the bark.
if [ -n "$RANK" ] && [ "$RANK" -le 15 ]; then ok "the 1-in-10 s bark is found (rank $RANK)"; else not_ok "the 1-in-10 s bark is found (rank ${RANK:-none})"; fi
if [ -n "$TIME" ] && $PY -c "import sys; t=float(sys.argv[1]); sys.exit(not 5.0 <= t <= 6.8)" "$TIME"; then ok "its best frame is at the event (${TIME} s)"; else not_ok "best frame at ${TIME:-?} s"; fi
if [ "$BGR" -ge $(( ${RANK:-999} + 10 )) ]; then ok "the stream alone ranks far below ($BGR)"; else not_ok "stream alone rank $BGR"; fi

# --- an ontology positive example that is in the corpus is an exemplar ------------
K1=$(sql "SELECT key FROM segment WHERE meta LIKE '%\"dog_bark\"%' ORDER BY id LIMIT 1")
sql "INSERT INTO class_example(class_id, ytid, start_ms, end_ms) SELECT c.id, s.ytid, s.start_ms, s.start_ms + 4000 FROM class c, segment s WHERE c.mid = '/m/05tny_' AND s.key = '$K1'"
check "mine with no --exemplar: the ontology example" $AED mine --class Bark --k 5 --json
check_grep "it is an ontology exemplar" '"source": "ontology"' "$T/out"
check_grep "named by its key" "\"name\": \"$K1\"" "$T/out"
sql "DELETE FROM class_example WHERE ytid = (SELECT ytid FROM segment WHERE key = '$K1')"

# --- verified clips become exemplars and leave the queue ----------------------
TOP=$(sql "SELECT segment_id FROM candidate WHERE mine_run_id = (SELECT max(id) FROM mine_run) AND rank = 1")
sql "INSERT INTO label(segment_id, class_id, source) SELECT $TOP, id, 'verified' FROM class WHERE mid = '/m/05tny_'"
# shellcheck disable=SC2086
check "mine with a verified clip" $AED mine --class Bark $EX --k 40 --json
check_grep "the verified clip is an exemplar" '"source": "verified"' "$T/out"
check_eq "and not a candidate" 0 "$(sql "SELECT count(*) FROM candidate WHERE mine_run_id = (SELECT max(id) FROM mine_run) AND segment_id = $TOP")"
# --exclude-group: a verified clip's recording stays (more of it is what
# review is for) unless --exclude-group-verified. Give the verified clip a
# recording mate: the clip ranked 2 in the last run.
MATE=$(sql "SELECT segment_id FROM candidate WHERE mine_run_id = (SELECT max(id) FROM mine_run) AND rank = 2")
MATE_GROUP=$(sql "SELECT source_group FROM segment WHERE id = $MATE")
sql "UPDATE segment SET source_group = (SELECT source_group FROM segment WHERE id = $TOP) WHERE id = $MATE"
excluded() { $PY -c 'import json,sys; print(json.load(open(sys.argv[1]))["excluded_segments"])' "$T/out"; }
# shellcheck disable=SC2086
check "mine --exclude-group with a verified clip" $AED mine --class Bark $EX --exclude-group --k 60 --json
EXCL1=$(excluded)
check_eq "its recording mate stays a candidate" 1 "$(sql "SELECT count(*) FROM candidate WHERE mine_run_id = (SELECT max(id) FROM mine_run) AND segment_id = $MATE")"
# shellcheck disable=SC2086
check "--exclude-group-verified" $AED mine --class Bark $EX --exclude-group --exclude-group-verified --k 60 --json
check_eq "one more clip excluded: the mate" "$((EXCL1 + 1))" "$(excluded)"
check_eq "the mate is not a candidate" 0 "$(sql "SELECT count(*) FROM candidate WHERE mine_run_id = (SELECT max(id) FROM mine_run) AND segment_id = $MATE")"
check_grep "the run's params say so" '"exclude_group_verified":true' "$(sql "SELECT params FROM run WHERE stage = 'mine' ORDER BY id DESC LIMIT 1" > "$T/params"; echo "$T/params")"
TOPKEY=$(sql "SELECT key FROM segment WHERE id = $TOP")
# shellcheck disable=SC2086
check "a verified clip also named with -e" $AED mine --class Bark $EX -e "$TOPKEY" --exclude-group --k 60 --json
check_eq "the user's exemplar: recorded as such" user "$(sql "SELECT source FROM mine_exemplar WHERE mine_run_id = (SELECT max(id) FROM mine_run) AND segment_id = $TOP")"
check_eq "and its recording mate left out" 0 "$(sql "SELECT count(*) FROM candidate WHERE mine_run_id = (SELECT max(id) FROM mine_run) AND segment_id = $MATE")"
# shellcheck disable=SC2086
check_fail "--exclude-group-verified alone is refused" $AED mine --class Bark $EX --exclude-group-verified
check_grep "it says what it goes with" 'goes with --exclude-group' "$T/err"
sql "UPDATE segment SET source_group = '$MATE_GROUP' WHERE id = $MATE"
check "--candidates SPLIT" $AED mine --class Bark $EX --k 5 --candidates long --json
check_eq "only that split's clips" 0 "$(sql "SELECT count(*) FROM candidate c WHERE mine_run_id = (SELECT max(id) FROM mine_run) AND NOT EXISTS (SELECT 1 FROM segment_split ss JOIN split p ON p.id = ss.split_id WHERE ss.segment_id = c.segment_id AND p.name = 'long')")"

# --- concurrent builds take turns: one row, no raw SQLite error ----------------
patches=$(sql 'SELECT sum(n_patches) FROM embedding')
for round in 1 2 3 4; do
	sql "DELETE FROM vec_map; DELETE FROM vec_segment; DELETE FROM vec_index"
	pids=
	for k in 1 2 3; do
		$AED index build >"$T/cc$k.out" 2>"$T/cc$k.err" &
		pids="$pids $!"
	done
	rcs=
	for p in $pids; do wait "$p"; rcs="$rcs $?"; done
	check_eq "round $round: three concurrent first builds all succeed" " 0 0 0" "$rcs"
	check_eq "round $round: one index row holding every patch once" "1 $patches $patches" \
		"$(sql "SELECT count(*), max(n_vectors), (SELECT count(*) FROM vec_map) FROM vec_index" | tr '|' ' ')"
	check_eq "round $round: no SQLite message" "" "$(cat "$T"/cc?.err | grep -v 'waiting for it')"
done
check "mine on the index they built" $AED mine --class Bark $EX --k 5

# --- stale and foreign indexes -------------------------------------------------
sql "UPDATE embedding SET run_id = run_id + 1000 WHERE segment_id = (SELECT min(segment_id) FROM embedding)"
check_fail "a re-embedded segment makes the index stale" $AED mine --class Bark $EX
check_grep "stale, and why" 'stale.*re-embedded' "$T/err"
check_eq "one line of message" 1 "$(wc -l < "$T/err")"
check_fail "index status says so too" $AED index status
check "index build rebuilds a stale index" $AED index build --json
check_grep "rebuilt" '"rebuilt": true' "$T/out"
check "mine works again" $AED mine --class Bark $EX --k 5
check "back to an exact index" $AED index build --factory Flat --json
check_grep "Flat index built" '"factory": "Flat"' "$T/out"
check "mine on it" $AED mine --class Bark $EX --k 5
sql "INSERT INTO model(name, sha256, path, embed_dim, n_classes, patch_frames, patch_hop, quantized, macs, added_at) VALUES ('yamnet', 'ffff0000', '/x', 1024, 521, 96, 48, 0, 1, 'now'); UPDATE embedding SET model_id = (SELECT id FROM model WHERE sha256 = 'ffff0000')"
check_fail "an index built from another model is refused" $AED mine --class Bark $EX
check_grep "it says so" 'built from another model' "$T/err"
check_eq "one line of message" 1 "$(wc -l < "$T/err")"

done_testing
