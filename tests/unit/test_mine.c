/* test_mine.c - the in-memory mining core on synthetic vectors: shared
 * frames kept and one exemplar's background dropped, generic frames dropped,
 * multi-query search finds a planted event, exclusions, z vs raw scores. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "aedcurate/error.h"
#include "aedcurate/search.h"

#define D 64

static uint64_t rng_state = 0x9E3779B97F4A7C15ull;
static double urand(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return (rng_state >> 11) * (1.0 / 9007199254740992.0);
}
static float gauss(void)
{
	double u = urand() + 1e-12, v = urand();
	return (float)(sqrt(-2 * log(u)) * cos(2 * M_PI * v));
}

static void random_dir(float *v)
{
	for (int j = 0; j < D; j++)
		v[j] = gauss();
	aed_l2_normalize(v, 1, D);
}

/* v = dir + s * noise, normalised */
static void near(float *v, const float *dir, float s)
{
	for (int j = 0; j < D; j++)
		v[j] = dir[j] + s * gauss();
	aed_l2_normalize(v, 1, D);
}

/* Four exemplars: frames 0-2 of each are the shared sound, frames 3-4 are
 * that exemplar's own background. The shared frames must be kept, the
 * backgrounds dropped, and the report must say which clusters span what. */
static void test_select_shared_frames(void **state)
{
	(void)state;
	float target[D], bg[4][D], x[20 * D];
	int ex[20];
	random_dir(target);
	for (int e = 0; e < 4; e++)
		random_dir(bg[e]);
	for (int e = 0; e < 4; e++)
		for (int p = 0; p < 5; p++) {
			near(x + (e * 5 + p) * D, p < 3 ? target : bg[e], 0.1f);
			ex[e * 5 + p] = e;
		}
	struct aed_frame_select_opts o = { .clusters = 5, .seed = 1, .generic_drop = 0 };
	struct aed_frame_selection s;
	assert_int_equal(aed_mine_select_frames(x, ex, 20, D, 4, &o, &s), AED_OK);
	assert_int_equal(s.n_clusters, 5);
	for (int i = 0; i < 20; i++)
		assert_int_equal(s.kept[i], i % 5 < 3);
	assert_int_equal(s.n_kept, 12);
	assert_false(s.fallback);
	int kept_clusters = 0;
	for (int c = 0; c < 5; c++) {
		kept_clusters += s.cl_kept[c];
		if (s.cl_kept[c]) {
			assert_int_equal(s.cl_exemplars[c], 4);
			assert_int_equal(s.cl_frames[c], 12);
		} else
			assert_int_equal(s.cl_exemplars[c], 1);
	}
	assert_int_equal(kept_clusters, 1);
	aed_frame_selection_release(&s);

	/* min_exemplars above what any cluster spans: the widest is kept. */
	o.min_exemplars = 4;
	float y[20 * D];
	memcpy(y, x, sizeof y);
	near(y + 0 * D, bg[0], 0.1f); /* exemplar 0 loses its target frames */
	near(y + 1 * D, bg[0], 0.1f);
	near(y + 2 * D, bg[0], 0.1f);
	assert_int_equal(aed_mine_select_frames(y, ex, 20, D, 4, &o, &s), AED_OK);
	assert_true(s.fallback);
	for (int i = 5; i < 20; i++)
		assert_int_equal(s.kept[i], i % 5 < 3);
	aed_frame_selection_release(&s);

	/* One exemplar: every frame is kept (nothing to share with). */
	struct aed_frame_select_opts one = { .seed = 1, .generic_drop = 0 };
	assert_int_equal(aed_mine_select_frames(x, ex, 5, D, 1, &one, &s), AED_OK);
	assert_int_equal(s.n_kept, 5);
	aed_frame_selection_release(&s);

	assert_int_equal(aed_mine_select_frames(x, ex, 0, D, 4, &o, &s), AED_ENOTFOUND);
}

/* The frames with the highest corpus similarity are dropped, never all. */
static void test_select_generic(void **state)
{
	(void)state;
	float target[D], x[8 * D], g[8] = { 0.1f, 0.9f, 0.2f, 0.3f, 0.8f, 0.15f, 0.25f, 0.05f };
	int ex[8] = { 0, 0, 0, 0, 1, 1, 1, 1 };
	random_dir(target);
	for (int i = 0; i < 8; i++)
		near(x + i * D, target, 0.05f);
	struct aed_frame_select_opts o = { .clusters = 1, .seed = 1, .generic = g,
					   .generic_drop = 0.25 };
	struct aed_frame_selection s;
	assert_int_equal(aed_mine_select_frames(x, ex, 8, D, 2, &o, &s), AED_OK);
	assert_int_equal(s.n_generic, 2);
	for (int i = 0; i < 8; i++)
		assert_int_equal(s.kept[i], !(i == 1 || i == 4));
	assert_true(s.generic[1] && s.generic[4] && !s.generic[0]);
	aed_frame_selection_release(&s);
}

/* Three exemplars, each with one frame of the shared sound among seven of
 * its own background: two clusters cannot separate them, the shared test
 * does (only the target frames are unusually close to another exemplar's). */
static void test_select_shared_test(void **state)
{
	(void)state;
	enum { NE = 3, PE = 8, NS = 3000 };
	float target[D], bg[NE][D], x[NE * PE * D], *sample = malloc(sizeof(float) * NS * D);
	float mu[NE * PE], sd[NE * PE];
	int ex[NE * PE];
	random_dir(target);
	for (int e = 0; e < NE; e++)
		random_dir(bg[e]);
	for (int e = 0; e < NE; e++)
		for (int p = 0; p < PE; p++) {
			near(x + (e * PE + p) * D, p == 2 ? target : bg[e], 0.05f);
			ex[e * PE + p] = e;
		}
	/* The corpus: the exemplars' kinds of background are common in it (as
	 * street noise or hum are), the target is not. */
	for (int i = 0; i < NS; i++)
		if (i % 2)
			near(sample + (size_t)i * D, bg[(i / 2) % NE], 0.08f);
		else
			random_dir(sample + (size_t)i * D);
	struct aed_mine_corpus c = { .sample = sample, .n_sample = NS };
	assert_int_equal(aed_mine_corpus_stats(&c, x, NE * PE, D, mu, sd), AED_OK);
	struct aed_frame_select_opts o = { .seed = 1, .generic = mu, .spread = sd,
					   .generic_drop = 0 };
	struct aed_frame_selection s;
	assert_int_equal(aed_mine_select_frames(x, ex, NE * PE, D, NE, &o, &s), AED_OK);
	assert_int_equal(s.share_needed, 1);
	for (int i = 0; i < NE * PE; i++)
		assert_int_equal(s.kept[i], i % PE == 2);
	assert_int_equal(s.n_unshared, NE * PE - NE);
	aed_frame_selection_release(&s);
	/* Off: the backgrounds stay. */
	o.share = -1;
	assert_int_equal(aed_mine_select_frames(x, ex, NE * PE, D, NE, &o, &s), AED_OK);
	assert_true(s.n_kept > NE);
	aed_frame_selection_release(&s);
	free(sample);
}

struct corpus {
	int nseg, per;
	float common[4][D];     /* the background every segment shares */
	float *x;
	int64_t *first;
	struct aed_vindex *ix;
};

/* nseg segments of `per` frames: background frames near a handful of common
 * directions (silence, hum), plus the target planted at given places. */
static void corpus_build(struct corpus *c, int nseg, int per, const float *target,
			 const int *plant_seg, const int *plant_patch, int nplant)
{
	float (*common)[D] = c->common;
	for (int i = 0; i < 4; i++)
		random_dir(common[i]);
	c->nseg = nseg;
	c->per = per;
	c->x = malloc((size_t)nseg * per * D * sizeof *c->x);
	c->first = malloc((size_t)(nseg + 1) * sizeof *c->first);
	for (int s = 0; s < nseg; s++) {
		c->first[s] = (int64_t)s * per;
		for (int p = 0; p < per; p++) {
			float *v = c->x + ((size_t)s * per + p) * D;
			if ((s + p) % 3 == 0)
				near(v, common[(s + p) % 4], 0.04f);
			else
				random_dir(v);
		}
	}
	c->first[nseg] = (int64_t)nseg * per;
	for (int i = 0; i < nplant; i++)
		near(c->x + ((size_t)plant_seg[i] * per + plant_patch[i]) * D, target, 0.08f);
	assert_int_equal(aed_vindex_new("Flat", D, &c->ix), AED_OK);
	assert_int_equal(aed_vindex_add(c->ix, (int64_t)nseg * per, c->x), AED_OK);
}

static void corpus_free(struct corpus *c)
{
	aed_vindex_free(&c->ix);
	free(c->x);
	free(c->first);
}

static void test_search_finds_planted(void **state)
{
	(void)state;
	float target[D], q[3 * D];
	random_dir(target);
	int seg[3] = { 17, 42, 99 }, patch[3] = { 3, 0, 19 };
	struct corpus c;
	corpus_build(&c, 300, 20, target, seg, patch, 3);
	for (int i = 0; i < 3; i++)
		near(q + i * D, target, 0.1f);
	struct aed_mine_corpus mc = { .ix = c.ix, .n_segments = c.nseg, .first_vec = c.first,
				      .sample = c.x, .n_sample = (int64_t)c.nseg * c.per };
	struct aed_mine_hit hits[10];
	struct aed_mine_search_stats st;
	int n = 0;
	for (int sc = 0; sc < 2; sc++) {
		struct aed_mine_search_opts o = { .k = 10, .score = sc ? AED_MINE_SCORE_RAW
								       : AED_MINE_SCORE_Z };
		assert_int_equal(aed_mine_search(&mc, q, 3, &o, hits, &n, &st), AED_OK);
		assert_int_equal(n, 10);
		/* The three planted segments first, with the planted patch. */
		for (int i = 0; i < 3; i++) {
			int j = 0;
			while (j < 3 && hits[i].segment != seg[j])
				j++;
			assert_true(j < 3);
			assert_int_equal(hits[i].patch, patch[j]);
		}
		for (int i = 1; i < n; i++)
			assert_true(hits[i].score <= hits[i - 1].score);
		assert_true(st.pooled_frames > 0 && st.hits_per_query >= 256);
	}
	/* Excluded segments are never candidates, however close. */
	unsigned char *excl = calloc((size_t)c.nseg, 1);
	excl[17] = 1;
	mc.excluded = excl;
	struct aed_mine_search_opts o = { .k = 10, .score = AED_MINE_SCORE_Z };
	assert_int_equal(aed_mine_search(&mc, q, 3, &o, hits, &n, &st), AED_OK);
	for (int i = 0; i < n; i++)
		assert_int_not_equal(hits[i].segment, 17);
	assert_true(hits[0].segment == 42 || hits[0].segment == 99);
	/* Exclusions that eat every neighbour of a small fetch: the search widens. */
	memset(excl, 1, (size_t)c.nseg);
	excl[250] = 0;
	struct aed_mine_search_opts few = { .k = 1, .hits_per_query = 0, .score = AED_MINE_SCORE_Z };
	assert_int_equal(aed_mine_search(&mc, q, 3, &few, hits, &n, &st), AED_OK);
	assert_int_equal(n, 1);
	assert_int_equal(hits[0].segment, 250);
	free(excl);

	/* A pool past pool_max frames: fewer hits a query, the pool within the
	 * bound, the planted segments still first. Unbounded, the same search
	 * pools more than the bound. */
	mc.excluded = NULL;
	struct aed_mine_search_opts wide = { .k = 10, .score = AED_MINE_SCORE_Z };
	assert_int_equal(aed_mine_search(&mc, q, 3, &wide, hits, &n, &st), AED_OK);
	assert_false(st.pool_capped);
	int64_t unbounded = st.pooled_frames;
	assert_true(unbounded > 300);
	wide.pool_max = 300;
	assert_int_equal(aed_mine_search(&mc, q, 3, &wide, hits, &n, &st), AED_OK);
	assert_true(st.pool_capped);
	assert_true(st.pooled_frames <= 300 && st.pooled_frames > 0);
	assert_true(st.hits_per_query < 256 && st.hits_per_query >= AED_MINE_POOL_MIN_HITS);
	assert_int_equal(n, 10);
	for (int i = 0; i < 3; i++)
		assert_true(hits[i].segment == seg[0] || hits[i].segment == seg[1] ||
			    hits[i].segment == seg[2]);
	/* A bound the floor cannot meet: the floor holds, the search still answers. */
	wide.pool_max = 10;
	assert_int_equal(aed_mine_search(&mc, q, 3, &wide, hits, &n, &st), AED_OK);
	assert_int_equal(st.hits_per_query, AED_MINE_POOL_MIN_HITS);
	assert_true(n > 0);

	/* auto_hits: where the auto search starts (k = 10 alone starts at 256);
	 * a start that exclusions leave short is widened as before. */
	struct aed_mine_search_opts ah = { .k = 10, .score = AED_MINE_SCORE_Z, .auto_hits = 600 };
	assert_int_equal(aed_mine_search(&mc, q, 3, &ah, hits, &n, &st), AED_OK);
	assert_int_equal(st.hits_per_query, 600);
	assert_int_equal(n, 10);
	for (int i = 0; i < 3; i++)
		assert_true(hits[i].segment == seg[0] || hits[i].segment == seg[1] ||
			    hits[i].segment == seg[2]);
	excl = calloc((size_t)c.nseg, 1);
	memset(excl, 1, (size_t)c.nseg);
	excl[250] = 0;
	mc.excluded = excl;
	ah.k = 1;
	ah.auto_hits = 2;
	assert_int_equal(aed_mine_search(&mc, q, 3, &ah, hits, &n, &st), AED_OK);
	assert_true(st.hits_per_query > 2);
	assert_int_equal(n, 1);
	assert_int_equal(hits[0].segment, 250);
	free(excl);

	/* z needs a sample. */
	mc.excluded = NULL;
	mc.n_sample = 0;
	assert_int_equal(aed_mine_search(&mc, q, 3, &o, hits, &n, &st), AED_ESTATE);
	corpus_free(&c);
}

/* Near-duplicates: 60 segments whose frames are copies of query frame a,
 * 60 of query frame b, each copy slightly off; one segment, the answer, has a
 * frame halfway between a and b. It has the best mean score over the two
 * queries, but is in neither query's 8 nearest frames (the copies are
 * nearer to each). The score query (their normalised mean) finds it; without
 * it (no_score_query) the search misses it. Scores are exact either way,
 * and with every frame pooled both give the same ranking. */
static void test_score_query(void **state)
{
	(void)state;
	enum { NSEG = 121, PER = 2, ANSWER = 120 };
	float q[2 * D], *x = malloc((size_t)NSEG * PER * D * sizeof *x);
	int64_t first[NSEG + 1];
	random_dir(q);
	random_dir(q + D);
	for (int s = 0; s < NSEG; s++) {
		first[s] = (int64_t)s * PER;
		for (int p = 0; p < PER; p++)
			random_dir(x + ((size_t)s * PER + p) * D);
		if (s < 120)
			near(x + (size_t)s * PER * D, q + (s % 2) * D, 0.02f);
	}
	first[NSEG] = (int64_t)NSEG * PER;
	float *mid = x + (size_t)ANSWER * PER * D;
	for (int j = 0; j < D; j++)
		mid[j] = q[j] + q[D + j];
	aed_l2_normalize(mid, 1, D);
	struct aed_vindex *ix;
	assert_int_equal(aed_vindex_new("Flat", D, &ix), AED_OK);
	assert_int_equal(aed_vindex_add(ix, (int64_t)NSEG * PER, x), AED_OK);
	struct aed_mine_corpus mc = { .ix = ix, .n_segments = NSEG, .first_vec = first };
	struct aed_mine_hit with[5], without[5], all[5];
	struct aed_mine_search_stats st;
	int n = 0;
	struct aed_mine_search_opts o = { .k = 5, .hits_per_query = 8, .score = AED_MINE_SCORE_RAW };
	assert_int_equal(aed_mine_search(&mc, q, 2, &o, with, &n, &st), AED_OK);
	assert_int_equal(n, 5);
	assert_int_equal(with[0].segment, ANSWER);
	assert_int_equal(with[0].patch, 0);
	assert_int_equal(st.score_query_hits, AED_MINE_SCORE_QUERY_SHARE * 8);
	/* its exact score: the mean of its similarities to a and b */
	double sa = 0, sb = 0;
	for (int j = 0; j < D; j++) {
		sa += (double)mid[j] * q[j];
		sb += (double)mid[j] * q[D + j];
	}
	assert_float_equal(with[0].score, (sa + sb) / 2, 1e-5);
	o.no_score_query = 1;
	assert_int_equal(aed_mine_search(&mc, q, 2, &o, without, &n, &st), AED_OK);
	assert_int_equal(st.score_query_hits, 0);
	assert_int_equal(n, 5);
	for (int i = 0; i < n; i++)
		assert_int_not_equal(without[i].segment, ANSWER);
	assert_true(without[0].score < with[0].score);
	/* Every frame pooled: the same top 5 with and without. */
	o.hits_per_query = NSEG * PER;
	assert_int_equal(aed_mine_search(&mc, q, 2, &o, all, &n, &st), AED_OK);
	for (int i = 0; i < 5; i++) {
		assert_int_equal(all[i].segment, with[i].segment);
		assert_float_equal(all[i].score, with[i].score, 1e-6);
	}
	/* One query: the score query is that query, not searched twice. */
	o.hits_per_query = 8;
	o.no_score_query = 0;
	assert_int_equal(aed_mine_search(&mc, q, 1, &o, with, &n, &st), AED_OK);
	assert_int_equal(st.score_query_hits, 0);
	assert_true(st.pooled_frames <= 8);
	aed_vindex_free(&ix);
	free(x);
}

/* The score query's direction under z scores and weights: w_j q_j / sd_j.
 * Two queries a, b weighted 3 : 1, with a corpus sample whose similarities
 * to a spread about 3 times as widely as to b. The answer lies along the
 * right direction; 10 decoys lie along each wrong one (weights ignored,
 * multiplied by sd, sd ignored), nearer to it than the answer is. With one
 * hit a query frame (4 for the score query) only the right direction pools
 * the answer, which has the best score. */
static void test_score_query_weights(void **state)
{
	(void)state;
	enum { NCOPY = 60, NDEC = 10, NS = 2000 };
	enum { NSEG = 2 * NCOPY + 3 * NDEC + 1, ANSWER = NSEG - 1 };
	float q[2 * D], w[2] = { 3, 1 }, mu[2], sd[2];
	float *x = malloc((size_t)NSEG * D * sizeof *x), *sample = malloc((size_t)NS * D * sizeof *sample);
	int64_t first[NSEG + 1];
	random_dir(q);
	random_dir(q + D);
	for (int i = 0; i < NS; i++) {
		float *v = sample + (size_t)i * D, sa = (float)(1.8 * urand() - 0.9), sb = (float)(0.6 * urand() - 0.3);
		random_dir(v);
		for (int j = 0; j < D; j++)
			v[j] = 0.3f * v[j] + sa * q[j] + sb * q[D + j];
		aed_l2_normalize(v, 1, D);
	}
	struct aed_mine_corpus mc = { .n_segments = NSEG, .first_vec = first, .sample = sample,
				      .n_sample = NS };
	assert_int_equal(aed_mine_corpus_stats(&mc, q, 2, D, mu, sd), AED_OK);
	assert_true(sd[0] > 2 * sd[1]);
	/* the right direction, then the three wrong ones */
	float dir[4][D];
	double ca[4] = { w[0] / sd[0], 1 / sd[0], w[0] * sd[0], w[0] },
	       cb[4] = { w[1] / sd[1], 1 / sd[1], w[1] * sd[1], w[1] };
	for (int k = 0; k < 4; k++) {
		for (int j = 0; j < D; j++)
			dir[k][j] = (float)(ca[k] * q[j] + cb[k] * q[D + j]);
		aed_l2_normalize(dir[k], 1, D);
		double c = 0;
		for (int j = 0; j < D; j++)
			c += (double)dir[k][j] * dir[0][j];
		assert_true(k == 0 || c < 0.97); /* each wrong direction is another */
	}
	for (int s = 0; s < NSEG; s++) {
		first[s] = s;
		float *v = x + (size_t)s * D;
		if (s < 2 * NCOPY)
			near(v, q + (s % 2) * D, 0.02f);
		else if (s < ANSWER)
			near(v, dir[1 + (s - 2 * NCOPY) / NDEC], 0.005f);
		else
			memcpy(v, dir[0], D * sizeof *v);
	}
	first[NSEG] = NSEG;
	assert_int_equal(aed_vindex_new("Flat", D, &mc.ix), AED_OK);
	assert_int_equal(aed_vindex_add(mc.ix, NSEG, x), AED_OK);
	struct aed_mine_hit h[3];
	struct aed_mine_search_stats st;
	int n = 0;
	struct aed_mine_search_opts o = { .k = 3, .hits_per_query = 1, .score = AED_MINE_SCORE_Z,
					  .weight = w };
	assert_int_equal(aed_mine_search(&mc, q, 2, &o, h, &n, &st), AED_OK);
	assert_int_equal(st.score_query_hits, AED_MINE_SCORE_QUERY_SHARE);
	assert_int_equal(h[0].segment, ANSWER);
	/* its exact score: the weighted mean of its z scores */
	double z = 0;
	for (int k = 0; k < 2; k++) {
		double sim = 0;
		for (int j = 0; j < D; j++)
			sim += (double)dir[0][j] * q[k * D + j];
		z += w[k] * (sim - mu[k]) / sd[k];
	}
	assert_float_equal(h[0].score, z / (w[0] + w[1]), 1e-3);
	/* every frame pooled: still the best */
	o.hits_per_query = NSEG;
	assert_int_equal(aed_mine_search(&mc, q, 2, &o, h, &n, &st), AED_OK);
	assert_int_equal(h[0].segment, ANSWER);
	aed_vindex_free(&mc.ix);
	free(x);
	free(sample);
}

/* A query frame that resembles the common background: with raw similarity
 * it pulls background segments up; standardised per query (z), the frame
 * counts for how unusually close a corpus frame is, and the planted target
 * stays on top. */
static void test_z_against_common_frames(void **state)
{
	(void)state;
	float target[D], q[2 * D];
	random_dir(target);
	int seg[2] = { 5, 123 }, patch[2] = { 7, 2 };
	struct corpus c;
	corpus_build(&c, 400, 10, target, seg, patch, 2);
	/* Query 0: the target. Query 1: a frame like a common background. */
	near(q, target, 0.1f);
	near(q + D, c.common[1], 0.04f);
	struct aed_mine_corpus mc = { .ix = c.ix, .n_segments = c.nseg, .first_vec = c.first,
				      .sample = c.x, .n_sample = (int64_t)c.nseg * c.per };
	float mu[2], sd[2];
	assert_int_equal(aed_mine_corpus_stats(&mc, q, 2, D, mu, sd), AED_OK);
	assert_true(mu[1] > mu[0]); /* the background frame resembles more of the corpus */
	struct aed_mine_hit hits[5];
	struct aed_mine_search_stats st;
	int n;
	struct aed_mine_search_opts o = { .k = 5, .score = AED_MINE_SCORE_Z };
	assert_int_equal(aed_mine_search(&mc, q, 2, &o, hits, &n, &st), AED_OK);
	assert_true(hits[0].segment == 5 || hits[0].segment == 123);
	assert_true(hits[1].segment == 5 || hits[1].segment == 123);
	/* Raw similarity: the background query's near-copies outweigh the target. */
	o.score = AED_MINE_SCORE_RAW;
	assert_int_equal(aed_mine_search(&mc, q, 2, &o, hits, &n, &st), AED_OK);
	assert_true(hits[0].segment != 5 && hits[0].segment != 123);
	corpus_free(&c);
}

/* Merging queries: 40 frames around 4 sounds become 4 unit queries near
 * them, weighted 10 each; 4 or fewer are left as they are. A query's
 * weight counts as that many copies of it: [a, a, b] and [a, b] weighted
 * [2, 1] score every candidate alike. The merged queries of frames near a
 * planted event still find it first. */
static void test_merge_queries(void **state)
{
	(void)state;
	float dir[4][D], q[40 * D], w[40];
	int nk = 0;
	for (int g = 0; g < 4; g++)
		random_dir(dir[g]);
	for (int i = 0; i < 40; i++)
		near(q + i * D, dir[i % 4], 0.05f);
	assert_int_equal(aed_mine_merge_queries(q, 40, D, 4, 1, w, &nk), AED_OK);
	assert_int_equal(nk, 4);
	int seen[4] = { 0 };
	for (int m = 0; m < nk; m++) {
		double norm = 0, best = -2;
		int bg = -1;
		for (int j = 0; j < D; j++)
			norm += (double)q[m * D + j] * q[m * D + j];
		assert_true(fabs(norm - 1) < 1e-4);
		for (int g = 0; g < 4; g++) {
			double dot = 0;
			for (int j = 0; j < D; j++)
				dot += (double)q[m * D + j] * dir[g][j];
			if (dot > best) {
				best = dot;
				bg = g;
			}
		}
		assert_true(best > 0.95);
		seen[bg]++;
		assert_float_equal(w[m], 10.0f, 0);
	}
	for (int g = 0; g < 4; g++)
		assert_int_equal(seen[g], 1);
	/* Few enough: unchanged. */
	float q2[3 * D], keep[3 * D];
	for (int i = 0; i < 3; i++)
		random_dir(q2 + i * D);
	memcpy(keep, q2, sizeof keep);
	assert_int_equal(aed_mine_merge_queries(q2, 3, D, 4, 1, w, &nk), AED_OK);
	assert_int_equal(nk, 3);
	assert_memory_equal(q2, keep, sizeof keep);
	for (int i = 0; i < 3; i++)
		assert_float_equal(w[i], 1.0f, 0);

	/* Weights as copies. */
	float target[D];
	random_dir(target);
	int seg[2] = { 11, 77 }, patch[2] = { 1, 4 };
	struct corpus c;
	corpus_build(&c, 200, 10, target, seg, patch, 2);
	struct aed_mine_corpus mc = { .ix = c.ix, .n_segments = c.nseg, .first_vec = c.first,
				      .sample = c.x, .n_sample = (int64_t)c.nseg * c.per };
	float a3[3 * D], a2[2 * D], w2[2] = { 2, 1 };
	near(a3, target, 0.2f);
	memcpy(a3 + D, a3, D * sizeof *a3);
	random_dir(a3 + 2 * D);
	memcpy(a2, a3, D * sizeof *a2);
	memcpy(a2 + D, a3 + 2 * D, D * sizeof *a2);
	struct aed_mine_hit h3[20], h2[20];
	struct aed_mine_search_stats st;
	int n3, n2;
	for (int sc = 0; sc < 2; sc++) {
		enum aed_mine_score score = sc ? AED_MINE_SCORE_RAW : AED_MINE_SCORE_Z;
		struct aed_mine_search_opts o3 = { .k = 20, .score = score };
		struct aed_mine_search_opts o2 = { .k = 20, .score = score, .weight = w2 };
		assert_int_equal(aed_mine_search(&mc, a3, 3, &o3, h3, &n3, &st), AED_OK);
		assert_int_equal(aed_mine_search(&mc, a2, 2, &o2, h2, &n2, &st), AED_OK);
		assert_int_equal(n3, n2);
		for (int i = 0; i < n3; i++) {
			assert_int_equal(h3[i].segment, h2[i].segment);
			assert_int_equal(h3[i].patch, h2[i].patch);
			assert_float_equal(h3[i].score, h2[i].score, 1e-6);
		}
		/* Unweighted, the lone random query counts as much as the
		 * target's: the scores differ. */
		struct aed_mine_search_opts o1 = { .k = 20, .score = score };
		assert_int_equal(aed_mine_search(&mc, a2, 2, &o1, h2, &n2, &st), AED_OK);
		int differ = 0;
		for (int i = 0; i < n2 && i < n3; i++)
			differ |= fabsf(h2[i].score - h3[i].score) > 1e-4f;
		assert_true(differ);
	}
	/* Merged: 30 frames near the target, 10 of background noise, into 4. */
	float q3[40 * D];
	for (int i = 0; i < 40; i++)
		if (i < 30)
			near(q3 + i * D, target, 0.3f);
		else
			random_dir(q3 + i * D);
	assert_int_equal(aed_mine_merge_queries(q3, 40, D, 4, 7, w, &nk), AED_OK);
	assert_true(nk >= 2 && nk <= 4);
	double wsum = 0;
	for (int m = 0; m < nk; m++)
		wsum += w[m];
	assert_float_equal(wsum, 40.0, 0);
	struct aed_mine_search_opts om = { .k = 5, .score = AED_MINE_SCORE_Z, .weight = w };
	assert_int_equal(aed_mine_search(&mc, q3, nk, &om, h3, &n3, &st), AED_OK);
	assert_true(h3[0].segment == 11 || h3[0].segment == 77);
	assert_true(h3[1].segment == 11 || h3[1].segment == 77);
	corpus_free(&c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_select_shared_frames),
		cmocka_unit_test(test_select_generic),
		cmocka_unit_test(test_select_shared_test),
		cmocka_unit_test(test_search_finds_planted),
		cmocka_unit_test(test_score_query),
		cmocka_unit_test(test_score_query_weights),
		cmocka_unit_test(test_z_against_common_frames),
		cmocka_unit_test(test_merge_queries),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
