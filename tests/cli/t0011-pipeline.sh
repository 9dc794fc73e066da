#!/bin/sh
# t0011-pipeline.sh - pipeline files: a substituted value stays the one
# argument its word was (a shared folder whose path has a space, an
# environment value that looks like an option).
. "$(dirname "$0")/../lib/testlib.sh"
D=$ROOT/tests/data/ontology
RUN="$AED run"

# ${VAR:-default} whose default has a space, then {d}/file in a step.
mkdir -p "$T/my data"
cp "$D/small.json" "$T/my data/o.json"
cp "$D/labels_small.csv" "$T/my data/labels.csv"
unset AED_T_DIR
cat >"$T/spaces.pipeline" <<PEOF
pipeline spaces
set d = \${AED_T_DIR:-$T/my data}
step ontology: ontology ingest {d}/o.json --labels {d}/labels.csv
PEOF
check "a folder with a space in a set value" $RUN "$T/spaces.pipeline"
check_eq "the ontology landed" 5 "$(sql 'SELECT count(*) FROM class')"
check "dry run" $RUN "$T/spaces.pipeline" --dry-run
check_grep "shows the words quoted" "aedcurate ontology ingest '$T/my data/o.json'" "$T/out"

# An environment value "x.db --json" is one argument, not a path and an option.
export AED_T_DB="x.db --json"
cat >"$T/inject.pipeline" <<PEOF
pipeline inject
step init: init --db $T/\${AED_T_DB}
PEOF
check "an env value with a blank and a dash" $RUN "$T/inject.pipeline"
check "is one path" test -f "$T/x.db --json"
check "and no option" test ! -e "$T/x.db"
unset AED_T_DB

# The demo's first steps with the shared folder behind a path with a space.
if [ -e "$AUDIOSET/ontology.json" ] && [ -e "$AUDIOSET/class_labels_indices.csv" ]; then
	mkdir -p "$T/x"
	ln -s "$SHARED" "$T/x/my shared"
	sed -n '1,/^step ontology:/p' "$ROOT/pipelines/demo.pipeline" >"$T/demo1.pipeline"
	export AEDCURATE_DB="$T/demo.db"
	AEDCURATE_SHARED="$T/x/my shared" check "the demo's ontology step from a shared folder named with a space" \
		$RUN "$T/demo1.pipeline" --offline
	check_eq "632 classes" 632 "$(sql 'SELECT count(*) FROM class')"
	export AEDCURATE_DB="$T/test.db"
else
	echo "# skip: the demo part ($AUDIOSET not present)"
fi

done_testing
