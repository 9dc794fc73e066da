/* eval.c - `aedcurate eval scores`, `eval refine` and `eval mine`: argv to
 * options, then the evaluation (src/stage/eval.c, src/stage/eval_refine.c,
 * src/stage/eval_mine.c), and a per-class table or --json. */
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "aedcurate/cli.h"
#include "aedcurate/error.h"
#include "aedcurate/eval.h"
#include "aedcurate/metrics.h"
#include "aedcurate/mine.h"
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

/* --- eval mine ----------------------------------------------------------------- */

struct emine_opts {
	struct aed_strlist classes, exemplar;
	int all_classes, exclude_group, no_share, rankings, ranker;
	long exemplars, trials, seed, rounds, per_round;
	const char *candidates, *method, *score, *baseline, *exemplar_meta, *model;
	long clusters, min_exemplars, share, kmeans_seed, sample;
	double generic, ranker_weight;
};

static const struct aed_opt emine_table[] = {
	{ "class", 'c', AED_OPT_LIST, offsetof(struct emine_opts, classes), "NAME|MID",
	  "a class to evaluate (repeatable)" },
	{ "all-classes", 'a', AED_OPT_FLAG, offsetof(struct emine_opts, all_classes), NULL,
	  "every class labelled on indexed clips of at least 2 source recordings" },
	{ "exemplars", 'n', AED_OPT_INT, offsetof(struct emine_opts, exemplars), "N",
	  "exemplars drawn per trial, each from another source recording (default 5)" },
	{ "trials", 't', AED_OPT_INT, offsetof(struct emine_opts, trials), "T",
	  "draws of exemplars per class (default 10)" },
	{ "seed", 's', AED_OPT_INT, offsetof(struct emine_opts, seed), "S",
	  "seed of the exemplar draws (default 7): the same seed, the same results" },
	{ "exemplar", 'e', AED_OPT_LIST, offsetof(struct emine_opts, exemplar), "SEGMENT",
	  "fixed exemplars instead of draws (one --class, one trial; repeatable)" },
	{ "exemplar-meta", 0, AED_OPT_STR, offsetof(struct emine_opts, exemplar_meta), "KEY=VALUE",
	  "draw exemplars only from clips whose segment meta has KEY=VALUE" },
	{ "exclude-group", 'g', AED_OPT_FLAG, offsetof(struct emine_opts, exclude_group), NULL,
	  "no candidate from an exemplar's source recording (as mine)" },
	{ "candidates", 0, AED_OPT_STR, offsetof(struct emine_opts, candidates), "SPLIT",
	  "only segments of this split are candidates (as mine)" },
	{ "method", 0, AED_OPT_STR, offsetof(struct emine_opts, method), "M",
	  "mining method: exemplar (default) | mean" },
	{ "score", 0, AED_OPT_STR, offsetof(struct emine_opts, score), "S",
	  "z (default) | raw (as mine)" },
	{ "baseline", 0, AED_OPT_STR, offsetof(struct emine_opts, baseline), "mean",
	  "also rank every trial with --method mean, in the same table" },
	{ "clusters", 0, AED_OPT_INT, offsetof(struct emine_opts, clusters), "N", "as mine" },
	{ "min-exemplars", 0, AED_OPT_INT, offsetof(struct emine_opts, min_exemplars), "N",
	  "as mine" },
	{ "generic", 0, AED_OPT_DOUBLE, offsetof(struct emine_opts, generic), "F", "as mine" },
	{ "share", 0, AED_OPT_INT, offsetof(struct emine_opts, share), "N", "as mine" },
	{ "no-share", 0, AED_OPT_FLAG, offsetof(struct emine_opts, no_share), NULL, "as mine" },
	{ "kmeans-seed", 0, AED_OPT_INT, offsetof(struct emine_opts, kmeans_seed), "N",
	  "mine's --seed (default 1234)" },
	{ "sample", 0, AED_OPT_INT, offsetof(struct emine_opts, sample), "N", "as mine" },
	{ "model", 'm', AED_OPT_STR, offsetof(struct emine_opts, model), "PATH", "as mine" },
	{ "rounds", 'r', AED_OPT_INT, offsetof(struct emine_opts, rounds), "R",
	  "simulated review rounds per trial (default 0: none)" },
	{ "per-round", 0, AED_OPT_INT, offsetof(struct emine_opts, per_round), "N",
	  "candidates the simulated annotator rates per round (default 10)" },
	{ "ranker", 0, AED_OPT_FLAG, offsetof(struct emine_opts, ranker), NULL,
	  "the review curve mines with mine's --ranker (a classifier trained on the ratings)" },
	{ "ranker-weight", 0, AED_OPT_DOUBLE, offsetof(struct emine_opts, ranker_weight), "W",
	  "as mine" },
	{ "rankings", 0, AED_OPT_FLAG, offsetof(struct emine_opts, rankings), NULL,
	  "with --json: every trial's ranked segment keys" },
	{ 0 }
};

static const struct aed_cmd_spec emine_spec = {
	.name = "eval mine",
	.summary = "How well mining finds each class of a labelled corpus: P@10, P@50, AP.",
	.details =
		"Per class and trial: --exemplars clips drawn at random from the indexed clips\n"
		"labelled with the class or a descendant, each from another source recording;\n"
		"mining (as `mine --no-class-exemplars` with those exemplars, nothing recorded)\n"
		"ranks every candidate; only then are the candidates' stored labels read, as\n"
		"the oracle: P@10, P@50, AP over the whole candidate pool, and the prior\n"
		"(positives / pool). Means over trials per class, then over classes.\n"
		"--rounds R --per-round N: a simulated annotator rates the N best unrated\n"
		"candidates a round (present when the oracle says so, not present otherwise),\n"
		"stored through review import's code (annotator " AED_EVAL_MINE_ANNOTATOR "),\n"
		"and the class is mined again with the positives as exemplars; yield = the\n"
		"positives found after each round. 'positives' is the same without storing\n"
		"ratings (positives only added as exemplars). --ranker: the review curve is\n"
		"mined with mine's --ranker, trained on the ratings stored so far.\n"
		"Rounds write to the database\n"
		"(mine runs, exports, ratings: the last trial's stay); run them on a copy.",
	.opts = emine_table,
	.min_args = 0,
	.max_args = 0,
};

static json_t *score_json(const struct aed_eval_mine_score *s)
{
	return json_pack("{s:o, s:o, s:o}", "p10", num(s->p10), "p50", num(s->p50), "ap",
			 num(s->ap));
}

static json_t *yield_json(const double *y, int rounds)
{
	json_t *a = json_array();
	for (int i = 0; a && y && i < rounds; i++)
		json_array_append_new(a, num(y[i]));
	return a;
}

static json_t *strings_json(char **v, int64_t n)
{
	json_t *a = json_array();
	for (int64_t i = 0; a && i < n; i++)
		json_array_append_new(a, json_string(v[i]));
	return a;
}

static json_t *emine_json(const struct aed_eval_mine_result *r, const struct aed_eval_mine_opts *o,
			  int baseline, int rankings)
{
	json_t *j = json_pack("{s:s, s:s, s:s?, s:i, s:i, s:I, s:b, s:s?, s:i, s:i, s:o, s:o, s:o, "
			      "s:[], s:[], s:f}", "method", aed_mine_method_name(o->mine.method),
			      "score", o->mine.method == AED_MINE_MEAN ? "raw"
			      : aed_mine_score_name(o->mine.score), "baseline",
			      baseline ? "mean" : NULL, "exemplars", o->exemplars_per_trial,
			      "trials", o->trials, "seed", (json_int_t)o->seed, "exclude_group",
			      o->mine.exclude_group, "candidates", o->mine.candidates_split,
			      "rounds", o->rounds, "per_round", o->per_round, "mean",
			      score_json(&r->score[0]), "baseline_mean",
			      baseline ? score_json(&r->score[1]) : json_null(), "prior",
			      num(r->prior), "classes", "skipped", "seconds", r->seconds);
	if (!j)
		return NULL;
	if (o->rounds)
		json_object_set_new(j, "yield", json_pack("{s:o, s:o}", "review",
							  yield_json(r->yield[0], o->rounds),
							  "positives", yield_json(r->yield[1], o->rounds)));
	json_t *ca = json_object_get(j, "classes");
	for (int c = 0; c < r->n_classes; c++) {
		const struct aed_eval_mine_class *k = &r->classes[c];
		json_t *jc = json_pack("{s:s, s:s, s:I, s:I, s:o, s:o, s:o, s:[]}", "mid", k->mid,
				       "name", k->name, "labelled_clips", (json_int_t)k->labelled_clips,
				       "labelled_recordings", (json_int_t)k->labelled_groups, "prior",
				       num(k->prior), "mean", score_json(&k->score[0]),
				       "baseline_mean", baseline ? score_json(&k->score[1]) : json_null(),
				       "trials");
		if (!jc)
			continue;
		if (o->rounds)
			json_object_set_new(jc, "yield", json_pack("{s:o, s:o}", "review",
				yield_json(k->yield[0], o->rounds), "positives",
				yield_json(k->yield[1], o->rounds)));
		json_t *ta = json_object_get(jc, "trials");
		for (int t = 0; t < k->n_trials; t++) {
			const struct aed_eval_mine_trial *tr = &k->trials[t];
			json_t *jt = json_pack("{s:o, s:I, s:I, s:o, s:o, s:o}", "exemplars",
					       strings_json(tr->exemplars, tr->n_exemplars), "pool",
					       (json_int_t)tr->pool, "positives",
					       (json_int_t)tr->positives, "prior", num(tr->prior),
					       "method", score_json(&tr->score[0]), "baseline_mean",
					       baseline ? score_json(&tr->score[1]) : json_null());
			if (!jt)
				continue;
			if (o->rounds)
				json_object_set_new(jt, "yield", json_pack("{s:o, s:o}", "review",
					yield_json(tr->yield[0], o->rounds), "positives",
					yield_json(tr->yield[1], o->rounds)));
			if (rankings) {
				json_object_set_new(jt, "ranking",
						    strings_json(tr->ranking[0], tr->n_ranked[0]));
				if (baseline)
					json_object_set_new(jt, "baseline_ranking",
							    strings_json(tr->ranking[1],
									 tr->n_ranked[1]));
			}
			json_array_append_new(ta, jt);
		}
		json_array_append_new(ca, jc);
	}
	json_t *sa = json_object_get(j, "skipped");
	for (int i = 0; i < r->n_skipped; i++)
		json_array_append_new(sa, json_string(r->skipped[i]));
	return j;
}

static void emine_text(const struct aed_eval_mine_result *r, const struct aed_eval_mine_opts *o,
		       int baseline)
{
	const char *m = aed_mine_method_name(o->mine.method);

	printf("eval mine: %d classes, %s, %d trials (seed %llu), method %s", r->n_classes,
	       o->n_exemplars ? "fixed exemplars" : "exemplars drawn per trial",
	       o->n_exemplars ? 1 : o->trials, (unsigned long long)o->seed, m);
	if (o->mine.method == AED_MINE_EXEMPLAR)
		printf(" (score %s)", aed_mine_score_name(o->mine.score));
	printf("%s%s%s; %.1f s\n", o->mine.exclude_group ? ", --exclude-group" : "",
	       o->mine.candidates_split ? ", candidates: " : "",
	       o->mine.candidates_split ? o->mine.candidates_split : "", r->seconds);
	printf("\n| class | prior | %s P@10 | P@50 | AP |%s\n", m,
	       baseline ? " `mean` P@10 | P@50 | AP |" : "");
	printf("|---|---|---|---|---|%s\n", baseline ? "---|---|---|" : "");
	for (int c = 0; c < r->n_classes; c++) {
		const struct aed_eval_mine_class *k = &r->classes[c];
		printf("| %s | %.3f | %.2f | %.2f | %.3f |", k->name, k->prior, k->score[0].p10,
		       k->score[0].p50, k->score[0].ap);
		if (baseline)
			printf(" %.2f | %.2f | %.3f |", k->score[1].p10, k->score[1].p50,
			       k->score[1].ap);
		printf("\n");
	}
	printf("| **mean** | %.3f | **%.2f** | **%.2f** | **%.3f** |", r->prior, r->score[0].p10,
	       r->score[0].p50, r->score[0].ap);
	if (baseline)
		printf(" **%.2f** | **%.2f** | **%.3f** |", r->score[1].p10, r->score[1].p50,
		       r->score[1].ap);
	printf("\n");
	if (o->rounds) {
		printf("\nyield: positives found after each round of %d rated candidates (mean "
		       "over trials); review = ratings stored through review import, positives = "
		       "positives only added as exemplars\n\n| class |", o->per_round);
		for (int m2 = 0; m2 < 2; m2++)
			for (int q = 0; q < o->rounds; q++)
				printf(" %s r%d |", m2 ? "positives" : o->mine.ranker ? "ranker"
				       : "review", q + 1);
		printf("\n|---|");
		for (int q = 0; q < 2 * o->rounds; q++)
			printf("---|");
		printf("\n");
		for (int c = 0; c <= r->n_classes; c++) {
			const double *const *y = c < r->n_classes ? (const double *const *)
					       r->classes[c].yield : (const double *const *)r->yield;
			printf("| %s |", c < r->n_classes ? r->classes[c].name : "**mean**");
			for (int m2 = 0; m2 < 2; m2++)
				for (int q = 0; q < o->rounds; q++)
					printf(" %.1f |", y[m2][q]);
			printf("\n");
		}
	}
	for (int i = 0; i < r->n_skipped; i++)
		printf("skipped: %s\n", r->skipped[i]);
}

int cmd_eval_mine(struct aed_ctx *ctx, int argc, char **argv)
{
	struct emine_opts o = { .exemplars = 5, .trials = 10, .seed = 7, .per_round = 10,
				.kmeans_seed = 1234, .generic = -1 };
	struct aed_eval_mine_opts eo = { 0 };
	struct aed_eval_mine_result r;
	int nargs, rc, baseline = 0;

	if ((rc = aed_parse(ctx, &emine_spec, argc, argv, &o, &nargs)))
		return rc;
	if (o.classes.n == 0 && !o.all_classes)
		return aed_error(AED_EUSAGE, "eval mine: give --class NAME (repeatable) or "
				 "--all-classes");
	if (o.classes.n && o.all_classes)
		return aed_error(AED_EUSAGE, "eval mine: --class and --all-classes exclude each other");
	if (o.exemplars < 1 || o.exemplars > 1000 || o.trials < 1 || o.trials > 100000 ||
	    o.rounds < 0 || o.rounds > 1000 || o.per_round < 1 || o.per_round > 100000 ||
	    o.seed < 0)
		return aed_error(AED_EUSAGE, "eval mine: need 1 <= --exemplars <= 1000, 1 <= --trials "
				 "<= 100000, 0 <= --rounds <= 1000, 1 <= --per-round <= 100000, "
				 "--seed >= 0");
	if (o.clusters < 0 || o.min_exemplars < 0 || o.share < 0 || o.sample < 0)
		return aed_error(AED_EUSAGE, "eval mine: --clusters, --min-exemplars, --share and "
				 "--sample take positive numbers");
	if (o.generic != -1 && (o.generic < 0 || o.generic >= 1))
		return aed_error(AED_EUSAGE, "eval mine: --generic %g: expected a fraction in [0, 1)",
				 o.generic);
	if (o.baseline) {
		if (strcmp(o.baseline, "mean"))
			return aed_error(AED_EUSAGE, "eval mine: --baseline '%s': the only baseline "
					 "is mean", o.baseline);
		baseline = 1;
	}
	if (!o.method || !strcmp(o.method, "exemplar"))
		eo.mine.method = AED_MINE_EXEMPLAR;
	else if (!strcmp(o.method, "mean"))
		eo.mine.method = AED_MINE_MEAN;
	else
		return aed_error(AED_EUSAGE, "eval mine: --method '%s': expected exemplar or mean",
				 o.method);
	if (!o.score || !strcmp(o.score, "z"))
		eo.mine.score = AED_MINE_SCORE_Z;
	else if (!strcmp(o.score, "raw"))
		eo.mine.score = AED_MINE_SCORE_RAW;
	else
		return aed_error(AED_EUSAGE, "eval mine: --score '%s': expected z or raw", o.score);
	eo.mine.select.clusters = (int)o.clusters;
	eo.mine.select.min_exemplars = (int)o.min_exemplars;
	eo.mine.select.seed = (int)o.kmeans_seed;
	eo.mine.select.generic_drop = o.generic;
	eo.mine.select.share = o.no_share ? -1 : (int)o.share;
	eo.mine.sample = o.sample;
	eo.mine.model_path = o.model;
	eo.mine.exclude_group = o.exclude_group;
	if (o.ranker_weight < 0 || o.ranker_weight > 1)
		return aed_error(AED_EUSAGE, "eval mine: --ranker-weight %g: expected a share in "
				 "[0, 1]", o.ranker_weight);
	eo.mine.ranker = o.ranker;
	eo.mine.ranker_weight = o.ranker_weight;
	eo.mine.candidates_split = o.candidates;
	eo.classes = o.classes.v;
	eo.n_classes = o.classes.n;
	eo.all_classes = o.all_classes;
	eo.exemplars = o.exemplar.v;
	eo.n_exemplars = o.exemplar.n;
	eo.exemplars_per_trial = (int)o.exemplars;
	eo.trials = o.exemplar.n ? 1 : (int)o.trials;
	eo.seed = (uint64_t)o.seed;
	eo.exemplar_meta = o.exemplar_meta;
	eo.baseline_mean = baseline;
	eo.rounds = (int)o.rounds;
	eo.per_round = (int)o.per_round;
	eo.keep_rankings = o.rankings;
	/* Rounds write ratings; without them nothing is written. */
	if ((rc = aed_ctx_open_db(ctx, o.rounds ? 0 : AED_DB_READONLY)) ||
	    (rc = aed_eval_mine(ctx->db, &eo, &r)))
		return rc;
	if (ctx->g.json)
		rc = dump_json(emine_json(&r, &eo, baseline, o.rankings));
	else
		emine_text(&r, &eo, baseline);
	aed_eval_mine_result_release(&r);
	return rc;
}
