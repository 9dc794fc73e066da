#!/bin/sh
# t1500-merge.sh - `merge`: a small UrbanSound8K corpus made once in one
# database and once as 3 shard databases (--shard I/3 on fetch, decode,
# features, embed), the shards merged. The merged corpus holds the same
# segments, labels and bit-identical arrays per segment, and mining on it
# ranks the same candidates. Merging a shard again changes nothing; a merge
# killed with kill -9 and rerun makes the same database as a clean merge;
# --copy makes a corpus that needs no shard; a shard of another schema
# version or model is refused, and a segment with a different embedding in
# two shards is reported, each leaving the corpus as it was.
. "$(dirname "$0")/../lib/testlib.sh"
US8K=$SHARED/data/audio/urbansound8k
MODEL=$SHARED/models/yamnet/yamnet.tflite
need_shared "$US8K/manifest.csv" "$MODEL" "$AUDIOSET/ontology.json"
export AEDCURATE_MODEL=$MODEL

$PY - "$US8K" "$T/m.csv" "$T/ex.txt" <<'EOF'
import csv, sys
root, out, ex = sys.argv[1:4]
rows = list(csv.DictReader(open(root + "/manifest.csv")))
keep, seen = [], set()
for cls in ("dog_bark", "drilling", "street_music"):
    n = 0
    for r in rows:
        if r["class"] == cls and r["salience"] == "1" and r["fsID"] not in seen and n < 8:
            seen.add(r["fsID"]); keep.append(r); n += 1
w = csv.DictWriter(open(out, "w", newline=""), fieldnames=list(rows[0].keys()))
w.writeheader()
for r in keep:
    r = dict(r); r["file"] = root + "/" + r["file"]; w.writerow(r)
open(ex, "w").write("\n".join(root + "/" + r["file"] for r in keep[:3]) + "\n")
EOF
N=$(($(wc -l <"$T/m.csv") - 1))

# build DB [--shard I/N]: the stages, into database DB.
build() {
	_db=$1; shift
	AEDCURATE_DB=$_db $AED init >/dev/null &&
	AEDCURATE_DB=$_db $AED ontology ingest "$AUDIOSET/ontology.json" >/dev/null &&
	AEDCURATE_DB=$_db $AED segments ingest "$T/m.csv" --split us8k \
		--columns path=file,labels=audioset_mid,group=fsID >/dev/null &&
	AEDCURATE_DB=$_db $AED fetch "$@" >/dev/null &&
	AEDCURATE_DB=$_db $AED decode --clip-seconds 4 "$@" >/dev/null &&
	AEDCURATE_DB=$_db $AED features "$@" >/dev/null &&
	AEDCURATE_DB=$_db $AED embed "$@" >/dev/null
}
# digest DB: what must not depend on sharding, one line per row or array.
digest() {
	sqlite3 -batch -noheader "$1" "SELECT key, ytid, start_ms, end_ms, path, source_group, meta, shard FROM segment ORDER BY key;
		SELECT s.key, c.mid, l.source FROM label l JOIN segment s ON s.id = l.segment_id JOIN class c ON c.id = l.class_id ORDER BY 1, 2, 3;
		SELECT s.key, p.name FROM segment_split x JOIN segment s ON s.id = x.segment_id JOIN split p ON p.id = x.split_id ORDER BY 1;
		SELECT s.key, m.status, m.sha256 FROM media m JOIN segment s ON s.id = m.segment_id ORDER BY 1;
		SELECT s.key, c.n_samples, c.n_total, c.peak, c.rms_db FROM clip c JOIN segment s ON s.id = c.segment_id ORDER BY 1;
		SELECT s.key, m.sha256, e.n_patches FROM embedding e JOIN segment s ON s.id = e.segment_id JOIN model m ON m.id = e.model_id ORDER BY 1;
		SELECT w.stage, s.key, w.state FROM work w JOIN segment s ON s.id = w.item ORDER BY 1, 2;" &&
	for k in clip logmel_yamnet embedding scores; do $PY "$ROOT/tests/py/array_digest.py" "$1" $k || return 1; done
}
# dump DB: the whole database, the time of each shard's merge left out.
dump() { sqlite3 "$1" .dump | sed "/^INSERT INTO merge_shard/s/,'[0-9TZ:.-]*');\$/);/"; }

check "one database: every stage" build "$T/one.db"
for i in 0 1 2; do check "shard $i/3: every stage" build "$T/s$i.db" --shard $i/3; done
n0=$(sqlite3 "$T/s0.db" "SELECT count(*) FROM embedding")
n1=$(sqlite3 "$T/s1.db" "SELECT count(*) FROM embedding")
n2=$(sqlite3 "$T/s2.db" "SELECT count(*) FROM embedding")
check_eq "the shards split the $N segments" "$N" "$((n0 + n1 + n2))"
if [ "$n0" -gt 0 ] && [ "$n1" -gt 0 ] && [ "$n2" -gt 0 ]; then ok "every shard embedded some ($n0 $n1 $n2)"
else not_ok "a shard is empty ($n0 $n1 $n2)"; fi

check "merge the 3 shards" $AED merge "$T/s0.db" "$T/s1.db" "$T/s2.db" --into "$T/corpus.db" --json
check_eq "each shard merged" 3 "$(grep -c '"outcome": "merged"' "$T/out")"
check_eq "shards 1 and 2 found their ingest tables the corpus's (digest)" "false true true" \
	"$(grep -o '"same_ingest": [a-z]*' "$T/out" | cut -d' ' -f2 | tr '\n' ' ' | sed 's/ $//')"
digest "$T/one.db" >"$T/expect" && digest "$T/corpus.db" >"$T/actual"
check_eq "digest covers every array" "$((4 * N))" "$(grep -c ' [0-9a-f]\{64\}$' "$T/actual")"
if cmp -s "$T/expect" "$T/actual"; then ok "same segments, labels, media, clips and work; arrays bit-identical per segment"
else not_ok "the merged corpus differs from the single database"; diff "$T/expect" "$T/actual" | head -10 | sed 's/^/#   /'; fi
# Shards whose ids differ from the corpus's: a database that ingested the
# list's second half first merged first, so the segments of s0..s2 have other
# ids in the corpus (merge maps them by key instead of copying ids).
{ head -n 1 "$T/m.csv"; tail -n +2 "$T/m.csv" | sort -r | head -n $((N / 2)); } >"$T/rev1.csv"
{ head -n 1 "$T/m.csv"; tail -n +2 "$T/m.csv" | sort -r | tail -n +$((N / 2 + 1)); } >"$T/rev2.csv"
AEDCURATE_DB=$T/rev.db $AED init >/dev/null && AEDCURATE_DB=$T/rev.db $AED ontology ingest "$AUDIOSET/ontology.json" >/dev/null &&
	for f in rev1 rev2; do AEDCURATE_DB=$T/rev.db $AED segments ingest "$T/$f.csv" --split us8k --columns path=file,labels=audioset_mid,group=fsID >/dev/null; done
same=$(sqlite3 "$T/rev.db" "ATTACH '$T/s0.db' AS s; SELECT count(*) FROM segment r JOIN s.segment x ON x.key = r.key AND x.id = r.id")
if [ "$same" -lt $((N / 2)) ]; then ok "most segments have other ids there ($same of $N the same)"; else not_ok "$same of $N segments have the same id"; fi
check "merge it, then the 3 shards" $AED merge "$T/rev.db" "$T/s0.db" "$T/s1.db" "$T/s2.db" --into "$T/rev-corpus.db"
digest "$T/rev-corpus.db" >"$T/rev-actual"
if cmp -s "$T/expect" "$T/rev-actual"; then ok "the same segments, labels, results and arrays, by key"
else not_ok "merging shards with other ids differs"; diff "$T/expect" "$T/rev-actual" | head -10 | sed 's/^/#   /'; fi

check_eq "every run with its shard" "$(for i in 0 1 2; do sqlite3 "$T/s$i.db" "SELECT count(*) FROM run"; done | awk '{ n += $1 } END { print n }')" \
	"$(sqlite3 "$T/corpus.db" "SELECT count(*) FROM run WHERE shard_db LIKE '$T/s_.db'")"
check_eq "runs name their shard and id there" "$(sqlite3 "$T/s1.db" "SELECT group_concat(stage || id) FROM (SELECT * FROM run ORDER BY id)")" \
	"$(sqlite3 "$T/corpus.db" "SELECT group_concat(stage || shard_run_id) FROM (SELECT * FROM run WHERE shard_db = '$T/s1.db' ORDER BY id)")"
check_eq "one ontology, one class per mid" "$(sqlite3 "$T/one.db" "SELECT count(*) FROM class")" \
	"$(sqlite3 "$T/corpus.db" "SELECT count(*) FROM class")"

# Mining on the corpus sees what it sees on the single database.
mine() {
	AEDCURATE_DB=$1 $AED index build >/dev/null &&
	AEDCURATE_DB=$1 $AED mine --class Bark --no-class-exemplars -k 10 \
		$(sed 's/^/-e /' "$T/ex.txt") >/dev/null &&
	sqlite3 "$1" "SELECT s.key, c.rank, c.score, c.best_time_s FROM candidate c JOIN segment s ON s.id = c.segment_id ORDER BY c.rank"
}
cp "$T/one.db" "$T/one-mine.db"; cp -R "$T/one.db.arrays" "$T/one-mine.db.arrays"
cp "$T/corpus.db" "$T/corpus-mine.db"
mine "$T/one-mine.db" >"$T/mine.one" 2>"$T/err"; mine "$T/corpus-mine.db" >"$T/mine.corpus" 2>>"$T/err"
check_eq "mining ranks candidates" 10 "$(wc -l <"$T/mine.corpus" | tr -d ' ')"
if cmp -s "$T/mine.one" "$T/mine.corpus"; then ok "mine on the corpus: the same top candidates and scores"
else not_ok "mining differs"; diff "$T/mine.one" "$T/mine.corpus" | head -6 | sed 's/^/#   /'; fi

# Idempotent: a shard merged again changes nothing.
dump "$T/corpus.db" >"$T/before"
check "merge shard 1 again" $AED merge "$T/s1.db" --into "$T/corpus.db"
check_grep "reported unchanged" '^unchanged ' "$T/out"
check "merge all again" $AED merge "$T/s0.db" "$T/s1.db" "$T/s2.db" --into "$T/corpus.db" --json
check_eq "all unchanged" 3 "$(grep -c '"outcome": "unchanged"' "$T/out")"
check_eq "each found its segments, splits and labels the corpus's (digest)" 3 "$(grep -c '"same_ingest": true' "$T/out")"
dump "$T/corpus.db" >"$T/after"
if cmp -s "$T/before" "$T/after"; then ok "the database is unchanged, byte for byte of its dump"
else not_ok "merging again changed the database"; diff "$T/before" "$T/after" | head -6 | sed 's/^/#   /'; fi

# kill -9 in the middle: shard 1 is in, shard 2's transaction is open.
AEDCURATE_MERGE_STALL="2:$T/stalled" $AED merge "$T/s0.db" "$T/s1.db" "$T/s2.db" \
	--into "$T/killed.db" >"$T/killed.out" 2>&1 &
pid=$!
i=0
while [ ! -e "$T/stalled" ] && [ $i -lt 3000 ] && kill -0 $pid 2>/dev/null; do sleep 0.02; i=$((i + 1)); done
kill -9 $pid 2>/dev/null
wait $pid 2>/dev/null
if [ -e "$T/stalled" ]; then ok "killed with shard 2's merge under way"; else not_ok "the merge never reached shard 2"; fi
check_eq "only shard 1 is in" "$(realpath "$T/s0.db")" "$(sqlite3 "$T/killed.db" "SELECT group_concat(path) FROM merge_shard")"
check "rerun the merge" $AED merge "$T/s0.db" "$T/s1.db" "$T/s2.db" --into "$T/killed.db"
check_eq "the rerun finds shard 0 in, merges 1 and 2" "unchanged merged merged" "$(awk '{ printf "%s%s", s, $1; s = " " }' "$T/out")"
dump "$T/killed.db" >"$T/resumed"
if cmp -s "$T/before" "$T/resumed"; then ok "the same database as a clean merge (dump)"
else not_ok "a resumed merge differs from a clean one"; diff "$T/before" "$T/resumed" | head -6 | sed 's/^/#   /'; fi

# --copy: the arrays come into the corpus's own store.
check "merge --copy" $AED merge --copy "$T/s0.db" "$T/s1.db" "$T/s2.db" --into "$T/copy.db"
check_eq "no array file outside the corpus" 0 "$(sqlite3 "$T/copy.db" "SELECT count(*) FROM array_file WHERE path LIKE '/%'")"
mkdir "$T/moved"
for i in 0 1 2; do mv "$T/s$i.db.arrays" "$T/moved/"; done
digest "$T/copy.db" >"$T/copied"
for i in 0 1 2; do mv "$T/moved/s$i.db.arrays" "$T/"; done
if cmp -s "$T/expect" "$T/copied"; then ok "a copied corpus reads the same without the shards' arrays"
else not_ok "the copied corpus differs"; diff "$T/expect" "$T/copied" | head -6 | sed 's/^/#   /'; fi
check "merge --copy again" $AED merge --copy "$T/s0.db" "$T/s1.db" "$T/s2.db" --into "$T/copy.db"
check_eq "--copy again: all unchanged" 3 "$(grep -c '^unchanged ' "$T/out")"

# Refusals: another schema version, another model; nothing written.
cp "$T/s0.db" "$T/old.db"
sqlite3 "$T/old.db" "PRAGMA user_version = 11"
check_fail "a shard of another schema version is refused" $AED merge "$T/s1.db" "$T/old.db" --into "$T/corpus.db"
check_grep "naming the shard and its version" "refused: .*old.db: schema version 11" "$T/err"
cp "$T/s2.db" "$T/other.db"
sqlite3 "$T/other.db" "UPDATE model SET sha256 = '$(printf '%064d' 7)'"
check_fail "a shard of another model file is refused" $AED merge "$T/other.db" --into "$T/corpus.db"
check_grep "naming the shard and the model" "refused: .*other.db: made with another model file \(sha256 0{63}7" "$T/err"
dump "$T/corpus.db" >"$T/after"
if cmp -s "$T/before" "$T/after"; then ok "refusals leave the corpus unchanged"
else not_ok "a refusal changed the corpus"; diff "$T/before" "$T/after" | head -6 | sed 's/^/#   /'; fi

# A conflict: the same segment with another embedding in a second shard.
cp "$T/s1.db" "$T/x.db"; cp -R "$T/s1.db.arrays" "$T/x.db.arrays"
key=$($PY - "$T/x.db" <<'EOF'
import sqlite3, sys
db = sys.argv[1]
con = sqlite3.connect(db)
key, path, off = con.execute("SELECT s.key, f.path, r.offset FROM array_ref r JOIN array_file f ON f.id = r.file_id "
    "JOIN segment s ON s.id = r.item WHERE r.kind = 'embedding' ORDER BY s.key LIMIT 1").fetchone()
with open(db + ".arrays/" + path, "r+b") as f:
    f.seek(off); b = bytearray(f.read(4)); b[0] ^= 1; f.seek(off); f.write(b)
print(key)
EOF
)
check_fail "a conflicting shard fails the merge" $AED merge "$T/x.db" --into "$T/corpus.db"
check_grep "the conflict names the segment and the array" "x.db: $key: embedding array differs" "$T/out"
check_grep "and is counted" "1 conflict" "$T/err"
dump "$T/corpus.db" >"$T/after"
if cmp -s "$T/before" "$T/after"; then ok "nothing of the conflicting shard was picked"
else not_ok "a conflicting shard changed the corpus"; diff "$T/before" "$T/after" | head -6 | sed 's/^/#   /'; fi
cp "$T/s2.db" "$T/y.db"
check_fail "a shard without its array files is refused" $AED merge "$T/y.db" --into "$T/corpus.db"
check_grep "naming the missing file" "y.db.arrays/.*: the shard's array file: No such file" "$T/err"
cp -R "$T/s2.db.arrays" "$T/y.db.arrays"
key=$(sqlite3 "$T/y.db" "SELECT key FROM segment ORDER BY id LIMIT 1")
sqlite3 "$T/y.db" "UPDATE segment SET source_group = 'elsewhere' WHERE key = '$key'"
check_fail "a segment row that differs is a conflict" $AED merge "$T/y.db" --into "$T/corpus.db"
check_grep "naming the segment" "y.db: $key: segment row differs" "$T/out"
dump "$T/corpus.db" >"$T/after"
if cmp -s "$T/before" "$T/after"; then ok "and the corpus is unchanged"
else not_ok "a conflicting segment row changed the corpus"; fi
# Shards whose ingest tables differ from the corpus's by one row, of a
# segment they have no results for: one label, one split membership, one
# strong label. Each is merged row by row and the row arrives, nothing else.
seg=$(sqlite3 "$T/s2.db" "SELECT s.key FROM segment s WHERE NOT EXISTS (SELECT 1 FROM media m WHERE m.segment_id = s.id) ORDER BY s.id LIMIT 1")
sel="FROM segment s WHERE s.key = '$seg'"
cls="(SELECT id FROM class WHERE mid = '/m/07qfr4h')"
for kind in label split strong; do
	cp "$T/s2.db" "$T/w$kind.db"; cp -R "$T/s2.db.arrays" "$T/w$kind.db.arrays"
	sqlite3 "$T/corpus.db" ".backup '$T/w$kind-corpus.db'"
	case $kind in
	label) change="INSERT INTO label(segment_id, class_id, source) SELECT s.id, $cls, 'verified' $sel"
		ask="SELECT count(*) FROM label l JOIN segment s ON s.id = l.segment_id WHERE s.key = '$seg' AND l.source = 'verified'"
		table=label ;;
	split) change="INSERT INTO split(name) VALUES('extra'); INSERT INTO segment_split SELECT s.id, (SELECT id FROM split WHERE name = 'extra') $sel"
		ask="SELECT count(*) FROM segment_split x JOIN segment s ON s.id = x.segment_id JOIN split p ON p.id = x.split_id WHERE p.name = 'extra' AND s.key = '$seg'"
		table=segment_split ;;
	strong) change="INSERT INTO strong_label(segment_id, class_id, start_s, end_s) SELECT s.id, $cls, 1.25, 2.5 $sel"
		ask="SELECT count(*) FROM strong_label x JOIN segment s ON s.id = x.segment_id WHERE s.key = '$seg' AND x.start_s = 1.25 AND x.end_s = 2.5"
		table=strong_label ;;
	esac
	sqlite3 "$T/w$kind.db" "$change"
	check "$kind: a shard with one more row" $AED merge "$T/w$kind.db" --into "$T/w$kind-corpus.db" --json
	check_eq "$kind: merged row by row" 1 "$(grep -c '"same_ingest": false' "$T/out")"
	check_eq "$kind: the row arrives" 1 "$(sqlite3 "$T/w$kind-corpus.db" "$ask")"
	check_eq "$kind: nothing else is new in $table" \
		"$(($(sqlite3 "$T/corpus.db" "SELECT count(*) FROM $table") + 1))" "$(sqlite3 "$T/w$kind-corpus.db" "SELECT count(*) FROM $table")"
done
check_fail "the corpus into itself is refused" $AED merge "$T/corpus.db" --into "$T/corpus.db"
check_grep "saying so" "refused: .*corpus.db: that is the corpus itself" "$T/err"
echo "not a database" >"$T/text.db"
check_fail "a file that is not a database is refused" $AED merge "$T/s0.db" "$T/text.db" --into "$T/corpus.db"
check_grep "naming it" "text.db" "$T/err"
dump "$T/corpus.db" >"$T/after"
if cmp -s "$T/before" "$T/after"; then ok "and the corpus is unchanged"
else not_ok "a refused merge changed the corpus"; fi
check "merge --help" $AED merge --help
done_testing
