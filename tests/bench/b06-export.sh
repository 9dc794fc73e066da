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

$AED init -q || exit 1
$AED ontology ingest -q "$AUDIOSET/ontology.json" --labels "$AUDIOSET/class_labels_indices.csv" >/dev/null || exit 1
awk -F, -v d="$US/" -v n="$N" 'NR == 1 { print; next } NR <= n + 1 { $1 = d $1; print }' OFS=, \
	"$US/manifest.csv" >"$T/us.csv"
$AED segments ingest -q "$T/us.csv" --columns path=file,labels=audioset_mid,group=fsID >/dev/null || exit 1
$AED fetch -q >/dev/null && $AED decode -q >/dev/null || exit 1
clips=$(sql "SELECT count(*) FROM clip")

# run CMD...: prints "wall_s cpu_s" of the command (CPU of the child: user + sys)
run() {
	$PY -c 'import resource, subprocess, sys, time
t = time.monotonic(); r = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL)
w = time.monotonic() - t; u = resource.getrusage(resource.RUSAGE_CHILDREN)
print("%.4f %.4f" % (w, u.ru_utime + u.ru_stime)) if r.returncode == 0 else sys.exit(1)' "$@"
}
ours=$(run $AED export -q --out "$T/shards" --shard-size 100) || exit 1
mkdir -p "$T/files"
for f in "$T"/shards/*.tar; do tar -xf "$f" -C "$T/files" || exit 1; done
sync
peer=$(run tar -cf "$T/plain.tar" -C "$T/files" .) || exit 1
bytes=$(cat "$T"/shards/*.tar | wc -c)
echo "$ours $peer" | awk -v n="$clips" -v by="$bytes" -v load="$(cut -d' ' -f1 /proc/loadavg)" '{
	printf "export of %d decoded UrbanSound8K clips (<= 4 s) to WebDataset shards, %.1f MB (load %s)\n", n, by / 1e6, load
	printf "  aedcurate export:  %8.1f clips/s wall, %8.1f clips per CPU-second (selection, FLAC, JSON, tar, sha256)\n", n / $1, n / $2
	printf "  GNU tar -cf:       %8.1f clips/s wall, %8.1f clips per CPU-second (the same members, already written)\n", n / $3, n / $4
	printf "  ratio:             %8.2fx the speed of plain tar (wall)\n", $3 / $1
}'
