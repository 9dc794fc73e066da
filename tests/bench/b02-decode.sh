#!/bin/sh
# b02-decode.sh - decode + cut of a 10 s segment from a 60 s AAC file:
# `aedcurate decode` (one thread, the real command path: claims, decode,
# resample, int16 clip into the array store, one transaction per batch)
# against the ffmpeg command line doing the same cut per clip
# (`ffmpeg -ss S -t 10 -i in.m4a -ac 1 -ar 16000 -f f32le -`). Goal >= 5x.
. "$(dirname "$0")/../lib/testlib.sh"
AE=$SHARED/data/audio/audioset-eval
need_shared "$AE/labels.csv"
N=${BENCH_CLIPS:-60}
now() { date +%s.%N; }

set -- $(ls "$AE"/*.m4a | head -6)
ffmpeg -nostdin -v error -i "$1" -i "$2" -i "$3" -i "$4" -i "$5" -i "$6" -filter_complex \
	"$(for i in 0 1 2 3 4 5; do printf '[%d:a]aresample=44100,aformat=channel_layouts=stereo,apad=whole_dur=10,atrim=0:10[a%d];' $i $i; done)[a0][a1][a2][a3][a4][a5]concat=n=6:v=0:a=1" \
	-c:a aac -b:a 128k "$T/long.m4a" || exit 1
$AED init -q || exit 1
i=0
{
	echo "BEGIN;"
	while [ $i -lt $N ]; do
		ms=$((i * 50000 / N)) # starts spread over 0..50 s
		echo "INSERT INTO segment(id, key, ytid, start_ms, end_ms, source_group, shard) VALUES($((i + 1)), 'long_$ms', 'long', $ms, $((ms + 10000)), 'long', 0);"
		echo "INSERT INTO media(segment_id, status, path, whole_video) VALUES($((i + 1)), 'ok', '$T/long.m4a', 1);"
		i=$((i + 1))
	done
	echo "COMMIT;"
} | sqlite3 "$AEDCURATE_DB"

t0=$(now)
$AED decode --threads 1 -q || exit 1
t1=$(now)
for ms in $(sql "SELECT start_ms FROM segment ORDER BY id"); do
	ffmpeg -nostdin -v error -ss "$(echo "$ms" | awk '{printf "%.3f", $1 / 1000}')" -t 10 -i "$T/long.m4a" \
		-ac 1 -ar 16000 -f f32le - >/dev/null || exit 1
done
t2=$(now)
done_n=$(sql "SELECT count(*) FROM clip")
[ "$done_n" -eq "$N" ] || { echo "decode stored $done_n of $N clips"; exit 1; }
awk -v n="$N" -v a="$t0" -v b="$t1" -v c="$t2" 'BEGIN {
	ours = (b - a) / n * 1000; peer = (c - b) / n * 1000
	printf "decode+cut 10 s of a 60 s AAC file, %d clips, 1 thread\n", n
	printf "  aedcurate decode:  %8.2f ms/clip (whole command: claims, decode, store)\n", ours
	printf "  ffmpeg CLI:        %8.2f ms/clip (-ss S -t 10 -i in.m4a -ac 1 -ar 16000 -f f32le)\n", peer
	printf "  ratio:             %8.1fx faster (goal >= 5x)\n", peer / ours
}'
