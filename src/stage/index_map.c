/* index_map.c - the index's segment map (aed_index_handle: segment number ->
 * segment id, first vector, recording), read from vec_segment and segment
 * or from the cache file kept beside the index file (store.h, cache files).
 * The rest of the index stage is in index.c. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "aedcurate/error.h"
#include "aedcurate/mine.h"
#include "aedcurate/store.h"
#include "aedcurate/util.h"
#include "stage/index_internal.h"

/* Segment number s holds vectors first_vec[s] .. first_vec[s+1]-1 and came
 * from recording group_hash[s]. vec_segment and segment say so, one row a
 * segment: millions of rows to read on every open. The map is also kept in
 * <index file>.segments, written by the build that wrote the rows (or by
 * the first open after it), and used while its header matches the index
 * row's id, run and counts and the index epoch (sql/0015_index_check.sql).
 * Native byte order: a file that does not match is read from the tables
 * again and rewritten. */
#define SEGMAP_MAGIC "AEDSEGM2"

struct segmap_header {
	char magic[8];
	int64_t index_id, run_id, epoch, n_segments, n_vectors;
};

static void segmap_path(const struct aed_index_status *s, char *out, size_t n)
{
	snprintf(out, n, "%.4080s.segments", s->path);
}

static struct segmap_header segmap_header_of(const struct aed_index_status *s)
{
	struct segmap_header hd = { .index_id = s->index_id, .run_id = s->run_id,
				    .epoch = s->epoch, .n_segments = s->n_segments,
				    .n_vectors = s->n_vectors };
	memcpy(hd.magic, SEGMAP_MAGIC, 8);
	return hd;
}

/* 1 when h's map is the file's (mapped), 0 when it must come from the
 * tables (no file, another build's or epoch's, or damaged). */
int index_map_load(struct aed_index_handle *h)
{
	char path[4200];
	struct segmap_header want = segmap_header_of(&h->st);
	int64_t n = h->st.n_segments;
	int ok;

	if (!h->st.run_id)
		return 0;
	segmap_path(&h->st, path, sizeof path);
	if (!aed_cache_map(path, &want, sizeof want, (size_t)(3 * n + 1) * sizeof(int64_t),
			   &h->map))
		return 0;
	int64_t *d = (int64_t *)((char *)h->map.base + sizeof want);
	h->segment_ids = d;
	h->first_vec = d + n;
	h->group_hash = (uint64_t *)(d + 2 * n + 1);
	/* It must tile the vector ids, as the rows it was written from did. */
	ok = h->first_vec[0] == 0 && h->first_vec[n] == h->st.n_vectors;
	for (int64_t s = 0; s < n && ok; s++)
		ok = h->first_vec[s + 1] > h->first_vec[s];
	if (ok)
		h->n_segments = n;
	else {
		aed_cache_unmap(&h->map);
		h->segment_ids = h->first_vec = NULL;
		h->group_hash = NULL;
	}
	return ok;
}

/* Write h's map for the next open; a failure only costs that open time. */
void index_map_store(const struct aed_index_handle *h)
{
	char path[4200];
	struct segmap_header hd = segmap_header_of(&h->st);
	size_t nb = (size_t)h->n_segments * sizeof(int64_t);
	const void *part[] = { h->segment_ids, h->first_vec, h->group_hash };
	const size_t size[] = { nb, nb + sizeof(int64_t), nb };

	if (!h->st.run_id)
		return;
	segmap_path(&h->st, path, sizeof path);
	aed_cache_write(path, &hd, sizeof hd, 3, part, size);
}

/* h's map from vec_segment and segment, checked to tile the vector ids. */
int index_map_read_rows(struct aed_db *db, struct aed_index_handle *h)
{
	sqlite3_stmt *st = NULL;
	int rc;

	if ((rc = aed_db_prepare(db,
				 "SELECT v.segment_id, v.first_vec, v.n_patches, s.source_group FROM "
				 "vec_segment v LEFT JOIN segment s ON s.id = v.segment_id WHERE "
				 "v.index_id = ?1 ORDER BY v.first_vec",
				 &st)))
		return rc;
	sqlite3_bind_int64(st, 1, h->st.index_id);
	int64_t next = 0;
	h->n_segments = 0;
	while (sqlite3_step(st) == SQLITE_ROW) {
		if (h->n_segments >= h->st.n_segments || sqlite3_column_int64(st, 1) != next ||
		    sqlite3_column_int64(st, 2) <= 0) {
			rc = aed_error(AED_ESTATE, "vector index %lld is stale: its segment map does "
				       "not tile the vector ids; run: aedcurate index build --rebuild",
				       (long long)h->st.index_id);
			goto out;
		}
		const char *g = (const char *)sqlite3_column_text(st, 3);
		h->group_hash[h->n_segments] = g ? aed_fnv1a64_str(g) : 0;
		h->segment_ids[h->n_segments] = sqlite3_column_int64(st, 0);
		h->first_vec[h->n_segments++] = next;
		next += sqlite3_column_int64(st, 2);
	}
	h->first_vec[h->n_segments] = next;
	if (h->n_segments != h->st.n_segments || next != h->st.n_vectors)
		rc = aed_error(AED_ESTATE, "vector index %lld is stale: its segment map holds %lld "
			       "segments and %lld vectors, the index row says %lld and %lld; run: "
			       "aedcurate index build --rebuild", (long long)h->st.index_id,
			       (long long)h->n_segments, (long long)next,
			       (long long)h->st.n_segments, (long long)h->st.n_vectors);
out:
	sqlite3_finalize(st);
	return rc;
}

/* Room for the map of h->st's segments. */
int index_map_alloc(struct aed_index_handle *h)
{
	size_t n = (size_t)h->st.n_segments + 1;
	h->segment_ids = malloc(n * sizeof *h->segment_ids);
	h->first_vec = malloc(n * sizeof *h->first_vec);
	h->group_hash = malloc(n * sizeof *h->group_hash);
	if (!h->segment_ids || !h->first_vec || !h->group_hash)
		return aed_error(AED_ENOMEM, "out of memory (the map of %lld segments)",
				 (long long)h->st.n_segments);
	return AED_OK;
}

