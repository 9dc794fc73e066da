/* workpool.h - the worker-thread driver shared by the decode and features
 * stages: seed the stage's work, start a run, let N threads claim batches,
 * compute each item outside any transaction, then store a batch's arrays and
 * rows and mark its items done or failed in one transaction.
 *
 * Nothing in it is about audio: it drives any stage whose items are segments
 * and whose output is one array per item, over the store's work claims, runs
 * and array writer (so it sits on the stage floor, not in util, which is
 * below the store). On a clip's way from a CSV row to a shard it turns fetched
 * media into clips and clips into log-mels.
 *
 * Ownership: compute() fills a struct aed_pool_out whose data (malloc'd) and
 * extra (malloc'd, may be NULL) the pool frees after the batch commits.
 * Private to src/stage; not a public contract.
 */
#ifndef AEDCURATE_WORKPOOL_H
#define AEDCURATE_WORKPOOL_H

#include <stdint.h>

#include "aedcurate/decode.h"
#include "aedcurate/store.h"

struct aed_pool_out {
	int failed;             /* 1: the item failed; error says why */
	char *error;            /* malloc'd, when failed */
	void *data;             /* the array to store, malloc'd */
	enum aed_dtype dtype;
	int64_t dims[3];
	void *extra;            /* stage-specific row data, malloc'd or NULL */
};

struct aed_pool_ops {
	const char *stage;      /* work stage name: "decode", "features_yamnet" */
	const char *kind;       /* array kind written: "clip", "logmel_yamnet" */
	const char *select_sql; /* eligible segment ids (one column) */
	/* Per worker thread: prepare what compute/record need on its own handle. */
	int (*thread_init)(void *shared, struct aed_db *db, void **tls);
	void (*thread_free)(void *tls);
	/* Outside any transaction. Return non-zero only for errors that must stop
	 * the stage (the database failing); an item's own failure goes in out. */
	int (*compute)(void *tls, struct aed_db *db, int64_t item, struct aed_pool_out *out);
	/* Inside the batch's transaction, after the array is recorded (done) or
	 * for a failed item. May be NULL. */
	int (*record)(void *tls, struct aed_db *db, int64_t item, int64_t run_id,
		      const struct aed_pool_out *out);
};

struct aed_pool_cfg {
	int threads;            /* 0 = all cores */
	struct aed_shard shard;
	int max_attempts;       /* 0 = 3 */
	int redo;
	int batch;              /* items per claim and per transaction */
	struct json_t *params;  /* the run's params; taken (released) by aed_pool_run */
	const char *label;      /* progress label */
};

int aed_pool_run(struct aed_db *db, const struct aed_pool_ops *ops, void *shared,
		 const struct aed_pool_cfg *cfg, struct aed_stage_stats *st);

#endif
