#!/bin/sh
# t1511-submit-requeue.sh - a shard task stopped in the middle of its work and
# run again finishes its shard without doing any item twice, and the corpus
# is the one a run without interruption makes.
#  - Without Slurm: a shard whose items a dead run on another host still
#    claims (what a task killed on one node leaves for its restart on
#    another) is not taken as done by `run --shard`, which names the run;
#    `run --shard --sole-writer` (what the submit scripts run) takes the
#    claims over and finishes the shard.
#  - On a real Slurm cluster (tests/lib/slurm.sh), 2 shards of the pipeline,
#    one task stopped while its embed step has stored some of its segments:
#    1. `scancel` of the task: the merge job is cancelled with it, `status`
#       says the shard is incomplete, `submit` again runs that shard and the
#       merge, nothing else;
#    2. `scontrol requeue` of the task (what an admin or a preempting
#       scheduler does), with its runs recorded on another node, as when the
#       task starts again elsewhere: the merge job waits for it, the task
#       starts again (StartTime=now) and completes, the merge runs once.
#    Each time: the items done before the stop keep the run that did them
#    and their arrays, no array was stored and then replaced, the stages'
#    runs count every item once, the stopped runs are marked interrupted,
#    and the corpus has the same segments, labels and splits and bit-identical
#    embeddings as one run on one machine.
# The pipeline is pipelines/demo.pipeline up to its index step, on the small
# copy of the shared data t1510 uses.
. "$(dirname "$0")/../lib/testlib.sh"
. "$ROOT/tests/lib/submit.sh"
need_shared "$AUDIOSET/ontology.json" "$SHARED/data/audio/urbansound8k/manifest.csv" \
	"$SHARED/models/yamnet/yamnet.tflite" "$SHARED/data/audio/audioset-eval/labels.csv"
if [ -n "${AEDCURATE_SANITIZED:-}" ]; then
	echo "# skip: the demo runs are not run on sanitizer builds"
	done_testing; exit
fi
small_demo_data "$T/sh"
export AEDCURATE_SHARED="$T/sh"
cd "$T" || exit 1
P=$T/rq.pipeline
sed '/^step mine:/,$d' "$ROOT/pipelines/demo.pipeline" >"$P"
check_eq "the demo pipeline up to its index step: 5 set-up, 4 [shard] and 1 corpus steps" "10 4" \
	"$(grep -c '^step ' "$P") $(grep -c '^step [a-z]* \[shard\]:' "$P")"

t0=$(date +%s)
check "the reference: one run on this machine" $AED run "$P" --offline --db "$T/one.db"
echo "# reference run: $(( $(date +%s) - t0 )) s"
digest "$T/one.db" >"$T/seg.one"
$PY "$ROOT/tests/py/array_digest.py" "$T/one.db" embedding >"$T/emb.one"

# same_as_one DB WHAT: segments, labels, splits and embeddings of DB equal
# those of the reference run (embeddings of the segments DB has).
same_as_one() {
	digest "$1" >"$T/seg.x"
	if cmp -s "$T/seg.one" "$T/seg.x"; then ok "$2: the same segments, labels and splits ($(wc -l <"$T/seg.x" | tr -d ' ') rows)"
	else not_ok "$2: segments, labels or splits differ"; diff "$T/seg.one" "$T/seg.x" | head -5 | sed 's/^/#   /'; fi
	$PY "$ROOT/tests/py/array_digest.py" "$1" embedding >"$T/emb.x"
	if [ -s "$T/emb.x" ] && [ -z "$(comm -13 "$T/emb.one" "$T/emb.x")" ] && [ "$(wc -l <"$T/emb.x")" -eq "${3:-$(wc -l <"$T/emb.one")}" ]; then
		ok "$2: embeddings bit-identical per segment ($(wc -l <"$T/emb.x" | tr -d ' ') segments)"
	else not_ok "$2: embeddings differ or are missing ($(wc -l <"$T/emb.x" | tr -d ' ') segments)"; comm -13 "$T/emb.one" "$T/emb.x" | head -3 | sed 's/^/#   /'; fi
}
# snapshot DB: what the shard holds done, and its arrays, now.
snapshot() {
	sqlite3 -batch -noheader "$1" "SELECT stage, item, state, run_id, attempts FROM work WHERE state = 'done' ORDER BY 1, 2" >"$T/work.before"
	sqlite3 -batch -noheader "$1" "SELECT kind, item, file_id, offset, nbytes, run_id FROM array_ref ORDER BY 1, 2" >"$T/refs.before"
	before=$(sqlite3 "$1" "SELECT count(*) FROM work WHERE stage = 'embed' AND state = 'done'")
}
# done_once DB WHAT: after the shard completed, no item of it was done twice.
done_once() {
	sqlite3 -batch -noheader "$1" "SELECT stage, item, state, run_id, attempts FROM work WHERE state = 'done' ORDER BY 1, 2" >"$T/work.after"
	sqlite3 -batch -noheader "$1" "SELECT kind, item, file_id, offset, nbytes, run_id FROM array_ref ORDER BY 1, 2" >"$T/refs.after"
	check_eq "$2: every item of the shard is done" "0 $(sqlite3 "$1" "SELECT count(*) FROM work WHERE stage = 'embed'")" \
		"$(sqlite3 "$1" "SELECT count(*) FROM work WHERE state <> 'done'") $(sqlite3 "$1" "SELECT count(*) FROM embedding")"
	check_eq "$2: the $(wc -l <"$T/work.before" | tr -d ' ') items done before the stop are done by the same run, on their first attempt" "" \
		"$(comm -23 "$T/work.before" "$T/work.after"; grep -v '|1$' "$T/work.before")"
	check_eq "$2: their $(wc -l <"$T/refs.before" | tr -d ' ') arrays are the same ones" "" "$(comm -23 "$T/refs.before" "$T/refs.after")"
	# Arrays are appended to their run's file 64-byte aligned: a file holding
	# a gap of 64 bytes or more, or committed bytes past its last array, holds
	# an array stored and then replaced (an item done twice).
	check_eq "$2: no array was stored twice (no unreferenced bytes in the array files)" "0 0" \
		"$(sqlite3 "$1" "SELECT count(*) FROM (SELECT offset - coalesce(lag(offset + nbytes) OVER (PARTITION BY file_id ORDER BY offset), 0) AS gap FROM array_ref) WHERE gap >= 64 OR gap < 0") $(sqlite3 "$1" "SELECT count(*) FROM array_file f WHERE committed_bytes <> coalesce((SELECT max(offset + nbytes) FROM array_ref r WHERE r.file_id = f.id), 0)")"
	check_eq "$2: the runs of each stage count each item once" "" \
		"$(sqlite3 -batch -noheader "$1" "SELECT w.stage, w.n, r.n FROM (SELECT stage, count(*) n FROM work GROUP BY stage) w
			JOIN (SELECT stage, sum(n_done) n FROM run GROUP BY stage) r USING (stage) WHERE w.n <> r.n")"
	check_eq "$2: embed after the stop: only the segments not done before it" \
		"$(( $(sqlite3 "$1" "SELECT count(*) FROM work WHERE stage = 'embed'") - before ))" \
		"$(sqlite3 "$1" "SELECT n_done FROM run WHERE stage = 'embed' AND outcome = 'ok' ORDER BY id DESC LIMIT 1")"
	check_eq "$2: the stopped runs (pipeline, embed) are marked interrupted, none is left running" "embed|interrupted pipeline|interrupted " \
		"$(sqlite3 -batch -noheader "$1" "SELECT stage, outcome FROM run WHERE outcome NOT IN ('ok') ORDER BY 1" | tr '\n' ' ')"
}

# --- without Slurm: claims of a dead run on another host ---------------------------
check "shard 0 of 2 on this machine" $AED run "$P" --shard 0/2 --offline --db "$T/s0.db"
# Five segments as a run on node-b leaves them when it is killed in the
# middle of its embed step: claimed, with no embedding.
sqlite3 "$T/s0.db" "BEGIN; INSERT INTO run(stage, started_at, host, pid, pid_start) VALUES ('embed', '2026-12-05T00:00:00Z', 'node-b', 4242, 1);
CREATE TEMP TABLE lost AS SELECT item FROM work WHERE stage = 'embed' ORDER BY item DESC LIMIT 5;
UPDATE work SET state = 'claimed', attempts = 1, run_id = last_insert_rowid() WHERE stage = 'embed' AND item IN lost;
DELETE FROM embedding WHERE segment_id IN lost; DELETE FROM array_ref WHERE kind IN ('embedding', 'scores') AND item IN lost; COMMIT"
check_fail "run --shard does not take the shard as done while a run elsewhere claims items" \
	$AED run "$P" --shard 0/2 --offline --db "$T/s0.db"
check_grep "naming the run and its host" "shard 0/2: 5 items are still claimed by other runs \(run [0-9]+ \(embed on node-b, pid 4242\): 5\)" "$T/err"
check_grep "and what to do" 'run again with --sole-writer' "$T/err"
check "--sole-writer: that run is dead, its items are done again" $AED run "$P" --shard 0/2 --offline --db "$T/s0.db" --sole-writer
check_grep "the embed step ran again" '5 segments embedded' "$T/err"
check_eq "the run on node-b is marked interrupted" "interrupted|process on node-b ended without finishing (found running by the database's only writer, on $(hostname))" \
	"$(sqlite3 "$T/s0.db" "SELECT outcome, message FROM run WHERE host = 'node-b'")"
same_as_one "$T/s0.db" "shard 0 completed" "$(sqlite3 "$T/s0.db" "SELECT count(*) FROM work WHERE stage = 'embed'")"

# --- Slurm -----------------------------------------------------------------------------
need_slurm

# midway DB: wait until the shard's embed step has stored some of its
# segments but not all (1 if it finished first, or 2 minutes passed).
midway() {
	_i=0; _got="none embedded"
	while [ $_i -lt 1200 ]; do
		_p=$(sqlite3 "$1" "SELECT coalesce(sum(state = 'done'), 0) || ' ' || count(*) FROM work WHERE stage = 'embed'" 2>/dev/null)
		set -- "$1" $_p
		if [ $# -eq 3 ] && [ "$3" -gt 0 ]; then
			_got="$2 of $3 segments embedded"
			[ "$2" -gt 0 ] && [ "$2" -lt "$3" ] && return 0
			[ "$2" -ge "$3" ] && return 1
		fi
		sleep 0.1; _i=$((_i + 1))
	done
	return 1
}
# until_state JOB STATE: wait (1 minute at most) until JOB is in STATE.
until_state() {
	_i=0; while [ "$(state "$1")" != "$2" ] && [ $_i -lt 600 ]; do sleep 0.1; _i=$((_i + 1)); done
	[ "$(state "$1")" = "$2" ]
}

# --- 1. scancel, then submit again ---------------------------------------------------------
t0=$(date +%s)
submit_json "$P" --shards 2 --offline -w "$T/wa" -c 1
check_eq "2 shards and the merge submitted" "0 y y" "$_rc ${A:+y} ${M:+y}"
if midway "$T/wa/shards/shard-0.db"; then ok "shard 0's task is midway through its embed step ($_got)"
else not_ok "shard 0's task finished its embed step before it could be stopped ($_got)"; fi
check "scancel ${A}_0" scancel "${A}_0"
check "its task ends" until_state "${A}_0" CANCELLED
snapshot "$T/wa/shards/shard-0.db"
check "every job ended" wait_jobs $A $M
check_eq "shard 1's task completed" COMPLETED "$(state "${A}_1")"
check_eq "the merge job is cancelled with the task" CANCELLED "$(state $M)"
check "status" $AED status "$T/wa"
check_grep "shard 0 is incomplete, its run dead, its task cancelled" '^shard 0 +incomplete +8/9 steps; last run dead; Slurm job [0-9]+: CANCELLED' "$T/out"
check_grep "shard 1 complete" '^shard 1 +complete +9/9 steps' "$T/out"
submit_json "$P" --shards 2 --offline -w "$T/wa" -c 1
check_eq "submit again: shard 0 only, and the merge" "0 [0] True" \
	"$_rc $($PY -c 'import json,sys; j=json.load(open(sys.argv[1])); print(j["shards_run"], j["merge"])' "$T/out")"
check "every job ended" wait_jobs $A $M
check_eq "shard 0's task and the merge completed" "COMPLETED COMPLETED" "$(state $A) $(state $M)" ||
	slurm_diag "$A" "$M"
check_eq "shard 0 ran twice, shard 1 once" "2 1" \
	"$(grep -c '^== shard 0 of 2' "$T/wa/logs/shard-0.out") $(grep -c '^== shard 1 of 2' "$T/wa/logs/shard-1.out")"
done_once "$T/wa/shards/shard-0.db" "cancelled, submitted again"
same_as_one "$T/wa/corpus.db" "cancelled, submitted again: the corpus"
echo "# scancel and submit again: $(( $(date +%s) - t0 )) s"

# --- 2. scontrol requeue, the task restarting on "another node" ------------------------------
t0=$(date +%s)
submit_json "$P" --shards 2 --offline -w "$T/wb" -c 1
check_eq "2 shards and the merge submitted" "0 y y" "$_rc ${A:+y} ${M:+y}"
if midway "$T/wb/shards/shard-1.db"; then ok "shard 1's task is midway through its embed step ($_got)"
else not_ok "shard 1's task finished its embed step before it could be stopped ($_got)"; fi
check "scontrol requeue ${A}_1" scontrol requeue "${A}_1"
requeued_at=$(date +%s)
check "the task is pending again" until_state "${A}_1" PENDING
check_eq "the merge job still waits for the array" "PENDING Reason=Dependency" \
	"$(state $M) $(scontrol show job -o $M | grep -o 'Reason=[A-Za-z]*')"
# The killed task's runs as a task on another node records them.
sqlite3 "$T/wb/shards/shard-1.db" "UPDATE run SET host = 'node-b' WHERE outcome = 'running'"
snapshot "$T/wb/shards/shard-1.db"
check "status" $AED status "$T/wb"
check_grep "shard 1 is incomplete: its run on node-b is dead, as its task is pending" \
	'^shard 1 +incomplete +8/9 steps; last run dead \(its task is not running\); Slurm job [0-9]+: PENDING' "$T/out"
# Not in the second of the requeue: slurmd refuses a job credential issued
# in the second its old one was revoked ("Job credential revoked"), and the
# task would fail instead of starting again.
while [ "$(date +%s)" -le "$requeued_at" ]; do sleep 0.1; done
check "start it now (a requeued task waits ~2 min)" scontrol update JobId="${A}_1" StartTime=now
check "every job ended" wait_jobs $A $M
check_eq "both tasks and the merge completed" "COMPLETED COMPLETED" "$(state $A) $(state $M)" ||
	{ slurm_diag "${A}_0" "${A}_1" "$M"; tail -n 5 "$T/wb/logs/shard-1.out" | sed 's/^/#   shard-1.out: /'; }
scontrol show job -o "${A}_1" >"$T/job"
check_grep "the task restarted once" ' Restarts=1 ' "$T/job"
check_grep "its log says so" "^== shard 1 of 2, job [0-9]+, restart 1\$" "$T/wb/logs/shard-1.out"
check_eq "the merge ran once" 1 "$(grep -c '^== merge' "$T/wb/logs/merge.out")"
done_once "$T/wb/shards/shard-1.db" "requeued"
check_eq "requeued: the runs of node-b were taken over" 2 "$(sqlite3 "$T/wb/shards/shard-1.db" "SELECT count(*) FROM run WHERE host = 'node-b' AND message LIKE 'process on node-b ended without finishing%'")"
same_as_one "$T/wb/corpus.db" "requeued: the corpus"
echo "# requeue: $(( $(date +%s) - t0 )) s"
done_testing
