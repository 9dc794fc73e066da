/* metrics.c - the evaluation measures of metrics.h: average precision, ROC
 * AUC, d', EER, precision/recall/F1, sed_eval's segment-based measures, and
 * the patch/time conversions the frame measures use. Pure math over the
 * caller's arrays: no database, no I/O. Used wherever a stage scores
 * something: `eval scores`, `eval refine`, `eval mine`. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "aedcurate/metrics.h"

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
