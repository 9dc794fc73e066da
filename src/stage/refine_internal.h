/* refine_internal.h - private to the refine stage (src/stage/refine*.c): the
 * corpus of embedded segments refine holds in memory, and the steps its
 * files share. Not a public header: nothing outside the refine stage
 * includes it. Functions returning int return an enum aed_status and record
 * a message on failure. */
#ifndef AEDCURATE_STAGE_REFINE_INTERNAL_H
#define AEDCURATE_STAGE_REFINE_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "aedcurate/nn.h"
#include "aedcurate/refine.h"

struct aed_db;

#define HOP_MS 480 /* ms between patch starts, as frame_score and frame_mask store it */

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
	int folds;              /* > 0: the ensemble's held-out segments are a
				 * partition into this many folds (refine.c) */
	float *oof;             /* with folds: [npatch][nt] each patch's score by
				 * the ensemble member that held its segment out */
	struct aed_clf *model[AED_REFINE_MAX_ENSEMBLE]; /* the last ensemble trained */
	int n_model;
	uint8_t **fine;         /* consensus: [nseg][nt] 10 ms frame masks of
				 * labelled pairs, else NULL */
	size_t *n_fine;         /* [nseg][nt] their frame counts */
	uint8_t **fine_patch;   /* [nseg][nt] the patch masks they give */
};

/* --- refine_corpus.c: the corpus in memory ------------------------------- */
void refine_corpus_release(struct corpus *c);
/* Frees the consensus masks (c->fine, fine_patch, n_fine) only. */
void refine_fine_free(struct corpus *c);
int refine_load_segments(struct aed_db *db, const char *split, struct corpus *c);
int refine_load_arrays(struct aed_db *db, struct corpus *c, int need_emb, int need_yam);
int refine_load_targets(struct aed_db *db, const struct aed_refine_opts *o,
			const int64_t yam_ids[AED_YAMNET_CLASSES], struct corpus *c);
void refine_input_row(float *row, int dim, const float *emb, const float *yam);
int refine_append_scores(struct corpus *c);
double *refine_segment_sums(const struct corpus *c);
int refine_prevalence_check(struct aed_db *db, const struct corpus *c, const double *segsum,
			    size_t k, const int64_t yam_ids[AED_YAMNET_CLASSES],
			    struct aed_refine_class *rc_out);

/* --- refine.c: the trained ensemble's scores ------------------------------- */
int refine_ensemble_predict(const struct corpus *c, const float *x, size_t n, float *p,
			    float *tmp);

/* --- refine_fine.c, refine_store.c ----------------------------------------- */
int refine_fine_pass(struct aed_db *db, const struct aed_refine_opts *o, struct corpus *c);
int refine_store_results(struct aed_db *db, const struct aed_refine_opts *o, struct corpus *c,
			 struct aed_refine_result *r, const float *y_final, double alpha_final);

#endif
