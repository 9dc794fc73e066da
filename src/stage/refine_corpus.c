/* refine_corpus.c - the refine stage's corpus in memory (refine_internal.h):
 * the embedded segments (of a split), their embeddings and YAMNet scores
 * back to back, the target classes and the clip-label matrix through the
 * class closure, the classifier's input rows, and the prevalence check on
 * YAMNet's scores. In the path of a clip: what embed stored, read back for
 * refine to score. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "aedcurate/error.h"
#include "aedcurate/nn.h"
#include "aedcurate/class.h"
#include "aedcurate/refine.h"
#include "aedcurate/store.h"
#include "stage/refine_internal.h"

void refine_fine_free(struct corpus *c)
{
	for (size_t i = 0; c->fine && i < c->nseg * c->nt; i++) {
		free(c->fine[i]);
		free(c->fine_patch[i]);
	}
	free(c->fine);
	free(c->fine_patch);
	free(c->n_fine);
	c->fine = c->fine_patch = NULL;
	c->n_fine = NULL;
}

void refine_corpus_release(struct corpus *c)
{
	free(c->seg);
	free(c->off);
	free(c->emb);
	free(c->yam);
	free(c->t);
	free(c->lab);
	free(c->score);
	free(c->oof);
	for (int e = 0; e < c->n_model; e++)
		aed_clf_free(&c->model[e]);
	refine_fine_free(c);
	memset(c, 0, sizeof *c);
}

static int grow(void **p, size_t *cap, size_t need, size_t size)
{
	if (need <= *cap)
		return AED_OK;
	size_t nc = *cap ? *cap : 256;
	while (nc < need)
		nc *= 2;
	void *q = realloc(*p, nc * size);
	if (!q)
		return aed_error(AED_ENOMEM, "out of memory (%zu items)", nc);
	*p = q;
	*cap = nc;
	return AED_OK;
}

/* Segments with an embedding (in the split, if one is named). */
int refine_load_segments(struct aed_db *db, const char *split, struct corpus *c)
{
	sqlite3_stmt *st = NULL;
	size_t cap = 0;
	int rc, s;

	rc = aed_db_prepare(db, split ?
			    "SELECT a.item FROM array_ref a JOIN segment_split ss ON ss.segment_id = "
			    "a.item JOIN split sp ON sp.id = ss.split_id AND sp.name = ?1 "
			    "WHERE a.kind = 'embedding' ORDER BY a.item" :
			    "SELECT item FROM array_ref WHERE kind = 'embedding' ORDER BY item", &st);
	if (rc)
		return rc;
	if (split)
		sqlite3_bind_text(st, 1, split, -1, SQLITE_STATIC);
	while ((s = sqlite3_step(st)) == SQLITE_ROW) {
		if ((rc = grow((void **)&c->seg, &cap, c->nseg + 1, sizeof *c->seg)))
			goto out;
		c->seg[c->nseg++] = sqlite3_column_int64(st, 0);
	}
	if (s != SQLITE_DONE)
		rc = aed_db_error(db, "listing embedded segments");
out:
	sqlite3_finalize(st);
	return rc;
}

/* Embeddings (need_emb) and YAMNet scores (when every segment has them) of
 * every segment, back to back; patch counts must agree. */
int refine_load_arrays(struct aed_db *db, struct corpus *c, int need_emb, int need_yam)
{
	size_t cap_e = 0, cap_y = 0;
	int rc = AED_OK, have_yam = 1;
	int64_t n_scores = 0;

	if ((rc = aed_db_int(db, "SELECT count(*) FROM array_ref WHERE kind = 'scores'", &n_scores)))
		return rc;
	if (!(c->off = calloc(c->nseg + 1, sizeof *c->off)))
		return aed_error(AED_ENOMEM, "out of memory");
	for (size_t i = 0; i < c->nseg; i++) {
		struct aed_array e = { 0 }, y = { 0 };
		size_t np;
		if ((rc = aed_array_get(db, "embedding", c->seg[i], &e)))
			return rc;
		np = (size_t)e.dims[0];
		if (e.dtype != AED_F32 || e.dims[1] != AED_YAMNET_EMBED_DIM) {
			aed_array_release(&e);
			return aed_error(AED_EFORMAT, "segment %lld: embedding is not f32 [n, %d]",
					 (long long)c->seg[i], AED_YAMNET_EMBED_DIM);
		}
		if (need_emb) {
			if ((rc = grow((void **)&c->emb, &cap_e, (c->npatch + np) * AED_YAMNET_EMBED_DIM,
				       sizeof *c->emb))) {
				aed_array_release(&e);
				return rc;
			}
			memcpy(c->emb + c->npatch * AED_YAMNET_EMBED_DIM, e.data,
			       np * AED_YAMNET_EMBED_DIM * sizeof(float));
		}
		aed_array_release(&e);
		if (have_yam && n_scores > 0) {
			rc = aed_array_get(db, "scores", c->seg[i], &y);
			if (rc == AED_ENOTFOUND) {
				have_yam = 0;
				rc = AED_OK;
			} else if (rc) {
				return rc;
			} else if (y.dtype != AED_F32 || (size_t)y.dims[0] != np ||
				   y.dims[1] != AED_YAMNET_CLASSES) {
				aed_array_release(&y);
				return aed_error(AED_EFORMAT, "segment %lld: scores are not f32 [%zu, %d]",
						 (long long)c->seg[i], np, AED_YAMNET_CLASSES);
			} else {
				rc = grow((void **)&c->yam, &cap_y, (c->npatch + np) * AED_YAMNET_CLASSES,
					  sizeof *c->yam);
				if (!rc)
					memcpy(c->yam + c->npatch * AED_YAMNET_CLASSES, y.data,
					       np * AED_YAMNET_CLASSES * sizeof(float));
				aed_array_release(&y);
				if (rc)
					return rc;
			}
		}
		c->npatch += np;
		c->off[i + 1] = c->npatch;
	}
	if (!have_yam || n_scores <= 0) {
		free(c->yam);
		c->yam = NULL;
	}
	if (need_yam && !c->yam)
		return aed_error(AED_ESTATE, "refine --scorer yamnet: some segments have no YAMNet "
				 "scores (run `aedcurate embed`)");
	return AED_OK;
}

static long seg_index(const struct corpus *c, int64_t id)
{
	size_t lo = 0, hi = c->nseg;

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		if (c->seg[mid] < id)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < c->nseg && c->seg[lo] == id ? (long)lo : -1;
}

/* Target classes and the [nseg][nt] label matrix. */
int refine_load_targets(struct aed_db *db, const struct aed_refine_opts *o,
			const int64_t yam_ids[AED_YAMNET_CLASSES], struct corpus *c)
{
	sqlite3_stmt *st = NULL;
	int64_t *count = NULL, max_class = 0;
	size_t cap = 0;
	int rc, s;

	if ((rc = aed_db_int(db, "SELECT coalesce(max(id), 0) FROM class", &max_class)))
		return rc;
	if (!(count = calloc((size_t)max_class + 1, sizeof *count)))
		return aed_error(AED_ENOMEM, "out of memory");
	/* Every (segment, class-or-ancestor) pair, once. */
	if ((rc = aed_db_prepare(db, "SELECT DISTINCT l.segment_id, cc.ancestor_id FROM label l "
				 "JOIN class_closure cc ON cc.descendant_id = l.class_id "
				 "ORDER BY cc.ancestor_id", &st)))
		goto out;
	while ((s = sqlite3_step(st)) == SQLITE_ROW) {
		int64_t cl = sqlite3_column_int64(st, 1);
		if (seg_index(c, sqlite3_column_int64(st, 0)) >= 0 && cl >= 0 && cl <= max_class)
			count[cl]++;
	}
	sqlite3_finalize(st);
	st = NULL;
	if (s != SQLITE_DONE) {
		rc = aed_db_error(db, "reading labels");
		goto out;
	}
	int64_t want = 0;
	if (o->class_name && (rc = aed_class_resolve(db, o->class_name, &want)))
		goto out;
	/* --all: the trainable classes (those with a label index), or every
	 * class when no class_labels_indices.csv was ingested. */
	if ((rc = aed_db_prepare(db, "SELECT id, mid, name FROM class WHERE (?1 = 0 AND "
				 "(label_index IS NOT NULL OR NOT EXISTS (SELECT 1 FROM class WHERE "
				 "label_index IS NOT NULL))) OR id = ?1 ORDER BY label_index, id", &st)))
		goto out;
	sqlite3_bind_int64(st, 1, want);
	while ((s = sqlite3_step(st)) == SQLITE_ROW) {
		int64_t id = sqlite3_column_int64(st, 0);
		int yam = -1;
		for (int k = 0; yam_ids && k < AED_YAMNET_CLASSES; k++)
			if (yam_ids[k] == id)
				yam = k;
		if (!want && (count[id] < o->min_positives || count[id] == (int64_t)c->nseg ||
			      (o->scorer == AED_SCORER_YAMNET && yam < 0)))
			continue;
		if ((rc = grow((void **)&c->t, &cap, c->nt + 1, sizeof *c->t)))
			goto out;
		struct target *t = &c->t[c->nt++];
		memset(t, 0, sizeof *t);
		t->class_id = id;
		t->yam = yam;
		t->n_pos = count[id];
		snprintf(t->mid, sizeof t->mid, "%s", (const char *)sqlite3_column_text(st, 1));
		snprintf(t->name, sizeof t->name, "%s", (const char *)sqlite3_column_text(st, 2));
	}
	sqlite3_finalize(st);
	st = NULL;
	if (s != SQLITE_DONE) {
		rc = aed_db_error(db, "reading classes");
		goto out;
	}
	if (want) {
		struct target *t = &c->t[0];
		if (!c->nt) {
			rc = aed_error(AED_ENOTFOUND, "refine: class %s not found", o->class_name);
			goto out;
		}
		if (!t->n_pos) {
			rc = aed_error(AED_ESTATE, "refine: no embedded segment is labelled %s (%s)",
				       t->mid, t->name);
			goto out;
		}
		if (o->scorer == AED_SCORER_YAMNET && t->yam < 0) {
			rc = aed_error(AED_ESTATE, "refine: YAMNet has no output for %s (%s); use "
				       "--scorer trained", t->mid, t->name);
			goto out;
		}
		if (o->scorer == AED_SCORER_TRAINED && t->n_pos == (int64_t)c->nseg) {
			rc = aed_error(AED_ESTATE, "refine: every embedded segment is labelled %s: a "
				       "classifier needs negatives too", t->mid);
			goto out;
		}
	} else if (!c->nt) {
		rc = aed_error(AED_ESTATE, "refine --all: no class has %d or more labelled, embedded "
			       "segments%s", o->min_positives,
			       o->scorer == AED_SCORER_YAMNET ? " and a YAMNet output" : "");
		goto out;
	}
	/* The label matrix. */
	if (!(c->lab = calloc(c->nseg * c->nt, 1))) {
		rc = aed_error(AED_ENOMEM, "out of memory");
		goto out;
	}
	if ((rc = aed_db_prepare(db, "SELECT DISTINCT l.segment_id, cc.ancestor_id FROM label l "
				 "JOIN class_closure cc ON cc.descendant_id = l.class_id", &st)))
		goto out;
	while ((s = sqlite3_step(st)) == SQLITE_ROW) {
		long i = seg_index(c, sqlite3_column_int64(st, 0));
		int64_t cl = sqlite3_column_int64(st, 1);
		if (i < 0)
			continue;
		for (size_t k = 0; k < c->nt; k++)
			if (c->t[k].class_id == cl)
				c->lab[(size_t)i * c->nt + k] = 1;
	}
	if (s != SQLITE_DONE)
		rc = aed_db_error(db, "reading labels");
out:
	sqlite3_finalize(st);
	free(count);
	return rc;
}

/* Classifier inputs: the embedding, then YAMNet's 521 scores as log-odds.
 * The scores are a linear map of the embedding, but as inputs of their own
 * they let a heavily regularised classifier use what YAMNet already knows
 * about a class at little cost in weight norm. */
/* One classifier input row: the embedding, then (dim > the embedding's)
 * YAMNet's scores as log-odds, clamped to [1e-4, 1 - 1e-4]. */
void refine_input_row(float *row, int dim, const float *emb, const float *yam)
{
	memcpy(row, emb, AED_YAMNET_EMBED_DIM * sizeof *row);
	for (int k = 0; dim > AED_YAMNET_EMBED_DIM && k < AED_YAMNET_CLASSES; k++) {
		float v = yam[k];
		v = v < 1e-4f ? 1e-4f : v > 1 - 1e-4f ? 1 - 1e-4f : v;
		row[AED_YAMNET_EMBED_DIM + k] = logf(v / (1 - v));
	}
}

int refine_append_scores(struct corpus *c)
{
	int d = AED_YAMNET_EMBED_DIM + AED_YAMNET_CLASSES;
	float *x = malloc((c->npatch ? c->npatch : 1) * (size_t)d * sizeof *x);

	if (!x)
		return aed_error(AED_ENOMEM, "out of memory for %zu patches x %d inputs", c->npatch, d);
	for (size_t p = 0; p < c->npatch; p++)
		refine_input_row(x + p * d, d, c->emb + p * AED_YAMNET_EMBED_DIM,
			  c->yam + p * AED_YAMNET_CLASSES);
	free(c->emb);
	c->emb = x;
	c->dim = d;
	return AED_OK;
}

/* The prevalence check: for class L (a target with a YAMNet output), the
 * gain of YAMNet output k is its mean patch score over L's labelled segments
 * minus its mean over every patch of the corpus. The refinement assumes L is
 * the sound most over-represented in its own segments; a larger gain for an
 * unrelated class (not an ancestor of L, nor under one of L's parents) means
 * the clips labelled L are dominated by something else. */
/* Per segment, the sum of each YAMNet output over its patches:
 * [nseg][521], so each class's check costs its segments, not every patch. */
double *refine_segment_sums(const struct corpus *c)
{
	double *sum = calloc(c->nseg * AED_YAMNET_CLASSES + 1, sizeof *sum);

	for (size_t i = 0; sum && i < c->nseg; i++)
		for (size_t p = c->off[i]; p < c->off[i + 1]; p++)
			for (int j = 0; j < AED_YAMNET_CLASSES; j++)
				sum[i * AED_YAMNET_CLASSES + j] += c->yam[p * AED_YAMNET_CLASSES + j];
	return sum;
}

int refine_prevalence_check(struct aed_db *db, const struct corpus *c, const double *segsum,
			    size_t k, const int64_t yam_ids[AED_YAMNET_CLASSES],
			    struct aed_refine_class *rc_out)
{
	double *in = calloc(AED_YAMNET_CLASSES, sizeof *in), *all = calloc(AED_YAMNET_CLASSES,
									  sizeof *all);
	int64_t *rel = NULL;
	size_t nrel = 0, n_in = 0;
	int rc = AED_OK;

	if (!in || !all) {
		rc = aed_error(AED_ENOMEM, "out of memory");
		goto out;
	}
	for (size_t i = 0; i < c->nseg; i++) {
		const double *row = segsum + i * AED_YAMNET_CLASSES;
		int is_in = c->lab[i * c->nt + k];
		for (int j = 0; j < AED_YAMNET_CLASSES; j++) {
			all[j] += row[j];
			if (is_in)
				in[j] += row[j];
		}
		if (is_in)
			n_in += c->off[i + 1] - c->off[i];
	}
	if (!n_in || !c->npatch)
		goto out;
	/* Related classes: L's ancestors, and everything under L's parents (L's
	 * own subtree, its siblings: Bow-wow beside Bark is the same sound). */
	sqlite3_stmt *st = NULL;
	size_t cap = 0;
	int s;
	if ((rc = aed_db_prepare(db, "SELECT ancestor_id FROM class_closure WHERE descendant_id = ?1 "
				 "UNION SELECT cc.descendant_id FROM class_edge e JOIN class_closure cc "
				 "ON cc.ancestor_id = e.parent_id WHERE e.child_id = ?1 "
				 "UNION " AED_CLASS_SUBTREE_SQL, &st)))
		goto out;
	sqlite3_bind_int64(st, 1, c->t[k].class_id);
	while ((s = sqlite3_step(st)) == SQLITE_ROW) {
		if ((rc = grow((void **)&rel, &cap, nrel + 1, sizeof *rel))) {
			sqlite3_finalize(st);
			goto out;
		}
		rel[nrel++] = sqlite3_column_int64(st, 0);
	}
	sqlite3_finalize(st);
	if (s != SQLITE_DONE) {
		rc = aed_db_error(db, "reading related classes");
		goto out;
	}
	double best = -INFINITY;
	int best_j = -1;
	for (int j = 0; j < AED_YAMNET_CLASSES; j++) {
		double g = in[j] / (double)n_in - all[j] / (double)c->npatch;
		int related = 0;
		for (size_t r = 0; r < nrel; r++)
			related |= yam_ids[j] == rel[r];
		if (j == c->t[k].yam)
			rc_out->gain = g;
		else if (!related && g > best) {
			best = g;
			best_j = j;
		}
	}
	rc_out->gain_checked = 1;
	if (best_j >= 0 && best > rc_out->gain) {
		char *mid = NULL, *name = NULL;
		rc_out->warn = 1;
		if (yam_ids[best_j] >= 0 &&
		    !aed_class_mid_name(db, yam_ids[best_j], &mid, &name)) {
			snprintf(rc_out->top_mid, sizeof rc_out->top_mid, "%s", mid);
			snprintf(rc_out->top_name, sizeof rc_out->top_name, "%s", name);
		}
		free(mid);
		free(name);
	} else {
		snprintf(rc_out->top_mid, sizeof rc_out->top_mid, "%s", c->t[k].mid);
		snprintf(rc_out->top_name, sizeof rc_out->top_name, "%s", c->t[k].name);
	}
out:
	free(in);
	free(all);
	free(rel);
	return rc;
}
