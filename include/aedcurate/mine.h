/* mine.h - exemplar-based mining: from a few example clips of a sound to the
 * corpus clips most likely to contain it, queued for review.
 *
 * The method (after the AudioSet team's exemplar mining):
 *   1. frame level: every patch embedding (0.96 s, every 0.48 s) of every
 *      exemplar, L2-normalised, clustered with k-means; a cluster is kept
 *      when its frames come from several different exemplars (the sound the
 *      exemplars share). A frame is also dropped when too few other
 *      exemplars have a frame unusually close to it (z >= 2 against the
 *      corpus: one exemplar's own background), and the quarter of frames
 *      most similar to the whole corpus is dropped (silence, hum, padding).
 *   2. multi-query search: each kept frame queries the index; the hits are
 *      pooled, and each pooled corpus frame is scored exactly against every
 *      kept frame. Score 'z' (the default, chosen by measurement, see
 *      README): each kept frame's cosine similarity is standardised by its
 *      mean and spread over a sample of the corpus, so that a frame counts
 *      for how unusually close it is and frames that resemble everything
 *      (silence, hum, padding) stop dominating; the frame score is the mean
 *      over kept frames, each z floored at -3. Score 'raw': the mean cosine
 *      similarity.
 *   3. a segment's score is its best frame's score; the best frame's start
 *      time goes to the reviewer.
 * The baseline `mean`: one query, the normalised mean of all exemplar frames;
 * score = cosine similarity.
 *
 * Two layers: the in-memory core (aed_mine_select_frames, aed_mine_search;
 * declared in search.h, src/search/mine_core.c), which knows vectors and
 * segment numbers only and is what the benchmark and unit tests drive; and
 * the stages here (aed_index_build, aed_mine, aed_eval_mine) over the stage
 * store, the tables of sql/0005_mine.sql and an index file.
 *
 * Ownership: results are filled into caller-embedded structs released with
 * the matching *_release(); arrays passed in are borrowed. Every function
 * returns an enum aed_status and records a message on failure.
 */
#ifndef AEDCURATE_MINE_H
#define AEDCURATE_MINE_H

#include <stddef.h>
#include <stdint.h>

#include "aedcurate/metrics.h"
#include "aedcurate/search.h"
#include "aedcurate/store.h"

/* --- stage: index build --------------------------------------------------- */
struct aed_index_build_opts {
	const char *model;      /* model name; NULL = the model most segments were embedded with */
	const char *factory;    /* FAISS factory string, "auto" or NULL (= auto) */
	const char *path;       /* index file; NULL = <db>.index/<model>-<sha8>.faiss */
	int rebuild;            /* start over even when an incremental add is possible */
	int nprobe;             /* IVF lists per query to record; 0 = default */
	int64_t exact_max;      /* "auto": exact below this many vectors, compressed
	                         * from it on; 0 = AED_VINDEX_AUTO_EXACT_MAX, and an
	                         * existing index keeps its factory (a threshold
	                         * given chooses it again) */
};
/* Default: aed_index_build_opts_init() and `aedcurate index build`'s rows
 * (the other fields' defaults are 0 or NULL, their meanings above). */
#define AED_INDEX_FACTORY_DEFAULT "auto"
static inline void aed_index_build_opts_init(struct aed_index_build_opts *o)
{
	*o = (struct aed_index_build_opts){ .factory = AED_INDEX_FACTORY_DEFAULT };
}

struct aed_index_build_result {
	int64_t index_id;
	char path[4096];
	char factory[128];
	char model_sha256[65];
	int64_t n_vectors, n_segments;  /* in the index now */
	int64_t added_vectors, added_segments;
	int rebuilt;            /* built from scratch (first time, stale, --rebuild) */
	char rebuild_reason[256];
	double seconds;
};

int aed_index_build(struct aed_db *db, const struct aed_index_build_opts *o,
		    struct aed_index_build_result *r);

/* State of the newest index of a model (NULL: the model most segments use):
 * AED_ESTATE with a message saying why when it is stale (another model, a
 * re-embedded segment, a missing or altered file); pending counts segments
 * embedded with its model but not yet in it. */
struct aed_index_status {
	int64_t index_id;
	char path[4096], factory[128], model_sha256[65], model_name[64];
	int64_t n_vectors, n_segments, pending_segments;
	int nprobe;
	char created_at[32], updated_at[32];
	int64_t run_id;         /* the run that last wrote it */
	int64_t epoch;          /* index_epoch.value when read */
	int checks_recorded;    /* 1: nothing embedded, re-embedded or removed since
	                         * index build checked it (sql/0015_index_check.sql):
	                         * its pending count is the recorded one */
};
int aed_index_status(struct aed_db *db, const char *model, struct aed_index_status *st);

/* The checked index loaded for searching: aed_index_status() must pass, the
 * file must hold n_vectors vectors of the model's dimension. Segment number
 * s (struct aed_mine_corpus) is segment_ids[s]; its vectors first_vec[s] ..
 * first_vec[s+1]-1. Release with aed_index_handle_release(). */
struct aed_index_handle {
	struct aed_index_status st;
	struct aed_vindex *ix;
	int64_t model_id;
	int dim;
	int64_t n_segments;
	int64_t *segment_ids;   /* [n_segments], ascending by first_vec */
	int64_t *first_vec;     /* [n_segments + 1] */
	uint64_t *group_hash;   /* [n_segments] aed_fnv1a64_str of each one's
	                         * segment.source_group (its recording) */
	struct aed_cache map;   /* the three, mapped from the index's cache
	                         * file; unmapped: malloc'd */
};
int aed_index_open(struct aed_db *db, const char *model, struct aed_index_handle *h);
void aed_index_handle_release(struct aed_index_handle *h);

/* --- stage: mine ---------------------------------------------------------- */
enum aed_mine_method { AED_MINE_EXEMPLAR, AED_MINE_MEAN };

struct aed_mine_opts {
	const char *class_name;   /* name or mid (aed_class_resolve) */
	const char **exemplars;   /* segments (key, id, manifest path) or audio files */
	int n_exemplars;
	int no_class_exemplars;   /* use only the named exemplars, not the ontology's
	                           * positive examples nor verified labels */
	enum aed_mine_method method;
	enum aed_mine_score score;
	int k;                    /* candidates to record; 0 = the default */
	struct aed_frame_select_opts select;
	int64_t hits_per_query;
	int exclude_group;        /* no candidate from an exemplar's source recording;
	                           * verified clips (annotators' finds) excepted,
	                           * unless exclude_group_verified */
	int exclude_group_verified; /* with exclude_group: verified clips' recordings too */
	int exclude_group_first;  /* > 0: only the first N exemplars' recordings (with
	                           * no_class_exemplars, the named ones in order):
	                           * eval mine's review rounds, where the positives
	                           * found join the exemplars, but more clips of a
	                           * found recording are what a round should find */
	const char *candidates_split; /* only segments of this split are candidates */
	const char *model_path;   /* model file for file exemplars (NULL = default) */
	int64_t sample;           /* corpus vectors for the 'z' statistics and the
	                           * generic-frame measure; 0 = the default */
	int no_record;            /* rank only: no run, no mine_run/candidate rows,
	                           * no candidate labels read (r->mine_run_id 0,
	                           * candidate labels ""): `eval mine` */
	int ranker;               /* 1: with ratings for the class, a classifier
	                           * trained on the rated clips re-ranks the
	                           * exemplar search's best candidates (below);
	                           * opts_init: 1 */
	double ranker_weight;     /* the classifier's share of the blend, 0..1
	                           * (0: similarity and the recording term only);
	                           * opts_init: 0.5 */
	double ranker_group;      /* the weight of a candidate's recording's
	                           * ratings in the ranker's score (below);
	                           * opts_init: AED_MINE_RANKER_GROUP_DEFAULT */
	int max_queries;          /* more kept frames than this are merged into
	                           * this many queries (k-means centroids, each
	                           * weighted by its frames); 0 = the default */
};

/* Defaults: aed_mine_opts_init() and the option rows of `aedcurate mine` and
 * `eval mine`. aed_mine() gives k and sample left 0, and a negative
 * select.generic_drop, the same; ranker_weight is taken as given. */
#define AED_MINE_K_DEFAULT 100
#define AED_MINE_KMEANS_SEED_DEFAULT 1234
#define AED_MINE_GENERIC_DROP_DEFAULT 0.25
#define AED_MINE_SAMPLE_DEFAULT 20000
#define AED_MINE_RANKER_WEIGHT_DEFAULT 0.5
#define AED_MINE_MAX_QUERIES_DEFAULT 32
#define AED_MINE_RANKER_GROUP_DEFAULT 3.0
static inline void aed_mine_opts_init(struct aed_mine_opts *o)
{
	*o = (struct aed_mine_opts){
		.method = AED_MINE_EXEMPLAR,
		.score = AED_MINE_SCORE_Z,
		.k = AED_MINE_K_DEFAULT,
		.select = {
			.seed = AED_MINE_KMEANS_SEED_DEFAULT,
			.generic_drop = AED_MINE_GENERIC_DROP_DEFAULT,
		},
		.sample = AED_MINE_SAMPLE_DEFAULT,
		.ranker = 1,
		.ranker_weight = AED_MINE_RANKER_WEIGHT_DEFAULT,
		.max_queries = AED_MINE_MAX_QUERIES_DEFAULT,
		.ranker_group = AED_MINE_RANKER_GROUP_DEFAULT,
	};
}

/* The ranker (o->ranker): logistic regression (aed_clf_train, nn.h) on
 * the patch embeddings of verified positives (segment exemplars and clips
 * rated Present), verified negatives (rated Not present) and
 * AED_RANKER_WEAK corpus-sample vectors as weak negatives; Unsure and Not
 * acoustic ratings never enter training. It scores the best
 * max(k, AED_RANKER_POOL) candidates of the exemplar search (a clip: its
 * best patch), and the ranking is (1 - w) * z(exemplar score) + w * z(logit)
 * + g * e, z standardised over those candidates, where e is what the
 * ratings say of the candidate's recording (segment.source_group): (p - n)
 * / (p + n + 1) of its clips rated Present (p) and Not present (n), 0 for
 * a recording without ratings, and g = ranker_group. A recording's clips
 * usually share its sounds: an annotator's Present is evidence for the
 * rest of it. Without a rated clip the ranker is off. */
#define AED_RANKER_POOL 1000
#define AED_RANKER_WEAK 1000

struct aed_mine_exemplar {
	int64_t segment_id;       /* 0 for a file */
	char source[16];          /* ontology | verified (decision or review label) | user | file */
	char *name;               /* key or path, malloc'd */
	int frames_total, frames_kept;
	int *cluster;             /* [frames_total] */
	unsigned char *kept;      /* [frames_total] 1 kept, 0 dropped with its cluster,
	                           * 2 dropped as resembling everything, 3 dropped
	                           * as no other exemplar's */
};

struct aed_mine_candidate {
	int64_t segment_id;
	char *key;                /* malloc'd */
	int rank;                 /* 1 = best */
	double score;
	double best_time_s;
	char *labels;             /* "mid name (source); ..." malloc'd, "" if none */
};

struct aed_mine_result {
	int64_t mine_run_id, run_id, class_id, index_id;
	char class_mid[256], class_name[256];
	char model_sha256[65];
	int n_exemplars;
	struct aed_mine_exemplar *exemplars;
	struct aed_frame_selection sel;  /* the exemplar method's clusters */
	int n_frames;                    /* exemplar frames in all */
	int n_queries;                   /* query vectors searched with: the kept
	                                  * frames, or max_queries merged ones */
	int n_candidates;
	struct aed_mine_candidate *candidates;
	int64_t n_excluded;              /* segments not allowed as candidates */
	int64_t corpus_segments;
	struct aed_mine_search_stats stats;
	int ranker_rated;                /* rated clips that trained the ranker (0: not used) */
	int ranker_pos, ranker_neg;      /* positive / negative clips among its rows' clips */
	int64_t ranker_weak;             /* weak-negative vectors */
	int ranker_pool;                 /* candidates it re-ranked */
	double ranker_weight;
	double ranker_group;
	int ranker_group_hits;           /* re-ranked candidates whose recording's
	                                  * ratings lean one way (e != 0) */
	double ranker_seconds;           /* training and re-ranking, not the search */
	struct {                         /* wall time of each step, in seconds */
		double open;             /* the index, its segment map, the checks */
		double exemplars;        /* gathering them and reading their frames */
		double sample;           /* the corpus sample of the z statistics */
		double queries;          /* frame selection and merging */
		double exclusions;       /* which segments may not be candidates */
		double search;           /* search, re-rank and the ranker */
		double record;           /* candidates' keys and labels, the run */
		double total;
	} seconds;
};

int aed_mine(struct aed_db *db, const struct aed_mine_opts *o, struct aed_mine_result *r);
void aed_mine_result_release(struct aed_mine_result *r);

/* --- stage: eval mine ------------------------------------------------------
 * How well mining finds a class on a labelled corpus (a dev set). For each
 * class and trial: exemplars are drawn at random from the indexed clips
 * labelled with the class or a descendant (any label source), each from a
 * different source recording (segment.source_group), at least one recording
 * being left as a candidate; aed_mine (no_record, named exemplars only)
 * ranks every candidate of the pool; only then are the candidates' labels
 * read, as the oracle, to score the ranking: P@10, P@50, AP over the whole
 * pool (aed_ranked_average_precision) and the prior (positives / pool).
 * Labels never reach the ranking: the exemplar draw reads them, mining does
 * not (it reads verified labels, ratings and decisions only to leave
 * reviewed clips out).
 *
 * With rounds, per trial, two simulated reviews of per_round candidates a
 * round (Present when the oracle says so, Not present otherwise), their
 * cumulative positives after each round being the yield curves:
 *   yield[0] "review": the best unrated candidates of a recorded mine run
 *     are rated through review import's own code (aed_review_export_record,
 *     aed_review_import_data; annotator AED_EVAL_MINE_ANNOTATOR), then the
 *     class is mined again with the positives added to the exemplars
 *     (with mine.ranker, re-ranked by the ranker trained on those ratings);
 *   yield[1] "positives": nothing stored, the positives found become
 *     exemplars, the annotator skips what it already rated (today's use of
 *     a review round).
 * A class with ratings, decisions or verified labels already is refused
 * with rounds. Each trial's simulated review is undone before the next
 * trial; the last trial's stays in the review tables. */
#define AED_EVAL_MINE_ANNOTATOR "eval-mine-oracle"

struct aed_eval_mine_opts {
	const char **classes;     /* names or mids */
	int n_classes;
	int all_classes;          /* every class labelled on indexed clips of >= 2
	                           * source recordings */
	const char **exemplars;   /* fixed exemplars (one --class): one trial, no draw */
	int n_exemplars;
	int exemplars_per_trial;  /* 0 = the default */
	int trials;               /* 0 = the default */
	uint64_t seed;            /* draws: the same seed, the same exemplars */
	const char *exemplar_meta;/* "KEY=VALUE": draw only clips whose segment meta
	                           * has it (UrbanSound8K: salience=1, foreground) */
	struct aed_mine_opts mine;/* method, score, select, exclude_group,
	                           * candidates_split, sample, model_path; not
	                           * hits_per_query: the pool is ranked whole */
	int baseline_mean;        /* also rank with --method mean (score[1]) */
	int rounds, per_round;    /* simulated review rounds; 0 = none */
	int keep_rankings;        /* keep every trial's ranked keys */
};

/* Defaults: aed_eval_mine_opts_init() and `aedcurate eval mine`'s option
 * rows. aed_eval_mine() gives exemplars_per_trial and trials left 0 the same. */
#define AED_EVAL_MINE_EXEMPLARS_DEFAULT 5
#define AED_EVAL_MINE_TRIALS_DEFAULT 10
#define AED_EVAL_MINE_SEED_DEFAULT 7
#define AED_EVAL_MINE_PER_ROUND_DEFAULT 10
static inline void aed_eval_mine_opts_init(struct aed_eval_mine_opts *o)
{
	*o = (struct aed_eval_mine_opts){
		.exemplars_per_trial = AED_EVAL_MINE_EXEMPLARS_DEFAULT,
		.trials = AED_EVAL_MINE_TRIALS_DEFAULT,
		.seed = AED_EVAL_MINE_SEED_DEFAULT,
		.per_round = AED_EVAL_MINE_PER_ROUND_DEFAULT,
	};
	aed_mine_opts_init(&o->mine);
}

struct aed_eval_mine_score {
	double p10, p50, ap;      /* AP NaN without a positive in the pool */
};

struct aed_eval_mine_trial {
	char **exemplars;         /* keys */
	int n_exemplars;
	int64_t pool, positives;  /* candidates ranked, positives among them */
	double prior;
	struct aed_eval_mine_score score[2]; /* [0] o.mine.method, [1] mean baseline (NaN if off) */
	char **ranking[2];        /* keys best first, with keep_rankings */
	int64_t n_ranked[2];
	double *yield[2];         /* [rounds] cumulative positives: review, positives */
};

struct aed_eval_mine_class {
	int64_t class_id;
	char mid[256], name[256];
	int64_t labelled_clips, labelled_groups; /* the exemplar draw's pool */
	struct aed_eval_mine_trial *trials;
	int n_trials;
	double prior;             /* means over the trials */
	struct aed_eval_mine_score score[2];
	double *yield[2];
};

struct aed_eval_mine_result {
	struct aed_eval_mine_class *classes;
	int n_classes;
	char **skipped;           /* "name (mid): why", classes not evaluated */
	int n_skipped;
	double prior;             /* means over the classes (AP over finite ones) */
	struct aed_eval_mine_score score[2];
	double *yield[2];
	int rounds;
	double seconds;
};

int aed_eval_mine(struct aed_db *db, const struct aed_eval_mine_opts *o,
		  struct aed_eval_mine_result *r);
void aed_eval_mine_result_release(struct aed_eval_mine_result *r);

const char *aed_mine_method_name(enum aed_mine_method m);

#endif
