#!/bin/sh
# t0801-mine-ontology-examples.sh - `mine --class toothbrush` out of the box:
# a tiny ontology (tests/data/ontology/examples.json, Toothbrush with three
# real positive examples and a child sharing one) and an unlabelled corpus of
# UrbanSound8K clips. Mining first refuses and names the command that helps;
# `segments ingest --ontology-examples` turns the examples into segments of
# their own split (labels of source ontology, one segment for an example two
# classes list), `fetch --url` brings them from a local HTTP mirror on
# 127.0.0.1, and `mine` then takes them as its exemplars.
# The mirror's files are stand-ins: dog barks from recordings the corpus does
# not hold, so the barks of the corpus must come first.
. "$(dirname "$0")/../lib/testlib.sh"
US8K=$SHARED/data/audio/urbansound8k
MODEL=$SHARED/models/yamnet/yamnet.tflite
need_shared "$US8K/manifest.csv" "$MODEL"
export AEDCURATE_MODEL=$MODEL

# Corpus: 4 barks and 8 other sounds, one clip per recording; the mirror: 4
# barks of yet other recordings, named as the examples' segments.
mkdir -p "$T/mirror"
$PY - "$US8K" "$T/corpus.csv" "$T/mirror" <<'PYEOF'
import csv, shutil, sys
root, out, mirror = sys.argv[1:4]
rows = [r for r in csv.DictReader(open(root + "/manifest.csv")) if r["salience"] == "1"]
seen, corpus, stand_ins = set(), [], []
def take(cls, n, into, ext=""):
    k = 0
    for r in rows:
        if k < n and r["class"] == cls and r["fsID"] not in seen and r["file"].endswith(ext):
            seen.add(r["fsID"]); into.append(r); k += 1
take("dog_bark", 4, stand_ins, ".mp3")
take("dog_bark", 4, corpus)
for cls in ("air_conditioner", "drilling", "engine_idling", "street_music"):
    take(cls, 2, corpus)
with open(out, "w", newline="") as f:
    w = csv.writer(f)
    w.writerow(["file", "fsID", "class"])
    for r in corpus:
        w.writerow([root + "/" + r["file"], r["fsID"], r["class"]])
keys = ["JKX35FOb76Q_220000", "WQBVIFHMJ40_50000", "BpDu70Sa6qo_50000", "bnjY4k3Pk5Y_20000"]
for key, r in zip(keys, stand_ins):
    shutil.copy(root + "/" + r["file"], mirror + "/" + key + ".mp3")
PYEOF
check "init, the tiny ontology" sh -c "$AED -q init && $AED -q ontology ingest '$ROOT/tests/data/ontology/examples.json'"
check "an unlabelled corpus of 12 clips" $AED segments ingest "$T/corpus.csv" --split corpus --columns path=file,group=fsID
check "fetch, decode, features, embed, index" sh -c "$AED -q fetch && $AED -q decode && $AED -q features && $AED -q embed && $AED -q index build"

# --- before: refused, and the message says what to run ----------------------
check_fail "mine toothbrush without an exemplar in the corpus" $AED mine --class toothbrush
check_grep "it names segments ingest --ontology-examples" \
	"no exemplar in the corpus: none of its ontology positive examples is an embedded segment.*segments ingest --ontology-examples /m/012xff, then aedcurate fetch --split ontology_examples" "$T/err"

# --- the examples as segments -----------------------------------------------
check_fail "a class whose ontology entry lists no example" $AED segments ingest --ontology-examples Camera
check_grep "says so" 'lists no positive example for Camera' "$T/err"
check_fail "a SOURCE and --format do not go with --ontology-examples" $AED segments ingest --ontology-examples --format csv toothbrush
check "segments ingest --ontology-examples toothbrush" $AED segments ingest --ontology-examples toothbrush
check_grep "three new segments" '^ontology:positive_examples \(csv\): 3 rows, 3 ingested, 0 bad; 3 new segments' "$T/out"
check "and every class's examples" $AED segments ingest --ontology-examples
check_grep "one more: the child's own; the shared one is one segment" '4 rows, 4 ingested, 0 bad; 1 new segments, 3 already stored, 2 labels' "$T/out"
check "again" $AED segments ingest --ontology-examples
check_grep "adds nothing" '0 new segments, 4 already stored, 0 labels' "$T/out"
check_eq "the split, the keys and the labels (source ontology)" \
	"BpDu70Sa6qo_50000|50000|60000|/m/012xff,/m/04fgwm JKX35FOb76Q_220000|220000|230000|/m/012xff WQBVIFHMJ40_50000|50000|60000|/m/012xff bnjY4k3Pk5Y_20000|20000|30000|/m/04fgwm" \
	"$(sql "SELECT s.key, s.start_ms, s.end_ms, (SELECT group_concat(mid) FROM (SELECT c.mid FROM label l JOIN class c ON c.id = l.class_id
	         WHERE l.segment_id = s.id AND l.source = 'ontology' ORDER BY c.mid))
	        FROM segment s JOIN segment_split ss ON ss.segment_id = s.id JOIN split p ON p.id = ss.split_id
	        WHERE p.name = 'ontology_examples' ORDER BY s.key" | tr '\n' ' ' | sed 's/ $//')"

# --- fetch from the user's mirror, then mine ---------------------------------
start_httpd
check "fetch the examples from the local mirror" $AED fetch --split ontology_examples --url "http://127.0.0.1:$HTTP_PORT/files/mirror/{key}.mp3"
check_eq "all four fetched" 4 "$(sql "SELECT count(*) FROM media m JOIN segment_split ss ON ss.segment_id = m.segment_id JOIN split p ON p.id = ss.split_id WHERE p.name = 'ontology_examples' AND m.status = 'ok'")"
check "decode, features, embed, index build" sh -c "$AED -q decode && $AED -q features && $AED -q embed && $AED -q index build"
check "mine --class toothbrush, candidates from the corpus" $AED mine --class toothbrush -k 4 --candidates corpus
check_eq "its exemplars are its three ontology examples" "BpDu70Sa6qo_50000|ontology JKX35FOb76Q_220000|ontology WQBVIFHMJ40_50000|ontology" \
	"$(sql "SELECT s.key, e.source FROM mine_exemplar e JOIN segment s ON s.id = e.segment_id WHERE e.mine_run_id = (SELECT max(id) FROM mine_run) ORDER BY s.key" | tr '\n' ' ' | sed 's/ $//')"
check_eq "the four barks of the corpus come first" "dog_bark dog_bark dog_bark dog_bark" \
	"$(sql "SELECT json_extract(s.meta, '$.class') FROM candidate c JOIN segment s ON s.id = c.segment_id WHERE c.mine_run_id = (SELECT max(id) FROM mine_run) ORDER BY c.rank" | tr '\n' ' ' | sed 's/ $//')"
done_testing
