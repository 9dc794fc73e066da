/* refine.c - `aedcurate refine`: argv to options, then the refinement stage
 * (src/stage/refine.c), and its per-class summary or --json rendering. */
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "aedcurate/cli.h"
#include "aedcurate/error.h"
#include "aedcurate/refine.h"
#include "aedcurate/store.h"
#include "aedcurate/util.h"
#include "cmd/commands.h"

#define MAX_ALPHAS 32

/* The stage's options, and the options that need converting into them:
 * names of enum values, negated flags, seconds, the SeCoST list. */
struct refine_cli {
	struct aed_refine_opts s;
	const char *scorer, *method;
	int no_gate, embedding_only, secost;
	double gate_gap;             /* s */
	int stages;
	const char *alpha;
};

#define O(f) offsetof(struct refine_cli, f)
#define SHARE(dflt) .def.d = (dflt), AED_OPT_RANGE(0, 1), .flags = AED_OPT_MIN_OPEN
static const struct aed_opt refine_table[] = {
	{ "class", 'c', AED_OPT_STR, O(s.class_name), "NAME|MID",
	  "refine this class (name or mid, any case)" },
	{ "all", 'a', AED_OPT_FLAG, O(s.all), NULL,
	  "refine every trainable class with --min-positives labelled segments" },
	{ "split", 's', AED_OPT_STR, O(s.split), "NAME", "only this split's segments",
	  .def_note = "every segment with embeddings" },
	{ "scorer", 0, AED_OPT_STR, O(scorer), "NAME",
	  "frame scores: trained (a classifier on the embeddings) or yamnet", .def.s = "trained" },
	{ "method", 'm', AED_OPT_STR, O(method), "NAME",
	  "consensus, hysteresis or maxnorm; maxnorm masks are always stored too",
	  .def.s = "consensus" },
	{ "hop-frames", 0, AED_OPT_INT, O(s.hop_frames), "N",
	  "consensus: fine patches every N log-mel frames of 10 ms",
	  .def.i = AED_REFINE_HOP_FRAMES_DEFAULT, AED_OPT_RANGE(1, 48) },
	{ "consensus", 0, AED_OPT_DOUBLE, O(s.consensus), "X",
	  "consensus: a frame needs this share of the fine patches over it",
	  SHARE(AED_REFINE_CONSENSUS_DEFAULT) },
	{ "gate-db", 0, AED_OPT_DOUBLE, O(s.gate_db), "DB",
	  "consensus: frames of a kept run stay when this many dB above the clip's background",
	  AED_OPT_RANGE(-60, 60) },
	{ "gate-peak", 0, AED_OPT_DOUBLE, O(s.gate_peak), "DB",
	  "consensus: frames of a kept run must also be within DB of its loudest frame",
	  .def.d = AED_REFINE_GATE_PEAK_DEFAULT, AED_OPT_RANGE(0, 120) },
	{ "gate-gap", 0, AED_OPT_DOUBLE, O(gate_gap), "S",
	  "consensus: quieter stretches shorter than S seconds inside a run are bridged",
	  .def.d = AED_REFINE_GATE_GAP_DEFAULT / 100.0, AED_OPT_RANGE(0, 10) },
	{ "no-gate", 0, AED_OPT_FLAG, O(no_gate), NULL,
	  "consensus: keep the frame masks as the fine patches give them (no energy gate)" },
	{ "fine-rounds", 0, AED_OPT_INT, O(s.fine_rounds), "N",
	  "consensus: retrain N times on the fine masks' patches", AED_OPT_RANGE(0, 20) },
	{ "model", 0, AED_OPT_STR, O(s.model_path), "PATH", "consensus: yamnet.tflite",
	  .def_note = "the usual search" },
	{ "threshold", 't', AED_OPT_DOUBLE, O(s.threshold), "X",
	  "keep patches whose max-normalised score is >= X", SHARE(AED_REFINE_THRESHOLD_DEFAULT) },
	{ "low", 0, AED_OPT_DOUBLE, O(s.low), "X",
	  "hysteresis: grow kept runs through neighbours >= X (at most --threshold)",
	  SHARE(AED_REFINE_LOW_DEFAULT) },
	{ "beta", 'b', AED_OPT_DOUBLE, O(s.beta), "B",
	  "positive weight (mean prior / prior)^B in training", .def.d = AED_REFINE_BETA_DEFAULT,
	  AED_OPT_AT_LEAST(0) },
	{ "heldout", 0, AED_OPT_DOUBLE, O(s.heldout), "F",
	  "fraction of segments held out for early stopping (with --relabel-neg each of the "
	  "--ensemble classifiers holds out its own 1/N instead)", .def.d = AED_REFINE_HELDOUT_DEFAULT,
	  AED_OPT_RANGE(0, 1), .flags = AED_OPT_MIN_OPEN | AED_OPT_MAX_OPEN },
	{ "hidden", 0, AED_OPT_INT, O(s.clf.hidden), "N", "hidden ReLU units",
	  AED_OPT_RANGE(0, 65536), .def_note = "logistic regression" },
	{ "epochs", 0, AED_OPT_INT, O(s.clf.max_epochs), "N", "most training epochs",
	  .def.i = AED_REFINE_EPOCHS_DEFAULT, AED_OPT_RANGE(0, 100000) },
	{ "patience", 0, AED_OPT_INT, O(s.clf.patience), "N",
	  "stop after N epochs without held-out improvement", .def.i = AED_REFINE_PATIENCE_DEFAULT,
	  AED_OPT_AT_LEAST(0) },
	{ "lr", 0, AED_OPT_DOUBLE, O(s.clf.lr), "X", "Adam step size",
	  .def.d = AED_REFINE_LR_DEFAULT, AED_OPT_AT_LEAST(0), .flags = AED_OPT_MIN_OPEN },
	{ "l2", 0, AED_OPT_DOUBLE, O(s.clf.l2), "X", "L2 weight penalty",
	  .def.d = AED_REFINE_L2_DEFAULT, AED_OPT_AT_LEAST(0), .flags = AED_OPT_MIN_OPEN },
	{ "min-positives", 0, AED_OPT_INT, O(s.min_positives), "N",
	  "--all: skip classes with fewer labelled segments",
	  .def.i = AED_REFINE_MIN_POSITIVES_DEFAULT, AED_OPT_AT_LEAST(0) },
	{ "iterations", 'n', AED_OPT_INT, O(s.iterations), "N",
	  "self-training rounds of the trained scorer (1 = very weak labels only)",
	  .def.i = AED_REFINE_ITERATIONS_DEFAULT, AED_OPT_RANGE(1, 50) },
	{ "ensemble", 0, AED_OPT_INT, O(s.ensemble), "N",
	  "trained scorer: the mean of N classifiers, each with its own held-out segments",
	  .def.i = AED_REFINE_ENSEMBLE_DEFAULT, AED_OPT_RANGE(1, AED_REFINE_MAX_ENSEMBLE) },
	{ "seed", 0, AED_OPT_UINT64, O(s.clf.seed), "N",
	  "trained scorer: initialisation and shuffling seed; member e of an ensemble uses N + e",
	  .def.i = AED_REFINE_SEED_DEFAULT, AED_OPT_AT_LEAST(1) },
	{ "relabel", 0, AED_OPT_DOUBLE, O(s.relabel), "X",
	  "between rounds a labelled clip's patches stay positive where n_i >= X",
	  SHARE(AED_REFINE_RELABEL_DEFAULT) },
	{ "relabel-neg", 0, AED_OPT_DOUBLE, O(s.relabel_neg), "Q",
	  "between rounds a patch also stays positive where its out-of-fold score reaches the Q "
	  "quantile of the class's out-of-fold scores on segments not labelled with it (needs "
	  "--ensemble >= 2; 0: in-sample scores, --relabel only)",
	  .def.d = AED_REFINE_RELABEL_NEG_DEFAULT, AED_OPT_RANGE(0, 1), .flags = AED_OPT_MAX_OPEN },
	{ "relabel-floor", 0, AED_OPT_DOUBLE, O(s.relabel_floor), "X",
	  "--relabel-neg's rule keeps no patch under X of its segment's max",
	  .def.d = AED_REFINE_RELABEL_FLOOR_DEFAULT, AED_OPT_RANGE(0, 1) },
	{ "drop", 0, AED_OPT_FLAG, O(s.drop), NULL,
	  "between rounds, unkept patches of labelled clips leave the loss",
	  .def_note = "they become negatives" },
	{ "embedding-only", 0, AED_OPT_FLAG, O(embedding_only), NULL,
	  "trained scorer: only the embedding as input", .def_note = "YAMNet's scores too" },
	{ "secost", 0, AED_OPT_FLAG, O(secost), NULL,
	  "SeCoST: a cascade of classifiers, stage k learning alpha*y + (1-alpha)*stage k-1" },
	{ "stages", 'K', AED_OPT_INT, O(stages), "K", "--secost: number of stages",
	  .def.i = AED_REFINE_SECOST_STAGES_DEFAULT, AED_OPT_RANGE(1, 20) },
	{ "alpha", 0, AED_OPT_STR, O(alpha), "A[,A...]",
	  "--secost: alpha of stages 2..K, the last repeating", .def_note = CMD_STR(AED_REFINE_SECOST_ALPHA_DEFAULT) },
	{ 0 }
};
#undef SHARE
#undef O

static const struct aed_cmd_spec refine_spec = {
	.name = "refine",
	.summary = "Weak-label refinement: which patches of a labelled clip hold the sound.",
	.details =
		"For each segment labelled L (or a descendant of L), frame scores P(L|x_i) per\n"
		"0.96 s patch (hop 0.48 s) come from YAMNet's own output for L (--scorer yamnet)\n"
		"or from a classifier trained on the corpus's patch embeddings and YAMNet's\n"
		"scores (log-odds; --embedding-only leaves them out), every patch carrying its\n"
		"clip's labels (--scorer trained: positives weighted as `priors`, held-out\n"
		"segments stop training; --ensemble classifiers N, each holding out its own 1/N\n"
		"of the segments, and their mean is the score), then retrained for --iterations\n"
		"rounds on the patches the previous round kept (self-training): a labelled\n"
		"clip's patch stays positive where its score by the member that held its clip\n"
		"out (out of fold) reaches --relabel of the clip's best, or the --relabel-neg\n"
		"quantile of the class's out-of-fold scores on the segments not labelled with\n"
		"it, if that is at least --relabel-floor of the best.\n"
		"n_i = score / max over the segment; maxnorm keeps n_i >= threshold (the\n"
		"AudioSet rule); hysteresis also keeps neighbours of kept patches with n_i >=\n"
		"low. consensus (the default) localises finer: patches every --hop-frames\n"
		"log-mel frames (10 ms each) are cut from the stored log-mel, scored the same\n"
		"way and kept by hysteresis; a 10 ms frame is in the event when --consensus of\n"
		"the fine patches over it were kept.\n"
		"An energy gate then sharpens each run of kept frames: only frames --gate-db\n"
		"above the clip's background level (the median of the frames outside the mask)\n"
		"and within --gate-peak of the run's loudest frame stay, with quiet gaps under\n"
		"--gate-gap bridged; a run with no such frame stays whole. The 0.48 s patch mask\n"
		"follows from the frames by the half-overlap rule. Stored: frame_score,\n"
		"frame_mask (maxnorm and the method), frame_mask_fine (consensus), refine_class;\n"
		"with --secost, soft_label. A warning names classes whose segments gain more\n"
		"YAMNet score for an unrelated class than for L itself: the method assumes L is\n"
		"the most prevalent sound in its own segments. Another names classes with fewer\n"
		"than 10 labelled segments (--scorer trained): the defaults were validated with\n"
		"10 or more per class (JSON below_validated).",
	.opts = refine_table,
	.min_args = 0,
	.max_args = 0,
};

/* Fewer labelled segments than the trained scorer's defaults were
 * validated with (the plain rule does not learn from them). */
static int below_validated(const struct aed_refine_opts *ro, const struct aed_refine_class *c)
{
	return ro->scorer == AED_SCORER_TRAINED && c->n_segments < AED_REFINE_VALIDATED_POSITIVES;
}

int cmd_refine(struct aed_ctx *ctx, int argc, char **argv)
{
	struct refine_cli o = { 0 };
	struct aed_refine_opts *ro = &o.s;
	struct aed_refine_result r = { 0 };
	double alphas[MAX_ALPHAS];
	int nargs, rc;

	aed_refine_opts_init(ro);
	if ((rc = aed_parse(ctx, &refine_spec, argc, argv, &o, &nargs)))
		return rc;
	if ((rc = aed_scorer_parse(o.scorer, &ro->scorer)) ||
	    (rc = aed_refine_method_parse(o.method, &ro->method)))
		return rc;
	if (ro->low > ro->threshold)
		return aed_error(AED_EUSAGE, "refine: need 0 < --low (%g) <= --threshold (%g) <= 1",
				 ro->low, ro->threshold);
	ro->with_scores = !o.embedding_only;
	ro->gate = !o.no_gate;
	ro->gate_gap = (int)lround(o.gate_gap * 100);
	if (o.secost) {
		ro->secost_stages = o.stages;
		if (o.alpha) {
			const char *p = o.alpha;
			while (*p) {
				char *end;
				double a = strtod(p, &end);
				if (end == p || (*end && *end != ',') || !(a >= 0 && a <= 1))
					return aed_error(AED_EUSAGE, "refine: --alpha '%s': expected numbers "
							 "in [0, 1] separated by commas", o.alpha);
				if (ro->n_alphas == MAX_ALPHAS)
					return aed_error(AED_EUSAGE, "refine: --alpha: at most %d values",
							 MAX_ALPHAS);
				alphas[ro->n_alphas++] = a;
				p = *end ? end + 1 : end;
			}
			ro->alphas = alphas;
		}
	} else if (o.alpha) {
		return aed_error(AED_EUSAGE, "refine: --alpha needs --secost");
	}
	if ((rc = aed_ctx_open_db(ctx, 0)) || (rc = aed_refine(ctx->db, ro, &r)))
		return rc;
	for (size_t k = 0; k < r.n_classes; k++)
		if (below_validated(ro, &r.classes[k]))
			aed_warn("refine: %s (%s): %lld labelled segment%s; the defaults were "
				 "validated with %d or more per class, so its masks may be less "
				 "precise than the README's figures", r.classes[k].mid,
				 r.classes[k].name, (long long)r.classes[k].n_segments,
				 r.classes[k].n_segments == 1 ? "" : "s", AED_REFINE_VALIDATED_POSITIVES);
	for (size_t k = 0; k < r.n_classes; k++)
		if (r.classes[k].warn)
			aed_warn("refine: %s (%s): %s (%s) gains more score than the class itself in "
				 "its labelled segments; it may be the most prevalent sound there, and "
				 "the refinement may keep it instead", r.classes[k].mid,
				 r.classes[k].name, r.classes[k].top_mid, r.classes[k].top_name);
	if (ctx->g.json) {
		json_t *j = json_pack("{s:I, s:I, s:s, s:s, s:f, s:f, s:i, s:b, s:[]}", "run_id",
				      (json_int_t)r.run_id, "segments", (json_int_t)r.n_segments,
				      "scorer", aed_scorer_name(ro->scorer), "method",
				      aed_refine_method_name(ro->method), "threshold", ro->threshold, "low",
				      ro->low, "stages", r.stages, "out_of_fold", r.out_of_fold,
				      "classes");
		json_t *a = j ? json_object_get(j, "classes") : NULL;
		for (size_t k = 0; a && k < r.n_classes; k++) {
			const struct aed_refine_class *c = &r.classes[k];
			json_array_append_new(a, json_pack("{s:s, s:s, s:I, s:I, s:I, s:I, s:o, s:s, s:b, s:b}",
				"mid", c->mid, "name", c->name, "segments", (json_int_t)c->n_segments,
				"patches", (json_int_t)c->n_patches, "kept", (json_int_t)c->n_kept,
				"kept_maxnorm", (json_int_t)c->n_kept_maxnorm,
				"gain", c->gain_checked ? json_real(c->gain) : json_null(),
				"top_mid", c->top_mid, "warning", c->warn, "below_validated",
				below_validated(ro, c)));
		}
		if (ro->scorer == AED_SCORER_TRAINED && j)
			json_object_set_new(j, "classifier", json_pack("{s:i, s:i, s:f, s:f, s:I, s:I}",
				"epochs", r.clf.epochs, "best_epoch", r.clf.best_epoch, "train_loss",
				r.clf.train_loss, "heldout_loss", isfinite(r.clf.heldout_loss) ?
				r.clf.heldout_loss : -1.0, "train_rows", (json_int_t)r.clf.n_train,
				"heldout_rows", (json_int_t)r.clf.n_heldout));
		if (!j || json_dumpf(j, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER))
			rc = aed_error(AED_EIO, "writing JSON to stdout failed");
		else
			fputc('\n', stdout);
		json_decref(j);
		aed_refine_result_release(&r);
		return rc;
	}
	printf("refine run %lld: %lld segments, scorer %s, method %s (threshold %g, low %g)%s\n",
	       (long long)r.run_id, (long long)r.n_segments, aed_scorer_name(ro->scorer),
	       aed_refine_method_name(ro->method), ro->threshold, ro->low,
	       r.stages ? ", SeCoST" : "");
	if (ro->scorer == AED_SCORER_TRAINED)
		printf("classifier: %zu train / %zu held-out patches, %d epochs (best %d), loss "
		       "%.4f / %.4f\n", r.clf.n_train, r.clf.n_heldout, r.clf.epochs,
		       r.clf.best_epoch, r.clf.train_loss, r.clf.heldout_loss);
	if (r.stages)
		printf("SeCoST: %d stages; soft clip labels stored in soft_label\n", r.stages);
	printf("%-12s %8s %8s %8s %8s  %s\n", "mid", "segments", "patches", "maxnorm",
	       aed_refine_method_name(ro->method), "name");
	for (size_t k = 0; k < r.n_classes; k++) {
		const struct aed_refine_class *c = &r.classes[k];
		printf("%-12s %8lld %8lld %8lld %8lld  %s%s\n", c->mid, (long long)c->n_segments,
		       (long long)c->n_patches, (long long)c->n_kept_maxnorm, (long long)c->n_kept,
		       c->name, c->warn ? "  (warning: see above)" : "");
	}
	aed_refine_result_release(&r);
	return AED_OK;
}
