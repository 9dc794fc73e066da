#!/bin/sh
# t0502-features-yamnet.sh - the log-mel front end is the one YAMNet was
# trained with: the framing, window, DFT and mel matrices and log offset built
# into the real yamnet.tflite graph match the VGGish algorithm that `features`
# implements (t0500 ties `features` to that algorithm within 1e-3), within the
# graph's int8 quantisation step.
. "$(dirname "$0")/../lib/testlib.sh"
MODEL=$SHARED/models/yamnet/yamnet.tflite
need_shared "$MODEL"
check "YAMNet's built-in front end matches" "$PY" "$ROOT/tests/py/yamnet_frontend_check.py" "$MODEL"
sed 's/^/# /' "$T/out"
check_eq "six parts checked" 6 "$(grep -c '^ok ' "$T/out")"
done_testing
