/* workpool.c - worker threads that claim a stage's items in batches, compute
 * them in parallel and commit each batch's arrays, rows and work states in one
 * transaction (see workpool.h). A kill at any moment leaves every item either
 * done with its results stored or not done with nothing visible. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "aedcurate/error.h"
#include "aedcurate/store.h"
#include "aedcurate/util.h"
#include "stage/workpool.h"

#define DEFAULT_MAX_ATTEMPTS AED_WORK_MAX_ATTEMPTS_DEFAULT
#define MAX_BATCH 1024

struct pool {
	struct aed_db *db;              /* the caller's handle: runs only */
	const struct aed_pool_ops *ops;
	void *shared;
	int batch, max_attempts;
	struct aed_work_filter filter;  /* claims: this run's shard only */
	int64_t run_id;
	struct aed_progress *progress;
	atomic_llong done, failed;
	atomic_int stop;                /* a worker hit a fatal error */
	pthread_mutex_t err_lock;
	int err_rc;
	char err_msg[1024];
};

struct worker {
	struct pool *p;
	int index;
	pthread_t tid;
};

static void pool_fatal(struct pool *p, int rc)
{
	pthread_mutex_lock(&p->err_lock);
	if (!p->err_rc) {
		p->err_rc = rc;
		snprintf(p->err_msg, sizeof p->err_msg, "%s", aed_last_error());
	}
	pthread_mutex_unlock(&p->err_lock);
	atomic_store(&p->stop, 1);
}

static void out_release(struct aed_pool_out *o)
{
	free(o->error);
	free(o->data);
	free(o->extra);
	memset(o, 0, sizeof *o);
}

static size_t out_nbytes(const struct aed_pool_out *o)
{
	return (size_t)(o->dims[0] * (o->dims[1] ? o->dims[1] : 1) * (o->dims[2] ? o->dims[2] : 1)) *
	       aed_dtype_size(o->dtype);
}

/* Store one computed batch: arrays first (synced), then one transaction. */
static int store_batch(struct pool *p, void *tls, struct aed_db *db, struct aed_array_writer *w,
		       const int64_t *items, struct aed_pool_out *outs, int64_t *offs, int n)
{
	int rc = AED_OK, any = 0;
	for (int i = 0; i < n; i++) {
		if (outs[i].failed)
			continue;
		if ((rc = aed_array_append(w, outs[i].data, out_nbytes(&outs[i]), &offs[i])))
			return rc;
		any = 1;
	}
	if (any && (rc = aed_array_sync(w)))
		return rc;
	if ((rc = aed_db_begin(db)))
		return rc;
	for (int i = 0; i < n; i++) {
		const struct aed_pool_out *o = &outs[i];
		if (!o->failed) {
			if ((rc = aed_array_record(w, items[i], offs[i], o->dtype, o->dims)))
				goto out;
		}
		if (p->ops->record && (rc = p->ops->record(tls, db, items[i], p->run_id, o)))
			goto out;
		rc = o->failed ? aed_work_fail(db, p->ops->stage, items[i], o->error)
			       : aed_work_done(db, p->ops->stage, items[i]);
		if (rc)
			goto out;
	}
	if (any && (rc = aed_array_commit_size(w)))
		goto out;
	rc = aed_db_commit(db);
out:
	if (rc)
		aed_db_rollback(db);
	return rc;
}

/* Compute and store one claimed batch; the outputs are released either way. */
static int run_batch(struct pool *p, void *tls, struct aed_db *db, struct aed_array_writer *w,
		     const int64_t *items, struct aed_pool_out *outs, int n)
{
	int64_t offs[MAX_BATCH];
	int rc = AED_OK;
	for (int i = 0; i < n && !rc; i++) {
		rc = p->ops->compute(tls, db, items[i], &outs[i]);
		if (!rc && outs[i].failed && !outs[i].error)
			outs[i].error = strdup("failed");
	}
	if (!rc)
		rc = store_batch(p, tls, db, w, items, outs, offs, n);
	for (int i = 0; i < n; i++) {
		if (!rc)
			atomic_fetch_add(outs[i].failed ? &p->failed : &p->done, 1);
		out_release(&outs[i]);
	}
	if (!rc)
		aed_progress_add(p->progress, n);
	return rc;
}

static void *worker_main(void *arg)
{
	struct worker *wk = arg;
	struct pool *p = wk->p;
	struct aed_db *db = NULL;
	struct aed_array_writer *w = NULL;
	void *tls = NULL;
	int64_t items[MAX_BATCH];
	struct aed_pool_out *outs = calloc((size_t)p->batch, sizeof *outs);
	int rc;

	if (!outs) {
		rc = aed_error(AED_ENOMEM, "out of memory");
		goto out;
	}
	if ((rc = aed_db_open(aed_db_path(p->db), 0, &db)))
		goto out;
	if ((rc = aed_array_writer_new(db, p->ops->kind, p->run_id, wk->index, &w)))
		goto out;
	if (p->ops->thread_init && (rc = p->ops->thread_init(p->shared, db, &tls)))
		goto out;
	while (!atomic_load(&p->stop)) {
		int n = 0;
		if ((rc = aed_work_claim(db, p->ops->stage, p->run_id, p->batch, p->max_attempts,
					  &p->filter, items, &n)))
			goto out;
		if (n == 0)
			break;
		if ((rc = run_batch(p, tls, db, w, items, outs, n)))
			goto out;
	}
out:
	if (rc)
		pool_fatal(p, rc);
	if (p->ops->thread_free && tls)
		p->ops->thread_free(tls);
	aed_array_writer_free(&w);
	aed_db_free(&db);
	free(outs);
	return NULL;
}

static int count_todo(struct aed_db *db, const char *stage, int max_attempts, int64_t *todo)
{
	sqlite3_stmt *st;
	int rc = aed_db_prepare(db, "SELECT count(*) FROM work WHERE stage = ?1 AND (state IN "
				    "('pending', 'claimed') OR (state = 'failed' AND attempts < ?2))", &st);
	if (rc)
		return rc;
	sqlite3_bind_text(st, 1, stage, -1, SQLITE_STATIC);
	sqlite3_bind_int(st, 2, max_attempts);
	*todo = sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
	sqlite3_finalize(st);
	return AED_OK;
}

int aed_pool_run(struct aed_db *db, const struct aed_pool_ops *ops, void *shared,
		 const struct aed_pool_cfg *cfg, struct aed_stage_stats *st)
{
	struct pool p = { .db = db, .ops = ops, .shared = shared };
	struct worker *wk = NULL;
	struct aed_work_counts before;
	int64_t todo = 0;
	int rc, nthreads = cfg->threads > 0 ? cfg->threads : aed_ncpu(), started = 0, in_run = 0;

	memset(st, 0, sizeof *st);
	pthread_mutex_init(&p.err_lock, NULL);
	p.batch = cfg->batch > 0 ? cfg->batch : 16;
	if (p.batch > MAX_BATCH)
		p.batch = MAX_BATCH;
	p.max_attempts = cfg->max_attempts > 0 ? cfg->max_attempts : DEFAULT_MAX_ATTEMPTS;
	p.filter.shard = cfg->shard;
	if ((cfg->redo && (rc = aed_work_reset(db, ops->stage))) ||
	    (rc = aed_work_seed(db, ops->stage, ops->select_sql, &cfg->shard, NULL))) {
		json_decref(cfg->params);
		goto out;
	}
	if ((rc = aed_run_begin(db, ops->stage, cfg->params, &p.run_id)))
		goto out;
	in_run = 1;
	st->run_id = p.run_id;
	if ((rc = aed_work_counts(db, ops->stage, &before)) ||
	    (rc = count_todo(db, ops->stage, p.max_attempts, &todo)))
		goto out;
	st->skipped = before.done;
	if (todo == 0)
		goto out;
	if ((int64_t)nthreads > (todo + p.batch - 1) / p.batch)
		nthreads = (int)((todo + p.batch - 1) / p.batch);
	p.progress = aed_progress_new(cfg->label, todo);
	if (!(wk = calloc((size_t)nthreads, sizeof *wk))) {
		rc = aed_error(AED_ENOMEM, "out of memory");
		goto out;
	}
	for (int i = 0; i < nthreads; i++) {
		wk[i].p = &p;
		wk[i].index = i;
		if (pthread_create(&wk[i].tid, NULL, worker_main, &wk[i]) != 0) {
			pool_fatal(&p, aed_error(AED_EIO, "cannot start worker thread %d", i));
			break;
		}
		started++;
	}
	for (int i = 0; i < started; i++)
		pthread_join(wk[i].tid, NULL);
	if (p.err_rc) {
		rc = aed_error(p.err_rc, "%s", p.err_msg);
		aed_work_release(db, ops->stage, p.run_id);
	}
out:
	aed_progress_free(&p.progress);
	st->done = atomic_load(&p.done);
	st->failed = atomic_load(&p.failed);
	if (in_run && rc)
		aed_run_fail(db, p.run_id, rc, st->done, st->failed);
	else if (in_run)
		rc = aed_run_end(db, p.run_id, AED_RUN_OK, st->done, st->failed, NULL);
	free(wk);
	pthread_mutex_destroy(&p.err_lock);
	return rc;
}
