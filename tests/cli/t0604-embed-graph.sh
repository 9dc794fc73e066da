#!/bin/sh
# t0604-embed-graph.sh - the embed stage computes what the TFLite file says:
# a generic graph interpreter (tests/py/tflite_run.py: the file's operators
# in the file's order, every shape, option and quantisation parameter read
# from the file, nothing known of YAMNet's architecture) fed with our stored
# log-mel patches gives our stored scores and embeddings within 1e-5 and the
# same clip top 5; and the whole graph, its own int8-DFT front end included,
# on 0.975 s windows decoded by the ffmpeg CLI gives our scores within 0.1.
#
# Bounds. Patches: we compute in float32 with the dequantised int8 weights,
# the interpreter in float64 with the same weights; measured differences are
# <= 2e-6 (scores) and <= 1e-5 absolute on embeddings up to ~5 (all 263
# UrbanSound8K jackhammer/drilling foreground clips), so 1e-5 (embeddings
# relative to max(1, |value|)) leaves 2-20x headroom, while a patch shifted
# by a single 10 ms frame misses it by 10^4 (checked below). Whole graph: the
# file's front end is a matrix product with an int8 DFT matrix (entries off
# by up to 0.0039 from cos/sin) where we use FFTW; its quantisation noise
# floor lifts the quietest mel bins (the same frames with an exact DFT match
# our log-mel to 0.002 mean, 0.03 max). Measured: UrbanSound8K windows <=
# 0.02, the AudioSet music clip 0.064 on its second window; bound 0.1, same
# top-1, 4 of the top 5 shared, log-mel mean |diff| < 0.1 (measured <= 0.09).
. "$(dirname "$0")/../lib/testlib.sh"
MODEL=$SHARED/models/yamnet/yamnet.tflite
US=$SHARED/data/audio/urbansound8k
EVAL=$SHARED/data/audio/audioset-eval/Z19W44ZI15Q_190000.m4a
need_shared "$MODEL" "$US/manifest.csv" "$AUDIOSET/ontology.json" "$EVAL"
RUN=$ROOT/tests/py/tflite_run.py

# 2 jackhammer, 2 drilling and 1 dog_bark foreground clips, one AudioSet clip.
{
	echo path
	for c in jackhammer drilling dog_bark; do
		n=2; [ "$c" = dog_bark ] && n=1
		awk -F, -v c="$c" '$3 == c && $8 + 0 == 1 { print $1 }' "$US/manifest.csv" |
			head -n "$n" | sed "s|^|$US/|"
	done
	echo "$EVAL"
} >"$T/m.csv"
check_eq "six clips picked" 7 "$(wc -l <"$T/m.csv" | tr -d ' ')"

check "init" $AED init
check "ontology" $AED ontology ingest "$AUDIOSET/ontology.json"
check "segments" $AED segments ingest --format manifest "$T/m.csv"
check "fetch" $AED fetch
check "decode" $AED decode
check "features" $AED features
check "embed" $AED embed --model "$MODEL" --json
check_grep "six segments embedded" '"done": 6, "failed": 0' "$T/out"

# The interpreter reads every operator's options from the file.
check "operator options listed" $PY "$ROOT/tests/py/tflite_ref.py" "$MODEL" options
check_grep "stride-2 SAME conv with fused ReLU" \
	"CONV_2D .*'padding': 0, 'stride_w': 2, 'stride_h': 2, 'fused_activation_function': 1" "$T/out"
check_grep "gather axis read" "GATHER .*'axis': 0" "$T/out"

for SEG in $(sql "SELECT id FROM segment ORDER BY id"); do
	P=$(sql "SELECT path FROM segment WHERE id = $SEG")
	B=$(basename "$P")
	$AED dump features "$SEG" -o "$T/lm$SEG.npy" >/dev/null 2>&1
	$AED dump embedding "$SEG" -o "$T/e$SEG.npy" >/dev/null 2>&1
	$AED dump scores "$SEG" -o "$T/s$SEG.npy" >/dev/null 2>&1
	check "$B: the file's graph from our patches gives our scores, embeddings, top 5" \
		$PY "$RUN" "$MODEL" check "$T/lm$SEG.npy" "$T/e$SEG.npy" "$T/s$SEG.npy" 1e-5
	sed "s/^/# $B: /" "$T/out"
	check "$B: the whole graph on ffmpeg-decoded windows agrees" \
		$PY "$RUN" "$MODEL" graphcheck "$P" "$T/s$SEG.npy" 0.1 2 "$T/lm$SEG.npy"
	sed "s/^/# $B: /" "$T/out"
done

# The checks can fail: another clip's scores, and patches one frame late.
S1=$(sql "SELECT min(id) FROM segment")
S2=$(sql "SELECT id FROM segment WHERE id > $S1 ORDER BY id LIMIT 1")
check_fail "another clip's stored results are refused" \
	$PY "$RUN" "$MODEL" check "$T/lm$S1.npy" "$T/e$S2.npy" "$T/s$S2.npy" 1e-5
check "log-mel shifted by one frame" $PY -c "
import numpy as np
a = np.load('$T/lm$S1.npy').reshape(-1, 64)
np.save('$T/shift.npy', np.concatenate([a[1:], a[-1:]]))"
check_fail "a one-frame shift exceeds the bound" \
	$PY "$RUN" "$MODEL" check "$T/shift.npy" "$T/e$S1.npy" "$T/s$S1.npy" 1e-5
grep '^[0-9]* patches' "$T/out" | sed 's/^/# shifted: /'

# The whole-graph and from-a-tensor modes write what they say.
P1=$(sql "SELECT path FROM segment WHERE id = $S1")
check "a 0.975 s window as f32" $PY -c "
import sys; sys.path.insert(0, '$ROOT/tests/py'); import numpy as np, tflite_run
np.save('$T/w.npy', tflite_run.decode('$P1')[:15600].astype(np.float32))"
check "run: whole graph" $PY "$RUN" "$MODEL" run "$T/w.npy" "$T/ws.npy" "$T/we.npy" "$T/wp.npy"
check "from: the graph's own patch through the network again" \
	$PY "$RUN" "$MODEL" from yamnet_frames/reshape/Reshape "$T/wp.npy" "$T/fs.npy" "$T/fe.npy"
check "both give the same scores and embedding" $PY -c "
import numpy as np
a, b = np.load('$T/ws.npy'), np.load('$T/fs.npy')
e, f = np.load('$T/we.npy'), np.load('$T/fe.npy')
assert a.shape == (1, 521) and b.shape == (1, 521) and e.shape == (1, 1024), (a.shape, e.shape)
assert np.abs(a - b).max() < 1e-6 and np.abs(e - f).max() < 1e-5 and e.max() > 0.5"
done_testing
