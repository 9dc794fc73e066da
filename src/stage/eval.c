/* eval.c - evaluation measures (AP, ROC AUC, d', EER, P/R/F1, sed_eval
 * segment-based F1 and error rate) and the `eval scores` stage, which scores
 * a split's stored clip or frame scores against its clip labels. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#include "aedcurate/error.h"
#include "aedcurate/metrics.h"
#include "aedcurate/nn.h"
#include "aedcurate/class.h"
#include "aedcurate/refine.h"
#include "aedcurate/store.h"

/* --- ranking measures -------------------------------------------------------- */

struct scored {
	float s;
	uint8_t y;
};

static int by_score_desc(const void *a, const void *b)
{
	float x = ((const struct scored *)a)->s, y = ((const struct scored *)b)->s;

	return (x < y) - (x > y);
}

/* Items sorted by descending score (NaN scores sort last as -inf). NULL on
 * allocation failure. */
static struct scored *sorted_desc(const float *scores, const uint8_t *labels, size_t n,
				  size_t *npos)
{
	struct scored *v = malloc((n ? n : 1) * sizeof *v);

	*npos = 0;
	if (!v)
		return NULL;
	for (size_t i = 0; i < n; i++) {
		v[i].s = isnan(scores[i]) ? -INFINITY : scores[i];
		v[i].y = labels[i] ? 1 : 0;
		*npos += v[i].y;
	}
	qsort(v, n, sizeof *v, by_score_desc);
	return v;
}

double aed_average_precision(const float *scores, const uint8_t *labels, size_t n)
{
	size_t npos, tp = 0, seen = 0;
	struct scored *v = sorted_desc(scores, labels, n, &npos);
	double ap = 0, r_prev = 0;

	if (!v || !npos) {
		free(v);
		return NAN;
	}
	for (size_t i = 0; i < n;) {
		size_t j = i;
		/* Tied scores pass the threshold together. */
		for (; j < n && v[j].s == v[i].s; j++)
			tp += v[j].y;
		seen = j;
		double r = (double)tp / (double)npos, p = (double)tp / (double)seen;
		ap += (r - r_prev) * p;
		r_prev = r;
		i = j;
	}
	free(v);
	return ap;
}

double aed_ranked_precision_at(const uint8_t *rel, size_t n, size_t k)
{
	size_t hits = 0;

	if (!k)
		return NAN;
	for (size_t i = 0; i < n && i < k; i++)
		hits += rel[i] != 0;
	return (double)hits / (double)k;
}

double aed_ranked_average_precision(const uint8_t *rel, size_t n, size_t n_pos)
{
	size_t hits = 0;
	double sum = 0;

	if (!n_pos)
		return NAN;
	for (size_t i = 0; i < n; i++)
		if (rel[i])
			sum += (double)++hits / (double)(i + 1);
	return sum / (double)n_pos;
}

double aed_roc_auc(const float *scores, const uint8_t *labels, size_t n)
{
	size_t npos, pos_above = 0;
	struct scored *v = sorted_desc(scores, labels, n, &npos);
	double wins = 0;

	if (!v || !npos || npos == n) {
		free(v);
		return NAN;
	}
	/* Each negative loses to the positives scored above it and half-loses
	 * to the positives tied with it. */
	for (size_t i = 0; i < n;) {
		size_t j = i, gp = 0, gn = 0;
		for (; j < n && v[j].s == v[i].s; j++) {
			gp += v[j].y;
			gn += !v[j].y;
		}
		wins += (double)gn * ((double)pos_above + 0.5 * (double)gp);
		pos_above += gp;
		i = j;
	}
	free(v);
	return wins / ((double)npos * (double)(n - npos));
}

double aed_equal_error_rate(const float *scores, const uint8_t *labels, size_t n)
{
	size_t npos, tp = 0, fp = 0;
	struct scored *v = sorted_desc(scores, labels, n, &npos);
	double fpr0 = 0, fnr0 = 1, eer = NAN;

	if (!v || !npos || npos == n) {
		free(v);
		return NAN;
	}
	/* Walk the ROC from (FPR 0, FNR 1); FNR falls and FPR rises, so the
	 * first point with FNR <= FPR brackets the crossing. */
	for (size_t i = 0; i < n;) {
		size_t j = i;
		for (; j < n && v[j].s == v[i].s; j++) {
			tp += v[j].y;
			fp += !v[j].y;
		}
		double fpr = (double)fp / (double)(n - npos), fnr = 1.0 - (double)tp / (double)npos;
		if (fnr <= fpr) {
			/* fpr0 + t*(fpr-fpr0) = fnr0 + t*(fnr-fnr0) */
			double den = (fpr - fpr0) - (fnr - fnr0);
			double t = den != 0 ? (fnr0 - fpr0) / den : 0;
			eer = fpr0 + t * (fpr - fpr0);
			break;
		}
		fpr0 = fpr;
		fnr0 = fnr;
		i = j;
	}
	free(v);
	return eer;
}

/* Acklam's rational approximation, polished by one Halley step on erfc. */
double aed_norm_ppf(double p)
{
	static const double a[] = { -3.969683028665376e+01, 2.209460984245205e+02,
				    -2.759285104469687e+02, 1.383577518672690e+02,
				    -3.066479806614716e+01, 2.506628277459239e+00 };
	static const double b[] = { -5.447609879822406e+01, 1.615858368580409e+02,
				    -1.556989798598866e+02, 6.680131188771972e+01,
				    -1.328068155288572e+01 };
	static const double c[] = { -7.784894002430293e-03, -3.223964580411365e-01,
				    -2.400758277161838e+00, -2.549732539343734e+00,
				    4.374664141464968e+00, 2.938163982698783e+00 };
	static const double d[] = { 7.784695709041462e-03, 3.224671290700398e-01,
				    2.445134137142996e+00, 3.754408661907416e+00 };
	double q, r, x;

	if (isnan(p) || p < 0 || p > 1)
		return NAN;
	if (p == 0)
		return -INFINITY;
	if (p == 1)
		return INFINITY;
	if (p < 0.02425) {
		q = sqrt(-2 * log(p));
		x = (((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5]) /
		    ((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1);
	} else if (p > 1 - 0.02425) {
		q = sqrt(-2 * log(1 - p));
		x = -(((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5]) /
		    ((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1);
	} else {
		q = p - 0.5;
		r = q * q;
		x = (((((a[0] * r + a[1]) * r + a[2]) * r + a[3]) * r + a[4]) * r + a[5]) * q /
		    (((((b[0] * r + b[1]) * r + b[2]) * r + b[3]) * r + b[4]) * r + 1);
	}
	double e = 0.5 * erfc(-x / sqrt(2)) - p;
	double u = e * sqrt(2 * M_PI) * exp(x * x / 2);
	return x - u / (1 + x * u / 2);
}

double aed_dprime(double auc)
{
	return sqrt(2.0) * aed_norm_ppf(auc);
}

void aed_prf_finish(struct aed_prf *p)
{
	int64_t sys = p->tp + p->fp, ref = p->tp + p->fn;

	p->precision = sys ? (double)p->tp / (double)sys : NAN;
	p->recall = ref ? (double)p->tp / (double)ref : NAN;
	if (!sys || !ref)
		p->f1 = sys || ref ? 0 : NAN;
	else
		p->f1 = p->tp ? 2 * p->precision * p->recall / (p->precision + p->recall) : 0;
}

void aed_prf_at(const float *scores, const uint8_t *labels, size_t n, double threshold,
		struct aed_prf *out)
{
	memset(out, 0, sizeof *out);
	for (size_t i = 0; i < n; i++) {
		int pred = scores[i] >= threshold, y = labels[i] != 0;
		out->tp += pred && y;
		out->fp += pred && !y;
		out->fn += !pred && y;
		out->tn += !pred && !y;
	}
	aed_prf_finish(out);
}

void aed_prf_masks(const uint8_t *pred, const uint8_t *ref, size_t n, struct aed_prf *out)
{
	memset(out, 0, sizeof *out);
	for (size_t i = 0; i < n; i++) {
		int p = pred[i] != 0, y = ref[i] != 0;
		out->tp += p && y;
		out->fp += p && !y;
		out->fn += !p && y;
		out->tn += !p && !y;
	}
	aed_prf_finish(out);
}

/* --- sed_eval segment-based -------------------------------------------------- */

void aed_segment_eval_add(struct aed_segment_eval *e, const uint8_t *ref,
			  const uint8_t *sys, int n_classes)
{
	int64_t tp = 0, nref = 0, nsys = 0;

	for (int k = 0; k < n_classes; k++) {
		tp += ref[k] && sys[k];
		nref += ref[k] != 0;
		nsys += sys[k] != 0;
	}
	int64_t fn = nref - tp, fp = nsys - tp;
	e->ntp += tp;
	e->nref += nref;
	e->nsys += nsys;
	e->s += fn < fp ? fn : fp;
	e->d += fn > fp ? fn - fp : 0;
	e->i += fp > fn ? fp - fn : 0;
}

void aed_segment_eval_finish(struct aed_segment_eval *e)
{
	e->precision = e->nsys ? (double)e->ntp / (double)e->nsys : NAN;
	e->recall = e->nref ? (double)e->ntp / (double)e->nref : NAN;
	if (e->ntp)
		e->f1 = 2 * e->precision * e->recall / (e->precision + e->recall);
	else
		e->f1 = e->nsys || e->nref ? 0 : NAN;
	e->error_rate = e->nref ? (double)(e->s + e->d + e->i) / (double)e->nref : NAN;
}

void aed_intervals_to_segments(const double *start, const double *end, size_t n,
			       double seg_s, uint8_t *flags, size_t n_seg)
{
	memset(flags, 0, n_seg);
	for (size_t k = 0; k < n; k++) {
		if (!(end[k] > start[k]))
			continue;
		double a = floor(start[k] / seg_s), b = ceil(end[k] / seg_s);
		for (double j = a < 0 ? 0 : a; j < b && j < (double)n_seg; j++)
			flags[(size_t)j] = 1;
	}
}

void aed_intervals_to_patches(const double *start, const double *end, size_t n,
			      double hop_s, double len_s, uint8_t *flags, size_t n_patches)
{
	memset(flags, 0, n_patches);
	for (size_t i = 0; i < n_patches; i++) {
		double p0 = (double)i * hop_s, p1 = p0 + len_s;
		for (size_t k = 0; k < n && !flags[i]; k++) {
			double ov = fmin(p1, end[k]) - fmax(p0, start[k]);
			double need = 0.5 * fmin(len_s, end[k] - start[k]);
			/* 1e-9: times stored as whole ms come back as binary fractions. */
			if (ov > 0 && ov >= need - 1e-9)
				flags[i] = 1;
		}
	}
}

void aed_patches_ambiguous(const double *start, const double *end, size_t n,
			   double hop_s, double len_s, const uint8_t *flags,
			   uint8_t *ambiguous, size_t n_patches)
{
	for (size_t i = 0; i < n_patches; i++) {
		double p0 = (double)i * hop_s, p1 = p0 + len_s;
		ambiguous[i] = 0;
		for (size_t k = 0; k < n && !flags[i]; k++)
			if (fmin(p1, end[k]) - fmax(p0, start[k]) > 1e-9)
				ambiguous[i] = 1;
	}
}

void aed_prf_masks_skip(const uint8_t *pred, const uint8_t *ref, const uint8_t *skip,
			size_t n, struct aed_prf *out)
{
	memset(out, 0, sizeof *out);
	for (size_t i = 0; i < n; i++) {
		int p = pred[i] != 0, y = ref[i] != 0;
		if (skip && skip[i])
			continue;
		out->tp += p && y;
		out->fp += p && !y;
		out->fn += !p && y;
		out->tn += !p && !y;
	}
	aed_prf_finish(out);
}

void aed_patches_to_intervals(const uint8_t *mask, size_t n_patches, double hop_s,
			      double len_s, double clip_s, double *start, double *end,
			      size_t *n_out)
{
	size_t m = 0;

	for (size_t i = 0; i < n_patches; i++) {
		if (!mask[i])
			continue;
		double a = (double)i * hop_s + (len_s - hop_s) / 2, b = a + hop_s;
		if (i == 0)
			a = 0;
		if (i + 1 == n_patches && clip_s > b)
			b = clip_s;
		if (clip_s > 0 && b > clip_s)
			b = clip_s;
		if (m && fabs(end[m - 1] - a) < 1e-9) {
			end[m - 1] = b;
			continue;
		}
		start[m] = a;
		end[m] = b;
		m++;
	}
	*n_out = m;
}

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

int aed_eval_scores(struct aed_db *db, const struct aed_eval_scores_opts *opts,
		    struct aed_eval_scores_result *r)
{
	struct aed_eval_scores_opts o = *opts;
	sqlite3_stmt *st = NULL;
	int64_t *seg = NULL, *cls = NULL, ymap[AED_YAMNET_CLASSES];
	size_t nseg = 0, cap = 0, ncls = 0;
	float *S = NULL, *sc = NULL;
	uint8_t *L = NULL, *lab = NULL, *has = NULL;
	int rc, s;

	memset(r, 0, sizeof *r);
	if (o.threshold <= 0)
		o.threshold = AED_EVAL_SCORES_THRESHOLD_DEFAULT;
	if (o.min_positives < 1)
		o.min_positives = 1;
	if (!o.split)
		return aed_error(AED_EUSAGE, "eval scores: --split NAME is required");
	if ((rc = aed_db_prepare(db, "SELECT ss.segment_id FROM segment_split ss JOIN split sp ON "
				 "sp.id = ss.split_id WHERE sp.name = ?1 ORDER BY ss.segment_id", &st)))
		return rc;
	sqlite3_bind_text(st, 1, o.split, -1, SQLITE_STATIC);
	while ((s = sqlite3_step(st)) == SQLITE_ROW) {
		if (nseg == cap) {
			size_t nc = cap ? 2 * cap : 1024;
			int64_t *p = realloc(seg, nc * sizeof *p);
			if (!p) {
				rc = aed_error(AED_ENOMEM, "out of memory");
				goto out;
			}
			seg = p;
			cap = nc;
		}
		seg[nseg++] = sqlite3_column_int64(st, 0);
	}
	sqlite3_finalize(st);
	st = NULL;
	if (s != SQLITE_DONE) {
		rc = aed_db_error(db, "listing the split");
		goto out;
	}
	if (!nseg) {
		rc = aed_error(AED_ENOTFOUND, "eval scores: split '%s' has no segments", o.split);
		goto out;
	}
	/* The classes scored, and S [nseg][ncls] clip scores (NaN: unscored). */
	if (o.scorer == AED_SCORER_YAMNET) {
		if ((rc = aed_yamnet_output_classes(db, o.class_map, ymap)))
			goto out;
		if (!(cls = malloc(AED_YAMNET_CLASSES * sizeof *cls))) {
			rc = aed_error(AED_ENOMEM, "out of memory");
			goto out;
		}
		for (int k = 0; k < AED_YAMNET_CLASSES; k++)
			cls[ncls++] = ymap[k];
	} else {
		if ((rc = aed_db_prepare(db, "SELECT DISTINCT class_id FROM frame_score WHERE scorer = "
					 "'trained' ORDER BY class_id", &st)))
			goto out;
		cap = 0;
		while ((s = sqlite3_step(st)) == SQLITE_ROW) {
			if (ncls == cap) {
				size_t nc = cap ? 2 * cap : 64;
				int64_t *p = realloc(cls, nc * sizeof *p);
				if (!p) {
					rc = aed_error(AED_ENOMEM, "out of memory");
					goto out;
				}
				cls = p;
				cap = nc;
			}
			cls[ncls++] = sqlite3_column_int64(st, 0);
		}
		sqlite3_finalize(st);
		st = NULL;
		if (!ncls) {
			rc = aed_error(AED_ESTATE, "eval scores --scorer trained: no trained frame scores "
				       "(run `aedcurate refine --scorer trained` first)");
			goto out;
		}
	}
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
	if (o.scorer == AED_SCORER_YAMNET) {
		for (size_t i = 0; i < nseg; i++) {
			struct aed_array a;
			rc = aed_array_get(db, "scores", seg[i], &a);
			if (rc == AED_ENOTFOUND) {
				rc = AED_OK;
				continue;
			}
			if (rc)
				goto out;
			if (a.dtype != AED_F32 || a.dims[1] != AED_YAMNET_CLASSES || a.dims[0] < 1) {
				aed_array_release(&a);
				rc = aed_error(AED_EFORMAT, "segment %lld: scores are not f32 [n, 521]",
					       (long long)seg[i]);
				goto out;
			}
			for (int k = 0; k < AED_YAMNET_CLASSES; k++)
				S[i * ncls + k] = pool((const float *)a.data + k, (size_t)a.dims[0],
						       AED_YAMNET_CLASSES, o.pool);
			has[i] = 1;
			aed_array_release(&a);
		}
	} else {
		if ((rc = aed_db_prepare(db, "SELECT segment_id, class_id, n_patches, scores FROM "
					 "frame_score WHERE scorer = 'trained'", &st)))
			goto out;
		while ((s = sqlite3_step(st)) == SQLITE_ROW) {
			long i = find_seg(seg, nseg, sqlite3_column_int64(st, 0));
			long k = find_seg(cls, ncls, sqlite3_column_int64(st, 1));
			size_t np = (size_t)sqlite3_column_int64(st, 2);
			if (i < 0 || k < 0 || (size_t)sqlite3_column_bytes(st, 3) != np * sizeof(float))
				continue;
			float *tmp = malloc(np ? np * sizeof *tmp : 1);
			if (!tmp) {
				rc = aed_error(AED_ENOMEM, "out of memory");
				goto out;
			}
			memcpy(tmp, sqlite3_column_blob(st, 3), np * sizeof *tmp);
			S[(size_t)i * ncls + (size_t)k] = pool(tmp, np, 1, o.pool);
			has[i] = 1;
			free(tmp);
		}
		sqlite3_finalize(st);
		st = NULL;
		if (s != SQLITE_DONE) {
			rc = aed_db_error(db, "reading frame scores");
			goto out;
		}
	}
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
	/* Clip labels through the closure. */
	if ((rc = aed_db_prepare(db, "SELECT DISTINCT l.segment_id, cc.ancestor_id FROM label l "
				 "JOIN segment_split ss ON ss.segment_id = l.segment_id JOIN split sp "
				 "ON sp.id = ss.split_id AND sp.name = ?1 JOIN class_closure cc ON "
				 "cc.descendant_id = l.class_id", &st)))
		goto out;
	sqlite3_bind_text(st, 1, o.split, -1, SQLITE_STATIC);
	while ((s = sqlite3_step(st)) == SQLITE_ROW) {
		long i = find_seg(seg, nseg, sqlite3_column_int64(st, 0));
		int64_t c = sqlite3_column_int64(st, 1);
		for (size_t k = 0; i >= 0 && k < ncls; k++)
			if (cls[k] == c)
				L[(size_t)i * ncls + k] = 1;
	}
	sqlite3_finalize(st);
	st = NULL;
	if (s != SQLITE_DONE) {
		rc = aed_db_error(db, "reading labels");
		goto out;
	}
	if (!(r->classes = calloc(ncls, sizeof *r->classes))) {
		rc = aed_error(AED_ENOMEM, "out of memory");
		goto out;
	}
	if ((rc = aed_db_prepare(db, "SELECT mid, name, coalesce(label_index, -1) FROM class "
				 "WHERE id = ?1", &st)))
		goto out;
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
		if (npos < (size_t)o.min_positives || npos == n)
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
		aed_prf_at(sc, lab, n, o.threshold, &e->prf);
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
	if (!r->n_classes) {
		rc = aed_error(AED_ESTATE, "eval scores: no class has %d positive(s) and a negative "
			       "among the %lld scored segments of '%s'", o.min_positives,
			       (long long)r->n_segments, o.split);
		goto out;
	}
	qsort(r->classes, r->n_classes, sizeof *r->classes, by_index_mid);
	r->map = sum_ap / (double)r->n_classes;
	r->mean_auc = sum_auc / (double)r->n_classes;
	r->mean_eer = sum_eer / (double)r->n_classes;
	r->mean_dprime = n_dp ? sum_dp / (double)n_dp : NAN;
	r->dprime_of_mean_auc = aed_dprime(r->mean_auc);
	aed_prf_finish(&r->micro);
out:
	sqlite3_finalize(st);
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
