# submit.sh - sourced by the `aedcurate submit` tests (t151*), after
# testlib.sh: a small copy of the demo's data, the test Slurm cluster, and
# jobs submitted and waited for.
#
#   small_demo_data DEST        6 AudioSet eval clips and 88 UrbanSound8K clips
#                               (the demo's five Bark exemplars among them),
#                               with the full AudioSet lists and ontology
#   need_slurm                  the cluster of tests/lib/slurm.sh, or skip the
#                               rest of the script (a failure when CI is set)
#   submit_json ARGS...         aedcurate submit ARGS --json; sets $A (the job
#                               array) and $M (the merge job); both are
#                               cancelled when the script exits
#   wait_jobs ID...             until Slurm lists none of them (10 min at most)
#   state ID                    JobState of a job, or of each array task
#                               (sorted, unique)
#   digest DB                   segments, labels and splits, one line each

# small_demo_data DEST: the shared data's lists and ontology linked, a few
# clips linked (AudioSet eval) or copied (UrbanSound8K: a test may damage one).
small_demo_data() {
	$PY - "$SHARED" "$1" <<'EOF'
import csv, os, shutil, sys
src, dst = sys.argv[1:3]
def link(rel):
    os.makedirs(os.path.dirname(os.path.join(dst, rel)), exist_ok=True)
    os.symlink(os.path.join(src, rel), os.path.join(dst, rel))
for f in ("ontology.json", "class_labels_indices.csv", "balanced_train_segments.csv", "eval_segments.csv"):
    link("data/audioset/" + f)
link("models/yamnet")
ev = "data/audio/audioset-eval/"
rows = list(csv.DictReader(open(os.path.join(src, ev, "labels.csv"))))[:6]
os.makedirs(os.path.join(dst, ev))
with open(os.path.join(dst, ev, "labels.csv"), "w", newline="") as f:
    w = csv.DictWriter(f, fieldnames=list(rows[0].keys())); w.writeheader()
    for r in rows:
        link(ev + r["file"]); w.writerow(r)
# UrbanSound8K: the demo's five Bark exemplars, 25 dog barks, 7 of each other
# class; files copied.
u = "data/audio/urbansound8k/"
rows = list(csv.DictReader(open(os.path.join(src, u, "manifest.csv"))))
ex = {"100652-3-0-0", "101415-3-0-2", "112195-3-0-38", "113785-3-0-0", "114587-3-0-2"}
keep, n = [], {}
for r in rows:
    stem = os.path.splitext(os.path.basename(r["file"]))[0]
    if stem in ex or n.get(r["class"], 0) < (25 if r["class"] == "dog_bark" else 7):
        keep.append(r); n[r["class"]] = n.get(r["class"], 0) + 1
os.makedirs(os.path.join(dst, u))
with open(os.path.join(dst, u, "manifest.csv"), "w", newline="") as f:
    w = csv.DictWriter(f, fieldnames=list(rows[0].keys())); w.writeheader()
    for r in keep:
        os.makedirs(os.path.join(dst, u, os.path.dirname(r["file"])), exist_ok=True)
        shutil.copyfile(os.path.join(src, u, r["file"]), os.path.join(dst, u, r["file"]))
        w.writerow(r)
EOF
}

need_slurm() {
	if [ -z "${SLURM_CONF:-}" ] && [ -s "$ROOT/build/slurm.env" ]; then
		. "$ROOT/build/slurm.env"; export SLURM_CONF
	fi
	if [ -z "${SLURM_CONF:-}" ] || ! command -v sbatch >/dev/null ||
		! sinfo -h -o %T 2>/dev/null | grep -Eq '^(idle|mixed|allocated)'; then
		echo "# skip: no Slurm cluster answers here (start one: sh tests/lib/slurm.sh start); the Slurm checks did not run"
		if [ -n "${CI:-}" ]; then not_ok "Slurm is running in CI (.ci/run starts it with tests/lib/slurm.sh)"; fi
		done_testing; exit
	fi
	ok "a Slurm cluster answers ($(sinfo -h -o '%P %D node(s) %T' | head -n 1))"
	trap _cancel_jobs EXIT
}

_jobs=
_cancel_jobs() { [ -z "$_jobs" ] || scancel $_jobs 2>/dev/null; _cleanup; }
submit_json() {
	$AED submit "$@" --json >"$T/out" 2>"$T/err"; _rc=$?
	A=$($PY -c 'import json,sys; print(json.load(open(sys.argv[1])).get("array_job") or "")' "$T/out" 2>/dev/null)
	M=$($PY -c 'import json,sys; print(json.load(open(sys.argv[1])).get("merge_job") or "")' "$T/out" 2>/dev/null)
	_jobs="$_jobs $A $M"
	return $_rc
}
wait_jobs() {
	_ids=$(echo "$@" | tr ' ' ','); _i=0
	while [ -n "$(squeue -h -j "$_ids" -o %i 2>/dev/null)" ] && [ $_i -lt 1200 ]; do sleep 0.5; _i=$((_i + 1)); done
	[ -z "$(squeue -h -j "$_ids" -o %i 2>/dev/null)" ]
}
state() { scontrol show job -o "$1" | grep -o 'JobState=[A-Z_]*' | sed 's/JobState=//' | sort -u | tr '\n' ' ' | sed 's/ $//'; }
# slurm_diag JOB...: after a check of job states failed, what Slurm knows of
# the jobs and what its daemons logged about them, as comments in the log.
slurm_diag() {
	for _j in "$@"; do scontrol show job -o "$_j" 2>&1 | sed 's/^/#   /'; done
	_d=${SLURM_DIR:-$(dirname "${SLURM_CONF:-.}")}
	for _f in "$_d"/log/slurmctld.log "$_d"/log/slurmd.log; do
		grep -E "JobId=($(echo "$@" | sed 's/ \{1,\}/|/g'))([^0-9]|\$)" "$_f" 2>/dev/null | tail -n 20 |
			sed "s|^|#   ${_f##*/}: |"
	done
}

digest() {
	sqlite3 -batch -noheader "$1" "SELECT key, ytid, start_ms, end_ms, path, source_group, meta FROM segment ORDER BY key;
		SELECT s.key, c.mid, l.source FROM label l JOIN segment s ON s.id = l.segment_id JOIN class c ON c.id = l.class_id ORDER BY 1, 2, 3;
		SELECT s.key, p.name FROM segment_split x JOIN segment s ON s.id = x.segment_id JOIN split p ON p.id = x.split_id ORDER BY 1, 2;"
}
