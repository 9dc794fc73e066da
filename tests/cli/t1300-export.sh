#!/bin/sh
# t1300-export.sh - training shards from real clips (the 41 AudioSet eval clips
# and a slice of UrbanSound8K with their AudioSet mids, through fetch, decode,
# features, embed and refine): WebDataset and TFRecord shards read back by
# independent Python readers against the database; per-class counts within
# min/max where the corpus allows; no source group in two splits; equal seeds
# give byte-identical shards; mixes for rare classes; bad options refused.
. "$(dirname "$0")/../lib/testlib.sh"
US=$SHARED/data/audio/urbansound8k
EV=$SHARED/data/audio/audioset-eval
MODEL=$SHARED/models/yamnet/yamnet.tflite
need_shared "$AUDIOSET/ontology.json" "$US/manifest.csv" "$EV/labels.csv" "$MODEL"

check "init" $AED init
check "ontology" $AED ontology ingest "$AUDIOSET/ontology.json" --labels "$AUDIOSET/class_labels_indices.csv"
check "eval clips" $AED segments ingest "$EV/labels.csv" \
	--columns path=file,labels=positive_labels,id=ytid,start=start_seconds,end=end_seconds --split eval
# every 16th UrbanSound8K row (all ten classes, several clips per Freesound recording);
# every 48th under the sanitizers, where embedding is slow
step=16
[ -n "${AEDCURATE_SANITIZED:-}" ] && step=48
awk -F, -v d="$US/" -v k=$step 'NR == 1 || NR % k == 2 { if (NR > 1) $1 = d $1; print }' OFS=, \
	"$US/manifest.csv" >"$T/us.csv"
check "urbansound slice" $AED segments ingest "$T/us.csv" --columns path=file,labels=audioset_mid,group=fsID
check "fetch" $AED fetch -q
check "decode" $AED decode -q
check "features" $AED features -q
check "embed" $AED embed -q --model "$MODEL"
n_clips=$(sql "SELECT count(*) FROM clip")
check_eq "every clip decoded and embedded" "$n_clips $n_clips" "$(sql "SELECT count(*) FROM clip; SELECT count(*) FROM embedding" | tr '\n' ' ' | sed 's/ $//')"

# --- bad options ------------------------------------------------------------
check_fail "no --out" $AED export
check_grep "it says --out" 'out' "$T/err"
check_fail "unknown format" $AED export --out "$T/x" --format zip
check_fail "min above max" $AED export --out "$T/x" --balance min=9,max=3
check_grep "it names min and max" 'min 9 is above max 3' "$T/err"
check_fail "bad split" $AED export --out "$T/x" --split train=0.7,val
check_fail "bad payload" $AED export --out "$T/x" --payload audio,video
check_grep "it names the payload" "'video'" "$T/err"
check_fail "mixes cannot go to TFRecord" $AED export --out "$T/x" --format tfrecord --mix-augment --balance min=3
check_fail "mixes need min" $AED export --out "$T/x" --mix-augment

# --- WebDataset -----------------------------------------------------------------
B="min=4,max=10"
check "webdataset export" $AED export --out "$T/w1" --balance $B --split train=0.7,val=0.2,test=0.1 \
	--shard-size 16 --payload audio,logmel,embedding --seed 7
check_grep "it reports the selection" '^export: [0-9]+ of [0-9]+ labelled clips selected' "$T/out"
check "python reads every sample back and finds the database's labels, audio, arrays" \
	$PY "$ROOT/tests/py/read_webdataset.py" "$AEDCURATE_DB" "$T/w1" --min 4 --max 10 --ffmpeg 12
check_grep "no problems" ', 0 problems$' "$T/out"
check_eq "recorded: one export, its samples" "1" "$(sql "SELECT count(*) = 1 AND (SELECT count(*) FROM export_sample) = n_samples FROM export")"
check_eq "no source group in two splits" "0" "$(sql "SELECT count(*) FROM (SELECT s.source_group FROM export_sample e JOIN segment s ON s.id = e.segment_id GROUP BY s.source_group HAVING count(DISTINCT e.split) > 1)")"
check_eq "no class above max" "0" "$(sql "SELECT count(*) FROM (SELECT l.class_id FROM export_sample e JOIN (SELECT DISTINCT segment_id, class_id FROM label) l ON l.segment_id = e.segment_id GROUP BY l.class_id HAVING count(*) > 10)")"
# Dog bark has more than 10 clips here (unless sanitized): capped at exactly 10
bark=$(sql "SELECT min(10, count(DISTINCT l.segment_id)) FROM label l JOIN class c ON c.id = l.class_id JOIN clip k ON k.segment_id = l.segment_id WHERE c.mid = '/m/05tny_'")
check_eq "dog bark capped at max" "$bark" "$(sql "SELECT count(*) FROM export_sample e JOIN label l ON l.segment_id = e.segment_id JOIN class c ON c.id = l.class_id WHERE c.mid = '/m/05tny_'")"
check_eq "three splits, all used" "test train val" "$(sql "SELECT DISTINCT split FROM export_sample ORDER BY 1" | tr '\n' ' ' | sed 's/ $//')"
check "an independent tar lists the shards" tar -tf "$T/w1/train-000000.tar"
check_grep "member names: key.flac" '^[A-Za-z0-9_-]+_[0-9]+\.flac$' "$T/out"
check_grep "member names: key.logmel.npy" '^[A-Za-z0-9_-]+_[0-9]+\.logmel\.npy$' "$T/out"
check "README, manifest, priors, class counts beside the shards" test -s "$T/w1/README.md" -a -s "$T/w1/manifest.json" -a -s "$T/w1/priors.csv" -a -s "$T/w1/class_counts.csv"
check_eq "priors.csv header" "column,index,mid,display_name,n_pos,n_total,prior,pos_weight" "$(head -1 "$T/w1/priors.csv")"

# --- what a trainer takes: targets, loss weights, splits, shard lists ------------
ONTO=$AUDIOSET/ontology.json
check "labels.npy: stored labels and every exported ancestor; pos_weight recomputed; eval clips in test; shard lists" \
	$PY "$ROOT/tests/py/trainer_check.py" "$AEDCURATE_DB" "$T/w1" "$ONTO" --keep eval=test --shards-per-split 2
check_grep "no problems, ancestors set on some samples" 'with an ancestor column set, [1-9][0-9]* clips kept .*, 0 problems$' "$T/out"
check_eq "the eval clips are in no train shard" "0" "$(sql "SELECT count(*) FROM export_sample e JOIN segment_split ss ON ss.segment_id = e.segment_id JOIN split p ON p.id = ss.split_id WHERE p.name = 'eval' AND e.split = 'train' AND e.export_id = (SELECT max(id) FROM export)")"
check "--no-ancestors, --keep-split none, --beta 0.5, 3 shards per split" $AED export --out "$T/na" --balance $B \
	--split train=0.7,val=0.2,test=0.1 --payload embedding --seed 7 --no-ancestors --keep-split none --beta 0.5 --shards-per-split 3
check "labels.npy holds the stored labels only; pos_weight with beta 0.5" \
	$PY "$ROOT/tests/py/trainer_check.py" "$AEDCURATE_DB" "$T/na" "$ONTO" --no-ancestors --beta 0.5 --shards-per-split 3
check_fail "the checker notices labels.npy without the ancestors" \
	$PY "$ROOT/tests/py/trainer_check.py" "$AEDCURATE_DB" "$T/na" "$ONTO" --beta 0.5 --shards-per-split 3
check_grep "it names labels.npy" 'labels.npy sets' "$T/out"
check_fail "a bad --keep-split" $AED export --out "$T/x" --keep-split eval
check_fail "--keep-split to a split the export lacks" $AED export --out "$T/x" --keep-split eval=holdout
check_grep "it names the split" 'no split holdout' "$T/err"
check "the summary warns about classes without a val or test positive" $AED export --out "$T/na" --balance $B \
	--split train=0.7,val=0.2,test=0.1 --payload embedding --seed 7
check_grep "warning names val" '^warning: export: [0-9]+ of [0-9]+ classes have no positive in val' "$T/err"
if $PY -c 'import torch' 2>/dev/null; then
	check "a torch DataLoader with 2 workers trains a linear probe from labels.npy and pos_weight.npy" \
		$PY "$ROOT/tests/py/torch_probe.py" "$T/w1" --workers 2 --epochs 3
	check_grep "it prints the test mAP" '^test mAP [0-9.]+ over [1-9]' "$T/out"
	grep '^test mAP' "$T/out" | sed 's/^/# /'
else
	not_ok "python3-torch is not installed (make deps)"
fi

check "same seed again, one thread" $AED export --out "$T/w2" --balance $B --split train=0.7,val=0.2,test=0.1 \
	--shard-size 16 --payload audio,logmel,embedding --seed 7 --threads 1
same=1
for f in "$T"/w1/*.tar "$T/w1/index.json"; do cmp -s "$f" "$T/w2/$(basename "$f")" || same=0; done
check_eq "byte-identical shards and index (any thread count)" "1 $(ls "$T/w1" | grep -c tar)" "$same $(ls "$T/w2" | grep -c tar)"
check "another seed" $AED export --out "$T/w3" --balance $B --split train=0.7,val=0.2,test=0.1 --shard-size 16 --seed 8
check_fail "another seed gives another selection or order" cmp -s "$T/w1/train-000000.tar" "$T/w3/train-000000.tar"
check "the other seed's shards read back too" $PY "$ROOT/tests/py/read_webdataset.py" "$AEDCURATE_DB" "$T/w3" --min 4 --max 10 --ffmpeg 3

# kill -9 while writing, then rerun: the same shards as a clean run, no .tmp left
$AED export --out "$T/k" --balance $B --split train=0.7,val=0.2,test=0.1 --shard-size 16 \
	--payload audio,logmel,embedding --seed 7 >/dev/null 2>&1 &
kpid=$!
sleep 0.4
kill -9 $kpid 2>/dev/null
wait $kpid 2>/dev/null
check "rerun after kill -9" $AED export --out "$T/k" --balance $B --split train=0.7,val=0.2,test=0.1 \
	--shard-size 16 --payload audio,logmel,embedding --seed 7
same=1
for f in "$T"/w1/*.tar "$T/w1/index.json"; do cmp -s "$f" "$T/k/$(basename "$f")" || same=0; done
check_eq "identical to the clean run, nothing left over" "1 0" "$same $(ls "$T/k" | grep -c tmp)"

# a rerun into the same directory with bigger shards leaves no stale shard
check "rerun with bigger shards" $AED export --out "$T/w3" --balance $B --split train=0.7,val=0.2,test=0.1 --shard-size 1000 --shards-per-split 1 --seed 8
check_eq "one shard per split, nothing stale" "test-000000.tar train-000000.tar val-000000.tar" "$(ls "$T/w3" | grep tar | tr '\n' ' ' | sed 's/ $//')"

# --- refinement results go into the JSON ----------------------------------------
check "refine Bark (SeCoST soft labels)" $AED refine --class /m/05tny_ --secost -q
check "priors" $AED priors
check "export after refinement" $AED export --out "$T/r" --balance $B --shard-size 50 --seed 7
check "python finds the masks, scores and soft labels the database holds" \
	$PY "$ROOT/tests/py/read_webdataset.py" "$AEDCURATE_DB" "$T/r" --min 4 --max 10 --ffmpeg 3
check_grep "some samples refined" 'samples \(0 augmented, [1-9][0-9]* refined\)' "$T/out"
check_eq "pos_weight from this export's train split, beta as the priors run" "1 1" "$($PY -c 'import json,sys; m=json.load(open(sys.argv[1])); print(int("split train" in m["sources"]["pos_weight"]), int("priors run" in m["sources"]["pos_weight"]))' "$T/r/manifest.json")"
check "refined samples: soft.npy and mask.npy agree with the JSON" \
	$PY "$ROOT/tests/py/trainer_check.py" "$AEDCURATE_DB" "$T/r" "$ONTO" --keep eval=test
key=$(sql "SELECT s.key FROM export_sample e JOIN segment s ON s.id = e.segment_id JOIN label l ON l.segment_id = s.id JOIN class c ON c.id = l.class_id WHERE c.mid = '/m/05tny_' AND e.export_id = (SELECT max(id) FROM export) LIMIT 1")
shard=$(sql "SELECT split || '-' || printf('%06d', shard) FROM export_sample WHERE key = '$key' AND export_id = (SELECT max(id) FROM export)")
tar -xOf "$T/r/$shard.tar" "$key.json" >"$T/one.json"
check_eq "a Bark clip's JSON: refined, 8 mask values (its 4 s of real audio, not the 10 s clip's padding), a soft label" "True 8 True" "$($PY -c 'import json,sys; j=json.load(open(sys.argv[1])); f=j["frames"]["/m/05tny_"]; print(j["refined"], len(f["mask"]), "/m/05tny_" in j["soft_labels"])' "$T/one.json")"
# the reader can fail: change a stored mask after the export
sql "UPDATE frame_mask SET mask = zeroblob(n_patches) WHERE segment_id = (SELECT id FROM segment WHERE key = '$key')"
check_fail "a mask changed in the database is noticed" $PY "$ROOT/tests/py/read_webdataset.py" "$AEDCURATE_DB" "$T/r" --ffmpeg 0
check_grep "it names the mask" 'mask differs' "$T/out"

# --- mixes ----------------------------------------------------------------------
check "mix-augment" $AED export --out "$T/m" --balance min=6,max=10 --mix-augment --payload audio,logmel --shard-size 40 --seed 3 --threads 3
check_grep "some mixes" ', [1-9][0-9]* mixes' "$T/out"
check "python reads the mixes: sources carry the class, stay in the split" \
	$PY "$ROOT/tests/py/read_webdataset.py" "$AEDCURATE_DB" "$T/m" --min 6 --max 10 --ffmpeg 3
check_grep "augmented samples" 'samples \([1-9][0-9]* augmented' "$T/out"
check_eq "mixes recorded with both sources" "0" "$(sql "SELECT count(*) FROM export_sample WHERE export_id = (SELECT max(id) FROM export) AND segment_id IS NULL AND (mix_a IS NULL OR mix_b IS NULL)")"

# --- TFRecord -------------------------------------------------------------------
check "tfrecord export" $AED export --out "$T/t1" --format tfrecord --balance $B --shard-size 20 --seed 7
check "python checks every CRC, parses the SequenceExamples, recomputes the PCA bytes" \
	$PY "$ROOT/tests/py/read_tfrecord.py" "$AEDCURATE_DB" "$T/t1"
check_grep "no problems" ', 0 problems$' "$T/out"
check "PCA files beside the shards" test -s "$T/t1/pca_mean.npy" -a -s "$T/t1/pca_components.npy" -a -s "$T/t1/pca.json"
check "same seed again" $AED export --out "$T/t2" --format tfrecord --balance $B --shard-size 20 --seed 7
same=1
for f in "$T"/t1/*.tfrecord "$T/t1/pca_components.npy"; do cmp -s "$f" "$T/t2/$(basename "$f")" || same=0; done
check_eq "byte-identical TFRecords and PCA" "1" "$same"
cp "$T/t1/train-000000.tfrecord" "$T/keep"
printf 'X' | dd of="$T/t1/train-000000.tfrecord" bs=1 seek=40 conv=notrunc 2>/dev/null
check_fail "a flipped byte fails the CRC" $PY "$ROOT/tests/py/read_tfrecord.py" "$AEDCURATE_DB" "$T/t1"
check_grep "it says CRC" 'CRC' "$T/out"
done_testing
