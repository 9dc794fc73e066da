/* eval.c - `aedcurate eval scores` and `aedcurate eval refine`: argv to
 * options, then the evaluation (src/stage/eval.c, src/stage/refine.c), and a
 * per-class table or --json. */
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "aedcurate/cli.h"
#include "aedcurate/error.h"
#include "aedcurate/metrics.h"
#include "aedcurate/refine.h"
#include "aedcurate/store.h"
#include "cmd/commands.h"

/* JSON has no NaN or infinity: those become null. */
static json_t *num(double x)
{
	return isfinite(x) ? json_real(x) : json_null();
}

static int dump_json(json_t *j)
{
	int rc = AED_OK;

	if (!j || json_dumpf(j, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER))
		rc = aed_error(AED_EIO, "writing JSON to stdout failed");
	else
		fputc('\n', stdout);
	json_decref(j);
	return rc;
}

static json_t *prf_json(const struct aed_prf *p)
{
	return json_pack("{s:I, s:I, s:I, s:I, s:o, s:o, s:o}", "tp", (json_int_t)p->tp, "fp",
			 (json_int_t)p->fp, "fn", (json_int_t)p->fn, "tn", (json_int_t)p->tn,
			 "precision", num(p->precision), "recall", num(p->recall), "f1", num(p->f1));
}

/* --- eval scores ------------------------------------------------------------- */

struct scores_opts {
	const char *split;
	const char *scorer;
	const char *pool;
	double threshold;
	long min_positives;
	const char *class_map;
};

static const struct aed_opt scores_table[] = {
	{ "split", 's', AED_OPT_STR, offsetof(struct scores_opts, split), "NAME",
	  "the split whose segments are scored (required)" },
	{ "scorer", 0, AED_OPT_STR, offsetof(struct scores_opts, scorer), "NAME",
	  "yamnet (its stored scores, default) or trained (refine's classifier)" },
	{ "pool", 0, AED_OPT_STR, offsetof(struct scores_opts, pool), "NAME",
	  "patch scores to a clip score: max (default) or mean" },
	{ "threshold", 't', AED_OPT_DOUBLE, offsetof(struct scores_opts, threshold), "X",
	  "precision/recall/F1 of clip score >= X (default 0.5)" },
	{ "min-positives", 0, AED_OPT_INT, offsetof(struct scores_opts, min_positives), "N",
	  "leave out classes with fewer positive clips (default 1)" },
	{ "class-map", 0, AED_OPT_STR, offsetof(struct scores_opts, class_map), "CSV",
	  "yamnet_class_map.csv (default: beside the model embed used)" },
	{ 0 }
};

static const struct aed_cmd_spec scores_spec = {
	.name = "eval scores",
	.summary = "How well stored clip scores rank a split's clip labels, per class.",
	.details =
		"For each class with positives and negatives among the split's scored clips:\n"
		"average precision (AP), ROC AUC, d' = sqrt(2) * Phi^-1(AUC), equal error rate,\n"
		"and precision/recall/F1 at --threshold. Averages: mAP, mean AUC, mean d', d' of\n"
		"the mean AUC (as the AudioSet papers report), mean EER, and P/R/F1 pooled over\n"
		"classes. Labels of any source count, through the ontology closure (a clip\n"
		"labelled Bark is a positive for Dog and Animal). Clip scores are the max (or\n"
		"mean) over the clip's patches.",
	.opts = scores_table,
	.min_args = 0,
	.max_args = 0,
};

int cmd_eval_scores(struct aed_ctx *ctx, int argc, char **argv)
{
	struct scores_opts o = { .threshold = 0.5, .min_positives = 1 };
	struct aed_eval_scores_opts eo = { 0 };
	struct aed_eval_scores_result r = { 0 };
	int nargs, rc;

	if ((rc = aed_parse(ctx, &scores_spec, argc, argv, &o, &nargs)))
		return rc;
	if (!o.split)
		return aed_error(AED_EUSAGE, "eval scores: --split NAME is required");
	if (!(o.threshold > 0 && o.threshold <= 1) || o.min_positives < 1)
		return aed_error(AED_EUSAGE, "eval scores: need 0 < --threshold <= 1 and "
				 "--min-positives >= 1");
	eo.split = o.split;
	eo.threshold = o.threshold;
	eo.min_positives = (int)o.min_positives;
	eo.class_map = o.class_map;
	if ((o.scorer && (rc = aed_scorer_parse(o.scorer, &eo.scorer))) ||
	    (o.pool && (rc = aed_pool_parse(o.pool, &eo.pool))))
		return rc;
	if ((rc = aed_ctx_open_db(ctx, AED_DB_READONLY)) || (rc = aed_eval_scores(ctx->db, &eo, &r)))
		return rc;
	if (ctx->g.json) {
		json_t *j = json_pack("{s:s, s:s, s:s, s:f, s:I, s:I, s:I, s:o, s:o, s:o, s:o, s:o, "
				      "s:o, s:[]}", "split", o.split, "scorer", aed_scorer_name(eo.scorer),
				      "pool", aed_pool_name(eo.pool), "threshold", eo.threshold,
				      "segments", (json_int_t)r.n_segments, "missing",
				      (json_int_t)r.n_missing, "classes_evaluated",
				      (json_int_t)r.n_classes, "map", num(r.map), "mean_auc",
				      num(r.mean_auc), "mean_dprime", num(r.mean_dprime),
				      "dprime_of_mean_auc", num(r.dprime_of_mean_auc), "mean_eer",
				      num(r.mean_eer), "micro", prf_json(&r.micro), "classes");
		json_t *a = j ? json_object_get(j, "classes") : NULL;
		for (size_t k = 0; a && k < r.n_classes; k++) {
			const struct aed_class_eval *c = &r.classes[k];
			json_array_append_new(a, json_pack("{s:o, s:s, s:s, s:I, s:I, s:o, s:o, s:o, "
				"s:o, s:o}", "index", c->label_index >= 0 ? json_integer(c->label_index) :
				json_null(), "mid", c->mid, "name", c->name, "positives",
				(json_int_t)c->n_pos, "negatives", (json_int_t)c->n_neg, "ap", num(c->ap),
				"auc", num(c->auc), "dprime", num(c->dprime), "eer", num(c->eer),
				"at_threshold", prf_json(&c->prf)));
		}
		rc = dump_json(j);
		aed_eval_scores_result_release(&r);
		return rc;
	}
	printf("eval scores: split %s, scorer %s, %s-pooled; %lld clips scored, %lld without "
	       "scores; %zu classes\n", o.split, aed_scorer_name(eo.scorer), aed_pool_name(eo.pool),
	       (long long)r.n_segments, (long long)r.n_missing, r.n_classes);
	printf("%5s  %-12s %4s %5s %6s %6s %6s %6s %6s %6s %6s  %s\n", "index", "mid", "pos", "neg",
	       "AP", "AUC", "d'", "EER", "P", "R", "F1", "name");
	for (size_t k = 0; k < r.n_classes; k++) {
		const struct aed_class_eval *c = &r.classes[k];
		char idx[24] = "-";
		if (c->label_index >= 0)
			snprintf(idx, sizeof idx, "%ld", c->label_index);
		printf("%5s  %-12s %4lld %5lld %6.3f %6.3f %6.3f %6.3f %6.3f %6.3f %6.3f  %s\n", idx,
		       c->mid, (long long)c->n_pos, (long long)c->n_neg, c->ap, c->auc, c->dprime,
		       c->eer, c->prf.precision, c->prf.recall, c->prf.f1, c->name);
	}
	printf("mAP %.4f  mean AUC %.4f  mean d' %.3f  d'(mean AUC) %.3f  mean EER %.4f\n", r.map,
	       r.mean_auc, r.mean_dprime, r.dprime_of_mean_auc, r.mean_eer);
	printf("at threshold %g, pooled over classes: precision %.4f recall %.4f F1 %.4f\n",
	       eo.threshold, r.micro.precision, r.micro.recall, r.micro.f1);
	aed_eval_scores_result_release(&r);
	return AED_OK;
}

/* --- eval refine --------------------------------------------------------------- */

struct erefine_opts {
	const char *class_name;
	const char *split;
};

static const struct aed_opt erefine_table[] = {
	{ "class", 'c', AED_OPT_STR, offsetof(struct erefine_opts, class_name), "NAME|MID",
	  "the refined class: name or mid, any case (required)" },
	{ "split", 's', AED_OPT_STR, offsetof(struct erefine_opts, split), "NAME",
	  "only this split's segments" },
	{ 0 }
};

static const struct aed_cmd_spec erefine_spec = {
	.name = "eval refine",
	.summary = "Refined masks against strong labels: frame and 1 s segment measures.",
	.details =
		"Segments with a stored mask for the class and strong labels for it (or a\n"
		"descendant). Rows: 'weak' (before refinement: every patch positive) and each\n"
		"stored method. Frame level: a patch is a reference positive when an event\n"
		"overlaps it by at least half of the shorter of the two (0.96 s patch, event).\n"
		"'collar' leaves out the patches an event overlaps by less than that (neither\n"
		"clearly holding nor clearly free of it), as sed_eval's collar forgives edges.\n"
		"Segment-based (sed_eval): 1 s segments, a kept patch standing for its central\n"
		"0.48 s; F1 and error rate ER = (S + D + I) / N. 10 ms: frames whose centre\n"
		"lies in an event against those in the kept time (consensus: its 10 ms mask;\n"
		"other methods: the kept patches' central 0.48 s).",
	.opts = erefine_table,
	.min_args = 0,
	.max_args = 0,
};

int cmd_eval_refine(struct aed_ctx *ctx, int argc, char **argv)
{
	struct erefine_opts o = { 0 };
	struct aed_refine_eval_result r;
	int nargs, rc;

	if ((rc = aed_parse(ctx, &erefine_spec, argc, argv, &o, &nargs)))
		return rc;
	if (!o.class_name)
		return aed_error(AED_EUSAGE, "eval refine: --class NAME|MID is required");
	if ((rc = aed_ctx_open_db(ctx, AED_DB_READONLY)) ||
	    (rc = aed_eval_refine(ctx->db, o.class_name, o.split, &r)))
		return rc;
	if (ctx->g.json) {
		json_t *j = json_pack("{s:s, s:s, s:[]}", "mid", r.mid, "name", r.name, "methods");
		json_t *a = j ? json_object_get(j, "methods") : NULL;
		for (size_t k = 0; a && k < r.n_rows; k++) {
			const struct aed_refine_eval_row *w = &r.rows[k];
			json_array_append_new(a, json_pack("{s:s, s:I, s:o, s:o, s:o, s:{s:o, s:o, s:o, "
				"s:o, s:I, s:I, s:I}}", "method", w->method, "segments",
				(json_int_t)w->n_segments, "frame", prf_json(&w->frame), "frame_collar",
				prf_json(&w->frame_collar), "frame_10ms", prf_json(&w->frame_10ms),
				"segment_1s", "precision",
				num(w->seg.precision), "recall", num(w->seg.recall), "f1", num(w->seg.f1),
				"error_rate", num(w->seg.error_rate), "substitutions", (json_int_t)w->seg.s,
				"deletions", (json_int_t)w->seg.d, "insertions", (json_int_t)w->seg.i));
		}
		return dump_json(j);
	}
	printf("eval refine: %s (%s), %lld segments with strong labels\n", r.mid, r.name,
	       (long long)r.rows[0].n_segments);
	printf("%-12s %8s %8s %8s   %8s %8s %8s   %8s %8s   %8s %8s %8s\n", "", "frame", "", "",
	       "collar", "", "", "1 s", "", "10 ms", "", "");
	printf("%-12s %8s %8s %8s   %8s %8s %8s   %8s %8s   %8s %8s %8s\n", "method", "P", "R",
	       "F1", "P", "R", "F1", "F1", "ER", "P", "R", "F1");
	for (size_t k = 0; k < r.n_rows; k++) {
		const struct aed_refine_eval_row *w = &r.rows[k];
		printf("%-12s %8.4f %8.4f %8.4f   %8.4f %8.4f %8.4f   %8.4f %8.4f   %8.4f %8.4f "
		       "%8.4f\n", w->method, w->frame.precision, w->frame.recall, w->frame.f1,
		       w->frame_collar.precision, w->frame_collar.recall, w->frame_collar.f1, w->seg.f1,
		       w->seg.error_rate, w->frame_10ms.precision, w->frame_10ms.recall,
		       w->frame_10ms.f1);
	}
	return AED_OK;
}
