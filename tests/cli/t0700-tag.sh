#!/bin/sh
# t0700-tag.sh - `aedcurate tag`: the top AudioSet classes of a file or a
# stored segment over time, with display names and mids; text and JSON; a
# segment from its stored scores or, before embed, from its stored log-mel;
# clear refusals for what cannot be tagged.
. "$(dirname "$0")/../lib/testlib.sh"
MODEL=$SHARED/models/yamnet/yamnet.tflite
US=$SHARED/data/audio/urbansound8k
need_shared "$MODEL" "$US/manifest.csv" "$AUDIOSET/ontology.json"
export AEDCURATE_MODEL=$MODEL
DOG=$US/fold2/100652-3-0-0.mp3
SIREN=$US/$(awk -F, '$3 == "siren" && $8 + 0 == 1 { print $1; exit }' "$US/manifest.csv")

check "tag a file" $AED tag "$DOG"
check_grep "header: patches, hop, model sha256" "100652-3-0-0.mp3: [0-9]+ patches \(0.96 s every 0.48 s\), model yamnet sha256 469be6a3" "$T/out"
check_eq "5 classes a patch by default" 5 "$(awk '/^ +0.00 /' "$T/out" | tr '|' '\n' | wc -l | tr -d ' ')"
check_grep "patch rows start every 0.48 s" "^ +0.48 +1.44 " "$T/out"
check_grep "clip summary lists Dog with its mid" "^  [1-5]\. 0\.9[0-9]+ +Dog +/m/0bt9lr" "$T/out"
check "--top 2" $AED tag "$DOG" --top 2
check_eq "2 classes a patch" 2 "$(awk '/^ +0.00 /' "$T/out" | tr '|' '\n' | wc -l | tr -d ' ')"
check_eq "2 clip classes" 2 "$(grep -c '^  [0-9]\. ' "$T/out")"

check "--json" $AED tag "$SIREN" --json --top 3
cp "$T/out" "$T/siren.json"
check "JSON: patches, clip, names, mids, sorted scores" $PY -c "
import json
d = json.load(open('$T/siren.json'))
assert d['model']['name'] == 'yamnet' and len(d['model']['sha256']) == 64
assert d['hop_seconds'] == 0.48 and d['patch_seconds'] == 0.96
p = d['patches']
assert len(p) >= 8 and all(len(x['top']) == 3 for x in p)
assert abs(p[1]['start_s'] - 0.48) < 1e-9
for x in p + [{'top': d['clip']}]:
    s = [c['score'] for c in x['top']]
    assert s == sorted(s, reverse=True), s
    assert all(c['mid'].startswith('/') and c['name'] for c in x['top'])
mids = [c['mid'] for c in d['clip']]
assert '/m/03kmc9' in mids, mids  # Siren
"

check_fail "--top 0 is refused" $AED tag "$DOG" --top 0
check_grep "usage message" "top must be 1..521" "$T/err"
printf 'not audio' >"$T/junk.wav"
check_fail "a file that is not audio" $AED tag "$T/junk.wav"
check_grep "names the file" "junk.wav" "$T/err"
AEDCURATE_MODEL= AEDCURATE_SHARED=/nonexistent check_fail "no model" $AED tag "$DOG"
check_grep "says how to get one" "make models" "$T/err"

# Segments of a database: before embed (from the log-mel), after (stored scores).
printf 'path\n%s\n%s\n' "$DOG" "$SIREN" >"$T/m.csv"
check "init" $AED init
check "ontology" $AED ontology ingest "$AUDIOSET/ontology.json"
check "segments" $AED segments ingest --format manifest "$T/m.csv"
check_fail "unknown segment" $AED tag nosuchsegment_0
check_grep "not found" "not found" "$T/err"
check "a readable path is tagged as a file, database or not" $AED tag "$DOG" --db "$AEDCURATE_DB"
SEG=$(sql "SELECT key FROM segment WHERE path = '$DOG'")
check_fail "a segment key with nothing stored" $AED tag "$SEG"
check_grep "says which stages to run" "run .aedcurate features. and .aedcurate embed." "$T/err"
check "fetch" $AED fetch
check "decode" $AED decode --clip-seconds 4
check "features" $AED features
check "tag a segment from its log-mel" $AED tag "$SEG" --top 3
cp "$T/out" "$T/before"
check_grep "dog" "Dog \(/m/0bt9lr\)" "$T/before"
check "embed" $AED embed
check "tag a segment from stored scores" $AED tag "$SEG" --top 3
sed 1d "$T/before" >"$T/b"; sed 1d "$T/out" >"$T/a"
if cmp -s "$T/a" "$T/b"; then ok "stored scores give the same table"; else not_ok "tables differ"; diff "$T/b" "$T/a" | head -5 | sed 's/^/#   /'; fi
check_grep "header names the segment" "^$SEG: 8 patches" "$T/out"
done_testing
