#!/bin/sh
# t0401-decode-damaged.sh - hand-damaged copies of real clips, and other files
# that are not what they claim, each fail as a per-segment record carrying
# FFmpeg's reason while the stage carries on; 8 channels at 192 kHz decodes,
# and so does a WAV written to a pipe (sizes 0xFFFFFFFF), while a WAV cut
# short of the length its header states fails;
# a file still being written fails and is decoded by a later run once complete.
# No clip row or array is left for any failure.
. "$(dirname "$0")/../lib/testlib.sh"
US=$SHARED/data/audio/urbansound8k
AE=$SHARED/data/audio/audioset-eval
need_shared "$US/manifest.csv" "$AE/labels.csv"
M4A=$(ls "$AE"/*.m4a | head -1)
OPUS=$(ls "$US"/fold1/*.opus | head -1)
MP3=$(ls "$US"/fold2/*.mp3 | head -1)
D=$T/media
mkdir -p "$D"
half() { head -c $(($(stat -c %s "$1") / 2)) "$1" >"$2"; }
# overwrite N bytes at a third of the file with pseudo-random ones
scramble() {
	cp "$1" "$2"
	"$PY" -c "import random, sys
d = bytearray(open(sys.argv[1], 'rb').read()); r = random.Random(1); o = len(d) // 3
for i in range(o, min(len(d), o + int(sys.argv[2]))): d[i] = r.randrange(256)
open(sys.argv[1], 'wb').write(d)" "$2" "$3"
}

cp "$M4A" "$D/good.m4a"
cp "$OPUS" "$D/good.opus"
cp "$MP3" "$D/good.mp3"
: >"$D/empty.m4a"
echo "this is a text file, not audio" >"$D/text.wav"
half "$M4A" "$D/truncated.m4a"                # moov at the end: it never arrives
ffmpeg -nostdin -v error -i "$M4A" -c copy -movflags +faststart "$D/faststart.m4a"
half "$D/faststart.m4a" "$D/truncated-faststart.m4a"
rm "$D/faststart.m4a"
ffmpeg -nostdin -v error -i "$M4A" -c copy -movflags +faststart "$T/fs.m4a"
scramble "$T/fs.m4a" "$D/corrupt.m4a" 20000
half "$MP3" "$D/truncated.mp3"                # its LAME header tells the real length
half "$OPUS" "$D/truncated.opus"              # Ogg pages carry no total: decodes what is there
scramble "$MP3" "$D/corrupt.mp3" 3000
ffmpeg -nostdin -v error -f lavfi -i testsrc=d=2:s=64x64:r=10 -c:v mpeg4 "$D/video-only.mp4"
ffmpeg -nostdin -v error -f lavfi -i "sine=f=440:r=192000:d=3" \
	-af "pan=7.1|c0=c0|c1=c0|c2=c0|c3=c0|c4=c0|c5=c0|c6=c0|c7=c0" -c:a pcm_s24le "$D/8ch-192k.wav"
# a WAV written to a pipe states 0xFFFFFFFF bytes: its last packet is short
ffmpeg -nostdin -v error -i "$MP3" -f wav - >"$D/pipe.wav"
# ... and one whose writer stopped in the middle of a sample
head -c $(($(stat -c %s "$D/pipe.wav") - 1)) "$D/pipe.wav" >"$D/pipe-cut.wav"
# a WAV whose header states its length, cut in half: that is truncation
ffmpeg -nostdin -v error -i "$MP3" "$T/whole.wav"
half "$T/whole.wav" "$D/truncated.wav"
# still being written: the first half of a file whose index comes last
half "$M4A" "$D/growing.m4a"

check "init" $AED init
i=0
for f in "$D"/*; do
	i=$((i + 1))
	k=$(basename "$f")
	sql "INSERT INTO segment(id, key, ytid, start_ms, end_ms, path, source_group, shard) VALUES($i, '$k', '$k', 0, NULL, '$f', '$k', $i);
	     INSERT INTO media(segment_id, status, path, whole_video) VALUES($i, 'ok', '$f', 0)"
done
sql "INSERT INTO segment(id, key, ytid, start_ms, path, source_group, shard) VALUES(100, 'gone', 'gone', 0, '$D/gone.m4a', 'g', 0);
     INSERT INTO media(segment_id, status, path, whole_video) VALUES(100, 'ok', '$D/gone.m4a', 0)"
N=$(sql "SELECT count(*) FROM media")

check "decode carries on past every failure" $AED decode --json
check_grep "7 decoded, 11 failed" '"done": 7, "failed": 11' "$T/out"
sql "SELECT s.key || ': ' || w.error FROM work w JOIN segment s ON s.id = w.item WHERE w.stage = 'decode' AND w.state = 'failed' ORDER BY 1" >"$T/errors"
sed 's/^/# /' "$T/errors"
reason() { check_grep "$1: $2" "^$1: .*$2" "$T/errors"; }
reason empty.m4a "empty file"
reason text.wav "Invalid data found when processing input"
reason truncated.m4a "moov atom not found"
reason truncated-faststart.m4a "corrupt packet|truncated|Invalid data"
reason corrupt.m4a "Invalid data|corrupt"
reason truncated.mp3 "truncated: audio ends at"
reason corrupt.mp3 "Invalid data|Header missing|corrupt"
reason truncated.wav "corrupt or truncated packet"
reason video-only.mp4 "no audio stream"
reason growing.m4a "moov atom not found"
reason gone "No such file"
check_eq "every failure names its file" 0 "$(grep -cv "$D/\|gone" "$T/errors")"
check_eq "the good files and 8 channels at 192 kHz decoded (seconds of real audio)" "8ch-192k.wav|192000|8|3
good.m4a|48000|2|10
good.mp3|22050|1|4
good.opus|48000|1|4
pipe-cut.wav|22050|1|4
pipe.wav|22050|1|4
truncated.opus|48000|1|2" "$(sql "SELECT s.key, source_rate, channels, CAST(round(n_samples / 16000.0) AS INT) FROM clip c
	JOIN segment s ON s.id = c.segment_id ORDER BY 1")"
check_eq "no clip or array for a failure" "7|7" \
	"$(sql "SELECT (SELECT count(*) FROM clip), (SELECT count(*) FROM array_ref WHERE kind = 'clip')")"

# The file finishes arriving: the next run retries the failures and decodes it.
cp "$M4A" "$D/growing.m4a"
check "rerun" $AED decode --json
check_grep "the completed file decodes, the damaged ones fail again" '"done": 1, "failed": 10' "$T/out"
check_eq "growing.m4a has its clip" 1 "$(sql "SELECT count(*) FROM clip WHERE segment_id = (SELECT id FROM segment WHERE key = 'growing.m4a')")"
check "--max-attempts stops the retries" $AED decode --json --max-attempts 2
check_grep "nothing retried" '"done": 0, "failed": 0' "$T/out"
check_eq "attempts recorded" 2 "$(sql "SELECT max(attempts) FROM work WHERE stage = 'decode' AND state = 'failed'")"
# A file that later turns bad: a redo fails it and leaves neither its old
# clip nor the log-mel made from it.
check "features of what decoded" $AED features --json
echo "overwritten" >"$D/good.mp3"
check "decode --redo" $AED decode --redo --json
check_eq "good.mp3 now fails, with no clip, no log-mel" "failed|0|0" \
	"$(sql "SELECT w.state, (SELECT count(*) FROM clip WHERE segment_id = w.item),
		(SELECT count(*) FROM array_ref WHERE item = w.item) FROM work w JOIN segment s ON s.id = w.item
		WHERE w.stage = 'decode' AND s.key = 'good.mp3'")"
check "status still works" $AED status
check_fail "a bad --clip-seconds is refused" $AED decode --clip-seconds -3
check_fail "a bad --shard is refused" $AED decode --shard 3/2
done_testing
