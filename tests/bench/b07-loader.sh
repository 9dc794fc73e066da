#!/bin/sh
# b07-loader.sh - what a trainer reads per second: the torch IterableDataset of
# tests/py/torch_probe.py (2 DataLoader workers, each shard to one worker,
# members .flac, .json, .labels.npy and .embedding.npy, the .npy parsed) over
# the train split of an `aedcurate export --payload audio,embedding` of
# decoded, embedded UrbanSound8K clips, against one plain Python tarfile pass
# reading every member's bytes of the same shards, in the same run.
. "$(dirname "$0")/../lib/testlib.sh"
US=$SHARED/data/audio/urbansound8k
MODEL=$SHARED/models/yamnet/yamnet.tflite
need_shared "$US/manifest.csv" "$MODEL"
$PY -c 'import torch' 2>/dev/null || { echo "# skip: python3-torch not installed (make deps)"; exit 0; }
N=${BENCH_CLIPS:-400}

$AED init -q || exit 1
$AED ontology ingest -q "$AUDIOSET/ontology.json" --labels "$AUDIOSET/class_labels_indices.csv" >/dev/null || exit 1
awk -F, -v d="$US/" -v n="$N" 'NR == 1 { print; next } NR <= n + 1 { $1 = d $1; print }' OFS=, \
	"$US/manifest.csv" >"$T/us.csv"
$AED segments ingest -q "$T/us.csv" --columns path=file,labels=audioset_mid,group=fsID >/dev/null || exit 1
$AED fetch -q >/dev/null && $AED decode -q >/dev/null && $AED features -q >/dev/null &&
	$AED embed -q --model "$MODEL" >/dev/null || exit 1
$AED export -q --out "$T/shards" --payload audio,embedding --shard-size 50 --split train=1 >/dev/null || exit 1
sync
# prints: samples (torch), samples (tarfile), seconds (torch, second pass),
# seconds (tarfile), bytes, seconds (torch, first pass with worker start-up)
r=$($PY "$ROOT/tests/py/torch_probe.py" "$T/shards" --bench --workers 2) || exit 1
echo "$r" | awk -v load="$(cut -d' ' -f1 /proc/loadavg)" '{
	printf "reading the train split of an export, %d samples in %.1f MB of shards (load %s)\n", $1, $5 / 1e6, load
	printf "  torch DataLoader, 2 workers: %8.1f samples/s (flac, json, labels.npy, embedding.npy parsed; second pass)\n", $1 / $3
	printf "                               %8.1f samples/s (first pass, worker start-up included)\n", $1 / $6
	printf "  plain tarfile pass:          %8.1f samples/s (every member read, nothing parsed)\n", $2 / $4
	printf "  ratio:                       %8.2fx the speed of plain tarfile\n", $4 / $3
}'
