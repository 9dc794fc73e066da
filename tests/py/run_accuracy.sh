#!/bin/sh
# run_accuracy.sh [N] - YAMNet through the whole pipeline on real audio:
#   1. UrbanSound8K foreground clips of dog_bark, siren, gun_shot, car_horn,
#      jackhammer, drilling (first N per class; default all 573): the
#      per-class top-5 table (yamnet_accuracy.py urbansound);
#   2. the 41 AudioSet eval clips: label-ranking mAP against their labels.
# Uses bin/aedcurate and $AEDCURATE_SHARED (default ../shared); work in a
# temporary folder. Exit status 1 if the top-5 rate is below 70%.
set -u
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
AED=${AEDCURATE_BIN:-$ROOT/bin/aedcurate}
SHARED=${AEDCURATE_SHARED:-$ROOT/../shared}
export AEDCURATE_SHARED=$SHARED
PY=/usr/bin/python3
N=${1:-0}
W=$(mktemp -d "${TMPDIR:-/tmp}/aedacc.XXXXXX")
trap 'rm -rf "$W"' EXIT
US=$SHARED/data/audio/urbansound8k
EV=$SHARED/data/audio/audioset-eval

pipeline() { # DB MANIFEST CLIP_SECONDS
	export AEDCURATE_DB=$1
	$AED init -q && $AED ontology ingest -q "$SHARED/data/audioset/ontology.json" &&
	$AED segments ingest -q --format manifest "$2" && $AED fetch -q &&
	$AED decode -q --clip-seconds "$3" && $AED features -q && $AED embed --json
}

$PY "$ROOT/tests/py/yamnet_accuracy.py" select "$US/manifest.csv" "$N" >"$W/us.csv"
echo "# UrbanSound8K: $(($(wc -l <"$W/us.csv") - 1)) foreground clips"
t0=$(date +%s)
pipeline "$W/us.db" "$W/us.csv" 4 || exit 1
echo "# pipeline took $(($(date +%s) - t0)) s"
$PY "$ROOT/tests/py/yamnet_accuracy.py" urbansound "$W/us.db" "$US/manifest.csv"
rc=$?

{ echo path; awk -F, 'NR > 1 { print $1 }' "$EV/labels.csv" | sed "s|^|$EV/|"; } >"$W/ev.csv"
echo "# AudioSet eval: $(($(wc -l <"$W/ev.csv") - 1)) clips"
pipeline "$W/ev.db" "$W/ev.csv" 10 || exit 1
$PY "$ROOT/tests/py/yamnet_accuracy.py" audioset "$W/ev.db" "$EV/labels.csv" || rc=1
exit $rc
