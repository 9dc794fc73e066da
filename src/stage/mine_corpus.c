/* mine_corpus.c - the corpus as the mine stage searches it (mine.h): which
 * indexed segments may not be candidates (exemplars, reviewed clips, other
 * splits, the exemplars' recordings), the exact stored vectors a compressed
 * index's hits are re-ranked with, and the corpus sample the z statistics
 * use. In the path of a clip: the indexed embeddings a search may return. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "aedcurate/error.h"
#include "aedcurate/mine.h"
#include "aedcurate/class.h"
#include "aedcurate/search.h"
#include "aedcurate/store.h"
#include "aedcurate/util.h"
#include "stage/mine_internal.h"

static int cmp_segnum(const void *a, const void *b)
{
	int64_t x = ((const struct segnum *)a)->id, y = ((const struct segnum *)b)->id;
	return (x > y) - (x < y);
}

int64_t mine_segnum(const struct segnums *m, int64_t id)
{
	int64_t lo = 0, hi = m->n;
	while (lo < hi) {
		int64_t mid = lo + (hi - lo) / 2;
		if ((m->ids ? m->ids[mid] : m->map[mid].id) < id)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo == m->n)
		return -1;
	if (m->ids)
		return m->ids[lo] == id ? lo : -1;
	return m->map[lo].id == id ? m->map[lo].num : -1;
}

static int mark(struct aed_db *db, const char *sql, int64_t class_id, const char *text,
		const struct segnums *map, unsigned char *excl, unsigned char val)
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
		int64_t s = mine_segnum(map, sqlite3_column_int64(st, 0));
		if (s >= 0)
			excl[s] = val;
	}
	sqlite3_finalize(st);
	return AED_OK;
}

int mine_has_table(struct aed_db *db, const char *name)
{
	char sql[160];
	int64_t n = 0;
	snprintf(sql, sizeof sql, "SELECT count(*) FROM sqlite_master WHERE name = '%s'", name);
	return aed_db_int(db, sql, &n) == AED_OK && n > 0;
}

int mine_segnums_init(const struct aed_index_handle *h, struct segnums *m)
{
	int64_t n = h->n_segments, s = 1;
	memset(m, 0, sizeof *m);
	m->n = n;
	while (s < n && h->segment_ids[s] > h->segment_ids[s - 1])
		s++;
	if (s >= n) {
		m->ids = h->segment_ids;
		return AED_OK;
	}
	if (!(m->map = malloc((size_t)n * sizeof *m->map)))
		return aed_error(AED_ENOMEM, "out of memory");
	for (s = 0; s < n; s++) {
		m->map[s].id = h->segment_ids[s];
		m->map[s].num = s;
	}
	qsort(m->map, (size_t)n, sizeof *m->map, cmp_segnum);
	return AED_OK;
}

void mine_segnums_release(struct segnums *m)
{
	free(m->map);
	memset(m, 0, sizeof *m);
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return (x > y) - (x < y);
}

/* Whether segment id's recording is one of the ng in name; st selects it. */
static int in_groups(struct aed_db *db, sqlite3_stmt *st, int64_t id, char *const *name,
		     int ng, int *yes)
{
	*yes = 0;
	sqlite3_bind_int64(st, 1, id);
	int step = sqlite3_step(st);
	if (step == SQLITE_ROW)
		for (int j = 0; j < ng && !*yes; j++)
			*yes = !strcmp(name[j], (const char *)sqlite3_column_text(st, 0));
	sqlite3_reset(st);
	return step == SQLITE_ROW || step == SQLITE_DONE ? AED_OK : aed_db_error(db, "segment");
}

/* Mark the segments cut from the recordings of the first ne exemplars. The
 * segment table has no index by recording (it would slow the ingest of
 * millions of rows), so the index's map holds a hash of each segment's
 * recording (h->group_hash): the segments whose hash is one of the
 * exemplars' are looked up by id, and marked when the name matches. */
static int exclude_groups(struct aed_db *db, const struct aed_mine_opts *o,
			  const struct aed_index_handle *h, const struct aed_mine_result *r, int ne,
			  unsigned char *excl)
{
	sqlite3_stmt *st = NULL;
	char **name = calloc((size_t)(ne ? ne : 1), sizeof *name);
	uint64_t *hash = calloc((size_t)(ne ? ne : 1), sizeof *hash);
	int ng = 0, rc;

	if (!name || !hash) {
		rc = aed_error(AED_ENOMEM, "out of memory");
		goto out;
	}
	if ((rc = aed_db_prepare(db, "SELECT source_group FROM segment WHERE id = ?1", &st)))
		goto out;
	for (int i = 0; i < ne; i++) {
		if (!r->exemplars[i].segment_id ||
		    (!o->exclude_group_verified && !strcmp(r->exemplars[i].source, "verified")))
			continue;
		sqlite3_bind_int64(st, 1, r->exemplars[i].segment_id);
		if (sqlite3_step(st) == SQLITE_ROW) {
			if (!(name[ng] = strdup((const char *)sqlite3_column_text(st, 0)))) {
				sqlite3_reset(st);
				rc = aed_error(AED_ENOMEM, "out of memory");
				goto out;
			}
			hash[ng] = aed_fnv1a64_str(name[ng]);
			ng++;
		}
		sqlite3_reset(st);
	}
	qsort(hash, (size_t)ng, sizeof *hash, cmp_u64);
	for (int64_t s = 0; s < h->n_segments && ng; s++) {
		int yes;
		if (!bsearch(&h->group_hash[s], hash, (size_t)ng, sizeof *hash, cmp_u64))
			continue;
		if ((rc = in_groups(db, st, h->segment_ids[s], name, ng, &yes)))
			goto out;
		if (yes)
			excl[s] = 1;
	}
out:
	sqlite3_finalize(st);
	for (int j = 0; name && j < ng; j++)
		free(name[j]);
	free(name);
	free(hash);
	return rc;
}

/* Which segments of the index may not be candidates. */
int mine_exclusions(struct aed_db *db, const struct aed_mine_opts *o,
		    const struct aed_index_handle *h, const struct segnums *map,
		    const struct aed_mine_result *r, unsigned char *excl, int64_t *n_excl)
{
	int rc = AED_OK;
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
			       r->class_id, o->candidates_split, map, excl, 0)))
			goto out;
	}
	/* The exemplars themselves. */
	for (int i = 0; i < r->n_exemplars; i++) {
		int64_t s = mine_segnum(map, r->exemplars[i].segment_id);
		if (s >= 0)
			excl[s] = 1;
	}
	/* Clips already reviewed for the class: verified labels of the class or
	 * a descendant (annotators' added labels too), ratings and review
	 * decisions. */
	/* "<> 'weak'" lets SQLite use label_class_curated (a partial index)
	 * instead of reading every label. */
	if ((rc = mark(db, "SELECT segment_id FROM label WHERE source IN ('verified', 'review') "
			   "AND source <> 'weak' AND class_id IN (" AED_CLASS_SUBTREE_SQL ")",
		       r->class_id, NULL, map, excl, 1)))
		goto out;
	if (mine_has_table(db, "rating") &&
	    (rc = mark(db, "SELECT segment_id FROM rating WHERE class_id = ?1", r->class_id, NULL,
		       map, excl, 1)))
		goto out;
	if (mine_has_table(db, "review_decision") &&
	    (rc = mark(db, "SELECT segment_id FROM review_decision WHERE class_id = ?1",
		       r->class_id, NULL, map, excl, 1)))
		goto out;
	if (o->exclude_group) {
		/* Clips cut from the same source recording as an exemplar. A clip
		 * an annotator verified is not a held-out exemplar: more clips of
		 * its recording are what a review round should find, so its
		 * recording stays unless asked (--exclude-group-verified). */
		int ne = o->exclude_group_first > 0 && o->exclude_group_first < r->n_exemplars
				 ? o->exclude_group_first : r->n_exemplars;
		if ((rc = exclude_groups(db, o, h, r, ne, excl)))
			goto out;
	}
	*n_excl = 0;
	for (int64_t s = 0; s < n; s++)
		*n_excl += excl[s];
out:
	return rc;
}

/* --- exact vectors from the array store ------------------------------------ */

/* Rows p0..p0+n-1 of segment number s's stored embedding, normalised as the
 * index build normalised them (aed_l2_normalize on the same floats, a row
 * at a time); only those rows are read. */
int mine_stored_rows(const struct stored *sv, int64_t s, int64_t p0, int64_t n, float *out)
{
	const struct aed_index_handle *h = sv->h;
	int64_t np = h->first_vec[s + 1] - h->first_vec[s];
	struct aed_array a;
	int rc;
	if (p0 < 0 || n <= 0 || p0 + n > np)
		return aed_error(AED_EINTERNAL, "segment %lld: rows %lld..%lld of %lld",
				 (long long)h->segment_ids[s], (long long)p0,
				 (long long)(p0 + n - 1), (long long)np);
	if ((rc = aed_array_reader_rows(sv->rd, h->segment_ids[s], p0, n, &a)))
		return rc;
	if (a.dtype != AED_F32 || a.dims[0] != np || a.dims[1] != h->dim ||
	    a.nbytes != (size_t)n * h->dim * sizeof *out)
		return aed_error(AED_ESTATE, "segment %lld: its embedding no longer matches the "
				 "index; run: aedcurate index build", (long long)h->segment_ids[s]);
	memcpy(out, a.data, a.nbytes);
	aed_l2_normalize(out, n, h->dim);
	return AED_OK;
}

/* aed_mine_corpus.fetch: ids ascending, so each segment is read once, and
 * only the rows from its first id to its last. */
int mine_stored_fetch(void *ctx, int64_t n, const int64_t *ids, float *out)
{
	const struct stored *sv = ctx;
	const struct aed_index_handle *h = sv->h;
	float *seg = NULL;
	int64_t cap = 0;
	int rc = AED_OK;
	for (int64_t i = 0, j; i < n && !rc; i = j) {
		/* The segment holding ids[i]: the last with first_vec <= id. */
		int64_t lo = 0, hi = h->n_segments;
		while (hi - lo > 1) {
			int64_t mid = lo + (hi - lo) / 2;
			if (h->first_vec[mid] <= ids[i])
				lo = mid;
			else
				hi = mid;
		}
		for (j = i + 1; j < n && ids[j] < h->first_vec[lo + 1]; j++)
			;
		int64_t p0 = ids[i] - h->first_vec[lo], nr = ids[j - 1] - ids[i] + 1;
		if (nr > cap) {
			float *t = realloc(seg, (size_t)nr * h->dim * sizeof *t);
			if (!t) {
				rc = aed_error(AED_ENOMEM, "out of memory");
				break;
			}
			seg = t;
			cap = nr;
		}
		if ((rc = mine_stored_rows(sv, lo, p0, nr, seg)))
			break;
		for (int64_t k = i; k < j; k++)
			memcpy(out + k * h->dim, seg + (ids[k] - ids[i]) * h->dim,
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
int mine_corpus_sample(const struct stored *sv, int64_t ns, float *out, int64_t *got)
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
		if ((rc = mine_stored_rows(sv, s, 0, np, out + *got * h->dim)))
			return rc;
		*got += np;
	}
	return AED_OK;
}

/* The sample of a compressed index is also kept beside it (store.h, cache
 * files): the same vectors, for the same index, epoch and size, mapped in
 * one call instead of read from the array store a segment at a time. */
#define SAMPLE_MAGIC "AEDSMPL1"

struct sample_header {
	char magic[8];
	int64_t index_id, run_id, epoch, n_vectors, ns, dim;
};

int mine_corpus_sample_kept(const struct stored *sv, int64_t ns, struct aed_cache *kept,
			    const float **out, float **owned, int64_t *got)
{
	const struct aed_index_handle *h = sv->h;
	struct sample_header hd = { .index_id = h->st.index_id, .run_id = h->st.run_id,
				    .epoch = h->st.epoch, .n_vectors = h->st.n_vectors, .ns = ns,
				    .dim = h->dim };
	size_t nb = (size_t)ns * h->dim * sizeof(float);
	char path[4200];
	int keep = !aed_vindex_exact(h->ix) && h->st.run_id, rc;

	memcpy(hd.magic, SAMPLE_MAGIC, 8);
	snprintf(path, sizeof path, "%.4080s.sample", h->st.path);
	*owned = NULL;
	if (keep && aed_cache_map(path, &hd, sizeof hd, nb, kept)) {
		*out = (const float *)((char *)kept->base + sizeof hd);
		*got = ns;
		return AED_OK;
	}
	if (!(*owned = malloc(nb ? nb : 1)))
		return aed_error(AED_ENOMEM, "out of memory");
	if ((rc = mine_corpus_sample(sv, ns, *owned, got)))
		return rc;
	if (keep && *got == ns) {
		const void *part[] = { *owned };
		aed_cache_write(path, &hd, sizeof hd, 1, part, &nb);
	}
	*out = *owned;
	return AED_OK;
}
