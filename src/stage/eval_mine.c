/* eval_mine.c - the `eval mine` stage: how well mining finds a class on a
 * labelled corpus. Exemplars are drawn from the class's labelled clips, the
 * mine stage ranks the whole candidate pool, and only then are the stored
 * labels read, as the oracle, to score the ranking; with rounds, a simulated
 * annotator rates the best unrated candidates through `review import`'s own
 * code. Not the mining itself (src/stage/mine.c) nor the metric math
 * (src/util/metrics.c). */
#include <jansson.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "aedcurate/error.h"
#include "aedcurate/metrics.h"
#include "aedcurate/mine.h"
#include "aedcurate/class.h"
#include "aedcurate/review.h"
#include "aedcurate/store.h"
#include "aedcurate/util.h"
#include "stage/eval_mine_internal.h"

#define DEFAULT_EXEMPLARS AED_EVAL_MINE_EXEMPLARS_DEFAULT
#define DEFAULT_TRIALS AED_EVAL_MINE_TRIALS_DEFAULT

/* --- small helpers ------------------------------------------------------------ */

/* A draw from a seeded splitmix64 stream: the same on every platform. */
static int64_t rng_below(uint64_t *s, int64_t n)
{
	return (int64_t)(aed_splitmix64_next(s) % (uint64_t)n);
}

/* Each class has its own stream (the seed mixed with its mid), so that a
 * class draws the same exemplars alone as among all classes. */
static uint64_t class_seed(uint64_t seed, const char *mid)
{
	return seed ^ aed_fnv1a64_str(mid);
}

int eval_mine_keys_push(struct keys *k, const char *s)
{
	if (k->n == k->cap) {
		int cap = k->cap ? 2 * k->cap : 16;
		char **v = realloc(k->v, (size_t)cap * sizeof *v);
		if (!v)
			return aed_error(AED_ENOMEM, "out of memory");
		k->v = v;
		k->cap = cap;
	}
	if (!(k->v[k->n] = strdup(s)))
		return aed_error(AED_ENOMEM, "out of memory");
	k->n++;
	return AED_OK;
}

void eval_mine_keys_release(struct keys *k)
{
	for (int i = 0; i < k->n; i++)
		free(k->v[i]);
	free(k->v);
	memset(k, 0, sizeof *k);
}

static int cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
	return (x > y) - (x < y);
}

static int has_i64(const int64_t *v, size_t n, int64_t x)
{
	return n && bsearch(&x, v, n, sizeof *v, cmp_i64) != NULL;
}

/* Mean of the finite values (NaN when none). */
static double mean_finite(const double *x, size_t n, size_t stride)
{
	double s = 0;
	size_t k = 0;
	for (size_t i = 0; i < n; i++)
		if (isfinite(x[i * stride])) {
			s += x[i * stride];
			k++;
		}
	return k ? s / (double)k : NAN;
}

/* --- release ------------------------------------------------------------------- */

static void trial_release(struct aed_eval_mine_trial *t)
{
	for (int i = 0; i < t->n_exemplars; i++)
		free(t->exemplars[i]);
	free(t->exemplars);
	for (int m = 0; m < 2; m++) {
		for (int64_t i = 0; t->ranking[m] && i < t->n_ranked[m]; i++)
			free(t->ranking[m][i]);
		free(t->ranking[m]);
	}
	free(t->yield[0]);
	free(t->yield[1]);
}

void aed_eval_mine_result_release(struct aed_eval_mine_result *r)
{
	for (int c = 0; c < r->n_classes; c++) {
		struct aed_eval_mine_class *k = &r->classes[c];
		for (int t = 0; t < k->n_trials; t++)
			trial_release(&k->trials[t]);
		free(k->trials);
		free(k->yield[0]);
		free(k->yield[1]);
	}
	free(r->classes);
	for (int i = 0; i < r->n_skipped; i++)
		free(r->skipped[i]);
	free(r->skipped);
	free(r->yield[0]);
	free(r->yield[1]);
	memset(r, 0, sizeof *r);
}

/* --- exemplar draw (reads the labels of the exemplar pool only) ----------------- */

struct pool_clip {
	int64_t id;
	char *key, *group;
};

static int cmp_clip(const void *a, const void *b)
{
	const struct pool_clip *x = a, *y = b;
	int c = strcmp(x->group, y->group);
	return c ? c : (x->id > y->id) - (x->id < y->id);
}

/* The clips exemplars may be drawn from: indexed, labelled with the class or
 * a descendant, and (with meta_key) whose segment meta has that value; sorted
 * by source recording, then id. */
static int exemplar_pool(struct aed_db *db, int64_t class_id, int64_t index_id,
			 const char *meta_key, const char *meta_value, struct pool_clip **out,
			 size_t *n_out)
{
	sqlite3_stmt *st = NULL;
	struct pool_clip *v = NULL;
	size_t n = 0, cap = 0;
	char path[300];
	int rc, step;

	*out = NULL;
	*n_out = 0;
	snprintf(path, sizeof path, "$.%s", meta_key ? meta_key : "");
	if ((rc = aed_db_prepare(db, "SELECT DISTINCT s.id, s.key, s.source_group FROM label l "
				 "JOIN segment s ON s.id = l.segment_id JOIN vec_segment v ON "
				 "v.segment_id = s.id AND v.index_id = ?2 WHERE l.class_id IN ("
				 AED_CLASS_SUBTREE_SQL ") AND (?3 IS NULL OR CAST(json_extract("
				 "s.meta, ?4) AS TEXT) = ?3)", &st)))
		return rc;
	sqlite3_bind_int64(st, 1, class_id);
	sqlite3_bind_int64(st, 2, index_id);
	if (meta_key)
		sqlite3_bind_text(st, 3, meta_value, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 4, path, -1, SQLITE_STATIC);
	while ((step = sqlite3_step(st)) == SQLITE_ROW) {
		if (n == cap) {
			size_t nc = cap ? 2 * cap : 64;
			struct pool_clip *nv = realloc(v, nc * sizeof *nv);
			if (!nv) {
				rc = aed_error(AED_ENOMEM, "out of memory");
				goto out;
			}
			v = nv;
			cap = nc;
		}
		v[n].id = sqlite3_column_int64(st, 0);
		v[n].key = strdup((const char *)sqlite3_column_text(st, 1));
		v[n].group = strdup((const char *)sqlite3_column_text(st, 2));
		n++;
		if (!v[n - 1].key || !v[n - 1].group) {
			rc = aed_error(AED_ENOMEM, "out of memory");
			goto out;
		}
	}
	if (step != SQLITE_DONE) {
		rc = aed_db_error(db, "reading the class's labelled clips");
		goto out;
	}
	if (n > 1)
		qsort(v, n, sizeof *v, cmp_clip);
out:
	sqlite3_finalize(st);
	if (rc) {
		for (size_t i = 0; i < n; i++) {
			free(v[i].key);
			free(v[i].group);
		}
		free(v);
		return rc;
	}
	*out = v;
	*n_out = n;
	return AED_OK;
}

static void pool_free(struct pool_clip *v, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(v[i].key);
		free(v[i].group);
	}
	free(v);
}

/* n_ex exemplars from different source recordings: n_ex groups at random
 * (partial Fisher-Yates), then one clip of each at random. */
static int draw(const struct pool_clip *p, const size_t *gstart, size_t n_groups, int n_ex,
		uint64_t *rng, struct keys *out)
{
	size_t *g = malloc((n_groups ? n_groups : 1) * sizeof *g);
	int rc = AED_OK;
	if (!g)
		return aed_error(AED_ENOMEM, "out of memory");
	for (size_t i = 0; i < n_groups; i++)
		g[i] = i;
	for (int i = 0; i < n_ex && !rc; i++) {
		size_t j = (size_t)i + (size_t)rng_below(rng, (int64_t)(n_groups - (size_t)i));
		size_t t = g[i];
		g[i] = g[j];
		g[j] = t;
		size_t a = gstart[g[i]], b = gstart[g[i] + 1];
		rc = eval_mine_keys_push(out, p[a + (size_t)rng_below(rng, (int64_t)(b - a))].key);
	}
	free(g);
	return rc;
}

/* --- ranking (never reads labels) and the oracle (after the ranking) ------------- */

/* Rank the candidate pool with these exemplars: the mine stage itself, on
 * the named exemplars only, nothing recorded. */
int eval_mine_rank_pool(struct aed_db *db, const struct aed_eval_mine_opts *o, const char *mid,
			const struct keys *ex, enum aed_mine_method method, int k, int record,
			struct aed_mine_result *r)
{
	struct aed_mine_opts mo = o->mine;
	mo.class_name = mid;
	mo.exemplars = (const char **)ex->v;
	mo.n_exemplars = ex->n;
	mo.no_class_exemplars = 1;
	mo.method = method;
	mo.k = k;
	mo.no_record = !record;
	/* Only the review curve's rounds train a ranker (on their own ratings):
	 * a trial's ranking never learns from ratings already in the database. */
	mo.ranker = o->mine.ranker && record;
	mo.hits_per_query = 0; /* widened until k segments are pooled */
	return aed_mine(db, &mo, r);
}

/* The oracle: rel[i] = 1 when candidate i is labelled (any source) with the
 * class or a descendant. Called only on a finished ranking. */
int eval_mine_oracle(struct aed_db *db, int64_t class_id, const struct aed_mine_candidate *c,
		     int n, uint8_t *rel)
{
	sqlite3_stmt *st = NULL;
	int64_t *pos = NULL, *np;
	size_t npos = 0, cap = 0;
	int rc, step;

	if ((rc = aed_db_prepare(db, "SELECT DISTINCT segment_id FROM label WHERE class_id IN ("
				 AED_CLASS_SUBTREE_SQL ")", &st)))
		return rc;
	sqlite3_bind_int64(st, 1, class_id);
	while ((step = sqlite3_step(st)) == SQLITE_ROW) {
		if (npos == cap) {
			cap = cap ? 2 * cap : 256;
			if (!(np = realloc(pos, cap * sizeof *pos))) {
				rc = aed_error(AED_ENOMEM, "out of memory");
				goto out;
			}
			pos = np;
		}
		pos[npos++] = sqlite3_column_int64(st, 0);
	}
	if (step != SQLITE_DONE) {
		rc = aed_db_error(db, "reading the labels");
		goto out;
	}
	if (npos > 1)
		qsort(pos, npos, sizeof *pos, cmp_i64);
	for (int i = 0; i < n; i++)
		rel[i] = (uint8_t)has_i64(pos, npos, c[i].segment_id);
out:
	sqlite3_finalize(st);
	free(pos);
	return rc;
}

/* Score one method's ranking of the whole pool; keeps the keys when asked. */
static int score_trial(struct aed_db *db, const struct aed_eval_mine_opts *o, int64_t class_id,
		       const char *mid, const struct keys *ex, enum aed_mine_method method,
		       int64_t n_segments, struct aed_eval_mine_trial *t, int m)
{
	struct aed_mine_result r;
	uint8_t *rel = NULL;
	int rc;

	if (n_segments > 1000000000)
		return aed_error(AED_EUSAGE, "eval mine: %lld segments are too many to rank whole",
				 (long long)n_segments);
	if ((rc = eval_mine_rank_pool(db, o, mid, ex, method, (int)n_segments, 0, &r))) {
		aed_mine_result_release(&r);
		return rc;
	}
	/* k is the whole index: every segment mining may propose is ranked. */
	if (r.n_candidates != r.corpus_segments - r.n_excluded) {
		rc = aed_error(AED_ESTATE, "eval mine: the index returned %d of the %lld candidates "
			       "(an approximate index?); rank with an exact one: aedcurate index "
			       "build --factory Flat", r.n_candidates,
			       (long long)(r.corpus_segments - r.n_excluded));
		goto out;
	}
	if (!(rel = calloc((size_t)(r.n_candidates ? r.n_candidates : 1), 1))) {
		rc = aed_error(AED_ENOMEM, "out of memory");
		goto out;
	}
	if ((rc = eval_mine_oracle(db, class_id, r.candidates, r.n_candidates, rel)))
		goto out;
	size_t npos = 0;
	for (int i = 0; i < r.n_candidates; i++)
		npos += rel[i];
	t->score[m].p10 = aed_ranked_precision_at(rel, (size_t)r.n_candidates, 10);
	t->score[m].p50 = aed_ranked_precision_at(rel, (size_t)r.n_candidates, 50);
	t->score[m].ap = aed_ranked_average_precision(rel, (size_t)r.n_candidates, npos);
	if (m == 0) {
		t->pool = r.n_candidates;
		t->positives = (int64_t)npos;
		t->prior = r.n_candidates ? (double)npos / (double)r.n_candidates : NAN;
	}
	if (o->keep_rankings) {
		if (!(t->ranking[m] = calloc((size_t)(r.n_candidates ? r.n_candidates : 1),
					     sizeof *t->ranking[m]))) {
			rc = aed_error(AED_ENOMEM, "out of memory");
			goto out;
		}
		for (int i = 0; i < r.n_candidates; i++) {
			if (!(t->ranking[m][i] = strdup(r.candidates[i].key))) {
				rc = aed_error(AED_ENOMEM, "out of memory");
				goto out;
			}
			t->n_ranked[m] = i + 1;
		}
	}
out:
	free(rel);
	aed_mine_result_release(&r);
	return rc;
}

/* --- one class ----------------------------------------------------------------- */

static int add_skipped(struct aed_eval_mine_result *r, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static int add_skipped(struct aed_eval_mine_result *r, const char *fmt, ...)
{
	va_list ap;
	char *m = NULL, **v;
	va_start(ap, fmt);
	if (vasprintf(&m, fmt, ap) < 0)
		m = NULL;
	va_end(ap);
	if (!m || !(v = realloc(r->skipped, (size_t)(r->n_skipped + 1) * sizeof *v))) {
		free(m);
		return aed_error(AED_ENOMEM, "out of memory");
	}
	r->skipped = v;
	r->skipped[r->n_skipped++] = m;
	return AED_OK;
}

/* Means over the trials of class k. */
static int trial_means(const struct aed_eval_mine_opts *o, struct aed_eval_mine_class *k,
		       int n_trials)
{
	int rc = AED_OK;
	double *buf = malloc((size_t)n_trials * sizeof *buf);

	if (!buf)
		return aed_error(AED_ENOMEM, "out of memory");
#define MEAN_OF(expr, dst)                                   \
	do {                                                 \
		for (int t_ = 0; t_ < n_trials; t_++) {      \
			const struct aed_eval_mine_trial *T = &k->trials[t_]; \
			buf[t_] = (expr);                    \
		}                                            \
		(dst) = mean_finite(buf, (size_t)n_trials, 1); \
	} while (0)
	MEAN_OF(T->prior, k->prior);
	for (int m = 0; m < 2; m++) {
		MEAN_OF(T->score[m].p10, k->score[m].p10);
		MEAN_OF(T->score[m].p50, k->score[m].p50);
		MEAN_OF(T->score[m].ap, k->score[m].ap);
	}
	if (o->rounds) {
		for (int m = 0; m < 2 && !rc; m++) {
			if (!(k->yield[m] = calloc((size_t)o->rounds, sizeof *k->yield[m]))) {
				rc = aed_error(AED_ENOMEM, "out of memory");
				break;
			}
			for (int q = 0; q < o->rounds; q++)
				MEAN_OF(T->yield[m][q], k->yield[m][q]);
		}
	}
#undef MEAN_OF
	free(buf);
	return rc;
}

static int eval_class(struct aed_db *db, const struct aed_eval_mine_opts *o, int64_t class_id,
		      int64_t index_id, int64_t n_segments, struct aed_eval_mine_result *res)
{
	struct pool_clip *p = NULL;
	size_t np = 0, ng = 0, *gstart = NULL;
	char *mid = NULL, *name = NULL, *mkey = NULL, *mval = NULL;
	struct aed_eval_mine_class *k;
	int rc, n_trials = o->n_exemplars ? 1 : o->trials, n_ex = o->exemplars_per_trial;
	int methods = o->baseline_mean ? 2 : 1;

	if ((rc = aed_class_mid_name(db, class_id, &mid, &name)))
		return rc;
	if (o->exemplar_meta) {
		const char *eq = strchr(o->exemplar_meta, '=');
		mkey = strndup(o->exemplar_meta, eq ? (size_t)(eq - o->exemplar_meta) : 0);
		mval = strdup(eq ? eq + 1 : "");
		if (!mkey || !mval) {
			rc = aed_error(AED_ENOMEM, "out of memory");
			goto out;
		}
	}
	if (!o->n_exemplars) {
		if ((rc = exemplar_pool(db, class_id, index_id, mkey, mval, &p, &np)))
			goto out;
		if (!(gstart = malloc((np + 1) * sizeof *gstart))) {
			rc = aed_error(AED_ENOMEM, "out of memory");
			goto out;
		}
		for (size_t i = 0; i < np; i++)
			if (i == 0 || strcmp(p[i].group, p[i - 1].group))
				gstart[ng++] = i;
		gstart[ng] = np;
		/* At least one labelled recording must stay a candidate. */
		if (ng < 2) {
			rc = add_skipped(res, "%s (%s): labelled clips from %zu source recording%s%s; "
					 "need 2", name, mid, ng, ng == 1 ? "" : "s",
					 o->exemplar_meta ? " with that meta" : "");
			goto out;
		}
		if ((size_t)n_ex > ng - 1)
			n_ex = (int)(ng - 1);
	}
	struct aed_eval_mine_class *nc = realloc(res->classes,
						 (size_t)(res->n_classes + 1) * sizeof *nc);
	if (!nc) {
		rc = aed_error(AED_ENOMEM, "out of memory");
		goto out;
	}
	res->classes = nc;
	k = &res->classes[res->n_classes++];
	memset(k, 0, sizeof *k);
	k->class_id = class_id;
	snprintf(k->mid, sizeof k->mid, "%s", mid);
	snprintf(k->name, sizeof k->name, "%s", name);
	k->labelled_clips = (int64_t)np;
	k->labelled_groups = (int64_t)ng;
	if (!(k->trials = calloc((size_t)n_trials, sizeof *k->trials))) {
		rc = aed_error(AED_ENOMEM, "out of memory");
		goto out;
	}
	if (o->rounds && (rc = eval_mine_check_unreviewed(db, class_id, name)))
		goto out;
	uint64_t rng = class_seed(o->seed, mid);
	for (int t = 0; t < n_trials; t++) {
		struct aed_eval_mine_trial *tr = &k->trials[t];
		struct keys ex = { 0 };
		k->n_trials = t + 1;
		tr->score[1].p10 = tr->score[1].p50 = tr->score[1].ap = NAN;
		if (o->n_exemplars) {
			for (int i = 0; i < o->n_exemplars && !rc; i++)
				rc = eval_mine_keys_push(&ex, o->exemplars[i]);
		} else {
			rc = draw(p, gstart, ng, n_ex, &rng, &ex);
		}
		/* The trial owns the exemplar keys from here. */
		tr->exemplars = ex.v;
		tr->n_exemplars = ex.n;
		if (rc)
			goto out;
		for (int m = 0; m < methods && !rc; m++)
			rc = score_trial(db, o, class_id, mid, &ex,
					 m ? AED_MINE_MEAN : o->mine.method, n_segments, tr, m);
		if (!rc && o->rounds)
			rc = eval_mine_trial_rounds(db, o, class_id, mid, &ex, tr,
						    t + 1 == n_trials);
		if (rc)
			goto out;
		aed_info("eval mine: %s trial %d/%d: P@10 %.2f P@50 %.2f AP %.3f (prior %.3f)",
			 name, t + 1, n_trials, tr->score[0].p10, tr->score[0].p50, tr->score[0].ap,
			 tr->prior);
	}
	rc = trial_means(o, k, n_trials);
out:
	pool_free(p, np);
	free(gstart);
	free(mid);
	free(name);
	free(mkey);
	free(mval);
	return rc;
}

/* --- the stage ------------------------------------------------------------------- */

/* Every class labelled directly on indexed clips of at least 2 recordings. */
static int all_classes(struct aed_db *db, int64_t index_id, int64_t **ids, int *n)
{
	sqlite3_stmt *st = NULL;
	int64_t *v = NULL, *nv;
	int k = 0, rc, step;

	*ids = NULL;
	*n = 0;
	if ((rc = aed_db_prepare(db, "SELECT l.class_id FROM label l JOIN segment s ON s.id = "
				 "l.segment_id JOIN vec_segment v ON v.segment_id = s.id AND "
				 "v.index_id = ?1 JOIN class c ON c.id = l.class_id GROUP BY "
				 "l.class_id HAVING count(DISTINCT s.source_group) >= 2 "
				 "ORDER BY c.name, c.id", &st)))
		return rc;
	sqlite3_bind_int64(st, 1, index_id);
	while ((step = sqlite3_step(st)) == SQLITE_ROW) {
		if (!(nv = realloc(v, (size_t)(k + 1) * sizeof *v))) {
			free(v);
			sqlite3_finalize(st);
			return aed_error(AED_ENOMEM, "out of memory");
		}
		v = nv;
		v[k++] = sqlite3_column_int64(st, 0);
	}
	if (step != SQLITE_DONE) {
		rc = aed_db_error(db, "listing the labelled classes");
		sqlite3_finalize(st);
		free(v);
		return rc;
	}
	sqlite3_finalize(st);
	*ids = v;
	*n = k;
	return AED_OK;
}

int aed_eval_mine(struct aed_db *db, const struct aed_eval_mine_opts *in,
		  struct aed_eval_mine_result *r)
{
	struct aed_eval_mine_opts o = *in;
	struct aed_index_handle h;
	int64_t *ids = NULL, index_id, n_segments;
	int n_ids = 0, rc;
	double t0 = aed_now();

	memset(r, 0, sizeof *r);
	if (o.exemplars_per_trial <= 0)
		o.exemplars_per_trial = DEFAULT_EXEMPLARS;
	if (o.trials <= 0)
		o.trials = DEFAULT_TRIALS;
	if (o.rounds < 0 || (o.rounds && o.per_round <= 0))
		return aed_error(AED_EUSAGE, "eval mine: --rounds needs --per-round N >= 1");
	if (!o.all_classes && o.n_classes == 0)
		return aed_error(AED_EUSAGE, "eval mine: give --class NAME (repeatable) or "
				 "--all-classes");
	if (o.n_exemplars && (o.all_classes || o.n_classes != 1))
		return aed_error(AED_EUSAGE, "eval mine: --exemplar needs exactly one --class");
	if (o.exemplar_meta && !strchr(o.exemplar_meta, '='))
		return aed_error(AED_EUSAGE, "eval mine: --exemplar-meta '%s': expected KEY=VALUE",
				 o.exemplar_meta);
	/* The pool's size: mining is asked for every indexed segment. */
	memset(&h, 0, sizeof h);
	if ((rc = aed_index_open(db, NULL, &h)))
		return rc;
	index_id = h.st.index_id;
	n_segments = h.n_segments;
	aed_index_handle_release(&h);
	r->rounds = o.rounds;
	if (o.all_classes) {
		if ((rc = all_classes(db, index_id, &ids, &n_ids)))
			goto out;
	} else {
		if (!(ids = calloc((size_t)o.n_classes, sizeof *ids))) {
			rc = aed_error(AED_ENOMEM, "out of memory");
			goto out;
		}
		for (; n_ids < o.n_classes; n_ids++)
			if ((rc = aed_class_resolve(db, o.classes[n_ids], &ids[n_ids])))
				goto out;
	}
	for (int c = 0; c < n_ids; c++)
		if ((rc = eval_class(db, &o, ids[c], index_id, n_segments, r)))
			goto out;
	if (r->n_classes == 0) {
		rc = aed_error(AED_ENOTFOUND, "eval mine: no class to evaluate%s%s",
			       r->n_skipped ? ": " : " (no class labels clips of 2 source recordings)",
			       r->n_skipped ? r->skipped[0] : "");
		goto out;
	}
	/* Means over the classes. */
	{
		double *buf = malloc((size_t)r->n_classes * sizeof *buf);
		if (!buf) {
			rc = aed_error(AED_ENOMEM, "out of memory");
			goto out;
		}
#define MEAN_OF(expr, dst)                                        \
	do {                                                      \
		for (int c_ = 0; c_ < r->n_classes; c_++) {       \
			const struct aed_eval_mine_class *K = &r->classes[c_]; \
			buf[c_] = (expr);                         \
		}                                                 \
		(dst) = mean_finite(buf, (size_t)r->n_classes, 1); \
	} while (0)
		MEAN_OF(K->prior, r->prior);
		for (int m = 0; m < 2; m++) {
			MEAN_OF(K->score[m].p10, r->score[m].p10);
			MEAN_OF(K->score[m].p50, r->score[m].p50);
			MEAN_OF(K->score[m].ap, r->score[m].ap);
		}
		for (int m = 0; m < 2 && o.rounds && !rc; m++) {
			if (!(r->yield[m] = calloc((size_t)o.rounds, sizeof *r->yield[m]))) {
				rc = aed_error(AED_ENOMEM, "out of memory");
				break;
			}
			for (int q = 0; q < o.rounds; q++)
				MEAN_OF(K->yield[m][q], r->yield[m][q]);
		}
#undef MEAN_OF
		free(buf);
	}
out:
	free(ids);
	r->seconds = aed_now() - t0;
	if (rc)
		aed_eval_mine_result_release(r);
	return rc;
}


