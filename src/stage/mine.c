/* mine.c - the mine stage: gathers a class's exemplars (mine_exemplars.c),
 * runs the exemplar (or mean) search of src/search/mine_core.c over the
 * checked index and the corpus as mine_corpus.c offers it, re-ranks with
 * the ranker when asked (mine_ranker.c), and records the run and its ranked
 * candidates as a review queue. In the path of a clip: after index build,
 * before review. */
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "aedcurate/error.h"
#include "aedcurate/message.h"
#include "aedcurate/mine.h"
#include "aedcurate/nn.h"
#include "aedcurate/class.h"
#include "aedcurate/search.h"
#include "aedcurate/segments.h"
#include "aedcurate/store.h"
#include "aedcurate/util.h"
#include "stage/mine_internal.h"

#define DEFAULT_K AED_MINE_K_DEFAULT
#define DEFAULT_SAMPLE AED_MINE_SAMPLE_DEFAULT
/* Frame x sample-vector products for the exemplar frames' statistics (step
 * 2): the whole sample up to 200 frames, fewer vectors past that, never
 * fewer than STATS_MIN_SAMPLE. */
#define STATS_PAIRS (200 * (int64_t)DEFAULT_SAMPLE)
#define STATS_MIN_SAMPLE 4000

const char *aed_mine_method_name(enum aed_mine_method m)
{
	return m == AED_MINE_MEAN ? "mean" : "exemplar";
}

void aed_mine_result_release(struct aed_mine_result *r)
{
	for (int i = 0; i < r->n_exemplars; i++) {
		free(r->exemplars[i].name);
		free(r->exemplars[i].cluster);
		free(r->exemplars[i].kept);
	}
	free(r->exemplars);
	for (int i = 0; i < r->n_candidates; i++) {
		free(r->candidates[i].key);
		free(r->candidates[i].labels);
	}
	free(r->candidates);
	aed_frame_selection_release(&r->sel);
	memset(r, 0, sizeof *r);
}

/* "mid name (source); ..." for a candidate. */
static char *labels_of(struct aed_db *db, int64_t segment_id)
{
	sqlite3_stmt *st;
	struct aed_buf b = { 0 };
	if (aed_db_prepare(db, "SELECT c.mid, c.name, l.source FROM label l JOIN class c ON c.id = "
			   "l.class_id WHERE l.segment_id = ?1 ORDER BY c.name, l.source", &st))
		return strdup("");
	sqlite3_bind_int64(st, 1, segment_id);
	while (sqlite3_step(st) == SQLITE_ROW)
		aed_buf_printf(&b, "%s%s %s (%s)", b.len ? "; " : "", sqlite3_column_text(st, 0),
			       sqlite3_column_text(st, 1), sqlite3_column_text(st, 2));
	sqlite3_finalize(st);
	if (!b.data)
		return strdup("");
	return b.data;
}

static char *frames_json(const struct aed_mine_exemplar *e)
{
	json_t *a = json_array();
	for (int p = 0; a && p < e->frames_total; p++)
		json_array_append_new(a, json_pack("{s:i, s:f, s:i, s:b}", "patch", p, "t",
						   p * AED_PATCH_HOP_S, "cluster",
						   e->cluster ? e->cluster[p] : -1, "kept",
						   e->kept ? e->kept[p] == 1 : 1));
	for (int p = 0; a && e->kept && p < e->frames_total; p++)
		if (e->kept[p] == 2 || e->kept[p] == 3)
			json_object_set_new(json_array_get(a, (size_t)p),
					    e->kept[p] == 2 ? "generic" : "unshared", json_true());
	char *s = a ? json_dumps(a, JSON_COMPACT) : NULL;
	json_decref(a);
	return s;
}

/* The run, its exemplars and its candidates, in one transaction. */
static int record(struct aed_db *db, const struct aed_mine_opts *o, struct aed_mine_result *r,
		  const char *params)
{
	sqlite3_stmt *st = NULL;
	char now[32];
	int rc;

	aed_utc_iso8601(now);
	if ((rc = aed_db_begin(db)))
		return rc;
	if ((rc = aed_db_prepare(db,
				 "INSERT INTO mine_run(run_id, class_id, method, params, index_id, "
				 "model_sha256, n_exemplars, n_kept_frames, n_candidates, created_at) "
				 "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
				 &st)))
		goto out;
	sqlite3_bind_int64(st, 1, r->run_id);
	sqlite3_bind_int64(st, 2, r->class_id);
	sqlite3_bind_text(st, 3, aed_mine_method_name(o->method), -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 4, params, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 5, r->index_id);
	sqlite3_bind_text(st, 6, r->model_sha256, -1, SQLITE_STATIC);
	sqlite3_bind_int(st, 7, r->n_exemplars);
	sqlite3_bind_int(st, 8, o->method == AED_MINE_MEAN ? r->n_frames : r->sel.n_kept);
	sqlite3_bind_int(st, 9, r->n_candidates);
	sqlite3_bind_text(st, 10, now, -1, SQLITE_STATIC);
	if (sqlite3_step(st) != SQLITE_DONE) {
		rc = aed_db_error(db, "mine_run");
		goto out;
	}
	sqlite3_finalize(st);
	st = NULL;
	r->mine_run_id = sqlite3_last_insert_rowid(aed_db_sqlite(db));
	if ((rc = aed_db_prepare(db,
				 "INSERT INTO mine_exemplar(mine_run_id, segment_id, source, path, "
				 "frames_kept, frames_total, frames) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
				 &st)))
		goto out;
	for (int i = 0; i < r->n_exemplars; i++) {
		const struct aed_mine_exemplar *e = &r->exemplars[i];
		char *fj = frames_json(e);
		sqlite3_bind_int64(st, 1, r->mine_run_id);
		if (e->segment_id)
			sqlite3_bind_int64(st, 2, e->segment_id);
		else
			sqlite3_bind_null(st, 2);
		sqlite3_bind_text(st, 3, e->source, -1, SQLITE_STATIC);
		if (e->segment_id)
			sqlite3_bind_null(st, 4);
		else
			sqlite3_bind_text(st, 4, e->name, -1, SQLITE_STATIC);
		sqlite3_bind_int(st, 5, e->frames_kept);
		sqlite3_bind_int(st, 6, e->frames_total);
		sqlite3_bind_text(st, 7, fj ? fj : "[]", -1, SQLITE_TRANSIENT);
		free(fj);
		if (sqlite3_step(st) != SQLITE_DONE) {
			rc = aed_db_error(db, "mine_exemplar");
			goto out;
		}
		sqlite3_reset(st);
	}
	sqlite3_finalize(st);
	st = NULL;
	if ((rc = aed_db_prepare(db,
				 "INSERT INTO candidate(mine_run_id, segment_id, rank, score, "
				 "best_time_s) VALUES (?1, ?2, ?3, ?4, ?5)",
				 &st)))
		goto out;
	for (int i = 0; i < r->n_candidates; i++) {
		sqlite3_bind_int64(st, 1, r->mine_run_id);
		sqlite3_bind_int64(st, 2, r->candidates[i].segment_id);
		sqlite3_bind_int(st, 3, r->candidates[i].rank);
		sqlite3_bind_double(st, 4, r->candidates[i].score);
		sqlite3_bind_double(st, 5, r->candidates[i].best_time_s);
		if (sqlite3_step(st) != SQLITE_DONE) {
			rc = aed_db_error(db, "candidate");
			goto out;
		}
		sqlite3_reset(st);
	}
	rc = aed_db_commit(db);
out:
	sqlite3_finalize(st);
	if (rc)
		aed_db_rollback(db);
	return rc;
}

/* Step 1: the class's exemplars, or an error saying how to get some. */
static int gather_exemplars(struct aed_db *db, const struct aed_mine_opts *o,
			    const struct aed_index_handle *h, struct aed_mine_result *r)
{
	int rc, n_examples_listed = 0;

	if (!o->no_class_exemplars &&
	    (rc = mine_class_exemplars(db, r->class_id, h->model_id, r, &n_examples_listed)))
		return rc;
	for (int i = 0; i < o->n_exemplars; i++)
		if ((rc = mine_named_exemplar(db, o->exemplars[i], r)))
			return rc;
	if (r->n_exemplars == 0) {
		/* The way out when the ontology has examples: bring them in. */
		char how[512] = "";

		if (!o->no_class_exemplars && n_examples_listed)
			snprintf(how, sizeof how, "; or bring in its %d ontology examples: aedcurate "
				 "segments ingest --ontology-examples %s, then aedcurate fetch --split "
				 AED_EXAMPLES_SPLIT " --url 'YOUR_MIRROR/{key}.flac' (or --from DIR, "
				 "--cmd), decode, features, embed and index build", n_examples_listed,
				 r->class_mid);
		return aed_error(AED_ENOTFOUND, "class %s (%s) has no exemplar in the corpus: %s no "
				 "clip is verified for it; name example clips with --exemplar "
				 "SEGMENT|FILE%s", r->class_name, r->class_mid,
				 o->no_class_exemplars ? "class exemplars are off (--no-class-exemplars) and"
				 : n_examples_listed ? "none of its ontology positive examples is an "
						       "embedded segment, and"
						     : "the ontology lists no positive example for it, and",
				 how);
	}
	return AED_OK;
}

/* Corpus statistics from vectors spread evenly over the index: *out
 * [*ns][dim] (o->sample of them, at most the index's), in *owned (to free)
 * or mapped in *kept (to unmap). */
static int sample_corpus(const struct aed_mine_opts *o, const struct stored *sv,
			 struct aed_cache *kept, const float **out, float **owned, int64_t *ns)
{
	int64_t ntot = sv->h->st.n_vectors;

	*ns = o->sample > 0 ? o->sample : DEFAULT_SAMPLE;
	if (*ns > ntot)
		*ns = ntot;
	return mine_corpus_sample_kept(sv, *ns, kept, out, owned, ns);
}

/* Step 2, the queries: the normalised mean of every exemplar frame (mean),
 * or the frames aed_mine_select_frames keeps (exemplar), merged into at
 * most max_queries, into q; *weight (exemplar: each query's frames),
 * *generic and *spread (the per-frame corpus statistics), the caller's to
 * free. */
static int make_queries(const struct aed_mine_opts *o, const struct frames *f,
			const struct aed_mine_corpus *c, int dim, struct aed_mine_result *r,
			float *q, int *nq, float **weight, float **generic, float **spread)
{
	int rc;

	if (o->method == AED_MINE_MEAN) {
		memset(q, 0, (size_t)dim * sizeof *q);
		for (int64_t i = 0; i < f->n; i++)
			for (int j = 0; j < dim; j++)
				q[j] += f->x[i * dim + j];
		aed_l2_normalize(q, 1, dim);
		*nq = 1;
		return AED_OK;
	}
	struct aed_frame_select_opts so = o->select;
	float *sd = malloc((size_t)f->n * sizeof *sd);
	*generic = malloc((size_t)f->n * sizeof **generic);
	if (!sd || !*generic) {
		free(sd);
		return aed_error(AED_ENOMEM, "out of memory");
	}
	/* Each frame's statistics against at most STATS_PAIRS / frames sample
	 * vectors, every n-th: a mean and a deviation need thousands, not the
	 * whole sample, and a hundred verified clips bring ~800 frames. */
	struct aed_mine_corpus cs = *c;
	float *sub = NULL;
	int64_t want = STATS_PAIRS / (f->n ? f->n : 1);
	if (want < STATS_MIN_SAMPLE)
		want = STATS_MIN_SAMPLE;
	if (want < c->n_sample) {
		if (!(sub = malloc((size_t)want * dim * sizeof *sub))) {
			free(sd);
			return aed_error(AED_ENOMEM, "out of memory");
		}
		for (int64_t i = 0; i < want; i++)
			memcpy(sub + i * dim, c->sample + (i * c->n_sample / want) * dim,
			       (size_t)dim * sizeof *sub);
		cs.sample = sub;
		cs.n_sample = want;
	}
	rc = aed_mine_corpus_stats(&cs, f->x, (int)f->n, dim, *generic, sd);
	free(sub);
	if (rc) {
		free(sd);
		return rc;
	}
	so.generic = *generic;
	so.spread = sd;
	*spread = sd;
	if ((rc = aed_mine_select_frames(f->x, f->ex, f->n, dim, r->n_exemplars, &so, &r->sel)))
		return rc;
	for (int64_t i = 0; i < f->n; i++)
		if (r->sel.kept[i])
			memcpy(q + (size_t)(*nq)++ * dim, f->x + i * dim, (size_t)dim * sizeof *q);
	/* Many exemplars (a class with a hundred verified clips) keep hundreds
	 * of frames; the search's cost grows with the queries, the mean score
	 * hardly changes when close frames are merged. */
	int mq = o->max_queries > 0 ? o->max_queries : AED_MINE_MAX_QUERIES_DEFAULT;
	if (!(*weight = malloc((size_t)(*nq ? *nq : 1) * sizeof **weight)))
		return aed_error(AED_ENOMEM, "out of memory");
	return aed_mine_merge_queries(q, *nq, dim, mq, o->select.seed, *weight, nq);
}

/* Per-exemplar view of the selection, for the report and the table. */
static int exemplar_view(const struct aed_mine_opts *o, const struct frames *f,
			 struct aed_mine_result *r)
{
	for (int i = 0; i < r->n_exemplars; i++) {
		struct aed_mine_exemplar *e = &r->exemplars[i];
		e->cluster = calloc((size_t)(e->frames_total ? e->frames_total : 1), sizeof *e->cluster);
		e->kept = calloc((size_t)(e->frames_total ? e->frames_total : 1), 1);
		if (!e->cluster || !e->kept)
			return aed_error(AED_ENOMEM, "out of memory");
	}
	for (int64_t i = 0; i < f->n; i++) {
		struct aed_mine_exemplar *e = &r->exemplars[f->ex[i]];
		e->cluster[f->patch[i]] = o->method == AED_MINE_MEAN ? -1 : r->sel.cluster[i];
		e->kept[f->patch[i]] = o->method == AED_MINE_MEAN ? 1
				       : r->sel.kept[i] ? 1 : r->sel.generic[i] ? 2
				       : r->sel.unshared[i] ? 3 : 0;
		e->frames_kept += e->kept[f->patch[i]] == 1;
	}
	return AED_OK;
}

/* The nh hits, best first, as r's candidates with their keys and labels. */
static int fill_candidates(struct aed_db *db, const struct aed_mine_opts *o,
			   const struct aed_index_handle *h, const struct aed_mine_hit *hits,
			   int nh, struct aed_mine_result *r)
{
	int rc;

	r->candidates = calloc((size_t)(nh ? nh : 1), sizeof *r->candidates);
	if (!r->candidates)
		return aed_error(AED_ENOMEM, "out of memory");
	for (int i = 0; i < nh; i++) {
		struct aed_mine_candidate *cd = &r->candidates[i];
		sqlite3_stmt *st;
		cd->segment_id = h->segment_ids[hits[i].segment];
		cd->rank = i + 1;
		cd->score = hits[i].score;
		cd->best_time_s = hits[i].patch * AED_PATCH_HOP_S;
		if ((rc = aed_db_prepare(db, "SELECT key FROM segment WHERE id = ?1", &st)))
			return rc;
		sqlite3_bind_int64(st, 1, cd->segment_id);
		cd->key = strdup(sqlite3_step(st) == SQLITE_ROW ? (const char *)sqlite3_column_text(st, 0)
								 : "?");
		sqlite3_finalize(st);
		cd->labels = o->no_record ? strdup("") : labels_of(db, cd->segment_id);
		r->n_candidates = i + 1;
		if (!cd->key || !cd->labels)
			return aed_error(AED_ENOMEM, "out of memory");
	}
	return AED_OK;
}

/* Step 4: the run (its parameters as JSON), its exemplars and candidates. */
static int record_run(struct aed_db *db, const struct aed_mine_opts *o,
		      const struct aed_index_handle *h, struct aed_mine_result *r,
		      enum aed_mine_score score, int k, int nq, int64_t n_sample)
{
	char *params = NULL;
	int rc;

	json_t *pj = json_pack("{s:s, s:s, s:i, s:i, s:i, s:i, s:f, s:i, s:I, s:I, s:b, s:b, s:o, s:b, s:i, s:i, s:I, s:s, s:i, s:f, s:f, s:i}",
			       "method", aed_mine_method_name(o->method), "score",
			       aed_mine_score_name(score), "k", k, "clusters", r->sel.n_clusters,
			       "min_exemplars", o->select.min_exemplars, "seed", o->select.seed,
			       "generic_drop", o->select.generic_drop < 0 ? AED_MINE_GENERIC_DROP_DEFAULT
									   : o->select.generic_drop,
			       "share", r->sel.share_needed,
			       "hits_per_query", (json_int_t)r->stats.hits_per_query, "sample",
			       (json_int_t)n_sample, "exclude_group", o->exclude_group,
			       "exclude_group_verified", o->exclude_group && o->exclude_group_verified, "candidates",
			       aed_json_text(o->candidates_split), "no_class_exemplars", o->no_class_exemplars,
			       "kept_frames", o->method == AED_MINE_MEAN ? nq : r->sel.n_kept, "queries", nq, "index_id", (json_int_t)r->index_id, "factory",
			       h->st.factory, "ranker_rated", r->ranker_rated, "ranker_weight",
			       r->ranker_weight, "ranker_group", r->ranker_group, "max_queries",
			       o->max_queries > 0 ? o->max_queries : AED_MINE_MAX_QUERIES_DEFAULT);
	/* mine_run keeps them too, keys sorted. */
	params = pj ? json_dumps(pj, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
	if (!params) {
		json_decref(pj);
		return aed_error(AED_ENOMEM, "out of memory");
	}
	if ((rc = aed_run_begin(db, "mine", pj, &r->run_id)))
		goto out;
	if ((rc = record(db, o, r, params))) {
		rc = aed_run_fail(db, r->run_id, rc, 0, 0);
		goto out;
	}
	rc = aed_run_end(db, r->run_id, AED_RUN_OK, r->n_candidates, 0, NULL);
out:
	free(params);
	return rc;
}

/* Seconds since *t, and *t moved to now. */
static double lap(double *t)
{
	double now = aed_now(), d = now - *t;
	*t = now;
	return d;
}

int aed_mine(struct aed_db *db, const struct aed_mine_opts *o, struct aed_mine_result *r)
{
	struct aed_index_handle h;
	struct frames f = { 0 };
	unsigned char *excl = NULL;
	float *q = NULL, *weight = NULL, *sample = NULL, *generic = NULL, *spread = NULL;
	struct aed_mine_hit *hits = NULL;
	struct aed_clf *clf = NULL;
	struct aed_array_reader *rd = NULL;
	struct segnums map = { 0 };
	struct aed_cache sample_kept = { 0 };
	char *mid = NULL, *name = NULL;
	int rc, nq = 0;
	int k = o->k > 0 ? o->k : DEFAULT_K;
	double t0 = aed_now(), t = t0;

	memset(r, 0, sizeof *r);
	memset(&h, 0, sizeof h);
	if ((rc = aed_class_resolve(db, o->class_name, &r->class_id)) ||
	    (rc = aed_class_mid_name(db, r->class_id, &mid, &name)))
		goto out;
	snprintf(r->class_mid, sizeof r->class_mid, "%s", mid);
	snprintf(r->class_name, sizeof r->class_name, "%s", name);
	if ((rc = aed_index_open(db, NULL, &h)))
		goto out;
	if (h.st.pending_segments)
		aed_warn("mine: %lld embedded segments are not in the index yet and cannot be "
			 "candidates (run: aedcurate index build)", (long long)h.st.pending_segments);
	r->index_id = h.st.index_id;
	r->corpus_segments = h.n_segments;
	snprintf(r->model_sha256, sizeof r->model_sha256, "%s", h.st.model_sha256);
	r->seconds.open = lap(&t);

	/* 1. exemplars */
	if ((rc = gather_exemplars(db, o, &h, r)) ||
	    (rc = mine_load_exemplar_frames(db, o, &h, r, &f)))
		goto out;
	r->n_frames = (int)f.n;
	r->seconds.exemplars = lap(&t);

	struct stored sv = { .db = db, .h = &h };
	if ((rc = aed_array_reader_new(db, "embedding", &rd)) || (rc = mine_segnums_init(&h, &map)))
		goto out;
	sv.rd = rd;
	sv.map = &map;
	struct aed_mine_corpus c = {
		.ix = h.ix, .n_segments = h.n_segments, .first_vec = h.first_vec,
		/* Hits of a compressed index are re-ranked against the stored
		 * embeddings: every score reported is exact. */
		.fetch = aed_vindex_exact(h.ix) ? NULL : mine_stored_fetch,
		.fetch_ctx = &sv,
	};
	enum aed_mine_score score = o->method == AED_MINE_MEAN ? AED_MINE_SCORE_RAW : o->score;
	if (score == AED_MINE_SCORE_Z || o->method == AED_MINE_EXEMPLAR) {
		if ((rc = sample_corpus(o, &sv, &sample_kept, &c.sample, &sample, &c.n_sample)))
			goto out;
	}
	r->seconds.sample = lap(&t);

	/* 2. frame level: the queries */
	q = malloc((size_t)f.n * h.dim * sizeof *q);
	if (!q) {
		rc = aed_error(AED_ENOMEM, "out of memory");
		goto out;
	}
	if ((rc = make_queries(o, &f, &c, h.dim, r, q, &nq, &weight, &generic, &spread)) ||
	    (rc = exemplar_view(o, &f, r)))
		goto out;
	r->seconds.queries = lap(&t);

	/* 3. search */
	excl = calloc((size_t)(h.n_segments ? h.n_segments : 1), 1);
	if (!excl) {
		rc = aed_error(AED_ENOMEM, "out of memory");
		goto out;
	}
	if ((rc = mine_exclusions(db, o, &h, &map, r, excl, &r->n_excluded)))
		goto out;
	c.excluded = excl;
	if (r->n_excluded >= h.n_segments) {
		rc = aed_error(AED_ENOTFOUND, "no candidate left: all %lld indexed segments are "
			       "exemplars, reviewed or excluded", (long long)h.n_segments);
		goto out;
	}
	r->seconds.exclusions = lap(&t);
	/* The ranker re-ranks a wider pool than k: what it finds may lie below
	 * the exemplar search's first k. */
	double t_rank = aed_now();
	if (o->ranker && (rc = mine_ranker_train(db, &sv, &f, &c, r, &clf)))
		goto out;
	r->ranker_seconds = aed_now() - t_rank;
	int kp = clf && k < AED_RANKER_POOL ? AED_RANKER_POOL : k;
	struct aed_mine_search_opts so = { .k = kp, .hits_per_query = o->hits_per_query,
					   .score = score, .weight = weight };
	/* The ranker's pool: 4 hits for each of its kp clips in all, spread
	 * over the queries, and never fewer a query than k alone asks (4k,
	 * 256). 4kp a query pooled 32 x 4,000 frames at 1 M vectors. */
	if (kp > k) {
		int64_t a = 4 * (int64_t)k > 256 ? 4 * (int64_t)k : 256;
		int64_t b = (4 * (int64_t)kp + nq - 1) / (nq ? nq : 1);
		so.auto_hits = a > b ? a : b;
	}
	r->n_queries = nq;
	hits = malloc((size_t)kp * sizeof *hits);
	int nh = 0;
	if (!hits) {
		rc = aed_error(AED_ENOMEM, "out of memory");
		goto out;
	}
	if ((rc = aed_mine_search(&c, q, nq, &so, hits, &nh, &r->stats)))
		goto out;
	if (clf) {
		r->ranker_weight = o->ranker_weight; /* 0: similarity and the recording term */
		r->ranker_pool = nh;
		t_rank = aed_now();
		r->ranker_group = o->ranker_group;
		if ((rc = mine_ranker_rerank(&sv, clf, r->class_id, r->ranker_weight,
					     r->ranker_group, hits, nh, &r->ranker_group_hits)))
			goto out;
		r->ranker_seconds += aed_now() - t_rank;
		if (nh > k)
			nh = k;
	}
	r->seconds.search = lap(&t);
	if ((rc = fill_candidates(db, o, &h, hits, nh, r)))
		goto out;

	/* 4. record */
	if (!o->no_record)
		rc = record_run(db, o, &h, r, score, k, nq, c.n_sample);
	r->seconds.record = lap(&t);
out:
	r->seconds.total = aed_now() - t0;
	aed_array_reader_free(&rd);
	mine_segnums_release(&map);
	aed_index_handle_release(&h);
	mine_frames_release(&f);
	free(excl);
	free(q);
	free(weight);
	free(sample);
	aed_cache_unmap(&sample_kept);
	free(generic);
	free(spread);
	free(hits);
	aed_clf_free(&clf);
	free(mid);
	free(name);
	return rc;
}
