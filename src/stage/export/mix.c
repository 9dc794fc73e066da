/* mix.c - --mix-augment: mixes of two same-class clips of one split that top
 * up classes below min (which pairs, with what delay, gain and EQ), and the
 * rendering of a mix's samples when its shard is written. After split.c; the
 * mixes then join the clips as samples (samples.c). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "aedcurate/audio.h"
#include "aedcurate/error.h"
#include "stage/export/internal.h"

static int add_mix(struct ex *x, int a, int b, int c, int split, uint64_t *rng)
{
	if (x->n_mix == x->cap_mix) {
		size_t cap = x->cap_mix ? 2 * x->cap_mix : 64;
		struct xmix *m = realloc(x->mix, cap * sizeof *m);
		if (!m)
			return aed_error(AED_ENOMEM, "export: out of memory");
		x->mix = m;
		x->cap_mix = cap;
	}
	struct xmix *m = &x->mix[x->n_mix];
	memset(m, 0, sizeof *m);
	const struct xseg *A = &x->seg[a], *B = &x->seg[b];
	m->a = a;
	m->b = b;
	m->cls = c;
	m->split = split;
	double len_a = (double)A->n_samples / AED_SAMPLE_RATE;
	m->delay_s = floor(ex_rng_uniform(rng) * 0.5 * len_a * 1000.0) / 1000.0;
	m->gain_db = round((-9.0 + 9.0 * ex_rng_uniform(rng)) * 100.0) / 100.0;
	m->eq_hz = round(250.0 * pow(16.0, ex_rng_uniform(rng)));
	m->eq_db = round((-9.0 + 18.0 * ex_rng_uniform(rng)) * 100.0) / 100.0;
	m->cls_union = malloc((size_t)(A->n_cls + B->n_cls) * sizeof(int));
	size_t kl = strlen(A->key) + strlen(B->key) + 8;
	m->key = malloc(kl);
	if (!m->cls_union || !m->key) {
		free(m->cls_union);
		free(m->key);
		return aed_error(AED_ENOMEM, "export: out of memory");
	}
	snprintf(m->key, kl, "%s_mix_%s", A->key, B->key);
	for (int k = 0; k < A->n_cls; k++)
		m->cls_union[m->n_cls++] = A->cls[k];
	for (int k = 0; k < B->n_cls; k++) {
		int dup = 0;
		for (int j = 0; j < A->n_cls; j++)
			dup |= A->cls[j] == B->cls[k];
		if (!dup)
			m->cls_union[m->n_cls++] = B->cls[k];
	}
	ex_sort_ctx = x;
	qsort(m->cls_union, (size_t)m->n_cls, sizeof(int), ex_cmp_cls_rank);
	for (int k = 0; k < m->n_cls; k++)
		x->cls[m->cls_union[k]].aug++;
	x->n_mix++;
	return AED_OK;
}

/* Classes below min get mixes of two of their clips of the same split (so no
 * source crosses splits), up to each split's share of min. Each ordered pair
 * of clips is used once. */
int ex_make_mixes(struct ex *x)
{
	int *members = malloc((x->n_seg + 1) * sizeof *members);
	int *pairs = NULL;
	int rc = AED_OK;

	if (!members)
		return aed_error(AED_ENOMEM, "export: out of memory");
	int *by_rank = malloc((x->n_cls + 1) * sizeof *by_rank);
	if (!by_rank) {
		free(members);
		return aed_error(AED_ENOMEM, "export: out of memory");
	}
	for (size_t i = 0; i < x->n_cls; i++)
		by_rank[x->cls[i].rank] = (int)i;
	for (size_t ri = 0; ri < x->n_cls; ri++) {
		int c = by_rank[ri];
		if (x->cls[c].sel >= x->opt.min)
			continue;
		for (int sp = 0; sp < x->opt.n_splits; sp++) {
			size_t k = 0;
			for (size_t i = 0; i < x->n_seg; i++) {
				const struct xseg *s = &x->seg[i];
				if (!s->sel || s->split != sp)
					continue;
				for (int j = 0; j < s->n_cls; j++)
					if (s->cls[j] == c)
						members[k++] = (int)i;
			}
			int64_t want = (int64_t)ceil(x->opt.splits[sp].fraction * (double)x->opt.min - 1e-9);
			if (k < 2 || (int64_t)k >= want)
				continue;
			int64_t need = want - (int64_t)k;
			size_t np = k * (k - 1);
			free(pairs);
			pairs = malloc(np * 2 * sizeof *pairs);
			if (!pairs) {
				rc = aed_error(AED_ENOMEM, "export: out of memory");
				goto out;
			}
			size_t p = 0;
			for (size_t a = 0; a < k; a++)
				for (size_t b = 0; b < k; b++)
					if (a != b) {
						pairs[2 * p] = members[a];
						pairs[2 * p + 1] = members[b];
						p++;
					}
			char salt[96];
			snprintf(salt, sizeof salt, "%s/%s", x->cls[c].mid, x->opt.splits[sp].name);
			uint64_t rng = ex_hash_str(x->opt.seed, "mix", salt);
			for (size_t i = np; i > 1; i--) { /* Fisher-Yates */
				size_t j = (size_t)(ex_rng_uniform(&rng) * (double)i);
				int t0 = pairs[2 * (i - 1)], t1 = pairs[2 * (i - 1) + 1];
				pairs[2 * (i - 1)] = pairs[2 * j];
				pairs[2 * (i - 1) + 1] = pairs[2 * j + 1];
				pairs[2 * j] = t0;
				pairs[2 * j + 1] = t1;
			}
			for (size_t i = 0; i < np && need > 0; i++) {
				int a = pairs[2 * i], b = pairs[2 * i + 1], used = 0;
				for (size_t m = 0; m < x->n_mix && !used; m++)
					used = x->mix[m].a == a && x->mix[m].b == b;
				if (used)
					continue;
				if ((rc = add_mix(x, a, b, c, sp, &rng)))
					goto out;
				need--;
			}
		}
	}
out:
	free(members);
	free(pairs);
	free(by_rank);
	return rc;
}

/* Mix = A + g * EQ(B delayed), g = 10^(gain_db/20), EQ a peaking biquad (RBJ
 * cookbook, Q 1) at eq_hz with eq_db; scaled down if the sum would clip.
 * Length: max(len A, delay + len B), at most A's stored clip length. */
int ex_render_mix(const struct ex *x, struct aed_db *db, const struct xmix *m, int16_t **pcm,
		  size_t *n)
{
	struct aed_array A = { 0 }, B = { 0 };
	const struct xseg *sa = &x->seg[m->a], *sb = &x->seg[m->b];
	float *acc = NULL;
	int rc;

	*pcm = NULL;
	if ((rc = aed_array_get(db, "clip", sa->id, &A)) ||
	    (rc = aed_array_get(db, "clip", sb->id, &B)))
		goto out;
	size_t la = (size_t)sa->n_samples, lb = (size_t)sb->n_samples;
	size_t cap = (size_t)(A.nbytes / sizeof(int16_t));
	if (la > cap)
		la = cap;
	if (lb > B.nbytes / sizeof(int16_t))
		lb = B.nbytes / sizeof(int16_t);
	size_t delay = (size_t)llround(m->delay_s * AED_SAMPLE_RATE);
	size_t len = delay + lb > la ? delay + lb : la;
	if (len > cap)
		len = cap;
	acc = calloc(len + 1, sizeof *acc);
	*pcm = malloc((len + 1) * sizeof **pcm);
	if (!acc || !*pcm) {
		rc = aed_error(AED_ENOMEM, "export: out of memory");
		goto out;
	}
	const int16_t *a = A.data, *b = B.data;
	for (size_t i = 0; i < la; i++)
		acc[i] = a[i] / AED_CLIP_SCALE;
	double w0 = 2 * M_PI * m->eq_hz / AED_SAMPLE_RATE, Ag = pow(10.0, m->eq_db / 40.0);
	double alpha = sin(w0) / 2.0; /* Q = 1 */
	double b0 = 1 + alpha * Ag, b1 = -2 * cos(w0), b2 = 1 - alpha * Ag;
	double a0 = 1 + alpha / Ag, a1 = -2 * cos(w0), a2 = 1 - alpha / Ag;
	double g = pow(10.0, m->gain_db / 20.0), x1 = 0, x2 = 0, y1 = 0, y2 = 0;
	for (size_t i = 0; i < lb && delay + i < len; i++) {
		double in = b[i] / AED_CLIP_SCALE;
		double y = (b0 * in + b1 * x1 + b2 * x2 - a1 * y1 - a2 * y2) / a0;
		x2 = x1;
		x1 = in;
		y2 = y1;
		y1 = y;
		acc[delay + i] += (float)(g * y);
	}
	float peak = 0;
	for (size_t i = 0; i < len; i++)
		peak = fabsf(acc[i]) > peak ? fabsf(acc[i]) : peak;
	if (peak > 0.999f)
		for (size_t i = 0; i < len; i++)
			acc[i] *= 0.999f / peak;
	aed_f32_to_s16(acc, len, *pcm);
	*n = len;
out:
	if (rc) {
		free(*pcm);
		*pcm = NULL;
	}
	free(acc);
	aed_array_release(&A);
	aed_array_release(&B);
	return rc;
}
