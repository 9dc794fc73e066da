/* eval.h - the `eval scores` stage: how well stored clip scores rank a
 * split's clips for each class (AP, ROC AUC, d', EER, P/R/F1 at a threshold,
 * metrics.h), the scorer and pooling names it shares with refine, and the
 * map from YAMNet's 521 outputs to class ids. It reads what embed stored
 * ("scores" arrays) or what refine stored (frame_score rows, scorer
 * 'trained'); it writes nothing. `eval refine` is in refine.h, `eval mine`
 * in mine.h.
 *
 * Ownership: aed_eval_scores fills a caller-embedded struct
 * aed_eval_scores_result whose arrays it owns; release it with
 * aed_eval_scores_result_release(). Functions taking a struct aed_db only
 * borrow it. Every function returning int returns an enum aed_status and
 * records a message on failure.
 */
#ifndef AEDCURATE_EVAL_H
#define AEDCURATE_EVAL_H

#include <stddef.h>
#include <stdint.h>

#include "aedcurate/metrics.h"

struct aed_db;

enum aed_scorer { AED_SCORER_YAMNET, AED_SCORER_TRAINED };
enum aed_pool { AED_POOL_MAX, AED_POOL_MEAN };

int aed_scorer_parse(const char *s, enum aed_scorer *out);
const char *aed_scorer_name(enum aed_scorer s);
int aed_pool_parse(const char *s, enum aed_pool *out);
const char *aed_pool_name(enum aed_pool p);

struct aed_eval_scores_opts {
	const char *split;        /* required: the split's segments are scored */
	enum aed_scorer scorer;   /* yamnet: array kind "scores"; trained: frame_score rows */
	enum aed_pool pool;       /* patch scores to a clip score */
	double threshold;         /* for P/R/F1; <= 0: the default */
	int min_positives;        /* classes with fewer positives are left out; >= 1 */
	const char *class_map;    /* yamnet_class_map.csv; NULL: the model table or
				   * aed_yamnet_find_class_map(NULL) */
};
/* Defaults: aed_eval_scores_opts_init() and `aedcurate eval scores`'s rows. */
#define AED_EVAL_SCORES_THRESHOLD_DEFAULT 0.5
#define AED_EVAL_SCORES_MIN_POSITIVES_DEFAULT 1
static inline void aed_eval_scores_opts_init(struct aed_eval_scores_opts *o)
{
	*o = (struct aed_eval_scores_opts){
		.scorer = AED_SCORER_YAMNET,
		.pool = AED_POOL_MAX,
		.threshold = AED_EVAL_SCORES_THRESHOLD_DEFAULT,
		.min_positives = AED_EVAL_SCORES_MIN_POSITIVES_DEFAULT,
	};
}

struct aed_class_eval {
	int64_t class_id;
	long label_index;         /* class_labels_indices index, -1 if none */
	char mid[64], name[128];
	int64_t n_pos, n_neg;
	double ap, auc, dprime, eer;
	struct aed_prf prf;
};

struct aed_eval_scores_result {
	int64_t n_segments;       /* segments of the split with scores */
	int64_t n_missing;        /* segments of the split without scores */
	struct aed_class_eval *classes; /* by label index, then mid */
	size_t n_classes;
	double map, mean_auc, mean_dprime, mean_eer; /* macro averages over classes;
						      * mean_dprime over finite d' only
						      * (AUC 1 gives +inf) */
	double dprime_of_mean_auc;                  /* d' of the mean AUC (AudioSet papers) */
	struct aed_prf micro;     /* pooled counts over all classes at the threshold */
};

/* Clip labels come from the label table (any source) through class_closure:
 * a clip labelled with a descendant of a class is a positive for it. Classes
 * evaluated: those the scorer scores that have at least min_positives
 * positives and one negative among the scored segments. */
int aed_eval_scores(struct aed_db *db, const struct aed_eval_scores_opts *o,
		    struct aed_eval_scores_result *r);
void aed_eval_scores_result_release(struct aed_eval_scores_result *r);

/* Class ids of YAMNet's 521 outputs (-1 for a mid the ontology lacks), from
 * class_map (NULL: aed_yamnet_find_class_map(NULL, ...)). Used by eval
 * scores and refine. */
int aed_yamnet_output_classes(struct aed_db *db, const char *class_map, int64_t ids[521]);

#endif
