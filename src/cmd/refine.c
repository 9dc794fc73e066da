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

struct refine_opts {
	const char *class_name;
	int all;
	const char *split;
	const char *scorer;
	const char *method;
	double threshold, low, beta, heldout, lr, l2;
	long hidden, epochs, patience, min_positives;
	long iterations, ensemble, seed;
	double relabel;
	long hop_frames;
	double consensus;
	long fine_rounds;
	int no_gate;
	double gate_db, gate_peak, gate_gap;
	const char *model;
	int embedding_only;
	int drop;
	int secost;
	long stages;
	const char *alpha;
};

static const struct aed_opt refine_table[] = {
	{ "class", 'c', AED_OPT_STR, offsetof(struct refine_opts, class_name), "NAME|MID",
	  "refine this class (name or mid, any case)" },
	{ "all", 'a', AED_OPT_FLAG, offsetof(struct refine_opts, all), NULL,
	  "refine every trainable class with --min-positives labelled segments" },
	{ "split", 's', AED_OPT_STR, offsetof(struct refine_opts, split), "NAME",
	  "only this split's segments (default: every segment with embeddings)" },
	{ "scorer", 0, AED_OPT_STR, offsetof(struct refine_opts, scorer), "NAME",
	  "frame scores: trained (a classifier on the embeddings, default) or yamnet" },
	{ "method", 'm', AED_OPT_STR, offsetof(struct refine_opts, method), "NAME",
	  "consensus (default), hysteresis or maxnorm; maxnorm masks are always stored too" },
	{ "hop-frames", 0, AED_OPT_LONG, offsetof(struct refine_opts, hop_frames), "N",
	  "consensus: fine patches every N log-mel frames of 10 ms (1..48, default 12)" },
	{ "consensus", 0, AED_OPT_DOUBLE, offsetof(struct refine_opts, consensus), "X",
	  "consensus: a frame needs this share of the fine patches over it (default 0.625)" },
	{ "gate-db", 0, AED_OPT_DOUBLE, offsetof(struct refine_opts, gate_db), "DB",
	  "consensus: frames of a kept run stay when this many dB above the clip's background (default 0)" },
	{ "gate-peak", 0, AED_OPT_DOUBLE, offsetof(struct refine_opts, gate_peak), "DB",
	  "consensus: frames of a kept run must also be within DB of its loudest frame (default 12; 0: no limit)" },
	{ "gate-gap", 0, AED_OPT_DOUBLE, offsetof(struct refine_opts, gate_gap), "S",
	  "consensus: quieter stretches shorter than S seconds inside a run are bridged (default 0.3)" },
	{ "no-gate", 0, AED_OPT_FLAG, offsetof(struct refine_opts, no_gate), NULL,
	  "consensus: keep the frame masks as the fine patches give them (no energy gate)" },
	{ "fine-rounds", 0, AED_OPT_LONG, offsetof(struct refine_opts, fine_rounds), "N",
	  "consensus: retrain N times on the fine masks' patches (default 0)" },
	{ "model", 0, AED_OPT_STR, offsetof(struct refine_opts, model), "PATH",
	  "consensus: yamnet.tflite (default: the usual search)" },
	{ "threshold", 't', AED_OPT_DOUBLE, offsetof(struct refine_opts, threshold), "X",
	  "keep patches whose max-normalised score is >= X (default 0.66)" },
	{ "low", 0, AED_OPT_DOUBLE, offsetof(struct refine_opts, low), "X",
	  "hysteresis: grow kept runs through neighbours >= X (default 0.4)" },
	{ "beta", 'b', AED_OPT_DOUBLE, offsetof(struct refine_opts, beta), "B",
	  "positive weight (mean prior / prior)^B in training (default 1)" },
	{ "heldout", 0, AED_OPT_DOUBLE, offsetof(struct refine_opts, heldout), "F",
	  "fraction of segments held out for early stopping (default 0.2)" },
	{ "hidden", 0, AED_OPT_LONG, offsetof(struct refine_opts, hidden), "N",
	  "hidden ReLU units (default 0: logistic regression)" },
	{ "epochs", 0, AED_OPT_LONG, offsetof(struct refine_opts, epochs), "N",
	  "most training epochs (default 60)" },
	{ "patience", 0, AED_OPT_LONG, offsetof(struct refine_opts, patience), "N",
	  "stop after N epochs without held-out improvement (default 6)" },
	{ "lr", 0, AED_OPT_DOUBLE, offsetof(struct refine_opts, lr), "X",
	  "Adam step size (default 1e-2)" },
	{ "l2", 0, AED_OPT_DOUBLE, offsetof(struct refine_opts, l2), "X",
	  "L2 weight penalty (default 0.2)" },
	{ "min-positives", 0, AED_OPT_LONG, offsetof(struct refine_opts, min_positives), "N",
	  "--all: skip classes with fewer labelled segments (default 5)" },
	{ "iterations", 'n', AED_OPT_LONG, offsetof(struct refine_opts, iterations), "N",
	  "self-training rounds of the trained scorer (default 6; 1 = very weak labels only)" },
	{ "ensemble", 0, AED_OPT_LONG, offsetof(struct refine_opts, ensemble), "N",
	  "trained scorer: the mean of N classifiers, each with its own held-out segments (default 5)" },
	{ "seed", 0, AED_OPT_LONG, offsetof(struct refine_opts, seed), "N",
	  "trained scorer: initialisation and shuffling seed; member e of an ensemble uses N + e (default 1)" },
	{ "relabel", 0, AED_OPT_DOUBLE, offsetof(struct refine_opts, relabel), "X",
	  "between rounds a labelled clip's patches stay positive where n_i >= X (default 0.6)" },
	{ "drop", 0, AED_OPT_FLAG, offsetof(struct refine_opts, drop), NULL,
	  "between rounds, unkept patches of labelled clips leave the loss (default: negatives)" },
	{ "embedding-only", 0, AED_OPT_FLAG, offsetof(struct refine_opts, embedding_only), NULL,
	  "trained scorer: only the embedding as input (default: YAMNet's scores too)" },
	{ "secost", 0, AED_OPT_FLAG, offsetof(struct refine_opts, secost), NULL,
	  "SeCoST: a cascade of classifiers, stage k learning alpha*y + (1-alpha)*stage k-1" },
	{ "stages", 'K', AED_OPT_LONG, offsetof(struct refine_opts, stages), "K",
	  "--secost: number of stages (default 2)" },
	{ "alpha", 0, AED_OPT_STR, offsetof(struct refine_opts, alpha), "A[,A...]",
	  "--secost: alpha of stages 2..K, the last repeating (default 0.3)" },
	{ 0 }
};

static const struct aed_cmd_spec refine_spec = {
	.name = "refine",
	.summary = "Weak-label refinement: which patches of a labelled clip hold the sound.",
	.details =
		"For each segment labelled L (or a descendant of L), frame scores P(L|x_i) per\n"
		"0.96 s patch (hop 0.48 s) come from YAMNet's own output for L (--scorer yamnet)\n"
		"or from a classifier trained on the corpus's patch embeddings and YAMNet's\n"
		"scores (log-odds; --embedding-only leaves them out), every patch carrying its\n"
		"clip's labels (--scorer trained: positives weighted as `priors`, held-out\n"
		"segments stop training; --ensemble classifiers, each holding out its own\n"
		"segments, and their mean is the score), then retrained for --iterations rounds\n"
		"on the patches the previous round kept (self-training). n_i = score / max over\n"
		"the segment; maxnorm keeps n_i >= threshold (the AudioSet rule); hysteresis\n"
		"also keeps neighbours of kept patches with n_i >= low. consensus (the default)\n"
		"localises finer: patches every --hop-frames log-mel frames (10 ms each) are cut\n"
		"from the stored log-mel, scored the same way and kept by hysteresis; a 10 ms\n"
		"frame is in the event when --consensus of the fine patches over it were kept.\n"
		"An energy gate then sharpens each run of kept frames: only frames --gate-db\n"
		"above the clip's background level (the median of the frames outside the mask)\n"
		"and within --gate-peak of the run's loudest frame stay, with quiet gaps under\n"
		"--gate-gap bridged; a run with no such frame stays whole. The 0.48 s patch mask\n"
		"follows from the frames by the half-overlap rule. Stored: frame_score,\n"
		"frame_mask (maxnorm and the method), frame_mask_fine (consensus), refine_class;\n"
		"with --secost, soft_label. A warning names classes whose segments gain more\n"
		"YAMNet score for an unrelated class than for L itself: the method assumes L is\n"
		"the most prevalent sound in its own segments.",
	.opts = refine_table,
	.min_args = 0,
	.max_args = 0,
};

int cmd_refine(struct aed_ctx *ctx, int argc, char **argv)
{
	struct refine_opts o = { .threshold = 0.66, .low = 0.4, .beta = 1.0, .heldout = 0.2,
				 .lr = 1e-2, .l2 = 0.2, .stages = 2, .min_positives = 5,
				 .iterations = 6, .ensemble = 5, .seed = 1, .relabel = 0.6,
				 .hop_frames = 12, .consensus = 0.625,
				 .gate_peak = 12, .gate_gap = 0.3 };
	struct aed_refine_opts ro = { 0 };
	struct aed_refine_result r = { 0 };
	double alphas[MAX_ALPHAS];
	int nargs, rc;

	if ((rc = aed_parse(ctx, &refine_spec, argc, argv, &o, &nargs)))
		return rc;
	ro.class_name = o.class_name;
	ro.all = o.all;
	ro.split = o.split;
	ro.scorer = AED_SCORER_TRAINED;
	ro.method = AED_REFINE_CONSENSUS;
	if ((o.scorer && (rc = aed_scorer_parse(o.scorer, &ro.scorer))) ||
	    (o.method && (rc = aed_refine_method_parse(o.method, &ro.method))))
		return rc;
	if (o.threshold <= 0 || o.threshold > 1 || o.low <= 0 || o.low > o.threshold)
		return aed_error(AED_EUSAGE, "refine: need 0 < --low (%g) <= --threshold (%g) <= 1",
				 o.low, o.threshold);
	if (o.heldout <= 0 || o.heldout >= 1)
		return aed_error(AED_EUSAGE, "refine: --heldout must be in (0, 1), not %g", o.heldout);
	if (o.beta < 0 || o.hidden < 0 || o.epochs < 0 || o.patience < 0 || o.lr < 0 || o.l2 < 0 ||
	    o.min_positives < 0)
		return aed_error(AED_EUSAGE, "refine: --beta, --hidden, --epochs, --patience, --lr, "
				 "--l2 and --min-positives must not be negative");
	if (o.hidden > 65536 || o.epochs > 100000)
		return aed_error(AED_EUSAGE, "refine: --hidden or --epochs is too large");
	ro.threshold = o.threshold;
	ro.low = o.low;
	ro.beta = o.beta;
	ro.heldout = o.heldout;
	ro.min_positives = (int)o.min_positives;
	ro.clf.hidden = (int)o.hidden;
	ro.clf.max_epochs = (int)o.epochs;
	ro.clf.patience = (int)o.patience;
	ro.clf.lr = o.lr;
	ro.clf.l2 = o.l2;
	if (o.iterations < 1 || o.iterations > 50 || !(o.relabel > 0 && o.relabel <= 1))
		return aed_error(AED_EUSAGE, "refine: need 1 <= --iterations <= 50 and 0 < --relabel "
				 "<= 1");
	ro.iterations = (int)o.iterations;
	if (o.ensemble < 1 || o.ensemble > AED_REFINE_MAX_ENSEMBLE)
		return aed_error(AED_EUSAGE, "refine: --ensemble must be 1..%d, not %ld",
				 AED_REFINE_MAX_ENSEMBLE, o.ensemble);
	ro.ensemble = (int)o.ensemble;
	if (o.seed < 1)
		return aed_error(AED_EUSAGE, "refine: --seed must be >= 1, not %ld", o.seed);
	ro.clf.seed = (uint64_t)o.seed;
	ro.relabel = o.relabel;
	ro.with_scores = !o.embedding_only;
	if (o.hop_frames < 1 || o.hop_frames > 48 || !(o.consensus > 0 && o.consensus <= 1) ||
	    o.fine_rounds < 0 || o.fine_rounds > 20)
		return aed_error(AED_EUSAGE, "refine: need 1 <= --hop-frames <= 48, 0 < --consensus "
				 "<= 1 and 0 <= --fine-rounds <= 20");
	ro.hop_frames = (int)o.hop_frames;
	ro.consensus = o.consensus;
	ro.fine_rounds = (int)o.fine_rounds;
	if (!(o.gate_db >= -60 && o.gate_db <= 60) || !(o.gate_peak >= 0 && o.gate_peak <= 120) ||
	    !(o.gate_gap >= 0 && o.gate_gap <= 10))
		return aed_error(AED_EUSAGE, "refine: need -60 <= --gate-db <= 60, 0 <= --gate-peak "
				 "<= 120 and 0 <= --gate-gap <= 10 (seconds)");
	ro.gate = !o.no_gate;
	ro.gate_db = o.gate_db;
	ro.gate_peak = o.gate_peak;
	ro.gate_gap = (int)lround(o.gate_gap * 100);
	ro.model_path = o.model;
	ro.drop = o.drop;
	if (o.secost) {
		if (o.stages < 1 || o.stages > 20)
			return aed_error(AED_EUSAGE, "refine: --stages must be 1..20, not %ld", o.stages);
		ro.secost_stages = (int)o.stages;
		if (o.alpha) {
			const char *p = o.alpha;
			while (*p) {
				char *end;
				double a = strtod(p, &end);
				if (end == p || (*end && *end != ',') || !(a >= 0 && a <= 1))
					return aed_error(AED_EUSAGE, "refine: --alpha '%s': expected numbers "
							 "in [0, 1] separated by commas", o.alpha);
				if (ro.n_alphas == MAX_ALPHAS)
					return aed_error(AED_EUSAGE, "refine: --alpha: at most %d values",
							 MAX_ALPHAS);
				alphas[ro.n_alphas++] = a;
				p = *end ? end + 1 : end;
			}
			ro.alphas = alphas;
		}
	} else if (o.alpha) {
		return aed_error(AED_EUSAGE, "refine: --alpha needs --secost");
	}
	if ((rc = aed_ctx_open_db(ctx, 0)) || (rc = aed_refine(ctx->db, &ro, &r)))
		return rc;
	for (size_t k = 0; k < r.n_classes; k++)
		if (r.classes[k].warn)
			aed_warn("refine: %s (%s): %s (%s) gains more score than the class itself in "
				 "its labelled segments; it may be the most prevalent sound there, and "
				 "the refinement may keep it instead", r.classes[k].mid,
				 r.classes[k].name, r.classes[k].top_mid, r.classes[k].top_name);
	if (ctx->g.json) {
		json_t *j = json_pack("{s:I, s:I, s:s, s:s, s:f, s:f, s:i, s:[]}", "run_id",
				      (json_int_t)r.run_id, "segments", (json_int_t)r.n_segments,
				      "scorer", aed_scorer_name(ro.scorer), "method",
				      aed_refine_method_name(ro.method), "threshold", ro.threshold, "low",
				      ro.low, "stages", r.stages, "classes");
		json_t *a = j ? json_object_get(j, "classes") : NULL;
		for (size_t k = 0; a && k < r.n_classes; k++) {
			const struct aed_refine_class *c = &r.classes[k];
			json_array_append_new(a, json_pack("{s:s, s:s, s:I, s:I, s:I, s:I, s:o, s:s, s:b}",
				"mid", c->mid, "name", c->name, "segments", (json_int_t)c->n_segments,
				"patches", (json_int_t)c->n_patches, "kept", (json_int_t)c->n_kept,
				"kept_maxnorm", (json_int_t)c->n_kept_maxnorm,
				"gain", c->gain_checked ? json_real(c->gain) : json_null(),
				"top_mid", c->top_mid, "warning", c->warn));
		}
		if (ro.scorer == AED_SCORER_TRAINED && j)
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
	       (long long)r.run_id, (long long)r.n_segments, aed_scorer_name(ro.scorer),
	       aed_refine_method_name(ro.method), ro.threshold, ro.low,
	       r.stages ? ", SeCoST" : "");
	if (ro.scorer == AED_SCORER_TRAINED)
		printf("classifier: %zu train / %zu held-out patches, %d epochs (best %d), loss "
		       "%.4f / %.4f\n", r.clf.n_train, r.clf.n_heldout, r.clf.epochs,
		       r.clf.best_epoch, r.clf.train_loss, r.clf.heldout_loss);
	if (r.stages)
		printf("SeCoST: %d stages; soft clip labels stored in soft_label\n", r.stages);
	printf("%-12s %8s %8s %8s %8s  %s\n", "mid", "segments", "patches", "maxnorm",
	       aed_refine_method_name(ro.method), "name");
	for (size_t k = 0; k < r.n_classes; k++) {
		const struct aed_refine_class *c = &r.classes[k];
		printf("%-12s %8lld %8lld %8lld %8lld  %s%s\n", c->mid, (long long)c->n_segments,
		       (long long)c->n_patches, (long long)c->n_kept_maxnorm, (long long)c->n_kept,
		       c->name, c->warn ? "  (warning: see above)" : "");
	}
	aed_refine_result_release(&r);
	return AED_OK;
}
