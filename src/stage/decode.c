/* decode.c - the decode stage: each fetched segment's audio becomes a 16 kHz
 * mono int16 clip of exactly the clip length in the array store (kind "clip")
 * plus a row in `clip`; a segment that cannot be decoded gets a failed work
 * row with FFmpeg's reason and the stage goes on. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "aedcurate/audio.h"
#include "aedcurate/decode.h"
#include "aedcurate/error.h"
#include "aedcurate/store.h"
#include "stage/workpool.h"

struct decode_shared {
	double clip_seconds;
};

struct decode_tls {
	const struct decode_shared *sh;
	sqlite3_stmt *media, *ins, *del_clip, *del_ref;
};

/* What goes into the clip row of a decoded item. */
struct clip_row {
	int64_t n_samples, n_total, start_ms;
	double peak, rms_db;
	struct aed_media_info info;
};

static void decode_tls_free(void *p)
{
	struct decode_tls *t = p;
	sqlite3_finalize(t->media);
	sqlite3_finalize(t->ins);
	sqlite3_finalize(t->del_clip);
	sqlite3_finalize(t->del_ref);
	free(t);
}

static int decode_tls_init(void *shared, struct aed_db *db, void **out)
{
	struct decode_tls *t = calloc(1, sizeof *t);
	int rc;
	if (!t)
		return aed_error(AED_ENOMEM, "out of memory");
	t->sh = shared;
	if ((rc = aed_db_prepare(db, "SELECT m.path, m.whole_video, s.start_ms, s.end_ms FROM media m "
				     "JOIN segment s ON s.id = m.segment_id WHERE m.segment_id = ?", &t->media)) ||
	    (rc = aed_db_prepare(db, "INSERT OR REPLACE INTO clip(segment_id, n_samples, n_total, "
				     "start_ms, source_rate, channels, codec, peak, rms_db, run_id) "
				     "VALUES(?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", &t->ins)) ||
	    (rc = aed_db_prepare(db, "DELETE FROM clip WHERE segment_id = ?", &t->del_clip)) ||
	    (rc = aed_db_prepare(db, "DELETE FROM array_ref WHERE kind = 'clip' AND item = ?",
				     &t->del_ref))) {
		decode_tls_free(t);
		return rc;
	}
	*out = t;
	return AED_OK;
}

static int item_failed(struct aed_pool_out *out, const char *msg)
{
	out->failed = 1;
	out->error = strdup(msg);
	return AED_OK;
}

static int decode_compute(void *tlsp, struct aed_db *db, int64_t item, struct aed_pool_out *out)
{
	struct decode_tls *t = tlsp;
	char *path = NULL;
	float *x = NULL;
	size_t n = 0;
	int rc = AED_OK;
	struct clip_row *row = NULL;
	int64_t total = llround(t->sh->clip_seconds * AED_SAMPLE_RATE);

	sqlite3_bind_int64(t->media, 1, item);
	int s = sqlite3_step(t->media);
	if (s != SQLITE_ROW) {
		rc = s == SQLITE_DONE ? item_failed(out, "no media row for this segment")
				      : aed_db_error(db, "reading media");
		sqlite3_reset(t->media);
		return rc;
	}
	const char *p = (const char *)sqlite3_column_text(t->media, 0);
	path = p ? strdup(p) : NULL;
	int whole_video = sqlite3_column_int(t->media, 1);
	int64_t start_ms = sqlite3_column_int64(t->media, 2);
	int has_end = sqlite3_column_type(t->media, 3) != SQLITE_NULL;
	int64_t end_ms = sqlite3_column_int64(t->media, 3);
	sqlite3_reset(t->media);
	if (!path) {
		rc = item_failed(out, "media row has no path");
		goto out;
	}
	/* A whole video is cut at [start, end); a file that is the segment is
	 * taken from its beginning. Either way at most the clip length. */
	double start_s = whole_video ? start_ms / 1000.0 : 0.0;
	double dur_s = t->sh->clip_seconds;
	if (whole_video && has_end && end_ms > start_ms && (end_ms - start_ms) / 1000.0 < dur_s)
		dur_s = (end_ms - start_ms) / 1000.0;
	if (!(row = calloc(1, sizeof *row)) || !(out->data = calloc((size_t)total, sizeof(int16_t)))) {
		rc = aed_error(AED_ENOMEM, "out of memory");
		goto out;
	}
	if (aed_decode_range_info(path, start_s, dur_s, AED_SAMPLE_RATE, &x, &n, &row->info) != AED_OK) {
		rc = item_failed(out, aed_last_error());
		goto out;
	}
	if ((int64_t)n > total)
		n = (size_t)total;
	aed_f32_to_s16(x, n, out->data); /* the rest stays zero: padding */
	double peak = 0, ss = 0;
	for (size_t i = 0; i < n; i++) {
		double v = fabs((double)x[i]);
		peak = v > peak ? v : peak;
		ss += (double)x[i] * x[i];
	}
	double rms = n ? sqrt(ss / (double)n) : 0;
	row->n_samples = (int64_t)n;
	row->n_total = total;
	row->start_ms = llround(start_s * 1000);
	row->peak = peak;
	row->rms_db = rms > 1e-6 ? 20 * log10(rms) : -120.0;
	out->dtype = AED_I16;
	out->dims[0] = total;
	out->dims[1] = out->dims[2] = 1;
	out->extra = row;
	row = NULL;
out:
	if (out->failed) {
		free(out->data);
		out->data = NULL;
	}
	free(row);
	free(x);
	free(path);
	return rc;
}

static int decode_record(void *tlsp, struct aed_db *db, int64_t item, int64_t run_id,
			 const struct aed_pool_out *out)
{
	struct decode_tls *t = tlsp;
	int rc = AED_OK;
	/* A clip decoded again (--redo) makes what was made of it stale: the
	 * stages that read clips compute it again. A redo that now fails leaves
	 * no old clip and nothing made of it. */
	if ((rc = aed_work_input_changed(db, "clip", item, out->failed)))
		return rc;
	if (out->failed) {
		sqlite3_stmt *dels[2] = { t->del_clip, t->del_ref };
		for (int i = 0; i < 2 && !rc; i++) {
			sqlite3_bind_int64(dels[i], 1, item);
			if (sqlite3_step(dels[i]) != SQLITE_DONE)
				rc = aed_db_error(db, "removing an old clip");
			sqlite3_reset(dels[i]);
		}
		return rc;
	}
	const struct clip_row *r = out->extra;
	sqlite3_stmt *st = t->ins;
	sqlite3_bind_int64(st, 1, item);
	sqlite3_bind_int64(st, 2, r->n_samples);
	sqlite3_bind_int64(st, 3, r->n_total);
	sqlite3_bind_int64(st, 4, r->start_ms);
	sqlite3_bind_int(st, 5, r->info.sample_rate);
	sqlite3_bind_int(st, 6, r->info.channels);
	sqlite3_bind_text(st, 7, r->info.codec, -1, SQLITE_STATIC);
	sqlite3_bind_double(st, 8, r->peak);
	sqlite3_bind_double(st, 9, r->rms_db);
	sqlite3_bind_int64(st, 10, run_id);
	if (sqlite3_step(st) != SQLITE_DONE)
		rc = aed_db_error(db, "recording clip");
	sqlite3_reset(st);
	return rc;
}

int aed_stage_decode(struct aed_db *db, const struct aed_decode_opts *o, struct aed_stage_stats *st)
{
	char shard[32];
	struct decode_shared sh = { .clip_seconds = o->clip_seconds > 0 ? o->clip_seconds : AED_DECODE_CLIP_SECONDS_DEFAULT };
	if (!(sh.clip_seconds <= 3600.0))
		return aed_error(AED_EUSAGE, "--clip-seconds %g: at most 3600", sh.clip_seconds);
	static const struct aed_pool_ops ops = {
		.stage = "decode",
		.kind = "clip",
		.select_sql = "SELECT segment_id FROM media WHERE status = 'ok'",
		.thread_init = decode_tls_init,
		.thread_free = decode_tls_free,
		.compute = decode_compute,
		.record = decode_record,
	};
	snprintf(shard, sizeof shard, "%d/%d", o->shard.index, o->shard.count);
	struct aed_pool_cfg cfg = {
		.threads = o->threads,
		.shard = o->shard,
		.max_attempts = o->max_attempts,
		.redo = o->redo,
		.batch = o->batch > 0 ? o->batch : AED_DECODE_BATCH_DEFAULT,
		.params = json_pack("{s:f, s:i, s:s, s:s}", "clip_seconds", sh.clip_seconds,
				    "sample_rate", AED_SAMPLE_RATE, "dtype", "i16", "shard", shard),
		.label = "decode",
	};
	return aed_pool_run(db, &ops, &sh, &cfg, st);
}
