#!/bin/sh
# t0011-pipeline.sh - pipeline files: a substituted value stays the one
# argument its word was (a shared folder whose path has a space, an
# environment value that looks like an option), and `run` steps that would
# run a pipeline again (itself, or through another) or nest too deep are
# refused at once with the file and line, leaving no run 'running'.
. "$(dirname "$0")/../lib/testlib.sh"
D=$ROOT/tests/data/ontology
# A regression would recurse until memory runs out: stop it long before.
RUN="timeout -s KILL 120 $AED run"

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
	shared_part_missing "the demo part ($AUDIOSET not present)"
fi

# A pipeline that runs itself, named by another path to the same file.
mkdir -p "$T/sub"
ln -s "$T/self.pipeline" "$T/sub/link.pipeline"
cat >"$T/self.pipeline" <<PEOF
pipeline self
step first: status
step again: run $T/sub/../sub/link.pipeline
PEOF
export AEDCURATE_DB="$T/self.db"
check_fail "a pipeline that runs itself is refused" $RUN "$T/self.pipeline"
check_grep "naming the step's file and line" "self.pipeline:3: step 'again' failed" "$T/err"
check_grep "and the chain" "already running \($T/self.pipeline -> $T/sub/../sub/link.pipeline\)" "$T/err"
check_eq "one pipeline run, failed" "failed" "$(sql "SELECT group_concat(outcome) FROM run WHERE stage = 'pipeline'")"
check_eq "no run left running" 0 "$(sql "SELECT count(*) FROM run WHERE outcome = 'running'")"

# A -> B -> A.
cat >"$T/a.pipeline" <<PEOF
pipeline a
step first: status
step b: run $T/b.pipeline
PEOF
cat >"$T/b.pipeline" <<PEOF
pipeline b
step back: run $T/a.pipeline
PEOF
export AEDCURATE_DB="$T/ab.db"
check_fail "A -> B -> A is refused" $RUN "$T/a.pipeline"
check_grep "naming both steps" "a.pipeline:3: step 'b' failed: $T/b.pipeline:2: step 'back' failed" "$T/err"
check_grep "and the cycle" "already running \($T/a.pipeline -> $T/b.pipeline -> $T/a.pipeline\)" "$T/err"
check_eq "two pipeline runs, both failed" "failed,failed" "$(sql "SELECT group_concat(outcome) FROM run WHERE stage = 'pipeline'")"
check_eq "no run left running" 0 "$(sql "SELECT count(*) FROM run WHERE outcome = 'running'")"

# The same pipeline twice in a row is no cycle; 8 deep is fine, 9 is not.
cat >"$T/c.pipeline" <<PEOF
pipeline c
step s: status
PEOF
cat >"$T/twice.pipeline" <<PEOF
pipeline twice
step one: run $T/c.pipeline
step two: run $T/c.pipeline --force
PEOF
export AEDCURATE_DB="$T/twice.db"
check "a pipeline run twice from one pipeline" $RUN "$T/twice.pipeline"
for i in 1 2 3 4 5 6 7 8; do
	printf 'pipeline p%s\nstep next: run %s\n' "$i" "$T/p$((i + 1)).pipeline" >"$T/p$i.pipeline"
done
printf 'pipeline p9\nstep s: status\n' >"$T/p9.pipeline"
export AEDCURATE_DB="$T/deep.db"
check "8 pipelines deep" $RUN "$T/p2.pipeline"
export AEDCURATE_DB="$T/deeper.db"
check_fail "9 pipelines deep is refused" $RUN "$T/p1.pipeline"
check_grep "naming the step" "p8.pipeline:2: step 'next' failed: run: $T/p9.pipeline: pipelines nested more than 8 deep" "$T/err"
check_eq "no run left running" 0 "$(sql "SELECT count(*) FROM run WHERE outcome = 'running'")"
done_testing
