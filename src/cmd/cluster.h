/* cluster.h - what `run`, `status` and `submit` share for pipelines split
 * into shards (run_shard.c, submit.c). Private to src/cmd/. */
#ifndef AEDCURATE_CMD_CLUSTER_H
#define AEDCURATE_CMD_CLUSTER_H

#include <stdint.h>

#include "aedcurate/cli.h"

struct aed_db;

/* Failed work items in the database, every stage. */
int run_failed_items(struct aed_db *db, int64_t *n);
/* Work items not done (pending, claimed or failed), every stage. */
int run_unfinished_items(struct aed_db *db, int64_t *n);
/* After a shard's steps: AED_ESTATE naming the runs that still hold claims
 * on items (another process, or a dead one on another host), else AED_OK. */
int run_check_claimed(struct aed_db *db, const char *shard);
/* After a shard's steps: the message (AED_ESTATE) naming the first failed
 * items, or with allow set a warning and AED_OK. */
int run_report_failed(struct aed_db *db, const char *shard, int64_t n, int allow);
/* 1 when a merge changed the database at or after the time `when` (ISO
 * 8601 UTC, as pipeline_step.finished_at). */
int run_merged_since(struct aed_db *db, const char *when);

/* `aedcurate status WORKDIR`: a submit work dir's shards, corpus and jobs. */
int cmd_status_workdir(struct aed_ctx *ctx, const char *dir);

#endif
