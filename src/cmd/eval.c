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

static json_t *prf_json(const struct aed_prf *p)
{
	return json_pack("{s:I, s:I, s:I, s:I, s:o, s:o, s:o}", "tp", (json_int_t)p->tp, "fp",
			 (json_int_t)p->fp, "fn", (json_int_t)p->fn, "tn", (json_int_t)p->tn,
			 "precision", num(p->precision), "recall", num(p->recall), "f1", num(p->f1));
}

/* --- eval scores ------------------------------------------------------------- */

/* The stage's options, and the names of its enum values. */
struct scores_cli {
	struct aed_eval_scores_opts s;
	const char *scorer, *pool;
};

#define O(f) offsetof(struct scores_cli, f)
static const struct aed_opt scores_table[] = {
	{ "split", 's', AED_OPT_STR, O(s.split), "NAME",
	  "the split whose segments are scored (required)" },
	{ "scorer", 0, AED_OPT_STR, O(scorer), "NAME",
	  "yamnet (its stored scores) or trained (refine's classifier)", .def.s = "yamnet" },
	{ "pool", 0, AED_OPT_STR, O(pool), "NAME", "patch scores to a clip score: max or mean",
	  .def.s = "max" },
	{ "threshold", 't', AED_OPT_DOUBLE, O(s.threshold), "X",
	  "precision/recall/F1 of clip score >= X", .def.d = AED_EVAL_SCORES_THRESHOLD_DEFAULT,
	  AED_OPT_RANGE(0, 1), .flags = AED_OPT_MIN_OPEN },
	{ "min-positives", 0, AED_OPT_INT, O(s.min_positives), "N",
	  "leave out classes with fewer positive clips",
	  .def.i = AED_EVAL_SCORES_MIN_POSITIVES_DEFAULT, AED_OPT_AT_LEAST(1) },
	{ "class-map", 0, AED_OPT_STR, O(s.class_map), "CSV", "yamnet_class_map.csv",
	  .def_note = "beside the model embed used" },
	{ 0 }
};
#undef O

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
	struct scores_cli o = { 0 };
	struct aed_eval_scores_opts *eo = &o.s;
	struct aed_eval_scores_result r = { 0 };
	int nargs, rc;

	aed_eval_scores_opts_init(eo);
	if ((rc = aed_parse(ctx, &scores_spec, argc, argv, &o, &nargs)))
		return rc;
	if (!eo->split)
		return aed_error(AED_EUSAGE, "eval scores: --split NAME is required");
	if ((rc = aed_scorer_parse(o.scorer, &eo->scorer)) ||
	    (rc = aed_pool_parse(o.pool, &eo->pool)))
		return rc;
	if ((rc = aed_ctx_open_db(ctx, AED_DB_READONLY)) || (rc = aed_eval_scores(ctx->db, eo, &r)))
		return rc;
	if (ctx->g.json) {
		json_t *j = json_pack("{s:s, s:s, s:s, s:f, s:I, s:I, s:I, s:o, s:o, s:o, s:o, s:o, "
				      "s:o, s:[]}", "split", eo->split, "scorer", aed_scorer_name(eo->scorer),
				      "pool", aed_pool_name(eo->pool), "threshold", eo->threshold,
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
		rc = cmd_print_json(j);
		aed_eval_scores_result_release(&r);
		return rc;
	}
	printf("eval scores: split %s, scorer %s, %s-pooled; %lld clips scored, %lld without "
	       "scores; %zu classes\n", eo->split, aed_scorer_name(eo->scorer), aed_pool_name(eo->pool),
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
	       eo->threshold, r.micro.precision, r.micro.recall, r.micro.f1);
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
		return cmd_print_json(j);
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

/* The stage's options, and what needs converting into them. */
struct emine_cli {
	struct aed_eval_mine_opts s;
	struct aed_strlist classes, exemplar;
	const char *method, *score, *baseline;
	int no_share, no_ranker;
};

#define O(f) offsetof(struct emine_cli, f)
static const struct aed_opt emine_table[] = {
	{ "class", 'c', AED_OPT_LIST, O(classes), "NAME|MID", "a class to evaluate (repeatable)" },
	{ "all-classes", 'a', AED_OPT_FLAG, O(s.all_classes), NULL,
	  "every class labelled on indexed clips of at least 2 source recordings" },
	{ "exemplars", 'n', AED_OPT_INT, O(s.exemplars_per_trial), "N",
	  "exemplars drawn per trial, each from another source recording",
	  .def.i = AED_EVAL_MINE_EXEMPLARS_DEFAULT, AED_OPT_RANGE(1, 1000) },
	{ "trials", 't', AED_OPT_INT, O(s.trials), "T", "draws of exemplars per class",
	  .def.i = AED_EVAL_MINE_TRIALS_DEFAULT, AED_OPT_RANGE(1, 100000) },
	{ "seed", 's', AED_OPT_UINT64, O(s.seed), "S",
	  "seed of the exemplar draws: the same seed, the same results",
	  .def.i = AED_EVAL_MINE_SEED_DEFAULT },
	{ "exemplar", 'e', AED_OPT_LIST, O(exemplar), "SEGMENT",
	  "fixed exemplars instead of draws (one --class, one trial; repeatable)" },
	{ "exemplar-meta", 0, AED_OPT_STR, O(s.exemplar_meta), "KEY=VALUE",
	  "draw exemplars only from clips whose segment meta has KEY=VALUE" },
	{ "baseline", 0, AED_OPT_STR, O(baseline), "mean",
	  "also rank every trial with --method mean, in the same table" },
	CMD_OPTS_MINE(struct emine_cli, s.mine),
	{ "kmeans-seed", 0, AED_OPT_INT, O(s.mine.select.seed), "N", "mine's --seed",
	  .def.i = AED_MINE_KMEANS_SEED_DEFAULT },
	{ "rounds", 'r', AED_OPT_INT, O(s.rounds), "R", "simulated review rounds per trial",
	  AED_OPT_RANGE(0, 1000), .def_note = "none" },
	{ "per-round", 0, AED_OPT_INT, O(s.per_round), "N",
	  "candidates the simulated annotator rates per round",
	  .def.i = AED_EVAL_MINE_PER_ROUND_DEFAULT, AED_OPT_RANGE(1, 100000) },
	{ "ranker", 0, AED_OPT_FLAG, O(s.mine.ranker), NULL,
	  "the review curve mines with mine's ranker (a classifier trained on the ratings)",
	  .def.i = 1, .def_note = "on" },
	{ "no-ranker", 0, AED_OPT_FLAG, O(no_ranker), NULL,
	  "the review curve without it: ratings only leave rated clips out" },
	{ "rankings", 0, AED_OPT_FLAG, O(s.keep_rankings), NULL,
	  "with --json: every trial's ranked segment keys" },
	{ 0 }
};
#undef O

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
		"ratings (positives only added as exemplars). The review curve is mined with\n"
		"mine's ranker, trained on the ratings stored so far (--no-ranker: without).\n"
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
	/* The review curve's mining: with the ranker (the default) or without. */
	json_object_set_new(j, "review_ranker", json_boolean(o->rounds && o->mine.ranker));
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
	struct emine_cli o = { 0 };
	struct aed_eval_mine_opts *eo = &o.s;
	struct aed_eval_mine_result r;
	int nargs, rc;

	aed_eval_mine_opts_init(eo);
	if ((rc = aed_parse(ctx, &emine_spec, argc, argv, &o, &nargs)))
		return rc;
	if (o.classes.n == 0 && !eo->all_classes)
		return aed_error(AED_EUSAGE, "eval mine: give --class NAME (repeatable) or "
				 "--all-classes");
	if (o.classes.n && eo->all_classes)
		return aed_error(AED_EUSAGE, "eval mine: --class and --all-classes exclude each other");
	if (o.baseline) {
		if (strcmp(o.baseline, "mean"))
			return aed_error(AED_EUSAGE, "eval mine: --baseline '%s': the only baseline "
					 "is mean", o.baseline);
		eo->baseline_mean = 1;
	}
	if ((rc = cmd_mine_finish("eval mine", o.method, o.score, o.no_share, &eo->mine)))
		return rc;
	eo->mine.ranker = eo->mine.ranker && !o.no_ranker;
	if (eo->mine.exclude_group_verified)
		return aed_error(AED_EUSAGE, "eval mine: --exclude-group-verified does nothing here: "
				 "its exemplars are drawn from the labels, never verified clips");
	eo->classes = o.classes.v;
	eo->n_classes = o.classes.n;
	eo->exemplars = o.exemplar.v;
	eo->n_exemplars = o.exemplar.n;
	if (o.exemplar.n)
		eo->trials = 1;
	/* Rounds write ratings; without them nothing is written. */
	if ((rc = aed_ctx_open_db(ctx, eo->rounds ? 0 : AED_DB_READONLY)) ||
	    (rc = aed_eval_mine(ctx->db, eo, &r)))
		return rc;
	if (ctx->g.json)
		rc = cmd_print_json(emine_json(&r, eo, eo->baseline_mean, eo->keep_rankings));
	else
		emine_text(&r, eo, eo->baseline_mean);
	aed_eval_mine_result_release(&r);
	return rc;
}
