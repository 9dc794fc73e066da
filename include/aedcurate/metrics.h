/* metrics.h - evaluation measures for clip scores and frame masks: average
 * precision, ROC AUC, d-prime, equal error rate, precision/recall/F1, the
 * sed_eval segment-based F1 and error rate, and the patch grid in seconds
 * (src/util/metrics.c: pure math, the lowest floor). The stages that use
 * them: `eval scores` (eval.h), `eval refine` (refine.h), `eval mine`
 * (mine.h).
 *
 * Ownership: the functions only read the caller's arrays and write the
 * caller's outputs; nothing is allocated for the caller.
 *
 * Definitions (the ones sklearn and the AudioSet papers use):
 *   AP   sum over distinct score thresholds t (descending) of
 *        (R(t) - R(t_prev)) * P(t), with P(t), R(t) counting every item whose
 *        score >= t (tied scores enter together). NaN without positives.
 *   AUC  probability that a random positive scores above a random negative,
 *        ties counting one half (the Mann-Whitney statistic). NaN without
 *        positives or without negatives.
 *   d'   sqrt(2) * Phi^-1(AUC): the separation of two unit-variance Gaussians
 *        with that AUC. +inf at AUC 1, -inf at AUC 0.
 *   EER  the ROC curve (FPR, TPR) through every distinct threshold from (0,0)
 *        to (1,1), linearly interpolated where FPR = FNR = 1 - TPR.
 *   P/R/F1 at a threshold: predicted positive when score >= threshold;
 *        P = TP/(TP+FP) (NaN with no predictions), R = TP/(TP+FN), F1 their
 *        harmonic mean (0 when both are 0).
 *   Segment-based (sed_eval, Mesaros et al. 2016): per time segment, with
 *        Ntp, Nref, Nsys the active classes in both / reference / system,
 *        FN = Nref - Ntp, FP = Nsys - Ntp, S = min(FN, FP), D = max(0, FN - FP),
 *        I = max(0, FP - FN); totals over segments give P = TP/Nsys,
 *        R = TP/Nref, F1, and ER = (S + D + I) / Nref.
 */
#ifndef AEDCURATE_METRICS_H
#define AEDCURATE_METRICS_H

#include <stddef.h>
#include <stdint.h>

/* --- ranking measures over n items (labels 0/1) --------------------------- */
double aed_average_precision(const float *scores, const uint8_t *labels, size_t n);
double aed_roc_auc(const float *scores, const uint8_t *labels, size_t n);
double aed_equal_error_rate(const float *scores, const uint8_t *labels, size_t n);
/* Phi^-1(p) for 0 < p < 1; -inf/+inf at 0/1, NaN outside. Accurate to ~1e-12. */
double aed_norm_ppf(double p);
double aed_dprime(double auc);

/* A ranked list (a mining queue: best first, no ties): rel[i] = 1 when the
 * item at rank i+1 is a positive. Precision at k: positives in the first k
 * / k, a list shorter than k counting the missing ranks as misses. Average
 * precision: the mean over all n_pos positives of the precision at each
 * positive's rank, a positive never ranked counting 0 (n_pos >= the
 * positives in rel; NaN when n_pos is 0). */
double aed_ranked_precision_at(const uint8_t *rel, size_t n, size_t k);
double aed_ranked_average_precision(const uint8_t *rel, size_t n, size_t n_pos);

struct aed_prf {
	int64_t tp, fp, fn, tn;
	double precision, recall, f1;
};
/* Fill p->precision/recall/f1 from p's counts. */
void aed_prf_finish(struct aed_prf *p);
/* Counts and P/R/F1 of score >= threshold against labels. */
void aed_prf_at(const float *scores, const uint8_t *labels, size_t n, double threshold,
		struct aed_prf *out);
/* Counts and P/R/F1 of a predicted 0/1 mask against a reference mask. */
void aed_prf_masks(const uint8_t *pred, const uint8_t *ref, size_t n, struct aed_prf *out);

/* --- sed_eval segment-based measures ------------------------------------------ */
struct aed_segment_eval {
	int64_t ntp, nref, nsys, s, d, i; /* totals over the segments added */
	double precision, recall, f1, error_rate;
};

/* Add one time segment's activity: ref and sys are n_classes 0/1 flags. */
void aed_segment_eval_add(struct aed_segment_eval *e, const uint8_t *ref,
			  const uint8_t *sys, int n_classes);
void aed_segment_eval_finish(struct aed_segment_eval *e);

/* Activity of one class over segments of seg_s seconds: flags[j] = 1 when an
 * interval [start[k], end[k]) overlaps [j*seg_s, (j+1)*seg_s) (sed_eval's
 * event roll: onset floored, offset ceiled). n_seg flags are written. */
void aed_intervals_to_segments(const double *start, const double *end, size_t n,
			       double seg_s, uint8_t *flags, size_t n_seg);

/* --- patches and time --------------------------------------------------------
 * Patch i of a clip covers [i*hop, i*hop + len) seconds (YAMNet: hop 0.48,
 * len 0.96). A patch counts as holding an event when their overlap is at least
 * half of the shorter of the two (so a 0.3 s gunshot inside a 0.96 s patch
 * counts, and a 5 s engine counts for a patch it half fills). For time-based
 * measures a kept patch stands for its central hop-long part
 * [i*hop + (len-hop)/2, i*hop + (len+hop)/2), the first one extended to 0
 * and the last to the clip's end: these parts tile the clip. */
#define AED_PATCH_HOP_S 0.48  /* s between patch starts (YAMNet: 48 frames) */
#define AED_PATCH_LEN_S 0.96  /* s, patch length (96 frames) */

void aed_intervals_to_patches(const double *start, const double *end, size_t n,
			      double hop_s, double len_s, uint8_t *flags, size_t n_patches);
/* The patches an event overlaps without holding it by the rule above:
 * ambiguous[i] = 1 when patch i is not a positive but overlaps an event.
 * Frame measures "with a collar" leave these out, as sed_eval's event-based
 * measures forgive onsets and offsets within a collar. */
void aed_patches_ambiguous(const double *start, const double *end, size_t n,
			   double hop_s, double len_s, const uint8_t *flags,
			   uint8_t *ambiguous, size_t n_patches);
/* P/R/F1 of pred against ref over the patches where skip[i] is 0. */
void aed_prf_masks_skip(const uint8_t *pred, const uint8_t *ref, const uint8_t *skip,
			size_t n, struct aed_prf *out);
/* The kept patches as time intervals (adjacent ones merged): writes up to
 * n_patches intervals into start/end and their count into *n_out. */
void aed_patches_to_intervals(const uint8_t *mask, size_t n_patches, double hop_s,
			      double len_s, double clip_s, double *start, double *end,
			      size_t *n_out);

#endif
