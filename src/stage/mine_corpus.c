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
#include "stage/mine_internal.h"

static int cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
	return (x > y) - (x < y);
}

int mine_cmp_segnum(const void *a, const void *b)
{
	return cmp_i64(&((const struct segnum *)a)->id, &((const struct segnum *)b)->id);
}

int64_t mine_lookup_num(const struct segnum *m, int64_t n, int64_t id)
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
		int64_t s = mine_lookup_num(map, n, sqlite3_column_int64(st, 0));
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

int mine_segnum_map(const struct aed_index_handle *h, struct segnum **out)
{
	struct segnum *map = malloc((size_t)(h->n_segments ? h->n_segments : 1) * sizeof *map);
	*out = NULL;
	if (!map)
		return aed_error(AED_ENOMEM, "out of memory");
	for (int64_t s = 0; s < h->n_segments; s++) {
		map[s].id = h->segment_ids[s];
		map[s].num = s;
	}
	qsort(map, (size_t)h->n_segments, sizeof *map, mine_cmp_segnum);
	*out = map;
	return AED_OK;
}

/* Which segments of the index may not be candidates. */
int mine_exclusions(struct aed_db *db, const struct aed_mine_opts *o,
		    const struct aed_index_handle *h, const struct segnum *map,
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
			       r->class_id, o->candidates_split, map, n, excl, 0)))
			goto out;
	}
	/* The exemplars themselves. */
	for (int i = 0; i < r->n_exemplars; i++) {
		int64_t s = mine_lookup_num(map, n, r->exemplars[i].segment_id);
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
	if (mine_has_table(db, "rating") &&
	    (rc = mark(db, "SELECT segment_id FROM rating WHERE class_id = ?1", r->class_id, NULL,
		       map, n, excl, 1)))
		goto out;
	if (mine_has_table(db, "review_decision") &&
	    (rc = mark(db, "SELECT segment_id FROM review_decision WHERE class_id = ?1",
		       r->class_id, NULL, map, n, excl, 1)))
		goto out;
	if (o->exclude_group) {
		/* Clips cut from the same source recording as an exemplar. A clip
		 * an annotator verified is not a held-out exemplar: more clips of
		 * its recording are what a review round should find, so its
		 * recording stays unless asked (--exclude-group-verified). */
		int ne = o->exclude_group_first > 0 && o->exclude_group_first < r->n_exemplars
				 ? o->exclude_group_first : r->n_exemplars;
		/* One statement for all of them: segment has no index by
		 * recording (it would slow the ingest of millions of rows), so
		 * each statement is a scan. */
		size_t cap = 160 + (size_t)ne * 24, len;
		char *sql = malloc(cap);
		if (!sql) {
			rc = aed_error(AED_ENOMEM, "out of memory");
			goto out;
		}
		len = (size_t)snprintf(sql, cap, "SELECT id FROM segment WHERE ?1 IS NOT NULL AND "
				       "source_group IN (SELECT source_group FROM segment WHERE "
				       "id IN (0");
		int any = 0;
		for (int i = 0; i < ne; i++) {
			if (!r->exemplars[i].segment_id ||
			    (!o->exclude_group_verified && !strcmp(r->exemplars[i].source, "verified")))
				continue;
			len += (size_t)snprintf(sql + len, cap - len, ", %lld",
						(long long)r->exemplars[i].segment_id);
			any = 1;
		}
		snprintf(sql + len, cap - len, "))");
		if (any)
			rc = mark(db, sql, r->class_id, NULL, map, n, excl, 1);
		free(sql);
		if (rc)
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
 * index build normalised them (aed_l2_normalize on the same floats). */
int mine_stored_rows(const struct stored *sv, int64_t s, int64_t p0, int64_t n, float *out)
{
	const struct aed_index_handle *h = sv->h;
	int64_t np = h->first_vec[s + 1] - h->first_vec[s];
	struct aed_array a;
	int rc = aed_array_reader_get(sv->rd, h->segment_ids[s], &a);
	if (rc)
		return rc;
	if (a.dtype != AED_F32 || a.dims[0] != np || a.dims[1] != h->dim || p0 + n > np)
		return aed_error(AED_ESTATE, "segment %lld: its embedding no longer matches the "
				 "index; run: aedcurate index build", (long long)h->segment_ids[s]);
	memcpy(out, (const float *)a.data + p0 * h->dim, (size_t)n * h->dim * sizeof *out);
	aed_l2_normalize(out, n, h->dim);
	return AED_OK;
}

/* aed_mine_corpus.fetch: ids ascending, so each segment is read once. */
int mine_stored_fetch(void *ctx, int64_t n, const int64_t *ids, float *out)
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
			if ((rc = mine_stored_rows(sv, lo, 0, np, seg)))
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
