/* mine.c - the mine stage: gathers a class's exemplars (ontology examples in
 * the corpus, verified clips, named segments and files), runs the exemplar
 * (or mean) search of src/search/mine_core.c over the checked index, and
 * records the run and its ranked candidates as a review queue. */
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "aedcurate/audio.h"
#include "aedcurate/error.h"
#include "aedcurate/mine.h"
#include "aedcurate/nn.h"
#include "aedcurate/ontology.h"
#include "aedcurate/refine.h"
#include "aedcurate/search.h"
#include "aedcurate/segments.h"
#include "aedcurate/store.h"
#include "aedcurate/util.h"

#define DEFAULT_K 100
#define DEFAULT_SAMPLE 20000

struct frames {
	float *x;      /* [n][dim] unit vectors */
	int *ex;       /* [n] exemplar number */
	int *patch;    /* [n] */
	int64_t n, cap;
};

static int frames_push(struct frames *f, int dim, const float *x, int64_t n, int ex)
{
	if (f->n + n > f->cap) {
		int64_t cap = f->cap ? f->cap : 64;
		while (cap < f->n + n)
			cap *= 2;
		float *nx = realloc(f->x, (size_t)cap * dim * sizeof *nx);
		if (nx)
			f->x = nx;
		int *ne = realloc(f->ex, (size_t)cap * sizeof *ne);
		if (ne)
			f->ex = ne;
		int *np = realloc(f->patch, (size_t)cap * sizeof *np);
		if (np)
			f->patch = np;
		if (!nx || !ne || !np)
			return aed_error(AED_ENOMEM, "out of memory");
		f->cap = cap;
	}
	memcpy(f->x + f->n * dim, x, (size_t)n * dim * sizeof *x);
	aed_l2_normalize(f->x + f->n * dim, n, dim);
	for (int64_t i = 0; i < n; i++) {
		f->ex[f->n + i] = ex;
		f->patch[f->n + i] = (int)i;
	}
	f->n += n;
	return AED_OK;
}

static void frames_release(struct frames *f)
{
	free(f->x);
	free(f->ex);
	free(f->patch);
	memset(f, 0, sizeof *f);
}

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

static int add_exemplar(struct aed_mine_result *r, int64_t segment_id, const char *source,
			const char *name)
{
	for (int i = 0; i < r->n_exemplars; i++)
		if (segment_id && r->exemplars[i].segment_id == segment_id)
			return AED_OK; /* named twice, or both verified and named */
	struct aed_mine_exemplar *e = realloc(r->exemplars, (size_t)(r->n_exemplars + 1) * sizeof *e);
	if (!e)
		return aed_error(AED_ENOMEM, "out of memory");
	r->exemplars = e;
	e = &r->exemplars[r->n_exemplars];
	memset(e, 0, sizeof *e);
	e->segment_id = segment_id;
	snprintf(e->source, sizeof e->source, "%s", source);
	e->name = strdup(name ? name : "");
	if (!e->name)
		return aed_error(AED_ENOMEM, "out of memory");
	r->n_exemplars++;
	return AED_OK;
}

/* Exemplars the database knows for the class: ontology positive examples
 * present in the corpus, and clips verified for the class or a descendant:
 * by a review decision (label source 'verified') or as a label an annotator
 * added on a review page (source 'review'), unless a review of that class
 * or of the class mined decided it is not there. */
static int class_exemplars(struct aed_db *db, int64_t class_id, int64_t model_id,
			   struct aed_mine_result *r, int *n_examples_listed)
{
	static const char *const q[2] = {
		"SELECT s.id, s.key FROM class_example ce JOIN segment s ON s.ytid = ce.ytid AND "
		"s.start_ms = ce.start_ms JOIN embedding e ON e.segment_id = s.id AND e.model_id = ?2 "
		"WHERE ce.class_id = ?1 ORDER BY s.id",
		"SELECT DISTINCT s.id, s.key FROM label l JOIN segment s ON s.id = l.segment_id JOIN "
		"embedding e ON e.segment_id = s.id AND e.model_id = ?2 WHERE l.source IN "
		"('verified', 'review') AND l.class_id IN (" AED_CLASS_SUBTREE_SQL ") AND NOT EXISTS "
		"(SELECT 1 FROM review_decision d WHERE d.segment_id = l.segment_id AND d.class_id IN "
		"(l.class_id, ?1) AND d.decision = 'not_present') ORDER BY s.id",
	};
	static const char *const src[2] = { "ontology", "verified" };
	int rc = AED_OK;
	int64_t n = 0;
	char sql[128];
	snprintf(sql, sizeof sql, "SELECT count(*) FROM class_example WHERE class_id = %lld",
		 (long long)class_id);
	if ((rc = aed_db_int(db, sql, &n)))
		return rc;
	*n_examples_listed = (int)n;
	for (int k = 0; k < 2 && !rc; k++) {
		sqlite3_stmt *st;
		if ((rc = aed_db_prepare(db, q[k], &st)))
			return rc;
		sqlite3_bind_int64(st, 1, class_id);
		sqlite3_bind_int64(st, 2, model_id);
		while (!rc && sqlite3_step(st) == SQLITE_ROW)
			rc = add_exemplar(r, sqlite3_column_int64(st, 0), src[k],
					  (const char *)sqlite3_column_text(st, 1));
		sqlite3_finalize(st);
	}
	return rc;
}

/* A named exemplar: a segment of the corpus, else an audio file. */
static int named_exemplar(struct aed_db *db, const char *name, struct aed_mine_result *r)
{
	int64_t id;
	struct stat sb;
	int rc = aed_segment_lookup(db, name, &id);
	if (rc == AED_OK) {
		sqlite3_stmt *st;
		if ((rc = aed_db_prepare(db, "SELECT key FROM segment WHERE id = ?1", &st)))
			return rc;
		sqlite3_bind_int64(st, 1, id);
		rc = sqlite3_step(st) == SQLITE_ROW
			     ? add_exemplar(r, id, "user", (const char *)sqlite3_column_text(st, 0))
			     : aed_error(AED_ENOTFOUND, "exemplar '%s': segment %lld vanished", name,
					 (long long)id);
		sqlite3_finalize(st);
		return rc;
	}
	if (rc != AED_ENOTFOUND)
		return rc;
	if (stat(name, &sb) == 0 && S_ISREG(sb.st_mode))
		return add_exemplar(r, 0, "file", name);
	return aed_error(AED_ENOTFOUND, "exemplar '%s': no such segment in the database and no "
			 "such audio file", name);
}

/* Embed an audio file outside the corpus with the index's model. Its
 * samples are not padded as a stored clip's are (aed_yamnet_file_logmel,
 * pad 0): file exemplars have always been embedded so. */
static int embed_file(const char *path, const struct aed_yamnet *y, float **emb, int64_t *n)
{
	struct aed_yamnet_runner rn = { 0 };
	float *lm = NULL, *patches = NULL;
	size_t ns = 0, frames = 0, np = 0;
	int rc;

	*emb = NULL;
	*n = 0;
	if ((rc = aed_yamnet_file_logmel(path, 0, &lm, &frames, &ns)))
		goto out;
	np = aed_patch_count(frames, AED_PRESET_YAMNET);
	if (np == 0) {
		rc = aed_error(AED_EMEDIA, "exemplar %s: too short for one patch (%zu samples)", path,
			       ns);
		goto out;
	}
	if ((rc = aed_yamnet_patches(lm, frames, &patches, &np)))
		goto out;
	*emb = malloc(np * AED_YAMNET_EMBED_DIM * sizeof **emb);
	if (!*emb) {
		rc = aed_error(AED_ENOMEM, "out of memory");
		goto out;
	}
	if ((rc = aed_yamnet_runner_init(&rn, y, aed_nn_backend(NULL), 32, 0)) ||
	    (rc = aed_yamnet_runner_run(&rn, patches, np, *emb, NULL)))
		goto out;
	*n = (int64_t)np;
out:
	aed_yamnet_runner_release(&rn);
	free(lm);
	free(patches);
	if (rc) {
		free(*emb);
		*emb = NULL;
		*n = 0;
	}
	return rc;
}

/* Every exemplar's patch embeddings into f. */
static int load_exemplar_frames(struct aed_db *db, const struct aed_mine_opts *o,
				const struct aed_index_handle *h, struct aed_mine_result *r,
				struct frames *f)
{
	struct aed_yamnet *y = NULL;
	char *model_path = NULL;
	int rc = AED_OK;

	for (int i = 0; i < r->n_exemplars && !rc; i++) {
		struct aed_mine_exemplar *e = &r->exemplars[i];
		int64_t before = f->n;
		if (e->segment_id) {
			struct aed_array a;
			int64_t mid = 0;
			char sql[160];
			snprintf(sql, sizeof sql, "SELECT model_id FROM embedding WHERE segment_id = %lld",
				 (long long)e->segment_id);
			if ((rc = aed_db_int(db, sql, &mid)))
				break;
			if (mid != h->model_id) {
				rc = aed_error(AED_ESTATE, "exemplar %s has no embedding of model %s "
					       "(run `aedcurate embed` on it)", e->name, h->st.model_name);
				break;
			}
			if ((rc = aed_array_get(db, "embedding", e->segment_id, &a)))
				break;
			if (a.dtype != AED_F32 || a.dims[1] != h->dim || a.dims[0] < 1)
				rc = aed_error(AED_EFORMAT, "exemplar %s: embedding array is not f32 "
					       "[patches, %d]", e->name, h->dim);
			else
				rc = frames_push(f, h->dim, a.data, a.dims[0], i);
			aed_array_release(&a);
		} else {
			float *emb = NULL;
			int64_t n = 0;
			if (!y) {
				if ((rc = aed_yamnet_find_model(o->model_path, &model_path)) ||
				    (rc = aed_yamnet_load(model_path, &y)))
					break;
				if (strcmp(y->sha256, h->st.model_sha256)) {
					rc = aed_error(AED_ESTATE, "exemplar file %s: the model %s (sha256 "
						       "%.12s...) is not the one the index was built from "
						       "(sha256 %.12s...); pass --model with that file",
						       e->name, model_path, y->sha256, h->st.model_sha256);
					break;
				}
				if (h->dim != AED_YAMNET_EMBED_DIM) {
					rc = aed_error(AED_ESTATE, "the index holds %d-d vectors, the model "
						       "makes %d-d", h->dim, AED_YAMNET_EMBED_DIM);
					break;
				}
			}
			if ((rc = embed_file(e->name, y, &emb, &n)) == AED_OK)
				rc = frames_push(f, h->dim, emb, n, i);
			free(emb);
		}
		e->frames_total = (int)(f->n - before);
	}
	aed_yamnet_free(&y);
	free(model_path);
	return rc;
}

static int cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
	return (x > y) - (x < y);
}

/* Mark the segment numbers of the segment ids the query returns. */
struct segnum {
	int64_t id, num;
};

static int cmp_segnum(const void *a, const void *b)
{
	return cmp_i64(&((const struct segnum *)a)->id, &((const struct segnum *)b)->id);
}

static int64_t lookup_num(const struct segnum *m, int64_t n, int64_t id)
{
	int64_t lo = 0, hi = n;
	while (lo < hi) {
		int64_t mid = lo + (hi - lo) / 2;
		if (m[mid].id < id)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < n && m[lo].id == id ? m[lo].num : -1;
}

static int mark(struct aed_db *db, const char *sql, int64_t class_id, const char *text,
		const struct segnum *map, int64_t n, unsigned char *excl, unsigned char val)
{
	sqlite3_stmt *st;
	int rc = aed_db_prepare(db, sql, &st);
	if (rc)
		return rc;
	if (sqlite3_bind_parameter_count(st) >= 1)
		sqlite3_bind_int64(st, 1, class_id);
	if (sqlite3_bind_parameter_count(st) >= 2)
		sqlite3_bind_text(st, 2, text, -1, SQLITE_STATIC);
	while (sqlite3_step(st) == SQLITE_ROW) {
		int64_t s = lookup_num(map, n, sqlite3_column_int64(st, 0));
		if (s >= 0)
			excl[s] = val;
	}
	sqlite3_finalize(st);
	return AED_OK;
}

static int has_table(struct aed_db *db, const char *name)
{
	char sql[160];
	int64_t n = 0;
	snprintf(sql, sizeof sql, "SELECT count(*) FROM sqlite_master WHERE name = '%s'", name);
	return aed_db_int(db, sql, &n) == AED_OK && n > 0;
}

/* Which segments of the index may not be candidates. */
static int exclusions(struct aed_db *db, const struct aed_mine_opts *o,
		      const struct aed_index_handle *h, const struct aed_mine_result *r,
		      unsigned char *excl, int64_t *n_excl)
{
	struct segnum *map = malloc((size_t)(h->n_segments ? h->n_segments : 1) * sizeof *map);
	int rc = AED_OK;
	if (!map)
		return aed_error(AED_ENOMEM, "out of memory");
	for (int64_t s = 0; s < h->n_segments; s++) {
		map[s].id = h->segment_ids[s];
		map[s].num = s;
	}
	qsort(map, (size_t)h->n_segments, sizeof *map, cmp_segnum);
	int64_t n = h->n_segments;

	if (o->candidates_split) {
		int64_t sid = 0;
		sqlite3_stmt *st;
		if ((rc = aed_db_prepare(db, "SELECT id FROM split WHERE name = ?1", &st)))
			goto out;
		sqlite3_bind_text(st, 1, o->candidates_split, -1, SQLITE_STATIC);
		if (sqlite3_step(st) == SQLITE_ROW)
			sid = sqlite3_column_int64(st, 0);
		sqlite3_finalize(st);
		if (!sid) {
			rc = aed_error(AED_ENOTFOUND, "--candidates: no split named '%s'",
				       o->candidates_split);
			goto out;
		}
		memset(excl, 1, (size_t)n);
		if ((rc = mark(db, "SELECT ss.segment_id FROM segment_split ss JOIN split p ON p.id = "
				   "ss.split_id WHERE ?1 IS NOT NULL AND p.name = ?2",
			       r->class_id, o->candidates_split, map, n, excl, 0)))
			goto out;
	}
	/* The exemplars themselves. */
	for (int i = 0; i < r->n_exemplars; i++) {
		int64_t s = lookup_num(map, n, r->exemplars[i].segment_id);
		if (s >= 0)
			excl[s] = 1;
	}
	/* Clips already reviewed for the class: verified labels of the class or
	 * a descendant (annotators' added labels too), ratings and review
	 * decisions. */
	if ((rc = mark(db, "SELECT segment_id FROM label WHERE source IN ('verified', 'review') "
			   "AND class_id IN (" AED_CLASS_SUBTREE_SQL ")",
		       r->class_id, NULL, map, n, excl, 1)))
		goto out;
	if (has_table(db, "rating") &&
	    (rc = mark(db, "SELECT segment_id FROM rating WHERE class_id = ?1", r->class_id, NULL,
		       map, n, excl, 1)))
		goto out;
	if (has_table(db, "review_decision") &&
	    (rc = mark(db, "SELECT segment_id FROM review_decision WHERE class_id = ?1",
		       r->class_id, NULL, map, n, excl, 1)))
		goto out;
	if (o->exclude_group) {
		/* Clips cut from the same source recording as an exemplar. */
		for (int i = 0; i < r->n_exemplars; i++) {
			if (!r->exemplars[i].segment_id)
				continue;
			char sql[256];
			snprintf(sql, sizeof sql, "SELECT id FROM segment WHERE ?1 IS NOT NULL AND "
				 "source_group = (SELECT source_group FROM segment WHERE id = %lld)",
				 (long long)r->exemplars[i].segment_id);
			if ((rc = mark(db, sql, r->class_id, NULL, map, n, excl, 1)))
				goto out;
		}
	}
	*n_excl = 0;
	for (int64_t s = 0; s < n; s++)
		*n_excl += excl[s];
out:
	free(map);
	return rc;
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

/* --- exact vectors from the array store ------------------------------------ */

struct stored {
	struct aed_db *db;
	const struct aed_index_handle *h;
};

/* Rows p0..p0+n-1 of segment number s's stored embedding, normalised as the
 * index build normalised them (aed_l2_normalize on the same floats). */
static int stored_rows(const struct stored *sv, int64_t s, int64_t p0, int64_t n, float *out)
{
	const struct aed_index_handle *h = sv->h;
	int64_t np = h->first_vec[s + 1] - h->first_vec[s];
	struct aed_array a;
	int rc = aed_array_get(sv->db, "embedding", h->segment_ids[s], &a);
	if (rc)
		return rc;
	if (a.dtype != AED_F32 || a.dims[0] != np || a.dims[1] != h->dim || p0 + n > np) {
		rc = aed_error(AED_ESTATE, "segment %lld: its embedding no longer matches the "
			       "index; run: aedcurate index build", (long long)h->segment_ids[s]);
		aed_array_release(&a);
		return rc;
	}
	memcpy(out, (const float *)a.data + p0 * h->dim, (size_t)n * h->dim * sizeof *out);
	aed_array_release(&a);
	aed_l2_normalize(out, n, h->dim);
	return AED_OK;
}

/* aed_mine_corpus.fetch: ids ascending, so each segment is read once. */
static int stored_fetch(void *ctx, int64_t n, const int64_t *ids, float *out)
{
	const struct stored *sv = ctx;
	const struct aed_index_handle *h = sv->h;
	float *seg = NULL;
	int64_t cur = -1, cap = 0;
	int rc = AED_OK;
	for (int64_t i = 0; i < n && !rc; i++) {
		/* The segment holding ids[i]: the last with first_vec <= id. */
		int64_t lo = 0, hi = h->n_segments;
		while (hi - lo > 1) {
			int64_t mid = lo + (hi - lo) / 2;
			if (h->first_vec[mid] <= ids[i])
				lo = mid;
			else
				hi = mid;
		}
		int64_t np = h->first_vec[lo + 1] - h->first_vec[lo];
		if (lo != cur) {
			if (np > cap) {
				float *t = realloc(seg, (size_t)np * h->dim * sizeof *t);
				if (!t) {
					rc = aed_error(AED_ENOMEM, "out of memory");
					break;
				}
				seg = t;
				cap = np;
			}
			if ((rc = stored_rows(sv, lo, 0, np, seg)))
				break;
			cur = lo;
		}
		memcpy(out + i * h->dim, seg + (ids[i] - h->first_vec[lo]) * h->dim,
		       (size_t)h->dim * sizeof *out);
	}
	free(seg);
	return rc;
}

/* ns corpus vectors for the z statistics, spread evenly over the index. An
 * exact index gives them itself (vector i * ntotal / ns); a compressed one
 * holds only codes, so whole segments spread evenly over the corpus are
 * read from the array store: about ns / patches-per-segment reads, not the
 * corpus. */
static int corpus_sample(const struct stored *sv, int64_t ns, float *out, int64_t *got)
{
	const struct aed_index_handle *h = sv->h;
	int64_t ntot = h->st.n_vectors;
	int rc = AED_OK;
	*got = 0;
	if (aed_vindex_exact(h->ix)) {
		for (int64_t i = 0; i < ns; i++)
			if ((rc = aed_vindex_reconstruct(h->ix, i * ntot / ns, out + i * h->dim)))
				return rc;
		*got = ns;
		return AED_OK;
	}
	int64_t per = h->n_segments && ntot >= h->n_segments ? ntot / h->n_segments : 1;
	int64_t nseg = (ns + per - 1) / per;
	if (nseg > h->n_segments)
		nseg = h->n_segments;
	for (int64_t j = 0; j < nseg && *got < ns; j++) {
		int64_t s = j * h->n_segments / nseg;
		int64_t np = h->first_vec[s + 1] - h->first_vec[s];
		if (np > ns - *got)
			np = ns - *got;
		if ((rc = stored_rows(sv, s, 0, np, out + *got * h->dim)))
			return rc;
		*got += np;
	}
	return AED_OK;
}

/* --- the ranker (mine.h, o->ranker) ------------------------------------------ */

#define RANKER_EPOCHS 20

/* The rated clips of the class that can train: one answer per clip, the
 * majority of its Present and Not present ratings (a tie: left out). Unsure
 * and Not acoustic say nothing about the sound, so they never count.
 * ids[i], y[i] (1 Present, 0 Not present); *n clips. */
static int rated_clips(struct aed_db *db, int64_t class_id, int64_t **ids, int **y, int *n)
{
	sqlite3_stmt *st = NULL;
	int rc = AED_OK, cap = 0;
	*ids = NULL;
	*y = NULL;
	*n = 0;
	if (!has_table(db, "rating"))
		return AED_OK;
	if ((rc = aed_db_prepare(db, "SELECT segment_id, SUM(answer = 'present'), "
				 "SUM(answer = 'not_present') FROM rating WHERE class_id = ?1 AND "
				 "answer IN ('present', 'not_present') GROUP BY segment_id "
				 "ORDER BY segment_id", &st)))
		return rc;
	sqlite3_bind_int64(st, 1, class_id);
	while (sqlite3_step(st) == SQLITE_ROW) {
		int pres = sqlite3_column_int(st, 1), notp = sqlite3_column_int(st, 2);
		if (pres == notp)
			continue;
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
		(*y)[*n] = pres > notp;
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
static int ranker_train(struct aed_db *db, const struct stored *sv, const struct frames *f,
			const struct aed_mine_corpus *c, struct aed_mine_result *r,
			struct aed_clf **m)
{
	const struct aed_index_handle *h = sv->h;
	struct segnum *map = NULL;
	struct rows t = { 0 };
	int64_t *ids = NULL;
	int *lab = NULL, n = 0, rc, d = h->dim;

	*m = NULL;
	if ((rc = rated_clips(db, r->class_id, &ids, &lab, &n)) || n == 0)
		goto out;
	if (!(map = malloc((size_t)(h->n_segments ? h->n_segments : 1) * sizeof *map))) {
		rc = aed_error(AED_ENOMEM, "out of memory");
		goto out;
	}
	for (int64_t s = 0; s < h->n_segments; s++) {
		map[s].id = h->segment_ids[s];
		map[s].num = s;
	}
	qsort(map, (size_t)h->n_segments, sizeof *map, cmp_segnum);
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
		int64_t s = lookup_num(map, h->n_segments, ids[i]);
		/* A rated exemplar's frames are in already; a rated clip outside
		 * the index has no vectors to give. */
		if (s < 0 || (ex && lab[i])) {
			r->ranker_rated += ex && lab[i];
			continue;
		}
		int64_t np = h->first_vec[s + 1] - h->first_vec[s];
		if ((rc = rows_reserve(&t, (size_t)np, d)) ||
		    (rc = stored_rows(sv, s, 0, np, t.x + t.n * d)))
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
	free(map);
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

/* Re-rank hits[0..n-1] by the blend of the exemplar score and the ranker's
 * clip score (its best patch's logit), both standardised over the hits. */
static int ranker_rerank(const struct stored *sv, const struct aed_clf *m, double w,
			 struct aed_mine_hit *hits, int n)
{
	const struct aed_index_handle *h = sv->h;
	double *es = malloc((size_t)(n ? n : 1) * sizeof *es);
	double *cs = malloc((size_t)(n ? n : 1) * sizeof *cs);
	float *x = NULL, *p = NULL;
	int64_t cap = 0;
	int rc = AED_OK;
	if (!es || !cs) {
		rc = aed_error(AED_ENOMEM, "out of memory");
		goto out;
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
		if ((rc = stored_rows(sv, s, 0, np, x)) ||
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
		hits[i].score = (float)((1 - w) * es[i] + w * cs[i]);
	qsort(hits, (size_t)n, sizeof *hits, cmp_hit);
out:
	free(es);
	free(cs);
	free(x);
	free(p);
	return rc;
}

int aed_mine(struct aed_db *db, const struct aed_mine_opts *o, struct aed_mine_result *r)
{
	struct aed_index_handle h;
	struct frames f = { 0 };
	unsigned char *excl = NULL;
	float *q = NULL, *sample = NULL, *generic = NULL, *spread = NULL;
	struct aed_mine_hit *hits = NULL;
	struct aed_clf *clf = NULL;
	json_t *pj = NULL;
	char *params = NULL, *mid = NULL, *name = NULL;
	int rc, nq = 0, n_examples_listed = 0;
	int k = o->k > 0 ? o->k : DEFAULT_K;

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

	/* 1. exemplars */
	if (!o->no_class_exemplars &&
	    (rc = class_exemplars(db, r->class_id, h.model_id, r, &n_examples_listed)))
		goto out;
	for (int i = 0; i < o->n_exemplars; i++)
		if ((rc = named_exemplar(db, o->exemplars[i], r)))
			goto out;
	if (r->n_exemplars == 0) {
		/* The way out when the ontology has examples: bring them in. */
		char how[512] = "";

		if (!o->no_class_exemplars && n_examples_listed)
			snprintf(how, sizeof how, "; or bring in its %d ontology examples: aedcurate "
				 "segments ingest --ontology-examples %s, then aedcurate fetch --split "
				 AED_EXAMPLES_SPLIT " --url 'YOUR_MIRROR/{key}.flac' (or --from DIR, "
				 "--cmd), decode, features, embed and index build", n_examples_listed,
				 r->class_mid);
		rc = aed_error(AED_ENOTFOUND, "class %s (%s) has no exemplar in the corpus: %s no "
			       "clip is verified for it; name example clips with --exemplar "
			       "SEGMENT|FILE%s", r->class_name, r->class_mid,
			       o->no_class_exemplars ? "class exemplars are off (--no-class-exemplars) and"
			       : n_examples_listed ? "none of its ontology positive examples is an "
						     "embedded segment, and"
						   : "the ontology lists no positive example for it, and",
			       how);
		goto out;
	}
	if ((rc = load_exemplar_frames(db, o, &h, r, &f)))
		goto out;
	r->n_frames = (int)f.n;

	struct stored sv = { .db = db, .h = &h };
	struct aed_mine_corpus c = {
		.ix = h.ix, .n_segments = h.n_segments, .first_vec = h.first_vec,
		/* Hits of a compressed index are re-ranked against the stored
		 * embeddings: every score reported is exact. */
		.fetch = aed_vindex_exact(h.ix) ? NULL : stored_fetch,
		.fetch_ctx = &sv,
	};
	enum aed_mine_score score = o->method == AED_MINE_MEAN ? AED_MINE_SCORE_RAW : o->score;
	if (score == AED_MINE_SCORE_Z || o->method == AED_MINE_EXEMPLAR) {
		/* Corpus statistics from vectors spread evenly over the index. */
		int64_t ntot = h.st.n_vectors, ns = o->sample > 0 ? o->sample : DEFAULT_SAMPLE;
		if (ns > ntot)
			ns = ntot;
		sample = malloc((size_t)(ns ? ns : 1) * h.dim * sizeof *sample);
		if (!sample) {
			rc = aed_error(AED_ENOMEM, "out of memory");
			goto out;
		}
		if ((rc = corpus_sample(&sv, ns, sample, &ns)))
			goto out;
		c.sample = sample;
		c.n_sample = ns;
	}

	/* 2. frame level: the queries */
	q = malloc((size_t)f.n * h.dim * sizeof *q);
	if (!q) {
		rc = aed_error(AED_ENOMEM, "out of memory");
		goto out;
	}
	if (o->method == AED_MINE_MEAN) {
		memset(q, 0, (size_t)h.dim * sizeof *q);
		for (int64_t i = 0; i < f.n; i++)
			for (int j = 0; j < h.dim; j++)
				q[j] += f.x[i * h.dim + j];
		aed_l2_normalize(q, 1, h.dim);
		nq = 1;
	} else {
		struct aed_frame_select_opts so = o->select;
		float *sd = malloc((size_t)f.n * sizeof *sd);
		generic = malloc((size_t)f.n * sizeof *generic);
		if (!sd || !generic) {
			free(sd);
			rc = aed_error(AED_ENOMEM, "out of memory");
			goto out;
		}
		rc = aed_mine_corpus_stats(&c, f.x, (int)f.n, h.dim, generic, sd);
		if (rc) {
			free(sd);
			goto out;
		}
		so.generic = generic;
		so.spread = sd;
		spread = sd;
		if ((rc = aed_mine_select_frames(f.x, f.ex, f.n, h.dim, r->n_exemplars, &so,
						 &r->sel)))
			goto out;
		for (int64_t i = 0; i < f.n; i++)
			if (r->sel.kept[i])
				memcpy(q + (size_t)nq++ * h.dim, f.x + i * h.dim, (size_t)h.dim * sizeof *q);
	}
	/* Per-exemplar view of the selection, for the report and the table. */
	for (int i = 0; i < r->n_exemplars; i++) {
		struct aed_mine_exemplar *e = &r->exemplars[i];
		e->cluster = calloc((size_t)(e->frames_total ? e->frames_total : 1), sizeof *e->cluster);
		e->kept = calloc((size_t)(e->frames_total ? e->frames_total : 1), 1);
		if (!e->cluster || !e->kept) {
			rc = aed_error(AED_ENOMEM, "out of memory");
			goto out;
		}
	}
	for (int64_t i = 0; i < f.n; i++) {
		struct aed_mine_exemplar *e = &r->exemplars[f.ex[i]];
		e->cluster[f.patch[i]] = o->method == AED_MINE_MEAN ? -1 : r->sel.cluster[i];
		e->kept[f.patch[i]] = o->method == AED_MINE_MEAN ? 1
				      : r->sel.kept[i] ? 1 : r->sel.generic[i] ? 2
				      : r->sel.unshared[i] ? 3 : 0;
		e->frames_kept += e->kept[f.patch[i]] == 1;
	}

	/* 3. search */
	excl = calloc((size_t)(h.n_segments ? h.n_segments : 1), 1);
	if (!excl) {
		rc = aed_error(AED_ENOMEM, "out of memory");
		goto out;
	}
	if ((rc = exclusions(db, o, &h, r, excl, &r->n_excluded)))
		goto out;
	c.excluded = excl;
	if (r->n_excluded >= h.n_segments) {
		rc = aed_error(AED_ENOTFOUND, "no candidate left: all %lld indexed segments are "
			       "exemplars, reviewed or excluded", (long long)h.n_segments);
		goto out;
	}
	/* The ranker re-ranks a wider pool than k: what it finds may lie below
	 * the exemplar search's first k. */
	double t_rank = aed_now();
	if (o->ranker && (rc = ranker_train(db, &sv, &f, &c, r, &clf)))
		goto out;
	r->ranker_seconds = aed_now() - t_rank;
	int kp = clf && k < AED_RANKER_POOL ? AED_RANKER_POOL : k;
	struct aed_mine_search_opts so = { .k = kp, .hits_per_query = o->hits_per_query,
					   .score = score };
	hits = malloc((size_t)kp * sizeof *hits);
	int nh = 0;
	if (!hits) {
		rc = aed_error(AED_ENOMEM, "out of memory");
		goto out;
	}
	if ((rc = aed_mine_search(&c, q, nq, &so, hits, &nh, &r->stats)))
		goto out;
	if (clf) {
		r->ranker_weight = o->ranker_weight > 0 ? o->ranker_weight : 0.5;
		r->ranker_pool = nh;
		t_rank = aed_now();
		if ((rc = ranker_rerank(&sv, clf, r->ranker_weight, hits, nh)))
			goto out;
		r->ranker_seconds += aed_now() - t_rank;
		if (nh > k)
			nh = k;
	}
	r->candidates = calloc((size_t)(nh ? nh : 1), sizeof *r->candidates);
	if (!r->candidates) {
		rc = aed_error(AED_ENOMEM, "out of memory");
		goto out;
	}
	for (int i = 0; i < nh; i++) {
		struct aed_mine_candidate *cd = &r->candidates[i];
		sqlite3_stmt *st;
		cd->segment_id = h.segment_ids[hits[i].segment];
		cd->rank = i + 1;
		cd->score = hits[i].score;
		cd->best_time_s = hits[i].patch * AED_PATCH_HOP_S;
		if ((rc = aed_db_prepare(db, "SELECT key FROM segment WHERE id = ?1", &st)))
			goto out;
		sqlite3_bind_int64(st, 1, cd->segment_id);
		cd->key = strdup(sqlite3_step(st) == SQLITE_ROW ? (const char *)sqlite3_column_text(st, 0)
								 : "?");
		sqlite3_finalize(st);
		cd->labels = o->no_record ? strdup("") : labels_of(db, cd->segment_id);
		r->n_candidates = i + 1;
		if (!cd->key || !cd->labels) {
			rc = aed_error(AED_ENOMEM, "out of memory");
			goto out;
		}
	}

	/* 4. record */
	if (o->no_record)
		goto out;
	pj = json_pack("{s:s, s:s, s:i, s:i, s:i, s:i, s:f, s:i, s:I, s:I, s:b, s:s?, s:b, s:i, s:I, s:s, s:i, s:f}",
		       "method", aed_mine_method_name(o->method), "score",
		       aed_mine_score_name(score), "k", k, "clusters", r->sel.n_clusters,
		       "min_exemplars", o->select.min_exemplars, "seed", o->select.seed,
		       "generic_drop", o->select.generic_drop < 0 ? 0.25 : o->select.generic_drop,
		       "share", r->sel.share_needed,
		       "hits_per_query", (json_int_t)r->stats.hits_per_query, "sample",
		       (json_int_t)c.n_sample, "exclude_group", o->exclude_group, "candidates",
		       o->candidates_split, "no_class_exemplars", o->no_class_exemplars,
		       "kept_frames", nq, "index_id", (json_int_t)r->index_id, "factory",
		       h.st.factory, "ranker_rated", r->ranker_rated, "ranker_weight",
		       r->ranker_weight);
	params = pj ? json_dumps(pj, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
	if (!params) {
		rc = aed_error(AED_ENOMEM, "out of memory");
		goto out;
	}
	if ((rc = aed_run_begin(db, "mine", params, &r->run_id)))
		goto out;
	if ((rc = record(db, o, r, params))) {
		char msg[512];
		snprintf(msg, sizeof msg, "%s", aed_last_error());
		aed_run_end(db, r->run_id, AED_RUN_FAILED, 0, 0, msg);
		rc = aed_error(rc, "%s", msg);
		goto out;
	}
	rc = aed_run_end(db, r->run_id, AED_RUN_OK, r->n_candidates, 0, NULL);
out:
	aed_index_handle_release(&h);
	frames_release(&f);
	free(excl);
	free(q);
	free(sample);
	free(generic);
	free(spread);
	free(hits);
	aed_clf_free(&clf);
	json_decref(pj);
	free(params);
	free(mid);
	free(name);
	return rc;
}
