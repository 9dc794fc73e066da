#!/bin/sh
# t0500-features.sh - log-mel of decoded real clips over their real samples:
# 998 x 64 per full 10 s clip for both presets, fewer frames for shorter clips
# (not their zero padding); `dump features` matches an independent NumPy implementation of
# the published VGGish front end (tests/py/vggish_ref.py) within 1e-3 in the
# log domain, on the same waveform (the dumped clip); dump of other kinds.
. "$(dirname "$0")/../lib/testlib.sh"
US=$SHARED/data/audio/urbansound8k
AE=$SHARED/data/audio/audioset-eval
need_shared "$US/manifest.csv" "$AE/labels.csv"

check "init" $AED init
check "ontology" $AED ontology ingest "$AUDIOSET/ontology.json"
check "AudioSet eval manifest" $AED segments ingest --columns path=file,labels=positive_labels "$AE/labels.csv"
# a few UrbanSound8K clips of each codec too
{ head -n 1 "$US/manifest.csv"; grep '^fold1' "$US/manifest.csv" | head -n 5; grep '^fold2' "$US/manifest.csv" | head -n 5; } |
	sed "s#^fold#$US/fold#" >"$T/us.csv"
check "UrbanSound8K manifest" $AED segments ingest --columns path=file,labels=audioset_mid,group=fsID "$T/us.csv"
N=$(sql "SELECT count(*) FROM segment")
sql "INSERT INTO media(segment_id, status, path, whole_video) SELECT id, 'ok', path, 0 FROM segment"
check "decode" $AED decode --json
check_fail "features with an unknown preset" $AED features --preset vgg
check_grep "names the preset" "vgg" "$T/err"
check "features (yamnet)" $AED features --json
check_grep "all done" "\"preset\": \"yamnet\", \"done\": $N, \"failed\": 0" "$T/out"
check "features (vggish)" $AED features --preset vggish --json
check_grep "all done" "\"preset\": \"vggish\", \"done\": $N, \"failed\": 0" "$T/out"
FULL=$(sql "SELECT count(*) FROM clip WHERE n_samples = n_total")
check_eq "998 x 64 f32 for every full 10 s clip, both presets" "logmel_vggish|$FULL|f32|998|64|1
logmel_yamnet|$FULL|f32|998|64|1" \
	"$(sql "SELECT kind, count(*), dtype, dim0, dim1, dim2 FROM array_ref r JOIN clip c ON c.segment_id = r.item WHERE kind LIKE 'logmel%' AND c.n_samples = c.n_total GROUP BY kind ORDER BY kind")"
check "some clips are shorter than 10 s" test "$FULL" -lt "$N"
# YAMNet pads the real samples to >= 15600 and then whole 7680-sample hops
check_eq "shorter clips: frames of their real samples padded as YAMNet pads them" "0|0" \
	"$(sql "SELECT sum(r.dim0 <> 1 + (min(15600 + (max(c.n_samples, 15600) - 15600 + 7679) / 7680 * 7680, c.n_total) - 400) / 160),
		       sum(r2.dim0 <> 1 + (min(max(c.n_samples, 15600), c.n_total) - 400) / 160)
		FROM clip c JOIN array_ref r ON r.item = c.segment_id AND r.kind = 'logmel_yamnet'
		JOIN array_ref r2 ON r2.item = c.segment_id AND r2.kind = 'logmel_vggish'")"
check_eq "a 4 s UrbanSound8K clip: 432 frames (8 patches), not 998" "432|398" \
	"$(sql "SELECT max(r.dim0), max(r2.dim0) FROM clip c JOIN array_ref r ON r.item = c.segment_id AND r.kind = 'logmel_yamnet'
		JOIN array_ref r2 ON r2.item = c.segment_id AND r2.kind = 'logmel_vggish' WHERE c.n_samples = 64000")"
check "a rerun has nothing to do" $AED features --json
check_grep "all already done" "\"done\": 0, \"failed\": 0, \"already_done\": $N" "$T/out"

# Against the NumPy reference, every clip: AAC stereo 48 kHz and mono 44.1
# kHz, Opus, MP3 (the same waveform: the stored clip, dumped as WAV).
: >"$T/pairs.yamnet"; : >"$T/pairs.vggish"
# The reference covers the real samples padded as YAMNet pads them (third column).
sql "SELECT s.key, c.n_samples FROM clip c JOIN segment s ON s.id = c.segment_id ORDER BY s.key" | tr '|' ' ' >"$T/keys"
while read -r key real; do
	$AED dump clip "$key" -o "$T/$key.wav" -q || not_ok "dump clip $key"
	for p in yamnet vggish; do
		$AED dump features "$key" --preset $p -o "$T/$key.$p.npy" -q || not_ok "dump features $key --preset $p"
		echo "$T/$key.wav $T/$key.$p.npy $real" >>"$T/pairs.$p"
	done
done <"$T/keys"
check_eq "a WAV and two .npy per clip" "$N $N" "$(wc -l <"$T/pairs.yamnet") $(wc -l <"$T/pairs.vggish")"
for p in yamnet vggish; do
	check "$p: the NumPy VGGish front end agrees within 1e-3 on all $N clips" \
		"$PY" "$ROOT/tests/py/vggish_ref.py" compare-list --preset $p "$T/pairs.$p"
	echo "# $(cat "$T/out")"
done
# the check can fail: a different offset is caught
key=$(sql "SELECT s.key FROM segment s JOIN clip c ON c.segment_id = s.id WHERE c.n_samples = c.n_total ORDER BY s.id LIMIT 1")
$AED dump clip "$key" -o "$T/a.wav" -q && $AED dump features "$key" -o "$T/a.npy" -q
check_fail "the reference notices the wrong preset" "$PY" "$ROOT/tests/py/vggish_ref.py" compare --preset vggish "$T/a.wav" "$T/a.npy"

check "dump logmel_vggish by kind name" $AED dump logmel_vggish "$key" -o "$T/b.npy" --json
check_grep "shape [998, 64]" '"kind": "logmel_vggish", "dtype": "f32", "shape": \[998, 64\]' "$T/out"
check "NumPy loads it" "$PY" -c "import numpy as np, sys; a = np.load(sys.argv[1]); assert a.shape == (998, 64) and a.dtype == np.float32" "$T/b.npy"
check_fail "dump of a kind nobody stores" $AED dump embedding_x "$key" -o "$T/c.npy"
check_grep "names the kind" "embedding_x" "$T/err"
check_fail "--preset only with features" $AED dump clip "$key" --preset vggish -o "$T/d.wav"

# shards split the work: two shard runs cover everything once
check "features --redo --shard 0/2" $AED features --redo --shard 0/2 --json
a=$(sed -n 's/.*"done": \([0-9]*\).*/\1/p' "$T/out")
check "features --shard 1/2" $AED features --shard 1/2 --json
b=$(sed -n 's/.*"done": \([0-9]*\).*/\1/p' "$T/out")
check_eq "the two shards cover every clip once" "$N" "$((a + b))"

# clips decoded again make their log-mels stale
check "decode --redo" $AED decode --redo --json
check_grep "all decoded again" "\"done\": $N, \"failed\": 0" "$T/out"
check "features after decode --redo" $AED features --json
check_grep "recomputed every clip" "\"done\": $N, \"failed\": 0, \"already_done\": 0" "$T/out"
done_testing
