#!/bin/sh
# b03-logmel.sh - (1) log-mel of a 10 s clip on one core: aed_logmel() (FFTW,
# sparse mel sums) against the NumPy reference of the VGGish front end
# (tests/py/vggish_ref.py, BLAS held to one thread); goal >= 5x.
# (2) decode + features clips per second over the whole UrbanSound8K folder
# on 2 cores; and on every 10th file, the same against a peer pipeline of the
# ffmpeg CLI + the NumPy front end run as 2 processes.
. "$(dirname "$0")/../lib/testlib.sh"
US=$SHARED/data/audio/urbansound8k
need_shared "$US/manifest.csv" "$SHARED/data/audio/audioset-eval"
now() { date +%s.%N; }
cc -O2 -std=c11 -D_GNU_SOURCE -I"$ROOT/include" -o "$T/logmel_bench" "$ROOT/tests/bench/logmel_bench.c" \
	"$ROOT/build/obj/src/audio/logmel.o" "$ROOT/build/obj/src/util/error.o" -lfftw3 -lm -pthread || exit 1

mkdb() { # NAME MANIFEST
	export AEDCURATE_DB=$T/$1.db
	{ $AED init -q && $AED ontology ingest -q "$AUDIOSET/ontology.json" &&
		$AED segments ingest -q --columns path=file,labels=audioset_mid,group=fsID "$2"; } >/dev/null 2>&1 || exit 1
	sql "INSERT INTO media(segment_id, status, path, whole_video) SELECT id, 'ok', path, 0 FROM segment"
}
pipeline() { # prints seconds for decode + features on 2 threads
	a=$(now)
	$AED decode --threads 2 -q && $AED features --threads 2 -q || exit 1
	b=$(now)
	awk -v a="$a" -v b="$b" 'BEGIN { printf "%.3f", b - a }'
}

sed "s#^fold#$US/fold#" "$US/manifest.csv" >"$T/all.csv"
mkdb all "$T/all.csv"
n_all=$(sql "SELECT count(*) FROM segment")
t_all=$(pipeline)
[ "$(sql "SELECT count(*) FROM array_ref WHERE kind = 'logmel_yamnet'")" -eq "$n_all" ] || { echo "features incomplete"; exit 1; }

# (1) one clip, one core: 10 s of real AudioSet audio (no padding, which
# aed_logmel skips as exact silence)
AE=$SHARED/data/audio/audioset-eval
ffmpeg -nostdin -v error -i "$(ls "$AE"/*.m4a | head -1)" -ac 1 -ar 16000 -t 10 -c:a pcm_s16le "$T/clip.wav" || exit 1
ours=$("$T/logmel_bench" "$T/clip.wav" 300) || exit 1
peer=$(OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 "$PY" "$ROOT/tests/py/vggish_ref.py" bench "$T/clip.wav" 30) || exit 1

# (2) every 10th file: ours against ffmpeg CLI + NumPy, 2 workers each
awk 'NR == 1 || (NR - 2) % 10 == 0' "$T/all.csv" >"$T/sample.csv"
mkdb sample "$T/sample.csv"
n_s=$(sql "SELECT count(*) FROM segment")
t_s=$(pipeline)
sed 1d "$T/sample.csv" | cut -d, -f1 >"$T/files"
split -n l/2 "$T/files" "$T/half."
a=$(now)
"$PY" "$ROOT/tests/py/vggish_ref.py" pipeline "$T/half.aa" >"$T/p1" &
p1=$!
"$PY" "$ROOT/tests/py/vggish_ref.py" pipeline "$T/half.ab" >"$T/p2" || exit 1
wait $p1 || exit 1
b=$(now)

awk -v ours="$ours" -v peer="$peer" -v n_all="$n_all" -v t_all="$t_all" -v n_s="$n_s" -v t_s="$t_s" -v a="$a" -v b="$b" 'BEGIN {
	printf "log-mel of a 10 s clip (998 x 64), one core\n"
	printf "  aedcurate (FFTW):  %8.3f ms/clip\n", ours * 1000
	printf "  NumPy reference:   %8.3f ms/clip (tests/py/vggish_ref.py, BLAS 1 thread)\n", peer * 1000
	printf "  ratio:             %8.1fx faster (goal >= 5x)\n", peer / ours
	printf "decode + features (yamnet), 2 cores\n"
	printf "  whole UrbanSound8K folder: %d clips in %.2f s = %.1f clips/s\n", n_all, t_all, n_all / t_all
	printf "  every 10th file (%d clips):\n", n_s
	printf "    aedcurate decode + features --threads 2: %8.1f clips/s\n", n_s / t_s
	printf "    ffmpeg CLI + NumPy, 2 processes:          %8.1f clips/s\n", n_s / (b - a)
	printf "    ratio:                                    %8.1fx\n", (b - a) / t_s
}'
