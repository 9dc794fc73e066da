/* mine_internal.h - private to the mine stage (src/stage/mine*.c): the
 * exemplar frames being gathered, the map from segment ids to index segment
 * numbers, the stored vectors behind an index, and the steps the stage's
 * files share. Not a public header: nothing outside the mine stage includes
 * it. Functions returning int return an enum aed_status and record a
 * message on failure. */
#ifndef AEDCURATE_STAGE_MINE_INTERNAL_H
#define AEDCURATE_STAGE_MINE_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "aedcurate/mine.h"
#include "aedcurate/nn.h"
#include "aedcurate/search.h"

struct aed_db;

/* Every exemplar's patch embeddings, L2-normalised, back to back. */
struct frames {
	float *x;      /* [n][dim] unit vectors */
	int *ex;       /* [n] exemplar number */
	int *patch;    /* [n] */
	int64_t n, cap;
};

/* Segment id -> segment number of the index (aed_index_handle): a binary
 * search of the index's own ids when they ascend, as a build adds them,
 * else of a copy sorted by id. */
struct segnum {
	int64_t id, num;
};
struct segnums {
	const int64_t *ids;  /* the handle's segment_ids when ascending, else NULL */
	struct segnum *map;  /* otherwise: sorted by id, malloc'd */
	int64_t n;
};

/* The exact vectors of an index's segments, read from the array store. */
struct stored {
	struct aed_db *db;
	const struct aed_index_handle *h;
	struct aed_array_reader *rd; /* the embeddings, read many times */
	const struct segnums *map;   /* segment id -> number (mine_segnums_init) */
};

/* --- mine_exemplars.c ------------------------------------------------------ */
void mine_frames_release(struct frames *f);
int mine_class_exemplars(struct aed_db *db, int64_t class_id, int64_t model_id,
			 struct aed_mine_result *r, int *n_examples_listed);
int mine_named_exemplar(struct aed_db *db, const char *name, struct aed_mine_result *r);
int mine_load_exemplar_frames(struct aed_db *db, const struct aed_mine_opts *o,
			      const struct aed_index_handle *h, struct aed_mine_result *r,
			      struct frames *f);

/* --- mine_corpus.c ----------------------------------------------------------- */
int mine_segnums_init(const struct aed_index_handle *h, struct segnums *m);
void mine_segnums_release(struct segnums *m);
/* The number of segment id in the index (-1: none). */
int64_t mine_segnum(const struct segnums *m, int64_t id);
int mine_has_table(struct aed_db *db, const char *name);
int mine_exclusions(struct aed_db *db, const struct aed_mine_opts *o,
		    const struct aed_index_handle *h, const struct segnums *map,
		    const struct aed_mine_result *r, unsigned char *excl, int64_t *n_excl);
int mine_stored_rows(const struct stored *sv, int64_t s, int64_t p0, int64_t n, float *out);
int mine_stored_fetch(void *ctx, int64_t n, const int64_t *ids, float *out);
int mine_corpus_sample(const struct stored *sv, int64_t ns, float *out, int64_t *got);
/* mine_corpus_sample's vectors into *out: mapped from the file kept beside a
 * compressed index (*kept, to unmap) when it holds them, else read into
 * *owned (to free), and kept there for the next call. */
int mine_corpus_sample_kept(const struct stored *sv, int64_t ns, struct aed_cache *kept,
			    const float **out, float **owned, int64_t *got);

/* --- mine_ranker.c ------------------------------------------------------------ */
int mine_ranker_train(struct aed_db *db, const struct stored *sv, const struct frames *f,
		      const struct aed_mine_corpus *c, struct aed_mine_result *r,
		      struct aed_clf **m);
int mine_ranker_rerank(const struct stored *sv, const struct aed_clf *m, int64_t class_id,
		       double w, double g, struct aed_mine_hit *hits, int n, int *group_hits);

#endif
