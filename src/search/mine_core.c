/* mine_core.c - the in-memory core of exemplar mining (search.h): which
 * exemplar frames to query with (k-means, clusters shared by exemplars), and
 * the multi-query search with exact pooled rescoring. No database here. */
#include <cblas.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "aedcurate/error.h"
#include "aedcurate/search.h"
#include "aedcurate/util.h"

/* Similarities with one BLAS thread: threaded OpenBLAS sgemm rounds the
 * last bit differently with the thread count, and scores (and so, at a tie,
 * rankings) must not depend on it. These products are small (frames x
 * queries x dim). */
static void sgemm_nt(int m, int n, int d, const float *a, const float *b, float *c)
{
	int bt = openblas_get_num_threads();
	openblas_set_num_threads(1);
	cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, m, n, d, 1.0f, a, d, b, d, 0.0f, c, n);
	openblas_set_num_threads(bt);
}

void aed_frame_selection_release(struct aed_frame_selection *s)
{
	free(s->cluster);
	free(s->kept);
	free(s->generic);
	free(s->unshared);
	free(s->cl_exemplars);
	free(s->cl_frames);
	free(s->cl_kept);
	memset(s, 0, sizeof *s);
}

static int cmp_f32(const void *a, const void *b)
{
	float x = *(const float *)a, y = *(const float *)b;
	return (x > y) - (x < y);
}

/* Keep a frame only when enough other exemplars have a frame unusually
 * close to it: z = (sim - mu) / sd >= 2 against the corpus statistics of
 * the frame. One exemplar's own background has no such frame elsewhere; a
 * sound the exemplars share has. Unless that would leave no frame. */
static int shared_test(const float *x, const int *exemplar, int64_t n, int d, int n_ex,
		       const struct aed_frame_select_opts *o, struct aed_frame_selection *s)
{
	int need = o->share > 0 ? o->share : (int)((n_ex - 1) * 0.4 + 0.999);
	if (need < 1)
		need = 1;
	if (need > n_ex - 1)
		need = n_ex - 1;
	s->share_needed = need;
	float *g = malloc((size_t)n * n * sizeof *g);
	unsigned char *close = malloc((size_t)n_ex);
	if (!g || !close) {
		free(g);
		free(close);
		return aed_error(AED_ENOMEM, "out of memory (%lld exemplar frames)", (long long)n);
	}
	sgemm_nt((int)n, (int)n, d, x, x, g);
	int left = 0;
	unsigned char *ok = s->unshared; /* reused as "passes" first */
	for (int64_t j = 0; j < n; j++) {
		memset(close, 0, (size_t)n_ex);
		for (int64_t i = 0; i < n; i++)
			if (exemplar[i] != exemplar[j] &&
			    (g[i * n + j] - o->generic[j]) / o->spread[j] >= 2.0f)
				close[exemplar[i]] = 1;
		int c = 0;
		for (int e = 0; e < n_ex; e++)
			c += close[e];
		ok[j] = c >= need;
		left += s->kept[j] && ok[j];
	}
	for (int64_t j = 0; j < n; j++) {
		int drop = left && s->kept[j] && !ok[j];
		ok[j] = (unsigned char)drop; /* now: 1 = dropped as unshared */
		if (drop) {
			s->kept[j] = 0;
			s->n_unshared++;
		}
	}
	free(g);
	free(close);
	return AED_OK;
}

int aed_mine_select_frames(const float *x, const int *exemplar, int64_t n, int d,
			   int n_exemplars, const struct aed_frame_select_opts *o,
			   struct aed_frame_selection *s)
{
	int *seen = NULL;
	int rc = AED_OK;

	memset(s, 0, sizeof *s);
	if (n <= 0 || n_exemplars <= 0)
		return aed_error(AED_ENOTFOUND, "no exemplar frames to select from");
	int k = o->clusters;
	if (k <= 0) {
		k = (int)((double)n / (4.0 * n_exemplars) + 0.5);
		if (k < 2)
			k = 2;
	}
	if (k > n)
		k = (int)n;
	int min_ex = o->min_exemplars > 0 ? o->min_exemplars : (n_exemplars >= 2 ? 2 : 1);
	if (min_ex > n_exemplars)
		min_ex = n_exemplars;

	s->n_clusters = k;
	s->cluster = calloc((size_t)n, sizeof *s->cluster);
	s->kept = calloc((size_t)n, 1);
	s->generic = calloc((size_t)n, 1);
	s->unshared = calloc((size_t)n, 1);
	s->cl_exemplars = calloc((size_t)k, sizeof *s->cl_exemplars);
	s->cl_frames = calloc((size_t)k, sizeof *s->cl_frames);
	s->cl_kept = calloc((size_t)k, 1);
	seen = malloc((size_t)n_exemplars * sizeof *seen);
	if (!s->cluster || !s->kept || !s->generic || !s->unshared || !s->cl_exemplars || !s->cl_frames || !s->cl_kept || !seen) {
		rc = aed_error(AED_ENOMEM, "out of memory");
		goto out;
	}
	if (k > 1) {
		if ((rc = aed_kmeans(d, n, k, x, 25, o->seed, 1, NULL, s->cluster)))
			goto out;
	}
	for (int c = 0; c < k; c++) {
		for (int e = 0; e < n_exemplars; e++)
			seen[e] = 0;
		for (int64_t i = 0; i < n; i++) {
			if (s->cluster[i] != c)
				continue;
			s->cl_frames[c]++;
			int e = exemplar[i];
			if (e < 0 || e >= n_exemplars) {
				rc = aed_error(AED_EINTERNAL, "frame %lld: exemplar %d of %d", (long long)i,
					       e, n_exemplars);
				goto out;
			}
			if (!seen[e]++)
				s->cl_exemplars[c]++;
		}
	}
	int best = 0;
	for (int c = 0; c < k; c++) {
		if (s->cl_exemplars[c] >= min_ex)
			s->cl_kept[c] = 1;
		if (s->cl_exemplars[c] > best)
			best = s->cl_exemplars[c];
	}
	int any = 0;
	for (int c = 0; c < k; c++)
		any |= s->cl_kept[c];
	if (!any) {
		s->fallback = 1;
		for (int c = 0; c < k; c++)
			s->cl_kept[c] = s->cl_exemplars[c] == best && best > 0;
	}
	for (int64_t i = 0; i < n; i++)
		s->kept[i] = s->cl_kept[s->cluster[i]];
	/* Frames no other exemplar has (one exemplar's own sound). */
	if (o->generic && o->spread && o->share >= 0 && n_exemplars >= 2 &&
	    (rc = shared_test(x, exemplar, n, d, n_exemplars, o, s)))
		goto out;
	/* Frames that resemble everything: the top generic_drop fraction of all
	 * exemplar frames by mean corpus similarity. Unless that leaves none. */
	double drop = o->generic_drop < 0 ? 0.25 : o->generic_drop;
	if (o->generic && drop > 0) {
		float *v = malloc((size_t)n * sizeof *v);
		if (!v) {
			rc = aed_error(AED_ENOMEM, "out of memory");
			goto out;
		}
		memcpy(v, o->generic, (size_t)n * sizeof *v);
		qsort(v, (size_t)n, sizeof *v, cmp_f32);
		int64_t cut = (int64_t)((1.0 - drop) * n);
		if (cut < 0)
			cut = 0;
		s->generic_cut = cut < n ? v[cut] : INFINITY;
		free(v);
		int left = 0;
		for (int64_t i = 0; i < n; i++)
			left += s->kept[i] && o->generic[i] < s->generic_cut;
		for (int64_t i = 0; left && i < n; i++)
			if (s->kept[i] && o->generic[i] >= s->generic_cut) {
				s->kept[i] = 0;
				s->generic[i] = 1;
				s->n_generic++;
			}
	} else
		s->generic_cut = INFINITY;
	for (int64_t i = 0; i < n; i++)
		s->n_kept += s->kept[i];
out:
	free(seen);
	if (rc)
		aed_frame_selection_release(s);
	return rc;
}

int aed_mine_merge_queries(float *q, int n, int d, int k, int seed, float *weight, int *nk)
{
	*nk = n;
	for (int j = 0; j < n; j++)
		weight[j] = 1.0f;
	if (n <= k)
		return AED_OK;
	int *assign = malloc((size_t)n * sizeof *assign);
	double *sum = calloc((size_t)k * d, sizeof *sum);
	int *count = calloc((size_t)k, sizeof *count);
	int rc = AED_OK;
	if (!assign || !sum || !count) {
		rc = aed_error(AED_ENOMEM, "out of memory (%d queries)", n);
		goto out;
	}
	if ((rc = aed_kmeans(d, n, k, q, 25, seed, 1, NULL, assign)))
		goto out;
	for (int i = 0; i < n; i++) {
		count[assign[i]]++;
		for (int j = 0; j < d; j++)
			sum[(size_t)assign[i] * d + j] += q[(size_t)i * d + j];
	}
	int m = 0;
	for (int c = 0; c < k; c++) {
		if (!count[c])
			continue;
		for (int j = 0; j < d; j++)
			q[(size_t)m * d + j] = (float)sum[(size_t)c * d + j];
		weight[m++] = (float)count[c];
	}
	aed_l2_normalize(q, m, d);
	*nk = m;
out:
	free(assign);
	free(sum);
	free(count);
	return rc;
}

static int cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
	return (x > y) - (x < y);
}

static int cmp_hit(const void *a, const void *b)
{
	const struct aed_mine_hit *x = a, *y = b;
	if (x->score != y->score)
		return x->score < y->score ? 1 : -1;
	return (x->segment > y->segment) - (x->segment < y->segment);
}

/* Segment number holding vector id v: the last s with first_vec[s] <= v. */
static int64_t segment_of(const struct aed_mine_corpus *c, int64_t v)
{
	int64_t lo = 0, hi = c->n_segments; /* first_vec[lo] <= v < first_vec[hi] */
	if (v < c->first_vec[0] || v >= c->first_vec[c->n_segments])
		return -1;
	while (hi - lo > 1) {
		int64_t mid = lo + (hi - lo) / 2;
		if (c->first_vec[mid] <= v)
			lo = mid;
		else
			hi = mid;
	}
	return lo;
}

int aed_mine_corpus_stats(const struct aed_mine_corpus *c, const float *q, int nq, int d,
			  float *mu, float *sd)
{
	const int64_t chunk = 4096;
	double *s1 = calloc((size_t)nq, sizeof *s1), *s2 = calloc((size_t)nq, sizeof *s2);
	float *g = malloc((size_t)chunk * nq * sizeof *g);
	int rc = AED_OK;

	if (!s1 || !s2 || !g) {
		rc = aed_error(AED_ENOMEM, "out of memory");
		goto out;
	}
	if (c->n_sample < 2) {
		rc = aed_error(AED_ESTATE, "z scores need a corpus sample of at least 2 vectors, "
			       "have %lld", (long long)c->n_sample);
		goto out;
	}
	for (int64_t i0 = 0; i0 < c->n_sample; i0 += chunk) {
		int64_t m = c->n_sample - i0 < chunk ? c->n_sample - i0 : chunk;
		sgemm_nt((int)m, nq, d, c->sample + i0 * d, q, g);
		for (int64_t i = 0; i < m; i++)
			for (int j = 0; j < nq; j++) {
				double v = g[i * nq + j];
				s1[j] += v;
				s2[j] += v * v;
			}
	}
	for (int j = 0; j < nq; j++) {
		double m = s1[j] / c->n_sample;
		double var = s2[j] / c->n_sample - m * m;
		mu[j] = (float)m;
		sd[j] = (float)sqrt(var > 1e-12 ? var : 1e-12);
	}
out:
	free(s1);
	free(s2);
	free(g);
	return rc;
}

/* The distinct frames among the first take of each query's stride hits
 * (ids [nq x stride], best first) and the n_extra of extra, excluded
 * segments' frames dropped, ascending into uniq [*m]; *nseg the segments
 * they fall in. */
static void collect(const struct aed_mine_corpus *c, const int64_t *ids, int nq, int64_t stride,
		    int64_t take, const int64_t *extra, int64_t n_extra, int64_t *uniq, int64_t *m_out,
		    int64_t *nseg_out)
{
	int64_t m = 0, nseg = 0;
	for (int j = 0; j <= nq; j++) {
		const int64_t *row = j < nq ? ids + j * stride : extra;
		int64_t n = j < nq ? take : n_extra;
		for (int64_t i = 0; i < n; i++) {
			if (row[i] < 0)
				continue;
			int64_t s = segment_of(c, row[i]);
			if (s < 0 || (c->excluded && c->excluded[s]))
				continue;
			uniq[m++] = row[i];
		}
	}
	qsort(uniq, (size_t)m, sizeof *uniq, cmp_i64);
	int64_t w = 0;
	for (int64_t i = 0; i < m; i++)
		if (!w || uniq[i] != uniq[w - 1])
			uniq[w++] = uniq[i];
	for (int64_t i = 0, last = -1; i < w; i++) {
		int64_t s = segment_of(c, uniq[i]);
		if (s != last)
			nseg++;
		last = s;
	}
	*m_out = w;
	*nseg_out = nseg;
}

/* The score query (aed_mine_search): sum_j w_j q_j / sd_j, normalised, into
 * out [d]; *nonzero 0 when it is the zero vector (then it is not searched). */
static int score_query(const float *q, int nq, int d, const float *sd, const float *w, float *out,
		       int *nonzero)
{
	double *acc = calloc((size_t)d, sizeof *acc);
	double n2 = 0;
	if (!acc)
		return aed_error(AED_ENOMEM, "out of memory (score query)");
	for (int j = 0; j < nq; j++) {
		double a = (w ? w[j] : 1.0) / sd[j];
		for (int i = 0; i < d; i++)
			acc[i] += a * q[(size_t)j * d + i];
	}
	for (int i = 0; i < d; i++)
		n2 += acc[i] * acc[i];
	if (n2 > 0) {
		double norm = sqrt(n2);
		for (int i = 0; i < d; i++)
			out[i] = (float)(acc[i] / norm);
	}
	free(acc);
	*nonzero = n2 > 0;
	return AED_OK;
}

/* The pool: every query's kq nearest frames and the score query's
 * AED_MINE_SCORE_QUERY_SHARE x kq (kq from o, raised until k segments
 * survive the exclusions, lowered while the pool exceeds its bound:
 * *capped), excluded segments' frames dropped, distinct ids ascending into
 * *uniq [*m] (malloc'd), *nseg segments. */
static int pool_hits(const struct aed_mine_corpus *c, const float *q, int nq, const float *sd,
		     const struct aed_mine_search_opts *o, int64_t *kq_out, int64_t *ks_out,
		     int64_t **uniq_out, int64_t *m_out, int64_t *nseg_out, int *capped)
{
	int64_t ntotal = aed_vindex_ntotal(c->ix);
	int d = aed_vindex_dim(c->ix);
	float *sims = NULL, *sq = NULL;
	int64_t *ids = NULL, *sids = NULL, *uniq = NULL;
	int rc = AED_OK, nonzero = 0;

	if (nq > 1 && !o->no_score_query) {
		if (!(sq = malloc((size_t)d * sizeof *sq)))
			return aed_error(AED_ENOMEM, "out of memory (score query)");
		if ((rc = score_query(q, nq, d, sd, o->weight, sq, &nonzero)))
			goto out;
	}
	const int64_t share = AED_MINE_SCORE_QUERY_SHARE;
	int64_t kq = o->hits_per_query > 0 ? o->hits_per_query
		     : o->auto_hits > 0 ? o->auto_hits
		     : 4 * (int64_t)o->k > 256 ? 4 * (int64_t)o->k : 256;
	int64_t pool_max = o->pool_max > 0 ? o->pool_max : AED_MINE_POOL_MAX;
	int64_t m = 0, nseg = 0, ks = 0;
	*capped = 0;
	for (;;) {
		if (kq > ntotal)
			kq = ntotal;
		ks = nonzero ? (share * kq < ntotal ? share * kq : ntotal) : 0;
		free(sims);
		free(ids);
		free(sids);
		free(uniq);
		sims = malloc((size_t)(nq * kq > ks ? nq * kq : ks) * sizeof *sims);
		ids = malloc((size_t)nq * kq * sizeof *ids);
		sids = malloc((size_t)(ks ? ks : 1) * sizeof *sids);
		uniq = malloc((size_t)(nq * kq + ks) * sizeof *uniq);
		if (!sims || !ids || !sids || !uniq) {
			rc = aed_error(AED_ENOMEM, "out of memory (%lld hits)", (long long)(nq * kq + ks));
			goto out;
		}
		if ((rc = aed_vindex_search(c->ix, nq, q, kq, sims, ids)) ||
		    (ks && (rc = aed_vindex_search(c->ix, 1, sq, ks, sims, sids))))
			goto out;
		collect(c, ids, nq, kq, kq, sids, ks, uniq, &m, &nseg);
		/* A pool past pool_max frames: fewer of each query's hits (in
		 * proportion, best first, from the same search), and never wider
		 * again. */
		if (m > pool_max && o->hits_per_query <= 0) {
			int64_t take = kq, stake = ks;
			while (m > pool_max && take > AED_MINE_POOL_MIN_HITS) {
				int64_t nk = (int64_t)((double)take * (double)pool_max / (double)m);
				take = nk < AED_MINE_POOL_MIN_HITS ? AED_MINE_POOL_MIN_HITS
								   : nk < take ? nk : take - 1;
				stake = share * take < ks ? share * take : ks;
				collect(c, ids, nq, kq, take, sids, stake, uniq, &m, &nseg);
			}
			*capped = take < kq;
			kq = take;
			ks = stake;
			break;
		}
		/* Exclusions can eat the neighbours: widen until k segments remain. */
		if (nseg >= o->k || kq >= ntotal || o->hits_per_query > 0)
			break;
		kq *= 4;
	}
	*kq_out = kq;
	*ks_out = ks;
	*m_out = m;
	*nseg_out = nseg;
out:
	free(sq);
	free(sims);
	free(ids);
	free(sids);
	*uniq_out = uniq;
	return rc;
}

/* Exact scores of every pooled frame uniq [m] against every query, a chunk
 * of frames at a time (the pool of a wide search can be millions); each
 * segment keeps its best frame: segs [*ns] (room for the pool's segments;
 * NULL is refused as out of memory), in the order of uniq. */
static int rescore(const struct aed_mine_corpus *c, const float *q, int nq, int d,
		   const struct aed_mine_search_opts *o, const float *mu, const float *sd,
		   const int64_t *uniq, int64_t m, struct aed_mine_hit *segs, int64_t *ns_out)
{
	const int64_t chunk = 8192;
	float *f = malloc((size_t)(m < chunk ? (m ? m : 1) : chunk) * d * sizeof *f);
	float *g = malloc((size_t)(m < chunk ? (m ? m : 1) : chunk) * nq * sizeof *g);
	int64_t ns = 0;
	int rc = AED_OK;

	if (!f || !g || !segs) {
		rc = aed_error(AED_ENOMEM, "out of memory (%lld pooled frames)", (long long)m);
		goto out;
	}
	if (!c->fetch && !aed_vindex_exact(c->ix)) {
		rc = aed_error(AED_EINTERNAL, "a compressed index needs the stored vectors to "
			       "re-rank its hits");
		goto out;
	}
	double wsum = 0;
	for (int j = 0; j < nq; j++)
		wsum += o->weight ? o->weight[j] : 1.0;
	if (!(wsum > 0)) {
		rc = aed_error(AED_EINTERNAL, "query weights sum to %g", wsum);
		goto out;
	}
	for (int64_t i0 = 0; i0 < m; i0 += chunk) {
		int64_t mc = m - i0 < chunk ? m - i0 : chunk;
		if (c->fetch) {
			if ((rc = c->fetch(c->fetch_ctx, mc, uniq + i0, f)))
				goto out;
		} else
			for (int64_t i = 0; i < mc; i++)
				if ((rc = aed_vindex_reconstruct(c->ix, uniq[i0 + i], f + i * d)))
					goto out;
		sgemm_nt((int)mc, nq, d, f, q, g);
		for (int64_t i = 0; i < mc; i++) {
			double acc = 0;
			for (int j = 0; j < nq; j++) {
				double z = (g[i * nq + j] - mu[j]) / sd[j];
				/* Being unusually far from one query frame (background the
				 * clip lacks) must not veto being unusually close to others:
				 * floor at -3 (no effect on UrbanSound8K, where z < -3 is rare;
				 * decisive when background frames are near-identical). */
				if (o->score == AED_MINE_SCORE_Z && z < AED_MINE_Z_FLOOR)
					z = AED_MINE_Z_FLOOR;
				acc += o->weight ? o->weight[j] * z : z;
			}
			float score = (float)(acc / wsum);
			int64_t id = uniq[i0 + i], s = segment_of(c, id);
			int patch = (int)(id - c->first_vec[s]);
			if (ns && segs[ns - 1].segment == s) {
				if (score > segs[ns - 1].score) {
					segs[ns - 1].score = score;
					segs[ns - 1].patch = patch;
				}
			} else {
				segs[ns].segment = s;
				segs[ns].score = score;
				segs[ns].patch = patch;
				ns++;
			}
		}
	}
out:
	*ns_out = ns;
	free(f);
	free(g);
	return rc;
}

int aed_mine_search(const struct aed_mine_corpus *c, const float *q, int nq,
		    const struct aed_mine_search_opts *o, struct aed_mine_hit *out, int *n_out,
		    struct aed_mine_search_stats *stats)
{
	double t0 = aed_now();
	float *mu = NULL, *sd = NULL;
	int64_t *uniq = NULL;
	struct aed_mine_hit *segs = NULL;
	int rc = AED_OK;

	*n_out = 0;
	memset(stats, 0, sizeof *stats);
	int d = aed_vindex_dim(c->ix);
	int64_t ntotal = aed_vindex_ntotal(c->ix);
	if (nq <= 0)
		return aed_error(AED_ENOTFOUND, "no query vectors");
	if (o->k <= 0)
		return aed_error(AED_EUSAGE, "candidates wanted: %d", o->k);
	if (ntotal <= 0 || c->n_segments <= 0)
		return aed_error(AED_ENOTFOUND, "the index is empty");
	if (c->first_vec[c->n_segments] > ntotal)
		return aed_error(AED_EINTERNAL, "segment map covers %lld vectors, index has %lld",
				 (long long)c->first_vec[c->n_segments], (long long)ntotal);

	mu = calloc((size_t)nq, sizeof *mu);
	sd = malloc((size_t)nq * sizeof *sd);
	if (!mu || !sd) {
		rc = aed_error(AED_ENOMEM, "out of memory");
		goto out;
	}
	for (int j = 0; j < nq; j++)
		sd[j] = 1.0f;
	if (o->score == AED_MINE_SCORE_Z && (rc = aed_mine_corpus_stats(c, q, nq, d, mu, sd)))
		goto out;

	int64_t kq = 0, ks = 0, m = 0, nseg = 0;
	if ((rc = pool_hits(c, q, nq, sd, o, &kq, &ks, &uniq, &m, &nseg, &stats->pool_capped)))
		goto out;
	stats->hits_per_query = kq;
	stats->score_query_hits = ks;
	stats->pooled_frames = m;
	stats->pooled_segments = nseg;

	int64_t ns = 0;
	segs = malloc((size_t)(nseg ? nseg : 1) * sizeof *segs);
	if ((rc = rescore(c, q, nq, d, o, mu, sd, uniq, m, segs, &ns)))
		goto out;
	qsort(segs, (size_t)ns, sizeof *segs, cmp_hit);
	*n_out = ns < o->k ? (int)ns : o->k;
	memcpy(out, segs, (size_t)*n_out * sizeof *out);
out:
	stats->seconds = aed_now() - t0;
	free(mu);
	free(sd);
	free(uniq);
	free(segs);
	return rc;
}

const char *aed_mine_score_name(enum aed_mine_score s)
{
	return s == AED_MINE_SCORE_RAW ? "raw" : "z";
}
