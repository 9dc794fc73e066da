/* run.c - stage runs and per-item work claims in the stage store.
 *
 * Why claims are safe: every claim is an UPDATE under BEGIN IMMEDIATE (one
 * writer at a time), so two workers never get the same item; an item becomes
 * 'done' only in the transaction that stores its results. A process killed
 * with claims outstanding leaves its run 'running'; the next run on this host
 * sees that the pid is gone (or belongs to a newer process) and puts the
 * claims back to 'pending' -- after killing what the dead run's external
 * commands left running (kill_marked()), so nothing of the old run can still
 * write while its items are retried. */
#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "aedcurate/error.h"
#include "aedcurate/store.h"
#include "aedcurate/util.h"

/* Process start time in clock ticks since boot (/proc/PID/stat field 22). */
static int64_t proc_start_time(long pid)
{
	char path[64], buf[1024];
	snprintf(path, sizeof path, "/proc/%ld/stat", pid);
	FILE *f = fopen(path, "r");
	if (!f)
		return -1;
	size_t n = fread(buf, 1, sizeof buf - 1, f);
	fclose(f);
	buf[n] = 0;
	char *p = strrchr(buf, ')'); /* comm may contain spaces and parens */
	if (!p)
		return -1;
	long long v = -1;
	int field = 2;
	for (char *tok = strtok(p + 1, " "); tok; tok = strtok(NULL, " ")) {
		if (++field == 22) {
			v = atoll(tok);
			break;
		}
	}
	return v;
}

static void host_name(char *buf, size_t n)
{
	if (gethostname(buf, n) != 0)
		snprintf(buf, n, "unknown");
	buf[n - 1] = 0;
}

static int run_alive(long pid, int64_t start)
{
	if (kill((pid_t)pid, 0) != 0 && errno == ESRCH)
		return 0;
	return proc_start_time(pid) == start;
}

void aed_run_command_mark(char *buf, size_t n)
{
	snprintf(buf, n, AED_RUN_MARK_VAR "=%ld.%lld", (long)getpid(),
		 (long long)proc_start_time(getpid()));
}

/* Process group of pid (/proc/PID/stat field 5), or -1. */
static long proc_pgrp(long pid)
{
	char path[64], buf[1024], *p;
	FILE *f;
	size_t n;
	long pgrp = -1;

	snprintf(path, sizeof path, "/proc/%ld/stat", pid);
	if (!(f = fopen(path, "r")))
		return -1;
	n = fread(buf, 1, sizeof buf - 1, f);
	fclose(f);
	buf[n] = 0;
	p = strrchr(buf, ')');
	if (!p || sscanf(p + 1, " %*c %*d %ld", &pgrp) != 1)
		return -1;
	return pgrp;
}

/* 1 if the environment of pid holds the entry mark exactly. A process of
 * another user is unreadable (and unkillable): 0. A zombie reads empty. */
static int environ_has(long pid, const char *mark)
{
	char path[64], *buf = NULL;
	size_t len = 0, cap = 0, m = strlen(mark);
	int found = 0;
	FILE *f;

	snprintf(path, sizeof path, "/proc/%ld/environ", pid);
	if (!(f = fopen(path, "r")))
		return 0;
	for (;;) {
		size_t got;

		if (cap - len < 4096) {
			char *nb = realloc(buf, cap + 65536);

			if (!nb)
				break;
			buf = nb;
			cap += 65536;
		}
		got = fread(buf + len, 1, cap - len - 1, f);
		if (got == 0)
			break;
		len += got;
	}
	fclose(f);
	if (buf)
		buf[len] = 0; /* entries are NUL-terminated; this ends a cut-off last one */
	for (size_t i = 0; buf && i < len; i += strlen(buf + i) + 1) {
		if (!strncmp(buf + i, mark, m) && buf[i + m] == 0) {
			found = 1;
			break;
		}
	}
	free(buf);
	return found;
}

/* Kill what the commands of a dead run left running: every process whose
 * environment carries the run's mark (aed_run_command_mark()) and the whole
 * process group of each (a command's group also holds children that cleared
 * their environment). Why a mark and not recorded process-group ids: once a
 * group is empty its number can be reused by anyone, so a stored pgid cannot
 * tell our leftovers from a stranger's group, while the mark names the dead
 * process exactly (pid and start time, as run rows do) and costs no write per
 * command, with no window between fork and record. What it cannot reach: a
 * descendant that both cleared its environment and left the group (setsid
 * daemons) -- nor could a pgid. The direct children already died with the run
 * (PR_SET_PDEATHSIG); this is for their children. Waits until the marked
 * processes are gone (a killed process can finish the write it is in), at
 * most about 5 s, and never touches its own process group: a reaper started
 * from inside such a command would otherwise kill itself. */
static void kill_marked(long pid, int64_t start)
{
	char mark[96];
	long self = (long)getpid(), own_group = (long)getpgrp();

	snprintf(mark, sizeof mark, AED_RUN_MARK_VAR "=%ld.%lld", pid, (long long)start);
	for (int round = 0; round < 50; round++) {
		DIR *d = opendir("/proc");
		struct dirent *de;
		int found = 0;

		if (!d)
			return;
		while ((de = readdir(d))) {
			char *end;
			long p = strtol(de->d_name, &end, 10), g;

			if (*end || p <= 1 || p == self || !environ_has(p, mark))
				continue;
			g = proc_pgrp(p);
			if (g == own_group)
				continue;
			found++;
			if (g > 1)
				kill((pid_t)-g, SIGKILL);
			kill((pid_t)p, SIGKILL);
		}
		closedir(d);
		if (!found)
			return;
		usleep(100000);
	}
	aed_warn("processes of a dead run (pid %ld) did not exit after SIGKILL", pid);
}

int aed_run_alive(const char *host, int64_t pid, int64_t pid_start)
{
	char here[256];

	host_name(here, sizeof here);
	if (!host || strcmp(host, here) != 0)
		return -1;
	return run_alive((long)pid, pid_start);
}

/* Reap the runs recorded as running whose process is gone: on this host by
 * pid and start time; with any_host also those of every other host, which
 * the caller knows to be dead (aed_run_reap_all_hosts()). */
static int reap(struct aed_db *db, int any_host)
{
	char host[256], now[32];
	sqlite3_stmt *sel = NULL, *upd = NULL, *rel = NULL, *files = NULL;
	int rc;
	host_name(host, sizeof host);
	aed_utc_iso8601(now);
	if ((rc = aed_db_begin(db)))
		return rc;
	/* n_done and n_failed of a dead run: what its work rows say it
	 * finished (a stage counts its own only now and then). */
	if ((rc = aed_db_prepare(db, "SELECT id, pid, pid_start, host FROM run "
				     "WHERE outcome = 'running' AND (host = ?1 OR ?2)", &sel)) ||
	    (rc = aed_db_prepare(db, "UPDATE run SET outcome = 'interrupted', ended_at = ?1, "
				     "message = ?2, n_done = max(n_done, (SELECT count(*) FROM work w "
				     "WHERE w.stage = run.stage AND w.state = 'done' AND w.run_id = ?3)), "
				     "n_failed = max(n_failed, (SELECT count(*) FROM work w WHERE "
				     "w.stage = run.stage AND w.state = 'failed' AND w.run_id = ?3)) "
				     "WHERE id = ?3", &upd)) ||
	    (rc = aed_db_prepare(db, "UPDATE work SET state = 'pending' "
				     "WHERE state = 'claimed' AND run_id = ?", &rel)) ||
	    (rc = aed_db_prepare(db, "SELECT path, committed_bytes FROM array_file "
				     "WHERE run_id = ?", &files)))
		goto out;
	sqlite3_bind_text(sel, 1, host, -1, SQLITE_STATIC);
	sqlite3_bind_int(sel, 2, any_host);
	while (sqlite3_step(sel) == SQLITE_ROW) {
		int64_t id = sqlite3_column_int64(sel, 0);
		long pid = (long)sqlite3_column_int64(sel, 1);
		int64_t start = sqlite3_column_int64(sel, 2);
		const char *on = (const char *)sqlite3_column_text(sel, 3);
		char msg[600];
		if (!on || !strcmp(on, host)) {
			if (run_alive(pid, start))
				continue;
			/* Before its claims are released, so no item is retried while a
			 * command of the dead run can still write its output. */
			kill_marked(pid, start);
			snprintf(msg, sizeof msg, "process ended without finishing (killed?)");
		} else {
			/* Nothing of it can be killed from here: that it is dead is the
			 * caller's knowledge (the database's only writer). */
			snprintf(msg, sizeof msg, "process on %.255s ended without finishing (found "
				 "running by the database's only writer, on %.255s)", on, host);
		}
		sqlite3_bind_text(upd, 1, now, -1, SQLITE_STATIC);
		sqlite3_bind_text(upd, 2, msg, -1, SQLITE_TRANSIENT);
		sqlite3_bind_int64(upd, 3, id);
		sqlite3_bind_int64(rel, 1, id);
		if (sqlite3_step(upd) != SQLITE_DONE || sqlite3_step(rel) != SQLITE_DONE) {
			rc = aed_db_error(db, "reap");
			goto out;
		}
		sqlite3_reset(upd);
		sqlite3_reset(rel);
		/* Bytes a dead writer appended but never committed belong to nobody. */
		sqlite3_bind_int64(files, 1, id);
		while (sqlite3_step(files) == SQLITE_ROW) {
			char p[4096];
			/* A merged shard's file is the shard's own: never cut here. */
			if (((const char *)sqlite3_column_text(files, 0))[0] == '/')
				continue;
			snprintf(p, sizeof p, "%s/%s", aed_db_array_dir(db),
				 (const char *)sqlite3_column_text(files, 0));
			if (truncate(p, (off_t)sqlite3_column_int64(files, 1)) != 0 && errno != ENOENT)
				aed_warn("%s: cannot truncate to committed size: %s", p, strerror(errno));
		}
		sqlite3_reset(files);
	}
	sqlite3_finalize(sel);
	sel = NULL;
	rc = aed_db_commit(db);
out:
	sqlite3_finalize(sel);
	sqlite3_finalize(upd);
	sqlite3_finalize(rel);
	sqlite3_finalize(files);
	if (rc)
		aed_db_rollback(db);
	return rc;
}

int aed_run_reap(struct aed_db *db)
{
	return reap(db, 0);
}

int aed_run_reap_all_hosts(struct aed_db *db)
{
	return reap(db, 1);
}

int aed_run_begin(struct aed_db *db, const char *stage, json_t *params, int64_t *run_id)
{
	char host[256], now[32], *text = params ? json_dumps(params, JSON_COMPACT |
							      JSON_PRESERVE_ORDER) : NULL;
	sqlite3_stmt *st = NULL;
	int rc = params && !text ? aed_error(AED_ENOMEM, "out of memory") : aed_run_reap(db);
	json_decref(params);
	if (rc)
		goto out;
	host_name(host, sizeof host);
	aed_utc_iso8601(now);
	if ((rc = aed_db_prepare(db, "INSERT INTO run(stage, params, started_at, host, pid, "
				     "pid_start) VALUES(?, ?, ?, ?, ?, ?)", &st)))
		goto out;
	sqlite3_bind_text(st, 1, stage, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, text ? text : "{}", -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, now, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 4, host, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 5, getpid());
	sqlite3_bind_int64(st, 6, proc_start_time(getpid()));
	if (sqlite3_step(st) != SQLITE_DONE)
		rc = aed_db_error(db, "recording the run");
	else
		*run_id = sqlite3_last_insert_rowid(aed_db_sqlite(db));
out:
	sqlite3_finalize(st);
	free(text);
	return rc;
}

int aed_run_progress(struct aed_db *db, int64_t run_id, int64_t n_done, int64_t n_failed)
{
	sqlite3_stmt *st;
	int rc = aed_db_prepare(db, "UPDATE run SET n_done = ?, n_failed = ? WHERE id = ?", &st);
	if (rc)
		return rc;
	sqlite3_bind_int64(st, 1, n_done);
	sqlite3_bind_int64(st, 2, n_failed);
	sqlite3_bind_int64(st, 3, run_id);
	if (sqlite3_step(st) != SQLITE_DONE)
		rc = aed_db_error(db, "run progress");
	sqlite3_finalize(st);
	return rc;
}

int aed_run_end(struct aed_db *db, int64_t run_id, enum aed_run_outcome outcome,
		int64_t n_done, int64_t n_failed, const char *message)
{
	static const char *names[] = { "ok", "failed", "interrupted" };
	char now[32];
	sqlite3_stmt *st;
	aed_utc_iso8601(now);
	aed_db_rollback(db); /* a failed stage may have left its transaction open */
	int rc = aed_db_prepare(db, "UPDATE run SET outcome = ?, ended_at = ?, n_done = ?, "
				    "n_failed = ?, message = ? WHERE id = ?", &st);
	if (rc)
		return rc;
	sqlite3_bind_text(st, 1, names[outcome], -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, now, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 3, n_done);
	sqlite3_bind_int64(st, 4, n_failed);
	if (message)
		sqlite3_bind_text(st, 5, message, -1, SQLITE_TRANSIENT);
	sqlite3_bind_int64(st, 6, run_id);
	if (sqlite3_step(st) != SQLITE_DONE)
		rc = aed_db_error(db, "ending the run");
	sqlite3_finalize(st);
	return rc;
}

int aed_run_stop(struct aed_db *db, int64_t run_id, enum aed_run_outcome outcome, int rc,
		 int64_t n_done, int64_t n_failed)
{
	/* The message outlives the writes below, which may raise their own. */
	char *msg = strdup(aed_last_error());
	sqlite3_stmt *st;
	aed_db_rollback(db); /* a failed stage may have left its transaction open */
	/* Its claims go back to pending now: a run no longer running is never
	 * reaped, so claims it kept would hold their items until --redo. */
	if (!aed_db_prepare(db, "UPDATE work SET state = 'pending' WHERE state = 'claimed' AND "
			    "run_id = ?", &st)) {
		sqlite3_bind_int64(st, 1, run_id);
		sqlite3_step(st);
		sqlite3_finalize(st);
	}
	aed_run_end(db, run_id, outcome, n_done, n_failed, msg ? msg : "out of memory");
	if (!msg)
		return aed_error(rc, "%s", "out of memory");
	aed_error(rc, "%s", msg);
	free(msg);
	return rc;
}

/* --- shards ------------------------------------------------------------------ */

int64_t aed_shard_hash(const char *key)
{
	return (int64_t)(aed_fnv1a32_str(key) & 0x7fffffffu);
}

int aed_shard_parse(const char *s, struct aed_shard *out)
{
	int i, n, used = 0;
	if (sscanf(s, "%d/%d%n", &i, &n, &used) != 2 || s[used] != 0 || n < 1 || i < 0 || i >= n)
		return aed_error(AED_EUSAGE, "--shard '%s': expected I/N with 0 <= I < N", s);
	out->index = i;
	out->count = n;
	return AED_OK;
}

/* --- work ---------------------------------------------------------------------- */

int aed_work_seed(struct aed_db *db, const char *stage, const char *select_sql,
		  const struct aed_shard *shard, int64_t *added)
{
	struct aed_buf sql = { 0 };
	sqlite3_stmt *st = NULL;
	int rc;
	if (added)
		*added = 0;
	if ((rc = aed_buf_printf(&sql, "WITH q(item) AS (%s) INSERT OR IGNORE INTO "
				       "work(stage, item) SELECT ?1, q.item FROM q", select_sql)))
		return rc;
	if (shard && shard->count > 1 &&
	    (rc = aed_buf_printf(&sql, " JOIN segment s ON s.id = q.item WHERE s.shard %% %d = %d",
				 shard->count, shard->index)))
		goto out;
	if ((rc = aed_db_begin(db)))
		goto out;
	if ((rc = aed_db_prepare(db, sql.data, &st)))
		goto out;
	sqlite3_bind_text(st, 1, stage, -1, SQLITE_STATIC);
	if (sqlite3_step(st) != SQLITE_DONE) {
		rc = aed_db_error(db, "seeding work");
		goto out;
	}
	if (added)
		*added = sqlite3_changes(aed_db_sqlite(db));
	sqlite3_finalize(st);
	st = NULL;
	rc = aed_db_commit(db);
out:
	sqlite3_finalize(st);
	if (rc)
		aed_db_rollback(db);
	aed_buf_release(&sql);
	return rc;
}

static int cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
	return (x > y) - (x < y);
}

/* The filter's conditions on candidate row w, appended to b (nothing for a
 * NULL filter). EXISTS with a key look-up rather than IN (SELECT ...): SQLite
 * then keeps walking the state index in item order and stops at the limit,
 * instead of driving the walk from the selection from its start each time. */
static int filter_sql(struct aed_buf *b, const struct aed_work_filter *f)
{
	int rc = AED_OK;

	if (!f)
		return AED_OK;
	if (f->selection) {
		const char *p = f->selection;
		int ok = (*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') || *p == '_';
		for (; ok && *p; p++)
			ok = (*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') ||
			     (*p >= '0' && *p <= '9') || *p == '_';
		if (!ok)
			return aed_error(AED_EINTERNAL, "work claim: selection table name '%s' is "
					 "not letters, digits and '_'", f->selection);
		rc = aed_buf_printf(b, " AND EXISTS (SELECT 1 FROM temp.\"%s\" sel "
				       "WHERE sel.id = w.item)", f->selection);
	}
	if (!rc && f->shard.count > 1) {
		if (f->shard.index < 0 || f->shard.index >= f->shard.count)
			return aed_error(AED_EINTERNAL, "work claim: shard %d/%d out of range",
					 f->shard.index, f->shard.count);
		rc = aed_buf_printf(b, " AND EXISTS (SELECT 1 FROM segment seg WHERE seg.id = "
				       "w.item AND seg.shard %% %d = %d)", f->shard.count,
				    f->shard.index);
	}
	return rc;
}

int aed_work_claim(struct aed_db *db, const char *stage, int64_t run_id, int max,
		   int max_attempts, const struct aed_work_filter *filter,
		   int64_t *items, int *n)
{
	struct aed_buf sql = { 0 };
	char now[32];
	sqlite3_stmt *st = NULL;
	int rc, s;

	*n = 0;
	aed_utc_iso8601(now);
	/* Pending and failed items merged in item order (each side walks the
	 * (stage, state) index in item order). Failed items are retried by later
	 * runs, not by the run that failed them. */
	if ((rc = aed_buf_printf(&sql, "UPDATE work SET state = 'claimed', run_id = ?1, "
				       "attempts = attempts + 1, updated_at = ?2 WHERE stage = ?3 "
				       "AND item IN (SELECT w.item FROM work w WHERE w.stage = ?3 "
				       "AND w.state = 'pending'")) ||
	    (rc = filter_sql(&sql, filter)) ||
	    (rc = aed_buf_printf(&sql, " UNION ALL SELECT w.item FROM work w WHERE w.stage = ?3 "
				       "AND w.state = 'failed' AND w.attempts < ?4 "
				       "AND w.run_id IS NOT ?1")) ||
	    (rc = filter_sql(&sql, filter)) ||
	    (rc = aed_buf_printf(&sql, " ORDER BY 1 LIMIT ?5) RETURNING item")))
		goto out;
	if ((rc = aed_db_begin(db)))
		goto out;
	if ((rc = aed_db_prepare(db, sql.data, &st)))
		goto out;
	sqlite3_bind_int64(st, 1, run_id);
	sqlite3_bind_text(st, 2, now, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, stage, -1, SQLITE_STATIC);
	sqlite3_bind_int(st, 4, max_attempts);
	sqlite3_bind_int(st, 5, max);
	while ((s = sqlite3_step(st)) == SQLITE_ROW && *n < max)
		items[(*n)++] = sqlite3_column_int64(st, 0);
	if (s != SQLITE_DONE && s != SQLITE_ROW) {
		rc = aed_db_error(db, "claiming work");
		goto out;
	}
	sqlite3_finalize(st);
	st = NULL;
	rc = aed_db_commit(db);
	qsort(items, (size_t)*n, sizeof *items, cmp_i64);
out:
	sqlite3_finalize(st);
	if (rc) {
		aed_db_rollback(db);
		*n = 0;
	}
	aed_buf_release(&sql);
	return rc;
}

static int set_state(struct aed_db *db, const char *stage, int64_t item, const char *state,
		     const char *error)
{
	char now[32];
	sqlite3_stmt *st;
	aed_utc_iso8601(now);
	int rc = aed_db_prepare(db, "UPDATE work SET state = ?, error = ?, updated_at = ? "
				    "WHERE stage = ? AND item = ?", &st);
	if (rc)
		return rc;
	sqlite3_bind_text(st, 1, state, -1, SQLITE_STATIC);
	if (error)
		sqlite3_bind_text(st, 2, error, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(st, 3, now, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 4, stage, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 5, item);
	if (sqlite3_step(st) != SQLITE_DONE)
		rc = aed_db_error(db, "updating work state");
	else if (sqlite3_changes(aed_db_sqlite(db)) != 1)
		rc = aed_error(AED_EINTERNAL, "stage %s: item %lld has no work row", stage,
			       (long long)item);
	sqlite3_finalize(st);
	return rc;
}

int aed_work_done(struct aed_db *db, const char *stage, int64_t item)
{
	return set_state(db, stage, item, "done", NULL);
}

int aed_work_fail(struct aed_db *db, const char *stage, int64_t item, const char *error)
{
	return set_state(db, stage, item, "failed", error ? error : "failed");
}

int aed_work_release(struct aed_db *db, const char *stage, int64_t run_id)
{
	sqlite3_stmt *st;
	int rc = aed_db_prepare(db, "UPDATE work SET state = 'pending' WHERE stage = ? AND "
				    "state = 'claimed' AND run_id = ?", &st);
	if (rc)
		return rc;
	sqlite3_bind_text(st, 1, stage, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, run_id);
	if (sqlite3_step(st) != SQLITE_DONE)
		rc = aed_db_error(db, "releasing claims");
	sqlite3_finalize(st);
	return rc;
}

int aed_work_counts(struct aed_db *db, const char *stage, struct aed_work_counts *out)
{
	sqlite3_stmt *st;
	memset(out, 0, sizeof *out);
	int rc = aed_db_prepare(db, "SELECT state, count(*) FROM work WHERE stage = ? "
				    "GROUP BY state", &st);
	if (rc)
		return rc;
	sqlite3_bind_text(st, 1, stage, -1, SQLITE_STATIC);
	while (sqlite3_step(st) == SQLITE_ROW) {
		const char *s = (const char *)sqlite3_column_text(st, 0);
		int64_t c = sqlite3_column_int64(st, 1);
		if (!strcmp(s, "pending"))
			out->pending = c;
		else if (!strcmp(s, "claimed"))
			out->claimed = c;
		else if (!strcmp(s, "done"))
			out->done = c;
		else if (!strcmp(s, "failed"))
			out->failed = c;
	}
	sqlite3_finalize(st);
	return AED_OK;
}

int aed_work_input_changed(struct aed_db *db, const char *kind, int64_t item, int drop_outputs)
{
	static const char *const sql[] = {
		"DELETE FROM array_ref WHERE item = ?2 AND kind IN (SELECT o.kind FROM "
		"stage_input i JOIN stage_output o ON o.stage = i.stage WHERE i.kind = ?1)",
		"DELETE FROM work WHERE item = ?2 AND stage IN (SELECT stage FROM stage_input "
		"WHERE kind = ?1)",
	};
	int rc = AED_OK;
	for (int i = drop_outputs ? 0 : 1; i < 2 && !rc; i++) {
		sqlite3_stmt *st;
		if ((rc = aed_db_prepare(db, sql[i], &st)))
			break;
		sqlite3_bind_text(st, 1, kind, -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 2, item);
		if (sqlite3_step(st) != SQLITE_DONE)
			rc = aed_db_error(db, "forgetting what was made of a changed input");
		sqlite3_finalize(st);
	}
	return rc;
}

int aed_work_reset(struct aed_db *db, const char *stage)
{
	sqlite3_stmt *st;
	int rc = aed_db_prepare(db, "DELETE FROM work WHERE stage = ?", &st);
	if (rc)
		return rc;
	sqlite3_bind_text(st, 1, stage, -1, SQLITE_STATIC);
	if (sqlite3_step(st) != SQLITE_DONE)
		rc = aed_db_error(db, "resetting work");
	sqlite3_finalize(st);
	return rc;
}
