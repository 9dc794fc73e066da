/* embed.h - the embed stage: YAMNet over every stored log-mel, through the
 * patch runner of nn.h; on a clip's way from a CSV row to a shard it comes
 * after features and before index build, mine, refine and export.
 *
 * Stage "embed", item = segment id, eligible = segments with an array of kind
 * "logmel_yamnet" (f32 [frames, 64], from `features`). For each it stores
 * kind "embedding" f32 [patches, 1024] and kind "scores" f32 [patches, 521]
 * (patch i = frames [48 i, 48 i + 96), cut by aed_yamnet_cut_patches at hop
 * 48) and an embedding row naming the model (sql/0004_model.sql).
 * Resumable: a segment is done exactly when its arrays and its row commit.
 * A segment whose log-mel was stored by a later run than its embedding is
 * embedded again.
 *
 * Ownership: functions taking a struct aed_db only borrow it; the options
 * and stats are the caller's. aed_stage_embed returns an enum aed_status
 * and records a message on failure.
 */
#ifndef AEDCURATE_EMBED_H
#define AEDCURATE_EMBED_H

#include <stdint.h>

#include "aedcurate/nn.h"
#include "aedcurate/store.h" /* struct aed_shard, AED_WORK_MAX_ATTEMPTS_DEFAULT */

struct aed_db;

struct aed_embed_opts {
	const char *model_path;  /* NULL: aed_yamnet_find_model's search */
	const char *backend;     /* NULL: the first backend, "cpu" */
	int batch;               /* patches per network batch; 0 = the default */
	int threads;             /* 0 = all cores */
	int redo;                /* forget earlier results (also of another model) */
	struct aed_shard shard;  /* --shard I/N; count 0 = all */
	int max_attempts;        /* 0 = the default */
	int64_t limit;           /* stop after this many segments; 0 = all */
};
/* Defaults: aed_embed_opts_init() and `aedcurate embed`'s option rows. */
#define AED_EMBED_BATCH_DEFAULT 32
static inline void aed_embed_opts_init(struct aed_embed_opts *o)
{
	*o = (struct aed_embed_opts){
		.batch = AED_EMBED_BATCH_DEFAULT,
		.max_attempts = AED_WORK_MAX_ATTEMPTS_DEFAULT,
	};
}

struct aed_embed_stats {
	int64_t run_id;
	int64_t done, failed, skipped; /* segments */
	int64_t patches;               /* computed by this run */
	double net_seconds;            /* time inside the network */
	char model_sha256[65];
};

int aed_stage_embed(struct aed_db *db, const struct aed_embed_opts *o,
		    struct aed_embed_stats *st);

#endif
