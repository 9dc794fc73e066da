#!/bin/sh
# t0603-embed-float.sh - a TFLite file with float32 weights (as float exports
# such as MediaPipe's store them; made here from the int8 file by
# tests/py/tflite_float.py) loads the same way and, its weights being the
# dequantised int8 ones, gives bit-identical embeddings and scores.
. "$(dirname "$0")/../lib/testlib.sh"
MODEL=$SHARED/models/yamnet/yamnet.tflite
US=$SHARED/data/audio/urbansound8k
need_shared "$MODEL" "$US/manifest.csv" "$AUDIOSET/ontology.json"
check "float32 copy" $PY "$ROOT/tests/py/tflite_float.py" "$MODEL" "$T/f32.tflite"
check_grep "28 int8 tensors converted" "28 int8 tensors written as float32" "$T/out"
{ echo path; awk -F, 'NR > 1 && $8 + 0 == 1 { print $1 }' "$US/manifest.csv" | head -6 | sed "s|^|$US/|"; } >"$T/m.csv"
check "init" $AED init
check "ontology" $AED ontology ingest "$AUDIOSET/ontology.json"
check "segments" $AED segments ingest --format manifest "$T/m.csv"
check "fetch" $AED fetch
check "decode" $AED decode --clip-seconds 4
check "features" $AED features
check "embed int8 file" $AED embed --model "$MODEL" --json
for k in embedding scores; do $PY "$ROOT/tests/py/array_digest.py" "$AEDCURATE_DB" $k; done >"$T/int8"
check "embed float32 file" $AED embed --model "$T/f32.tflite" --redo --json
check_grep "all 6" '"done": 6, "failed": 0' "$T/out"
for k in embedding scores; do $PY "$ROOT/tests/py/array_digest.py" "$AEDCURATE_DB" $k; done >"$T/f32"
check_eq "12 arrays" 12 "$(wc -l <"$T/f32" | tr -d ' ')"
if cmp -s "$T/int8" "$T/f32"; then ok "bit-identical results"; else not_ok "float32 file gives other results"; fi
check_eq "both files recorded, quantized flag from the file" "0|1" \
	"$(sql "SELECT group_concat(quantized, '|') FROM (SELECT quantized FROM model ORDER BY quantized)")"
check_eq "embeddings name the float32 file" 6 \
	"$(sql "SELECT count(*) FROM embedding e JOIN model m ON m.id = e.model_id WHERE m.quantized = 0")"
done_testing
