#!/bin/sh
# t1400-demo.sh - the main job: pipelines/demo.pipeline end to end on the
# shared data, offline (every source falls back to the shared copy). Checks
# what each stage left behind, then that a rerun skips every step.
. "$(dirname "$0")/../lib/testlib.sh"
need_shared "$AUDIOSET/ontology.json" "$SHARED/data/audio/urbansound8k/manifest.csv" \
	"$SHARED/models/yamnet/yamnet.tflite"
# Every stage here has its own tests under the sanitizers; the whole corpus
# through YAMNet on an ASan build would take most of CI's time.
if [ -n "${AEDCURATE_SANITIZED:-}" ]; then skip_all "the full demo is not run on sanitizer builds"; fi
export AEDCURATE_SHARED="$SHARED" AEDCURATE_OUT="$T/o"

check "the demo pipeline runs end to end" $AED run "$ROOT/pipelines/demo.pipeline" --offline
check_grep "every step ran" "pipeline demo: 15 steps run, 0 skipped" "$T/err"
check_eq "632 classes" 632 "$(sql 'SELECT count(*) FROM class')"
check_eq "AudioSet lists and the clips' manifests: 42,531 + 1,761 segments" 44292 "$(sql 'SELECT count(*) FROM segment')"
check_eq "41 eval clips landed on their eval_segments.csv rows" 41 "$(sql "SELECT count(*) FROM segment s JOIN segment_split ss ON ss.segment_id = s.id JOIN split p ON p.id = ss.split_id WHERE p.name = 'eval' AND s.path IS NOT NULL")"
check_eq "1,802 clips fetched" 1802 "$(sql "SELECT count(*) FROM media WHERE status = 'ok'")"
check_eq "segments with no source configured are left alone" 1802 "$(sql "SELECT count(*) FROM media")"
check_eq "1,802 clips decoded, none failed" "1802|0" "$(sql "SELECT sum(state = 'done'), sum(state = 'failed') FROM work WHERE stage = 'decode'")"
check_eq "1,802 log-mels" 1802 "$(sql "SELECT count(*) FROM array_ref WHERE kind = 'logmel_yamnet'")"
check_eq "1,802 embeddings" 1802 "$(sql "SELECT count(*) FROM array_ref WHERE kind = 'embedding'")"
check_eq "50 Bark candidates queued for review" 50 "$(sql "SELECT count(*) FROM candidate")"
prec=$(sql "SELECT count(*) FROM candidate c JOIN label l ON l.segment_id = c.segment_id JOIN class k ON k.id = l.class_id WHERE k.mid = '/m/05tny_' AND c.rank <= 10")
check "most of the top 10 really bark ($prec/10)" test "$prec" -ge 7
check "the review page was written" test -s "$T/o/review/index.html" -a -s "$T/o/review/candidates.js"
check "priors were written" test -s "$T/o/priors/priors.csv" -a -s "$T/o/priors/priors.json"
check "refinement stored masks for Bark" test "$(sql "SELECT count(*) FROM frame_mask")" -gt 0
check "shards were written" test -s "$T/o/shards/index.json"
check "the shards read back with Python's tarfile" $PY -c '
import json, sys, tarfile, os
d = sys.argv[1]; idx = json.load(open(os.path.join(d, "index.json")))
n = 0
for f in sorted(os.listdir(d)):
    if f.endswith(".tar"):
        with tarfile.open(os.path.join(d, f)) as t:
            n += sum(1 for m in t.getmembers() if m.name.endswith(".json"))
assert n > 1000, n
' "$T/o/shards"
check "every shard sample matches the database; per-class counts within min=20/max=200 where the corpus allows; no source group in two splits" \
	$PY "$ROOT/tests/py/read_webdataset.py" "$AEDCURATE_DB" "$T/o/shards" --min 20 --max 200 --ffmpeg 5
check "a trainer's view: labels.npy with every exported ancestor, pos_weight recomputed, eval clips in test, >= 2 shards per split" \
	$PY "$ROOT/tests/py/trainer_check.py" "$AEDCURATE_DB" "$T/o/shards" "$AUDIOSET/ontology.json" --keep eval=test --shards-per-split 2
check_grep "no problems; the 41 eval clips kept in test" 'with an ancestor column set, 41 clips kept .*, 0 problems$' "$T/out"
check_eq "the AudioSet eval clips are in no train shard" "0" "$(sql "SELECT count(*) FROM export_sample e JOIN segment_split ss ON ss.segment_id = e.segment_id JOIN split p ON p.id = ss.split_id WHERE p.name = 'eval' AND e.split = 'train'")"
if $PY -c 'import torch' 2>/dev/null; then
	check "a torch DataLoader with 2 workers trains a linear probe on the demo's shards" \
		$PY "$ROOT/tests/py/torch_probe.py" "$T/o/shards" --workers 2 --epochs 4
	check_grep "it prints the test mAP" '^test mAP [0-9.]+ over [1-9]' "$T/out"
	grep -E '^(epoch|test mAP)' "$T/out" | sed 's/^/# /'
else
	not_ok "python3-torch is not installed (make deps)"
fi
check "status lists every stage" $AED status
for s in decode embed features_yamnet fetch; do check_grep "status: $s" "^$s " "$T/out"; done
check "a rerun" $AED run "$ROOT/pipelines/demo.pipeline" --offline
check_grep "skips every finished step" "0 steps run, 15 skipped" "$T/err"
done_testing
