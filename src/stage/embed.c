/* embed.c - the embed stage: YAMNet over every segment's log-mel patches
 * (the patch runner of nn.h), storing per patch the 1024-d embedding and the
 * 521 AudioSet scores.
 * Work is claimed a few segments at a time; a segment's arrays and its
 * 'done' state commit in one transaction, so a killed run resumes cleanly. */
#include "aedcurate/audio.h"
#include "aedcurate/embed.h"
#include "aedcurate/error.h"
#include "aedcurate/message.h"
#include "aedcurate/nn.h"
#include "aedcurate/store.h"
#include "aedcurate/util.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define STAGE "embed"
#define CLAIM 16 /* segments per transaction */

struct item {
	int64_t id;
	size_t first, n;  /* its patches in the batch buffers */
	char error[256];  /* non-empty: the item failed */
};

/* Insert the model row (or refresh its path) and return its id. */
static int upsert_model(struct aed_db *db, const struct aed_yamnet *y, int64_t *id)
{
	sqlite3_stmt *st = NULL;
	char now[32];
	int rc;

	aed_utc_iso8601(now);
	if ((rc = aed_db_begin(db)))
		return rc;
	rc = aed_db_prepare(db,
			    "INSERT INTO model(name, sha256, path, embed_dim, n_classes, patch_frames, "
			    "patch_hop, quantized, macs, added_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, "
			    "?8, ?9, ?10) ON CONFLICT(sha256) DO UPDATE SET path = excluded.path",
			    &st);
	if (rc)
		goto out;
	sqlite3_bind_text(st, 1, y->name, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, y->sha256, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, y->path, -1, SQLITE_STATIC);
	sqlite3_bind_int(st, 4, AED_YAMNET_EMBED_DIM);
	sqlite3_bind_int(st, 5, AED_YAMNET_CLASSES);
	sqlite3_bind_int(st, 6, AED_YAMNET_PATCH_FRAMES);
	sqlite3_bind_int(st, 7, AED_YAMNET_PATCH_FRAMES / 2);
	sqlite3_bind_int(st, 8, y->quantized);
	sqlite3_bind_int64(st, 9, y->macs);
	sqlite3_bind_text(st, 10, now, -1, SQLITE_STATIC);
	if (sqlite3_step(st) != SQLITE_DONE) {
		rc = aed_db_error(db, "model");
		goto out;
	}
	sqlite3_finalize(st);
	st = NULL;
	if ((rc = aed_db_prepare(db, "SELECT id FROM model WHERE sha256 = ?1", &st)))
		goto out;
	sqlite3_bind_text(st, 1, y->sha256, -1, SQLITE_STATIC);
	if (sqlite3_step(st) != SQLITE_ROW) {
		rc = aed_db_error(db, "model");
		goto out;
	}
	*id = sqlite3_column_int64(st, 0);
	rc = aed_db_commit(db);
out:
	sqlite3_finalize(st);
	if (rc)
		aed_db_rollback(db);
	return rc;
}

/* Refuse to mix results of two model files unless --redo. */
static int check_model(struct aed_db *db, const struct aed_yamnet *y, int64_t model_id, int redo)
{
	sqlite3_stmt *st = NULL;
	int rc;

	if (redo) {
		if ((rc = aed_db_begin(db)))
			return rc;
		if ((rc = aed_db_exec(db, "DELETE FROM embedding")) ||
		    (rc = aed_work_reset(db, STAGE))) {
			aed_db_rollback(db);
			return rc;
		}
		return aed_db_commit(db);
	}
	if ((rc = aed_db_prepare(db,
				 "SELECT m.name, m.sha256, count(*) FROM embedding e JOIN model m "
				 "ON m.id = e.model_id WHERE e.model_id <> ?1 GROUP BY m.id LIMIT 1",
				 &st)))
		return rc;
	sqlite3_bind_int64(st, 1, model_id);
	if (sqlite3_step(st) == SQLITE_ROW)
		rc = aed_error(AED_ESTATE,
			       "%lld segments were embedded with another model file (%s, sha256 %s); "
			       "this one is %s sha256 %s. Pass --redo to recompute all of them",
			       (long long)sqlite3_column_int64(st, 2),
			       (const char *)sqlite3_column_text(st, 0),
			       (const char *)sqlite3_column_text(st, 1), y->name, y->sha256);
	sqlite3_finalize(st);
	return rc;
}

/* Load one segment's log-mel and append its patches to *buf. */
static int gather(struct aed_db *db, struct item *it, float **buf, size_t *cap, size_t *used)
{
	struct aed_array a = { 0 };
	int rc = aed_array_get(db, aed_logmel_kind(AED_PRESET_YAMNET), it->id, &a);
	if (rc == AED_ENOTFOUND) {
		snprintf(it->error, sizeof it->error, "no logmel_yamnet array (run features)");
		return AED_OK;
	}
	if (rc)
		return rc;
	size_t frames = (size_t)a.dims[0];
	if (a.dtype != AED_F32 || a.dims[1] != AED_YAMNET_MEL_BANDS || a.dims[2] != 1) {
		snprintf(it->error, sizeof it->error,
			 "logmel_yamnet array is %s [%lld,%lld,%lld], expected f32 [frames,64]",
			 aed_dtype_name(a.dtype), (long long)a.dims[0], (long long)a.dims[1],
			 (long long)a.dims[2]);
		goto out;
	}
	it->n = aed_patch_count(frames, AED_PRESET_YAMNET);
	it->first = *used;
	if (it->n == 0) {
		snprintf(it->error, sizeof it->error, "no log-mel frames (clip shorter than 25 ms)");
		goto out;
	}
	if (*used + it->n > *cap) {
		size_t ncap = (*used + it->n) * 2;
		float *p = realloc(*buf, ncap * AED_YAMNET_PATCH_FLOATS * sizeof *p);
		if (!p) {
			rc = aed_error(AED_ENOMEM, "segment %lld: out of memory for %zu patches",
				       (long long)it->id, it->n);
			goto out;
		}
		*buf = p;
		*cap = ncap;
	}
	aed_yamnet_cut_patches(a.data, frames, AED_YAMNET_PATCH_FRAMES / 2, it->n,
			       *buf + *used * AED_YAMNET_PATCH_FLOATS);
	*used += it->n;
out:
	aed_array_release(&a);
	return rc;
}

static int store_batch(struct aed_db *db, struct aed_array_writer *we, struct aed_array_writer *ws,
		       int64_t model_id, int64_t run_id, struct item *items, int n,
		       const float *emb, const float *scores)
{
	int64_t *off = calloc((size_t)n * 2, sizeof *off);
	sqlite3_stmt *st = NULL;
	int rc = AED_OK;

	if (!off)
		return aed_error(AED_ENOMEM, "out of memory");
	for (int i = 0; i < n; i++) {
		struct item *it = &items[i];
		if (it->error[0])
			continue;
		if ((rc = aed_array_append(we, emb + it->first * AED_YAMNET_EMBED_DIM,
					   it->n * AED_YAMNET_EMBED_DIM * sizeof(float), &off[2 * i])) ||
		    (rc = aed_array_append(ws, scores + it->first * AED_YAMNET_CLASSES,
					   it->n * AED_YAMNET_CLASSES * sizeof(float), &off[2 * i + 1])))
			goto out;
	}
	if ((rc = aed_array_sync(we)) || (rc = aed_array_sync(ws)) || (rc = aed_db_begin(db)))
		goto out;
	if ((rc = aed_db_prepare(db, "INSERT OR REPLACE INTO embedding(segment_id, model_id, "
				     "n_patches, run_id) VALUES (?1, ?2, ?3, ?4)", &st)))
		goto fail;
	for (int i = 0; i < n; i++) {
		struct item *it = &items[i];
		if (it->error[0]) {
			if ((rc = aed_work_fail(db, STAGE, it->id, it->error)))
				goto fail;
			continue;
		}
		int64_t de[3] = { (int64_t)it->n, AED_YAMNET_EMBED_DIM, 1 };
		int64_t ds[3] = { (int64_t)it->n, AED_YAMNET_CLASSES, 1 };
		if ((rc = aed_array_record(we, it->id, off[2 * i], AED_F32, de)) ||
		    (rc = aed_array_record(ws, it->id, off[2 * i + 1], AED_F32, ds)))
			goto fail;
		sqlite3_reset(st);
		sqlite3_bind_int64(st, 1, it->id);
		sqlite3_bind_int64(st, 2, model_id);
		sqlite3_bind_int64(st, 3, (int64_t)it->n);
		sqlite3_bind_int64(st, 4, run_id);
		if (sqlite3_step(st) != SQLITE_DONE) {
			rc = aed_db_error(db, "embedding");
			goto fail;
		}
		if ((rc = aed_work_done(db, STAGE, it->id)))
			goto fail;
	}
	if ((rc = aed_array_commit_size(we)) || (rc = aed_array_commit_size(ws)) ||
	    (rc = aed_db_commit(db)))
		goto fail;
	goto out;
fail:
	aed_db_rollback(db);
out:
	sqlite3_finalize(st);
	free(off);
	return rc;
}

int aed_stage_embed(struct aed_db *db, const struct aed_embed_opts *o, struct aed_embed_stats *s)
{
	const struct aed_nn_backend_ops *be = aed_nn_backend(o->backend);
	struct aed_yamnet *y = NULL;
	struct aed_yamnet_runner rn = { 0 };
	struct aed_array_writer *we = NULL, *ws = NULL;
	struct aed_progress *prog = NULL;
	struct aed_work_counts wc;
	struct item items[CLAIM];
	int64_t ids[CLAIM], model_id = 0, run_id = 0;
	float *patches = NULL, *emb = NULL, *scores = NULL;
	size_t cap = 0, out_cap = 0;
	char *path = NULL;
	int rc, batch = o->batch > 0 ? o->batch : AED_EMBED_BATCH_DEFAULT;
	int max_attempts = o->max_attempts > 0 ? o->max_attempts : AED_WORK_MAX_ATTEMPTS_DEFAULT;
	struct aed_shard shard = o->shard;
	struct aed_work_filter only = { .shard = shard }; /* claims too, not just seeding */

	memset(s, 0, sizeof *s);
	if (!be)
		return aed_error(AED_EUSAGE, "no backend named '%s' (available: cpu)", o->backend);
	if (batch > 4096)
		return aed_error(AED_EUSAGE, "--batch %d: at most 4096 patches", batch);
	if ((rc = aed_yamnet_find_model(o->model_path, &path)) || (rc = aed_yamnet_load(path, &y)))
		goto out;
	memcpy(s->model_sha256, y->sha256, sizeof s->model_sha256);
	if ((rc = upsert_model(db, y, &model_id)) || (rc = check_model(db, y, model_id, o->redo)))
		goto out;

	json_t *pj = json_pack("{s:o, s:s, s:o, s:s, s:i, s:i}", "model", aed_json_text(y->name),
			       "sha256", y->sha256, "path", aed_json_text(y->path), "backend", be->name, "batch", batch,
			       "threads", o->threads);
	if ((rc = aed_run_begin(db, STAGE, pj, &run_id)))
		goto out;
	s->run_id = run_id;
	if ((rc = aed_work_seed(db, STAGE, "SELECT item FROM array_ref WHERE kind = 'logmel_yamnet'",
				&shard, NULL)) ||
	    (rc = aed_work_counts(db, STAGE, &wc)))
		goto end;
	s->skipped = wc.done;
	if ((rc = aed_array_writer_new(db, "embedding", run_id, 0, &we)) ||
	    (rc = aed_array_writer_new(db, "scores", run_id, 0, &ws)))
		goto end;
	if ((rc = aed_yamnet_runner_init(&rn, y, be, batch, o->threads)))
		goto end;
	prog = aed_progress_new("embed", wc.pending + wc.failed);

	for (;;) {
		int n = 0, want = CLAIM;
		size_t used = 0;
		if (o->limit > 0 && s->done + s->failed + want > o->limit)
			want = (int)(o->limit - s->done - s->failed);
		if (want <= 0)
			break;
		if ((rc = aed_work_claim(db, STAGE, run_id, want, max_attempts, &only, ids, &n)))
			goto end;
		if (n == 0)
			break;
		for (int i = 0; i < n; i++) {
			memset(&items[i], 0, sizeof items[i]);
			items[i].id = ids[i];
			if ((rc = gather(db, &items[i], &patches, &cap, &used)))
				goto end;
		}
		if (used > out_cap) {
			float *e = realloc(emb, used * AED_YAMNET_EMBED_DIM * sizeof *e);
			if (e)
				emb = e;
			float *sc = e ? realloc(scores, used * AED_YAMNET_CLASSES * sizeof *sc) : NULL;
			if (sc)
				scores = sc;
			if (!e || !sc) {
				rc = aed_error(AED_ENOMEM, "out of memory for %zu patches", used);
				goto end;
			}
			out_cap = used;
		}
		double t0 = aed_now();
		if ((rc = aed_yamnet_runner_run(&rn, patches, used, emb, scores)))
			goto end;
		s->net_seconds += aed_now() - t0;
		if ((rc = store_batch(db, we, ws, model_id, run_id, items, n, emb, scores)))
			goto end;
		for (int i = 0; i < n; i++) {
			if (items[i].error[0])
				s->failed++;
			else
				s->done++;
		}
		s->patches += (int64_t)used;
		aed_progress_add(prog, n);
		if ((rc = aed_run_progress(db, run_id, s->done, s->failed)))
			goto end;
	}
end:
	if (rc) {
		aed_run_fail(db, run_id, rc, s->done, s->failed); /* claims go back too */
	} else {
		rc = aed_run_end(db, run_id, AED_RUN_OK, s->done, s->failed, NULL);
	}
out:
	aed_progress_free(&prog);
	aed_yamnet_runner_release(&rn);
	aed_array_writer_free(&we);
	aed_array_writer_free(&ws);
	aed_yamnet_free(&y);
	free(patches);
	free(emb);
	free(scores);
	free(path);
	return rc;
}
