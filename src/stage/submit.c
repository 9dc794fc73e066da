/* submit.c - a pipeline's shards and merge as Slurm jobs: the work dir, its
 * scripts, what is complete in it, and submitting the rest (submit.h). The
 * Slurm commands themselves are src/net/slurm.c; running the steps is
 * `aedcurate run` inside the jobs. */
#include <errno.h>
#include <jansson.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "aedcurate/error.h"
#include "aedcurate/pipeline.h"
#include "aedcurate/slurm.h"
#include "aedcurate/store.h"
#include "aedcurate/submit.h"
#include "aedcurate/util.h"

#define RECORD "submit.json"
#define MAX_SHARDS 100000
#define MAX_FAILED_LISTED 10

/* A work dir as one submission sees it. */
struct work {
	char *dir;                 /* absolute */
	char *pipeline;            /* absolute path of the pipeline file */
	struct aed_pipeline *p;
	int first, end;            /* the [shard] block: steps [first, end) */
	int n;                     /* shards */
	char *cwd;                 /* the folder jobs start in */
	int allow_failed;
	json_t *record;            /* submit.json, or a new one */
};

static void work_release(struct work *w)
{
	free(w->dir);
	free(w->pipeline);
	free(w->cwd);
	aed_pipeline_free(&w->p);
	json_decref(w->record);
}

/* --- paths and text ----------------------------------------------------------- */

static int path_join(char *buf, size_t n, const char *dir, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static int path_join(char *buf, size_t n, const char *dir, const char *fmt, ...)
{
	va_list ap;
	int k = snprintf(buf, n, "%s/", dir);
	va_start(ap, fmt);
	int m = k >= 0 && (size_t)k < n ? vsnprintf(buf + k, n - (size_t)k, fmt, ap) : -1;
	va_end(ap);
	if (m < 0 || (size_t)(k + m) >= n)
		return aed_error(AED_EUSAGE, "work dir path too long: %s", dir);
	return AED_OK;
}

/* The word as sh reads it back: '...' with ' written '\''. */
static int sh_quote(struct aed_buf *b, const char *s)
{
	int rc = aed_buf_append(b, "'", 1);
	for (; *s && !rc; s++)
		rc = *s == '\'' ? aed_buf_append(b, "'\\''", 4) : aed_buf_append(b, s, 1);
	return rc ? rc : aed_buf_append(b, "'", 1);
}

/* An #SBATCH value: Slurm reads these lines itself, without a shell. */
static int check_sbatch_value(const char *opt, const char *v)
{
	if (!v)
		return AED_OK;
	if (!*v)
		return aed_error(AED_EUSAGE, "submit: --%s is empty", opt);
	for (const char *c = v; *c; c++)
		if (!(('a' <= *c && *c <= 'z') || ('A' <= *c && *c <= 'Z') || ('0' <= *c && *c <= '9') ||
		      strchr("_.:,+-", *c)))
			return aed_error(AED_EUSAGE, "submit: --%s '%s': only letters, digits and _.:,+- "
					 "are allowed", opt, v);
	return AED_OK;
}

/* The work dir is written into #SBATCH --output lines and Slurm's file name
 * patterns, which take no quoting and read '%' and '\' themselves. */
static int check_workdir_path(const char *p)
{
	for (const char *c = p; *c; c++)
		if ((unsigned char)*c < 0x20 || *c == 0x7f || strchr(" %\\'\"`", *c))
			return aed_error(AED_EUSAGE, "submit: work dir '%s': blanks, control characters, "
					 "quotes, '%%' and '\\' cannot go into Slurm's #SBATCH lines; "
					 "choose another --workdir", p);
	return AED_OK;
}

/* "0-3,5,7-9" */
static int ranges(const int *v, int n, struct aed_buf *b)
{
	int rc = AED_OK;
	for (int i = 0; i < n && !rc;) {
		int j = i;
		while (j + 1 < n && v[j + 1] == v[j] + 1)
			j++;
		rc = j > i ? aed_buf_printf(b, "%s%d-%d", i ? "," : "", v[i], v[j])
			   : aed_buf_printf(b, "%s%d", i ? "," : "", v[i]);
		i = j + 1;
	}
	return rc ? rc : b->data ? AED_OK : aed_buf_append(b, "", 0);
}

/* --- the work dir and its record --------------------------------------------- */

/* Parse the pipeline for its steps and [shard] block. Sources are not
 * probed: only step names and marks are read here; the jobs choose sources
 * as `aedcurate run` does. */
static int load_pipeline(struct work *w, const char *file)
{
	char *text = NULL;
	size_t len;
	int rc;
	if ((rc = aed_read_file(file, 1 << 20, &text, &len)))
		return rc;
	if (!(rc = aed_pipeline_parse(text, len, file, NULL, NULL, &w->p)))
		rc = aed_pipeline_shard_block(w->p, file, &w->first, &w->end);
	free(text);
	return rc;
}

static const char *rec_str(const struct work *w, const char *key)
{
	const char *s = json_string_value(json_object_get(w->record, key));
	return s ? s : "";
}

/* Open a work dir's record: the pipeline it runs, N, the jobs' folder. */
static int read_record(struct work *w, const char *dir)
{
	char path[PATH_MAX];
	json_error_t je;
	int rc;
	if (!(w->dir = realpath(dir, NULL)))
		return aed_error(errno == ENOENT ? AED_ENOTFOUND : AED_EIO, "%s: %s", dir,
				 strerror(errno));
	if ((rc = path_join(path, sizeof path, w->dir, RECORD)))
		return rc;
	if (access(path, F_OK) != 0)
		return aed_error(AED_ENOTFOUND, "%s: not a work dir of aedcurate submit (no %s)", dir,
				 RECORD);
	if (!(w->record = json_load_file(path, 0, &je)) || !json_is_object(w->record))
		return aed_error(AED_EFORMAT, "%s:%d: %s", path, je.line, je.text);
	json_int_t n = json_integer_value(json_object_get(w->record, "shards"));
	if (n < 1 || n > MAX_SHARDS || !*rec_str(w, "pipeline") || !*rec_str(w, "cwd"))
		return aed_error(AED_EFORMAT, "%s: no pipeline, cwd or shard count", path);
	w->n = (int)n;
	w->allow_failed = json_is_true(json_object_get(w->record, "allow_failed"));
	if (!(w->pipeline = strdup(rec_str(w, "pipeline"))) || !(w->cwd = strdup(rec_str(w, "cwd"))))
		return aed_error(AED_ENOMEM, "out of memory");
	return AED_OK;
}

static int write_record(const struct work *w)
{
	char path[PATH_MAX];
	struct aed_buf b = { 0 };
	int rc = path_join(path, sizeof path, w->dir, RECORD);
	char *s = rc ? NULL : json_dumps(w->record, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
	if (rc)
		return rc;
	if (!s)
		return aed_error(AED_ENOMEM, "out of memory");
	if (!(rc = aed_buf_printf(&b, "%s\n", s)))
		rc = aed_write_file_atomic(path, b.data, b.len);
	aed_buf_release(&b);
	free(s);
	return rc;
}

/* The last submission's job ids ("" when none). */
static void last_jobs(const struct work *w, char array[32], char merge[32])
{
	json_t *subs = json_object_get(w->record, "submissions");
	json_t *last = json_array_size(subs) ? json_array_get(subs, json_array_size(subs) - 1) : NULL;
	const char *a = json_string_value(json_object_get(last, "array_job"));
	const char *m = json_string_value(json_object_get(last, "merge_job"));
	snprintf(array, 32, "%s", a ? a : "");
	snprintf(merge, 32, "%s", m ? m : "");
}

/* The array job shard i was last submitted in, "" when none. */
static void shard_job(const struct work *w, int i, char job[32])
{
	json_t *subs = json_object_get(w->record, "submissions");
	job[0] = 0;
	for (size_t k = json_array_size(subs); k-- > 0;) {
		json_t *s = json_array_get(subs, k), *t;
		size_t j;
		json_array_foreach(json_object_get(s, "shards"), j, t)
			if (json_integer_value(t) == i) {
				const char *a = json_string_value(json_object_get(s, "array_job"));
				snprintf(job, 32, "%s", a ? a : "");
				return;
			}
	}
}

/* --- what is complete ------------------------------------------------------------ */

static const char *col(sqlite3_stmt *st, int i)
{
	const char *s = (const char *)sqlite3_column_text(st, i);
	return s ? s : "";
}

/* Did the step finish in db (by name), and when? A [shard] step must have
 * run with this shard's --shard I/N. */
static int step_done(struct aed_db *db, const char *pipeline, const struct aed_pipeline_step *s,
		     const char *suffix, char when[32])
{
	sqlite3_stmt *st;
	int done = 0;
	if (aed_db_prepare(db, "SELECT command, finished_at FROM pipeline_step WHERE pipeline = ? "
			       "AND step = ?", &st))
		return 0;
	sqlite3_bind_text(st, 1, pipeline, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, s->name, -1, SQLITE_STATIC);
	if (sqlite3_step(st) == SQLITE_ROW) {
		const char *cmd = col(st, 0);
		size_t n = strlen(cmd), k = suffix ? strlen(suffix) : 0;
		done = !suffix || (n >= k && !strcmp(cmd + n - k, suffix));
		snprintf(when, 32, "%s", col(st, 1));
	}
	sqlite3_finalize(st);
	return done;
}

static int failed_items(struct aed_db *db, struct aed_shard_status *ss)
{
	sqlite3_stmt *st;
	struct aed_buf b = { 0 };
	int rc;
	if ((rc = aed_db_int(db, "SELECT count(*) FROM work WHERE state = 'failed'", &ss->failed)) ||
	    ss->failed == 0)
		return rc;
	if ((rc = aed_db_prepare(db, "SELECT w.stage, coalesce(s.key, w.item), coalesce(w.error, '') "
				     "FROM work w LEFT JOIN segment s ON s.id = w.item WHERE "
				     "w.state = 'failed' ORDER BY w.stage, w.item LIMIT ?", &st)))
		return rc;
	sqlite3_bind_int(st, 1, MAX_FAILED_LISTED);
	while (!rc && sqlite3_step(st) == SQLITE_ROW)
		rc = aed_buf_printf(&b, "%s %s: %.300s\n", col(st, 0), col(st, 1), col(st, 2));
	sqlite3_finalize(st);
	if (rc)
		aed_buf_release(&b);
	else
		ss->failed_items = b.data;
	return rc;
}

/* Shard i: its database's steps, failed items and last run. */
static int shard_status(const struct work *w, int i, struct aed_shard_status *ss)
{
	char path[PATH_MAX], suffix[48], when[32];
	struct aed_db *db = NULL;
	sqlite3_stmt *st = NULL;
	int rc, alive = 0, last_failed = 0;

	if ((rc = path_join(path, sizeof path, w->dir, "shards/shard-%d.db", i)))
		return rc;
	if (!(ss->db = strdup(path)))
		return aed_error(AED_ENOMEM, "out of memory");
	ss->steps = w->end;
	ss->state = AED_SHARD_NOT_STARTED;
	if (access(path, F_OK) != 0)
		return AED_OK;
	if ((rc = aed_db_open(path, AED_DB_READONLY, &db)))
		return aed_error_prefix(rc, "shard %d", i);
	snprintf(suffix, sizeof suffix, " --shard %d/%d", i, w->n);
	for (int k = 0; k < w->end; k++)
		ss->steps_done += step_done(db, w->p->name, &w->p->steps[k],
					    w->p->steps[k].shard ? suffix : NULL, when);
	if ((rc = failed_items(db, ss)))
		goto out;
	if ((rc = aed_db_prepare(db, "SELECT outcome, coalesce(message, ''), host, pid, pid_start "
				     "FROM run WHERE stage = 'pipeline' ORDER BY id DESC LIMIT 1", &st)))
		goto out;
	if (sqlite3_step(st) == SQLITE_ROW) {
		const char *outcome = col(st, 0);
		if (!strcmp(outcome, "running")) {
			int live = aed_run_alive(col(st, 2), sqlite3_column_int64(st, 3),
						 sqlite3_column_int64(st, 4));
			alive = live != 0;
			ss->run_elsewhere = live < 0;
		}
		last_failed = !strcmp(outcome, "failed");
		if (strcmp(outcome, "ok")) {
			struct aed_buf b = { 0 };
			const char *shown = !strcmp(outcome, "running") && !alive ? "dead" : outcome;
			if ((rc = aed_buf_printf(&b, "%s%s%.500s", shown, *col(st, 1) ? ": " : "",
						 col(st, 1))))
				goto out;
			ss->last_run = b.data;
		}
	}
	if (alive)
		ss->state = AED_SHARD_RUNNING;
	else if ((ss->failed && !w->allow_failed) || last_failed)
		ss->state = AED_SHARD_FAILED;
	else if (ss->steps_done == ss->steps)
		ss->state = AED_SHARD_COMPLETE;
	else
		ss->state = AED_SHARD_INCOMPLETE;
out:
	sqlite3_finalize(st);
	aed_db_free(&db);
	return rc;
}

/* corpus.db: shards merged in, corpus steps finished after the last merge. */
static int corpus_status(const struct work *w, struct aed_workdir_status *s)
{
	char path[PATH_MAX], when[32], last[32] = "";
	struct aed_db *db = NULL;
	sqlite3_stmt *st = NULL;
	int rc;

	s->corpus_steps = w->p->n_steps - w->end;
	if ((rc = path_join(path, sizeof path, w->dir, "corpus.db")))
		return rc;
	if (access(path, F_OK) != 0)
		return AED_OK;
	s->corpus_exists = 1;
	if ((rc = aed_db_open(path, AED_DB_READONLY, &db)))
		return aed_error_prefix(rc, "corpus");
	if ((rc = aed_db_prepare(db, "SELECT path, merged_at FROM merge_shard", &st)))
		goto out;
	while (sqlite3_step(st) == SQLITE_ROW) {
		for (int i = 0; i < w->n; i++)
			if (!strcmp(col(st, 0), s->shards[i].db)) {
				s->merged++;
				break;
			}
		if (strcmp(col(st, 1), last) > 0)
			snprintf(last, sizeof last, "%s", col(st, 1));
	}
	for (int k = w->end; k < w->p->n_steps; k++)
		s->corpus_steps_done += step_done(db, w->p->name, &w->p->steps[k], NULL, when) &&
					strcmp(when, last) >= 0;
	s->corpus_complete = s->merged == w->n && s->corpus_steps_done == s->corpus_steps;
out:
	sqlite3_finalize(st);
	aed_db_free(&db);
	return rc;
}

/* A run recorded as running on another host (its node) cannot be looked at
 * from here; its task can: once the task is no longer running (ended,
 * requeued and pending, or gone from Slurm), the run is dead. */
static int task_has_process(const struct aed_shard_status *ss)
{
	static const char *const running[] = { "RUNNING", "COMPLETING", "SUSPENDED", "STOPPED",
					       "CONFIGURING", "SIGNALING", "STAGE_OUT", NULL };
	for (int i = 0; ss->has_job && running[i]; i++)
		if (!strcmp(ss->job.state, running[i]))
			return 1;
	return 0;
}

static int settle_elsewhere(const struct work *w, struct aed_shard_status *ss)
{
	if (ss->state != AED_SHARD_RUNNING || !ss->run_elsewhere || task_has_process(ss))
		return AED_OK;
	ss->state = ss->failed && !w->allow_failed ? AED_SHARD_FAILED
		    : ss->steps_done == ss->steps ? AED_SHARD_COMPLETE : AED_SHARD_INCOMPLETE;
	free(ss->last_run);
	if (!(ss->last_run = strdup("dead (its task is not running)")))
		return aed_error(AED_ENOMEM, "out of memory");
	return AED_OK;
}

/* Every shard's and the corpus's state; with slurm set, also the states of
 * the last submission's jobs (a failure to read them goes to slurm_error). */
static int status_of(const struct work *w, struct aed_workdir_status *s, int slurm)
{
	int rc = AED_OK;
	s->n_shards = w->n;
	if (!(s->workdir = strdup(w->dir)) || !(s->pipeline = strdup(w->pipeline)) ||
	    !(s->name = strdup(w->p->name)) || !(s->shards = calloc((size_t)w->n, sizeof *s->shards)))
		return aed_error(AED_ENOMEM, "out of memory");
	for (int i = 0; i < w->n && !rc; i++)
		rc = shard_status(w, i, &s->shards[i]);
	if (rc || (rc = corpus_status(w, s)))
		return rc;
	last_jobs(w, s->array_job, s->merge_job_id);
	if (!slurm)
		return AED_OK;
	/* Job states, newest array first: a shard's task in the last array
	 * that had it. */
	char job[32], seen[32] = "";
	struct aed_slurm_task *t = NULL;
	size_t n = 0;
	int known = 0;
	for (int i = 0; i < w->n && !rc; i++) {
		shard_job(w, i, job);
		if (!*job)
			continue;
		if (strcmp(job, seen)) {
			aed_slurm_tasks_free(&t);
			n = 0;
			snprintf(seen, sizeof seen, "%s", job);
			known = !aed_slurm_job_tasks(job, &t, &n);
			if (!known && !s->slurm_error)
				s->slurm_error = strdup(aed_last_error());
		}
		if (!known)
			continue;
		for (size_t k = 0; k < n; k++)
			if (t[k].task == i) {
				s->shards[i].job = t[k];
				s->shards[i].has_job = 1;
			}
		rc = settle_elsewhere(w, &s->shards[i]);
	}
	aed_slurm_tasks_free(&t);
	if (*s->merge_job_id) {
		if (aed_slurm_job_tasks(s->merge_job_id, &t, &n)) {
			if (!s->slurm_error)
				s->slurm_error = strdup(aed_last_error());
		} else if (n) {
			s->merge_job = t[0];
			s->has_merge_job = 1;
		}
		aed_slurm_tasks_free(&t);
	}
	return rc;
}

const char *aed_shard_state_name(enum aed_shard_state s)
{
	static const char *const names[] = { "not started", "running", "incomplete", "failed",
					     "complete" };
	return (unsigned)s < sizeof names / sizeof *names ? names[s] : "?";
}

/* Still queued or running: any state but the ones a job ends in. */
static int job_active(const char *state)
{
	static const char *const ended[] = { "COMPLETED", "FAILED", "CANCELLED", "TIMEOUT",
					     "NODE_FAIL", "PREEMPTED", "BOOT_FAIL", "DEADLINE",
					     "OUT_OF_MEMORY", "SPECIAL_EXIT", NULL };
	for (int i = 0; ended[i]; i++)
		if (!strcmp(state, ended[i]))
			return 0;
	return 1;
}

/* --- the scripts -------------------------------------------------------------------- */

static int sbatch_lines(struct aed_buf *b, const struct aed_submit_opts *o)
{
	int rc = AED_OK;
	if (o->partition)
		rc = aed_buf_printf(b, "#SBATCH --partition=%s\n", o->partition);
	if (!rc && o->time)
		rc = aed_buf_printf(b, "#SBATCH --time=%s\n", o->time);
	if (!rc && o->mem)
		rc = aed_buf_printf(b, "#SBATCH --mem=%s\n", o->mem);
	if (!rc && o->cpus_per_task)
		rc = aed_buf_printf(b, "#SBATCH --cpus-per-task=%s\n", o->cpus_per_task);
	return rc;
}

/* aed=..., pipeline=..., work=..., cd to the jobs' folder */
static int script_vars(struct aed_buf *b, const struct work *w, const char *bin)
{
	int rc = aed_buf_printf(b, "set -eu\naed=");
	if (!rc)
		rc = sh_quote(b, bin);
	if (!rc)
		rc = aed_buf_printf(b, "\npipeline=");
	if (!rc)
		rc = sh_quote(b, w->pipeline);
	if (!rc)
		rc = aed_buf_printf(b, "\nwork=");
	if (!rc)
		rc = sh_quote(b, w->dir);
	if (!rc)
		rc = aed_buf_printf(b, "\ncd ");
	if (!rc)
		rc = sh_quote(b, w->cwd);
	return rc ? rc : aed_buf_printf(b, "\n");
}

static int shard_script(const struct work *w, const struct aed_submit_opts *o, char **out)
{
	struct aed_buf b = { 0 };
	const char *name = w->p->name;
	int rc = aed_buf_printf(&b,
		"#!/bin/sh\n"
		"# The shards of pipeline %s ($pipeline below): task I of this job array\n"
		"# runs its set-up and [shard] steps for shard I of %d into shards/shard-I.db\n"
		"# of the work dir ($work). Written by `aedcurate submit`, which submits\n"
		"#   sbatch --array=LIST shard.sbatch\n"
		"# with LIST the shards not yet complete (0-%d the first time). A task\n"
		"# started again (requeued, on this node or another, or submitted again)\n"
		"# goes on where the last start stopped: it is its database's only writer\n"
		"# (--sole-writer), and takes over what a killed start left claimed.\n"
		"#SBATCH --job-name=%s-shard\n"
		"#SBATCH --output=%s/logs/shard-%%a.out\n"
		"#SBATCH --open-mode=append\n"
		"#SBATCH --requeue\n",
		name, w->n, w->n - 1, name, w->dir);
	if (!rc)
		rc = sbatch_lines(&b, o);
	if (!rc)
		rc = script_vars(&b, w, o->bin);
	if (!rc)
		rc = aed_buf_printf(&b,
			"i=${SLURM_ARRAY_TASK_ID:?run this script as a task of a job array}\n"
			"echo \"== shard $i of %d, job ${SLURM_JOB_ID:-(not Slurm)}"
			"${SLURM_RESTART_COUNT:+, restart $SLURM_RESTART_COUNT}\"\n"
			"exec \"$aed\" run \"$pipeline\" --shard \"$i/%d\" --db \"$work/shards/shard-$i.db\" \\\n"
			"\t--sole-writer --threads \"${SLURM_CPUS_PER_TASK:-0}\"%s%s\n",
			w->n, w->n, o->offline ? " --offline" : "",
			w->allow_failed ? " --allow-failed" : "");
	if (rc)
		aed_buf_release(&b);
	*out = b.data;
	return rc;
}

static int merge_script(const struct work *w, const struct aed_submit_opts *o, char **out)
{
	struct aed_buf b = { 0 };
	const char *name = w->p->name;
	int rc = aed_buf_printf(&b,
		"#!/bin/sh\n"
		"# The merge job of pipeline %s ($pipeline below): merges the shard\n"
		"# databases shards/shard-0.db to shard-%d.db into corpus.db of the work dir\n"
		"# ($work), then runs the corpus steps (those after the [shard] ones) on it.\n"
		"# Written by `aedcurate submit`, which submits it as\n"
		"#   sbatch --dependency=afterok:ARRAY_JOB merge.sbatch\n"
		"# so it starts only when every shard task succeeded; if one fails, Slurm\n"
		"# cancels it (--kill-on-invalid-dep).\n"
		"#SBATCH --job-name=%s-merge\n"
		"#SBATCH --output=%s/logs/merge.out\n"
		"#SBATCH --open-mode=append\n"
		"#SBATCH --requeue\n"
		"#SBATCH --kill-on-invalid-dep=yes\n",
		name, w->n - 1, name, w->dir);
	if (!rc)
		rc = sbatch_lines(&b, o);
	if (!rc)
		rc = script_vars(&b, w, o->bin);
	if (!rc)
		rc = aed_buf_printf(&b,
			"n=%d\n"
			"echo \"== merge of $n shards, job ${SLURM_JOB_ID:-(not Slurm)}"
			"${SLURM_RESTART_COUNT:+, restart $SLURM_RESTART_COUNT}\"\n"
			"set --\n"
			"i=0\n"
			"while [ \"$i\" -lt \"$n\" ]; do\n"
			"\tset -- \"$@\" \"$work/shards/shard-$i.db\"\n"
			"\ti=$((i + 1))\n"
			"done\n"
			"\"$aed\" merge \"$@\" --into \"$work/corpus.db\"\n"
			"exec \"$aed\" run \"$pipeline\" --corpus --db \"$work/corpus.db\" \\\n"
			"\t--sole-writer --threads \"${SLURM_CPUS_PER_TASK:-0}\"%s\n",
			w->n, o->offline ? " --offline" : "");
	if (rc)
		aed_buf_release(&b);
	*out = b.data;
	return rc;
}

static int write_script(const struct work *w, const char *name, const char *text)
{
	char path[PATH_MAX];
	int rc = path_join(path, sizeof path, w->dir, "%s", name);
	if (!rc)
		rc = aed_write_file_atomic(path, text, strlen(text));
	if (!rc && chmod(path, 0755) != 0)
		rc = aed_error(AED_EIO, "%s: %s", path, strerror(errno));
	return rc;
}

/* --- submitting ------------------------------------------------------------------------ */

/* Set up w for a submission: a new work dir, or one made for this pipeline
 * and shard count. */
static int open_work(struct work *w, const struct aed_submit_opts *o)
{
	char cwd[PATH_MAX], *real = NULL;
	int rc;

	if (o->shards < 1 || o->shards > MAX_SHARDS)
		return aed_error(AED_EUSAGE, "submit: --shards must be 1 to %d", MAX_SHARDS);
	if ((rc = check_sbatch_value("partition", o->partition)) ||
	    (rc = check_sbatch_value("time", o->time)) || (rc = check_sbatch_value("mem", o->mem)) ||
	    (rc = check_sbatch_value("cpus-per-task", o->cpus_per_task)))
		return rc;
	if (!(real = realpath(o->pipeline, NULL)))
		return aed_error(AED_EIO, "submit: %s: %s", o->pipeline, strerror(errno));
	if ((rc = load_pipeline(w, real)))
		goto out;
	if (!getcwd(cwd, sizeof cwd)) {
		rc = aed_error(AED_EIO, "getcwd: %s", strerror(errno));
		goto out;
	}
	struct stat sb;
	if (stat(o->workdir, &sb) == 0) {
		char rec[PATH_MAX];
		int exists = snprintf(rec, sizeof rec, "%s/%s", o->workdir, RECORD) < (int)sizeof rec &&
			     access(rec, F_OK) == 0;
		if (exists) {
			if ((rc = read_record(w, o->workdir)))
				goto out;
			if (strcmp(w->pipeline, real) || w->n != o->shards) {
				rc = aed_error(AED_ESTATE, "submit: %s holds %d shards of %s; for %d "
					       "shards of %s use another --workdir", o->workdir, w->n,
					       w->pipeline, o->shards, real);
				goto out;
			}
			w->allow_failed = o->allow_failed;
			json_object_set_new(w->record, "allow_failed", json_boolean(o->allow_failed));
			goto check;
		}
	} else if (!o->dry_run && (rc = aed_mkdir_p(o->workdir))) {
		goto out;
	}
	/* A new work dir; with --dry-run it may not exist yet. */
	if (!(w->dir = realpath(o->workdir, NULL))) {
		struct aed_buf b = { 0 };
		if (o->workdir[0] == '/')
			rc = aed_buf_printf(&b, "%s", o->workdir);
		else
			rc = aed_buf_printf(&b, "%s/%s", cwd, o->workdir);
		if (rc)
			goto out;
		w->dir = b.data;
	}
	w->n = o->shards;
	w->allow_failed = o->allow_failed;
	w->pipeline = real;
	real = NULL;
	if (!(w->cwd = strdup(cwd))) {
		rc = aed_error(AED_ENOMEM, "out of memory");
		goto out;
	}
	w->record = json_pack("{s:s, s:s, s:i, s:s, s:b, s:[]}", "pipeline", w->pipeline, "name",
			      w->p->name, "shards", w->n, "cwd", w->cwd, "allow_failed",
			      w->allow_failed, "submissions");
	if (!w->record) {
		rc = aed_error(AED_ENOMEM, "out of memory");
		goto out;
	}
check:
	rc = check_workdir_path(w->dir);
out:
	free(real);
	return rc;
}

/* Refuse while a job of the last submission is pending or running: the same
 * shard must never run twice at once. */
static int check_idle(const struct work *w)
{
	char a[32], m[32];
	const char *ids[2];
	last_jobs(w, a, m);
	ids[0] = a;
	ids[1] = m;
	for (int k = 0; k < 2; k++) {
		struct aed_slurm_task *t = NULL;
		size_t n = 0;
		int rc;
		if (!*ids[k])
			continue;
		if ((rc = aed_slurm_job_tasks(ids[k], &t, &n)))
			return aed_error_prefix(rc, "submit: the last submission's jobs");
		for (size_t i = 0; i < n; i++)
			if (job_active(t[i].state)) {
				rc = aed_error(AED_ESTATE, "submit: job %s of the last submission is %s "
					       "(%s): wait for it, or scancel %s, then submit again",
					       t[i].job_id, t[i].state, t[i].task >= 0 ? "a shard task" :
					       "the merge job", ids[k]);
				break;
			}
		aed_slurm_tasks_free(&t);
		if (rc)
			return rc;
	}
	return AED_OK;
}

static int add_submission(struct work *w, const struct aed_submit_result *r, int local)
{
	char now[32];
	json_t *shards = json_array();
	aed_utc_iso8601(now);
	for (int i = 0; shards && i < r->n_todo; i++)
		json_array_append_new(shards, json_integer(r->todo[i]));
	json_t *s = shards ? json_pack("{s:s, s:o}", "at", now, "shards", shards) : NULL;
	if (!s)
		return aed_error(AED_ENOMEM, "out of memory");
	if (local)
		json_object_set_new(s, "local", json_true());
	if (*r->array_job)
		json_object_set_new(s, "array_job", json_string(r->array_job));
	if (r->merge)
		json_object_set_new(s, "merge", json_true());
	if (*r->merge_job)
		json_object_set_new(s, "merge_job", json_string(r->merge_job));
	json_array_append_new(json_object_get(w->record, "submissions"), s);
	return write_record(w);
}

/* --local: each shard's script, then the merge script, here and in turn. */
static int run_here(struct work *w, struct aed_submit_result *r)
{
	char script[PATH_MAX], log[PATH_MAX];
	int rc = AED_OK, status;
	for (int k = 0; k < r->n_todo && !rc; k++) {
		int i = r->todo[k];
		if ((rc = path_join(script, sizeof script, w->dir, "shard.sbatch")) ||
		    (rc = path_join(log, sizeof log, w->dir, "logs/shard-%d.out", i)))
			break;
		aed_info("submit --local: shard %d of %d (log: %s)", i, w->n, log);
		if ((rc = aed_slurm_run_here(script, i, NULL, log, &status)))
			break;
		if (status) {
			r->failed_shard = i;
			return aed_error(AED_ESTATE, "shard %d of %d failed (exit %d; log: %s): the "
					 "merge is not run", i, w->n, status, log);
		}
	}
	if (rc || !r->merge)
		return rc;
	if ((rc = path_join(script, sizeof script, w->dir, "merge.sbatch")) ||
	    (rc = path_join(log, sizeof log, w->dir, "logs/merge.out")))
		return rc;
	aed_info("submit --local: merge (log: %s)", log);
	if ((rc = aed_slurm_run_here(script, -1, NULL, log, &status)))
		return rc;
	if (status)
		return aed_error(AED_ESTATE, "the merge failed (exit %d; log: %s)", status, log);
	return AED_OK;
}

static int submit_slurm(struct work *w, struct aed_submit_result *r)
{
	char script[PATH_MAX], arr[64];
	struct aed_buf list = { 0 };
	int rc = AED_OK;
	if (r->n_todo) {
		if ((rc = ranges(r->todo, r->n_todo, &list)) ||
		    (rc = path_join(script, sizeof script, w->dir, "shard.sbatch")))
			goto out;
		struct aed_buf a = { 0 };
		if ((rc = aed_buf_printf(&a, "--array=%s", list.data)))
			goto out;
		const char *args[] = { a.data, NULL };
		rc = aed_slurm_sbatch(script, args, w->cwd, r->array_job);
		aed_buf_release(&a);
		if (rc)
			goto out;
		aed_info("submitted job array %s: shards %s of %d", r->array_job, list.data, w->n);
	}
	if ((rc = path_join(script, sizeof script, w->dir, "merge.sbatch")))
		goto out;
	snprintf(arr, sizeof arr, "--dependency=afterok:%s", r->array_job);
	const char *args[] = { arr, NULL };
	rc = aed_slurm_sbatch(script, *r->array_job ? args : NULL, w->cwd, r->merge_job);
	if (rc) {
		/* The array is in: record it, so status and the next submission see it. */
		add_submission(w, r, 0);
		goto out;
	}
	aed_info("submitted merge job %s%s%s", r->merge_job, *r->array_job ? ", after job " : "",
		 r->array_job);
out:
	aed_buf_release(&list);
	return rc ? rc : add_submission(w, r, 0);
}

int aed_submit(const struct aed_submit_opts *o, struct aed_submit_result *r)
{
	struct work w = { 0 };
	struct aed_workdir_status st = { 0 };
	int rc;

	memset(r, 0, sizeof *r);
	r->failed_shard = -1;
	if ((rc = open_work(&w, o)))
		goto out;
	r->n_shards = w.n;
	if (!(r->workdir = strdup(w.dir)) || !(r->todo = calloc((size_t)w.n, sizeof *r->todo))) {
		rc = aed_error(AED_ENOMEM, "out of memory");
		goto out;
	}
	if ((rc = shard_script(&w, o, &r->shard_script)) || (rc = merge_script(&w, o, &r->merge_script)))
		goto out;
	/* Before reading what is complete: a job still running could change it. */
	if (!o->dry_run && !o->local && (rc = check_idle(&w)))
		goto out;
	if ((rc = status_of(&w, &st, 0)))
		goto out;
	for (int i = 0; i < w.n; i++)
		if (st.shards[i].state != AED_SHARD_COMPLETE)
			r->todo[r->n_todo++] = i;
	r->merge = r->n_todo > 0 || !st.corpus_complete;
	if (o->dry_run)
		goto out;
	char dir[PATH_MAX];
	if ((rc = path_join(dir, sizeof dir, w.dir, "shards")) || (rc = aed_mkdir_p(dir)) ||
	    (rc = path_join(dir, sizeof dir, w.dir, "logs")) || (rc = aed_mkdir_p(dir)) ||
	    (rc = write_script(&w, "shard.sbatch", r->shard_script)) ||
	    (rc = write_script(&w, "merge.sbatch", r->merge_script)))
		goto out;
	if (!r->merge) {
		rc = write_record(&w);
		goto out;
	}
	if (o->local) {
		rc = run_here(&w, r);
		int arc = add_submission(&w, r, 1);
		rc = rc ? rc : arc;
	} else {
		rc = submit_slurm(&w, r);
	}
out:
	aed_workdir_status_release(&st);
	work_release(&w);
	return rc;
}

void aed_submit_result_release(struct aed_submit_result *r)
{
	free(r->workdir);
	free(r->shard_script);
	free(r->merge_script);
	free(r->todo);
	memset(r, 0, sizeof *r);
}

int aed_workdir_status(const char *workdir, struct aed_workdir_status *st)
{
	struct work w = { 0 };
	int rc;
	memset(st, 0, sizeof *st);
	if (!(rc = read_record(&w, workdir)) && !(rc = load_pipeline(&w, w.pipeline)))
		rc = status_of(&w, st, 1);
	work_release(&w);
	return rc;
}

void aed_workdir_status_release(struct aed_workdir_status *st)
{
	for (int i = 0; st->shards && i < st->n_shards; i++) {
		free(st->shards[i].db);
		free(st->shards[i].failed_items);
		free(st->shards[i].last_run);
	}
	free(st->shards);
	free(st->workdir);
	free(st->pipeline);
	free(st->name);
	free(st->slurm_error);
	memset(st, 0, sizeof *st);
}
