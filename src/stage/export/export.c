/* export.c - the export stage: choose a class-balanced set of the decoded,
 * labelled clips, split it by source group with label stratification, add
 * optional same-class mixes for rare classes, and write WebDataset tar or
 * AudioSet-layout TFRecord shards with their index, manifest, priors and
 * README (layouts in include/aedcurate/export.h). Every choice is a function
 * of the database and the seed, so two runs write identical shards.
 *
 * This file runs the steps in order (internal.h lists them by file), records
 * the export and its samples, and owns the working set. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "aedcurate/error.h"
#include "aedcurate/message.h"
#include "aedcurate/outdir.h"
#include "stage/export/internal.h"

#define STAGE "export"

static int record_export(struct ex *x, const char *dir, const char *index_sha,
			 const struct aed_export_result *r)
{
	sqlite3_stmt *st = NULL;
	char now[32];
	json_t *p = ex_params_json(x);
	char *ps = p ? json_dumps(p, JSON_COMPACT | JSON_REAL_PRECISION(9)) : NULL;
	int rc;

	json_decref(p);
	aed_utc_iso8601(now);
	if ((rc = aed_db_begin(x->db)))
		goto out;
	if ((rc = aed_db_prepare(x->db,
				 "INSERT INTO export (run_id, out_dir, format, params, n_samples, "
				 "n_augmented, n_shards, index_sha256, created_at) "
				 "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)", &st)))
		goto out;
	sqlite3_bind_int64(st, 1, r->run_id);
	sqlite3_bind_text(st, 2, dir, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, ex_format_name(x->opt.format), -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 4, ps ? ps : "{}", -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 5, (int64_t)x->n_smp);
	sqlite3_bind_int64(st, 6, r->n_augmented);
	sqlite3_bind_int64(st, 7, r->n_shards);
	sqlite3_bind_text(st, 8, index_sha, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 9, now, -1, SQLITE_STATIC);
	if (sqlite3_step(st) != SQLITE_DONE) {
		rc = aed_db_error(x->db, "export: recording the export");
		goto out;
	}
	int64_t eid = sqlite3_last_insert_rowid(aed_db_sqlite(x->db));
	sqlite3_finalize(st);
	if ((rc = aed_db_prepare(x->db,
				 "INSERT INTO export_sample (export_id, key, segment_id, split, shard, "
				 "position, mix_a, mix_b) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)", &st)))
		goto out;
	for (size_t i = 0; i < x->n_smp; i++) {
		const struct xsample *sm = &x->smp[i];
		sqlite3_reset(st);
		sqlite3_clear_bindings(st);
		sqlite3_bind_int64(st, 1, eid);
		sqlite3_bind_text(st, 2, sm->key, -1, SQLITE_STATIC);
		if (sm->seg >= 0)
			sqlite3_bind_int64(st, 3, x->seg[sm->seg].id);
		sqlite3_bind_text(st, 4, x->opt.splits[sm->split].name, -1, SQLITE_STATIC);
		sqlite3_bind_int(st, 5, sm->shard);
		sqlite3_bind_int(st, 6, sm->position);
		if (sm->mix >= 0) {
			sqlite3_bind_int64(st, 7, x->seg[x->mix[sm->mix].a].id);
			sqlite3_bind_int64(st, 8, x->seg[x->mix[sm->mix].b].id);
		}
		if (sqlite3_step(st) != SQLITE_DONE) {
			rc = aed_db_error(x->db, "export: recording samples");
			goto out;
		}
	}
	rc = aed_db_commit(x->db);
out:
	if (rc)
		aed_db_rollback(x->db);
	sqlite3_finalize(st);
	free(ps);
	return rc;
}

static int count_refined(struct ex *x, struct aed_export_result *r)
{
	sqlite3_stmt *st = NULL;
	int rc = aed_db_prepare(x->db,
				"SELECT EXISTS (SELECT 1 FROM frame_mask WHERE segment_id = ?1) OR "
				"EXISTS (SELECT 1 FROM soft_label WHERE segment_id = ?1)", &st);
	if (rc)
		return rc;
	for (size_t i = 0; i < x->n_seg; i++) {
		if (!x->seg[i].sel)
			continue;
		sqlite3_reset(st);
		sqlite3_bind_int64(st, 1, x->seg[i].id);
		if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_int(st, 0))
			r->n_refined++;
	}
	sqlite3_finalize(st);
	return AED_OK;
}

static void ex_release(struct ex *x)
{
	for (size_t i = 0; i < x->n_cls; i++) {
		free(x->cls[i].mid);
		free(x->cls[i].name);
	}
	for (size_t i = 0; i < x->n_cls; i++)
		free(x->cls[i].anc);
	free(x->cls);
	free(x->col_cls);
	for (size_t i = 0; i < x->n_seg; i++) {
		free(x->seg[i].ingest);
		free(x->seg[i].key);
		free(x->seg[i].ytid);
		free(x->seg[i].group);
		free(x->seg[i].cls);
	}
	free(x->seg);
	for (size_t i = 0; i < x->n_mix; i++) {
		free(x->mix[i].cls_union);
		free(x->mix[i].key);
	}
	free(x->mix);
	free(x->smp);
	sqlite3_finalize(x->st_info);
	sqlite3_finalize(x->st_src);
	sqlite3_finalize(x->st_soft);
	sqlite3_finalize(x->st_mask);
	sqlite3_finalize(x->st_neg);
	if (x->have_pca)
		aed_pca_release(&x->pca);
}

/* The options with their defaults filled in (x->opt), or a usage error
 * before anything is written; r gets the splits and beta as used. */
static int resolve_opts(struct ex *x, struct aed_export_result *r)
{
	if (!x->o->out_dir || !*x->o->out_dir)
		return aed_error(AED_EUSAGE, "export: --out DIR is required");
	if (!x->opt.n_splits) {
		struct aed_export_opts d = { 0 };
		aed_export_parse_splits("train=0.8,val=0.1,test=0.1", &d);
		memcpy(x->opt.splits, d.splits, sizeof d.splits);
		x->opt.n_splits = d.n_splits;
	}
	memcpy(r->splits, x->opt.splits, sizeof r->splits);
	r->n_splits = x->opt.n_splits;
	if (!x->opt.shard_size)
		x->opt.shard_size = AED_EXPORT_SHARD_SIZE_DEFAULT;
	if (!x->opt.shards_per_split)
		x->opt.shards_per_split = AED_EXPORT_SHARDS_PER_SPLIT_DEFAULT;
	if (x->opt.shards_per_split < 0)
		return aed_error(AED_EUSAGE, "export: --shards-per-split must be >= 1");
	if (x->opt.beta_set && !(x->opt.beta >= 0 && isfinite(x->opt.beta)))
		return aed_error(AED_EUSAGE, "export: --beta must be a number >= 0, not %g", x->opt.beta);
	if (!x->opt.keep_set) {
		/* an evaluation list (AudioSet's eval_segments.csv) stays out of train */
		for (int i = 0; i < x->opt.n_splits; i++)
			if (!strcmp(x->opt.splits[i].name, "test")) {
				x->opt.keep[0] = (struct aed_export_keep){ "eval", "test" };
				x->opt.n_keep = 1;
			}
	}
	if (!x->opt.beta_set) {
		/* as the priors stage weighed its classes; 1 (fully balanced) without one */
		sqlite3_stmt *bs = NULL;
		x->opt.beta = 1.0;
		if (!aed_db_prepare(x->db, "SELECT beta, run_id FROM class_prior ORDER BY run_id DESC LIMIT 1",
				    &bs) && sqlite3_step(bs) == SQLITE_ROW) {
			x->opt.beta = sqlite3_column_double(bs, 0);
			x->beta_run = sqlite3_column_int64(bs, 1);
		}
		sqlite3_finalize(bs);
	}
	r->beta = x->opt.beta;
	if (x->opt.shard_size < 0)
		return aed_error(AED_EUSAGE, "export: --shard-size must be >= 1");
	if (!x->opt.payload)
		x->opt.payload = x->opt.format == AED_EXPORT_WEBDATASET ? AED_PAYLOAD_AUDIO : 0;
	if (x->opt.format == AED_EXPORT_TFRECORD && x->o->payload)
		return aed_error(AED_EUSAGE, "export: --payload applies to webdataset; TFRecord "
				 "shards hold the 128-d quantised embeddings");
	if (x->opt.mix_augment && x->opt.format == AED_EXPORT_TFRECORD)
		return aed_error(AED_EUSAGE, "export: --mix-augment needs --format webdataset (a mix "
				 "has no YAMNet embedding to put in a TFRecord)");
	if (x->opt.mix_augment && x->opt.payload & AED_PAYLOAD_EMBEDDING)
		return aed_error(AED_EUSAGE, "export: --mix-augment cannot go with --payload embedding "
				 "(a mix has no YAMNet embedding)");
	if (x->opt.mix_augment && !x->opt.min)
		return aed_error(AED_EUSAGE, "export: --mix-augment tops classes up to min: give "
				 "--balance min=N");
	if (x->opt.max && x->opt.min > x->opt.max)
		return aed_error(AED_EUSAGE, "export: min %lld is above max %lld", (long long)x->opt.min,
				 (long long)x->opt.max);
	return AED_OK;
}

int aed_export(struct aed_db *db, const struct aed_export_opts *o, struct aed_export_result *r)
{
	struct ex x = { .db = db, .o = o, .opt = *o };
	struct shard_info *si = NULL;
	struct aed_outdir od = { 0 };
	const char **files = NULL;
	size_t n_si = 0, n_files = 0;
	char *files_buf = NULL, index_sha[65] = "";
	int64_t run_id = 0;
	int rc;

	memset(r, 0, sizeof *r);
	if ((rc = resolve_opts(&x, r)))
		return rc;
	/* Only an empty or new folder or an earlier export is written into:
	 * refused before anything else happens, so a refusal changes nothing. */
	if ((rc = aed_outdir_claim(o->out_dir, "training-export", &od)))
		return rc;
	json_t *params = ex_params_json(&x);
	if (params)
		json_object_set_new(params, "out", aed_json_text(o->out_dir));
	if ((rc = aed_run_begin(db, STAGE, params, &run_id)))
		goto out;
	r->run_id = run_id;
	if ((rc = ex_load(&x, r)) || (rc = ex_check_keys(&x)))
		goto fail;
	if (!x.n_seg) {
		rc = aed_error(AED_ESTATE, "export: no labelled clips%s to export (run decode%s first)",
			       x.opt.format == AED_EXPORT_TFRECORD ? " with embeddings" : "",
			       x.opt.format == AED_EXPORT_TFRECORD ? " and embed" : "");
		goto fail;
	}
	if ((rc = ex_select_clips(&x, r)) || (rc = ex_apply_keep(&x, r)) ||
	    (rc = ex_assign_splits(&x)))
		goto fail;
	if (x.opt.mix_augment && (rc = ex_make_mixes(&x)))
		goto fail;
	r->n_augmented = (int64_t)x.n_mix;
	if ((rc = ex_plan_samples(&x, r)) || (rc = ex_load_ancestors(&x)) ||
	    (rc = ex_build_targets(&x, r)) || (rc = ex_prepare_queries(&x)) ||
	    (rc = count_refined(&x, r)))
		goto fail;
	if ((rc = ex_export_files(&x, NULL, 0, &files, &n_files, &files_buf)) ||
	    (rc = aed_outdir_begin(&od, files, n_files)))
		goto fail;
	if (x.opt.format == AED_EXPORT_TFRECORD &&
	    ((rc = ex_fit_pca(&x)) || (rc = ex_write_pca(&x, o->out_dir))))
		goto fail;
	double t0 = aed_now();
	if ((rc = ex_write_shards(&x, o->out_dir, &si, &n_si, r)))
		goto fail;
	r->seconds = aed_now() - t0;
	if ((rc = ex_write_index(&x, o->out_dir, si, n_si, index_sha)) ||
	    (rc = ex_write_csvs(&x, o->out_dir)) || (rc = ex_write_classes(&x, o->out_dir)) ||
	    (rc = ex_write_manifest(&x, o->out_dir, r)) || (rc = ex_write_readme(&x, o->out_dir, r)))
		goto fail;
	/* stale shards of the earlier export go, files it did not write stay */
	free(files);
	free(files_buf);
	files = NULL;
	files_buf = NULL;
	if ((rc = ex_export_files(&x, si, n_si, &files, &n_files, &files_buf)) ||
	    (rc = aed_outdir_finish(&od, files, n_files)) ||
	    (rc = record_export(&x, o->out_dir, index_sha, r)))
		goto fail;
	rc = aed_run_end(db, run_id, AED_RUN_OK, (int64_t)x.n_smp, 0, NULL);
	goto out;
fail:
	aed_run_fail(db, run_id, rc, 0, 0);
out:
	free(si);
	free(files);
	free(files_buf);
	aed_outdir_release(&od);
	ex_release(&x);
	return rc;
}
