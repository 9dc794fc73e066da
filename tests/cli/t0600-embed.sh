#!/bin/sh
# t0600-embed.sh - the embed stage on real clips: the stored embeddings and
# scores agree with the NumPy reference network, the model is recorded by
# name and sha256, a rerun does nothing, another model file is not mixed in,
# a missing or broken model is refused with a clear message; tag and dump.
. "$(dirname "$0")/../lib/testlib.sh"
MODEL=$SHARED/models/yamnet/yamnet.tflite
US=$SHARED/data/audio/urbansound8k
need_shared "$MODEL" "$US/manifest.csv" "$AUDIOSET/ontology.json"
SHA=$(sha256sum "$MODEL" | cut -d' ' -f1)
DOG=$US/fold2/100652-3-0-0.mp3
SIREN=$US/$(awk -F, '$3 == "siren" && $8 + 0 == 1 { print $1; exit }' "$US/manifest.csv")
EVAL=$SHARED/data/audio/audioset-eval/Z19W44ZI15Q_190000.m4a
printf 'path\n%s\n%s\n%s\n' "$DOG" "$SIREN" "$EVAL" >"$T/m.csv"

check "init" $AED init
check "ontology" $AED ontology ingest "$AUDIOSET/ontology.json"
check "segments" $AED segments ingest --format manifest "$T/m.csv"
check "fetch" $AED fetch
check "decode" $AED decode
check "features" $AED features

# No model anywhere: the message says how to get one.
AEDCURATE_MODEL= AEDCURATE_SHARED=/nonexistent check_fail "no model file is refused" \
	$AED embed --model "$T/none.tflite"
check_grep "names the path and make models" "none.tflite.*make models" "$T/err"
AEDCURATE_SHARED=/nonexistent check_fail "nothing found by the search" $AED embed
check_grep "the search says how to get it" "no YAMNet model file.*make models" "$T/err"
head -c 100000 "$MODEL" >"$T/cut.tflite"
check_fail "a truncated model is refused" $AED embed --model "$T/cut.tflite"
check_grep "with a clear message" "cut.tflite: not a valid TFLite model" "$T/err"
printf 'not a model at all' >"$T/junk.tflite"
check_fail "junk is refused" $AED embed --model "$T/junk.tflite"
check_grep "as not TFLite" "junk.tflite: not a TFLite model" "$T/err"
check_eq "nothing stored by refused runs" 0 "$(sql "SELECT count(*) FROM array_ref WHERE kind IN ('embedding','scores')")"

check "embed --limit 1" $AED embed --model "$MODEL" --limit 1 --json
check_grep "one segment" '"done": 1, "failed": 0, "skipped": 0' "$T/out"
check "embed" $AED embed --model "$MODEL" --batch 8 --json
check_grep "the other 2 segments" '"done": 2, "failed": 0, "skipped": 1' "$T/out"
check_grep "reports the sha256" "\"sha256\": \"$SHA\"" "$T/out"
check_eq "model row: name, sha256, dims" "yamnet|$SHA|1024|521|96|48" \
	"$(sql "SELECT name, sha256, embed_dim, n_classes, patch_frames, patch_hop FROM model")"
check_eq "every embedding names the model" "3|1" \
	"$(sql "SELECT count(*), count(DISTINCT model_id) FROM embedding e JOIN model m ON m.id = e.model_id WHERE m.sha256 = '$SHA'")"
sql "SELECT params FROM run WHERE stage = 'embed' AND outcome = 'ok'" >"$T/params"
check_grep "the run records the model" "\"model\":\"yamnet\".*\"sha256\":\"$SHA\"" "$T/params"
check_eq "arrays: [patches,1024] and [patches,521] per segment" "3|3|0" \
	"$(sql "SELECT sum(kind = 'embedding' AND dim1 = 1024), sum(kind = 'scores' AND dim1 = 521),
	       sum(dim0 <> (SELECT n_patches FROM embedding WHERE segment_id = item)) FROM array_ref WHERE kind IN ('embedding','scores')")"

SEG=$(sql "SELECT id FROM segment WHERE path = '$DOG'")
check "dump features" $AED dump features "$SEG" -o "$T/lm.npy"
check "dump embedding" $AED dump embedding "$SEG" -o "$T/e.npy"
check "dump scores" $AED dump scores "$SEG" -o "$T/s.npy"
check "dump embeddings (the plural) writes the same array" $AED dump embeddings "$SEG" -o "$T/e_plural.npy"
check "byte for byte" cmp "$T/e.npy" "$T/e_plural.npy"
check "stored results equal the NumPy network; front ends agree" \
	$PY "$ROOT/tests/py/embed_check.py" "$MODEL" "$T/lm.npy" "$T/e.npy" "$T/s.npy" "$DOG"
cat "$T/out"
check "mel matrix equals the graph's" $PY "$ROOT/tests/py/yamnet_ref.py" "$MODEL" melcheck
check "log-mel close to the graph's own front end" $PY "$ROOT/tests/py/yamnet_ref.py" "$MODEL" graphcheck "$DOG"
cat "$T/out"
SEG2=$(sql "SELECT id FROM segment WHERE path = '$EVAL'")
$AED dump features "$SEG2" -o "$T/lm2.npy" >/dev/null 2>&1
$AED dump embedding "$SEG2" -o "$T/e2.npy" >/dev/null 2>&1
$AED dump scores "$SEG2" -o "$T/s2.npy" >/dev/null 2>&1
check "a stereo AAC clip too" $PY "$ROOT/tests/py/embed_check.py" "$MODEL" "$T/lm2.npy" "$T/e2.npy" "$T/s2.npy"

check "rerun" $AED embed --model "$MODEL" --json
check_grep "has nothing to do" '"done": 0, "failed": 0, "skipped": 3' "$T/out"

# Log-mels computed again make their embeddings stale: embed redoes them.
check "features --redo" $AED features --redo
check "embed after new log-mels" $AED embed --model "$MODEL" --json
check_grep "recomputes the 3 segments" '"done": 3, "failed": 0' "$T/out"
check "a further run" $AED embed --model "$MODEL" --json
check_grep "has nothing to do" '"done": 0, "failed": 0, "skipped": 3' "$T/out"

# Another model file (same weights, one more byte: another sha256).
cp "$MODEL" "$T/other.tflite"; printf 'x' >>"$T/other.tflite"
check_fail "another model file is not mixed in" $AED embed --model "$T/other.tflite"
check_grep "says which and how to switch" "3 segments were embedded with another model file.*--redo" "$T/err"
check "--redo switches" $AED embed --model "$T/other.tflite" --redo --json
check_grep "all recomputed" '"done": 3' "$T/out"
check_eq "embeddings now name the other file" 3 \
	"$(sql "SELECT count(*) FROM embedding e JOIN model m ON m.id = e.model_id WHERE m.path = '$T/other.tflite'")"
check "dump embedding again" $AED dump embedding "$SEG" -o "$T/e_other.npy"
check "same weights, same embedding" cmp "$T/e.npy" "$T/e_other.npy"

# tag: a segment from its stored scores, a file through the network.
check "tag segment" $AED tag "$SEG" --top 3 --model "$MODEL"
check_grep "dog in the top 3 of a patch" "Dog \(/m/0bt9lr\)" "$T/out"
check "tag file --json" $AED tag "$SIREN" --top 5 --json --model "$MODEL"
check_grep "json has mids" '"mid": "/m/' "$T/out"
cp "$T/out" "$T/tag.json"
check "tag json parses" $PY -c "import json,sys; d=json.load(open('$T/tag.json')); assert d['model']['sha256']=='$SHA' and len(d['clip'])==5 and len(d['patches'])>0"
done_testing
