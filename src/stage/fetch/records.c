/* records.c - the end of a segment's trip through fetch: its media row (the
 * file's path, size and sha256, or why there is none) and its work state,
 * queued per job and written FLUSH_EVERY at a time, or every FLUSH_SECONDS,
 * in one transaction. Decode reads these rows next. */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "aedcurate/error.h"
#include "stage/fetch/internal.h"

static char *xstrdup(const char *s)
{
	return s ? strdup(s) : NULL;
}

void fetch_set_error(struct job *j, const char *msg)
{
	free(j->error);
	j->error = strdup(msg);
}

void fetch_job_clear_transfer(struct job *j)
{
	free(j->where);
	free(j->name);
	free(j->final_path);
	free(j->dl.part_path);
	free(j->tmpdir);
	j->where = j->name = j->final_path = j->dl.part_path = j->tmpdir = NULL;
	aed_buf_release(&j->child.tail);
	j->dl.easy = NULL;
	j->dl.fd = -1;
	j->child.err_fd = -1;
	j->child.pid = 0;
}

void fetch_job_release(struct job *j)
{
	fetch_job_clear_transfer(j);
	free(j->key);
	free(j->ytid);
	free(j->mpath);
	free(j->error);
	memset(j, 0, sizeof *j);
	j->dl.fd = -1;
	j->child.err_fd = -1;
	j->state = J_FREE;
}

static const char *outcome_name(enum outcome o)
{
	return o == OUT_OK ? "ok" : o == OUT_UNAVAILABLE ? "unavailable" : "failed";
}

void fetch_records_release(struct fetch *f)
{
	for (int i = 0; i < f->n_recs; i++) {
		free(f->recs[i].path);
		free(f->recs[i].sha256);
		free(f->recs[i].source);
		free(f->recs[i].error);
	}
}

int fetch_flush_records(struct fetch *f)
{
	char now[32];
	int rc;

	if (f->n_recs == 0)
		return AED_OK;
	aed_utc_iso8601(now);
	if ((rc = aed_db_begin(f->db)))
		return rc;
	for (int i = 0; i < f->n_recs; i++) {
		struct record *r = &f->recs[i];
		sqlite3_stmt *st = f->ins_st;

		sqlite3_reset(st);
		sqlite3_clear_bindings(st);
		sqlite3_bind_int64(st, 1, r->id);
		sqlite3_bind_text(st, 2, outcome_name(r->status), -1, SQLITE_STATIC);
		if (r->path)
			sqlite3_bind_text(st, 3, r->path, -1, SQLITE_STATIC);
		sqlite3_bind_int(st, 4, r->whole_video);
		if (r->status == OUT_OK)
			sqlite3_bind_int64(st, 5, r->size);
		if (r->sha256)
			sqlite3_bind_text(st, 6, r->sha256, -1, SQLITE_STATIC);
		if (r->source)
			sqlite3_bind_text(st, 7, r->source, -1, SQLITE_STATIC);
		if (r->kind)
			sqlite3_bind_text(st, 8, r->kind, -1, SQLITE_STATIC);
		if (r->error)
			sqlite3_bind_text(st, 9, r->error, -1, SQLITE_STATIC);
		if (r->http_status > 0)
			sqlite3_bind_int64(st, 10, r->http_status);
		if (r->exit_status >= 0)
			sqlite3_bind_int(st, 11, r->exit_status);
		sqlite3_bind_int(st, 12, r->attempts);
		sqlite3_bind_text(st, 13, now, -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 14, f->run_id);
		if (sqlite3_step(st) != SQLITE_DONE) {
			rc = aed_db_error(f->db, "recording media");
			goto out;
		}
		rc = r->status == OUT_FAILED ? aed_work_fail(f->db, STAGE, r->id, r->error)
					     : aed_work_done(f->db, STAGE, r->id);
		if (rc)
			goto out;
	}
	if ((rc = aed_db_commit(f->db)))
		goto out;
	rc = aed_run_progress(f->db, f->run_id, f->sum->ok,
			      f->sum->unavailable + f->sum->failed);
out:
	sqlite3_reset(f->ins_st);
	if (rc)
		aed_db_rollback(f->db);
	fetch_records_release(f);
	f->n_recs = 0;
	f->last_flush = aed_now();
	return rc;
}

int fetch_job_finish(struct fetch *f, struct job *j, enum outcome st, const char *path,
		     int whole_video, const char *source, const char *kind)
{
	struct record *r = &f->recs[f->n_recs];
	struct stat sb;
	char hex[65];
	int rc = AED_OK;

	memset(r, 0, sizeof *r);
	r->id = j->id;
	r->status = st;
	r->whole_video = whole_video;
	r->kind = kind;
	r->http_status = j->http_status;
	r->exit_status = j->exit_status;
	r->attempts = j->attempts;
	if (st == OUT_OK) {
		const char *why = NULL;

		r->path = realpath(path, NULL);
		if (!r->path || stat(r->path, &sb) != 0)
			why = strerror(errno);
		else if (aed_sha256_file(r->path, hex) != AED_OK)
			why = aed_last_error();
		if (why) {
			/* Vanished or unreadable between finding and hashing it. */
			char msg[PATH_MAX + 1100];

			snprintf(msg, sizeof msg, "%s: cannot read: %.1000s", path, why);
			free(r->path);
			r->path = NULL;
			r->status = st = OUT_FAILED;
			r->error = strdup(msg);
		} else {
			r->size = (int64_t)sb.st_size;
			r->sha256 = strdup(hex);
		}
	} else {
		r->error = xstrdup(j->error ? j->error : "no source has this segment");
	}
	r->source = xstrdup(source);
	f->n_recs++;
	if (st == OUT_OK)
		f->sum->ok++;
	else if (st == OUT_UNAVAILABLE)
		f->sum->unavailable++;
	else
		f->sum->failed++;
	f->sum->processed++;
	aed_progress_add(f->progress, 1);
	fetch_job_release(j);
	if (f->n_recs >= FLUSH_EVERY)
		rc = fetch_flush_records(f);
	return rc;
}
