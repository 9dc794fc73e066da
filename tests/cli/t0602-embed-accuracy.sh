#!/bin/sh
# t0602-embed-accuracy.sh - YAMNet through the whole pipeline names real
# sounds: for the first 20 foreground UrbanSound8K clips of dog_bark, siren,
# gun_shot, car_horn, jackhammer and drilling, the clip's top 5 (max over
# patches) holds the class's AudioSet mid or a parent/child of it for at
# least 70% of the clips (per-class table in the log). The full run over all
# 573 clips and the AudioSet eval mAP: tests/py/run_accuracy.sh.
. "$(dirname "$0")/../lib/testlib.sh"
MODEL=$SHARED/models/yamnet/yamnet.tflite
US=$SHARED/data/audio/urbansound8k
need_shared "$MODEL" "$US/manifest.csv" "$AUDIOSET/ontology.json"

$PY "$ROOT/tests/py/yamnet_accuracy.py" select "$US/manifest.csv" 20 >"$T/m.csv"
check_eq "120 clips selected" 121 "$(wc -l <"$T/m.csv" | tr -d ' ')"
check "init" $AED init
check "ontology" $AED ontology ingest "$AUDIOSET/ontology.json"
check "segments" $AED segments ingest --format manifest "$T/m.csv"
check "fetch" $AED fetch
check "decode" $AED decode --clip-seconds 4
check "features" $AED features
check "embed" $AED embed --json
check_grep "all 120 embedded" '"done": 120, "failed": 0' "$T/out"
check "top-5 rate at least 70%" $PY "$ROOT/tests/py/yamnet_accuracy.py" urbansound "$AEDCURATE_DB" "$US/manifest.csv" 0.70
sed 's/^/# /' "$T/out"
# The check can fail: demanding more than the model gives is refused.
check_fail "an impossible bar fails" $PY "$ROOT/tests/py/yamnet_accuracy.py" urbansound "$AEDCURATE_DB" "$US/manifest.csv" 1.01
done_testing
