/* index.c - the index stage: a FAISS index over the L2-normalised patch
 * embeddings of one model, built or extended incrementally, with the vector
 * id -> (segment, patch) map in SQLite (sql/0005_mine.sql); and the checks
 * that refuse a stale index before anything searches it. */
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include "aedcurate/error.h"
#include "aedcurate/message.h"
#include "aedcurate/mine.h"
#include "aedcurate/search.h"
#include "aedcurate/store.h"
#include "aedcurate/util.h"
#include "stage/index_internal.h"

#define ADD_BATCH 2048 /* segments read and added at a time */

struct model_row {
	int64_t id;
	char name[64], sha256[65];
	int dim;
};

static const char *col(sqlite3_stmt *st, int i)
{
	const char *s = (const char *)sqlite3_column_text(st, i);
	return s ? s : "";
}

/* The model named `name` (the one with most embeddings among files of that
 * name), or without a name the model most segments were embedded with.
 * Embeddings are counted only when two models compete: a count reads the
 * whole corpus. */
static int find_model(struct aed_db *db, const char *name, struct model_row *m)
{
	sqlite3_stmt *st = NULL;
	int rc;

	memset(m, 0, sizeof *m);
	if ((rc = aed_db_prepare(db,
				 "SELECT m.id, m.name, m.sha256, m.embed_dim, EXISTS (SELECT 1 FROM "
				 "embedding e WHERE e.model_id = m.id) FROM model m WHERE ?1 IS NULL "
				 "OR m.name = ?1 ORDER BY CASE WHEN (SELECT count(*) FROM model x "
				 "WHERE ?1 IS NULL OR x.name = ?1) > 1 THEN (SELECT count(*) FROM "
				 "embedding e WHERE e.model_id = m.id) END DESC, m.id DESC LIMIT 1",
				 &st)))
		return rc;
	if (name)
		sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
	if (sqlite3_step(st) != SQLITE_ROW || (!name && sqlite3_column_int64(st, 4) == 0)) {
		if (name)
			rc = aed_error(AED_ENOTFOUND, "no model named '%s' in the database (models "
				       "are recorded by `aedcurate embed`)", name);
		else
			rc = aed_error(AED_ENOTFOUND, "the corpus is empty: no segment has "
				       "embeddings yet (run `aedcurate embed` first)");
		goto out;
	}
	m->id = sqlite3_column_int64(st, 0);
	snprintf(m->name, sizeof m->name, "%s", col(st, 1));
	snprintf(m->sha256, sizeof m->sha256, "%s", col(st, 2));
	m->dim = sqlite3_column_int(st, 3);
	if (sqlite3_column_int64(st, 4) == 0)
		rc = aed_error(AED_ENOTFOUND, "the corpus is empty: no segment has embeddings of "
			       "model '%s' (run `aedcurate embed` first)", m->name);
out:
	sqlite3_finalize(st);
	return rc;
}

/* Fill st from the newest vec_index row of the model; AED_ENOTFOUND if none. */
static int load_index_row(struct aed_db *db, const struct model_row *m,
			  struct aed_index_status *s)
{
	sqlite3_stmt *st = NULL;
	int rc;

	memset(s, 0, sizeof *s);
	if ((rc = aed_db_prepare(db,
				 "SELECT id, path, factory, model_sha256, n_vectors, n_segments, "
				 "coalesce(nprobe, 0), coalesce(created_at, ''), coalesce(updated_at, "
				 "''), coalesce(run_id, 0), (SELECT value FROM index_epoch WHERE id = "
				 "1), checked_epoch, coalesce(checked_pending, 0) FROM vec_index WHERE "
				 "model_sha256 = ?1 ORDER BY id DESC LIMIT 1",
				 &st)))
		return rc;
	sqlite3_bind_text(st, 1, m->sha256, -1, SQLITE_STATIC);
	if (sqlite3_step(st) != SQLITE_ROW) {
		rc = AED_ENOTFOUND;
		goto out;
	}
	s->index_id = sqlite3_column_int64(st, 0);
	snprintf(s->path, sizeof s->path, "%s", col(st, 1));
	snprintf(s->factory, sizeof s->factory, "%s", col(st, 2));
	snprintf(s->model_sha256, sizeof s->model_sha256, "%s", col(st, 3));
	snprintf(s->model_name, sizeof s->model_name, "%s", m->name);
	s->n_vectors = sqlite3_column_int64(st, 4);
	s->n_segments = sqlite3_column_int64(st, 5);
	s->nprobe = sqlite3_column_int(st, 6);
	snprintf(s->created_at, sizeof s->created_at, "%s", col(st, 7));
	snprintf(s->updated_at, sizeof s->updated_at, "%s", col(st, 8));
	s->run_id = sqlite3_column_int64(st, 9);
	s->epoch = sqlite3_column_int64(st, 10);
	s->checks_recorded = sqlite3_column_type(st, 11) != SQLITE_NULL &&
			     sqlite3_column_int64(st, 11) == s->epoch;
	s->pending_segments = s->checks_recorded ? sqlite3_column_int64(st, 12) : 0;
out:
	sqlite3_finalize(st);
	return rc;
}

/* Why the index cannot be used as it is ("" when it can). With the checks
 * recorded (s->checks_recorded), only its file is looked at. */
static int stale_reason(struct aed_db *db, const struct model_row *m,
			const struct aed_index_status *s, char *why, size_t n)
{
	sqlite3_stmt *st = NULL;
	int rc;

	*why = 0;
	if (access(s->path, R_OK)) {
		snprintf(why, n, "its file %.300s is missing (%s)", s->path, strerror(errno));
		return AED_OK;
	}
	if (s->checks_recorded)
		return AED_OK;
	/* Segments it holds whose embedding changed or is gone. */
	if ((rc = aed_db_prepare(db,
				 "SELECT v.segment_id, e.model_id, e.run_id, v.array_run_id FROM "
				 "vec_segment v LEFT JOIN embedding e ON e.segment_id = v.segment_id "
				 "WHERE v.index_id = ?1 AND (e.segment_id IS NULL OR e.model_id <> ?2 "
				 "OR e.run_id IS NOT v.array_run_id) LIMIT 1",
				 &st)))
		return rc;
	sqlite3_bind_int64(st, 1, s->index_id);
	sqlite3_bind_int64(st, 2, m->id);
	if (sqlite3_step(st) == SQLITE_ROW) {
		if (sqlite3_column_type(st, 1) == SQLITE_NULL)
			snprintf(why, n, "segment %lld it holds has no embedding any more",
				 (long long)sqlite3_column_int64(st, 0));
		else if (sqlite3_column_int64(st, 1) != m->id)
			snprintf(why, n, "segment %lld it holds was re-embedded with another model",
				 (long long)sqlite3_column_int64(st, 0));
		else
			snprintf(why, n, "segment %lld it holds was re-embedded (run %lld, the index "
				 "has run %lld)", (long long)sqlite3_column_int64(st, 0),
				 (long long)sqlite3_column_int64(st, 2),
				 (long long)sqlite3_column_int64(st, 3));
	}
	sqlite3_finalize(st);
	return AED_OK;
}

static int count_pending(struct aed_db *db, int64_t model_id, int64_t index_id, int64_t *n)
{
	sqlite3_stmt *st = NULL;
	int rc;
	if ((rc = aed_db_prepare(db,
				 "SELECT count(*) FROM embedding e WHERE e.model_id = ?1 AND "
				 "e.n_patches > 0 AND NOT EXISTS (SELECT 1 FROM vec_segment v WHERE "
				 "v.index_id = ?2 AND v.segment_id = e.segment_id)",
				 &st)))
		return rc;
	sqlite3_bind_int64(st, 1, model_id);
	sqlite3_bind_int64(st, 2, index_id);
	*n = sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
	sqlite3_finalize(st);
	return AED_OK;
}

/* The newest index of any other model, for the "built from another model"
 * message. */
static void other_model_index(struct aed_db *db, const struct model_row *m, char *buf, size_t n)
{
	sqlite3_stmt *st = NULL;
	*buf = 0;
	if (aed_db_prepare(db,
			   "SELECT v.id, v.model_sha256, coalesce(v.model_name, '?') FROM vec_index v "
			   "WHERE v.model_sha256 <> ?1 ORDER BY v.id DESC LIMIT 1",
			   &st))
		return;
	sqlite3_bind_text(st, 1, m->sha256, -1, SQLITE_STATIC);
	if (sqlite3_step(st) == SQLITE_ROW)
		snprintf(buf, n, "index %lld was built from another model (%s, sha256 %.12s...)",
			 (long long)sqlite3_column_int64(st, 0), col(st, 2), col(st, 1));
	sqlite3_finalize(st);
}

/* The status of model's index, and the model. Counting the pending
 * segments and checking for re-embedded ones read the whole corpus; while
 * index_epoch has not moved since index build last did both (no embedding
 * written or removed, no recording changed: sql/0015_index_check.sql), what
 * it found then stands. */
static int status_of(struct aed_db *db, const char *model, struct aed_index_status *s,
		     struct model_row *m)
{
	char why[512];
	int rc;

	memset(s, 0, sizeof *s);
	if ((rc = find_model(db, model, m)))
		return rc;
	rc = load_index_row(db, m, s);
	if (rc == AED_ENOTFOUND) {
		char other[256];
		other_model_index(db, m, other, sizeof other);
		if (*other)
			return aed_error(AED_ESTATE, "%s, but the embeddings are from %s (sha256 "
					 "%.12s...); rebuild it: aedcurate index build", other, m->name,
					 m->sha256);
		return aed_error(AED_ENOTFOUND, "no vector index for model %s (sha256 %.12s...); "
				 "run: aedcurate index build", m->name, m->sha256);
	}
	if (rc)
		return rc;
	snprintf(s->model_name, sizeof s->model_name, "%s", m->name);
	if (!s->checks_recorded &&
	    (rc = count_pending(db, m->id, s->index_id, &s->pending_segments)))
		return rc;
	if ((rc = stale_reason(db, m, s, why, sizeof why)))
		return rc;
	if (*why)
		return aed_error(AED_ESTATE, "vector index %lld (%s) is stale: %s; run: aedcurate "
				 "index build", (long long)s->index_id, s->path, why);
	return AED_OK;
}

int aed_index_status(struct aed_db *db, const char *model, struct aed_index_status *s)
{
	struct model_row m;
	return status_of(db, model, s, &m);
}

void aed_index_handle_release(struct aed_index_handle *h)
{
	aed_vindex_free(&h->ix);
	if (h->map.base)
		aed_cache_unmap(&h->map);
	else {
		free(h->segment_ids);
		free(h->first_vec);
		free(h->group_hash);
	}
	memset(h, 0, sizeof *h);
}

int aed_index_open(struct aed_db *db, const char *model, struct aed_index_handle *h)
{
	struct model_row m;
	int rc;

	memset(h, 0, sizeof *h);
	/* The row, its checks and its map read in one transaction: a build
	 * that commits meanwhile cannot pair one build's row with another's
	 * map. */
	int tx = sqlite3_get_autocommit(aed_db_sqlite(db));
	if (tx && (rc = aed_db_exec(db, "BEGIN")))
		return rc;
	if ((rc = status_of(db, model, &h->st, &m)))
		goto out;
	h->model_id = m.id;
	h->dim = m.dim;
	/* Mapped: a search pages in the lists it probes, not the whole file. */
	if ((rc = aed_vindex_read_mapped(h->st.path, &h->ix)))
		goto out;
	if (aed_vindex_ntotal(h->ix) != h->st.n_vectors || aed_vindex_dim(h->ix) != m.dim) {
		rc = aed_error(AED_ESTATE, "vector index %lld is stale: %s holds %lld vectors of "
			       "dimension %d, the database says %lld of %d; run: aedcurate index "
			       "build", (long long)h->st.index_id, h->st.path,
			       (long long)aed_vindex_ntotal(h->ix), aed_vindex_dim(h->ix),
			       (long long)h->st.n_vectors, m.dim);
		goto out;
	}
	if (h->st.nprobe > 0 && (rc = aed_vindex_set_nprobe(h->ix, h->st.nprobe)))
		goto out;
	if (!index_map_load(h)) {
		if ((rc = index_map_alloc(h)) || (rc = index_map_read_rows(db, h)))
			goto out;
		index_map_store(h);
	}
out:
	if (tx && !rc)
		rc = aed_db_exec(db, "COMMIT");
	if (tx && rc)
		aed_db_rollback(db);
	if (rc)
		aed_index_handle_release(h);
	return rc;
}

/* --- build ------------------------------------------------------------------ */

struct seg_emb {
	int64_t segment_id, run_id;
	int64_t n_patches;
};

/* Embeddings of the model not yet in the index (all of them when index_id 0). */
static int list_new(struct aed_db *db, int64_t model_id, int64_t index_id, struct seg_emb **out,
		    int64_t *n)
{
	sqlite3_stmt *st = NULL;
	struct seg_emb *v = NULL;
	int64_t cap = 0;
	int rc;

	*out = NULL;
	*n = 0;
	if ((rc = aed_db_prepare(db,
				 "SELECT e.segment_id, e.run_id, e.n_patches FROM embedding e WHERE "
				 "e.model_id = ?1 AND e.n_patches > 0 AND NOT EXISTS (SELECT 1 FROM "
				 "vec_segment v WHERE v.index_id = ?2 AND v.segment_id = e.segment_id) "
				 "ORDER BY e.segment_id",
				 &st)))
		return rc;
	sqlite3_bind_int64(st, 1, model_id);
	sqlite3_bind_int64(st, 2, index_id);
	while (sqlite3_step(st) == SQLITE_ROW) {
		if (*n == cap) {
			cap = cap ? cap * 2 : 1024;
			struct seg_emb *t = realloc(v, (size_t)cap * sizeof *v);
			if (!t) {
				rc = aed_error(AED_ENOMEM, "out of memory");
				goto out;
			}
			v = t;
		}
		v[*n].segment_id = sqlite3_column_int64(st, 0);
		v[*n].run_id = sqlite3_column_int64(st, 1);
		v[*n].n_patches = sqlite3_column_int64(st, 2);
		(*n)++;
	}
out:
	sqlite3_finalize(st);
	if (rc)
		free(v);
	else
		*out = v;
	return rc;
}

/* The normalised embedding of one segment: [n_patches][dim]. */
static int read_embedding(struct aed_db *db, const struct seg_emb *s, int dim, float *dst)
{
	struct aed_array a;
	int rc = aed_array_get(db, "embedding", s->segment_id, &a);
	if (rc)
		return rc;
	if (a.dtype != AED_F32 || a.dims[0] != s->n_patches || a.dims[1] != dim || a.dims[2] != 1) {
		rc = aed_error(AED_EFORMAT, "segment %lld: embedding array is %s [%lld, %lld, %lld], "
			       "expected f32 [%lld, %d]", (long long)s->segment_id,
			       aed_dtype_name(a.dtype), (long long)a.dims[0], (long long)a.dims[1],
			       (long long)a.dims[2], (long long)s->n_patches, dim);
		aed_array_release(&a);
		return rc;
	}
	memcpy(dst, a.data, a.nbytes);
	aed_array_release(&a);
	aed_l2_normalize(dst, s->n_patches, dim);
	return AED_OK;
}

/* Training sample for an IVF index: whole segments spread evenly over the
 * list until `want` vectors. */
static int train_index(struct aed_db *db, struct aed_vindex *ix, const struct seg_emb *v,
		       int64_t n, int dim, int64_t want)
{
	int64_t total = 0;
	for (int64_t i = 0; i < n; i++)
		total += v[i].n_patches;
	if (want > total)
		want = total;
	float *x = malloc((size_t)(want + 4096) * dim * sizeof *x);
	int rc = AED_OK;
	if (!x)
		return aed_error(AED_ENOMEM, "out of memory (%lld training vectors)", (long long)want);
	int64_t got = 0, stride = want > 0 && total / want > 1 ? total / want : 1;
	for (int64_t i = 0; i < n && got < want; i += stride) {
		if (got + v[i].n_patches > want + 4096)
			continue; /* a segment longer than the slack left */
		if ((rc = read_embedding(db, &v[i], dim, x + got * dim)))
			goto out;
		got += v[i].n_patches;
	}
	aed_info("index: training on %lld vectors", (long long)got);
	rc = aed_vindex_train(ix, got, x);
out:
	free(x);
	return rc;
}

static int index_path(struct aed_db *db, const struct model_row *m, const char *given,
		      char out[4096])
{
	if (given) {
		char dir[4096];
		snprintf(dir, sizeof dir, "%.4000s", given);
		char *slash = strrchr(dir, '/');
		if (slash) {
			*slash = 0;
			if (*dir && aed_mkdir_p(dir))
				return aed_error(AED_EIO, "%s: cannot create the folder", dir);
		}
		if (*given != '/') {
			char cwd[2048];
			if (!getcwd(cwd, sizeof cwd))
				return aed_error(AED_EIO, "getcwd: %s", strerror(errno));
			snprintf(out, 4096, "%.2000s/%.2000s", cwd, given);
		} else
			snprintf(out, 4096, "%s", given);
		return AED_OK;
	}
	char dir[8192], abs[PATH_MAX];
	snprintf(dir, sizeof dir, "%s.index", aed_db_path(db));
	if (aed_mkdir_p(dir))
		return aed_error(AED_EIO, "%s: cannot create the folder", dir);
	if (!realpath(dir, abs))
		return aed_error(AED_EIO, "%s: %s", dir, strerror(errno));
	snprintf(out, 4096, "%.3900s/%.60s-%.8s.faiss", abs, m->name, m->sha256);
	return AED_OK;
}

static int record_segments(struct aed_db *db, int64_t index_id, const struct seg_emb *v,
			   int64_t n, int64_t first)
{
	sqlite3_stmt *vs = NULL, *vm = NULL;
	int rc;
	if ((rc = aed_db_prepare(db,
				 "INSERT INTO vec_segment(index_id, segment_id, array_run_id, "
				 "first_vec, n_patches) VALUES (?1, ?2, ?3, ?4, ?5)",
				 &vs)) ||
	    (rc = aed_db_prepare(db,
				 "INSERT INTO vec_map(index_id, vec_id, segment_id, patch) VALUES "
				 "(?1, ?2, ?3, ?4)",
				 &vm)))
		goto out;
	for (int64_t i = 0; i < n; i++) {
		sqlite3_bind_int64(vs, 1, index_id);
		sqlite3_bind_int64(vs, 2, v[i].segment_id);
		sqlite3_bind_int64(vs, 3, v[i].run_id);
		sqlite3_bind_int64(vs, 4, first);
		sqlite3_bind_int64(vs, 5, v[i].n_patches);
		if (sqlite3_step(vs) != SQLITE_DONE) {
			rc = aed_db_error(db, "vec_segment");
			goto out;
		}
		sqlite3_reset(vs);
		for (int64_t p = 0; p < v[i].n_patches; p++) {
			sqlite3_bind_int64(vm, 1, index_id);
			sqlite3_bind_int64(vm, 2, first + p);
			sqlite3_bind_int64(vm, 3, v[i].segment_id);
			sqlite3_bind_int64(vm, 4, p);
			if (sqlite3_step(vm) != SQLITE_DONE) {
				rc = aed_db_error(db, "vec_map");
				goto out;
			}
			sqlite3_reset(vm);
		}
		first += v[i].n_patches;
	}
out:
	sqlite3_finalize(vs);
	sqlite3_finalize(vm);
	return rc;
}

/* Builds of one database's indexes take turns: two at once would both see
 * no index and insert two rows, or both add the same new segments (and both
 * write the same file). An exclusive flock on <db>.index/build.lock, held
 * for the whole build and dropped by the kernel if the process dies. */
static int lock_builds(struct aed_db *db, int *fd_out)
{
	char path[8192];
	int fd;

	*fd_out = -1;
	snprintf(path, sizeof path, "%s.index", aed_db_path(db));
	if (aed_mkdir_p(path))
		return aed_error(AED_EIO, "%s: cannot create the folder", path);
	snprintf(path, sizeof path, "%s.index/build.lock", aed_db_path(db));
	if ((fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644)) < 0)
		return aed_error(AED_EIO, "%s: %s", path, strerror(errno));
	if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
		if (errno != EWOULDBLOCK) {
			close(fd);
			return aed_error(AED_EIO, "%s: lock: %s", path, strerror(errno));
		}
		aed_info("index: another index build of this database is running; waiting for it "
			 "to finish");
		while (flock(fd, LOCK_EX) != 0)
			if (errno != EINTR) {
				close(fd);
				return aed_error(AED_EIO, "%s: lock: %s", path, strerror(errno));
			}
	}
	*fd_out = fd;
	return AED_OK;
}

static int build_locked(struct aed_db *db, const struct aed_index_build_opts *o,
			struct aed_index_build_result *r);

int aed_index_build(struct aed_db *db, const struct aed_index_build_opts *o,
		    struct aed_index_build_result *r)
{
	int fd, rc;

	memset(r, 0, sizeof *r);
	if ((rc = lock_builds(db, &fd)))
		return rc;
	rc = build_locked(db, o, r);
	close(fd); /* drops the lock */
	return rc;
}

/* Why the index of model m must be built afresh (why left empty: new
 * segments are added to it, and *ix is the index read from its file). */
static int rebuild_reason(struct aed_db *db, const struct aed_index_build_opts *o,
			  const struct model_row *m, const struct aed_index_status *old,
			  int auto_factory, int64_t exact_max, char *why, size_t whysz,
			  struct aed_vindex **ix, int *outgrew)
{
	int rc;

	if ((rc = stale_reason(db, m, old, why, whysz)))
		return rc;
	/* With auto: the factory the corpus calls for once its pending
	 * segments are added. */
	char want[AED_VINDEX_FACTORY_MAX] = "";
	if (auto_factory) {
		int64_t pending;
		if ((rc = count_pending(db, m->id, old->index_id, &pending)))
			return rc;
		aed_vindex_auto_factory_at(old->n_vectors + pending * (old->n_segments ?
					   old->n_vectors / old->n_segments : 1), exact_max, want);
	}
	if (auto_factory && o->exact_max <= 0 && !strcmp(old->factory, "Flat") && strcmp(want, "Flat")) {
		/* Grown past what an exact index should search: switch to IVF,
		 * whatever else calls for the rebuild (--rebuild, a stale index).
		 * A threshold given (--exact-below) is handled below. */
		if (!*why)
			snprintf(why, whysz, "the corpus outgrew an exact index (%s now)", want);
		*outgrew = 1;
	}
	if (!*why && o->rebuild)
		snprintf(why, whysz, "--rebuild");
	if (!*why && !auto_factory && strcmp(o->factory, old->factory))
		snprintf(why, whysz, "factory changes from %s to %s", old->factory,
			 o->factory);
	if (!*why) {
		/* Mapped: enough to count its vectors; build_locked reads it
		 * whole only when there is something to add. */
		if ((rc = aed_vindex_read_mapped(old->path, ix)))
			return rc;
		if (aed_vindex_ntotal(*ix) != old->n_vectors)
			snprintf(why, whysz, "its file holds %lld vectors, the database "
				 "%lld", (long long)aed_vindex_ntotal(*ix),
				 (long long)old->n_vectors);
	}
	if (!*why && auto_factory && o->exact_max > 0 && strcmp(want, old->factory)) {
		/* A threshold given: the factory is chosen again for the corpus. */
		snprintf(why, whysz, "factory changes from %s to %s (--exact-below %lld)",
			 old->factory, want, (long long)exact_max);
		*outgrew = 1;
	}
	if (*why)
		aed_vindex_free(ix);
	return AED_OK;
}

/* Read, normalise and add the segments' patch vectors in batches. */
static int add_vectors(struct aed_db *db, struct aed_vindex *ix, struct seg_emb *v, int64_t nv,
		       int dim)
{
	float *x = NULL;
	int rc = AED_OK;
	struct aed_progress *pr = aed_progress_new("index", nv);
	for (int64_t i0 = 0; i0 < nv; i0 += ADD_BATCH) {
		int64_t i1 = i0 + ADD_BATCH < nv ? i0 + ADD_BATCH : nv, nb = 0;
		for (int64_t i = i0; i < i1; i++)
			nb += v[i].n_patches;
		free(x);
		x = malloc((size_t)(nb ? nb : 1) * dim * sizeof *x);
		if (!x) {
			rc = aed_error(AED_ENOMEM, "out of memory");
			break;
		}
		int64_t off = 0;
		for (int64_t i = i0; i < i1 && !rc; i++) {
			rc = read_embedding(db, &v[i], dim, x + off * dim);
			off += v[i].n_patches;
		}
		if (rc || (rc = aed_vindex_add(ix, nb, x)))
			break;
		aed_progress_add(pr, i1 - i0);
	}
	aed_progress_free(&pr);
	free(x);
	return rc;
}

/* Inside the caller's transaction: the vec_index row (new, or updated for a
 * rebuild or an add), the vectors' map and the counts. */
static int store_index(struct aed_db *db, const struct aed_index_build_result *r,
		       const struct model_row *mr, const char *factory, int nprobe, int64_t run_id,
		       int have_old, int64_t *index_idp, struct seg_emb *v, int64_t nv,
		       int64_t first)
{
	const struct model_row m = *mr;
	int64_t index_id = *index_idp;
	char now[32];
	int rc;

	aed_utc_iso8601(now);
	sqlite3_stmt *st = NULL;
	if (r->rebuilt && have_old) {
		char sql[160];
		snprintf(sql, sizeof sql, "DELETE FROM vec_map WHERE index_id = %lld; DELETE FROM "
			 "vec_segment WHERE index_id = %lld", (long long)index_id, (long long)index_id);
		if ((rc = aed_db_exec(db, sql)))
			return rc;
	}
	if (!have_old) {
		if ((rc = aed_db_prepare(db,
					 "INSERT INTO vec_index(path, factory, model_sha256, model_name, "
					 "dim, n_vectors, n_segments, nprobe, created_at, updated_at, "
					 "run_id) VALUES (?1, ?2, ?3, ?4, ?5, 0, 0, ?6, ?7, ?7, ?8)",
					 &st)))
			return rc;
	} else {
		if ((rc = aed_db_prepare(db,
					 "UPDATE vec_index SET path = ?1, factory = ?2, model_sha256 = ?3, "
					 "model_name = ?4, dim = ?5, nprobe = ?6, updated_at = ?7, run_id = "
					 "?8, created_at = CASE WHEN ?10 THEN ?7 ELSE created_at END WHERE "
					 "id = ?9",
					 &st)))
			return rc;
		sqlite3_bind_int64(st, 9, index_id);
		sqlite3_bind_int(st, 10, r->rebuilt);
	}
	sqlite3_bind_text(st, 1, r->path, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, factory, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, m.sha256, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 4, m.name, -1, SQLITE_STATIC);
	sqlite3_bind_int(st, 5, m.dim);
	if (nprobe > 0)
		sqlite3_bind_int(st, 6, nprobe);
	sqlite3_bind_text(st, 7, now, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 8, run_id);
	if (sqlite3_step(st) != SQLITE_DONE) {
		sqlite3_finalize(st);
		rc = aed_db_error(db, "vec_index");
		return rc;
	}
	sqlite3_finalize(st);
	if (!have_old)
		index_id = sqlite3_last_insert_rowid(aed_db_sqlite(db));
	if ((rc = record_segments(db, index_id, v, nv, first)))
		return rc;
	char sql[256];
	snprintf(sql, sizeof sql, "UPDATE vec_index SET n_vectors = (SELECT count(*) FROM vec_map "
		 "WHERE index_id = %lld), n_segments = (SELECT count(*) FROM vec_segment WHERE "
		 "index_id = %lld) WHERE id = %lld", (long long)index_id, (long long)index_id,
		 (long long)index_id);
	if ((rc = aed_db_exec(db, sql)))
		return rc;
	*index_idp = index_id;
	return AED_OK;
}

/* The factory string and file of the index being built: a rebuild keeps
 * them unless told otherwise; an add uses the existing index's. old is NULL
 * for a model's first index. */
static int choose_factory(struct aed_db *db, const struct aed_index_build_opts *o,
			  const struct model_row *m, const struct aed_index_status *old,
			  int auto_factory, int outgrew, int64_t exact_max, int64_t total_new,
			  struct aed_index_build_result *r, char *factory)
{
	int rc;

	if (r->rebuilt) {
		/* A rebuild keeps the index's factory unless told otherwise, or
		 * unless "auto" moves a grown corpus from exact to IVF. */
		if (auto_factory && old && !outgrew && o->exact_max <= 0)
			snprintf(factory, AED_VINDEX_FACTORY_MAX, "%.*s", AED_VINDEX_FACTORY_MAX - 1, old->factory);
		else if (auto_factory)
			aed_vindex_auto_factory_at(total_new, exact_max, factory);
		else
			snprintf(factory, AED_VINDEX_FACTORY_MAX, "%s", o->factory);
		if ((rc = index_path(db, m, old && !o->path ? old->path : o->path, r->path)))
			return rc;
	} else {
		snprintf(factory, AED_VINDEX_FACTORY_MAX, "%s", old->factory);
		if (o->path && strcmp(o->path, old->path))
			aed_warn("index: the index of model %s is %s; --path ignored for an "
				 "incremental add (use --rebuild to move it)", m->name, old->path);
		snprintf(r->path, sizeof r->path, "%s", old->path);
	}
	return AED_OK;
}

/* Inside the caller's write transaction: count the pending segments and
 * check for re-embedded ones once more, and when the index is current,
 * record what was found with the index_epoch value it holds for (status_of
 * trusts it until the epoch moves). */
static int record_checks(struct aed_db *db, const struct model_row *m, int64_t index_id)
{
	struct aed_index_status s;
	char why[512], sql[256];
	int64_t pending = 0;
	int rc;

	if ((rc = load_index_row(db, m, &s)))
		return rc;
	s.checks_recorded = 0;
	if ((rc = count_pending(db, m->id, index_id, &pending)) ||
	    (rc = stale_reason(db, m, &s, why, sizeof why)))
		return rc;
	snprintf(sql, sizeof sql, "UPDATE vec_index SET checked_epoch = %s, checked_pending = "
		 "%lld WHERE id = %lld", *why ? "NULL" : "(SELECT value FROM index_epoch)",
		 (long long)pending, (long long)index_id);
	return aed_db_exec(db, sql);
}

/* The segment map file of the model's newest index, written afresh from
 * vec_segment, so that the first open after a build is as quick as the
 * next. A failure is left to that open. */
static void segmap_refresh(struct aed_db *db, const struct model_row *m)
{
	struct aed_index_handle h;
	memset(&h, 0, sizeof h);
	if (load_index_row(db, m, &h.st) == AED_OK && index_map_alloc(&h) == AED_OK &&
	    index_map_read_rows(db, &h) == AED_OK)
		index_map_store(&h);
	aed_index_handle_release(&h);
}

static int build_locked(struct aed_db *db, const struct aed_index_build_opts *o,
			struct aed_index_build_result *r)
{
	struct model_row m;
	struct aed_index_status old;
	struct aed_vindex *ix = NULL;
	struct seg_emb *v = NULL;
	int64_t nv = 0, run_id = 0, index_id = 0;
	char why[512] = "", factory[AED_VINDEX_FACTORY_MAX], sql[128];
	int rc, have_old = 0, in_tx = 0, outgrew = 0;
	double t0 = aed_now();

	memset(r, 0, sizeof *r);
	if ((rc = find_model(db, o->model, &m)))
		return rc;
	if (m.dim <= 0)
		return aed_error(AED_EFORMAT, "model %s: embedding dimension %d", m.name, m.dim);
	rc = load_index_row(db, &m, &old);
	if (rc && rc != AED_ENOTFOUND)
		return rc;
	have_old = rc == AED_OK;
	int auto_factory = !o->factory || !strcmp(o->factory, "auto");
	int64_t exact_max = o->exact_max > 0 ? o->exact_max : AED_VINDEX_AUTO_EXACT_MAX;

	/* Incremental add, or a fresh build and why. */
	if (have_old) {
		index_id = old.index_id;
		if ((rc = rebuild_reason(db, o, &m, &old, auto_factory, exact_max, why, sizeof why,
					 &ix, &outgrew)))
			goto out;
	} else
		snprintf(why, sizeof why, "first index of model %s", m.name);
	r->rebuilt = *why != 0;
	snprintf(r->rebuild_reason, sizeof r->rebuild_reason, "%.250s", why);

	if ((rc = list_new(db, m.id, r->rebuilt ? 0 : index_id, &v, &nv)))
		goto out;
	int64_t total_new = 0;
	for (int64_t i = 0; i < nv; i++)
		total_new += v[i].n_patches;
	if ((rc = choose_factory(db, o, &m, have_old ? &old : NULL, auto_factory, outgrew, exact_max,
				 total_new, r, factory)))
		goto out;
	snprintf(r->factory, sizeof r->factory, "%s", factory);
	snprintf(r->model_sha256, sizeof r->model_sha256, "%s", m.sha256);

	if ((rc = aed_run_begin(db, "index",
				json_pack("{s:o, s:s, s:s, s:b, s:o}", "model",
					  aed_json_text(m.name), "sha256", m.sha256, "factory",
					  factory, "rebuild", r->rebuilt,
					  "path", aed_json_text(r->path)),
				&run_id)))
		goto out;

	if (r->rebuilt) {
		if ((rc = aed_vindex_new(factory, m.dim, &ix)))
			goto out;
		if (!aed_vindex_is_trained(ix)) {
			int64_t want = aed_vindex_train_size(aed_vindex_nlist(ix) ? aed_vindex_nlist(ix)
						    : 1024);
			/* A PCA wants many more vectors than dimensions. */
			if (!aed_vindex_exact(ix) && want < 16 * (int64_t)m.dim)
				want = 16 * (int64_t)m.dim;
			if ((rc = train_index(db, ix, v, nv, m.dim, want)))
				goto out;
		}
	}

	int64_t first = r->rebuilt ? 0 : old.n_vectors;
	if (!r->rebuilt && nv > 0) {
		aed_vindex_free(&ix);
		if ((rc = aed_vindex_read(r->path, &ix)))
			goto out;
		if (aed_vindex_ntotal(ix) != old.n_vectors) {
			rc = aed_error(AED_ESTATE, "%s changed while index build read it; run "
				       "index build again", r->path);
			goto out;
		}
	}
	if ((rc = add_vectors(db, ix, v, nv, m.dim)))
		goto out;
	if (nv == 0 && !r->rebuilt) {
		/* Nothing new: the index is current. An index built before
		 * checks were recorded (or with no-patch embeddings pending)
		 * records them now. */
		if (!old.checks_recorded) {
			if ((rc = aed_db_begin(db)))
				goto out;
			in_tx = 1;
			if ((rc = record_checks(db, &m, index_id)) || (rc = aed_db_commit(db)))
				goto out;
			in_tx = 0;
			segmap_refresh(db, &m);
		}
		r->index_id = index_id;
		r->n_vectors = old.n_vectors;
		r->n_segments = old.n_segments;
		aed_run_end(db, run_id, AED_RUN_OK, 0, 0, "index is up to date");
		run_id = 0;
		goto out;
	}
	if (nv == 0) {
		rc = aed_error(AED_ENOTFOUND, "the corpus is empty: no segment has embeddings of "
			       "model %s with at least one patch", m.name);
		goto out;
	}
	int nprobe = o->nprobe > 0 ? o->nprobe
		     : aed_vindex_nlist(ix) ? aed_vindex_default_nprobe(aed_vindex_nlist(ix)) : 0;
	if ((rc = aed_vindex_write(ix, r->path)))
		goto out;

	/* The file is in place; the map commits with the row. A crash between
	 * the two leaves a file whose size disagrees with the row: rebuilt. */
	if ((rc = aed_db_begin(db)))
		goto out;
	in_tx = 1;
	if ((rc = store_index(db, r, &m, factory, nprobe, run_id, have_old, &index_id, v, nv,
			      first)) ||
	    (rc = record_checks(db, &m, index_id)) || (rc = aed_db_commit(db)))
		goto out;
	in_tx = 0;
	segmap_refresh(db, &m);
	r->index_id = index_id;
	r->n_vectors = aed_vindex_ntotal(ix);
	r->added_vectors = total_new;
	r->added_segments = nv;
	snprintf(sql, sizeof sql, "SELECT n_segments FROM vec_index WHERE id = %lld",
		 (long long)index_id);
	aed_db_int(db, sql, &r->n_segments);
	aed_run_end(db, run_id, AED_RUN_OK, nv, 0, NULL);
	run_id = 0;
out:
	if (in_tx)
		aed_db_rollback(db);
	if (run_id)
		aed_run_fail(db, run_id, rc, 0, 0);
	r->seconds = aed_now() - t0;
	free(v);
	aed_vindex_free(&ix);
	return rc;
}
