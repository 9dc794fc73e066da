/* refine.c - weak-label refinement: frame scores P(L|x_i) per patch (YAMNet's
 * own output for L, or a classifier trained on the corpus's patch embeddings
 * with every patch given its clip's labels), max-normalised and thresholded
 * into kept masks; SeCoST's cascade of classifiers with blended targets; and
 * the evaluation of stored masks against strong labels (`eval refine`). */
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "aedcurate/audio.h"
#include "aedcurate/error.h"
#include "aedcurate/nn.h"
#include "aedcurate/ontology.h"
#include "aedcurate/refine.h"
#include "aedcurate/store.h"
#include "aedcurate/util.h"

#define HOP_MS 480

/* --- rules --------------------------------------------------------------------- */

int aed_refine_method_parse(const char *s, enum aed_refine_method *out)
{
	if (!strcmp(s, "maxnorm"))
		*out = AED_REFINE_MAXNORM;
	else if (!strcmp(s, "hysteresis"))
		*out = AED_REFINE_HYSTERESIS;
	else if (!strcmp(s, "consensus"))
		*out = AED_REFINE_CONSENSUS;
	else
		return aed_error(AED_EUSAGE, "unknown refinement method '%s' (maxnorm, hysteresis, "
				 "consensus)", s);
	return AED_OK;
}

const char *aed_refine_method_name(enum aed_refine_method m)
{
	return m == AED_REFINE_MAXNORM ? "maxnorm" : m == AED_REFINE_HYSTERESIS ? "hysteresis" :
	       "consensus";
}

size_t aed_refine_mask(const float *scores, size_t n, enum aed_refine_method m,
		       double high, double low, uint8_t *mask)
{
	float mx = 0;
	size_t kept = 0;

	memset(mask, 0, n);
	for (size_t i = 0; i < n; i++)
		if (scores[i] > mx)
			mx = scores[i];
	if (!(mx > 0))
		return 0;
	for (size_t i = 0; i < n; i++)
		mask[i] = scores[i] / mx >= high;
	if (m != AED_REFINE_MAXNORM) {
		/* Grow each kept run both ways through patches with n_i >= low:
		 * forward then backward passes reach every connected patch. */
		for (size_t i = 1; i < n; i++)
			if (!mask[i] && mask[i - 1] && scores[i] / mx >= low)
				mask[i] = 1;
		for (size_t i = n - 1; i-- > 0;)
			if (!mask[i] && mask[i + 1] && scores[i] / mx >= low)
				mask[i] = 1;
	}
	for (size_t i = 0; i < n; i++)
		kept += mask[i];
	return kept;
}

static long floor_div(long a, long b)
{
	return a >= 0 ? a / b : -((-a + b - 1) / b);
}

size_t aed_consensus_frames(const uint8_t *kept, size_t n_patches, int hop, int len,
			    double share, uint8_t *frames, size_t n_frames)
{
	size_t n_kept = 0;

	for (size_t f = 0; f < n_frames; f++) {
		/* Patch positions j (of any sign) with j*hop <= f < j*hop + len;
		 * those before the clip or past its last patch count as not
		 * kept, so the clip's edges need as many agreeing patches as
		 * its middle. */
		long hi = floor_div((long)f, hop), lo = floor_div((long)f - len, hop) + 1;
		size_t yes = 0;
		for (long j = lo > 0 ? lo : 0; j <= hi && j < (long)n_patches; j++)
			yes += kept[j] != 0;
		frames[f] = hi >= lo && (double)yes >= share * (double)(hi - lo + 1) - 1e-9;
	}
	for (size_t f = 0; f < n_frames; f++)
		n_kept += frames[f];
	return n_kept;
}

static int cmp_float(const void *a, const void *b)
{
	float x = *(const float *)a, y = *(const float *)b;
	return (x > y) - (x < y);
}

/* The median of the n levels where frames[f] == keep (NULL: all n); buf
 * has room for n. */
static double median_level(const float *level, size_t n, const uint8_t *frames, int keep,
			   float *buf)
{
	size_t m = 0;
	for (size_t f = 0; f < n; f++)
		if (!frames || (frames[f] != 0) == keep)
			buf[m++] = level[f];
	if (m == 0)
		return 0;
	qsort(buf, m, sizeof *buf, cmp_float);
	return m % 2 ? buf[m / 2] : 0.5 * ((double)buf[m / 2 - 1] + buf[m / 2]);
}

size_t aed_energy_gate(const float *level, size_t n, uint8_t *frames, double margin_db,
		       double peak_db, int max_gap)
{
	size_t outside = 0, kept = 0;
	float *buf;
	double bg;

	for (size_t f = 0; f < n; f++)
		outside += !frames[f];
	if (outside == n || !(buf = malloc(n * sizeof *buf))) {
		/* Nothing kept, or no memory for the median: the mask stays. */
		for (size_t f = 0; f < n; f++)
			kept += frames[f];
		return kept;
	}
	bg = outside >= AED_GATE_MIN_BACKGROUND ? median_level(level, n, frames, 0, buf) :
						  median_level(level, n, NULL, 0, buf);
	free(buf);
	for (size_t a = 0; a < n;) {
		size_t b = a, last = SIZE_MAX;
		if (!frames[a]) {
			a++;
			continue;
		}
		while (b < n && frames[b])
			b++;
		/* Run [a, b): keep its loud frames and the short gaps between. */
		double floor_db = bg + margin_db;
		if (peak_db > 0) {
			float peak = level[a];
			for (size_t f = a + 1; f < b; f++)
				peak = level[f] > peak ? level[f] : peak;
			if ((double)peak - peak_db > floor_db)
				floor_db = (double)peak - peak_db;
		}
		for (size_t f = a; f < b; f++) {
			int loud = (double)level[f] >= floor_db;
			if (!loud)
				continue;
			if (last != SIZE_MAX && f - last - 1 < (size_t)max_gap)
				for (size_t g = last + 1; g < f; g++)
					frames[g] = 2;
			frames[f] = 2;
			last = f;
		}
		for (size_t f = a; f < b; f++)
			frames[f] = last == SIZE_MAX ? 1 : frames[f] == 2;
		a = b;
	}
	for (size_t f = 0; f < n; f++)
		kept += frames[f];
	return kept;
}

size_t aed_fine_patch_count(size_t frames, int hop)
{
	if (frames == 0)
		return 0;
	if (frames <= AED_PATCH_FRAMES)
		return 1;
	return 1 + (frames - AED_PATCH_FRAMES + (size_t)hop - 1) / (size_t)hop;
}

/* --- the corpus in memory ---------------------------------------------------- */

struct target {
	int64_t class_id;
	int yam;                /* YAMNet output index, -1 if none */
	char mid[64], name[128];
	int64_t n_pos;          /* labelled segments in the corpus */
};

struct corpus {
	int64_t *seg;           /* segment ids, ascending */
	size_t nseg;
	size_t *off;            /* [nseg + 1] first patch of each segment */
	size_t npatch;
	float *emb;             /* [npatch][dim] classifier inputs, or NULL */
	int dim;                /* 1024, or 1024 + 521 with YAMNet's log-odds */
	float *yam;             /* [npatch][521] YAMNet scores, or NULL */
	struct target *t;       /* target classes */
	size_t nt;
	uint8_t *lab;           /* [nseg][nt] clip labels through the closure */
	double heldout_frac;    /* share of segments each classifier holds out */
	float *score;           /* [npatch][nt] frame scores P(L|x_i) */
	struct aed_clf *model[AED_REFINE_MAX_ENSEMBLE]; /* the last ensemble trained */
	int n_model;
	uint8_t **fine;         /* consensus: [nseg][nt] 10 ms frame masks of
				 * labelled pairs, else NULL */
	size_t *n_fine;         /* [nseg][nt] their frame counts */
	uint8_t **fine_patch;   /* [nseg][nt] the patch masks they give */
};

static void fine_free(struct corpus *c)
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

static void corpus_release(struct corpus *c)
{
	free(c->seg);
	free(c->off);
	free(c->emb);
	free(c->yam);
	free(c->t);
	free(c->lab);
	free(c->score);
	for (int e = 0; e < c->n_model; e++)
		aed_clf_free(&c->model[e]);
	fine_free(c);
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
static int load_segments(struct aed_db *db, const char *split, struct corpus *c)
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
static int load_arrays(struct aed_db *db, struct corpus *c, int need_emb, int need_yam)
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
static int load_targets(struct aed_db *db, const struct aed_refine_opts *o,
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
static void input_row(float *row, int dim, const float *emb, const float *yam)
{
	memcpy(row, emb, AED_YAMNET_EMBED_DIM * sizeof *row);
	for (int k = 0; dim > AED_YAMNET_EMBED_DIM && k < AED_YAMNET_CLASSES; k++) {
		float v = yam[k];
		v = v < 1e-4f ? 1e-4f : v > 1 - 1e-4f ? 1 - 1e-4f : v;
		row[AED_YAMNET_EMBED_DIM + k] = logf(v / (1 - v));
	}
}

static int append_scores(struct corpus *c)
{
	int d = AED_YAMNET_EMBED_DIM + AED_YAMNET_CLASSES;
	float *x = malloc((c->npatch ? c->npatch : 1) * (size_t)d * sizeof *x);

	if (!x)
		return aed_error(AED_ENOMEM, "out of memory for %zu patches x %d inputs", c->npatch, d);
	for (size_t p = 0; p < c->npatch; p++)
		input_row(x + p * d, d, c->emb + p * AED_YAMNET_EMBED_DIM,
			  c->yam + p * AED_YAMNET_CLASSES);
	free(c->emb);
	c->emb = x;
	c->dim = d;
	return AED_OK;
}

/* Held-out patches of ensemble member e, [npatch]: whole segments, chosen by
 * a fixed hash of the segment id and e, so reruns agree and members hold out
 * different segments. */
static void choose_heldout(const struct corpus *c, int member, uint8_t *ho)
{
	for (size_t i = 0; i < c->nseg; i++) {
		uint64_t z = (uint64_t)c->seg[i] * 0x9e3779b97f4a7c15ull +
			     (uint64_t)member * 0xd1b54a32d192ed03ull;
		z = (z ^ (z >> 31)) * 0xbf58476d1ce4e5b9ull;
		z ^= z >> 29;
		memset(ho + c->off[i], (double)(z % 10000) < c->heldout_frac * 10000,
		       c->off[i + 1] - c->off[i]);
	}
}

/* Frame scores from YAMNet's own outputs. */
static void yamnet_scores(struct corpus *c)
{
	for (size_t p = 0; p < c->npatch; p++)
		for (size_t k = 0; k < c->nt; k++)
			c->score[p * c->nt + k] = c->yam[p * AED_YAMNET_CLASSES + c->t[k].yam];
}

/* The ensemble's probabilities for n input rows x: the mean of its
 * members'. tmp has room for n * nt floats. */
static int ensemble_predict(const struct corpus *c, const float *x, size_t n, float *p,
			    float *tmp)
{
	int rc = AED_OK;
	size_t m = n * c->nt;

	for (int e = 0; e < c->n_model && !rc; e++) {
		rc = aed_clf_predict(c->model[e], x, n, e ? tmp : p);
		for (size_t v = 0; e && !rc && v < m; v++)
			p[v] += tmp[v];
	}
	for (size_t v = 0; c->n_model > 1 && v < m; v++)
		p[v] /= (float)c->n_model;
	return rc;
}

/* Train an ensemble of o->ensemble classifiers on targets y [npatch][nt],
 * member e with its own held-out segments and seed, and score every patch
 * with their mean into c->score. rep: member 0's report. */
static int train_predict(struct corpus *c, const float *y, const float *pos_w,
			 const struct aed_refine_opts *o, struct aed_clf_report *rep)
{
	int k = o->ensemble > 0 ? o->ensemble : 1, rc = AED_OK;
	uint8_t *ho = malloc(c->npatch ? c->npatch : 1);
	float *tmp = k > 1 ? malloc((c->npatch ? c->npatch : 1) * c->nt * sizeof *tmp) : NULL;

	for (int e = 0; e < c->n_model; e++)
		aed_clf_free(&c->model[e]);
	c->n_model = 0;
	if (!ho || (k > 1 && !tmp)) {
		free(ho);
		free(tmp);
		return aed_error(AED_ENOMEM, "out of memory");
	}
	for (int e = 0; e < k && !rc; e++) {
		struct aed_clf_opts co = o->clf;
		struct aed_clf_report r1;
		choose_heldout(c, e, ho);
		co.seed = (o->clf.seed ? o->clf.seed : 1) + (uint64_t)e;
		rc = aed_clf_train(c->emb, c->npatch, c->dim, y, (int)c->nt, pos_w, ho, &co,
				   &c->model[e], &r1);
		if (!rc)
			c->n_model = e + 1;
		if (!rc && e == 0)
			*rep = r1;
	}
	if (!rc)
		rc = ensemble_predict(c, c->emb, c->npatch, c->score, tmp);
	free(ho);
	free(tmp);
	return rc;
}

/* The prevalence check: for class L (a target with a YAMNet output), the
 * gain of YAMNet output k is its mean patch score over L's labelled segments
 * minus its mean over every patch of the corpus. The refinement assumes L is
 * the sound most over-represented in its own segments; a larger gain for an
 * unrelated class (not an ancestor of L, nor under one of L's parents) means
 * the clips labelled L are dominated by something else. */
/* Per segment, the sum of each YAMNet output over its patches:
 * [nseg][521], so each class's check costs its segments, not every patch. */
static double *segment_sums(const struct corpus *c)
{
	double *sum = calloc(c->nseg * AED_YAMNET_CLASSES + 1, sizeof *sum);

	for (size_t i = 0; sum && i < c->nseg; i++)
		for (size_t p = c->off[i]; p < c->off[i + 1]; p++)
			for (int j = 0; j < AED_YAMNET_CLASSES; j++)
				sum[i * AED_YAMNET_CLASSES + j] += c->yam[p * AED_YAMNET_CLASSES + j];
	return sum;
}

static int prevalence_check(struct aed_db *db, const struct corpus *c, const double *segsum,
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

/* --- consensus: refinement finer than a patch ----------------------------------- */

#define FINE_BATCH 32

/* For every labelled (segment, class) pair: fine patches every o->hop_frames
 * log-mel frames through YAMNet (and the classifier, with the inputs it was
 * trained on), kept by hysteresis on their max-normalised scores, then the
 * frames the kept ones agree on, and the patch mask those frames give. */
static int fine_pass(struct aed_db *db, const struct aed_refine_opts *o, struct corpus *c)
{
	const struct aed_nn_backend_ops *be = aed_nn_backend(NULL);
	struct aed_yamnet_runner rn = { 0 };
	struct aed_yamnet *ym = NULL;
	char *path = NULL;
	float *patches = NULL, *emb = NULL, *ysc = NULL, *x = NULL, *p = NULL, *col = NULL;
	float *ptmp = NULL;
	float *level = NULL;
	uint8_t *kept = NULL;
	double *a = NULL, *b = NULL;
	size_t cap = 0;
	int rc, hop = o->hop_frames;

	c->fine = calloc(c->nseg * c->nt + 1, sizeof *c->fine);
	c->fine_patch = calloc(c->nseg * c->nt + 1, sizeof *c->fine_patch);
	c->n_fine = calloc(c->nseg * c->nt + 1, sizeof *c->n_fine);
	if (!c->fine || !c->fine_patch || !c->n_fine)
		return aed_error(AED_ENOMEM, "out of memory");
	if (!be)
		return aed_error(AED_EINTERNAL, "refine --method consensus: no compute backend");
	if ((rc = aed_yamnet_find_model(o->model_path, &path)) || (rc = aed_yamnet_load(path, &ym)) ||
	    (rc = aed_yamnet_runner_init(&rn, ym, be, FINE_BATCH, 0)))
		goto out;
	for (size_t i = 0; i < c->nseg; i++) {
		struct aed_array lm = { 0 };
		size_t frames, nf, np = c->off[i + 1] - c->off[i];
		int any = 0;
		for (size_t k = 0; k < c->nt; k++)
			any |= c->lab[i * c->nt + k];
		if (!any)
			continue;
		if ((rc = aed_array_get(db, "logmel_yamnet", c->seg[i], &lm))) {
			if (rc == AED_ENOTFOUND)
				rc = aed_error(rc, "refine --method consensus: segment %lld has no "
					       "log-mel array (run `aedcurate features`)",
					       (long long)c->seg[i]);
			goto out;
		}
		if (lm.dtype != AED_F32 || lm.dims[1] != AED_MEL_BANDS) {
			aed_array_release(&lm);
			rc = aed_error(AED_EFORMAT, "segment %lld: logmel_yamnet is not f32 [n, %d]",
				       (long long)c->seg[i], AED_MEL_BANDS);
			goto out;
		}
		frames = (size_t)lm.dims[0];
		nf = aed_fine_patch_count(frames, hop);
		if (nf > cap) {
			float *q;
			cap = nf;
#define REGROW(ptr, n) ((q = realloc(ptr, (n) * sizeof *q)) ? ((ptr) = q, 1) : 0)
			if (!REGROW(patches, nf * AED_YAMNET_PATCH_FLOATS) ||
			    !REGROW(emb, nf * AED_YAMNET_EMBED_DIM) ||
			    !REGROW(ysc, nf * AED_YAMNET_CLASSES) ||
			    !REGROW(x, nf * (size_t)c->dim) || !REGROW(p, nf * c->nt) ||
			    !REGROW(ptmp, nf * c->nt) ||
			    !REGROW(col, nf) || !(kept = realloc(kept, nf))) {
#undef REGROW
				aed_array_release(&lm);
				rc = aed_error(AED_ENOMEM, "out of memory for %zu fine patches", nf);
				goto out;
			}
		}
		aed_yamnet_cut_patches(lm.data, frames, hop, nf, patches);
		if (o->gate) {
			float *q = realloc(level, (frames ? frames : 1) * sizeof *q);
			if (!q) {
				aed_array_release(&lm);
				rc = aed_error(AED_ENOMEM, "out of memory");
				goto out;
			}
			level = q;
			/* Frame levels for the energy gate: the log-mel holds
			 * log(mel + offset), so exp() gives the mel magnitudes. */
			for (size_t f = 0; f < frames; f++) {
				const float *row = (const float *)lm.data + f * AED_MEL_BANDS;
				double sum = 0;
				for (int m = 0; m < AED_MEL_BANDS; m++)
					sum += exp((double)row[m]);
				level[f] = (float)(10.0 * log10(sum));
			}
		}
		aed_array_release(&lm);
		if ((rc = aed_yamnet_runner_run(&rn, patches, nf, emb, ysc)))
			goto out;
		if (c->n_model) {
			for (size_t j = 0; j < nf; j++)
				input_row(x + j * (size_t)c->dim, c->dim, emb + j * AED_YAMNET_EMBED_DIM,
					  ysc + j * AED_YAMNET_CLASSES);
			if ((rc = ensemble_predict(c, x, nf, p, ptmp)))
				goto out;
		}
		for (size_t k = 0; k < c->nt; k++) {
			size_t at = i * c->nt + k, ni = 0, run = 0;
			if (!c->lab[at])
				continue;
			for (size_t j = 0; j < nf; j++)
				col[j] = c->n_model ? p[j * c->nt + k] :
					 c->t[k].yam >= 0 ? ysc[j * AED_YAMNET_CLASSES + c->t[k].yam] : 0;
			aed_refine_mask(col, nf, AED_REFINE_HYSTERESIS, o->threshold, o->low, kept);
			c->fine[at] = malloc(frames ? frames : 1);
			c->fine_patch[at] = calloc(np ? np : 1, 1);
			a = realloc(a, (frames / 2 + 1) * sizeof *a);
			b = realloc(b, (frames / 2 + 1) * sizeof *b);
			if (!c->fine[at] || !c->fine_patch[at] || !a || !b) {
				rc = aed_error(AED_ENOMEM, "out of memory");
				goto out;
			}
			c->n_fine[at] = frames;
			aed_consensus_frames(kept, nf, hop, AED_PATCH_FRAMES, o->consensus, c->fine[at],
					     frames);
			if (o->gate)
				aed_energy_gate(level, frames, c->fine[at], o->gate_db, o->gate_peak,
						o->gate_gap);
			/* Runs of kept frames as intervals, then patches by the
			 * half-overlap rule. */
			for (size_t f = 0; f <= frames; f++) {
				int on = f < frames && c->fine[at][f];
				if (on && !run++)
					a[ni] = (double)f * 0.01;
				if (!on && run) {
					b[ni++] = (double)f * 0.01;
					run = 0;
				}
			}
			aed_intervals_to_patches(a, b, ni, AED_PATCH_HOP_S, AED_PATCH_LEN_S,
						 c->fine_patch[at], np);
		}
	}
out:
	aed_yamnet_runner_release(&rn);
	aed_yamnet_free(&ym);
	free(path);
	free(patches);
	free(emb);
	free(ysc);
	free(x);
	free(p);
	free(col);
	free(ptmp);
	free(level);
	free(kept);
	free(a);
	free(b);
	return rc;
}

/* --- storing ------------------------------------------------------------------- */

static int store_fine(struct aed_db *db, sqlite3_stmt *ff, const struct aed_refine_opts *o,
		      const struct corpus *c, int64_t run_id, size_t i, size_t k)
{
	size_t at = i * c->nt + k, n = c->n_fine[at], kept = 0;

	for (size_t f = 0; f < n; f++)
		kept += c->fine[at][f];
	sqlite3_bind_int64(ff, 1, c->seg[i]);
	sqlite3_bind_int64(ff, 2, c->t[k].class_id);
	sqlite3_bind_text(ff, 3, aed_refine_method_name(AED_REFINE_CONSENSUS), -1, SQLITE_STATIC);
	sqlite3_bind_int64(ff, 4, run_id);
	sqlite3_bind_text(ff, 5, aed_scorer_name(o->scorer), -1, SQLITE_STATIC);
	sqlite3_bind_int(ff, 6, o->hop_frames);
	sqlite3_bind_int64(ff, 7, (int64_t)n);
	sqlite3_bind_int64(ff, 8, (int64_t)kept);
	sqlite3_bind_blob(ff, 9, c->fine[at], (int)n, SQLITE_STATIC);
	int s = sqlite3_step(ff);
	sqlite3_reset(ff);
	return s == SQLITE_DONE ? AED_OK : aed_db_error(db, "storing fine frame masks");
}

static int store_results(struct aed_db *db, const struct aed_refine_opts *o, struct corpus *c,
			 struct aed_refine_result *r, const float *y_final, double alpha_final)
{
	sqlite3_stmt *fs = NULL, *fm = NULL, *rcs = NULL, *sl = NULL, *ff = NULL;
	uint8_t *mask = malloc(4096), *base = malloc(4096);
	float *col = malloc(4096 * sizeof *col);
	const char *scorer = aed_scorer_name(o->scorer);
	int rc;

	if (!mask || !base || !col) {
		rc = aed_error(AED_ENOMEM, "out of memory");
		goto out;
	}
	if ((rc = aed_db_begin(db)))
		goto out;
	if ((rc = aed_db_prepare(db, "INSERT OR REPLACE INTO frame_score(segment_id, class_id, "
				 "scorer, run_id, n_patches, hop_ms, scores) VALUES (?1, ?2, ?3, "
				 "?4, ?5, ?6, ?7)", &fs)) ||
	    (rc = aed_db_prepare(db, "INSERT OR REPLACE INTO frame_mask(segment_id, class_id, "
				 "method, run_id, scorer, n_patches, hop_ms, n_kept, mask) VALUES "
				 "(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)", &fm)) ||
	    (rc = aed_db_prepare(db, "INSERT OR REPLACE INTO refine_class(run_id, class_id, method, "
				 "scorer, n_segments, n_patches, n_kept, n_kept_maxnorm, gain, "
				 "top_class_id, warning) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, "
				 "(SELECT id FROM class WHERE mid = ?10), ?11)", &rcs)) ||
	    (rc = aed_db_prepare(db, "INSERT OR REPLACE INTO frame_mask_fine(segment_id, class_id, "
				 "method, run_id, scorer, frame_ms, hop_frames, n_frames, n_kept, mask) "
				 "VALUES (?1, ?2, ?3, ?4, ?5, 10, ?6, ?7, ?8, ?9)", &ff)) ||
	    (rc = aed_db_prepare(db, "INSERT OR REPLACE INTO soft_label(segment_id, class_id, "
				 "run_id, stages, target, prediction) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
				 &sl)))
		goto fail;
	for (size_t k = 0; k < c->nt; k++) {
		struct aed_refine_class *rcl = &r->classes[k];
		/* Rows of an earlier run (another method, other segments) would be
		 * mistaken for this run's. */
		char del[256];
		snprintf(del, sizeof del, "DELETE FROM frame_mask WHERE class_id = %lld; "
			 "DELETE FROM frame_mask_fine WHERE class_id = %lld; "
			 "DELETE FROM frame_score WHERE class_id = %lld AND scorer = '%s'",
			 (long long)c->t[k].class_id, (long long)c->t[k].class_id,
			 (long long)c->t[k].class_id, scorer);
		if ((rc = aed_db_exec(db, del)))
			goto fail;
		for (size_t i = 0; i < c->nseg; i++) {
			size_t np = c->off[i + 1] - c->off[i];
			int labelled = c->lab[i * c->nt + k];
			if (np > 4096) {
				rc = aed_error(AED_EFORMAT, "segment %lld: %zu patches (over 4096)",
					       (long long)c->seg[i], np);
				goto fail;
			}
			for (size_t p = 0; p < np; p++)
				col[p] = c->score[(c->off[i] + p) * c->nt + k];
			if (!labelled && o->scorer == AED_SCORER_YAMNET)
				continue;
			sqlite3_bind_int64(fs, 1, c->seg[i]);
			sqlite3_bind_int64(fs, 2, c->t[k].class_id);
			sqlite3_bind_text(fs, 3, scorer, -1, SQLITE_STATIC);
			sqlite3_bind_int64(fs, 4, r->run_id);
			sqlite3_bind_int64(fs, 5, (int64_t)np);
			sqlite3_bind_int(fs, 6, HOP_MS);
			sqlite3_bind_blob(fs, 7, col, (int)(np * sizeof *col), SQLITE_STATIC);
			if (sqlite3_step(fs) != SQLITE_DONE) {
				rc = aed_db_error(db, "storing frame scores");
				goto fail;
			}
			sqlite3_reset(fs);
			if (y_final) {
				float pmax = 0;
				for (size_t p = 0; p < np; p++)
					pmax = col[p] > pmax ? col[p] : pmax;
				sqlite3_bind_int64(sl, 1, c->seg[i]);
				sqlite3_bind_int64(sl, 2, c->t[k].class_id);
				sqlite3_bind_int64(sl, 3, r->run_id);
				sqlite3_bind_int(sl, 4, r->stages);
				sqlite3_bind_double(sl, 5, alpha_final * labelled + (1 - alpha_final) * pmax);
				sqlite3_bind_double(sl, 6, pmax);
				if (sqlite3_step(sl) != SQLITE_DONE) {
					rc = aed_db_error(db, "storing soft labels");
					goto fail;
				}
				sqlite3_reset(sl);
			}
			if (!labelled)
				continue;
			rcl->n_segments++;
			rcl->n_patches += (int64_t)np;
			/* The plain rule, and the chosen method when it differs. */
			for (int pass = 0; pass < 2; pass++) {
				enum aed_refine_method m = pass ? o->method : AED_REFINE_MAXNORM;
				if (pass && m == AED_REFINE_MAXNORM)
					break;
				size_t kept = 0;
				if (m == AED_REFINE_CONSENSUS) {
					const uint8_t *fp = c->fine_patch[i * c->nt + k];
					for (size_t q = 0; q < np; q++)
						kept += (mask[q] = fp[q]);
					if ((rc = store_fine(db, ff, o, c, r->run_id, i, k)))
						goto fail;
				} else {
					kept = aed_refine_mask(col, np, m, o->threshold, o->low,
							       pass ? mask : base);
				}
				if (pass)
					rcl->n_kept += (int64_t)kept;
				else
					rcl->n_kept_maxnorm += (int64_t)kept;
				sqlite3_bind_int64(fm, 1, c->seg[i]);
				sqlite3_bind_int64(fm, 2, c->t[k].class_id);
				sqlite3_bind_text(fm, 3, aed_refine_method_name(m), -1, SQLITE_STATIC);
				sqlite3_bind_int64(fm, 4, r->run_id);
				sqlite3_bind_text(fm, 5, scorer, -1, SQLITE_STATIC);
				sqlite3_bind_int64(fm, 6, (int64_t)np);
				sqlite3_bind_int(fm, 7, HOP_MS);
				sqlite3_bind_int64(fm, 8, (int64_t)kept);
				sqlite3_bind_blob(fm, 9, pass ? mask : base, (int)np, SQLITE_STATIC);
				if (sqlite3_step(fm) != SQLITE_DONE) {
					rc = aed_db_error(db, "storing frame masks");
					goto fail;
				}
				sqlite3_reset(fm);
			}
		}
		if (o->method == AED_REFINE_MAXNORM)
			rcl->n_kept = rcl->n_kept_maxnorm;
		char warning[512] = "";
		if (rcl->warn)
			snprintf(warning, sizeof warning, "%s (%s) gains more than %s in the segments "
				 "labelled %s: it may be the most prevalent sound there",
				 rcl->top_mid, rcl->top_name, rcl->mid, rcl->mid);
		sqlite3_bind_int64(rcs, 1, r->run_id);
		sqlite3_bind_int64(rcs, 2, rcl->class_id);
		sqlite3_bind_text(rcs, 3, aed_refine_method_name(o->method), -1, SQLITE_STATIC);
		sqlite3_bind_text(rcs, 4, scorer, -1, SQLITE_STATIC);
		sqlite3_bind_int64(rcs, 5, rcl->n_segments);
		sqlite3_bind_int64(rcs, 6, rcl->n_patches);
		sqlite3_bind_int64(rcs, 7, rcl->n_kept);
		sqlite3_bind_int64(rcs, 8, rcl->n_kept_maxnorm);
		if (rcl->gain_checked)
			sqlite3_bind_double(rcs, 9, rcl->gain);
		else
			sqlite3_bind_null(rcs, 9);
		sqlite3_bind_text(rcs, 10, rcl->top_mid, -1, SQLITE_STATIC);
		if (*warning)
			sqlite3_bind_text(rcs, 11, warning, -1, SQLITE_TRANSIENT);
		else
			sqlite3_bind_null(rcs, 11);
		if (sqlite3_step(rcs) != SQLITE_DONE) {
			rc = aed_db_error(db, "storing the refinement summary");
			goto fail;
		}
		sqlite3_reset(rcs);
	}
	sqlite3_finalize(fs);
	sqlite3_finalize(fm);
	sqlite3_finalize(rcs);
	sqlite3_finalize(sl);
	sqlite3_finalize(ff);
	fs = fm = rcs = sl = ff = NULL;
	rc = aed_db_commit(db);
	goto out;
fail:
	aed_db_rollback(db);
out:
	sqlite3_finalize(fs);
	sqlite3_finalize(fm);
	sqlite3_finalize(rcs);
	sqlite3_finalize(sl);
	sqlite3_finalize(ff);
	free(mask);
	free(base);
	free(col);
	return rc;
}

/* --- the stage ------------------------------------------------------------------ */

static char *params_json(const struct aed_refine_opts *o)
{
	json_t *a = json_array();
	for (int i = 0; i < o->n_alphas; i++)
		json_array_append_new(a, json_real(o->alphas[i]));
	json_t *j = json_pack("{s:s?, s:b, s:s?, s:s, s:s, s:f, s:f, s:f, s:f, s:i, s:i, s:i, "
			      "s:i, s:f, s:b, s:b, s:f, s:f, s:i, s:i, s:f, s:b, s:f, s:f, s:i, "
			      "s:i, s:I, s:i, s:o}",
			      "class", o->class_name, "all", o->all, "split", o->split,
			      "scorer", aed_scorer_name(o->scorer), "method",
			      aed_refine_method_name(o->method), "threshold", o->threshold, "low",
			      o->low, "beta", o->beta, "heldout", o->heldout, "hidden", o->clf.hidden,
			      "secost_stages", o->secost_stages, "min_positives", o->min_positives,
			      "iterations", o->iterations, "relabel", o->relabel, "drop", o->drop,
			      "with_scores", o->with_scores, "lr", o->clf.lr,
			      "l2", o->clf.l2, "epochs", o->clf.max_epochs,
			      "hop_frames", o->hop_frames, "consensus", o->consensus,
			      "gate", o->gate, "gate_db", o->gate_db, "gate_peak", o->gate_peak,
			      "gate_gap", o->gate_gap, "ensemble", o->ensemble,
			      "seed", (json_int_t)(o->clf.seed ? o->clf.seed : 1),
			      "fine_rounds", o->fine_rounds,
			      "alphas", a);
	char *s = j ? json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
	json_decref(j);
	return s;
}

int aed_refine(struct aed_db *db, const struct aed_refine_opts *opts, struct aed_refine_result *r)
{
	struct aed_refine_opts o = *opts;
	struct corpus c = { 0 };
	int64_t yam_ids[AED_YAMNET_CLASSES];
	float *y = NULL, *pos_w = NULL;
	double *prior = NULL, *wt = NULL, alpha_final = 1;
	int rc, have_map = 0, run_open = 0;
	char *ptext = NULL;

	memset(r, 0, sizeof *r);
	if (!o.class_name == !o.all)
		return aed_error(AED_EUSAGE, "refine: give --class NAME|MID or --all");
	if (o.threshold <= 0)
		o.threshold = 0.66;
	if (o.low <= 0)
		o.low = 0.4;
	/* Measured on the mixture test set (tests/cli/t1100-refine-mixtures.sh):
	 * a strong L2 penalty keeps the classifier from memorising the
	 * backgrounds of the few labelled clips. */
	if (o.clf.lr <= 0)
		o.clf.lr = 1e-2;
	if (o.clf.l2 <= 0)
		o.clf.l2 = 0.2;
	if (o.heldout <= 0)
		o.heldout = 0.2;
	if (o.min_positives <= 0)
		o.min_positives = 5;
	if (o.iterations <= 0)
		o.iterations = 6;
	if (o.relabel <= 0)
		o.relabel = 0.6;
	if (o.hop_frames <= 0)
		o.hop_frames = 12;
	if (o.consensus <= 0)
		o.consensus = 0.625;
	if (o.hop_frames > AED_PATCH_FRAMES / 2 /* 48 */ || o.consensus > 1 || o.fine_rounds < 0 ||
	    o.fine_rounds > 20 || o.gate_gap < 0)
		return aed_error(AED_EUSAGE, "refine: need 1 <= --hop-frames (%d) <= 48, 0 < "
				 "--consensus (%g) <= 1, --fine-rounds (%d) <= 20 and a gate gap "
				 "(%d frames) >= 0", o.hop_frames, o.consensus, o.fine_rounds,
				 o.gate_gap);
	if (o.threshold > 1 || o.low > o.threshold || o.heldout >= 1 || o.beta < 0)
		return aed_error(AED_EUSAGE, "refine: need 0 < low (%g) <= threshold (%g) <= 1, "
				 "0 < heldout (%g) < 1, beta (%g) >= 0", o.low, o.threshold,
				 o.heldout, o.beta);
	if (o.relabel > 1 || o.iterations > 50)
		return aed_error(AED_EUSAGE, "refine: need --relabel <= 1 and --iterations <= 50");
	if (o.secost_stages < 0 || o.secost_stages > 20)
		return aed_error(AED_EUSAGE, "refine: --stages must be 1..20");
	if (o.secost_stages && o.scorer != AED_SCORER_TRAINED)
		return aed_error(AED_EUSAGE, "refine --secost trains classifiers: use --scorer trained");
	for (int i = 0; i < o.n_alphas; i++)
		if (!(o.alphas[i] >= 0 && o.alphas[i] <= 1))
			return aed_error(AED_EUSAGE, "refine: alpha %g is not in [0, 1]", o.alphas[i]);
	if ((rc = load_segments(db, o.split, &c)))
		goto out;
	if (!c.nseg) {
		rc = aed_error(AED_ESTATE, "refine: no segment%s%s%s has embeddings (run `aedcurate "
			       "embed` first)", o.split ? " of split '" : "", o.split ? o.split : "",
			       o.split ? "'" : "");
		goto out;
	}
	rc = aed_yamnet_output_classes(db, NULL, yam_ids);
	if (rc && o.scorer == AED_SCORER_YAMNET)
		goto out;
	have_map = !rc;
	rc = AED_OK;
	if ((rc = load_targets(db, &o, have_map ? yam_ids : NULL, &c)))
		goto out;
	if ((rc = load_arrays(db, &c, o.scorer == AED_SCORER_TRAINED, o.scorer == AED_SCORER_YAMNET)))
		goto out;
	c.dim = AED_YAMNET_EMBED_DIM;
	if (o.scorer == AED_SCORER_TRAINED && o.with_scores && c.yam && (rc = append_scores(&c)))
		goto out;
	c.heldout_frac = o.heldout;
	c.score = malloc((c.npatch ? c.npatch : 1) * c.nt * sizeof *c.score);
	r->classes = calloc(c.nt, sizeof *r->classes);
	if (!c.score || !r->classes) {
		rc = aed_error(AED_ENOMEM, "out of memory for %zu patches x %zu classes", c.npatch, c.nt);
		goto out;
	}
	r->n_classes = c.nt;
	r->n_segments = (int64_t)c.nseg;
	for (size_t k = 0; k < c.nt; k++) {
		r->classes[k].class_id = c.t[k].class_id;
		snprintf(r->classes[k].mid, sizeof r->classes[k].mid, "%s", c.t[k].mid);
		snprintf(r->classes[k].name, sizeof r->classes[k].name, "%s", c.t[k].name);
	}
	ptext = params_json(&o);
	if ((rc = aed_run_begin(db, "refine", ptext ? ptext : "{}", &r->run_id)))
		goto out;
	run_open = 1;

	if (o.scorer == AED_SCORER_YAMNET) {
		yamnet_scores(&c);
	} else {
		/* Very weak labels: each patch gets its clip's labels. Positives are
		 * weighted as in `priors`, with priors over this corpus. */
		y = malloc((c.npatch ? c.npatch : 1) * c.nt * sizeof *y);
		pos_w = malloc(c.nt * sizeof *pos_w);
		prior = malloc(c.nt * sizeof *prior);
		wt = malloc(c.nt * sizeof *wt);
		if (!y || !pos_w || !prior || !wt) {
			rc = aed_error(AED_ENOMEM, "out of memory for %zu x %zu targets", c.npatch, c.nt);
			goto out;
		}
		for (size_t k = 0; k < c.nt; k++)
			prior[k] = (double)c.t[k].n_pos / (double)c.nseg;
		aed_prior_weights(prior, c.nt, o.beta, wt, NULL);
		for (size_t k = 0; k < c.nt; k++)
			pos_w[k] = (float)wt[k];
		for (size_t i = 0; i < c.nseg; i++)
			for (size_t p = c.off[i]; p < c.off[i + 1]; p++)
				for (size_t k = 0; k < c.nt; k++)
					y[p * c.nt + k] = c.lab[i * c.nt + k];
		int stages = o.secost_stages ? o.secost_stages : o.iterations;
		for (int s = 1; s <= stages; s++) {
			if (s > 1 && !o.secost_stages) {
				/* Self-training: keep a labelled segment's patches where the
				 * last round's max-normalised score reaches relabel. */
				for (size_t i = 0; i < c.nseg; i++)
					for (size_t k = 0; k < c.nt; k++) {
						float mx = 0;
						if (!c.lab[i * c.nt + k])
							continue;
						for (size_t p = c.off[i]; p < c.off[i + 1]; p++)
							mx = fmaxf(mx, c.score[p * c.nt + k]);
						for (size_t p = c.off[i]; p < c.off[i + 1]; p++)
							y[p * c.nt + k] = mx > 0 &&
								c.score[p * c.nt + k] >= o.relabel * mx ? 1.0f :
								o.drop ? -1.0f : 0.0f;
					}
			} else if (s > 1) {
				/* SeCoST: stage s learns alpha*y + (1-alpha)*(stage s-1). */
				double a = o.n_alphas ? o.alphas[s - 2 < o.n_alphas ? s - 2 : o.n_alphas - 1]
						      : 0.3;
				for (size_t i = 0; i < c.nseg; i++)
					for (size_t p = c.off[i]; p < c.off[i + 1]; p++)
						for (size_t k = 0; k < c.nt; k++)
							y[p * c.nt + k] = (float)(a * c.lab[i * c.nt + k] +
										  (1 - a) * c.score[p * c.nt + k]);
			}
			if ((rc = train_predict(&c, y, pos_w, &o, &r->clf)))
				goto out;
			aed_info("refine: %s %d/%d: %d epochs (best %d), loss %.4f train, %.4f held out",
				 o.secost_stages ? "stage" : "round", s, stages, r->clf.epochs, r->clf.best_epoch, r->clf.train_loss,
				 r->clf.heldout_loss);
		}
		if (o.secost_stages) {
			r->stages = o.secost_stages;
			/* The alpha a next stage would use: the last one given. */
			alpha_final = o.n_alphas ? o.alphas[o.n_alphas - 1] : 0.3;
		}
	}
	if (c.yam && have_map) {
		double *segsum = segment_sums(&c);
		if (!segsum) {
			rc = aed_error(AED_ENOMEM, "out of memory");
			goto out;
		}
		for (size_t k = 0; !rc && k < c.nt; k++)
			if (c.t[k].yam >= 0)
				rc = prevalence_check(db, &c, segsum, k, yam_ids, &r->classes[k]);
		free(segsum);
		if (rc)
			goto out;
	}
	/* Consensus self-training: the fine masks' patches become the labelled
	 * segments' positives (the rest negatives) for further rounds. */
	for (int s = 0; o.method == AED_REFINE_CONSENSUS && y && !o.secost_stages &&
			s < o.fine_rounds; s++) {
		if ((rc = fine_pass(db, &o, &c)))
			goto out;
		for (size_t i = 0; i < c.nseg; i++)
			for (size_t k = 0; k < c.nt; k++) {
				const uint8_t *fp = c.fine_patch ? c.fine_patch[i * c.nt + k] : NULL;
				if (!c.lab[i * c.nt + k] || !fp)
					continue;
				for (size_t p = c.off[i]; p < c.off[i + 1]; p++)
					y[p * c.nt + k] = fp[p - c.off[i]] ? 1.0f : o.drop ? -1.0f : 0.0f;
			}
		fine_free(&c);
		if ((rc = train_predict(&c, y, pos_w, &o, &r->clf)))
			goto out;
		aed_info("refine: fine round %d/%d: %d epochs (best %d), loss %.4f train, %.4f held "
			 "out", s + 1, o.fine_rounds, r->clf.epochs, r->clf.best_epoch,
			 r->clf.train_loss, r->clf.heldout_loss);
	}
	if (o.method == AED_REFINE_CONSENSUS && (rc = fine_pass(db, &o, &c)))
		goto out;
	if ((rc = store_results(db, &o, &c, r, r->stages ? y : NULL, alpha_final)))
		goto out;
	rc = aed_run_end(db, r->run_id, AED_RUN_OK, (int64_t)c.nt, 0, NULL);
	run_open = 0;
out:
	if (run_open) {
		char msg[512];
		snprintf(msg, sizeof msg, "%s", aed_last_error());
		aed_run_end(db, r->run_id, AED_RUN_FAILED, 0, 0, msg);
		aed_error(rc, "%s", msg);
	}
	corpus_release(&c);
	free(y);
	free(pos_w);
	free(prior);
	free(wt);
	free(ptext);
	if (rc)
		aed_refine_result_release(r);
	return rc;
}

void aed_refine_result_release(struct aed_refine_result *r)
{
	free(r->classes);
	r->classes = NULL;
	r->n_classes = 0;
}

/* --- eval refine ------------------------------------------------------------------ */

struct strong {
	double *start, *end;
	size_t n, cap;
};

/* 10 ms frames whose centre lies in one of n intervals. */
static void intervals_to_frames(const double *start, const double *end, size_t n, uint8_t *f,
				size_t nf)
{
	memset(f, 0, nf);
	for (size_t k = 0; k < n; k++)
		for (size_t j = 0; j < nf; j++) {
			double c = ((double)j + 0.5) * 0.01;
			if (c >= start[k] && c < end[k])
				f[j] = 1;
		}
}

#define MAX_FRAMES 65536

/* fine: the method's 10 ms mask (n_fine frames), or NULL. */
static int eval_add(struct aed_refine_eval_row *row, const uint8_t *mask, size_t np,
		    const struct strong *sl, double clip_s, const uint8_t *fine, size_t n_fine)
{
	static uint8_t fref[MAX_FRAMES], fsys[MAX_FRAMES];
	uint8_t ref[4096], amb[4096], refseg[64], sysseg[64];
	double a[4096], b[4096];
	size_t ni;
	struct aed_prf p, q;

	if (np > 4096)
		return aed_error(AED_EFORMAT, "%zu patches (over 4096)", np);
	aed_intervals_to_patches(sl->start, sl->end, sl->n, AED_PATCH_HOP_S, AED_PATCH_LEN_S, ref, np);
	aed_patches_ambiguous(sl->start, sl->end, sl->n, AED_PATCH_HOP_S, AED_PATCH_LEN_S, ref, amb,
			      np);
	aed_prf_masks(mask, ref, np, &p);
	aed_prf_masks_skip(mask, ref, amb, np, &q);
	row->frame.tp += p.tp;
	row->frame.fp += p.fp;
	row->frame.fn += p.fn;
	row->frame.tn += p.tn;
	row->frame_collar.tp += q.tp;
	row->frame_collar.fp += q.fp;
	row->frame_collar.fn += q.fn;
	row->frame_collar.tn += q.tn;
	size_t nseg = (size_t)ceil(clip_s - 1e-9);
	if (nseg > sizeof refseg)
		nseg = sizeof refseg;
	aed_intervals_to_segments(sl->start, sl->end, sl->n, 1.0, refseg, nseg);
	aed_patches_to_intervals(mask, np, AED_PATCH_HOP_S, AED_PATCH_LEN_S, clip_s, a, b, &ni);
	aed_intervals_to_segments(a, b, ni, 1.0, sysseg, nseg);
	size_t nf = (size_t)llround(clip_s * 100);
	if (nf > MAX_FRAMES)
		return aed_error(AED_EFORMAT, "%.1f s clip (over %d frames)", clip_s, MAX_FRAMES);
	intervals_to_frames(sl->start, sl->end, sl->n, fref, nf);
	if (fine) {
		memset(fsys, 0, nf);
		memcpy(fsys, fine, n_fine < nf ? n_fine : nf);
	} else {
		intervals_to_frames(a, b, ni, fsys, nf);
	}
	aed_prf_masks(fsys, fref, nf, &p);
	row->frame_10ms.tp += p.tp;
	row->frame_10ms.fp += p.fp;
	row->frame_10ms.fn += p.fn;
	row->frame_10ms.tn += p.tn;
	for (size_t j = 0; j < nseg; j++)
		aed_segment_eval_add(&row->seg, refseg + j, sysseg + j, 1);
	row->n_segments++;
	return AED_OK;
}

int aed_eval_refine(struct aed_db *db, const char *class_name, const char *split,
		    struct aed_refine_eval_result *r)
{
	sqlite3_stmt *st = NULL, *ss = NULL, *ms = NULL, *fs = NULL;
	struct strong sl = { 0 };
	uint8_t ones[4096];
	int rc, s;
	char *mid = NULL, *name = NULL;

	memset(r, 0, sizeof *r);
	memset(ones, 1, sizeof ones);
	if ((rc = aed_class_resolve(db, class_name, &r->class_id)) ||
	    (rc = aed_class_mid_name(db, r->class_id, &mid, &name)))
		goto out;
	snprintf(r->mid, sizeof r->mid, "%s", mid);
	snprintf(r->name, sizeof r->name, "%s", name);
	/* Rows: the weak mask first, then every stored method. */
	snprintf(r->rows[0].method, sizeof r->rows[0].method, "weak");
	r->n_rows = 1;
	if ((rc = aed_db_prepare(db, "SELECT DISTINCT method FROM frame_mask WHERE class_id = ?1 "
				 "ORDER BY method = 'maxnorm' DESC, method", &st)))
		goto out;
	sqlite3_bind_int64(st, 1, r->class_id);
	while ((s = sqlite3_step(st)) == SQLITE_ROW && r->n_rows < 8)
		snprintf(r->rows[r->n_rows++].method, sizeof r->rows[0].method, "%s",
			 (const char *)sqlite3_column_text(st, 0));
	sqlite3_finalize(st);
	st = NULL;
	if (r->n_rows == 1) {
		rc = aed_error(AED_ESTATE, "eval refine: no refined masks for %s (%s); run `aedcurate "
			       "refine --class` first", r->mid, r->name);
		goto out;
	}
	/* Segments with strong labels for the class (any descendant counts)
	 * and a stored mask. */
	rc = aed_db_prepare(db,
			    "SELECT DISTINCT m.segment_id, m.n_patches, coalesce((s.end_ms - "
			    "s.start_ms) / 1000.0, c.n_samples / 16000.0, m.n_patches * 0.48 + 0.48) "
			    "FROM frame_mask m JOIN segment s ON s.id = m.segment_id "
			    "LEFT JOIN clip c ON c.segment_id = m.segment_id "
			    "WHERE m.class_id = ?1 AND EXISTS (SELECT 1 FROM strong_label x WHERE "
			    "x.segment_id = m.segment_id AND x.class_id IN (" AED_CLASS_SUBTREE_SQL "))"
			    " AND (?2 IS NULL OR m.segment_id IN (SELECT ss.segment_id FROM "
			    "segment_split ss JOIN split sp ON sp.id = ss.split_id WHERE sp.name = ?2))"
			    " ORDER BY m.segment_id", &st);
	if (rc)
		goto out;
	sqlite3_bind_int64(st, 1, r->class_id);
	if (split)
		sqlite3_bind_text(st, 2, split, -1, SQLITE_STATIC);
	if ((rc = aed_db_prepare(db, "SELECT start_s, end_s FROM strong_label WHERE segment_id = ?2 "
				 "AND class_id IN (" AED_CLASS_SUBTREE_SQL ")", &ss)) ||
	    (rc = aed_db_prepare(db, "SELECT mask FROM frame_mask WHERE segment_id = ?1 AND "
				 "class_id = ?2 AND method = ?3", &ms)) ||
	    (rc = aed_db_prepare(db, "SELECT mask FROM frame_mask_fine WHERE segment_id = ?1 AND "
				 "class_id = ?2 AND method = ?3 AND frame_ms = 10", &fs)))
		goto out;
	while ((s = sqlite3_step(st)) == SQLITE_ROW) {
		int64_t seg = sqlite3_column_int64(st, 0);
		size_t np = (size_t)sqlite3_column_int64(st, 1);
		double clip_s = sqlite3_column_double(st, 2);
		sl.n = 0;
		sqlite3_bind_int64(ss, 1, r->class_id);
		sqlite3_bind_int64(ss, 2, seg);
		while (sqlite3_step(ss) == SQLITE_ROW) {
			if (sl.n == sl.cap) {
				size_t nc = sl.cap ? sl.cap * 2 : 16;
				double *a = realloc(sl.start, nc * sizeof *a), *b;
				if (a)
					sl.start = a;
				b = a ? realloc(sl.end, nc * sizeof *b) : NULL;
				if (!b) {
					rc = aed_error(AED_ENOMEM, "out of memory");
					goto out;
				}
				sl.end = b;
				sl.cap = nc;
			}
			sl.start[sl.n] = sqlite3_column_double(ss, 0);
			sl.end[sl.n++] = sqlite3_column_double(ss, 1);
		}
		sqlite3_reset(ss);
		if ((rc = eval_add(&r->rows[0], ones, np, &sl, clip_s, NULL, 0)))
			goto out;
		for (size_t k = 1; k < r->n_rows; k++) {
			sqlite3_bind_int64(ms, 1, seg);
			sqlite3_bind_int64(ms, 2, r->class_id);
			sqlite3_bind_text(ms, 3, r->rows[k].method, -1, SQLITE_STATIC);
			if (sqlite3_step(ms) == SQLITE_ROW &&
			    (size_t)sqlite3_column_bytes(ms, 0) == np) {
				uint8_t mask[4096];
				const uint8_t *fine = NULL;
				size_t n_fine = 0;
				memcpy(mask, sqlite3_column_blob(ms, 0), np < 4096 ? np : 4096);
				sqlite3_bind_int64(fs, 1, seg);
				sqlite3_bind_int64(fs, 2, r->class_id);
				sqlite3_bind_text(fs, 3, r->rows[k].method, -1, SQLITE_STATIC);
				if (sqlite3_step(fs) == SQLITE_ROW) {
					fine = sqlite3_column_blob(fs, 0);
					n_fine = (size_t)sqlite3_column_bytes(fs, 0);
				}
				rc = eval_add(&r->rows[k], mask, np, &sl, clip_s, fine, n_fine);
				sqlite3_reset(fs);
				if (rc) {
					sqlite3_reset(ms);
					goto out;
				}
			}
			sqlite3_reset(ms);
		}
	}
	if (s != SQLITE_DONE) {
		rc = aed_db_error(db, "reading refined masks");
		goto out;
	}
	if (!r->rows[0].n_segments) {
		rc = aed_error(AED_ESTATE, "eval refine: no segment with a refined mask for %s has "
			       "strong labels for it", r->mid);
		goto out;
	}
	for (size_t k = 0; k < r->n_rows; k++) {
		aed_prf_finish(&r->rows[k].frame);
		aed_prf_finish(&r->rows[k].frame_collar);
		aed_prf_finish(&r->rows[k].frame_10ms);
		aed_segment_eval_finish(&r->rows[k].seg);
	}
out:
	sqlite3_finalize(st);
	sqlite3_finalize(ss);
	sqlite3_finalize(ms);
	sqlite3_finalize(fs);
	free(sl.start);
	free(sl.end);
	free(mid);
	free(name);
	return rc;
}
