/* mine_ranker.c - mine's ranker (mine.h, o->ranker): a logistic regression
 * (nn.h) trained on the class's rated clips, the exemplars and weak
 * negatives from the corpus sample, which re-ranks the exemplar search's
 * best candidates. In the path of a clip: review ratings fed back into the
 * next mining round. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "aedcurate/error.h"
#include "aedcurate/mine.h"
#include "aedcurate/nn.h"
#include "aedcurate/search.h"
#include "aedcurate/store.h"
#include "stage/mine_internal.h"

#define RANKER_EPOCHS 20

/* The rated clips of the class that can train: one answer per clip, the
 * majority of its Present and Not present ratings (a tie: left out). Unsure
 * and Not acoustic say nothing about the sound, so they never count.
 * ids[i], y[i] (1 Present, 0 Not present); *n clips. */
#define RATED_CLIPS_SQL \
	"SELECT segment_id, SUM(answer = 'present') > SUM(answer = 'not_present') AS y FROM " \
	"rating WHERE class_id = ?1 AND answer IN ('present', 'not_present') GROUP BY " \
	"segment_id HAVING SUM(answer = 'present') <> SUM(answer = 'not_present')"

static int rated_clips(struct aed_db *db, int64_t class_id, int64_t **ids, int **y, int *n)
{
	sqlite3_stmt *st = NULL;
	int rc = AED_OK, cap = 0;
	*ids = NULL;
	*y = NULL;
	*n = 0;
	if (!mine_has_table(db, "rating"))
		return AED_OK;
	if ((rc = aed_db_prepare(db, "SELECT segment_id, y FROM (" RATED_CLIPS_SQL ") ORDER BY "
				 "segment_id", &st)))
		return rc;
	sqlite3_bind_int64(st, 1, class_id);
	while (sqlite3_step(st) == SQLITE_ROW) {
		if (*n == cap) {
			cap = cap ? 2 * cap : 64;
			int64_t *ni = realloc(*ids, (size_t)cap * sizeof *ni);
			if (ni)
				*ids = ni;
			int *ny = realloc(*y, (size_t)cap * sizeof *ny);
			if (ny)
				*y = ny;
			if (!ni || !ny) {
				rc = aed_error(AED_ENOMEM, "out of memory");
				break;
			}
		}
		(*ids)[*n] = sqlite3_column_int64(st, 0);
		(*y)[*n] = sqlite3_column_int(st, 1);
		(*n)++;
	}
	sqlite3_finalize(st);
	return rc;
}

struct rows {
	float *x, *y;
	size_t n, cap;
};

static int rows_reserve(struct rows *t, size_t more, int d)
{
	if (t->n + more <= t->cap)
		return AED_OK;
	size_t cap = t->cap ? t->cap : 1024;
	while (cap < t->n + more)
		cap *= 2;
	float *nx = realloc(t->x, cap * d * sizeof *nx);
	if (nx)
		t->x = nx;
	float *ny = realloc(t->y, cap * sizeof *ny);
	if (ny)
		t->y = ny;
	if (!nx || !ny)
		return aed_error(AED_ENOMEM, "out of memory");
	t->cap = cap;
	return AED_OK;
}

/* Train the ranker: the exemplar frames (positives: named, ontology and
 * verified clips, and in a review loop the positives found so far), the
 * patches of rated clips that are not exemplars, and weak negatives spread
 * over the corpus sample. *m stays NULL when no rated clip is usable. */
int mine_ranker_train(struct aed_db *db, const struct stored *sv, const struct frames *f,
		      const struct aed_mine_corpus *c, struct aed_mine_result *r,
		      struct aed_clf **m)
{
	const struct aed_index_handle *h = sv->h;
	struct rows t = { 0 };
	int64_t *ids = NULL;
	int *lab = NULL, n = 0, rc, d = h->dim;

	*m = NULL;
	if ((rc = rated_clips(db, r->class_id, &ids, &lab, &n)) || n == 0)
		goto out;
	if ((rc = rows_reserve(&t, (size_t)f->n, d)))
		goto out;
	memcpy(t.x, f->x, (size_t)f->n * d * sizeof *t.x);
	for (int64_t i = 0; i < f->n; i++)
		t.y[i] = 1;
	t.n = (size_t)f->n;
	r->ranker_pos = r->n_exemplars;
	for (int i = 0; i < n; i++) {
		int ex = 0;
		for (int e = 0; e < r->n_exemplars && !ex; e++)
			ex = r->exemplars[e].segment_id == ids[i];
		int64_t s = mine_segnum(sv->map, ids[i]);
		/* A rated exemplar's frames are in already; a rated clip outside
		 * the index has no vectors to give. */
		if (s < 0 || (ex && lab[i])) {
			r->ranker_rated += ex && lab[i];
			continue;
		}
		int64_t np = h->first_vec[s + 1] - h->first_vec[s];
		if ((rc = rows_reserve(&t, (size_t)np, d)) ||
		    (rc = mine_stored_rows(sv, s, 0, np, t.x + t.n * d)))
			goto out;
		for (int64_t p = 0; p < np; p++)
			t.y[t.n + p] = (float)lab[i];
		t.n += (size_t)np;
		r->ranker_rated++;
		r->ranker_pos += lab[i];
		r->ranker_neg += !lab[i];
	}
	if (!r->ranker_rated)
		goto out;
	/* Weak negatives: most of the corpus is not the class; every
	 * (n_sample / AED_RANKER_WEAK)-th sample vector, spread as the sample is. */
	int64_t nw = c->n_sample < AED_RANKER_WEAK ? c->n_sample : AED_RANKER_WEAK;
	if ((rc = rows_reserve(&t, (size_t)nw, d)))
		goto out;
	for (int64_t i = 0; i < nw; i++) {
		memcpy(t.x + (t.n + i) * d, c->sample + (i * c->n_sample / nw) * d,
		       (size_t)d * sizeof *t.x);
		t.y[t.n + i] = 0;
	}
	t.n += (size_t)nw;
	r->ranker_weak = nw;
	size_t npos = 0;
	for (size_t i = 0; i < t.n; i++)
		npos += t.y[i] > 0.5f;
	/* Balanced: the few positive rows weigh as much as the many negatives. */
	float pos_w = npos ? (float)(t.n - npos) / (float)npos : 1.0f;
	struct aed_clf_opts co = { .hidden = 0, .max_epochs = RANKER_EPOCHS, .seed = 1 };
	struct aed_clf_report rep;
	rc = aed_clf_train(t.x, t.n, d, t.y, 1, &pos_w, NULL, &co, m, &rep);
out:
	free(ids);
	free(lab);
	free(t.x);
	free(t.y);
	return rc;
}

static int cmp_hit(const void *a, const void *b)
{
	const struct aed_mine_hit *x = a, *y = b;
	if (x->score != y->score)
		return x->score < y->score ? 1 : -1;
	return (x->segment > y->segment) - (x->segment < y->segment);
}

static void standardise(double *v, int n)
{
	double mu = 0, var = 0;
	for (int i = 0; i < n; i++)
		mu += v[i];
	mu /= n ? n : 1;
	for (int i = 0; i < n; i++)
		var += (v[i] - mu) * (v[i] - mu);
	double sd = n > 1 ? sqrt(var / (n - 1)) : 0;
	for (int i = 0; i < n; i++)
		v[i] = sd > 0 ? (v[i] - mu) / sd : 0;
}

/* The recordings with rated clips of the class: group[i], Present clips
 * pos[i] and rated clips n[i] (each clip's majority answer, as the ranker
 * trains on); *ng recordings. */
struct rated_group {
	char *group;
	int pos, n;
};
struct rated_groups {
	struct rated_group *v;
	int ng;
};

static void rated_groups_release(struct rated_groups *g)
{
	for (int i = 0; i < g->ng; i++)
		free(g->v[i].group);
	free(g->v);
	memset(g, 0, sizeof *g);
}

static int rated_groups(struct aed_db *db, int64_t class_id, struct rated_groups *g)
{
	sqlite3_stmt *st = NULL;
	int rc, cap = 0;
	memset(g, 0, sizeof *g);
	if (!mine_has_table(db, "rating"))
		return AED_OK;
	if ((rc = aed_db_prepare(db, "SELECT s.source_group, SUM(x.y), COUNT(*) FROM ("
				 RATED_CLIPS_SQL ") x JOIN segment s ON s.id = x.segment_id WHERE "
				 "s.source_group IS NOT NULL AND s.source_group <> '' GROUP BY "
				 "s.source_group ORDER BY s.source_group", &st)))
		return rc;
	sqlite3_bind_int64(st, 1, class_id);
	int step;
	while ((step = sqlite3_step(st)) == SQLITE_ROW) {
		if (g->ng == cap) {
			cap = cap ? 2 * cap : 64;
			struct rated_group *nv = realloc(g->v, (size_t)cap * sizeof *nv);
			if (!nv) {
				rc = aed_error(AED_ENOMEM, "out of memory");
				break;
			}
			g->v = nv;
		}
		struct rated_group *e = &g->v[g->ng];
		if (!(e->group = strdup((const char *)sqlite3_column_text(st, 0)))) {
			rc = aed_error(AED_ENOMEM, "out of memory");
			break;
		}
		e->pos = sqlite3_column_int(st, 1);
		e->n = sqlite3_column_int(st, 2);
		g->ng++;
	}
	if (!rc && step != SQLITE_DONE)
		rc = aed_db_error(db, "reading the rated recordings");
	sqlite3_finalize(st);
	return rc;
}

/* What the ratings say of segment id's recording: (p - n) / (p + n + 1),
 * 0 without ratings. g->v is sorted by group (the query's ORDER BY, SQLite's
 * BINARY collation, which strcmp matches). */
static int group_evidence(struct aed_db *db, sqlite3_stmt *st, const struct rated_groups *g,
			  int64_t id, double *e)
{
	*e = 0;
	sqlite3_bind_int64(st, 1, id);
	int step = sqlite3_step(st);
	if (step != SQLITE_ROW && step != SQLITE_DONE) {
		int rc = aed_db_error(db, "reading a candidate's recording");
		sqlite3_reset(st);
		return rc;
	}
	if (step == SQLITE_ROW && sqlite3_column_type(st, 0) == SQLITE_TEXT) {
		const char *grp = (const char *)sqlite3_column_text(st, 0);
		int lo = 0, hi = g->ng;
		while (lo < hi) {
			int mid = lo + (hi - lo) / 2, c = strcmp(g->v[mid].group, grp);
			if (!c) {
				int p = g->v[mid].pos, n = g->v[mid].n - p;
				*e = (double)(p - n) / (double)(p + n + 1);
				break;
			}
			if (c < 0)
				lo = mid + 1;
			else
				hi = mid;
		}
	}
	sqlite3_reset(st);
	return AED_OK;
}

/* Re-rank hits[0..n-1] by the blend of the exemplar score and the ranker's
 * clip score (its best patch's logit), both standardised over the hits,
 * plus g times what the ratings say of the hit's recording (mine.h);
 * *group_hits: hits whose recording's ratings lean one way (e != 0). */
int mine_ranker_rerank(const struct stored *sv, const struct aed_clf *m, int64_t class_id,
		       double w, double g, struct aed_mine_hit *hits, int n, int *group_hits)
{
	const struct aed_index_handle *h = sv->h;
	double *es = malloc((size_t)(n ? n : 1) * sizeof *es);
	double *cs = malloc((size_t)(n ? n : 1) * sizeof *cs);
	double *gs = calloc((size_t)(n ? n : 1), sizeof *gs);
	float *x = NULL, *p = NULL;
	struct rated_groups rg = { 0 };
	sqlite3_stmt *st = NULL;
	int64_t cap = 0;
	int rc = AED_OK;
	*group_hits = 0;
	if (!es || !cs || !gs) {
		rc = aed_error(AED_ENOMEM, "out of memory");
		goto out;
	}
	if (g > 0) {
		if ((rc = rated_groups(sv->db, class_id, &rg)) ||
		    (rc = aed_db_prepare(sv->db, "SELECT source_group FROM segment WHERE id = ?1",
					 &st)))
			goto out;
		for (int i = 0; i < n && rg.ng; i++) {
			if ((rc = group_evidence(sv->db, st, &rg, h->segment_ids[hits[i].segment],
						 &gs[i])))
				goto out;
			*group_hits += gs[i] != 0;
		}
	}
	for (int i = 0; i < n; i++) {
		int64_t s = hits[i].segment, np = h->first_vec[s + 1] - h->first_vec[s];
		if (np > cap) {
			float *nx = realloc(x, (size_t)np * h->dim * sizeof *nx);
			if (nx)
				x = nx;
			float *npp = realloc(p, (size_t)np * sizeof *npp);
			if (npp)
				p = npp;
			if (!nx || !npp) {
				rc = aed_error(AED_ENOMEM, "out of memory");
				goto out;
			}
			cap = np;
		}
		if ((rc = mine_stored_rows(sv, s, 0, np, x)) ||
		    (rc = aed_clf_predict(m, x, (size_t)np, p)))
			goto out;
		float best = 0;
		for (int64_t j = 0; j < np; j++)
			best = p[j] > best ? p[j] : best;
		double q = best < 1e-6f ? 1e-6 : best > 1 - 1e-6f ? 1 - 1e-6 : best;
		es[i] = hits[i].score;
		cs[i] = log(q / (1 - q));
	}
	standardise(es, n);
	standardise(cs, n);
	for (int i = 0; i < n; i++)
		hits[i].score = (float)((1 - w) * es[i] + w * cs[i] + g * gs[i]);
	qsort(hits, (size_t)n, sizeof *hits, cmp_hit);
out:
	sqlite3_finalize(st);
	rated_groups_release(&rg);
	free(gs);
	free(es);
	free(cs);
	free(x);
	free(p);
	return rc;
}
