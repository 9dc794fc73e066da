/* fetch.c - the fetch stage: find or download each segment's audio file and
 * record where it is (media table), the step between a segment row and
 * decode. This file is the run: options, sources and the media folder, the
 * selection and its work claims, the event loop and the end of the run. One
 * thread drives everything: local look-ups inline, HTTP transfers on a
 * libcurl multi handle, --cmd children through pipes, so the database handle
 * never crosses threads. A job's way through its sources is sources.c, its
 * record records.c; the I/O is the net layer's (net.h). */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "aedcurate/error.h"
#include "aedcurate/message.h"
#include "stage/fetch/internal.h"

/* --- setup --------------------------------------------------------------------- */

static json_t *json_strings(const char **v, int n)
{
	json_t *a = json_array();
	for (int i = 0; a && i < n; i++)
		json_array_append_new(a, aed_json_text(v[i]));
	return a;
}

static json_t *params_json(const struct fetch *f)
{
	char shard[32];
	snprintf(shard, sizeof shard, "%d/%d", f->o.shard.index, f->o.shard.count);
	return json_pack("{s:o, s:o, s:o, s:o, s:o, s:i, s:i, s:f, s:I, s:I, s:s, s:o}", "media",
			 aed_json_text(f->media), "from", json_strings(f->o.from, f->o.n_from), "names",
			 json_strings(f->o.names, f->o.n_names), "url",
			 json_strings(f->o.urls, f->o.n_urls), "cmd",
			 json_strings(f->o.cmds, f->o.n_cmds), "jobs", f->o.jobs, "retries",
			 f->o.retries, "timeout_s", f->o.timeout_s, "max_bytes",
			 (json_int_t)f->o.max_bytes, "limit", (json_int_t)f->o.limit, "shard", shard,
			 "split", aed_json_text(f->o.split));
}

static const char *const default_names[] = { "{ytid}_{start_ms}.*", "{ytid}.*" };

static int add_source(struct fetch *f, enum src_kind kind, const char *text, int dir)
{
	struct source *s = &f->src[f->n_src];
	int rc;

	memset(s, 0, sizeof *s);
	s->kind = kind;
	s->text = text;
	s->dir = dir;
	if ((rc = aed_template_parse(text, &s->tpl)))
		return aed_error_prefix(rc, "%s", kind == SRC_URL ? "--url" : kind == SRC_CMD
						  ? "--cmd" : "--name");
	f->n_src++;
	if (kind != SRC_CMD && (s->tpl.vars & (1u << AED_TPL_OUT)))
		return aed_error(AED_EUSAGE, "%s '%s': {out} belongs in --cmd templates",
				 kind == SRC_URL ? "--url" : "--name", text);
	if (kind == SRC_CMD && !(s->tpl.vars & (1u << AED_TPL_OUT)))
		return aed_error(AED_EUSAGE, "--cmd '%s': the command must write to {out}", text);
	if (kind == SRC_URL && strncasecmp(text, "http://", 7) && strncasecmp(text, "https://", 8))
		return aed_error(AED_EUSAGE, "--url '%s': only http:// and https:// are supported "
				 "(use --from for local folders)", text);
	s->per_segment = aed_template_is_segment(&s->tpl);
	return AED_OK;
}

/* For --cmd: the children's environment (ours plus the run mark, which lets
 * the next run of any stage reap what the commands of a run killed by -9 left
 * running), and the stage as the subreaper of its commands, so a command's
 * whole group can be reaped (net.h, child commands). */
static int cmd_setup(struct fetch *f)
{
	int rc;

	aed_run_command_mark(f->cmd_mark, sizeof f->cmd_mark);
	if ((rc = aed_child_env_new(f->cmd_mark, &f->cmd_env)))
		return rc;
	f->subreaper_was = aed_child_subreaper_begin();
	return AED_OK;
}

/* The media folder: made if missing, opened for fsync after renames, and
 * with --cmd listed (outputs of earlier runs are found by name). */
static int media_setup(struct fetch *f)
{
	char *dflt = NULL;
	const char *m = f->o.media_dir;
	int rc;

	if (!m) {
		if (asprintf(&dflt, "%s.media", aed_db_path(f->db)) < 0)
			return aed_error(AED_ENOMEM, "out of memory");
		m = dflt;
	}
	rc = aed_mkdir_p(m);
	if (!rc) {
		f->media = realpath(m, NULL);
		if (!f->media)
			rc = aed_error(AED_EIO, "%s: %s", m, strerror(errno));
	}
	free(dflt);
	if (rc)
		return rc;
	f->media_fd = open(f->media, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (f->media_fd < 0)
		return aed_error(AED_EIO, "%s: %s", f->media, strerror(errno));
	if (f->o.n_cmds > 0 && (rc = aed_name_index_build(&f->media_ix, f->media, 0)))
		return rc;
	return AED_OK;
}

static int setup(struct fetch *f)
{
	const char **names = f->o.names;
	int n_names = f->o.n_names, rc;

	if (!names || n_names == 0) {
		names = (const char **)default_names;
		n_names = 2;
	}
	f->src = calloc((size_t)(f->o.n_from * n_names + f->o.n_urls + f->o.n_cmds + 1),
			sizeof *f->src);
	f->dirs = calloc((size_t)f->o.n_from + 1, sizeof *f->dirs);
	if (!f->src || !f->dirs)
		return aed_error(AED_ENOMEM, "out of memory");
	for (int d = 0; d < f->o.n_from; d++) {
		struct stat st;

		if (stat(f->o.from[d], &st) != 0 || !S_ISDIR(st.st_mode))
			return aed_error(AED_ENOTFOUND, "--from %s: %s", f->o.from[d],
					 errno ? strerror(errno) : "not a folder");
		if ((rc = aed_name_index_build(&f->dirs[d], f->o.from[d], 1)))
			return rc;
		f->n_dirs++;
		for (int k = 0; k < n_names; k++)
			if ((rc = add_source(f, SRC_LOCAL, names[k], d)))
				return rc;
	}
	for (int k = 0; k < f->o.n_urls; k++)
		if ((rc = add_source(f, SRC_URL, f->o.urls[k], -1)))
			return rc;
	for (int k = 0; k < f->o.n_cmds; k++)
		if ((rc = add_source(f, SRC_CMD, f->o.cmds[k], -1)))
			return rc;

	if ((rc = media_setup(f)))
		return rc;
	if (f->o.n_cmds > 0 && (rc = cmd_setup(f)))
		return rc;

	f->n_jobs = f->o.jobs * 2 + 8;
	f->jobs = calloc((size_t)f->n_jobs, sizeof *f->jobs);
	f->claim_max = f->n_jobs + 256;
	f->claimed = calloc((size_t)f->claim_max, sizeof *f->claimed);
	f->recs = calloc(FLUSH_EVERY, sizeof *f->recs);
	if (!f->jobs || !f->claimed || !f->recs)
		return aed_error(AED_ENOMEM, "out of memory");
	for (int i = 0; i < f->n_jobs; i++) {
		f->jobs[i].dl.fd = -1;
		f->jobs[i].child.err_fd = -1;
	}
	/* Always: a manifest may name URLs even without --url. */
	if ((rc = aed_download_multi_new((long)f->o.jobs, &f->multi)))
		return rc;
	if ((rc = aed_db_prepare(f->db, "SELECT key, ytid, start_ms, end_ms, path, CASE WHEN "
				 "json_valid(meta) THEN json_extract(meta, '$.cut') END "
				 "FROM segment WHERE id = ?", &f->seg_st)))
		return rc;
	rc = aed_db_prepare(f->db,
		"INSERT INTO media(segment_id, status, path, whole_video, size, sha256, source, "
		"kind, error, http_status, exit_status, attempts, fetched_at, run_id) "
		"VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14) "
		"ON CONFLICT(segment_id) DO UPDATE SET status = excluded.status, "
		"path = excluded.path, whole_video = excluded.whole_video, size = excluded.size, "
		"sha256 = excluded.sha256, source = excluded.source, kind = excluded.kind, "
		"error = excluded.error, http_status = excluded.http_status, "
		"exit_status = excluded.exit_status, attempts = media.attempts + excluded.attempts, "
		"fetched_at = excluded.fetched_at, run_id = excluded.run_id", &f->ins_st);
	return rc;
}

/* Which segments this run looks at. */
static int seed(struct fetch *f)
{
	struct aed_buf sql = { 0 };
	char *q = NULL;
	int64_t n = 0;
	int rc;

	if (f->o.split) {
		sqlite3_stmt *st;

		if ((rc = aed_db_prepare(f->db, "SELECT 1 FROM split WHERE name = ?", &st)))
			return rc;
		sqlite3_bind_text(st, 1, f->o.split, -1, SQLITE_STATIC);
		rc = sqlite3_step(st) == SQLITE_ROW ? AED_OK
			: aed_error(AED_ENOTFOUND, "--split %s: no such split", f->o.split);
		sqlite3_finalize(st);
		if (rc)
			return rc;
	}
	if (f->o.redo && (rc = aed_work_reset(f->db, STAGE)))
		return rc;
	if (f->o.retry_unavailable &&
	    (rc = aed_db_exec(f->db, "DELETE FROM work WHERE stage = '" STAGE "' AND state = "
			      "'done' AND item IN (SELECT segment_id FROM media "
			      "WHERE status = 'unavailable')")))
		return rc;
	rc = aed_buf_printf(&sql, "SELECT s.id FROM segment s WHERE 1");
	if (!rc && f->o.split) {
		q = sqlite3_mprintf("%Q", f->o.split);
		rc = aed_buf_printf(&sql, " AND s.id IN (SELECT ss.segment_id FROM segment_split ss "
				    "JOIN split p ON p.id = ss.split_id WHERE p.name = %s)", q);
	}
	/* Without --from, --url or --cmd only a manifest's own paths can answer. */
	if (!rc && f->n_src == 0)
		rc = aed_buf_printf(&sql, " AND s.path IS NOT NULL");
	if (!rc && f->o.shard.count > 1)
		rc = aed_buf_printf(&sql, " AND s.shard %% %d = %d", f->o.shard.count,
				    f->o.shard.index);
	if (!rc)
		rc = aed_buf_printf(&sql, " ORDER BY s.id");
	if (!rc && f->o.limit > 0)
		rc = aed_buf_printf(&sql, " LIMIT %" PRId64, f->o.limit);
	if (!rc)
		rc = aed_work_seed(f->db, STAGE, sql.data, &f->o.shard, &n);
	if (!rc) {
		struct aed_buf sel = { 0 };

		rc = aed_buf_printf(&sel, "DROP TABLE IF EXISTS temp.fetch_sel; "
				    "CREATE TEMP TABLE fetch_sel(id INTEGER PRIMARY KEY); "
				    "INSERT INTO temp.fetch_sel %s", sql.data);
		if (!rc)
			rc = aed_db_exec(f->db, sel.data);
		aed_buf_release(&sel);
	}
	if (!rc && f->o.retry_failed)
		rc = aed_db_exec(f->db, "UPDATE work SET attempts = 0 WHERE stage = '" STAGE "' AND "
				 "state = 'failed' AND item IN (SELECT id FROM temp.fetch_sel)");
	if (!rc)
		rc = aed_db_int(f->db, "SELECT count(*) FROM temp.fetch_sel", &f->sum->selected);
	sqlite3_free(q);
	aed_buf_release(&sql);
	return rc;
}

static void teardown(struct fetch *f)
{
	for (int i = 0; f->jobs && i < f->n_jobs; i++) {
		struct job *j = &f->jobs[i];

		aed_download_release(&j->dl, f->multi);
		if (j->state == J_CMD && j->child.pid > 0)
			aed_child_kill(&j->child, NULL);
		if (j->child.err_fd >= 0)
			close(j->child.err_fd);
		fetch_job_release(j);
	}
	fetch_records_release(f);
	for (int i = 0; f->src && i < f->n_src; i++)
		aed_template_release(&f->src[i].tpl);
	for (int i = 0; i < f->n_dirs; i++)
		aed_name_index_release(&f->dirs[i]);
	aed_name_index_release(&f->media_ix);
	if (f->multi)
		curl_multi_cleanup(f->multi);
	sqlite3_finalize(f->seg_st);
	sqlite3_finalize(f->ins_st);
	free(f->src);
	free(f->dirs);
	free(f->jobs);
	free(f->claimed);
	free(f->recs);
	free(f->media);
	if (f->media_fd >= 0)
		close(f->media_fd);
	aed_progress_free(&f->progress);
	free(f->cmd_env);
	aed_child_subreaper_end(f->subreaper_was);
}

/* --- the loop ------------------------------------------------------------------ */

/* Claim the next items of this run's selection: temp.fetch_sel holds the
 * segments of --split/--shard/--limit, so a run for --split eval never picks
 * up another split's failed items and tries them against this run's sources. */
static int claim(struct fetch *f)
{
	static const struct aed_work_filter sel = { .selection = "fetch_sel" };

	return aed_work_claim(f->db, STAGE, f->run_id, f->claim_max, f->o.max_attempts, &sel,
			      f->claimed, &f->n_claimed);
}

/* A free job slot, or NULL. */
static struct job *free_slot(struct fetch *f)
{
	for (int i = 0; i < f->n_jobs; i++)
		if (f->jobs[i].state == J_FREE)
			return &f->jobs[i];
	return NULL;
}

/* Fill free slots from the claimed items (claiming more when needed). Local
 * look-ups finish at once and free their slot again; after FILL_BUDGET items
 * the loop returns so that running transfers are served. */
#define FILL_BUDGET 2048
static int fill_slots(struct fetch *f)
{
	struct job *j;
	int rc = AED_OK;

	for (int budget = FILL_BUDGET; !rc && budget > 0 && (j = free_slot(f)); budget--) {
		if (f->claim_pos == f->n_claimed) {
			if (f->claims_done)
				break;
			f->claim_pos = 0;
			if ((rc = claim(f)))
				break;
			if (f->n_claimed == 0) {
				f->claims_done = 1;
				break;
			}
		}
		rc = fetch_load_segment(f, j, f->claimed[f->claim_pos++]);
		if (!rc)
			rc = fetch_job_advance(f, j);
	}
	return rc;
}

static int advance_ready(struct fetch *f, double *next_wake)
{
	double now = aed_now();
	int rc = AED_OK;

	for (int i = 0; i < f->n_jobs && !rc; i++) {
		struct job *j = &f->jobs[i];

		if (j->state != J_READY)
			continue;
		if (j->next_at <= now)
			rc = fetch_job_advance(f, j);
		/* A job due but waiting for a free transfer slot wakes with the
		 * transfers; only future retries set the alarm. */
		if (j->state == J_READY && j->next_at > now && j->next_at < *next_wake)
			*next_wake = j->next_at;
	}
	return rc;
}

static int busy(struct fetch *f)
{
	for (int i = 0; i < f->n_jobs; i++)
		if (f->jobs[i].state != J_FREE)
			return 1;
	return 0;
}

/* Sleep until a socket or a command's stderr is ready, a retry is due, or
 * 0.2 s pass (commands' exits are noticed by polling). */
static void sleep_until_ready(struct fetch *f, double next_wake)
{
	double wait;
	int numfds = 0, n_extra = 0;
	struct curl_waitfd extra[64];

	for (int i = 0; i < f->n_jobs && n_extra < 64; i++)
		if (f->jobs[i].state == J_CMD && f->jobs[i].child.err_fd >= 0) {
			extra[n_extra].fd = f->jobs[i].child.err_fd;
			extra[n_extra].events = CURL_WAIT_POLLIN;
			extra[n_extra].revents = 0;
			n_extra++;
		}
	wait = next_wake - aed_now();
	if (wait < 0 || (!f->claims_done && free_slot(f)))
		wait = 0; /* more work can start now */
	if (n_extra > 0 && wait > 0.05)
		wait = 0.05;
	if (f->multi)
		curl_multi_poll(f->multi, extra, (unsigned)n_extra, (int)(wait * 1000), &numfds);
	else if (wait > 0)
		usleep((useconds_t)(wait * 1e6));
}

/* Items of this run's selection still to do: the progress meter's total. */
static int count_todo(struct fetch *f, int64_t *todo)
{
	char *q = sqlite3_mprintf("SELECT count(*) FROM work WHERE stage = '" STAGE "' AND "
				  "(state = 'pending' OR (state = 'failed' AND attempts < %d)) "
				  "AND item IN (SELECT id FROM temp.fetch_sel)",
				  f->o.max_attempts);
	int rc = q ? aed_db_int(f->db, q, todo) : aed_error(AED_ENOMEM, "out of memory");

	sqlite3_free(q);
	return rc;
}

/* SIGINT/SIGTERM while the stage runs: stop cleanly (records kept, claims
 * given back, commands killed, the run marked interrupted). */
static volatile sig_atomic_t stop_signal;

static void on_stop_signal(int sig)
{
	stop_signal = sig;
}

static void apply_defaults(struct aed_fetch_opts *o)
{
	if (o->jobs <= 0)
		o->jobs = AED_FETCH_JOBS_DEFAULT;
	if (o->retries < 0)
		o->retries = AED_FETCH_RETRIES_DEFAULT;
	if (o->backoff_s <= 0)
		o->backoff_s = AED_FETCH_BACKOFF_DEFAULT;
	if (o->timeout_s <= 0)
		o->timeout_s = AED_FETCH_TIMEOUT_DEFAULT;
	if (o->connect_timeout_s <= 0)
		o->connect_timeout_s = AED_FETCH_CONNECT_TIMEOUT_DEFAULT;
	if (o->stall_s <= 0)
		o->stall_s = AED_FETCH_STALL_DEFAULT;
	if (o->cmd_timeout_s <= 0)
		o->cmd_timeout_s = AED_FETCH_CMD_TIMEOUT_DEFAULT;
	if (o->max_bytes <= 0)
		o->max_bytes = AED_FETCH_MAX_BYTES_DEFAULT;
	if (o->max_attempts <= 0)
		o->max_attempts = AED_WORK_MAX_ATTEMPTS_DEFAULT;
}

int aed_fetch_run(struct aed_db *db, const struct aed_fetch_opts *opts,
		  struct aed_fetch_summary *summary)
{
	struct fetch f = { 0 };
	int64_t todo = 0;
	char msg[160];
	double t0 = aed_now();
	struct sigaction sa = { 0 }, old_int, old_term;
	int rc, started = 0, interrupted = 0;

	memset(summary, 0, sizeof *summary);
	f.db = db;
	f.o = *opts;
	f.sum = summary;
	f.rng = (unsigned)getpid();
	f.media_fd = -1;
	f.subreaper_was = -1;
	apply_defaults(&f.o);
	if ((rc = setup(&f)))
		goto out;
	if ((rc = seed(&f)))
		goto out;
	if ((rc = aed_run_begin(db, STAGE, params_json(&f), &f.run_id)))
		goto out;
	started = 1;
	stop_signal = 0;
	sa.sa_handler = on_stop_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, &old_int);
	sigaction(SIGTERM, &sa, &old_term);
	summary->run_id = f.run_id;
	if ((rc = count_todo(&f, &todo)))
		goto out;
	f.progress = aed_progress_new("fetch", todo);
	f.last_flush = aed_now();

	for (;;) {
		double next_wake = aed_now() + 0.2;

		if (stop_signal) {
			interrupted = 1;
			rc = fetch_flush_records(&f);
			if (!rc)
				rc = aed_error(AED_ESTATE, "fetch interrupted by signal %d after %"
					       PRId64 " segments; run it again to go on",
					       (int)stop_signal, summary->processed);
			goto out;
		}
		if ((rc = fill_slots(&f)) || (rc = advance_ready(&f, &next_wake)))
			goto out;
		if (!busy(&f) && f.claims_done && f.claim_pos == f.n_claimed)
			break;
		if (f.multi && (rc = aed_download_poll(f.multi, fetch_url_done, &f)))
			goto out;
		if ((rc = fetch_cmd_poll(&f)))
			goto out;
		if (aed_now() - f.last_flush > FLUSH_SECONDS && (rc = fetch_flush_records(&f)))
			goto out;
		sleep_until_ready(&f, next_wake);
		if (f.multi && (rc = aed_download_poll(f.multi, fetch_url_done, &f)))
			goto out;
	}
	rc = fetch_flush_records(&f);
out:
	summary->seconds = aed_now() - t0;
	if (started) {
		sigaction(SIGINT, &old_int, NULL);
		sigaction(SIGTERM, &old_term, NULL);
		if (rc) {
			aed_run_stop(db, f.run_id, interrupted ? AED_RUN_INTERRUPTED : AED_RUN_FAILED,
				     rc, summary->ok, summary->unavailable + summary->failed);
		} else {
			snprintf(msg, sizeof msg, "ok %" PRId64 ", unavailable %" PRId64
				 ", failed %" PRId64, summary->ok, summary->unavailable,
				 summary->failed);
			rc = aed_run_end(db, f.run_id, AED_RUN_OK, summary->ok,
					 summary->unavailable + summary->failed, msg);
		}
	}
	teardown(&f);
	return rc;
}
