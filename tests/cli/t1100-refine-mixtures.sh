#!/bin/sh
# t1100-refine-mixtures.sh - weak-label refinement on real recordings with
# known event times: UrbanSound8K gun shots and dog barks placed into 10 s
# real backgrounds (tests/py/mix_events.py), labelled weakly, run through
# decode, features, embed and refine, and scored against the placement.
# The plain AudioSet rule (YAMNet scores, max-normalised, threshold 0.66) is
# the baseline; the classifier's patch-level hysteresis is the coarse method;
# the default (an ensemble of five self-trained classifiers, consensus of fine
# patches every 0.12 s, energy gate) must beat both: F1 over the baseline's, strict frame precision
# over the coarse method's and over the ungated consensus at recall >= 0.8,
# the goal (precision >= 0.85 at recall >= 0.8) strict and with the collar,
# and a better 10 ms frame F1 than the coarse method.
. "$(dirname "$0")/../lib/testlib.sh"
US8K=$SHARED/data/audio/urbansound8k
need_shared "$US8K/manifest.csv" "$AUDIOSET/ontology.json" "$SHARED/models/yamnet/yamnet.tflite"
export AEDCURATE_SHARED=$SHARED
W=$T/mix
# Mixture set 2 (seed 2); AEDCURATE_MIX_SEED picks another. Strict frame
# precision/recall on seeds 1-15 are in the README: with the previous default
# (--relabel-neg 0) the goal (>= 0.85 at >= 0.8) held for both classes on this
# set and pooled over the 15 sets, on 12 (Gunshot) and 14 (Bark) of them one
# by one; with the present default it holds on this set, and on 5 of the 12
# class-sets of seeds 1-6 (each class a third of this corpus: the default
# was chosen where a class is one of many, tests/cli/t1110).
SEED=${AEDCURATE_MIX_SEED:-2}
mkdir -p "$W/wav"

# 1. the source clips, decoded by aedcurate itself and dumped as WAV
export AEDCURATE_DB=$T/src.db
check "choose source clips" $PY "$ROOT/tests/py/mix_events.py" select "$US8K" "$W" --seed $SEED
check "ontology" $AED ontology ingest "$AUDIOSET/ontology.json" -q
check "sources ingested" $AED segments ingest "$W/sources.csv" --format manifest --strict
check "sources fetched" $AED fetch -q
check "sources decoded" $AED decode -q
n_bad=0
for key in $(sql "SELECT key FROM segment"); do
	$AED dump clip "$key" -o "$W/wav/${key%_0}.wav" --trim -q 2>>"$T/dump.err" || n_bad=$((n_bad + 1))
done
check_eq "every source dumped" 0 "$n_bad"

# 2. the mixtures, weakly labelled, with their true event times
check "mix" $PY "$ROOT/tests/py/mix_events.py" mix "$W" --seed $SEED
check_grep "90 mixtures" '^90 mixtures' "$T/out"
export AEDCURATE_DB=$T/mix.db
check "ontology and label indexes" $AED ontology ingest "$AUDIOSET/ontology.json" --labels "$AUDIOSET/class_labels_indices.csv" -q
check "weak labels" $AED segments ingest "$W/mixtures.csv" --split mix --strict
check "true times as strong labels" $AED segments ingest "$W/strong.tsv" --format strong --strict
check "fetch" $AED fetch -q
check "decode" $AED decode -q
check "features" $AED features -q
check "embed" $AED embed -q
check_eq "90 segments embedded" 90 "$(sql "SELECT count(*) FROM array_ref WHERE kind = 'embedding'")"

# field NAME METHOD [frame|frame_collar|segment_1s] KEY from eval refine --json in FILE
field() {
	$PY -c 'import json,sys; d=json.load(open(sys.argv[1])); m=[x for x in d["methods"] if x["method"]==sys.argv[2]][0]; print("%.4f" % m[sys.argv[3]][sys.argv[4]])' "$1" "$2" "$3" "$4"
}
ge() { $PY -c 'import sys; sys.exit(0 if float(sys.argv[1]) >= float(sys.argv[2]) else 1)' "$1" "$2"; }
gt() { $PY -c 'import sys; sys.exit(0 if float(sys.argv[1]) > float(sys.argv[2]) else 1)' "$1" "$2"; }

for class in Gunshot Bark; do
	# 3. baseline: YAMNet's own scores, the plain rule
	check "$class: refine --scorer yamnet --method maxnorm" $AED refine --class "$class" --scorer yamnet --method maxnorm
	check "$class: eval refine (baseline)" $AED eval refine --class "$class" --json
	cp "$T/out" "$T/base.json"
	# 4. the coarse method: self-trained classifier, hysteresis on patches
	check "$class: refine --method hysteresis" $AED refine --class "$class" --method hysteresis
	check "$class: eval refine (coarse)" $AED eval refine --class "$class" --json
	cp "$T/out" "$T/hys.json"
	# 4b. the consensus without its energy gate
	check "$class: refine --no-gate" $AED refine --class "$class" --no-gate
	check "$class: eval refine (no gate)" $AED eval refine --class "$class" --json
	cp "$T/out" "$T/nog.json"
	# 5. the default: the same classifier, consensus of fine patches
	check "$class: refine (default)" $AED refine --class "$class"
	check_grep "$class: default scorer and method" 'scorer trained, method consensus' "$T/out"
	check "$class: eval refine (default)" $AED eval refine --class "$class" --json
	cp "$T/out" "$T/def.json"
	mid=$(sql "SELECT mid FROM class WHERE name LIKE '$class%' ORDER BY length(name) LIMIT 1")
	check "$class: Python recomputes every figure of eval refine" $PY "$ROOT/tests/py/refine_eval_check.py" "$AEDCURATE_DB" "$mid" "$T/def.json"
	check "$class: eval refine prints a table" $AED eval refine --class "$class"
	sed "s/^/# $class /" "$T/out"
	bp=$(field "$T/base.json" maxnorm frame precision); br=$(field "$T/base.json" maxnorm frame recall)
	bf=$(field "$T/base.json" maxnorm frame f1)
	wf=$(field "$T/def.json" weak frame f1); wer=$(field "$T/def.json" weak segment_1s error_rate)
	dp=$(field "$T/def.json" consensus frame precision); dr=$(field "$T/def.json" consensus frame recall)
	df=$(field "$T/def.json" consensus frame f1); der=$(field "$T/def.json" consensus segment_1s error_rate)
	cp=$(field "$T/def.json" consensus frame_collar precision); cr=$(field "$T/def.json" consensus frame_collar recall)
	fp=$(field "$T/def.json" consensus frame_10ms precision); fr=$(field "$T/def.json" consensus frame_10ms recall)
	ff=$(field "$T/def.json" consensus frame_10ms f1)
	hp=$(field "$T/hys.json" hysteresis frame precision); hr=$(field "$T/hys.json" hysteresis frame recall)
	hf=$(field "$T/hys.json" hysteresis frame_10ms f1)
	mp=$(field "$T/def.json" maxnorm frame precision); mr=$(field "$T/def.json" maxnorm frame recall)
	np=$(field "$T/nog.json" consensus frame precision); nr=$(field "$T/nog.json" consensus frame recall)
	echo "# $class baseline yamnet+maxnorm: frame P $bp R $br F1 $bf"
	echo "# $class trained+maxnorm: frame P $mp R $mr"
	echo "# $class trained+hysteresis: frame P $hp R $hr; 10 ms F1 $hf"
	echo "# $class trained+consensus, no gate: frame P $np R $nr"
	echo "# $class default trained+consensus: frame P $dp R $dr F1 $df; collar P $cp R $cr; 10 ms P $fp R $fr F1 $ff; 1 s ER $der (weak $wer)"
	if ge "$bp" 0.75 && ! ge "$br" 0.5; then ok "$class: the plain rule is precise but misses most event patches"; else not_ok "$class: baseline P $bp R $br"; fi
	if gt "$df" "$bf" && gt "$df" "$wf"; then ok "$class: default F1 $df beats the baseline $bf and the weak mask $wf"; else not_ok "$class: F1 $df vs $bf / $wf"; fi
	if gt "$dp" "$hp" && ge "$dr" 0.8; then ok "$class: strict precision $dp above the coarse method's $hp at recall $dr >= 0.8"; else not_ok "$class: strict P $dp (coarse $hp) R $dr"; fi
	if gt "$dp" "$np" && ge "$dr" 0.8; then ok "$class: the gate raises strict precision $np -> $dp at recall $dr"; else not_ok "$class: gate P $np -> $dp R $dr"; fi
	if ge "$dp" 0.85 && ge "$dr" 0.8; then ok "$class: strict precision $dp >= 0.85 at recall $dr >= 0.8"; else not_ok "$class: strict P $dp R $dr"; fi
	if ge "$cp" 0.85 && ge "$cr" 0.8; then ok "$class: collar precision $cp >= 0.85 at recall $cr >= 0.8"; else not_ok "$class: collar P $cp R $cr"; fi
	if gt "$ff" "$hf"; then ok "$class: 10 ms F1 $ff beats the coarse method's $hf"; else not_ok "$class: 10 ms F1 $ff vs $hf"; fi
	if gt "$wer" "$der"; then ok "$class: 1 s error rate falls ($wer -> $der)"; else not_ok "$class: ER $wer -> $der"; fi
done
check_eq "masks of both methods stored for Bark" "consensus 30
maxnorm 30" "$(sql "SELECT method, count(*) FROM frame_mask m JOIN class c ON c.id = m.class_id WHERE c.mid = '/m/05tny_' GROUP BY method ORDER BY method" | tr '|' ' ')"
check_eq "10 ms masks of the labelled Bark clips" "30 30 0" "$(sql "SELECT count(*), sum(frame_ms = 10 AND hop_frames = 12 AND n_frames = length(mask)), sum(n_kept > n_frames) FROM frame_mask_fine m JOIN class c ON c.id = m.class_id WHERE c.mid = '/m/05tny_'" | tr '|' ' ')"
check "Bark: refine --fine-rounds 1" $AED refine --class Bark --fine-rounds 1
check_grep "it retrains once on the fine masks" 'fine round 1/1' "$T/err"
check "Bark: eval refine after a fine round" $AED eval refine --class Bark --json
cp "$T/out" "$T/fine.json"
check "Bark: Python recomputes it" $PY "$ROOT/tests/py/refine_eval_check.py" "$AEDCURATE_DB" /m/05tny_ "$T/fine.json"
check_eq "trained frame scores for every segment" 90 "$(sql "SELECT count(*) FROM frame_score s JOIN class c ON c.id = s.class_id WHERE c.mid = '/m/05tny_' AND scorer = 'trained'")"
check_eq "the run's parameters are recorded" "trained 0.66 12 0.625 1 0.0 12.0 30 5 1 0.6" "$(sql "SELECT json_extract(params, '$.scorer'), json_extract(params, '$.threshold'), json_extract(params, '$.hop_frames'), json_extract(params, '$.consensus'), json_extract(params, '$.gate'), json_extract(params, '$.gate_db'), json_extract(params, '$.gate_peak'), json_extract(params, '$.gate_gap'), json_extract(params, '$.ensemble'), json_extract(params, '$.seed'), json_extract(params, '$.relabel') FROM run WHERE stage = 'refine' ORDER BY id DESC LIMIT 1" | tr '|' ' ')"

# The prevalence warning: background classes share their clips with louder
# foreground events; the foreground classes are the most prevalent sound in
# their own clips.
check "refine --all with YAMNet's scores" $AED refine --all --scorer yamnet --method maxnorm
check_grep "Air conditioning warned about" 'warning: refine: /m/025wky1 \(Air conditioning\): /m/[^ ]+ \(.*\) gains more score' "$T/err"
if grep -Eq '/m/(05tny_|032s66) \(' "$T/err"; then not_ok "no warning for Bark or Gunshot"; else ok "no warning for Bark or Gunshot"; fi
check_eq "the warning is stored" "1 0" "$(sql "SELECT (SELECT warning IS NOT NULL FROM refine_class r JOIN class c ON c.id = r.class_id WHERE c.mid = '/m/025wky1' ORDER BY run_id DESC LIMIT 1), (SELECT warning IS NOT NULL FROM refine_class r JOIN class c ON c.id = r.class_id WHERE c.mid = '/m/05tny_' ORDER BY run_id DESC LIMIT 1)" | tr '|' ' ')"

# 6. SeCoST over every class with 5 labelled mixtures
check "SeCoST cascade" $AED refine --all --secost --stages 3 --alpha 0.3,0.2 --method hysteresis --json
check_eq "three stages" 3 "$($PY -c 'import json,sys; print(json.load(open(sys.argv[1]))["stages"])' "$T/out")"
nc=$($PY -c 'import json,sys; print(len(json.load(open(sys.argv[1]))["classes"]))' "$T/out")
check_eq "soft labels for every segment and class" "$((90 * nc))" "$(sql 'SELECT count(*) FROM soft_label')"
check_eq "labelled clips' targets >= alpha 0.2, others <= 0.8" 0 "$(sql "SELECT count(*) FROM soft_label s WHERE (EXISTS (SELECT 1 FROM label l JOIN class_closure cc ON cc.descendant_id = l.class_id WHERE l.segment_id = s.segment_id AND cc.ancestor_id = s.class_id) AND s.target < 0.2 - 1e-9) OR (NOT EXISTS (SELECT 1 FROM label l JOIN class_closure cc ON cc.descendant_id = l.class_id WHERE l.segment_id = s.segment_id AND cc.ancestor_id = s.class_id) AND s.target > 0.8 + 1e-9)")"
check "eval scores on the trained scorer" $AED eval scores --split mix --scorer trained
sed 's/^/# secost /' "$T/out" | tail -4
check_grep "Bark ranks the mixtures" '/m/05tny_ +30 +60 +(0\.9|1\.0)' "$T/out"

# 7. refusals
check_fail "--class and --all together" $AED refine --class Bark --all
check_fail "a class no mixture carries" $AED refine --class Snoring --scorer yamnet
check_grep "it says so" 'no embedded segment is labelled /m/01d3sd' "$T/err"
check_fail "--alpha without --secost" $AED refine --class Bark --alpha 0.3
check_fail "eval refine of a class never refined" $AED eval refine --class Snoring
check_fail "--hop-frames past a patch's half" $AED refine --class Bark --hop-frames 49
check_grep "it names the range" 'hop-frames' "$T/err"
check_fail "an ensemble of none" $AED refine --class Bark --ensemble 0
check_grep "it names the range" 'ensemble must be 1\.\.32' "$T/err"
check_fail "--gate-gap past 10 s" $AED refine --class Bark --gate-gap 11
check_grep "it names the option" 'gate-gap' "$T/err"
done_testing
