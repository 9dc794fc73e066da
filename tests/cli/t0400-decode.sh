#!/bin/sh
# t0400-decode.sh - decode real media: all of UrbanSound8K folds 1-2 (Opus and
# MP3 at 22.05 kHz) and the AudioSet eval clips (AAC, mono/stereo, 44.1/48 kHz)
# decode without a single failure into 10 s 16 kHz clips; cuts of a 60 s AAC
# file and whole files correlate >= 0.999 with the ffmpeg command line; dump
# clip writes a WAV. Media rows are written directly: decode's input contract
# is the media table (sql/0002_media.sql).
. "$(dirname "$0")/../lib/testlib.sh"
US=$SHARED/data/audio/urbansound8k
AE=$SHARED/data/audio/audioset-eval
need_shared "$US/manifest.csv" "$AE/labels.csv"

check "init" $AED init
check "ontology" $AED ontology ingest "$AUDIOSET/ontology.json"
check "UrbanSound8K manifest" $AED segments ingest --columns path=file,labels=audioset_mid,group=fsID "$US/manifest.csv"
check "AudioSet eval manifest" $AED segments ingest --columns path=file,labels=positive_labels "$AE/labels.csv"
N=$(sql "SELECT count(*) FROM segment")
check_eq "1802 segments" 1802 "$N"
sql "INSERT INTO media(segment_id, status, path, whole_video) SELECT id, 'ok', path, 0 FROM segment"

check "decode" $AED decode --json
check_grep "every clip decoded, none failed" "\"done\": $N, \"failed\": 0" "$T/out"
check_eq "one clip row and one clip array per segment" "$N|$N" \
	"$(sql "SELECT (SELECT count(*) FROM clip), (SELECT count(*) FROM array_ref WHERE kind = 'clip')")"
check_eq "every clip is 10 s of int16 at 16 kHz" "1|i16|160000|1|1" \
	"$(sql "SELECT count(DISTINCT nbytes), dtype, dim0, dim1, dim2 FROM array_ref WHERE kind = 'clip'")"
check_eq "UrbanSound8K: Opus at 48 kHz and MP3 at 22.05 kHz" "mp3|22050|888
opus|48000|873" "$(sql "SELECT codec, source_rate, count(*) FROM clip JOIN segment s ON s.id = segment_id
	WHERE s.path LIKE '%urbansound8k%' GROUP BY 1, 2 ORDER BY 1")"
check_eq "UrbanSound8K clips are at most 4 s: real length kept, the rest padded" "1" \
	"$(sql "SELECT max(n_samples) <= 64000 AND min(n_samples) > 0 AND min(n_total) = 160000 FROM clip
	JOIN segment s ON s.id = segment_id WHERE s.path LIKE '%urbansound8k%'")"
check_eq "AudioSet eval: AAC, mono and stereo, 44.1 and 48 kHz" "aac|1|1|1|1" \
	"$(sql "SELECT codec, max(channels = 1), max(channels = 2), max(source_rate = 44100), max(source_rate = 48000)
	FROM clip JOIN segment s ON s.id = segment_id WHERE s.path LIKE '%audioset-eval%'")"
check_eq "nothing failed or left claimed" "" "$(sql "SELECT state FROM work WHERE stage = 'decode' AND state != 'done'")"

check "a rerun has nothing to do" $AED decode --json
check_grep "all already done" "\"done\": 0, \"failed\": 0, \"already_done\": $N" "$T/out"

# Whole files against `ffmpeg -ac 1 -ar 16000`.
for key in $(sql "SELECT key FROM segment WHERE id IN (1, 900, 1790)"); do
	f=$(sql "SELECT path FROM segment WHERE key = '$key'")
	check "dump clip $key" $AED dump clip "$key" --trim -o "$T/$key.wav"
	ffmpeg -nostdin -v error -i "$f" -ac 1 -ar 16000 -f f32le "$T/$key.f32"
	check "$(basename "$f") correlates >= 0.999 with ffmpeg" "$PY" "$ROOT/tests/py/vggish_ref.py" corr "$T/$key.wav" "$T/$key.f32"
	echo "# $(cat "$T/out")"
done
check "dump clip as WAV (padded)" $AED dump clip 1 -o "$T/one.wav"
check_eq "WAV: 16 kHz mono s16, 160000 samples" "pcm_s16le|16000|1|160000" \
	"$(ffprobe -v error -show_entries stream=codec_name,sample_rate,channels,duration_ts -of csv=p=0 "$T/one.wav" | tr ',' '|')"
check "dump clip as .npy" $AED dump clip 1 -o "$T/one.npy" --json
check_grep "int16 [160000]" '"dtype": "i16", "shape": \[160000\]' "$T/out"

# Cuts of a 60 s AAC file made of six eval clips.
set -- $(ls "$AE"/*.m4a | head -6)
ffmpeg -nostdin -v error -i "$1" -i "$2" -i "$3" -i "$4" -i "$5" -i "$6" -filter_complex \
	"$(for i in 0 1 2 3 4 5; do printf '[%d:a]aresample=44100,aformat=channel_layouts=stereo,apad=whole_dur=10,atrim=0:10[a%d];' $i $i; done)[a0][a1][a2][a3][a4][a5]concat=n=6:v=0:a=1" \
	-c:a aac -b:a 128k "$T/long.m4a"
check_eq "a 60 s AAC file" "60" "$(ffprobe -v error -show_entries format=duration -of csv=p=0 "$T/long.m4a" | cut -d. -f1)"
# key, start ms, end ms: inside, at odd offsets, short, and running past the end
for c in cut_0:0:10000 cut_7:7300:17300 cut_25:25550:35550 cut_41:41234:45234 cut_55:55000:65000; do
	k=${c%%:*}; r=${c#*:}; s=${r%%:*}; e=${r#*:}
	sql "INSERT INTO segment(key, ytid, start_ms, end_ms, path, source_group, shard) VALUES('$k', '$k', $s, $e, NULL, 'long', 0);
	     INSERT INTO media(segment_id, status, path, whole_video) VALUES(last_insert_rowid(), 'ok', '$T/long.m4a', 1)"
done
check "decode the cuts" $AED decode --json
check_grep "five cuts" '"done": 5, "failed": 0' "$T/out"
check_eq "real lengths: 10 s, 4 s, and about 5 s where the file ends" "cut_0|160000|0
cut_25|160000|25550
cut_41|64000|41234
cut_55|1|55000
cut_7|160000|7300" "$(sql "SELECT s.key, CASE WHEN s.key = 'cut_55' THEN n_samples BETWEEN 79000 AND 81600 ELSE n_samples END,
	c.start_ms FROM clip c JOIN segment s ON s.id = c.segment_id WHERE s.key LIKE 'cut%' ORDER BY 1")"
for c in cut_7:7.3:10 cut_25:25.55:10 cut_41:41.234:4 cut_55:55:5; do
	k=${c%%:*}; r=${c#*:}; s=${r%%:*}; d=${r#*:}
	check "dump $k" $AED dump clip "$k" --trim -o "$T/$k.wav"
	# -ss after -i: ffmpeg decodes from the start and drops samples, an exact cut
	ffmpeg -nostdin -v error -i "$T/long.m4a" -ss "$s" -t "$d" -ac 1 -ar 16000 -f f32le "$T/$k.f32"
	check "$k correlates >= 0.999 with ffmpeg -ss $s -t $d" "$PY" "$ROOT/tests/py/vggish_ref.py" corr "$T/$k.wav" "$T/$k.f32"
	echo "# $(cat "$T/out")"
done

# The same cut in other containers and codecs: the clip equals resampling
# the whole file with ffmpeg and cutting it (Matroska/WebM count
# milliseconds, so there the whole file is decoded rather than seeking).
for fmt in mp3:libmp3lame ogg:libopus flac:flac webm:libopus mkv:aac wav:pcm_s16le; do
	ext=${fmt%%:*}
	ffmpeg -nostdin -v error -i "$T/long.m4a" -c:a "${fmt#*:}" "$T/long.$ext"
	sql "INSERT INTO segment(key, ytid, start_ms, end_ms, source_group, shard) VALUES('fmt_$ext', 'fmt_$ext', 33210, 43210, 'long', 0);
	     INSERT INTO media(segment_id, status, path, whole_video) VALUES(last_insert_rowid(), 'ok', '$T/long.$ext', 1)"
done
check "decode the cuts of other formats" $AED decode --json
check_grep "six more" '"done": 6, "failed": 0' "$T/out"
for ext in mp3 ogg flac webm mkv wav; do
	$AED dump clip "fmt_$ext" --trim -o "$T/fmt_$ext.wav" -q
	ffmpeg -nostdin -v error -i "$T/long.$ext" -ac 1 -ar 16000 -f f32le "$T/long_$ext.f32"
	check "$ext: the cut at 33.21 s correlates >= 0.999 with ffmpeg's whole-file resample" \
		"$PY" "$ROOT/tests/py/vggish_ref.py" corr "$T/fmt_$ext.wav" "$T/long_$ext.f32" --b-from 531360
	echo "# $(cat "$T/out")"
done

check_fail "dump of a segment without a clip" $AED dump clip nosuchsegment -o "$T/x.wav"
check_grep "names the segment" "nosuchsegment" "$T/err"
check_fail "dump needs -o" $AED dump clip 1
done_testing
