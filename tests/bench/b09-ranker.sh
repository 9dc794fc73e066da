#!/bin/sh
# b09-ranker.sh - a mining round with the rating-trained ranker over a real
# corpus of 1,000,000 patch vectors: the whole `aedcurate mine --ranker`
# command, cold (database, index, its cache files and stored embeddings
# dropped from the page cache with posix_fadvise) and warm (the median of
# three runs, interleaved with the other modes), with its peak RSS and the
# seconds of each step (mine --json's "seconds").
# The corpus: b05's tiling made real. The UrbanSound8K database of b05 is
# copied and every tiled segment beyond its own 1,761 becomes a segment with
# its real clip's recording and labels and a stored embedding of the noisy
# copies (search_bench db): ~125,000 segments, 4 GB of embeddings, indexed
# by `aedcurate index build` (auto: PCA256,IVF1024,SQ8 at 1 M). Kept in
# build/bench/b09-N.db for later runs.
# The ratings: one simulated review round on the real clips before the
# copies are added, `eval mine --class Bark --rounds 1 --per-round 100` (the
# oracle answers from the labels; the ratings are stored through review
# import's code path). Then the round timed: `mine --class Bark --ranker --k
# 100 --exclude-group` from 5 dog_bark exemplars of different recordings, so
# the ranker trains on the 100 ratings and the clips verified Present join
# the exemplars, as in a real next round. (The tiled copies make the
# candidates' quality meaningless here: each clip has ~70 noisy twins.
# Yield is measured on real clips: README, `eval mine --rounds`.)
# Peer, same run: the same command without the ranker (`--no-ranker`), cold
# and warm; the ratio is the ranker's cost. Also timed: `--ranker
# --no-class-exemplars`, the search from the 5 named exemplars only: the
# verified clips multiply the kept frames (~600 after 100 Present ratings
# against ~30), which mine merges into at most --max-queries (32) queries.
# Goal: the whole command < 2 s warm (the median).
# B09_N: vectors (1,000,000).
. "$(dirname "$0")/../lib/testlib.sh"
need_shared "$SHARED/data/audio/urbansound8k/manifest.csv" "$SHARED/models/yamnet/yamnet.tflite" \
	"$AUDIOSET/ontology.json"
N=${B09_N:-1000000}
export OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-PASSIVE}
. "$ROOT/tests/bench/bench_tools.sh"
SRC=$ROOT/build/bench/b05-us8k.db
bench_us8k_db "$SRC" || exit 1
DB=$ROOT/build/bench/b09-$N.db
if [ ! -f "$DB.built" ]; then
	bench_search_tool "$T/search_bench" || exit 1
	rm -rf "$DB" "$DB".*
	sqlite3 "$SRC" ".backup '$DB'" && cp -r "$SRC.arrays" "$DB.arrays" || { echo "b09: cannot copy $SRC"; exit 1; }
	# The ratings, on the real clips, before the copies exist: one simulated
	# review round of 100 clips (the oracle answers from the labels, stored
	# through review import's code path), which needs an exact index.
	$AED --db "$DB" index build -q --factory Flat &&
		$AED --db "$DB" eval mine --class Bark --exemplars 5 --trials 1 --seed 1 --exclude-group \
			--rounds 1 --per-round 100 >/dev/null || { echo "b09: the rating round failed"; exit 1; }
	t=$(date +%s.%N)
	"$T/search_bench" db "$SRC" dog_bark "$N" "$DB" || exit 1
	echo "corpus written: $(echo "$(date +%s.%N) - $t" | bc | xargs printf '%.0f') s"
	t=$(date +%s.%N)
	$AED --db "$DB" index build -q --rebuild --factory auto || { echo "b09: index build failed"; exit 1; }
	echo "index build: $(echo "$(date +%s.%N) - $t" | bc | xargs printf '%.0f') s"
	touch "$DB.built"
fi
A() { $AED --db "$DB" "$@"; }
sql() { sqlite3 "$DB" "$1"; }
echo "corpus: $(sql 'SELECT count(*), sum(n_patches) FROM embedding' | tr '|' ' ' | xargs printf '%s segments, %s vectors')"
# A database kept from an earlier run may hold an index built before index
# build recorded its checks (sql/0015): an index build, up to date, records
# them, as a user's first one after upgrading does.
A index build -q || { echo "b09: index build failed"; exit 1; }
A index status | sed -n 's/^/# /p' | head -4

# 5 dog_bark clips from different recordings, among the real ones.
EX=$(sql "SELECT group_concat('-e ' || key, ' ') FROM (SELECT min(s.key) AS key FROM segment s JOIN label l ON
	l.segment_id = s.id JOIN class c ON c.id = l.class_id WHERE c.mid = '/m/05tny_' AND s.key NOT LIKE 't%'
	GROUP BY s.source_group ORDER BY s.source_group LIMIT 5)")
echo "ratings: $(sql "SELECT count(*), sum(answer = 'present') FROM rating" | tr '|' ' ' | xargs printf '%s clips, %s Present')"

# timed NAME ARGS...: the whole command's wall time and peak RSS, to $T/NAME.
timed() {
	_n=$1; shift
	"$PY" - "$T/$_n" "$@" <<'PY'
import resource, subprocess, sys, time
t = time.time()
r = subprocess.run(sys.argv[2:], stdout=open(sys.argv[1] + ".json", "w"))
w = time.time() - t
open(sys.argv[1], "w").write("%.3f %.0f\n" % (w, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024))
sys.exit(r.returncode)
PY
}
drop() {
	"$PY" - "$DB" <<'PY'
import glob, os, sys
for f in [sys.argv[1]] + glob.glob(sys.argv[1] + ".index/*") + glob.glob(sys.argv[1] + ".arrays/*/*"):
    fd = os.open(f, os.O_RDONLY); os.fsync(fd); os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED); os.close(fd)
PY
}
# The three modes, by name: the options after the common ones.
opts() {
	case $1 in
	ranker) echo "--ranker" ;;
	noranker) echo "--no-ranker" ;;
	ranker_noclassexemplars) echo "--ranker --no-class-exemplars" ;;
	esac
}
MODES="ranker noranker ranker_noclassexemplars"
# run MODE FILE: one whole mine command, timed into $T/FILE.
run() {
	# shellcheck disable=SC2046
	timed "$2" $AED --db "$DB" --json mine --class Bark $EX --exclude-group --k 100 $(opts "$1") ||
		{ echo "b09: mine $(opts "$1") failed"; exit 1; }
}
# Cold: each mode after dropping the files from the page cache. Warm: after
# one untimed run of each (the drops before the later modes' cold runs
# dropped what the earlier ones read), three rounds, the modes interleaved,
# so that a busy moment falls on all of them.
for n in $MODES; do drop; run "$n" "$n-cold"; done
for n in $MODES; do run "$n" "$n-again"; done
for i in 1 2 3; do for n in $MODES; do run "$n" "$n-warm$i"; done; done
"$PY" - "$T" $MODES <<'PY'
import json, statistics, sys
t, modes = sys.argv[1], sys.argv[2:]
what = {"ranker": "mine --ranker, whole command (the Present clips join the exemplars)",
        "noranker": "peer, mine --no-ranker",
        "ranker_noclassexemplars": "mine --ranker --no-class-exemplars (the 5 named exemplars only)"}
med = {}
for n in modes:
    cold = [float(x) for x in open("%s/%s-cold" % (t, n)).read().split()]
    warm = [[float(x) for x in open("%s/%s-warm%d" % (t, n, i)).read().split()] + [i] for i in (1, 2, 3)]
    m = sorted(warm)[1]
    med[n] = m[0]
    d = json.load(open("%s/%s-warm%d.json" % (t, n, m[2])))
    r, s, sec = d["ranker"], d["search"], d["seconds"]
    print("# mine %s: %d exemplars, %d kept frames, %d queries, %d hits a query, %d frames pooled, "
          "search %.2f s; ranker used %s (%d rated clips, %.2f s)" % (n, len(d["exemplars"]),
          d["kept_frames"], d["queries"], s["hits_per_query"], s["pooled_frames"], s["seconds"],
          r["used"], r["rated_clips"], r["seconds"]))
    print("#   steps of the median warm run: " + ", ".join("%s %.2f" % (k, v) for k, v in sec.items()))
    print("%s: cold %.2f s, warm %.2f s (median of %s), peak RSS %.0f MB" % (what[n], cold[0], m[0],
          " ".join("%.2f" % w[0] for w in warm), max([cold[1]] + [w[1] for w in warm])))
print("ratio ranker / no ranker, warm: %.2f" % (med["ranker"] / med["noranker"]))
print("goal (whole command < 2 s warm, median): %s (--no-class-exemplars: %s)" % (
      "met" if med["ranker"] < 2 else "NOT met", "met" if med["ranker_noclassexemplars"] < 2 else "NOT met"))
PY
