/* refine.h - class priors and positive-example weights, weak-label
 * refinement (the AudioSet team's max-normalised frame scores; the frame
 * classifier of nn.h trained on the corpus's own patch embeddings with very
 * weak labels and then self-trained on its own kept patches; hysteresis
 * around the kept frames), SeCoST's sequential co-supervision, and the
 * evaluation of refined masks.
 *
 * Measured on mixtures of real recordings with known event times
 * (tests/cli/t1100-refine-mixtures.sh, mixture seeds 1-7 unless said),
 * strict frame precision/recall (every 0.48 s patch scored, the half-overlap
 * rule):
 * YAMNet's own scores with the plain rule keep precise but few patches
 * (precision ~0.9, recall ~0.2); the trained classifier (6 self-training
 * rounds) with patch hysteresis reaches recall 0.83-0.92 at precision
 * 0.73-0.81 (Gunshot) and 0.83-0.90 (Bark). Consensus of fine patches every
 * 0.12 s (3 of 4 agreeing) raises precision by 0.02-0.07 (Gunshot
 * 0.78-0.85, Bark 0.85-0.91) at recall 0.78-0.89; the energy gate on its
 * frame masks adds 0.01-0.09 more (at 5 of 8 agreeing), limiting each run to
 * frames within 12 dB of its peak more again, and an ensemble of five
 * classifiers per round takes out most of the dependence on one
 * classifier's seed. The default reaches, pooled over mixture sets 1-15,
 * Gunshot 0.870 at recall 0.830 and Bark 0.901 at 0.848; precision >= 0.85
 * at recall >= 0.8 holds on 12 (Gunshot) and 14 (Bark) of the 15 sets (the
 * README's table). What the rest miss is detection (shots never scored
 * high, impulsive backgrounds scored high).

 * Ownership: result structs are embedded by the caller and released with their
 * *_release() function. Functions taking a struct aed_db only borrow it.
 * Every function returning int returns an enum aed_status and records a
 * message on failure; nothing here prints except through aed_warn/aed_info.
 *
 * Stored results (sql/0007_refine.sql):
 *   class_prior(class_id, run_id, n_pos, n_total, prior, weight, beta)
 *       the latest `priors` run; one row per class with a label index or
 *       at least one positive.
 *   refine_class(run_id, class_id, method, scorer, n_segments, n_patches,
 *       n_kept, gain, top_class_id, warning)
 *       one row per class a refine run handled; gain = the class's
 *       prevalence gain (below), top_class_id the class with the largest gain.
 *   frame_score(segment_id, class_id, scorer, run_id, n_patches, hop_ms, scores)
 *       P(L|x_i) per patch: scores is a BLOB of n_patches little-endian
 *       float32. scorer 'yamnet' rows are written for the labelled segments,
 *       'trained' rows for every segment the classifier scored (so
 *       `eval scores --scorer trained` can rank all of them).
 *   frame_mask(segment_id, class_id, method, run_id, n_patches, hop_ms,
 *       n_kept, mask)
 *       the kept mask of a labelled segment: mask is a BLOB of n_patches
 *       bytes, 1 = patch kept as a positive of the class. One row per method,
 *       so the maxnorm baseline and the default method can be compared.
 *   frame_mask_fine(segment_id, class_id, method, run_id, scorer, frame_ms,
 *       hop_frames, n_frames, n_kept, mask)   (sql/0011_refine_fine.sql)
 *       the consensus method's mask at log-mel frame resolution: mask is a
 *       BLOB of n_frames bytes, frame f = [f*frame_ms, (f+1)*frame_ms) ms,
 *       1 = in the event; hop_frames = the fine patch hop it came from.
 *   soft_label(segment_id, class_id, run_id, stages, target, prediction)
 *       SeCoST's final clip labels: prediction = the last stage's clip
 *       probability (max over patches), target = alpha*y + (1-alpha)*prediction.
 * Masks and scores are kept in tables rather than the array store because the
 * array store holds one array per (kind, segment) and these are per
 * (segment, class); they are small (20 patches per 10 s clip).
 */
#ifndef AEDCURATE_REFINE_H
#define AEDCURATE_REFINE_H

#include <stddef.h>
#include <stdint.h>

#include "aedcurate/eval.h"
#include "aedcurate/metrics.h"
#include "aedcurate/nn.h"

struct aed_db;

/* --- priors ------------------------------------------------------------------
 * prior_c = (segments carrying c or any descendant of c, labels of any source)
 *           / (segments with at least one label);
 * w_c = (mean prior / prior_c)^beta, the mean taken over the classes with a
 * non-zero prior (a class nobody carries has no weight: it has no positives to
 * weigh, and zeros would drag the mean down by how many classes the ontology
 * lists rather than by the data). Negatives weigh 1. */
struct aed_priors_opts {
	double beta;          /* >= 0; 1 balances fully */
	const char *split;    /* count only this split's segments; NULL: all */
	const char *out_dir;  /* write priors.csv and priors.json here; NULL: none */
};
/* Default: aed_priors_opts_init() and `aedcurate priors`'s rows. */
#define AED_PRIORS_BETA_DEFAULT 1.0
static inline void aed_priors_opts_init(struct aed_priors_opts *o)
{
	*o = (struct aed_priors_opts){ .beta = AED_PRIORS_BETA_DEFAULT };
}

struct aed_class_prior {
	int64_t class_id;
	long label_index;     /* -1 if the class has none */
	char mid[64];
	char name[128];
	int64_t n_pos;
	double prior, weight; /* weight 0 when prior is 0 */
};

struct aed_priors_result {
	int64_t run_id;
	int64_t n_total;      /* labelled segments counted */
	double mean_prior;
	double beta;
	struct aed_class_prior *classes; /* by label index (unindexed last), then mid */
	size_t n_classes;
	size_t n_nonzero;
};

/* Pure math: weights for n priors (0 stays weight 0); *mean receives the mean
 * of the non-zero priors. */
void aed_prior_weights(const double *prior, size_t n, double beta, double *weight,
		       double *mean);

int aed_priors(struct aed_db *db, const struct aed_priors_opts *o, struct aed_priors_result *r);
void aed_priors_result_release(struct aed_priors_result *r);
/* priors.csv: header "index,mid,display_name,n_pos,n_total,prior,weight".
 * priors.json: {"beta", "n_total", "mean_prior", "by_mid": {mid: {...}},
 * "by_index": {"0": {...}}}; each {...} = {index, mid, name, n_pos, prior,
 * weight}. */
int aed_priors_write(const struct aed_priors_result *r, const char *dir);

/* --- refinement rules -------------------------------------------------------
 * maxnorm:    n_i = s_i / max_j s_j; keep n_i >= high (the AudioSet rule).
 * hysteresis: the maxnorm seeds, grown to neighbouring patches while
 *             n_i >= low (a patch next to a confident one needs less
 *             evidence: events straddle the 50%-overlapping patches). */
enum aed_refine_method { AED_REFINE_MAXNORM, AED_REFINE_HYSTERESIS, AED_REFINE_CONSENSUS };

/* consensus:  the event localised finer than a patch. For each labelled
 *             segment, patches are cut from its stored "logmel_yamnet"
 *             array every hop_frames log-mel frames (10 ms each) instead of
 *             48, run through YAMNet (and the trained classifier), and kept
 *             by the hysteresis rule on their own max-normalised scores. A
 *             10 ms frame is in the event when at least a share `consensus`
 *             of the fine patches covering it were kept (1: all of them, the
 *             intersection). The frame mask is stored in frame_mask_fine;
 *             its runs of kept frames, as time intervals, give the 0.48 s
 *             patch mask stored in frame_mask by the same half-overlap rule
 *             the strong labels are turned into patches with (metrics.h). */

int aed_refine_method_parse(const char *s, enum aed_refine_method *out);
const char *aed_refine_method_name(enum aed_refine_method m);

/* Keep mask of one segment's n frame scores; returns the number kept. All
 * scores <= 0 keep nothing. */
size_t aed_refine_mask(const float *scores, size_t n, enum aed_refine_method m,
		       double high, double low, uint8_t *mask);

/* consensus: frames [f, f+1) of n_frames from n_patches fine patches, patch j
 * covering frames [j*hop, j*hop + len); frame f is kept when the kept patches
 * among the patch positions covering it (len/hop of them, rounded as the
 * frame falls) are at least share of them (share 1: all). Positions before
 * patch 0 or past the last patch count as not kept: the clip's edges need as
 * many agreeing patches as its middle. Returns the number kept. */
size_t aed_consensus_frames(const uint8_t *kept, size_t n_patches, int hop, int len,
			    double share, uint8_t *frames, size_t n_frames);
/* Energy gate on a consensus frame mask. The fine patches place an event to
 * within about a quarter patch of its most salient part: wider than a short
 * event, centred on an impulse's onset rather than on the impulse, and
 * bridging two events less than a patch apart. level[f] is frame f's level in
 * dB (10 log10 of its summed mel magnitudes); the clip's background level is
 * the median level of the frames outside the mask (of all frames when fewer
 * than 50, 0.5 s, are outside). Within each run of kept frames, the frames
 * loud enough stay: at least margin_db above the background and, with
 * peak_db > 0, at most peak_db below the run's loudest frame (in a loud,
 * changing background the median says little about the few hundred ms
 * around an event; its own peak does). Quiet stretches of fewer than max_gap
 * frames between two loud frames are bridged and the rest of the run is
 * dropped; a run without one loud frame is kept whole (the gate sharpens
 * what the classifier found, it never removes a detection). Returns the
 * number of frames kept. */
size_t aed_energy_gate(const float *level, size_t n, uint8_t *frames, double margin_db,
		       double peak_db, int max_gap);
#define AED_GATE_MIN_BACKGROUND 50

/* Fine patches for frames log-mel frames at hop (as aed_patch_count, whose
 * hop is 48): 1 + ceil((frames - 96) / hop), 1 for 0 < frames <= 96. */
size_t aed_fine_patch_count(size_t frames, int hop);

/* --- the refine stage ------------------------------------------------------ */
#define AED_REFINE_MAX_ENSEMBLE 32
struct aed_refine_opts {
	const char *class_name;   /* a class (name or mid); NULL with all */
	int all;                  /* every class with labelled, embedded segments */
	const char *split;        /* segments considered; NULL: all with embeddings */
	enum aed_scorer scorer;   /* yamnet: its own scores; trained: the classifier */
	enum aed_refine_method method; /* the mask stored besides maxnorm */
	double threshold;         /* high threshold */
	double low;               /* hysteresis low threshold */
	double beta;              /* positive weight exponent for training */
	double heldout;           /* fraction of segments held out */
	int min_positives;        /* --all: skip classes with fewer */
	struct aed_clf_opts clf;
	/* Self-training (--scorer trained): after each of the first
	 * iterations - 1 rounds, a labelled segment's patches stay positives
	 * only where the round's n_i >= relabel; the rest become negatives of
	 * the class, or with drop are left out of its loss (as the AudioSet
	 * rule drops them from the positives). 1 = very weak labels only.
	 * Negatives gave the better precision on the mixture sets, drop the
	 * better recall on the largest one. */
	int iterations;
	int ensemble;             /* classifiers trained per round, each holding
				   * out its own segments with its own seed;
				   * their mean probability is the score
				   * (1..AED_REFINE_MAX_ENSEMBLE; 0 = 1; the
				   * default 5: one classifier's masks depend
				   * on its seed as much as on the method's
				   * settings) */
	int hop_frames;           /* consensus: fine patch hop in log-mel frames,
				   * 1..48 (default 12: 0.12 s) */
	double consensus;         /* consensus: share of covering fine patches a
				   * frame needs, (0, 1] (default 0.625: 5 of
				   * the 8 fine patches over a frame at hop 12) */
	int gate;                 /* consensus: aed_energy_gate() on the frame
				   * masks (the command sets it unless --no-gate) */
	double gate_db;           /* its margin over the background, dB */
	double gate_peak;         /* its limit below a run's peak, dB; 0: none */
	int gate_gap;             /* quiet frames it bridges, fewer than this */
	int fine_rounds;          /* consensus, --scorer trained: rounds after the
				   * self-training in which the labelled segments'
				   * positives are the patches of their fine masks
				   * (the rest negatives, or left out with drop);
				   * by default none: on the mixture sets one round
				   * helped Bark and the sets tuned on, but
				   * lowered Gunshot's F1 on the held-out ones */
	const char *model_path;   /* consensus: yamnet.tflite; NULL: the usual search */
	int with_scores;          /* inputs: the embedding and YAMNet's 521 scores as
				   * log-odds (when every segment has them) */
	double relabel;
	/* relabel_neg > 0 (the default): the ensemble's held-out segments are a
	 * partition, each round's patches are judged by the member that did not
	 * train on their segment (out of fold; in-sample with one classifier),
	 * and a patch also stays positive where that score reaches the
	 * relabel_neg quantile of the class's out-of-fold scores over the
	 * patches of segments not labelled with it, though never under
	 * relabel_floor of its segment's max: what scores above most of the
	 * corpus's other sounds is the class however far below the segment's
	 * peak. Self-training on in-sample scores against the max alone (0)
	 * shrank the masks round by round to the loudest part of the event
	 * where a class is one of many (the README's many-class benchmark). */
	double relabel_neg;
	double relabel_floor;
	int drop;                 /* unkept patches leave the loss */
	/* SeCoST: stages > 0 trains a cascade of that many classifiers (the
	 * command's --secost: AED_REFINE_SECOST_STAGES_DEFAULT). */
	int secost_stages;
	const double *alphas;     /* alpha of stage 2.. (the last repeats); none:
				   * AED_REFINE_SECOST_ALPHA_DEFAULT */
	int n_alphas;
};

/* Defaults: aed_refine_opts_init() and `aedcurate refine`'s option rows.
 * aed_refine() gives fields left 0 the same where 0 means nothing else
 * (threshold, low, heldout, min_positives, iterations, relabel, hop_frames,
 * consensus, clf.lr, clf.l2; epochs and patience in aed_clf_train). */
#define AED_REFINE_THRESHOLD_DEFAULT 0.66
#define AED_REFINE_LOW_DEFAULT 0.4
#define AED_REFINE_BETA_DEFAULT 1.0
#define AED_REFINE_HELDOUT_DEFAULT 0.2
#define AED_REFINE_MIN_POSITIVES_DEFAULT 5
/* The fewest labelled segments per class the defaults were validated with
 * (the README's many-class benchmark: 10 clips of each of seven classes
 * among 100): `refine` warns for a class with fewer. */
#define AED_REFINE_VALIDATED_POSITIVES 10
#define AED_REFINE_EPOCHS_DEFAULT 60
#define AED_REFINE_PATIENCE_DEFAULT 6
/* A strong L2 penalty, measured on the mixture sets, keeps the classifier
 * from memorising the backgrounds of the few labelled clips. */
#define AED_REFINE_LR_DEFAULT 1e-2
#define AED_REFINE_L2_DEFAULT 0.2
#define AED_REFINE_SEED_DEFAULT 1
#define AED_REFINE_ITERATIONS_DEFAULT 6
#define AED_REFINE_ENSEMBLE_DEFAULT 5
#define AED_REFINE_RELABEL_DEFAULT 0.6
#define AED_REFINE_RELABEL_NEG_DEFAULT 0.9
#define AED_REFINE_RELABEL_FLOOR_DEFAULT 0.1
#define AED_REFINE_HOP_FRAMES_DEFAULT 12
#define AED_REFINE_CONSENSUS_DEFAULT 0.625
#define AED_REFINE_GATE_PEAK_DEFAULT 12.0  /* dB */
#define AED_REFINE_GATE_GAP_DEFAULT 30     /* frames: 0.3 s */
#define AED_REFINE_SECOST_STAGES_DEFAULT 2
#define AED_REFINE_SECOST_ALPHA_DEFAULT 0.3
static inline void aed_refine_opts_init(struct aed_refine_opts *o)
{
	*o = (struct aed_refine_opts){
		.scorer = AED_SCORER_TRAINED,
		.method = AED_REFINE_CONSENSUS,
		.threshold = AED_REFINE_THRESHOLD_DEFAULT,
		.low = AED_REFINE_LOW_DEFAULT,
		.beta = AED_REFINE_BETA_DEFAULT,
		.heldout = AED_REFINE_HELDOUT_DEFAULT,
		.min_positives = AED_REFINE_MIN_POSITIVES_DEFAULT,
		.clf = {
			.max_epochs = AED_REFINE_EPOCHS_DEFAULT,
			.patience = AED_REFINE_PATIENCE_DEFAULT,
			.lr = AED_REFINE_LR_DEFAULT,
			.l2 = AED_REFINE_L2_DEFAULT,
			.seed = AED_REFINE_SEED_DEFAULT,
		},
		.iterations = AED_REFINE_ITERATIONS_DEFAULT,
		.ensemble = AED_REFINE_ENSEMBLE_DEFAULT,
		.hop_frames = AED_REFINE_HOP_FRAMES_DEFAULT,
		.consensus = AED_REFINE_CONSENSUS_DEFAULT,
		.gate = 1,
		.gate_peak = AED_REFINE_GATE_PEAK_DEFAULT,
		.gate_gap = AED_REFINE_GATE_GAP_DEFAULT,
		.with_scores = 1,
		.relabel = AED_REFINE_RELABEL_DEFAULT,
		.relabel_neg = AED_REFINE_RELABEL_NEG_DEFAULT,
		.relabel_floor = AED_REFINE_RELABEL_FLOOR_DEFAULT,
	};
}

struct aed_refine_class {
	int64_t class_id;
	char mid[64], name[128];
	int64_t n_segments, n_patches, n_kept_maxnorm, n_kept;
	double gain;              /* prevalence gain of the class (see refine.c) */
	char top_mid[64], top_name[128]; /* the class with the largest gain */
	int warn;                 /* the class is not the most prevalent sound */
	int gain_checked;         /* 0: no YAMNet scores to check with */
};

struct aed_refine_result {
	int64_t run_id;
	int64_t n_segments;       /* segments with embeddings considered */
	struct aed_refine_class *classes;
	size_t n_classes;
	struct aed_clf_report clf; /* the last classifier trained */
	int stages;               /* SeCoST stages run (0: none) */
	int out_of_fold;          /* self-training judged patches out of fold with
				   * the negatives' quantile (relabel_neg) */
};

int aed_refine(struct aed_db *db, const struct aed_refine_opts *o, struct aed_refine_result *r);
void aed_refine_result_release(struct aed_refine_result *r);

/* --- eval refine --------------------------------------------------------------
 * Segments labelled with the class that have strong labels for it: each stored
 * mask (and the unrefined weak mask, every patch positive) against the strong
 * labels, at patch level (metrics.h: the half-overlap rule), at 10 ms frames,
 * and segment-based on 1 s segments (sed_eval). */
struct aed_refine_eval_row {
	char method[32];          /* "weak" (before), "maxnorm", "hysteresis" */
	int64_t n_segments;
	struct aed_prf frame;        /* every patch */
	struct aed_prf frame_collar; /* patches an event only partly overlaps left out */
	struct aed_prf frame_10ms;   /* 10 ms frames, each positive when its centre
				      * lies in an event (reference) or in the kept
				      * time: the method's frame_mask_fine row, else
				      * its kept patches' central parts (below) */
	struct aed_segment_eval seg;
};

struct aed_refine_eval_result {
	int64_t class_id;
	char mid[64], name[128];
	struct aed_refine_eval_row rows[8];
	size_t n_rows;
};

int aed_eval_refine(struct aed_db *db, const char *class_name, const char *split,
		    struct aed_refine_eval_result *r);

#endif
