/* mine_exemplars.c - the mine stage's exemplars (mine.h): the ontology's
 * positive examples in the corpus, clips verified for the class, named
 * segments and audio files, and every exemplar's patch embeddings as unit
 * vectors (a file embedded here by the YAMNet patch runner of nn.h). In the
 * path of a clip: the few clips a class is mined from. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "aedcurate/audio.h"
#include "aedcurate/error.h"
#include "aedcurate/mine.h"
#include "aedcurate/nn.h"
#include "aedcurate/class.h"
#include "aedcurate/search.h"
#include "aedcurate/segments.h"
#include "aedcurate/store.h"
#include "stage/mine_internal.h"

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

void mine_frames_release(struct frames *f)
{
	free(f->x);
	free(f->ex);
	free(f->patch);
	memset(f, 0, sizeof *f);
}

static int add_exemplar(struct aed_mine_result *r, int64_t segment_id, const char *source,
			const char *name)
{
	for (int i = 0; i < r->n_exemplars; i++)
		if (segment_id && r->exemplars[i].segment_id == segment_id) {
			/* Named twice, or both verified and named: a clip the user
			 * names is theirs (--exclude-group leaves out its recording). */
			if (!strcmp(source, "user"))
				snprintf(r->exemplars[i].source, sizeof r->exemplars[i].source, "user");
			return AED_OK;
		}
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
int mine_class_exemplars(struct aed_db *db, int64_t class_id, int64_t model_id,
			 struct aed_mine_result *r, int *n_examples_listed)
{
	/* Driven by the class's few rows, never by the corpus: a segment is
	 * found by its key ("{ytid}_{start_ms}", the unique index), a label by
	 * the curated labels' partial index (its condition spelled out, for
	 * SQLite to use it), the embedding checked per row. Joined to the
	 * embedding table instead, SQLite scanned every embedded segment. */
	static const char *const q[2] = {
		"SELECT s.id, s.key FROM class_example ce JOIN segment s ON s.key = ce.ytid || '_' "
		"|| ce.start_ms AND s.ytid = ce.ytid AND s.start_ms = ce.start_ms WHERE ce.class_id "
		"= ?1 AND EXISTS (SELECT 1 FROM embedding e WHERE e.segment_id = s.id AND "
		"e.model_id = ?2) ORDER BY s.id",
		"SELECT DISTINCT s.id, s.key FROM label l JOIN segment s ON s.id = l.segment_id WHERE "
		"l.source IN ('verified', 'review') AND l.source <> 'weak' AND l.class_id IN ("
		AED_CLASS_SUBTREE_SQL ") AND EXISTS (SELECT 1 FROM embedding e WHERE e.segment_id = "
		"s.id AND e.model_id = ?2) AND NOT EXISTS (SELECT 1 FROM review_decision d WHERE "
		"d.segment_id = l.segment_id AND d.class_id IN (l.class_id, ?1) AND d.decision = "
		"'not_present') ORDER BY s.id",
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
int mine_named_exemplar(struct aed_db *db, const char *name, struct aed_mine_result *r)
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
int mine_load_exemplar_frames(struct aed_db *db, const struct aed_mine_opts *o,
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
