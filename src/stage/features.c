/* features.c - the features stage: the log-mel of every decoded clip's real
 * audio, stored as f32 [frames, 64] arrays of kind "logmel_<preset>" (998
 * frames for a full 10 s clip). Patches are cut from these by the embedding stage. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "aedcurate/audio.h"
#include "aedcurate/decode.h"
#include "aedcurate/error.h"
#include "aedcurate/store.h"
#include "stage/workpool.h"

struct features_tls {
	enum aed_preset preset;
	sqlite3_stmt *del_ref;
	sqlite3_stmt *real;     /* the clip's real length in samples */
	char kind[32];
};

static void features_tls_free(void *p)
{
	struct features_tls *t = p;
	sqlite3_finalize(t->del_ref);
	sqlite3_finalize(t->real);
	free(t);
}

static int features_tls_init(void *shared, struct aed_db *db, void **out)
{
	struct features_tls *t = calloc(1, sizeof *t);
	if (!t)
		return aed_error(AED_ENOMEM, "out of memory");
	t->preset = *(const enum aed_preset *)shared;
	snprintf(t->kind, sizeof t->kind, "%s", aed_logmel_kind(t->preset));
	int rc = aed_db_prepare(db, "DELETE FROM array_ref WHERE kind = ? AND item = ?", &t->del_ref);
	if (!rc)
		rc = aed_db_prepare(db, "SELECT n_samples FROM clip WHERE segment_id = ?", &t->real);
	if (rc) {
		features_tls_free(t);
		return rc;
	}
	*out = t;
	return AED_OK;
}

static int features_compute(void *tlsp, struct aed_db *db, int64_t item, struct aed_pool_out *out)
{
	struct features_tls *t = tlsp;
	struct aed_array a;
	float *x = NULL, *mel = NULL;
	size_t frames = 0;
	int64_t real = -1;
	sqlite3_bind_int64(t->real, 1, item);
	int rc = sqlite3_step(t->real);
	if (rc == SQLITE_ROW)
		real = sqlite3_column_int64(t->real, 0);
	rc = rc == SQLITE_ROW || rc == SQLITE_DONE ? AED_OK : aed_db_error(db, "reading clip length");
	sqlite3_reset(t->real);
	if (rc)
		return rc;
	rc = aed_array_get(db, "clip", item, &a);
	if (rc == AED_EDB)
		return rc;
	if (rc == AED_OK && a.dtype != AED_I16)
		rc = aed_error(AED_EFORMAT, "clip of segment %lld is %s, expected i16", (long long)item,
			       aed_dtype_name(a.dtype));
	if (rc == AED_OK && real < 0)
		rc = aed_error(AED_EFORMAT, "segment %lld has a clip array but no clip row "
			       "(run decode --redo)", (long long)item);
	/* the real samples, padded as YAMNet pads them, not the clip's zero padding */
	size_t n = rc == AED_OK ? aed_logmel_samples((size_t)real, (size_t)a.dims[0], t->preset) : 0;
	if (rc == AED_OK && !(x = malloc((n ? n : 1) * sizeof *x)))
		rc = aed_error(AED_ENOMEM, "out of memory");
	if (rc == AED_OK) {
		aed_s16_to_f32(a.data, n, x);
		rc = aed_logmel(x, n, t->preset, &mel, &frames);
	}
	if (rc == AED_OK && frames == 0)
		rc = aed_error(AED_EFORMAT, "clip of segment %lld has %zu samples, fewer than one "
			       "%d-sample frame", (long long)item, n, AED_STFT_WINDOW);
	if (rc) {
		out->failed = 1;
		out->error = strdup(aed_last_error());
		free(mel);
	} else {
		out->data = mel;
		out->dtype = AED_F32;
		out->dims[0] = (int64_t)frames;
		out->dims[1] = AED_MEL_BANDS;
		out->dims[2] = 1;
	}
	free(x);
	aed_array_release(&a);
	return AED_OK;
}

static int features_record(void *tlsp, struct aed_db *db, int64_t item, int64_t run_id,
			   const struct aed_pool_out *out)
{
	struct features_tls *t = tlsp;
	int rc = AED_OK;
	(void)run_id;
	if (out->failed) {
		sqlite3_bind_text(t->del_ref, 1, t->kind, -1, SQLITE_STATIC);
		sqlite3_bind_int64(t->del_ref, 2, item);
		if (sqlite3_step(t->del_ref) != SQLITE_DONE)
			rc = aed_db_error(db, "removing old features");
		sqlite3_reset(t->del_ref);
	}
	/* A new log-mel (or none) makes the work of the stages that read it
	 * stale. What they made of the old one stays (an embedding is a row as
	 * well as arrays; a stage after embed replaces it when it runs again). */
	return rc ? rc : aed_work_input_changed(db, t->kind, item, 0);
}

int aed_stage_features(struct aed_db *db, const struct aed_features_opts *o, struct aed_stage_stats *st)
{
	char shard[32], stage[32];
	enum aed_preset preset = o->preset;
	if (preset != AED_PRESET_YAMNET && preset != AED_PRESET_VGGISH)
		return aed_error(AED_EUSAGE, "unknown preset %d", (int)preset);
	snprintf(stage, sizeof stage, "features_%s", aed_preset_name(preset));
	struct aed_pool_ops ops = {
		.stage = stage,
		.kind = aed_logmel_kind(preset),
		.select_sql = "SELECT segment_id FROM clip",
		.thread_init = features_tls_init,
		.thread_free = features_tls_free,
		.compute = features_compute,
		.record = features_record,
	};
	snprintf(shard, sizeof shard, "%d/%d", o->shard.index, o->shard.count);
	struct aed_pool_cfg cfg = {
		.threads = o->threads,
		.shard = o->shard,
		.max_attempts = o->max_attempts,
		.redo = o->redo,
		.batch = o->batch > 0 ? o->batch : AED_FEATURES_BATCH_DEFAULT,
		.params = json_pack("{s:s, s:i, s:i, s:i, s:i, s:s, s:s}", "preset",
				    aed_preset_name(preset), "window", AED_STFT_WINDOW, "hop",
				    AED_STFT_HOP, "fft", AED_FFT_SIZE, "bands", AED_MEL_BANDS,
				    "samples", "real", "shard", shard),
		.label = stage,
	};
	return aed_pool_run(db, &ops, &preset, &cfg, st);
}
