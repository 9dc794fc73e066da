#!/bin/sh
# get_models.sh [DIR] - download the official YAMNet TFLite (TF-Hub
# "classification" export) and its class map into DIR (default build/models),
# and check both against known sha256 sums. Run by `make models` on a machine
# that is online; tests and CI use $AEDCURATE_SHARED/models/yamnet instead.
# A file is kept only if its sum matches; an existing good file is not fetched
# again. YAMNET_URL / YAMNET_SHA256 / CLASS_MAP_URL / CLASS_MAP_SHA256 override.
set -eu
DIR=${1:-build/models}
YAMNET_URL=${YAMNET_URL:-https://tfhub.dev/google/lite-model/yamnet/classification/tflite/1?lite-format=tflite}
YAMNET_SHA256=${YAMNET_SHA256:-469be6a3421cbc52cf97e9f2f966cba984198e8e7af9854d68b3e3ebb1e04194}
CLASS_MAP_URL=${CLASS_MAP_URL:-https://raw.githubusercontent.com/tensorflow/models/master/research/audioset/yamnet/yamnet_class_map.csv}
CLASS_MAP_SHA256=${CLASS_MAP_SHA256:-cdf24d193e196d9e95912a2667051ae203e92a2ba09449218ccb40ef787c6df2}

sum() { sha256sum "$1" | cut -d' ' -f1; }

# fetch URL SHA256 FILE
fetch() {
	if [ -f "$3" ] && [ "$(sum "$3")" = "$2" ]; then
		echo "$3: present, sha256 ok"
		return 0
	fi
	echo "downloading $1"
	curl -fL --retry 3 --connect-timeout 20 --max-time 600 -o "$3.part" "$1" || {
		echo "get_models: download of $1 failed" >&2; rm -f "$3.part"; return 1; }
	got=$(sum "$3.part")
	if [ "$got" != "$2" ]; then
		echo "get_models: $1: sha256 $got, expected $2 (file not kept; set the" \
		     "*_SHA256 variable to accept a different export after checking it)" >&2
		rm -f "$3.part"
		return 1
	fi
	mv "$3.part" "$3"
	echo "$3: sha256 ok"
}

mkdir -p "$DIR"
fetch "$YAMNET_URL" "$YAMNET_SHA256" "$DIR/yamnet.tflite"
fetch "$CLASS_MAP_URL" "$CLASS_MAP_SHA256" "$DIR/yamnet_class_map.csv"
