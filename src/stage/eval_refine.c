/* eval_refine.c - `eval refine` (refine.h): a class's stored masks, and the
 * unrefined weak mask, scored against its strong labels at patch level, at
 * 10 ms frames and on 1 s segments (the measures of metrics.h). Reads what
 * refine stored; writes nothing. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "aedcurate/error.h"
#include "aedcurate/metrics.h"
#include "aedcurate/class.h"
#include "aedcurate/refine.h"
#include "aedcurate/store.h"

struct strong {
	double *start, *end;
	size_t n, cap;
};

/* 10 ms frames whose centre lies in one of n intervals. */
static void intervals_to_frames(const double *start, const double *end, size_t n, uint8_t *f,
				size_t nf)
{
	memset(f, 0, nf);
	for (size_t k = 0; k < n; k++)
		for (size_t j = 0; j < nf; j++) {
			double c = ((double)j + 0.5) * 0.01;
			if (c >= start[k] && c < end[k])
				f[j] = 1;
		}
}

#define MAX_FRAMES 65536

/* fine: the method's 10 ms mask (n_fine frames), or NULL. */
static int eval_add(struct aed_refine_eval_row *row, const uint8_t *mask, size_t np,
		    const struct strong *sl, double clip_s, const uint8_t *fine, size_t n_fine)
{
	static uint8_t fref[MAX_FRAMES], fsys[MAX_FRAMES];
	uint8_t ref[4096], amb[4096], refseg[64], sysseg[64];
	double a[4096], b[4096];
	size_t ni;
	struct aed_prf p, q;

	if (np > 4096)
		return aed_error(AED_EFORMAT, "%zu patches (over 4096)", np);
	aed_intervals_to_patches(sl->start, sl->end, sl->n, AED_PATCH_HOP_S, AED_PATCH_LEN_S, ref, np);
	aed_patches_ambiguous(sl->start, sl->end, sl->n, AED_PATCH_HOP_S, AED_PATCH_LEN_S, ref, amb,
			      np);
	aed_prf_masks(mask, ref, np, &p);
	aed_prf_masks_skip(mask, ref, amb, np, &q);
	row->frame.tp += p.tp;
	row->frame.fp += p.fp;
	row->frame.fn += p.fn;
	row->frame.tn += p.tn;
	row->frame_collar.tp += q.tp;
	row->frame_collar.fp += q.fp;
	row->frame_collar.fn += q.fn;
	row->frame_collar.tn += q.tn;
	size_t nseg = (size_t)ceil(clip_s - 1e-9);
	if (nseg > sizeof refseg)
		nseg = sizeof refseg;
	aed_intervals_to_segments(sl->start, sl->end, sl->n, 1.0, refseg, nseg);
	aed_patches_to_intervals(mask, np, AED_PATCH_HOP_S, AED_PATCH_LEN_S, clip_s, a, b, &ni);
	aed_intervals_to_segments(a, b, ni, 1.0, sysseg, nseg);
	size_t nf = (size_t)llround(clip_s * 100);
	if (nf > MAX_FRAMES)
		return aed_error(AED_EFORMAT, "%.1f s clip (over %d frames)", clip_s, MAX_FRAMES);
	intervals_to_frames(sl->start, sl->end, sl->n, fref, nf);
	if (fine) {
		memset(fsys, 0, nf);
		memcpy(fsys, fine, n_fine < nf ? n_fine : nf);
	} else {
		intervals_to_frames(a, b, ni, fsys, nf);
	}
	aed_prf_masks(fsys, fref, nf, &p);
	row->frame_10ms.tp += p.tp;
	row->frame_10ms.fp += p.fp;
	row->frame_10ms.fn += p.fn;
	row->frame_10ms.tn += p.tn;
	for (size_t j = 0; j < nseg; j++)
		aed_segment_eval_add(&row->seg, refseg + j, sysseg + j, 1);
	row->n_segments++;
	return AED_OK;
}

/* The strong labels of segment seg for the class (ss: its statement) into sl. */
static int read_strong(sqlite3_stmt *ss, int64_t class_id, int64_t seg, struct strong *sl)
{
	sl->n = 0;
	sqlite3_bind_int64(ss, 1, class_id);
	sqlite3_bind_int64(ss, 2, seg);
	while (sqlite3_step(ss) == SQLITE_ROW) {
		if (sl->n == sl->cap) {
			size_t nc = sl->cap ? sl->cap * 2 : 16;
			double *a = realloc(sl->start, nc * sizeof *a), *b;
			if (a)
				sl->start = a;
			b = a ? realloc(sl->end, nc * sizeof *b) : NULL;
			if (!b)
				return aed_error(AED_ENOMEM, "out of memory");
			sl->end = b;
			sl->cap = nc;
		}
		sl->start[sl->n] = sqlite3_column_double(ss, 0);
		sl->end[sl->n++] = sqlite3_column_double(ss, 1);
	}
	sqlite3_reset(ss);
	return AED_OK;
}

int aed_eval_refine(struct aed_db *db, const char *class_name, const char *split,
		    struct aed_refine_eval_result *r)
{
	sqlite3_stmt *st = NULL, *ss = NULL, *ms = NULL, *fs = NULL;
	struct strong sl = { 0 };
	uint8_t ones[4096];
	int rc, s;
	char *mid = NULL, *name = NULL;

	memset(r, 0, sizeof *r);
	memset(ones, 1, sizeof ones);
	if ((rc = aed_class_resolve(db, class_name, &r->class_id)) ||
	    (rc = aed_class_mid_name(db, r->class_id, &mid, &name)))
		goto out;
	snprintf(r->mid, sizeof r->mid, "%s", mid);
	snprintf(r->name, sizeof r->name, "%s", name);
	/* Rows: the weak mask first, then every stored method. */
	snprintf(r->rows[0].method, sizeof r->rows[0].method, "weak");
	r->n_rows = 1;
	if ((rc = aed_db_prepare(db, "SELECT DISTINCT method FROM frame_mask WHERE class_id = ?1 "
				 "ORDER BY method = 'maxnorm' DESC, method", &st)))
		goto out;
	sqlite3_bind_int64(st, 1, r->class_id);
	while ((s = sqlite3_step(st)) == SQLITE_ROW && r->n_rows < 8)
		snprintf(r->rows[r->n_rows++].method, sizeof r->rows[0].method, "%s",
			 (const char *)sqlite3_column_text(st, 0));
	sqlite3_finalize(st);
	st = NULL;
	if (r->n_rows == 1) {
		rc = aed_error(AED_ESTATE, "eval refine: no refined masks for %s (%s); run `aedcurate "
			       "refine --class` first", r->mid, r->name);
		goto out;
	}
	/* Segments with strong labels for the class (any descendant counts)
	 * and a stored mask. */
	rc = aed_db_prepare(db,
			    "SELECT DISTINCT m.segment_id, m.n_patches, coalesce((s.end_ms - "
			    "s.start_ms) / 1000.0, c.n_samples / 16000.0, m.n_patches * 0.48 + 0.48) "
			    "FROM frame_mask m JOIN segment s ON s.id = m.segment_id "
			    "LEFT JOIN clip c ON c.segment_id = m.segment_id "
			    "WHERE m.class_id = ?1 AND EXISTS (SELECT 1 FROM strong_label x WHERE "
			    "x.segment_id = m.segment_id AND x.class_id IN (" AED_CLASS_SUBTREE_SQL "))"
			    " AND (?2 IS NULL OR m.segment_id IN (SELECT ss.segment_id FROM "
			    "segment_split ss JOIN split sp ON sp.id = ss.split_id WHERE sp.name = ?2))"
			    " ORDER BY m.segment_id", &st);
	if (rc)
		goto out;
	sqlite3_bind_int64(st, 1, r->class_id);
	if (split)
		sqlite3_bind_text(st, 2, split, -1, SQLITE_STATIC);
	if ((rc = aed_db_prepare(db, "SELECT start_s, end_s FROM strong_label WHERE segment_id = ?2 "
				 "AND class_id IN (" AED_CLASS_SUBTREE_SQL ")", &ss)) ||
	    (rc = aed_db_prepare(db, "SELECT mask FROM frame_mask WHERE segment_id = ?1 AND "
				 "class_id = ?2 AND method = ?3", &ms)) ||
	    (rc = aed_db_prepare(db, "SELECT mask FROM frame_mask_fine WHERE segment_id = ?1 AND "
				 "class_id = ?2 AND method = ?3 AND frame_ms = 10", &fs)))
		goto out;
	while ((s = sqlite3_step(st)) == SQLITE_ROW) {
		int64_t seg = sqlite3_column_int64(st, 0);
		size_t np = (size_t)sqlite3_column_int64(st, 1);
		double clip_s = sqlite3_column_double(st, 2);
		if ((rc = read_strong(ss, r->class_id, seg, &sl)))
			goto out;
		if ((rc = eval_add(&r->rows[0], ones, np, &sl, clip_s, NULL, 0)))
			goto out;
		for (size_t k = 1; k < r->n_rows; k++) {
			sqlite3_bind_int64(ms, 1, seg);
			sqlite3_bind_int64(ms, 2, r->class_id);
			sqlite3_bind_text(ms, 3, r->rows[k].method, -1, SQLITE_STATIC);
			if (sqlite3_step(ms) == SQLITE_ROW &&
			    (size_t)sqlite3_column_bytes(ms, 0) == np) {
				uint8_t mask[4096];
				const uint8_t *fine = NULL;
				size_t n_fine = 0;
				memcpy(mask, sqlite3_column_blob(ms, 0), np < 4096 ? np : 4096);
				sqlite3_bind_int64(fs, 1, seg);
				sqlite3_bind_int64(fs, 2, r->class_id);
				sqlite3_bind_text(fs, 3, r->rows[k].method, -1, SQLITE_STATIC);
				if (sqlite3_step(fs) == SQLITE_ROW) {
					fine = sqlite3_column_blob(fs, 0);
					n_fine = (size_t)sqlite3_column_bytes(fs, 0);
				}
				rc = eval_add(&r->rows[k], mask, np, &sl, clip_s, fine, n_fine);
				sqlite3_reset(fs);
				if (rc) {
					sqlite3_reset(ms);
					goto out;
				}
			}
			sqlite3_reset(ms);
		}
	}
	if (s != SQLITE_DONE) {
		rc = aed_db_error(db, "reading refined masks");
		goto out;
	}
	if (!r->rows[0].n_segments) {
		rc = aed_error(AED_ESTATE, "eval refine: no segment with a refined mask for %s has "
			       "strong labels for it", r->mid);
		goto out;
	}
	for (size_t k = 0; k < r->n_rows; k++) {
		aed_prf_finish(&r->rows[k].frame);
		aed_prf_finish(&r->rows[k].frame_collar);
		aed_prf_finish(&r->rows[k].frame_10ms);
		aed_segment_eval_finish(&r->rows[k].seg);
	}
out:
	sqlite3_finalize(st);
	sqlite3_finalize(ss);
	sqlite3_finalize(ms);
	sqlite3_finalize(fs);
	free(sl.start);
	free(sl.end);
	free(mid);
	free(name);
	return rc;
}
