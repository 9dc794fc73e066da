/* eval.c - the `eval scores` stage: a split's stored clip scores (YAMNet's
 * "scores" arrays) or frame scores (refine's trained frame_score rows),
 * pooled per clip and scored against the clip labels with the measures of
 * src/util/metrics.c; plus the scorer and pooling names and the map from
 * YAMNet's outputs to class ids that refine shares. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#include "aedcurate/error.h"
#include "aedcurate/eval.h"
#include "aedcurate/nn.h"
#include "aedcurate/class.h"
#include "aedcurate/store.h"

/* --- eval scores --------------------------------------------------------------- */

int aed_scorer_parse(const char *s, enum aed_scorer *out)
{
	if (!strcmp(s, "yamnet"))
		*out = AED_SCORER_YAMNET;
	else if (!strcmp(s, "trained"))
		*out = AED_SCORER_TRAINED;
	else
		return aed_error(AED_EUSAGE, "unknown scorer '%s' (yamnet, trained)", s);
	return AED_OK;
}

const char *aed_scorer_name(enum aed_scorer s)
{
	return s == AED_SCORER_YAMNET ? "yamnet" : "trained";
}

int aed_pool_parse(const char *s, enum aed_pool *out)
{
	if (!strcmp(s, "max"))
		*out = AED_POOL_MAX;
	else if (!strcmp(s, "mean"))
		*out = AED_POOL_MEAN;
	else
		return aed_error(AED_EUSAGE, "unknown pooling '%s' (max, mean)", s);
	return AED_OK;
}

const char *aed_pool_name(enum aed_pool p)
{
	return p == AED_POOL_MAX ? "max" : "mean";
}

int aed_yamnet_output_classes(struct aed_db *db, const char *class_map, int64_t ids[521])
{
	struct aed_yamnet *m = calloc(1, sizeof *m);
	char *path = NULL;
	int rc;

	if (!m)
		return aed_error(AED_ENOMEM, "out of memory");
	if (!class_map) {
		/* Beside the model the embeddings were made with, else the default. */
		sqlite3_stmt *st = NULL;
		char *model = NULL;
		if (!aed_db_prepare(db, "SELECT path FROM model ORDER BY id DESC LIMIT 1", &st) &&
		    sqlite3_step(st) == SQLITE_ROW && sqlite3_column_text(st, 0))
			model = strdup((const char *)sqlite3_column_text(st, 0));
		sqlite3_finalize(st);
		/* No embed run recorded yet: the model file embed would find. */
		if (!model && aed_yamnet_find_model(NULL, &model))
			model = strdup("./yamnet.tflite");
		rc = model ? aed_yamnet_find_class_map(model, &path)
			   : aed_error(AED_ENOMEM, "out of memory");
		free(model);
		if (rc)
			goto out;
		class_map = path;
	}
	if ((rc = aed_yamnet_load_class_map(m, class_map)))
		goto out;
	for (int k = 0; k < AED_YAMNET_CLASSES; k++) {
		ids[k] = -1;
		rc = aed_class_id_by_mid(db, m->class_mid[k], &ids[k]);
		if (rc == AED_ENOTFOUND) {
			ids[k] = -1;
			rc = AED_OK;
		} else if (rc) {
			goto out;
		}
	}
out:
	aed_yamnet_free(&m);
	free(path);
	return rc;
}

void aed_eval_scores_result_release(struct aed_eval_scores_result *r)
{
	free(r->classes);
	r->classes = NULL;
	r->n_classes = 0;
}

static int by_index_mid(const void *a, const void *b)
{
	const struct aed_class_eval *x = a, *y = b;
	long xi = x->label_index < 0 ? 1L << 30 : x->label_index;
	long yi = y->label_index < 0 ? 1L << 30 : y->label_index;

	if (xi != yi)
		return xi < yi ? -1 : 1;
	return strcmp(x->mid, y->mid);
}

static long find_seg(const int64_t *seg, size_t n, int64_t id)
{
	size_t lo = 0, hi = n;

	while (lo < hi) {
		size_t m = (lo + hi) / 2;
		if (seg[m] < id)
			lo = m + 1;
		else
			hi = m;
	}
	return lo < n && seg[lo] == id ? (long)lo : -1;
}

static float pool(const float *x, size_t n, size_t stride, enum aed_pool p)
{
	double acc = p == AED_POOL_MAX ? -INFINITY : 0;

	for (size_t i = 0; i < n; i++) {
		double v = x[i * stride];
		if (p == AED_POOL_MAX)
			acc = v > acc ? v : acc;
		else
			acc += v;
	}
	if (p == AED_POOL_MEAN)
		acc = n ? acc / (double)n : NAN;
	return n ? (float)acc : NAN;
}

/* The split's segment ids, ascending, into *seg (malloc'd) and *nseg. */
static int split_segments(struct aed_db *db, const char *split, int64_t **seg, size_t *nseg)
{
	sqlite3_stmt *st = NULL;
	size_t cap = 0;
	int rc, s;

	if ((rc = aed_db_prepare(db, "SELECT ss.segment_id FROM segment_split ss JOIN split sp ON "
				 "sp.id = ss.split_id WHERE sp.name = ?1 ORDER BY ss.segment_id", &st)))
		return rc;
	sqlite3_bind_text(st, 1, split, -1, SQLITE_STATIC);
	while ((s = sqlite3_step(st)) == SQLITE_ROW) {
		if (*nseg == cap) {
			size_t nc = cap ? 2 * cap : 1024;
			int64_t *p = realloc(*seg, nc * sizeof *p);
			if (!p) {
				sqlite3_finalize(st);
				return aed_error(AED_ENOMEM, "out of memory");
			}
			*seg = p;
			cap = nc;
		}
		(*seg)[(*nseg)++] = sqlite3_column_int64(st, 0);
	}
	sqlite3_finalize(st);
	if (s != SQLITE_DONE)
		return aed_db_error(db, "listing the split");
	if (!*nseg)
		return aed_error(AED_ENOTFOUND, "eval scores: split '%s' has no segments", split);
	return AED_OK;
}

/* The classes scored, *cls [*ncls] (malloc'd): YAMNet's 521 outputs (-1
 * where the ontology lacks the mid), or the classes with trained frame
 * scores, ascending. */
static int scored_classes(struct aed_db *db, const struct aed_eval_scores_opts *o,
			  int64_t **cls, size_t *ncls)
{
	int64_t ymap[AED_YAMNET_CLASSES];
	sqlite3_stmt *st = NULL;
	size_t cap = 0;
	int rc;

	if (o->scorer == AED_SCORER_YAMNET) {
		if ((rc = aed_yamnet_output_classes(db, o->class_map, ymap)))
			return rc;
		if (!(*cls = malloc(AED_YAMNET_CLASSES * sizeof **cls)))
			return aed_error(AED_ENOMEM, "out of memory");
		for (int k = 0; k < AED_YAMNET_CLASSES; k++)
			(*cls)[(*ncls)++] = ymap[k];
		return AED_OK;
	}
	if ((rc = aed_db_prepare(db, "SELECT DISTINCT class_id FROM frame_score WHERE scorer = "
				 "'trained' ORDER BY class_id", &st)))
		return rc;
	while (sqlite3_step(st) == SQLITE_ROW) {
		if (*ncls == cap) {
			size_t nc = cap ? 2 * cap : 64;
			int64_t *p = realloc(*cls, nc * sizeof *p);
			if (!p) {
				sqlite3_finalize(st);
				return aed_error(AED_ENOMEM, "out of memory");
			}
			*cls = p;
			cap = nc;
		}
		(*cls)[(*ncls)++] = sqlite3_column_int64(st, 0);
	}
	sqlite3_finalize(st);
	if (!*ncls)
		return aed_error(AED_ESTATE, "eval scores --scorer trained: no trained frame scores "
				 "(run `aedcurate refine --scorer trained` first)");
	return AED_OK;
}

/* S [nseg][ncls]: each segment's pooled clip score per class (NaN where it
 * has none); has[i] = 1 when segment i has scores. */
static int load_scores(struct aed_db *db, const struct aed_eval_scores_opts *o,
		       const int64_t *seg, size_t nseg, const int64_t *cls, size_t ncls,
		       float *S, uint8_t *has)
{
	sqlite3_stmt *st = NULL;
	int rc, s;

	if (o->scorer == AED_SCORER_YAMNET) {
		for (size_t i = 0; i < nseg; i++) {
			struct aed_array a;
			rc = aed_array_get(db, "scores", seg[i], &a);
			if (rc == AED_ENOTFOUND)
				continue;
			if (rc)
				return rc;
			if (a.dtype != AED_F32 || a.dims[1] != AED_YAMNET_CLASSES || a.dims[0] < 1) {
				aed_array_release(&a);
				return aed_error(AED_EFORMAT, "segment %lld: scores are not f32 [n, 521]",
						 (long long)seg[i]);
			}
			for (int k = 0; k < AED_YAMNET_CLASSES; k++)
				S[i * ncls + k] = pool((const float *)a.data + k, (size_t)a.dims[0],
						       AED_YAMNET_CLASSES, o->pool);
			has[i] = 1;
			aed_array_release(&a);
		}
		return AED_OK;
	}
	if ((rc = aed_db_prepare(db, "SELECT segment_id, class_id, n_patches, scores FROM "
				 "frame_score WHERE scorer = 'trained'", &st)))
		return rc;
	while ((s = sqlite3_step(st)) == SQLITE_ROW) {
		long i = find_seg(seg, nseg, sqlite3_column_int64(st, 0));
		long k = find_seg(cls, ncls, sqlite3_column_int64(st, 1));
		size_t np = (size_t)sqlite3_column_int64(st, 2);
		if (i < 0 || k < 0 || (size_t)sqlite3_column_bytes(st, 3) != np * sizeof(float))
			continue;
		float *tmp = malloc(np ? np * sizeof *tmp : 1);
		if (!tmp) {
			sqlite3_finalize(st);
			return aed_error(AED_ENOMEM, "out of memory");
		}
		memcpy(tmp, sqlite3_column_blob(st, 3), np * sizeof *tmp);
		S[(size_t)i * ncls + (size_t)k] = pool(tmp, np, 1, o->pool);
		has[i] = 1;
		free(tmp);
	}
	sqlite3_finalize(st);
	if (s != SQLITE_DONE)
		return aed_db_error(db, "reading frame scores");
	return AED_OK;
}

/* L [nseg][ncls]: clip labels of the split's segments through the closure. */
static int load_labels(struct aed_db *db, const char *split, const int64_t *seg, size_t nseg,
		       const int64_t *cls, size_t ncls, uint8_t *L)
{
	sqlite3_stmt *st = NULL;
	int rc, s;

	if ((rc = aed_db_prepare(db, "SELECT DISTINCT l.segment_id, cc.ancestor_id FROM label l "
				 "JOIN segment_split ss ON ss.segment_id = l.segment_id JOIN split sp "
				 "ON sp.id = ss.split_id AND sp.name = ?1 JOIN class_closure cc ON "
				 "cc.descendant_id = l.class_id", &st)))
		return rc;
	sqlite3_bind_text(st, 1, split, -1, SQLITE_STATIC);
	while ((s = sqlite3_step(st)) == SQLITE_ROW) {
		long i = find_seg(seg, nseg, sqlite3_column_int64(st, 0));
		int64_t c = sqlite3_column_int64(st, 1);
		for (size_t k = 0; i >= 0 && k < ncls; k++)
			if (cls[k] == c)
				L[(size_t)i * ncls + k] = 1;
	}
	sqlite3_finalize(st);
	if (s != SQLITE_DONE)
		return aed_db_error(db, "reading labels");
	return AED_OK;
}

/* Every class with enough positives and a negative among the scored
 * segments: its measures into r->classes, then the macro and micro
 * averages. sc and lab are scratch of nseg. */
static int class_measures(struct aed_db *db, const struct aed_eval_scores_opts *o,
			  const int64_t *cls, size_t ncls, const float *S, const uint8_t *L,
			  size_t nseg, float *sc, uint8_t *lab, struct aed_eval_scores_result *r)
{
	sqlite3_stmt *st = NULL;
	int rc = AED_OK;

	if (!(r->classes = calloc(ncls, sizeof *r->classes)))
		return aed_error(AED_ENOMEM, "out of memory");
	if ((rc = aed_db_prepare(db, "SELECT mid, name, coalesce(label_index, -1) FROM class "
				 "WHERE id = ?1", &st)))
		return rc;
	double sum_ap = 0, sum_auc = 0, sum_dp = 0, sum_eer = 0;
	size_t n_dp = 0;
	for (size_t k = 0; k < ncls; k++) {
		size_t n = 0, npos = 0;
		if (cls[k] < 0)
			continue;
		for (size_t i = 0; i < nseg; i++) {
			float v = S[i * ncls + k];
			if (isnan(v))
				continue;
			sc[n] = v;
			lab[n] = L[i * ncls + k];
			npos += lab[n];
			n++;
		}
		if (npos < (size_t)o->min_positives || npos == n)
			continue;
		struct aed_class_eval *e = &r->classes[r->n_classes++];
		e->class_id = cls[k];
		sqlite3_bind_int64(st, 1, cls[k]);
		if (sqlite3_step(st) == SQLITE_ROW) {
			snprintf(e->mid, sizeof e->mid, "%s", (const char *)sqlite3_column_text(st, 0));
			snprintf(e->name, sizeof e->name, "%s", (const char *)sqlite3_column_text(st, 1));
			e->label_index = (long)sqlite3_column_int64(st, 2);
		}
		sqlite3_reset(st);
		e->n_pos = (int64_t)npos;
		e->n_neg = (int64_t)(n - npos);
		e->ap = aed_average_precision(sc, lab, n);
		e->auc = aed_roc_auc(sc, lab, n);
		e->dprime = aed_dprime(e->auc);
		e->eer = aed_equal_error_rate(sc, lab, n);
		aed_prf_at(sc, lab, n, o->threshold, &e->prf);
		sum_ap += e->ap;
		sum_auc += e->auc;
		sum_eer += e->eer;
		if (isfinite(e->dprime)) {
			sum_dp += e->dprime;
			n_dp++;
		}
		r->micro.tp += e->prf.tp;
		r->micro.fp += e->prf.fp;
		r->micro.fn += e->prf.fn;
		r->micro.tn += e->prf.tn;
	}
	sqlite3_finalize(st);
	if (!r->n_classes)
		return aed_error(AED_ESTATE, "eval scores: no class has %d positive(s) and a negative "
				 "among the %lld scored segments of '%s'", o->min_positives,
				 (long long)r->n_segments, o->split);
	qsort(r->classes, r->n_classes, sizeof *r->classes, by_index_mid);
	r->map = sum_ap / (double)r->n_classes;
	r->mean_auc = sum_auc / (double)r->n_classes;
	r->mean_eer = sum_eer / (double)r->n_classes;
	r->mean_dprime = n_dp ? sum_dp / (double)n_dp : NAN;
	r->dprime_of_mean_auc = aed_dprime(r->mean_auc);
	aed_prf_finish(&r->micro);
	return AED_OK;
}

int aed_eval_scores(struct aed_db *db, const struct aed_eval_scores_opts *opts,
		    struct aed_eval_scores_result *r)
{
	struct aed_eval_scores_opts o = *opts;
	int64_t *seg = NULL, *cls = NULL;
	size_t nseg = 0, ncls = 0;
	float *S = NULL, *sc = NULL;
	uint8_t *L = NULL, *lab = NULL, *has = NULL;
	int rc;

	memset(r, 0, sizeof *r);
	if (o.threshold <= 0)
		o.threshold = AED_EVAL_SCORES_THRESHOLD_DEFAULT;
	if (o.min_positives < 1)
		o.min_positives = 1;
	if (!o.split)
		return aed_error(AED_EUSAGE, "eval scores: --split NAME is required");
	if ((rc = split_segments(db, o.split, &seg, &nseg)) ||
	    (rc = scored_classes(db, &o, &cls, &ncls)))
		goto out;
	S = malloc(nseg * ncls * sizeof *S);
	L = calloc(nseg * ncls, 1);
	has = calloc(nseg, 1);
	sc = malloc(nseg * sizeof *sc);
	lab = malloc(nseg);
	if (!S || !L || !has || !sc || !lab) {
		rc = aed_error(AED_ENOMEM, "out of memory for %zu segments x %zu classes", nseg, ncls);
		goto out;
	}
	for (size_t i = 0; i < nseg * ncls; i++)
		S[i] = NAN;
	if ((rc = load_scores(db, &o, seg, nseg, cls, ncls, S, has)))
		goto out;
	for (size_t i = 0; i < nseg; i++) {
		r->n_segments += has[i];
		r->n_missing += !has[i];
	}
	if (!r->n_segments) {
		rc = aed_error(AED_ESTATE, "eval scores: no segment of split '%s' has %s scores%s",
			       o.split, aed_scorer_name(o.scorer),
			       o.scorer == AED_SCORER_YAMNET ? " (run `aedcurate embed`)" : "");
		goto out;
	}
	if ((rc = load_labels(db, o.split, seg, nseg, cls, ncls, L)))
		goto out;
	rc = class_measures(db, &o, cls, ncls, S, L, nseg, sc, lab, r);
out:
	free(seg);
	free(cls);
	free(S);
	free(L);
	free(has);
	free(sc);
	free(lab);
	if (rc)
		aed_eval_scores_result_release(r);
	return rc;
}
