/* test_store.c - the stage store: migrations, refusal of newer or foreign
 * files, work claims shared by several processes, and kill -9 mid-stage:
 * a rerun finishes the rest, redoes nothing done, loses and duplicates none. */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>
#include <sqlite3.h>

#include "aedcurate/error.h"
#include "aedcurate/store.h"

#define N_ITEMS 600
#define STAGE "test"
#define ITEMS_SQL "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c " \
		  "WHERE x < 600) SELECT x FROM c"

static char dir[256], path[300];

static int setup(void **state)
{
	(void)state;
	snprintf(dir, sizeof dir, "/tmp/aedstore.XXXXXX");
	if (!mkdtemp(dir))
		return -1;
	snprintf(path, sizeof path, "%s/t.db", dir);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	char cmd[400];
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
	return system(cmd);
}

static struct aed_db *open_db(void)
{
	struct aed_db *db = NULL;
	int rc = aed_db_open(path, AED_DB_CREATE, &db);
	if (rc)
		fail_msg("open: %s", aed_last_error());
	return db;
}

static void test_migrate_and_refuse(void **state)
{
	(void)state;
	struct aed_db *db = open_db();
	int64_t v;
	assert_int_equal(aed_db_int(db, "PRAGMA user_version", &v), AED_OK);
	assert_int_equal(v, aed_db_schema_version());
	assert_int_equal(aed_db_int(db, "PRAGMA foreign_keys", &v), AED_OK);
	assert_int_equal(v, 1);
	assert_int_equal(aed_db_exec(db, "PRAGMA user_version = 9999"), AED_OK);
	aed_db_free(&db);
	assert_int_equal(aed_db_open(path, 0, &db), AED_ESTATE);
	assert_non_null(strstr(aed_last_error(), "newer"));
	assert_null(db);

	/* A foreign SQLite database is not adopted. */
	char other[320];
	snprintf(other, sizeof other, "%s/other.db", dir);
	sqlite3 *h;
	sqlite3_open(other, &h);
	sqlite3_exec(h, "CREATE TABLE x(a)", NULL, NULL, NULL);
	sqlite3_close(h);
	assert_int_equal(aed_db_open(other, 0, &db), AED_ESTATE);
	assert_non_null(strstr(aed_last_error(), "not an aedcurate store"));
	/* A missing file without AED_DB_CREATE says how to make one. */
	snprintf(other, sizeof other, "%s/missing.db", dir);
	assert_int_equal(aed_db_open(other, 0, &db), AED_ENOTFOUND);
	assert_non_null(strstr(aed_last_error(), "aedcurate init"));
	unlink(path);
}

static void test_shard(void **state)
{
	(void)state;
	struct aed_shard s;
	assert_int_equal(aed_shard_parse("1/4", &s), AED_OK);
	assert_int_equal(s.index, 1);
	assert_int_equal(s.count, 4);
	assert_int_equal(aed_shard_parse("4/4", &s), AED_EUSAGE);
	assert_int_equal(aed_shard_parse("1/0", &s), AED_EUSAGE);
	assert_int_equal(aed_shard_parse("x", &s), AED_EUSAGE);
	assert_int_equal(aed_shard_parse("1/2z", &s), AED_EUSAGE);
	/* Stable across runs and machines: FNV-1a of the key. */
	assert_int_equal(aed_shard_hash("--PJHxphWEs_30000"), aed_shard_hash("--PJHxphWEs_30000"));
	assert_int_equal(aed_shard_hash(""), 2166136261u & 0x7fffffff);
}

/* One worker: claim batches (only items of filter, NULL: any), store an array
 * of the item's id and a row in processed(item, pid), mark done, all in one
 * transaction per batch. */
/* Barrier of test_parallel_workers: a worker that holds its first claim
 * writes a byte to ready_fd and waits for one on go_fd (-1: none). */
static int ready_fd = -1, go_fd = -1;

static int worker_in(int slow_us, const struct aed_work_filter *filter)
{
	struct aed_db *db = NULL;
	struct aed_array_writer *w = NULL;
	int64_t run, items[16];
	int n;
	if (aed_db_open(path, 0, &db) || aed_run_begin(db, STAGE, NULL, &run) ||
	    aed_array_writer_new(db, "testarr", run, 0, &w))
		return 1;
	for (;;) {
		if (aed_work_claim(db, STAGE, run, 16, 3, filter, items, &n))
			return 2;
		if (n == 0)
			break;
		if (ready_fd >= 0) {
			char b = 0;
			if (write(ready_fd, &b, 1) != 1 || read(go_fd, &b, 1) != 1)
				return 7;
			close(ready_fd);
			ready_fd = -1;
		}
		int64_t offs[16];
		for (int i = 0; i < n; i++) {
			float v[100];
			for (int k = 0; k < 100; k++)
				v[k] = (float)items[i];
			if (aed_array_append(w, v, sizeof v, &offs[i]))
				return 3;
			if (slow_us)
				usleep((useconds_t)slow_us);
		}
		if (aed_array_sync(w) || aed_db_begin(db))
			return 4;
		for (int i = 0; i < n; i++) {
			char sql[128];
			int64_t dims[3] = { 100, 1, 1 };
			snprintf(sql, sizeof sql, "INSERT INTO processed VALUES(%lld, %d)",
				 (long long)items[i], (int)getpid());
			if (aed_array_record(w, items[i], offs[i], AED_F32, dims) ||
			    aed_db_exec(db, sql) || aed_work_done(db, STAGE, items[i]))
				return 5;
		}
		if (aed_array_commit_size(w) || aed_db_commit(db))
			return 6;
	}
	aed_run_end(db, run, AED_RUN_OK, 0, 0, NULL);
	aed_array_writer_free(&w);
	aed_db_free(&db);
	return 0;
}

static int worker(int slow_us)
{
	return worker_in(slow_us, NULL);
}

static void check_complete(struct aed_db *db)
{
	int64_t v;
	assert_int_equal(aed_db_int(db, "SELECT count(*) FROM processed", &v), AED_OK);
	assert_int_equal(v, N_ITEMS);
	assert_int_equal(aed_db_int(db, "SELECT count(DISTINCT item) FROM processed", &v), AED_OK);
	assert_int_equal(v, N_ITEMS);
	struct aed_work_counts c;
	assert_int_equal(aed_work_counts(db, STAGE, &c), AED_OK);
	assert_int_equal(c.done, N_ITEMS);
	assert_int_equal(c.pending + c.claimed + c.failed, 0);
	/* A reader gives the same arrays, from every worker's file, in any
	 * order, and says which item has none. */
	struct aed_array_reader *rd;
	assert_int_equal(aed_array_reader_new(db, "testarr", &rd), AED_OK);
	for (int64_t j = 0; j < N_ITEMS; j++) {
		int64_t i = 1 + (j * 7) % N_ITEMS;
		struct aed_array a, b;
		assert_int_equal(aed_array_get(db, "testarr", i, &a), AED_OK);
		assert_int_equal(a.dims[0], 100);
		assert_true(((float *)a.data)[0] == (float)i && ((float *)a.data)[99] == (float)i);
		assert_int_equal(aed_array_reader_get(rd, i, &b), AED_OK);
		assert_int_equal(b.dtype, a.dtype);
		assert_memory_equal(b.dims, a.dims, sizeof a.dims);
		assert_int_equal(b.nbytes, a.nbytes);
		assert_memory_equal(b.data, a.data, a.nbytes);
		aed_array_release(&a);
	}
	struct aed_array none;
	assert_int_equal(aed_array_reader_get(rd, N_ITEMS + 1, &none), AED_ENOTFOUND);
	assert_null(none.data);
	aed_array_reader_free(&rd);
	assert_null(rd);
}

static struct aed_db *fresh_stage(void)
{
	unlink(path);
	struct aed_db *db = open_db();
	int64_t added;
	assert_int_equal(aed_db_exec(db, "CREATE TABLE processed(item INTEGER, pid INTEGER)"), AED_OK);
	assert_int_equal(aed_work_seed(db, STAGE, ITEMS_SQL, NULL, &added), AED_OK);
	assert_int_equal(added, N_ITEMS);
	/* Seeding again adds nothing. */
	assert_int_equal(aed_work_seed(db, STAGE, ITEMS_SQL, NULL, &added), AED_OK);
	assert_int_equal(added, 0);
	return db;
}

static void test_parallel_workers(void **state)
{
	(void)state;
	struct aed_db *db = fresh_stage();
	pid_t kids[4];
	int ready[2], go[2];
	/* Each worker holds its first claim until all four hold one, so the
	 * work is shared however the machine schedules them (without it, one
	 * worker on a busy machine could take every batch before the others
	 * ran). 600 items are 38 claims of 16: enough for four. */
	assert_int_equal(pipe(ready), 0);
	assert_int_equal(pipe(go), 0);
	for (int i = 0; i < 4; i++)
		if ((kids[i] = fork()) == 0) {
			close(ready[0]);
			close(go[1]);
			ready_fd = ready[1];
			go_fd = go[0];
			_exit(worker(0));
		}
	close(ready[1]);
	close(go[0]);
	char b[4] = { 0 };
	size_t got = 0;
	for (ssize_t r; got < 4 && (r = read(ready[0], b, 4 - got)) > 0;)
		got += (size_t)r;
	assert_int_equal(got, 4);
	assert_int_equal(write(go[1], b, 4), 4);
	close(ready[0]);
	close(go[1]);
	for (int i = 0; i < 4; i++) {
		int st;
		waitpid(kids[i], &st, 0);
		assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	}
	check_complete(db);
	int64_t v;
	assert_int_equal(aed_db_int(db, "SELECT count(DISTINCT pid) FROM processed", &v), AED_OK);
	assert_int_equal(v, 4); /* the work really was shared */
	aed_db_free(&db);
}

/* Wait (up to 60 s) until the workers have committed a batch since done0
 * and hold a claim, so that a kill lands mid-batch however busy the machine
 * is (a fixed sleep killed them before their first batch under load). */
static void wait_progress(struct aed_db *db, int64_t done0)
{
	for (int i = 0; i < 6000; i++) {
		struct aed_work_counts c;
		if (aed_work_counts(db, STAGE, &c) == AED_OK && c.done > done0 && c.claimed > 0)
			return;
		usleep(10000);
	}
}

static void test_kill_and_resume(void **state)
{
	(void)state;
	struct aed_db *db = fresh_stage();
	/* Three rounds of: two slow workers, SIGKILLed mid-batch. */
	for (int round = 0; round < 3; round++) {
		pid_t kids[2];
		for (int i = 0; i < 2; i++)
			if ((kids[i] = fork()) == 0)
				_exit(worker(2000));
		struct aed_work_counts c0;
		assert_int_equal(aed_work_counts(db, STAGE, &c0), AED_OK);
		wait_progress(db, c0.done);
		for (int i = 0; i < 2; i++) {
			int st;
			kill(kids[i], SIGKILL);
			waitpid(kids[i], &st, 0);
		}
	}
	int64_t done_before, claimed;
	struct aed_work_counts c;
	assert_int_equal(aed_work_counts(db, STAGE, &c), AED_OK);
	done_before = c.done;
	claimed = c.claimed;
	assert_true(done_before > 0 && done_before < N_ITEMS);
	assert_true(claimed > 0); /* dead workers left claims behind */
	/* The rerun reaps the dead runs and finishes exactly the rest. */
	pid_t k = fork();
	if (k == 0)
		_exit(worker(0));
	int st;
	waitpid(k, &st, 0);
	assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	check_complete(db);
	int64_t interrupted;
	assert_int_equal(aed_db_int(db, "SELECT count(*) FROM run WHERE outcome = 'interrupted'",
				    &interrupted), AED_OK);
	assert_int_equal(interrupted, 6);
	aed_db_free(&db);
}

/* The stage envelope: params recorded as given (compact, keys in order), a
 * failure recorded with the error that caused it, and that error raised
 * again after the run's own writes. */
static void test_run_envelope(void **state)
{
	(void)state;
	struct aed_db *db = fresh_stage();
	int64_t run;
	sqlite3_stmt *st;
	assert_int_equal(aed_run_begin(db, STAGE, json_pack("{s:s, s:i, s:f}", "zeta", "a\"b",
							    "alpha", 3, "x", 0.5), &run), AED_OK);
	int64_t items[4], claimed = -1;
	int n;
	assert_int_equal(aed_work_claim(db, STAGE, run, 2, 3, NULL, items, &n), AED_OK);
	assert_int_equal(n, 2);
	assert_int_equal(aed_db_begin(db), AED_OK); /* left open by the failing stage */
	int rc = aed_error(AED_EFORMAT, "clip 7: not audio");
	assert_int_equal(aed_run_fail(db, run, rc, 4, 1), AED_EFORMAT);
	assert_string_equal(aed_last_error(), "clip 7: not audio");
	/* its claims went back to pending */
	assert_int_equal(aed_db_int(db, "SELECT count(*) FROM work WHERE state = 'claimed'",
				    &claimed), AED_OK);
	assert_int_equal(claimed, 0);
	assert_int_equal(sqlite3_prepare_v2(aed_db_sqlite(db), "SELECT params, outcome, message, "
					    "n_done, n_failed FROM run WHERE id = ?", -1, &st,
					    NULL), SQLITE_OK);
	sqlite3_bind_int64(st, 1, run);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	assert_string_equal((const char *)sqlite3_column_text(st, 0),
			    "{\"zeta\":\"a\\\"b\",\"alpha\":3,\"x\":0.5}");
	assert_string_equal((const char *)sqlite3_column_text(st, 1), "failed");
	assert_string_equal((const char *)sqlite3_column_text(st, 2), "clip 7: not audio");
	assert_int_equal(sqlite3_column_int64(st, 3), 4);
	assert_int_equal(sqlite3_column_int64(st, 4), 1);
	sqlite3_finalize(st);
	/* a long message (a pipeline step's, prefixed) is kept whole */
	char long_msg[3001];
	memset(long_msg, 'x', 3000);
	long_msg[3000] = 0;
	assert_int_equal(aed_run_begin(db, STAGE, NULL, &run), AED_OK);
	assert_int_equal(aed_run_fail(db, run, aed_error(AED_EIO, "%s", long_msg), 0, 0), AED_EIO);
	assert_int_equal(strlen(aed_last_error()), 3000);
	/* NULL params record {} */
	assert_int_equal(aed_run_begin(db, STAGE, NULL, &run), AED_OK);
	assert_int_equal(aed_run_stop(db, run, AED_RUN_INTERRUPTED, AED_EIO, 0, 0), AED_EIO);
	assert_int_equal(sqlite3_prepare_v2(aed_db_sqlite(db), "SELECT params, outcome FROM run "
					    "WHERE id = ?", -1, &st, NULL), SQLITE_OK);
	sqlite3_bind_int64(st, 1, run);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	assert_string_equal((const char *)sqlite3_column_text(st, 0), "{}");
	assert_string_equal((const char *)sqlite3_column_text(st, 1), "interrupted");
	sqlite3_finalize(st);
	aed_db_free(&db);
}

static void test_failed_items_retry_later(void **state)
{
	(void)state;
	struct aed_db *db = fresh_stage();
	int64_t run, items[16];
	int n;
	assert_int_equal(aed_run_begin(db, STAGE, NULL, &run), AED_OK);
	assert_int_equal(aed_work_claim(db, STAGE, run, 4, 2, NULL, items, &n), AED_OK);
	assert_int_equal(n, 4);
	assert_int_equal(items[0], 1);
	assert_int_equal(aed_db_begin(db), AED_OK);
	assert_int_equal(aed_work_fail(db, STAGE, items[0], "corrupt file"), AED_OK);
	assert_int_equal(aed_db_commit(db), AED_OK);
	assert_int_equal(aed_work_release(db, STAGE, run), AED_OK);
	/* The same run does not retry what it failed. */
	assert_int_equal(aed_work_claim(db, STAGE, run, 1, 2, NULL, items, &n), AED_OK);
	assert_int_equal(items[0], 2);
	aed_run_end(db, run, AED_RUN_OK, 0, 1, NULL);
	/* A later run does, up to max_attempts. */
	int64_t run2;
	assert_int_equal(aed_run_begin(db, STAGE, NULL, &run2), AED_OK);
	assert_int_equal(aed_work_claim(db, STAGE, run2, 1, 2, NULL, items, &n), AED_OK);
	assert_int_equal(items[0], 1);
	aed_db_free(&db);
}

/* Claim everything left for run (batches of 16, done at once); returns how
 * many, with the items in claim order in out[]. */
static int claim_all(struct aed_db *db, int64_t run, const struct aed_work_filter *f,
		     int64_t *out, int cap)
{
	int64_t items[16];
	int n, total = 0;
	for (;;) {
		assert_int_equal(aed_work_claim(db, STAGE, run, 16, 3, f, items, &n), AED_OK);
		if (n == 0)
			break;
		assert_int_equal(aed_db_begin(db), AED_OK);
		for (int i = 0; i < n; i++) {
			assert_true(total < cap);
			out[total++] = items[i];
			assert_int_equal(aed_work_done(db, STAGE, items[i]), AED_OK);
		}
		assert_int_equal(aed_db_commit(db), AED_OK);
	}
	return total;
}

static void test_claim_selection(void **state)
{
	(void)state;
	struct aed_db *db = fresh_stage();
	int64_t run, run2, items[16], got[N_ITEMS], v;
	int n;
	/* An earlier, unfiltered run fails items 1..10. */
	assert_int_equal(aed_run_begin(db, STAGE, NULL, &run), AED_OK);
	assert_int_equal(aed_work_claim(db, STAGE, run, 10, 3, NULL, items, &n), AED_OK);
	assert_int_equal(n, 10);
	assert_int_equal(aed_db_begin(db), AED_OK);
	for (int i = 0; i < n; i++)
		assert_int_equal(aed_work_fail(db, STAGE, items[i], "unreachable"), AED_OK);
	assert_int_equal(aed_db_commit(db), AED_OK);
	aed_run_end(db, run, AED_RUN_OK, 0, n, NULL);

	/* The selection: multiples of 3 (200 items, 3 6 9 of them failed). */
	assert_int_equal(aed_db_exec(db, "CREATE TEMP TABLE sel(id INTEGER PRIMARY KEY); "
				     "INSERT INTO temp.sel SELECT x FROM (" ITEMS_SQL ") "
				     "WHERE x % 3 = 0"), AED_OK);
	struct aed_work_filter f = { .selection = "sel" };
	assert_int_equal(aed_run_begin(db, STAGE, NULL, &run2), AED_OK);
	int total = claim_all(db, run2, &f, got, N_ITEMS);
	/* Exactly the selection, in item order, its failed items retried with them. */
	assert_int_equal(total, 200);
	for (int i = 0; i < total; i++)
		assert_int_equal(got[i], 3 * (i + 1));
	assert_int_equal(aed_db_int(db, "SELECT attempts FROM work WHERE item = 9", &v), AED_OK);
	assert_int_equal(v, 2);
	assert_int_equal(aed_db_int(db, "SELECT attempts FROM work WHERE item = 12", &v), AED_OK);
	assert_int_equal(v, 1);
	/* Outside it nothing moved: the 7 failed items eligible for retry stay
	 * failed with one attempt, and the other 393 stay pending. */
	assert_int_equal(aed_db_int(db, "SELECT count(*) FROM work WHERE item % 3 != 0 AND "
				     "state = 'failed' AND attempts = 1 AND run_id = 1", &v), AED_OK);
	assert_int_equal(v, 7);
	assert_int_equal(aed_db_int(db, "SELECT count(*) FROM work WHERE item % 3 != 0 AND "
				     "state = 'pending' AND attempts = 0", &v), AED_OK);
	assert_int_equal(v, 393);
	/* Without the filter the same run takes the rest: the failed ones too. */
	total = claim_all(db, run2, NULL, got, N_ITEMS);
	assert_int_equal(total, 400);
	assert_int_equal(got[0], 1);
	assert_int_equal(got[total - 1], 599);

	/* A table name that is not an identifier is refused, and a missing table
	 * is an SQL error that leaves no transaction open. */
	f.selection = "sel; DROP TABLE work";
	assert_int_equal(aed_work_claim(db, STAGE, run2, 4, 3, &f, items, &n), AED_EINTERNAL);
	assert_int_equal(n, 0);
	f.selection = "no_such_table";
	assert_int_equal(aed_work_claim(db, STAGE, run2, 4, 3, &f, items, &n), AED_EDB);
	assert_int_equal(n, 0);
	assert_int_equal(aed_db_begin(db), AED_OK);
	assert_int_equal(aed_db_commit(db), AED_OK);
	aed_run_end(db, run2, AED_RUN_OK, 0, 0, NULL);
	aed_db_free(&db);
}

/* Segment rows for items 1..N_ITEMS, shard = aed_shard_hash(key). */
static void add_segments(struct aed_db *db)
{
	sqlite3_stmt *st;
	assert_int_equal(aed_db_prepare(db, "INSERT INTO segment(id, key, ytid, start_ms, "
				    "source_group, shard) VALUES(?1, ?2, ?3, 0, ?3, ?4)", &st),
			 AED_OK);
	for (int i = 1; i <= N_ITEMS; i++) {
		char ytid[32], key[48];
		snprintf(ytid, sizeof ytid, "vid%08dxyz", i * 7919);
		snprintf(key, sizeof key, "%s_0", ytid);
		sqlite3_bind_int(st, 1, i);
		sqlite3_bind_text(st, 2, key, -1, SQLITE_TRANSIENT);
		sqlite3_bind_text(st, 3, ytid, -1, SQLITE_TRANSIENT);
		sqlite3_bind_int64(st, 4, aed_shard_hash(key));
		assert_int_equal(sqlite3_step(st), SQLITE_DONE);
		sqlite3_reset(st);
	}
	sqlite3_finalize(st);
}

static void test_claim_shard(void **state)
{
	(void)state;
	struct aed_db *db = fresh_stage();
	add_segments(db);
	/* Two --shard runs on one database, at the same time, each with two
	 * workers; the work table holds every shard's items. */
	struct aed_work_filter f[2] = { { .shard = { 0, 2 } }, { .shard = { 1, 2 } } };
	pid_t kids[4];
	for (int i = 0; i < 4; i++)
		if ((kids[i] = fork()) == 0)
			_exit(worker_in(0, &f[i % 2]));
	for (int i = 0; i < 4; i++) {
		int st;
		waitpid(kids[i], &st, 0);
		assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	}
	/* Disjoint (no item twice), together everything, each in its own shard. */
	check_complete(db);
	int64_t per[2] = { 0, 0 };
	for (int i = 0; i < 4; i++) {
		char sql[256];
		int64_t wrong, mine;
		snprintf(sql, sizeof sql, "SELECT count(*) FROM processed p JOIN segment s ON "
			 "s.id = p.item WHERE p.pid = %d AND s.shard %% 2 != %d", (int)kids[i], i % 2);
		assert_int_equal(aed_db_int(db, sql, &wrong), AED_OK);
		assert_int_equal(wrong, 0);
		snprintf(sql, sizeof sql, "SELECT count(*) FROM processed WHERE pid = %d",
			 (int)kids[i]);
		assert_int_equal(aed_db_int(db, sql, &mine), AED_OK);
		per[i % 2] += mine;
	}
	int64_t want0 = 0;
	for (int i = 1; i <= N_ITEMS; i++) {
		char key[48];
		snprintf(key, sizeof key, "vid%08dxyz_0", i * 7919);
		want0 += aed_shard_hash(key) % 2 == 0;
	}
	assert_true(want0 > 0 && want0 < N_ITEMS);
	assert_int_equal(per[0], want0);
	assert_int_equal(per[1], N_ITEMS - want0);

	/* Failed items are retried by their own shard only, and an item with no
	 * segment row belongs to no shard. */
	int64_t run, items[16];
	int n;
	assert_int_equal(aed_db_exec(db, "INSERT INTO work(stage, item) VALUES('" STAGE "', 9999);"
				     "UPDATE work SET state = 'failed' WHERE item IN (1, 2, 3, 4)"),
			 AED_OK);
	assert_int_equal(aed_run_begin(db, STAGE, NULL, &run), AED_OK);
	for (int s = 0; s < 2; s++) {
		int64_t want[4];
		int nwant = 0;
		for (int i = 1; i <= 4; i++) {
			char key[48];
			snprintf(key, sizeof key, "vid%08dxyz_0", i * 7919);
			if (aed_shard_hash(key) % 2 == s)
				want[nwant++] = i;
		}
		assert_int_equal(aed_work_claim(db, STAGE, run, 16, 3, &f[s], items, &n), AED_OK);
		assert_int_equal(n, nwant);
		for (int i = 0; i < n; i++)
			assert_int_equal(items[i], want[i]);
	}
	for (int s = 0; s < 2; s++) {
		assert_int_equal(aed_work_claim(db, STAGE, run, 16, 3, &f[s], items, &n), AED_OK);
		assert_int_equal(n, 0);
	}
	assert_int_equal(aed_work_claim(db, STAGE, run, 16, 3, NULL, items, &n), AED_OK);
	assert_int_equal(n, 1);
	assert_int_equal(items[0], 9999);
	/* A shard out of range is refused. */
	struct aed_work_filter bad = { .shard = { 2, 2 } };
	assert_int_equal(aed_work_claim(db, STAGE, run, 16, 3, &bad, items, &n), AED_EINTERNAL);
	aed_run_end(db, run, AED_RUN_OK, 0, 0, NULL);
	aed_db_free(&db);
}

/* A zeroed filter, or shard 0/1, claims as no filter does: every item, pending
 * and failed merged in item order. */
static void test_claim_no_filter(void **state)
{
	(void)state;
	struct aed_db *db = fresh_stage();
	int64_t run, items[16], got[N_ITEMS];
	int n;
	assert_int_equal(aed_run_begin(db, STAGE, NULL, &run), AED_OK);
	struct aed_work_filter zero = { 0 }, one = { .shard = { 0, 1 } };
	assert_int_equal(aed_work_claim(db, STAGE, run, 3, 2, &zero, items, &n), AED_OK);
	assert_int_equal(n, 3);
	assert_int_equal(items[0], 1);
	assert_int_equal(items[2], 3);
	assert_int_equal(aed_db_begin(db), AED_OK);
	assert_int_equal(aed_work_fail(db, STAGE, 2, "x"), AED_OK);
	assert_int_equal(aed_db_commit(db), AED_OK);
	assert_int_equal(aed_work_release(db, STAGE, run), AED_OK);
	aed_run_end(db, run, AED_RUN_OK, 0, 1, NULL);
	assert_int_equal(aed_run_begin(db, STAGE, NULL, &run), AED_OK);
	int total = claim_all(db, run, &one, got, N_ITEMS);
	assert_int_equal(total, N_ITEMS);
	for (int i = 0; i < total; i++)
		assert_int_equal(got[i], i + 1);
	int64_t v;
	assert_int_equal(aed_db_int(db, "SELECT attempts FROM work WHERE item = 2", &v), AED_OK);
	assert_int_equal(v, 2);
	aed_run_end(db, run, AED_RUN_OK, 0, 0, NULL);
	aed_db_free(&db);
}

/* aed_db_digest: the same rows in the same order digest alike; a value of
 * another type, bytes moved between two texts, a NULL for an empty text, a
 * row more or the order of the rows each change it. */
static void test_digest(void **state)
{
	(void)state;
	struct aed_db *db = open_db();
	static const char *const other[] = {
		"VALUES ('1', 'ab', 'c'), (2, x'00ff', 2.5)",   /* text '1' for 1 */
		"VALUES (1, 'a', 'bc'), (2, x'00ff', 2.5)",     /* a byte moved */
		"VALUES (1, 'ab', 'c'), (2, x'00ff', 2.5), (3, NULL, NULL)",
		"VALUES (2, x'00ff', 2.5), (1, 'ab', 'c')",     /* order */
		"VALUES (1, 'ab', 'c'), (2, x'00ff', 2.0)",
		"VALUES (1, 'ab', ''), (2, x'00ff', 2.5)",
	};
	unsigned char a[32], b[32], c[32];
	assert_int_equal(aed_db_digest(db, "VALUES (1, 'ab', 'c'), (2, x'00ff', 2.5)", a), AED_OK);
	assert_int_equal(aed_db_digest(db, "SELECT 1, 'ab', 'c' UNION ALL SELECT 2, x'00ff', 2.5", b), AED_OK);
	assert_memory_equal(a, b, 32);
	for (size_t i = 0; i < sizeof other / sizeof *other; i++) {
		assert_int_equal(aed_db_digest(db, other[i], c), AED_OK);
		assert_memory_not_equal(a, c, 32);
	}
	assert_int_equal(aed_db_digest(db, "VALUES (1, 'ab', NULL), (2, x'00ff', 2.5)", b), AED_OK);
	assert_int_equal(aed_db_digest(db, "VALUES (1, 'ab', ''), (2, x'00ff', 2.5)", c), AED_OK);
	assert_memory_not_equal(b, c, 32);
	/* Long values (past the internal buffer) are digested whole. */
	assert_int_equal(aed_db_digest(db, "SELECT CAST(zeroblob(100000) || x'01' AS BLOB)", b), AED_OK);
	assert_int_equal(aed_db_digest(db, "SELECT CAST(zeroblob(100000) || x'02' AS BLOB)", c), AED_OK);
	assert_memory_not_equal(b, c, 32);
	/* Many rows (the buffer hashed as it fills): a change in an early row. */
#define ROWS "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 2000) "
	assert_int_equal(aed_db_digest(db, ROWS "SELECT i, 'row ' || i FROM n", b), AED_OK);
	assert_int_equal(aed_db_digest(db, ROWS "SELECT i, CASE i WHEN 3 THEN 'rox 3' ELSE "
					   "'row ' || i END FROM n", c), AED_OK);
	assert_memory_not_equal(b, c, 32);
	assert_int_equal(aed_db_digest(db, ROWS "SELECT i, 'row ' || i FROM n ORDER BY i", c), AED_OK);
	assert_memory_equal(b, c, 32);
#undef ROWS
	/* Types and row boundaries are part of it. */
	static const char *const pairs[][2] = {
		{ "SELECT x''", "SELECT ''" },
		{ "SELECT 'ab'", "SELECT x'6162'" },
		{ "VALUES (1, 2), (3, 4)", "VALUES (1, 2, 3, 4)" },
	};
	for (size_t i = 0; i < sizeof pairs / sizeof *pairs; i++) {
		assert_int_equal(aed_db_digest(db, pairs[i][0], b), AED_OK);
		assert_int_equal(aed_db_digest(db, pairs[i][1], c), AED_OK);
		assert_memory_not_equal(b, c, 32);
	}
	/* The encoding, pinned: the row's 5 columns (int64 LE), then 1 and the
	 * integer, 3, length 2 and "ab", 5 (NULL), 2 and the double, 4, length 2
	 * and the bytes (computed with Python's struct and hashlib). */
	static const unsigned char known[32] = {
		0x93, 0xb0, 0xb2, 0xa8, 0x00, 0x7a, 0xc5, 0x44, 0xae, 0x15, 0x41, 0x13, 0x80, 0x07,
		0x1c, 0x01, 0xa6, 0xab, 0x8b, 0xd1, 0x8e, 0xeb, 0x01, 0x1a, 0xe0, 0x67, 0x5a, 0x85,
		0xe4, 0x88, 0xb8, 0x61,
	};
	assert_int_equal(aed_db_digest(db, "VALUES (1, 'ab', NULL, 2.5, x'00ff')", b), AED_OK);
	assert_memory_equal(b, known, 32);
	assert_int_not_equal(aed_db_digest(db, "SELECT * FROM no_such_table", c), AED_OK);
	aed_db_free(&db);
}

/* A reader over more files than it keeps open (64): 70 writers, one array
 * each, read twice over in an order that returns to every file; each array
 * is its writer's, as aed_array_get gives it. */
static void test_reader_many_files(void **state)
{
	(void)state;
	unlink(path);
	struct aed_db *db = open_db();
	int64_t run;
	enum { NF = 70 };
	assert_int_equal(aed_run_begin(db, "many-files", NULL, &run), AED_OK);
	for (int f = 0; f < NF; f++) {
		struct aed_array_writer *w;
		float v[8];
		int64_t off, dims[3] = { 8, 1, 1 };
		for (int k = 0; k < 8; k++)
			v[k] = (float)(f * 10 + k);
		assert_int_equal(aed_array_writer_new(db, "many", run, f, &w), AED_OK);
		assert_int_equal(aed_array_append(w, v, sizeof v, &off), AED_OK);
		assert_int_equal(aed_array_sync(w), AED_OK);
		assert_int_equal(aed_db_begin(db), AED_OK);
		assert_int_equal(aed_array_record(w, 1000 + f, off, AED_F32, dims), AED_OK);
		assert_int_equal(aed_array_commit_size(w), AED_OK);
		assert_int_equal(aed_db_commit(db), AED_OK);
		aed_array_writer_free(&w);
	}
	int64_t nfiles;
	assert_int_equal(aed_db_int(db, "SELECT count(*) FROM array_file WHERE path LIKE 'many/%'",
				    &nfiles), AED_OK);
	assert_int_equal(nfiles, NF);
	struct aed_array_reader *rd;
	assert_int_equal(aed_array_reader_new(db, "many", &rd), AED_OK);
	for (int pass = 0; pass < 2; pass++)
		for (int j = 0; j < NF; j++) {
			int f = (j * 31 + pass * 7) % NF;
			struct aed_array a;
			assert_int_equal(aed_array_reader_get(rd, 1000 + f, &a), AED_OK);
			assert_int_equal(a.nbytes, 8 * sizeof(float));
			for (int k = 0; k < 8; k++)
				assert_true(((const float *)a.data)[k] == (float)(f * 10 + k));
		}
	aed_array_reader_free(&rd);
	aed_db_free(&db);
}

/* Rows of an array read alone: the same bytes as the slice of the whole
 * one, and a range past its rows refused. */
static void test_reader_rows(void **state)
{
	(void)state;
	unlink(path);
	struct aed_db *db = open_db();
	struct aed_array_writer *w;
	int64_t run, off, dims[3] = { 6, 4, 1 };
	float v[24];
	for (int k = 0; k < 24; k++)
		v[k] = (float)k;
	assert_int_equal(aed_run_begin(db, "rows", NULL, &run), AED_OK);
	assert_int_equal(aed_array_writer_new(db, "rows", run, 0, &w), AED_OK);
	assert_int_equal(aed_array_append(w, v, sizeof v, &off), AED_OK);
	assert_int_equal(aed_db_begin(db), AED_OK);
	assert_int_equal(aed_array_record(w, 7, off, AED_F32, dims), AED_OK);
	assert_int_equal(aed_array_commit_size(w), AED_OK);
	assert_int_equal(aed_db_commit(db), AED_OK);
	aed_array_writer_free(&w);
	struct aed_array_reader *rd;
	struct aed_array a;
	assert_int_equal(aed_array_reader_new(db, "rows", &rd), AED_OK);
	for (int r0 = 0; r0 < 6; r0++)
		for (int n = 1; r0 + n <= 6; n++) {
			assert_int_equal(aed_array_reader_rows(rd, 7, r0, n, &a), AED_OK);
			assert_int_equal(a.dims[0], 6);
			assert_int_equal(a.dims[1], 4);
			assert_int_equal(a.nbytes, (size_t)n * 4 * sizeof(float));
			assert_memory_equal(a.data, v + r0 * 4, a.nbytes);
		}
	assert_int_equal(aed_array_reader_rows(rd, 7, 0, -1, &a), AED_OK);
	assert_int_equal(a.nbytes, sizeof v);
	assert_int_not_equal(aed_array_reader_rows(rd, 7, 4, 3, &a), AED_OK);
	assert_int_not_equal(aed_array_reader_rows(rd, 7, -1, 2, &a), AED_OK);
	aed_array_reader_free(&rd);
	aed_db_free(&db);
}

/* A cache file is used only with its own header and size; a write replaces
 * it whole. */
static void test_cache_files(void **state)
{
	(void)state;
	char f[400];
	struct aed_cache c;
	int64_t hdr[2] = { 7, 11 }, other[2] = { 7, 12 }, data[3] = { 1, 2, 3 };
	const void *part[] = { data, data + 1 };
	const size_t size[] = { sizeof *data, 2 * sizeof *data };
	snprintf(f, sizeof f, "%s/x.cache", dir);
	unlink(f);
	assert_int_equal(aed_cache_map(f, hdr, sizeof hdr, sizeof data, &c), 0);
	assert_null(c.base);
	assert_int_equal(aed_cache_write(f, hdr, sizeof hdr, 2, part, size), 0);
	assert_int_equal(aed_cache_map(f, hdr, sizeof hdr, sizeof data, &c), 1);
	assert_memory_equal((char *)c.base + sizeof hdr, data, sizeof data);
	aed_cache_unmap(&c);
	assert_null(c.base);
	assert_int_equal(aed_cache_map(f, other, sizeof other, sizeof data, &c), 0);
	assert_int_equal(aed_cache_map(f, hdr, sizeof hdr, sizeof data - 8, &c), 0);
	assert_int_equal(aed_cache_map(f, hdr, sizeof hdr, sizeof data + 8, &c), 0);
	/* Rewritten under another header: the old one no longer matches. */
	assert_int_equal(aed_cache_write(f, other, sizeof other, 1, part, size), 0);
	assert_int_equal(aed_cache_map(f, hdr, sizeof hdr, sizeof *data, &c), 0);
	assert_int_equal(aed_cache_map(f, other, sizeof other, sizeof *data, &c), 1);
	aed_cache_unmap(&c);
	/* A folder that cannot hold it: -1, nothing left behind. */
	char bad[420];
	snprintf(bad, sizeof bad, "%s/no/such/dir/x.cache", dir);
	assert_int_equal(aed_cache_write(bad, hdr, sizeof hdr, 2, part, size), -1);
	unlink(f);
	/* No temporary file left beside it. */
	char cmd[600];
	snprintf(cmd, sizeof cmd, "test -z \"$(ls -A '%s' | grep '^x\\.cache')\"", dir);
	assert_int_equal(system(cmd), 0);
}

/* index_epoch moves with every write to embedding (insert, update, delete,
 * and a segment's removal that deletes its embedding) and with a change of
 * a segment's recording, and with nothing else. */
static void test_index_epoch(void **state)
{
	(void)state;
	unlink(path);
	struct aed_db *db = open_db();
	int64_t e0, e;
	const char *const q = "SELECT value FROM index_epoch";
	assert_int_equal(aed_db_int(db, q, &e0), AED_OK);
	assert_int_equal(aed_db_exec(db,
		"INSERT INTO model(id, name, sha256, path, embed_dim, n_classes, patch_frames, "
		"patch_hop, quantized, macs, added_at) VALUES (1, 'm', 'x', 'p', 4, 2, 96, 48, 0, 1, "
		"'t');"
		"INSERT INTO segment(id, key, ytid, start_ms, source_group, shard) VALUES "
		"(1, 'a', 'a', 0, 'g1', 0), (2, 'b', 'b', 0, 'g1', 0)"), AED_OK);
	assert_int_equal(aed_db_int(db, q, &e), AED_OK);
	assert_int_equal(e, e0);
	const char *const writes[] = {
		"INSERT INTO embedding(segment_id, model_id, n_patches) VALUES (1, 1, 3)",
		"INSERT INTO embedding(segment_id, model_id, n_patches) VALUES (2, 1, 3)",
		"UPDATE embedding SET run_id = NULL, n_patches = 4 WHERE segment_id = 1",
		"DELETE FROM embedding WHERE segment_id = 1",
		"UPDATE segment SET source_group = 'g2' WHERE id = 1",
		"DELETE FROM segment WHERE id = 2", /* its embedding goes with it */
	};
	for (size_t i = 0; i < sizeof writes / sizeof *writes; i++) {
		assert_int_equal(aed_db_exec(db, writes[i]), AED_OK);
		assert_int_equal(aed_db_int(db, q, &e), AED_OK);
		assert_int_equal(e, e0 + (int64_t)i + 1);
	}
	assert_int_equal(aed_db_int(db, "SELECT count(*) FROM embedding", &e), AED_OK);
	assert_int_equal(e, 0);
	/* Other columns of a segment do not move it. */
	assert_int_equal(aed_db_exec(db, "UPDATE segment SET meta = '{}' WHERE id = 1"), AED_OK);
	assert_int_equal(aed_db_int(db, q, &e), AED_OK);
	assert_int_equal(e, e0 + 6);
	aed_db_free(&db);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_migrate_and_refuse),
		cmocka_unit_test(test_shard),
		cmocka_unit_test(test_parallel_workers),
		cmocka_unit_test(test_kill_and_resume),
		cmocka_unit_test(test_failed_items_retry_later),
		cmocka_unit_test(test_run_envelope),
		cmocka_unit_test(test_claim_selection),
		cmocka_unit_test(test_claim_shard),
		cmocka_unit_test(test_claim_no_filter),
		cmocka_unit_test(test_digest),
		cmocka_unit_test(test_reader_many_files),
		cmocka_unit_test(test_reader_rows),
		cmocka_unit_test(test_cache_files),
		cmocka_unit_test(test_index_epoch),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
