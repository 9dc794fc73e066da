/* refine_store.c - what a refine run stores (refine.h, sql/0007_refine.sql,
 * sql/0011_refine_fine.sql): frame scores, the maxnorm mask and the chosen
 * method's mask of every labelled segment, fine frame masks, SeCoST's soft
 * labels and one summary row per class, all in one transaction. In the path
 * of a clip: the refined labels export reads. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "aedcurate/error.h"
#include "aedcurate/refine.h"
#include "aedcurate/store.h"
#include "stage/refine_internal.h"

static int store_fine(struct aed_db *db, sqlite3_stmt *ff, const struct aed_refine_opts *o,
		      const struct corpus *c, int64_t run_id, size_t i, size_t k)
{
	size_t at = i * c->nt + k, n = c->n_fine[at], kept = 0;

	for (size_t f = 0; f < n; f++)
		kept += c->fine[at][f];
	sqlite3_bind_int64(ff, 1, c->seg[i]);
	sqlite3_bind_int64(ff, 2, c->t[k].class_id);
	sqlite3_bind_text(ff, 3, aed_refine_method_name(AED_REFINE_CONSENSUS), -1, SQLITE_STATIC);
	sqlite3_bind_int64(ff, 4, run_id);
	sqlite3_bind_text(ff, 5, aed_scorer_name(o->scorer), -1, SQLITE_STATIC);
	sqlite3_bind_int(ff, 6, o->hop_frames);
	sqlite3_bind_int64(ff, 7, (int64_t)n);
	sqlite3_bind_int64(ff, 8, (int64_t)kept);
	sqlite3_bind_blob(ff, 9, c->fine[at], (int)n, SQLITE_STATIC);
	int s = sqlite3_step(ff);
	sqlite3_reset(ff);
	return s == SQLITE_DONE ? AED_OK : aed_db_error(db, "storing fine frame masks");
}

/* The masks of labelled segment i for target k, whose np frame scores are
 * in col; mask and base are scratch of np bytes. Kept counts go to rcl. */
static int store_masks(struct aed_db *db, sqlite3_stmt *fm, sqlite3_stmt *ff,
		       const struct aed_refine_opts *o, const struct corpus *c, int64_t run_id,
		       size_t i, size_t k, const float *col, size_t np, uint8_t *mask,
		       uint8_t *base, struct aed_refine_class *rcl)
{
	const char *scorer = aed_scorer_name(o->scorer);
	int rc;

	/* The plain rule, and the chosen method when it differs. */
	for (int pass = 0; pass < 2; pass++) {
		enum aed_refine_method m = pass ? o->method : AED_REFINE_MAXNORM;
		if (pass && m == AED_REFINE_MAXNORM)
			break;
		size_t kept = 0;
		if (m == AED_REFINE_CONSENSUS) {
			const uint8_t *fp = c->fine_patch[i * c->nt + k];
			for (size_t q = 0; q < np; q++)
				kept += (mask[q] = fp[q]);
			if ((rc = store_fine(db, ff, o, c, run_id, i, k)))
				return rc;
		} else {
			kept = aed_refine_mask(col, np, m, o->threshold, o->low,
					       pass ? mask : base);
		}
		if (pass)
			rcl->n_kept += (int64_t)kept;
		else
			rcl->n_kept_maxnorm += (int64_t)kept;
		sqlite3_bind_int64(fm, 1, c->seg[i]);
		sqlite3_bind_int64(fm, 2, c->t[k].class_id);
		sqlite3_bind_text(fm, 3, aed_refine_method_name(m), -1, SQLITE_STATIC);
		sqlite3_bind_int64(fm, 4, run_id);
		sqlite3_bind_text(fm, 5, scorer, -1, SQLITE_STATIC);
		sqlite3_bind_int64(fm, 6, (int64_t)np);
		sqlite3_bind_int(fm, 7, HOP_MS);
		sqlite3_bind_int64(fm, 8, (int64_t)kept);
		sqlite3_bind_blob(fm, 9, pass ? mask : base, (int)np, SQLITE_STATIC);
		if (sqlite3_step(fm) != SQLITE_DONE)
			return aed_db_error(db, "storing frame masks");
		sqlite3_reset(fm);
	}
	return AED_OK;
}

/* The summary row of target rcl (refine_class). */
static int store_summary(struct aed_db *db, sqlite3_stmt *rcs, const struct aed_refine_opts *o,
			 int64_t run_id, struct aed_refine_class *rcl)
{
	const char *scorer = aed_scorer_name(o->scorer);

	if (o->method == AED_REFINE_MAXNORM)
		rcl->n_kept = rcl->n_kept_maxnorm;
	char warning[512] = "";
	if (rcl->warn)
		snprintf(warning, sizeof warning, "%s (%s) gains more than %s in the segments "
			 "labelled %s: it may be the most prevalent sound there",
			 rcl->top_mid, rcl->top_name, rcl->mid, rcl->mid);
	sqlite3_bind_int64(rcs, 1, run_id);
	sqlite3_bind_int64(rcs, 2, rcl->class_id);
	sqlite3_bind_text(rcs, 3, aed_refine_method_name(o->method), -1, SQLITE_STATIC);
	sqlite3_bind_text(rcs, 4, scorer, -1, SQLITE_STATIC);
	sqlite3_bind_int64(rcs, 5, rcl->n_segments);
	sqlite3_bind_int64(rcs, 6, rcl->n_patches);
	sqlite3_bind_int64(rcs, 7, rcl->n_kept);
	sqlite3_bind_int64(rcs, 8, rcl->n_kept_maxnorm);
	if (rcl->gain_checked)
		sqlite3_bind_double(rcs, 9, rcl->gain);
	else
		sqlite3_bind_null(rcs, 9);
	sqlite3_bind_text(rcs, 10, rcl->top_mid, -1, SQLITE_STATIC);
	if (*warning)
		sqlite3_bind_text(rcs, 11, warning, -1, SQLITE_TRANSIENT);
	else
		sqlite3_bind_null(rcs, 11);
	if (sqlite3_step(rcs) != SQLITE_DONE)
		return aed_db_error(db, "storing the refinement summary");
	sqlite3_reset(rcs);
	return AED_OK;
}

int refine_store_results(struct aed_db *db, const struct aed_refine_opts *o, struct corpus *c,
			 struct aed_refine_result *r, const float *y_final, double alpha_final)
{
	sqlite3_stmt *fs = NULL, *fm = NULL, *rcs = NULL, *sl = NULL, *ff = NULL;
	uint8_t *mask = malloc(4096), *base = malloc(4096);
	float *col = malloc(4096 * sizeof *col);
	const char *scorer = aed_scorer_name(o->scorer);
	int rc;

	if (!mask || !base || !col) {
		rc = aed_error(AED_ENOMEM, "out of memory");
		goto out;
	}
	if ((rc = aed_db_begin(db)))
		goto out;
	if ((rc = aed_db_prepare(db, "INSERT OR REPLACE INTO frame_score(segment_id, class_id, "
				 "scorer, run_id, n_patches, hop_ms, scores) VALUES (?1, ?2, ?3, "
				 "?4, ?5, ?6, ?7)", &fs)) ||
	    (rc = aed_db_prepare(db, "INSERT OR REPLACE INTO frame_mask(segment_id, class_id, "
				 "method, run_id, scorer, n_patches, hop_ms, n_kept, mask) VALUES "
				 "(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)", &fm)) ||
	    (rc = aed_db_prepare(db, "INSERT OR REPLACE INTO refine_class(run_id, class_id, method, "
				 "scorer, n_segments, n_patches, n_kept, n_kept_maxnorm, gain, "
				 "top_class_id, warning) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, "
				 "(SELECT id FROM class WHERE mid = ?10), ?11)", &rcs)) ||
	    (rc = aed_db_prepare(db, "INSERT OR REPLACE INTO frame_mask_fine(segment_id, class_id, "
				 "method, run_id, scorer, frame_ms, hop_frames, n_frames, n_kept, mask) "
				 "VALUES (?1, ?2, ?3, ?4, ?5, 10, ?6, ?7, ?8, ?9)", &ff)) ||
	    (rc = aed_db_prepare(db, "INSERT OR REPLACE INTO soft_label(segment_id, class_id, "
				 "run_id, stages, target, prediction) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
				 &sl)))
		goto fail;
	for (size_t k = 0; k < c->nt; k++) {
		struct aed_refine_class *rcl = &r->classes[k];
		/* Rows of an earlier run (another method, other segments) would be
		 * mistaken for this run's. */
		char del[256];
		snprintf(del, sizeof del, "DELETE FROM frame_mask WHERE class_id = %lld; "
			 "DELETE FROM frame_mask_fine WHERE class_id = %lld; "
			 "DELETE FROM frame_score WHERE class_id = %lld AND scorer = '%s'",
			 (long long)c->t[k].class_id, (long long)c->t[k].class_id,
			 (long long)c->t[k].class_id, scorer);
		if ((rc = aed_db_exec(db, del)))
			goto fail;
		for (size_t i = 0; i < c->nseg; i++) {
			size_t np = c->off[i + 1] - c->off[i];
			int labelled = c->lab[i * c->nt + k];
			if (np > 4096) {
				rc = aed_error(AED_EFORMAT, "segment %lld: %zu patches (over 4096)",
					       (long long)c->seg[i], np);
				goto fail;
			}
			for (size_t p = 0; p < np; p++)
				col[p] = c->score[(c->off[i] + p) * c->nt + k];
			if (!labelled && o->scorer == AED_SCORER_YAMNET)
				continue;
			sqlite3_bind_int64(fs, 1, c->seg[i]);
			sqlite3_bind_int64(fs, 2, c->t[k].class_id);
			sqlite3_bind_text(fs, 3, scorer, -1, SQLITE_STATIC);
			sqlite3_bind_int64(fs, 4, r->run_id);
			sqlite3_bind_int64(fs, 5, (int64_t)np);
			sqlite3_bind_int(fs, 6, HOP_MS);
			sqlite3_bind_blob(fs, 7, col, (int)(np * sizeof *col), SQLITE_STATIC);
			if (sqlite3_step(fs) != SQLITE_DONE) {
				rc = aed_db_error(db, "storing frame scores");
				goto fail;
			}
			sqlite3_reset(fs);
			if (y_final) {
				float pmax = 0;
				for (size_t p = 0; p < np; p++)
					pmax = col[p] > pmax ? col[p] : pmax;
				sqlite3_bind_int64(sl, 1, c->seg[i]);
				sqlite3_bind_int64(sl, 2, c->t[k].class_id);
				sqlite3_bind_int64(sl, 3, r->run_id);
				sqlite3_bind_int(sl, 4, r->stages);
				sqlite3_bind_double(sl, 5, alpha_final * labelled + (1 - alpha_final) * pmax);
				sqlite3_bind_double(sl, 6, pmax);
				if (sqlite3_step(sl) != SQLITE_DONE) {
					rc = aed_db_error(db, "storing soft labels");
					goto fail;
				}
				sqlite3_reset(sl);
			}
			if (!labelled)
				continue;
			rcl->n_segments++;
			rcl->n_patches += (int64_t)np;
			if ((rc = store_masks(db, fm, ff, o, c, r->run_id, i, k, col, np, mask, base,
					      rcl)))
				goto fail;
		}
		if ((rc = store_summary(db, rcs, o, r->run_id, rcl)))
			goto fail;
	}
	sqlite3_finalize(fs);
	sqlite3_finalize(fm);
	sqlite3_finalize(rcs);
	sqlite3_finalize(sl);
	sqlite3_finalize(ff);
	fs = fm = rcs = sl = ff = NULL;
	rc = aed_db_commit(db);
	goto out;
fail:
	aed_db_rollback(db);
out:
	sqlite3_finalize(fs);
	sqlite3_finalize(fm);
	sqlite3_finalize(rcs);
	sqlite3_finalize(sl);
	sqlite3_finalize(ff);
	free(mask);
	free(base);
	free(col);
	return rc;
}
