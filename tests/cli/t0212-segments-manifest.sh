#!/bin/sh
# t0212-segments-manifest.sh - manifests of users' own files: roles by header
# name or --columns map, relative paths made absolute, extra columns in meta,
# display names as labels; the real UrbanSound8K manifest unchanged; the
# audioset-eval clips naming the same segments as eval_segments.csv.
. "$(dirname "$0")/../lib/testlib.sh"
need_shared "$AUDIOSET/ontology.json"
D=$(cd "$ROOT/tests/data/segments" && pwd -P)
US8K=$SHARED/data/audio/urbansound8k
ASEVAL=$SHARED/data/audio/audioset-eval

check "ontology ingest" $AED ontology ingest "$AUDIOSET/ontology.json"
check "manifest.csv ingests" $AED segments ingest "$D/manifest.csv" --split mine --strict
check_grep "detected as a manifest" '\(manifest\): 4 rows, 4 ingested, 0 bad' "$T/out"
sql "SELECT key, start_ms, ifnull(end_ms,'-'), path, source_group, ifnull(meta,'-') FROM segment ORDER BY key" >"$T/actual"
cat >"$T/expect" <<EOX
dog1_0|0|-|$D/clips/dog1.wav|rec1|{"quality":"good"}
dog2_0|0|4000|$D/clips/dog2.wav|rec1|{"quality":"ok","note":"barks, \"twice\""}
elsewhere_0|0|-|/abs/elsewhere.flac|elsewhere|-
mix_1500|1500|9000|$D/clips/mix.wav|rec2|-
EOX
if cmp -s "$T/expect" "$T/actual"; then ok "keys, times, absolute paths, groups and meta"; else not_ok "manifest rows differ: $(diff "$T/expect" "$T/actual" | head -8)"; fi
check_eq "display names resolve (Bark; Speech; Music)" "dog2_0:/m/05tny_ mix_1500:/m/04rlf mix_1500:/m/09x0r" \
	"$(sql "SELECT s.key || ':' || c.mid FROM label l JOIN segment s ON s.id=l.segment_id JOIN class c ON c.id=l.class_id WHERE s.key IN ('dog2_0','mix_1500') AND l.source='manifest' ORDER BY 1" | tr '\n' ' ' | sed 's/ $//')"
check "display names with commas" $AED segments ingest "$D/manifest_names.csv" --strict
check_eq "one name with a comma is one label; ';' and ',' lists split" "x_0:/m/032s66 y_0:/m/032s66 y_0:/m/09x0r z_0:/m/04rlf z_0:/m/09x0r" \
	"$(sql "SELECT s.key || ':' || c.mid FROM label l JOIN segment s ON s.id=l.segment_id JOIN class c ON c.id=l.class_id WHERE s.key IN ('x_0','y_0','z_0') ORDER BY 1" | tr '\n' ' ' | sed 's/ $//')"
check "relative manifest path resolves against its directory" sh -c "cd '$D' && '$AED' segments ingest manifest.csv --split again"
check_grep "same segments again" '0 new segments, 4 already stored' "$T/out"

# --columns: a foreign manifest, unchanged.
check "foreign.csv with --columns" $AED segments ingest "$D/foreign.csv" --columns path=file,labels=mid,group=recording --strict
check_eq "foreign: groups and meta" '1-a-0_0|100|{"fold":"1","class":"dog_bark","from":"0","to":"4"}' \
	"$(sql "SELECT key, source_group, meta FROM segment WHERE key='1-a-0_0'")"
check_fail "--columns naming a missing column" $AED segments ingest "$D/foreign.csv" --columns path=file,labels=nosuch
check_grep "says which column" "no column 'nosuch' \\(from --columns labels=nosuch\\)" "$T/err"
check_fail "--columns with an unknown role" $AED segments ingest "$D/foreign.csv" --columns path=file,colour=mid
check_grep "names the role" "unknown role 'colour'" "$T/err"
check_fail "manifest without a path column" $AED segments ingest "$D/foreign.csv" --format manifest
check_grep "explains --columns path=" "no 'path' column; name the file column with --columns path=NAME" "$T/err"

# --cut: files are whole recordings; start/end select the clip.
printf 'path,start,end,labels\nlong/rec.wav,12.5,22.5,/m/09x0r\n' >"$T/cut.csv"
check "--cut manifest" $AED segments ingest "$T/cut.csv" --cut --strict
check_eq "--cut recorded in meta" '{"cut":true}|12500|22500' "$(sql "SELECT meta, start_ms, end_ms FROM segment WHERE key='rec_12500'")"

# The real UrbanSound8K manifest (source_start/end are positions in the
# Freesound recording, not clip times: they stay in meta).
if [ -f "$US8K/manifest.csv" ]; then
	check "UrbanSound8K manifest" $AED segments ingest "$US8K/manifest.csv" \
		--columns path=file,labels=audioset_mid,group=fsID --split us8k --strict --json
	check_eq "1,761 UrbanSound8K segments" 1761 "$(sql "SELECT count(*) FROM segment_split ss JOIN split s ON s.id=ss.split_id WHERE s.name='us8k'")"
	check_eq "every path exists on disk" 0 "$(sql "SELECT path FROM segment s JOIN segment_split ss ON ss.segment_id=s.id JOIN split p ON p.id=ss.split_id WHERE p.name='us8k'" | while read -r p; do [ -f "$p" ] || echo "$p"; done | wc -l)"
	check_eq "labels per class as in the manifest" "$(awk -F, 'NR>1{print $4}' "$US8K/manifest.csv" | sort | uniq -c | awk '{print $2"="$1}' | tr '\n' ' ')" \
		"$(sql "SELECT c.mid || '=' || count(*) FROM label l JOIN class c ON c.id=l.class_id WHERE l.source='manifest' AND l.segment_id IN (SELECT segment_id FROM segment_split ss JOIN split s ON s.id=ss.split_id WHERE s.name='us8k') GROUP BY c.mid ORDER BY c.mid" | tr '\n' ' ')"
	check_eq "groups are Freesound ids" "$(awk -F, 'NR>1{print $5}' "$US8K/manifest.csv" | sort -u | wc -l)" \
		"$(sql "SELECT count(DISTINCT source_group) FROM segment s JOIN segment_split ss ON ss.segment_id=s.id JOIN split p ON p.id=ss.split_id WHERE p.name='us8k'")"
	check_eq "source_start/end and salience kept in meta" '{"fold":"2","class":"dog_bark","source_start":"0.5","source_end":"4.5","salience":"1"}' \
		"$(sql "SELECT meta FROM segment WHERE key='100652-3-0-1_0'")"
else
	shared_part_missing "UrbanSound8K not present"
fi

# The audioset-eval clips: same keys as eval_segments.csv, so one segment.
if [ -f "$ASEVAL/labels.csv" ] && [ -f "$AUDIOSET/eval_segments.csv" ]; then
	check "eval_segments.csv" $AED segments ingest "$AUDIOSET/eval_segments.csv" --split eval
	check "audioset-eval labels.csv via --columns" $AED segments ingest "$ASEVAL/labels.csv" \
		--columns path=file,labels=positive_labels,id=ytid,start=start_seconds,end=end_seconds --split eval --strict
	check_grep "all 41 clips are existing eval segments" '41 ingested, 0 bad; 0 new segments, 41 already stored' "$T/out"
	check_eq "the clip's path is attached to the eval segment" "$(cd "$ASEVAL" && pwd -P)/Z19W44ZI15Q_190000.m4a|190000|200000" \
		"$(sql "SELECT path, start_ms, end_ms FROM segment WHERE key='Z19W44ZI15Q_190000'")"
	check_eq "manifest labels equal the weak labels" "$(sql "SELECT count(*) FROM label WHERE source='manifest' AND segment_id IN (SELECT id FROM segment WHERE path LIKE '%audioset-eval%')")" \
		"$(sql "SELECT count(*) FROM label w WHERE source='weak' AND EXISTS (SELECT 1 FROM label m WHERE m.source='manifest' AND m.segment_id=w.segment_id AND m.class_id=w.class_id)")"
else
	shared_part_missing "audioset-eval not present"
fi

done_testing
