/* refine.c - the refine stage: weak labels to the frames that hold the
 * sound. Frame scores P(L|x_i) per patch (YAMNet's own output for L, or an
 * ensemble of classifiers trained on the corpus's patch embeddings with every
 * patch given its clip's labels, then self-trained on its own kept patches),
 * SeCoST's cascade of classifiers with blended targets, then the masks of
 * refine_rules.c (and refine_fine.c's consensus) stored by refine_store.c.
 * The corpus it works on is refine_corpus.c's; `eval refine` is
 * eval_refine.c. In the path of a clip: after review, before priors and
 * export. */
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "aedcurate/audio.h"
#include "aedcurate/error.h"
#include "aedcurate/message.h"
#include "aedcurate/nn.h"
#include "aedcurate/refine.h"
#include "aedcurate/store.h"
#include "aedcurate/util.h"
#include "stage/refine_internal.h"

/* --- frame scores ---------------------------------------------------------------- */

/* A fixed hash of segment i's id and an ensemble member (0 for the folds). */
static uint64_t segment_hash(const struct corpus *c, size_t i, int member)
{
	uint64_t z = (uint64_t)c->seg[i] * 0x9e3779b97f4a7c15ull +
		     (uint64_t)member * 0xd1b54a32d192ed03ull;
	z = (z ^ (z >> 31)) * 0xbf58476d1ce4e5b9ull;
	return z ^ (z >> 29);
}

/* The fold of segment i (0..parts-1). */
static int segment_fold(const struct corpus *c, size_t i, int parts)
{
	return (int)(segment_hash(c, i, 0) % (uint64_t)parts);
}

/* Held-out patches of ensemble member e, [npatch]: whole segments, chosen by
 * a fixed hash of the segment id and e, so reruns agree and members hold out
 * different segments (heldout_frac of them). With c->folds the members'
 * held-out segments are a partition instead: member e holds out fold e, so
 * every segment has one member that never trained on it. */
static void choose_heldout(const struct corpus *c, int member, uint8_t *ho)
{
	for (size_t i = 0; i < c->nseg; i++)
		memset(ho + c->off[i], c->folds ? segment_fold(c, i, c->folds) == member
			: (double)(segment_hash(c, i, member) % 10000) < c->heldout_frac * 10000,
		       c->off[i + 1] - c->off[i]);
}

/* The folds the self-training's out-of-fold rule can use: the ensemble's
 * size, or 0 where it has one member or every segment falls in one fold
 * (a member would have nothing to train on). */
static int usable_folds(const struct corpus *c, int k)
{
	if (k < 2)
		return 0;
	for (size_t i = 1; i < c->nseg; i++)
		if (segment_fold(c, i, k) != segment_fold(c, 0, k))
			return k;
	return 0;
}

/* Frame scores from YAMNet's own outputs. */
static void yamnet_scores(struct corpus *c)
{
	for (size_t p = 0; p < c->npatch; p++)
		for (size_t k = 0; k < c->nt; k++)
			c->score[p * c->nt + k] = c->yam[p * AED_YAMNET_CLASSES + c->t[k].yam];
}

/* The ensemble's probabilities for n input rows x: the mean of its
 * members'. tmp has room for n * nt floats. */
int refine_ensemble_predict(const struct corpus *c, const float *x, size_t n, float *p,
			    float *tmp)
{
	int rc = AED_OK;
	size_t m = n * c->nt;

	for (int e = 0; e < c->n_model && !rc; e++) {
		rc = aed_clf_predict(c->model[e], x, n, e ? tmp : p);
		for (size_t v = 0; e && !rc && v < m; v++)
			p[v] += tmp[v];
	}
	for (size_t v = 0; c->n_model > 1 && v < m; v++)
		p[v] /= (float)c->n_model;
	return rc;
}

/* Train an ensemble of o->ensemble classifiers on targets y [npatch][nt],
 * member e with its own held-out segments and seed, and score every patch
 * with their mean into c->score. rep: member 0's report. */
static int train_predict(struct corpus *c, const float *y, const float *pos_w,
			 const struct aed_refine_opts *o, struct aed_clf_report *rep)
{
	int k = o->ensemble > 0 ? o->ensemble : 1, rc = AED_OK;
	uint8_t *ho = malloc(c->npatch ? c->npatch : 1);

	if (c->folds && !c->oof &&
	    !(c->oof = malloc((c->npatch ? c->npatch : 1) * c->nt * sizeof *c->oof))) {
		free(ho);
		return aed_error(AED_ENOMEM, "out of memory");
	}
	float *tmp = k > 1 ? malloc((c->npatch ? c->npatch : 1) * c->nt * sizeof *tmp) : NULL;

	for (int e = 0; e < c->n_model; e++)
		aed_clf_free(&c->model[e]);
	c->n_model = 0;
	if (!ho || (k > 1 && !tmp)) {
		free(ho);
		free(tmp);
		return aed_error(AED_ENOMEM, "out of memory");
	}
	for (int e = 0; e < k && !rc; e++) {
		struct aed_clf_opts co = o->clf;
		struct aed_clf_report r1;
		choose_heldout(c, e, ho);
		co.seed = (o->clf.seed ? o->clf.seed : 1) + (uint64_t)e;
		rc = aed_clf_train(c->emb, c->npatch, c->dim, y, (int)c->nt, pos_w, ho, &co,
				   &c->model[e], &r1);
		if (!rc)
			c->n_model = e + 1;
		/* Out of fold: this member's scores of the segments it held out. */
		for (size_t i = 0; !rc && c->oof && i < c->nseg; i++)
			if (c->off[i + 1] > c->off[i] && ho[c->off[i]])
				rc = aed_clf_predict(c->model[e], c->emb + c->off[i] * c->dim,
						     c->off[i + 1] - c->off[i],
						     c->oof + c->off[i] * c->nt);
		if (!rc && e == 0)
			*rep = r1;
	}
	if (!rc)
		rc = refine_ensemble_predict(c, c->emb, c->npatch, c->score, tmp);
	free(ho);
	free(tmp);
	return rc;
}

/* --- the stage ------------------------------------------------------------------ */

static json_t *params_json(const struct aed_refine_opts *o)
{
	json_t *a = json_array();
	for (int i = 0; i < o->n_alphas; i++)
		json_array_append_new(a, json_real(o->alphas[i]));
	json_t *j = json_pack("{s:o, s:b, s:o, s:s, s:s, s:f, s:f, s:f, s:f, s:i, s:i, s:i, "
			      "s:i, s:f, s:f, s:f, s:b, s:b, s:f, s:f, s:i, s:i, s:f, s:b, s:f, s:f, s:i, "
			      "s:i, s:I, s:i, s:o}",
			      "class", aed_json_text(o->class_name), "all", o->all, "split",
			      aed_json_text(o->split),
			      "scorer", aed_scorer_name(o->scorer), "method",
			      aed_refine_method_name(o->method), "threshold", o->threshold, "low",
			      o->low, "beta", o->beta, "heldout", o->heldout, "hidden", o->clf.hidden,
			      "secost_stages", o->secost_stages, "min_positives", o->min_positives,
			      "iterations", o->iterations, "relabel", o->relabel, "relabel_neg", o->relabel_neg,
			      "relabel_floor", o->relabel_floor, "drop", o->drop,
			      "with_scores", o->with_scores, "lr", o->clf.lr,
			      "l2", o->clf.l2, "epochs", o->clf.max_epochs,
			      "hop_frames", o->hop_frames, "consensus", o->consensus,
			      "gate", o->gate, "gate_db", o->gate_db, "gate_peak", o->gate_peak,
			      "gate_gap", o->gate_gap, "ensemble", o->ensemble,
			      "seed", (json_int_t)(o->clf.seed ? o->clf.seed : 1),
			      "fine_rounds", o->fine_rounds,
			      "alphas", a);
	return j;
}

/* The corpus refine works on (refine_corpus.c), and r's classes: the
 * embedded segments, the target classes, their arrays and the classifier's
 * inputs. *have_map: YAMNet's outputs could be mapped to classes (yam_ids). */
static int load_corpus(struct aed_db *db, const struct aed_refine_opts *o, struct corpus *c,
		       int64_t yam_ids[AED_YAMNET_CLASSES], int *have_map,
		       struct aed_refine_result *r)
{
	int rc;

	if ((rc = refine_load_segments(db, o->split, c)))
		return rc;
	if (!c->nseg)
		return aed_error(AED_ESTATE, "refine: no segment%s%s%s has embeddings (run "
				 "`aedcurate embed` first)", o->split ? " of split '" : "",
				 o->split ? o->split : "", o->split ? "'" : "");
	rc = aed_yamnet_output_classes(db, NULL, yam_ids);
	if (rc && o->scorer == AED_SCORER_YAMNET)
		return rc;
	*have_map = !rc;
	rc = AED_OK;
	if ((rc = refine_load_targets(db, o, *have_map ? yam_ids : NULL, c)))
		return rc;
	if ((rc = refine_load_arrays(db, c, o->scorer == AED_SCORER_TRAINED,
				      o->scorer == AED_SCORER_YAMNET)))
		return rc;
	c->dim = AED_YAMNET_EMBED_DIM;
	if (o->scorer == AED_SCORER_TRAINED && o->with_scores && c->yam && (rc = refine_append_scores(c)))
		return rc;
	c->heldout_frac = o->heldout;
	c->score = malloc((c->npatch ? c->npatch : 1) * c->nt * sizeof *c->score);
	r->classes = calloc(c->nt, sizeof *r->classes);
	if (!c->score || !r->classes)
		return aed_error(AED_ENOMEM, "out of memory for %zu patches x %zu classes", c->npatch,
				 c->nt);
	r->n_classes = c->nt;
	r->n_segments = (int64_t)c->nseg;
	for (size_t k = 0; k < c->nt; k++) {
		r->classes[k].class_id = c->t[k].class_id;
		snprintf(r->classes[k].mid, sizeof r->classes[k].mid, "%s", c->t[k].mid);
		snprintf(r->classes[k].name, sizeof r->classes[k].name, "%s", c->t[k].name);
	}
	return AED_OK;
}

/* The q quantile of class k's scores sc over the patches of segments not
 * labelled k (INFINITY when there are none); buf has room for npatch. */
static float negative_quantile(const struct corpus *c, const float *sc, size_t k, double q,
				float *buf)
{
	size_t n = 0;

	for (size_t i = 0; i < c->nseg; i++)
		if (!c->lab[i * c->nt + k])
			for (size_t p = c->off[i]; p < c->off[i + 1]; p++)
				buf[n++] = sc[p * c->nt + k];
	return n ? aed_select_f(buf, n, (size_t)(q * (double)(n - 1) + 0.5)) : INFINITY;
}

/* The trained scorer: rounds of self-training (or SeCoST's stages) of an
 * ensemble on the patches' targets, whose scores end in c->score. *y_out
 * and *pos_w_out: the last targets and the positive weights, the caller's
 * to free; *alpha_final: SeCoST's alpha for the soft labels. */
static int train_rounds(const struct aed_refine_opts *o, struct corpus *c,
			struct aed_refine_result *r, float **y_out, float **pos_w_out,
			double *alpha_final)
{
	float *y, *pos_w, *qbuf;
	double *prior, *wt;
	int rc = AED_OK;

	/* Very weak labels: each patch gets its clip's labels. Positives are
	 * weighted as in `priors`, with priors over this corpus. */
	/* The negatives' rule judges patches out of fold: a partition of
	 * held-out segments, when there is self-training to judge. */
	if (o->relabel_neg > 0 && !o->secost_stages && o->iterations > 1) {
		c->folds = usable_folds(c, o->ensemble > 0 ? o->ensemble : 1);
		r->out_of_fold = c->folds > 0;
		if (!c->folds)
			aed_info("refine: %s, so self-training keeps patches by --relabel alone",
				 o->ensemble < 2 ? "one classifier gives no out-of-fold scores"
						 : "every segment falls in one fold");
	}
	y = *y_out = malloc((c->npatch ? c->npatch : 1) * c->nt * sizeof *y);
	qbuf = c->folds ? malloc((c->npatch ? c->npatch : 1) * sizeof *qbuf) : NULL;
	pos_w = *pos_w_out = malloc(c->nt * sizeof *pos_w);
	prior = malloc(c->nt * sizeof *prior);
	wt = malloc(c->nt * sizeof *wt);
	if (!y || !pos_w || !prior || !wt || (c->folds && !qbuf)) {
		rc = aed_error(AED_ENOMEM, "out of memory for %zu x %zu targets", c->npatch, c->nt);
		goto out;
	}
	for (size_t k = 0; k < c->nt; k++)
		prior[k] = (double)c->t[k].n_pos / (double)c->nseg;
	aed_prior_weights(prior, c->nt, o->beta, wt, NULL);
	for (size_t k = 0; k < c->nt; k++)
		pos_w[k] = (float)wt[k];
	for (size_t i = 0; i < c->nseg; i++)
		for (size_t p = c->off[i]; p < c->off[i + 1]; p++)
			for (size_t k = 0; k < c->nt; k++)
				y[p * c->nt + k] = c->lab[i * c->nt + k];
	int stages = o->secost_stages ? o->secost_stages : o->iterations;
	for (int s = 1; s <= stages; s++) {
		if (s > 1 && !o->secost_stages) {
			/* Self-training: keep a labelled segment's patches where the
			 * last round's max-normalised score reaches relabel or, with
			 * relabel_neg, where their out-of-fold score reaches what
			 * the class's negatives score (at least relabel_floor of
			 * the max). */
			const float *sc = c->folds ? c->oof : c->score;
			for (size_t k = 0; k < c->nt; k++) {
				double tneg = c->folds ? negative_quantile(c, sc, k, o->relabel_neg, qbuf)
						       : INFINITY;
				for (size_t i = 0; i < c->nseg; i++) {
					float mx = 0;
					if (!c->lab[i * c->nt + k])
						continue;
					for (size_t p = c->off[i]; p < c->off[i + 1]; p++)
						mx = fmaxf(mx, sc[p * c->nt + k]);
					double thr = fmin(o->relabel * mx, fmax(tneg, o->relabel_floor * mx));
					for (size_t p = c->off[i]; p < c->off[i + 1]; p++)
						y[p * c->nt + k] = mx > 0 && sc[p * c->nt + k] >= thr
							? 1.0f : o->drop ? -1.0f : 0.0f;
				}
			}
		} else if (s > 1) {
			/* SeCoST: stage s learns alpha*y + (1-alpha)*(stage s-1). */
			double a = o->n_alphas ? o->alphas[s - 2 < o->n_alphas ? s - 2 : o->n_alphas - 1]
					      : AED_REFINE_SECOST_ALPHA_DEFAULT;
			for (size_t i = 0; i < c->nseg; i++)
				for (size_t p = c->off[i]; p < c->off[i + 1]; p++)
					for (size_t k = 0; k < c->nt; k++)
						y[p * c->nt + k] = (float)(a * c->lab[i * c->nt + k] +
									  (1 - a) * c->score[p * c->nt + k]);
		}
		if ((rc = train_predict(c, y, pos_w, o, &r->clf)))
			goto out;
		aed_info("refine: %s %d/%d: %d epochs (best %d), loss %.4f train, %.4f held out",
			 o->secost_stages ? "stage" : "round", s, stages, r->clf.epochs,
			 r->clf.best_epoch, r->clf.train_loss, r->clf.heldout_loss);
	}
	if (o->secost_stages) {
		r->stages = o->secost_stages;
		/* The alpha a next stage would use: the last one given. */
		*alpha_final = o->n_alphas ? o->alphas[o->n_alphas - 1]
					   : AED_REFINE_SECOST_ALPHA_DEFAULT;
	}
out:
	free(prior);
	free(wt);
	free(qbuf);
	return rc;
}

/* Consensus self-training: the fine masks' patches (refine_fine.c) become
 * the labelled segments' positives (the rest negatives) for further rounds. */
static int fine_rounds(struct aed_db *db, const struct aed_refine_opts *o, struct corpus *c,
		       float *y, const float *pos_w, struct aed_refine_result *r)
{
	int rc;

	for (int s = 0; s < o->fine_rounds; s++) {
		if ((rc = refine_fine_pass(db, o, c)))
			return rc;
		for (size_t i = 0; i < c->nseg; i++)
			for (size_t k = 0; k < c->nt; k++) {
				const uint8_t *fp = c->fine_patch ? c->fine_patch[i * c->nt + k] : NULL;
				if (!c->lab[i * c->nt + k] || !fp)
					continue;
				for (size_t p = c->off[i]; p < c->off[i + 1]; p++)
					y[p * c->nt + k] = fp[p - c->off[i]] ? 1.0f : o->drop ? -1.0f : 0.0f;
			}
		refine_fine_free(c);
		if ((rc = train_predict(c, y, pos_w, o, &r->clf)))
			return rc;
		aed_info("refine: fine round %d/%d: %d epochs (best %d), loss %.4f train, %.4f held "
			 "out", s + 1, o->fine_rounds, r->clf.epochs, r->clf.best_epoch,
			 r->clf.train_loss, r->clf.heldout_loss);
	}
	return AED_OK;
}

int aed_refine(struct aed_db *db, const struct aed_refine_opts *opts, struct aed_refine_result *r)
{
	struct aed_refine_opts o = *opts;
	struct corpus c = { 0 };
	int64_t yam_ids[AED_YAMNET_CLASSES];
	float *y = NULL, *pos_w = NULL;
	double alpha_final = 1;
	int rc, have_map = 0, run_open = 0;

	memset(r, 0, sizeof *r);
	if (!o.class_name == !o.all)
		return aed_error(AED_EUSAGE, "refine: give --class NAME|MID or --all");
	if (o.threshold <= 0)
		o.threshold = AED_REFINE_THRESHOLD_DEFAULT;
	if (o.low <= 0)
		o.low = AED_REFINE_LOW_DEFAULT;
	/* Measured on the mixture test set (tests/cli/t1100-refine-mixtures.sh):
	 * a strong L2 penalty keeps the classifier from memorising the
	 * backgrounds of the few labelled clips. */
	if (o.clf.lr <= 0)
		o.clf.lr = AED_REFINE_LR_DEFAULT;
	if (o.clf.l2 <= 0)
		o.clf.l2 = AED_REFINE_L2_DEFAULT;
	if (o.heldout <= 0)
		o.heldout = AED_REFINE_HELDOUT_DEFAULT;
	if (o.min_positives <= 0)
		o.min_positives = AED_REFINE_MIN_POSITIVES_DEFAULT;
	if (o.iterations <= 0)
		o.iterations = AED_REFINE_ITERATIONS_DEFAULT;
	if (o.relabel <= 0)
		o.relabel = AED_REFINE_RELABEL_DEFAULT;
	if (o.hop_frames <= 0)
		o.hop_frames = AED_REFINE_HOP_FRAMES_DEFAULT;
	if (o.consensus <= 0)
		o.consensus = AED_REFINE_CONSENSUS_DEFAULT;
	if (o.hop_frames > AED_PATCH_FRAMES / 2 /* 48 */ || o.consensus > 1 || o.fine_rounds < 0 ||
	    o.fine_rounds > 20 || o.gate_gap < 0)
		return aed_error(AED_EUSAGE, "refine: need 1 <= --hop-frames (%d) <= 48, 0 < "
				 "--consensus (%g) <= 1, --fine-rounds (%d) <= 20 and a gate gap "
				 "(%d frames) >= 0", o.hop_frames, o.consensus, o.fine_rounds,
				 o.gate_gap);
	if (o.threshold > 1 || o.low > o.threshold || o.heldout >= 1 || o.beta < 0)
		return aed_error(AED_EUSAGE, "refine: need 0 < low (%g) <= threshold (%g) <= 1, "
				 "0 < heldout (%g) < 1, beta (%g) >= 0", o.low, o.threshold,
				 o.heldout, o.beta);
	if (o.relabel > 1 || o.iterations > 50 || !(o.relabel_neg >= 0 && o.relabel_neg < 1) ||
	    !(o.relabel_floor >= 0 && o.relabel_floor <= 1))
		return aed_error(AED_EUSAGE, "refine: need --relabel <= 1, --iterations <= 50, 0 <= "
				 "--relabel-neg < 1 and 0 <= --relabel-floor <= 1");
	if (o.secost_stages < 0 || o.secost_stages > 20)
		return aed_error(AED_EUSAGE, "refine: --stages must be 1..20");
	if (o.secost_stages && o.scorer != AED_SCORER_TRAINED)
		return aed_error(AED_EUSAGE, "refine --secost trains classifiers: use --scorer trained");
	for (int i = 0; i < o.n_alphas; i++)
		if (!(o.alphas[i] >= 0 && o.alphas[i] <= 1))
			return aed_error(AED_EUSAGE, "refine: alpha %g is not in [0, 1]", o.alphas[i]);
	if ((rc = load_corpus(db, &o, &c, yam_ids, &have_map, r)))
		goto out;
	if ((rc = aed_run_begin(db, "refine", params_json(&o), &r->run_id)))
		goto out;
	run_open = 1;

	if (o.scorer == AED_SCORER_YAMNET)
		yamnet_scores(&c);
	else if ((rc = train_rounds(&o, &c, r, &y, &pos_w, &alpha_final)))
		goto out;
	if (c.yam && have_map) {
		double *segsum = refine_segment_sums(&c);
		if (!segsum) {
			rc = aed_error(AED_ENOMEM, "out of memory");
			goto out;
		}
		for (size_t k = 0; !rc && k < c.nt; k++)
			if (c.t[k].yam >= 0)
				rc = refine_prevalence_check(db, &c, segsum, k, yam_ids, &r->classes[k]);
		free(segsum);
		if (rc)
			goto out;
	}
	if (o.method == AED_REFINE_CONSENSUS && y && !o.secost_stages &&
	    (rc = fine_rounds(db, &o, &c, y, pos_w, r)))
		goto out;
	if (o.method == AED_REFINE_CONSENSUS && (rc = refine_fine_pass(db, &o, &c)))
		goto out;
	if ((rc = refine_store_results(db, &o, &c, r, r->stages ? y : NULL, alpha_final)))
		goto out;
	rc = aed_run_end(db, r->run_id, AED_RUN_OK, (int64_t)c.nt, 0, NULL);
	run_open = 0;
out:
	if (run_open)
		aed_run_fail(db, r->run_id, rc, 0, 0);
	refine_corpus_release(&c);
	free(y);
	free(pos_w);
	if (rc)
		aed_refine_result_release(r);
	return rc;
}

void aed_refine_result_release(struct aed_refine_result *r)
{
	free(r->classes);
	r->classes = NULL;
	r->n_classes = 0;
}
