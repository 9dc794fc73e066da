#!/bin/sh
# b06-export.sh - export throughput: `aedcurate export` of decoded UrbanSound8K
# clips to WebDataset shards (whole command: selection, split, clip reads from
# the array store, FLAC encoding, JSON with provenance, tar, sha256 of every
# shard) against plain GNU `tar -cf` of the same member files (extracted from
# the shards beforehand, so the peer only copies bytes), in the same run.
. "$(dirname "$0")/../lib/testlib.sh"
US=$SHARED/data/audio/urbansound8k
need_shared "$US/manifest.csv"
N=${BENCH_CLIPS:-400}
now() { date +%s.%N; }

$AED init -q || exit 1
$AED ontology ingest -q "$AUDIOSET/ontology.json" --labels "$AUDIOSET/class_labels_indices.csv" >/dev/null || exit 1
awk -F, -v d="$US/" -v n="$N" 'NR == 1 { print; next } NR <= n + 1 { $1 = d $1; print }' OFS=, \
	"$US/manifest.csv" >"$T/us.csv"
$AED segments ingest -q "$T/us.csv" --columns path=file,labels=audioset_mid,group=fsID >/dev/null || exit 1
$AED fetch -q >/dev/null && $AED decode -q >/dev/null || exit 1
clips=$(sql "SELECT count(*) FROM clip")

t0=$(now)
$AED export -q --out "$T/shards" --shard-size 100 >/dev/null || exit 1
t1=$(now)
mkdir -p "$T/files"
for f in "$T"/shards/*.tar; do tar -xf "$f" -C "$T/files" || exit 1; done
sync
t2=$(now)
tar -cf "$T/plain.tar" -C "$T/files" . || exit 1
t3=$(now)
bytes=$(cat "$T"/shards/*.tar | wc -c)
awk -v n="$clips" -v a="$t0" -v b="$t1" -v c="$t2" -v d="$t3" -v by="$bytes" 'BEGIN {
	ours = n / (b - a); peer = n / (d - c)
	printf "export of %d decoded UrbanSound8K clips (<= 4 s) to WebDataset shards, %.1f MB\n", n, by / 1e6
	printf "  aedcurate export:  %8.1f clips/s (selection, FLAC, JSON, tar, sha256)\n", ours
	printf "  GNU tar -cf:       %8.1f clips/s (the same members, already written)\n", peer
	printf "  ratio:             %8.2fx the speed of plain tar\n", ours / peer
}'
