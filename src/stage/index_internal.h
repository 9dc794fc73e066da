/* index_internal.h - what index.c and index_map.c share: the segment map of
 * an index handle, kept beside the index file (index_map.c). */
#ifndef AED_STAGE_INDEX_INTERNAL_H
#define AED_STAGE_INDEX_INTERNAL_H

#include "aedcurate/mine.h"
#include "aedcurate/store.h"

/* 1 when h's map is the cache file's (mapped), 0 when it must come from the
 * tables (no file, another build's or epoch's, or damaged). */
int index_map_load(struct aed_index_handle *h);
/* Write h's map for the next open; a failure only costs that open time. */
void index_map_store(const struct aed_index_handle *h);
/* h's map from vec_segment and segment, checked to tile the vector ids,
 * into the arrays of index_map_alloc. */
int index_map_read_rows(struct aed_db *db, struct aed_index_handle *h);
/* Room for the map of h->st's segments (freed by aed_index_handle_release). */
int index_map_alloc(struct aed_index_handle *h);

#endif
