/* mine.c - `aedcurate mine`: argv to options, the mine stage
 * (src/stage/mine.c), and the report: which exemplar frames were kept and
 * why, then the top candidates with their current labels (or --json). */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "aedcurate/cli.h"
#include "aedcurate/error.h"
#include "aedcurate/mine.h"
#include "aedcurate/util.h"
#include "cmd/commands.h"

/* The stage's options, and what needs converting into them. */
struct mine_cli {
	struct aed_mine_opts s;
	struct aed_strlist exemplars;
	const char *method, *score;
	int no_share, no_ranker;
	int show;
};

#define O(f) offsetof(struct mine_cli, f)
/* The help text says "4 times the hits". */
_Static_assert(AED_MINE_SCORE_QUERY_SHARE == 4, "update mine's --help: the score query's hits");

static const struct aed_opt table[] = {
	{ "class", 'c', AED_OPT_STR, O(s.class_name), "NAME|MID",
	  "the class to mine for: name or mid, any case (required)" },
	{ "exemplar", 'e', AED_OPT_LIST, O(exemplars), "SEGMENT|FILE",
	  "an example clip: a segment (key, id, manifest path) or an audio file (repeatable)" },
	{ "k", 'k', AED_OPT_INT, O(s.k), "N", "candidates to queue", .def.i = AED_MINE_K_DEFAULT,
	  AED_OPT_RANGE(0, 1000000) },
	{ "no-class-exemplars", 0, AED_OPT_FLAG, O(s.no_class_exemplars), NULL,
	  "use only --exemplar clips, not ontology examples nor verified clips" },
	{ "ranker", 0, AED_OPT_FLAG, O(s.ranker), NULL,
	  "with ratings for the class, re-rank by a classifier trained on the rated clips",
	  .def.i = 1, .def_note = "on" },
	{ "no-ranker", 0, AED_OPT_FLAG, O(no_ranker), NULL,
	  "exemplar search only: ratings just leave rated clips out" },
	CMD_OPTS_MINE(struct mine_cli, s),
	{ "seed", 0, AED_OPT_INT, O(s.select.seed), "N", "k-means seed",
	  .def.i = AED_MINE_KMEANS_SEED_DEFAULT },
	{ "hits", 0, AED_OPT_INT64, O(s.hits_per_query), "N", "neighbours per query frame",
	  AED_OPT_AT_LEAST(0),
	  .def_note = "max(4k, 256), with the ranker at least 4000 / queries, widened past exclusions" },
	{ "show", 'n', AED_OPT_INT, O(show), "N", "candidates to print (--json prints all)",
	  .def.i = 20, AED_OPT_AT_LEAST(0) },
	{ 0 }
};
#undef O

static const struct aed_cmd_spec spec = {
	.name = "mine",
	.args = "",
	.summary = "Find the corpus clips most likely to hold a sound, from a few examples.",
	.details =
		"Exemplars: the class's ontology positive examples present in the corpus (bring\n"
		"them in: segments ingest --ontology-examples CLASS, then fetch), clips verified\n"
		"for the class or a descendant (a review decision, or a label an annotator\n"
		"added on a review page), and every --exemplar (segments, or\n"
		"audio files decoded and embedded on the fly). The patch embeddings of all\n"
		"exemplars are clustered (k-means); clusters with frames from at least\n"
		"--min-exemplars different exemplars are kept: the sound they share. Of those,\n"
		"the --generic fraction of frames most similar to the whole corpus (silence,\n"
		"hum, padding) is dropped, and so is every frame that fewer than --share other\n"
		"exemplars have a frame unusually close to. Each kept frame queries the index\n"
		"(past --max-queries kept frames, as many k-means centroids, each weighted by\n"
		"its frames), and so does the score query, their sum weighted as the score\n"
		"weights them, with 4 times the hits (its neighbours are the best-scoring\n"
		"frames); pooled hits are scored exactly: the (weighted) mean over the\n"
		"queries of the similarity standardised over the corpus (--score z) or of the\n"
		"raw cosine (--score raw). A clip's score is its best frame's; that frame's\n"
		"start is shown. Exemplars and clips already reviewed for the class are never\n"
		"candidates; --exclude-group also leaves out\n"
		"clips cut from an exemplar's recording (a verified clip's only with\n"
		"--exclude-group-verified), --candidates SPLIT all clips outside the split.\n"
		"Labels are shown, never used for scoring. The run and its ranked candidates\n"
		"go to mine_run / candidate: the review queue.\n"
		"--ranker: once the class has Present or Not present ratings, a logistic\n"
		"regression on patch embeddings (exemplars and Present clips against Not present\n"
		"clips and 1000 corpus vectors; Unsure and Not acoustic left out) re-ranks the\n"
		"search's best max(k, 1000) clips by (1-W) z(exemplar score) + W z(its best\n"
		"patch's logit) + G e, W = --ranker-weight, G = --ranker-group, e = (p - n) /\n"
		"(p + n + 1) for a clip whose recording has p clips rated Present and n Not\n"
		"present (0 without). On by default; --no-ranker: ratings only leave rated\n"
		"clips out.",
	.opts = table,
	.min_args = 0,
	.max_args = 0,
};

static json_t *result_json(const struct aed_mine_result *r, const struct aed_mine_opts *o)
{
	json_t *j = json_object(), *ex = json_array(), *cl = json_array(), *ca = json_array();
	if (!j || !ex || !cl || !ca) {
		json_decref(j);
		json_decref(ex);
		json_decref(cl);
		json_decref(ca);
		return NULL;
	}
	json_object_set_new(j, "mine_run_id", json_integer(r->mine_run_id));
	json_object_set_new(j, "run_id", json_integer(r->run_id));
	json_object_set_new(j, "class", json_pack("{s:s, s:s}", "mid", r->class_mid, "name",
						   r->class_name));
	json_object_set_new(j, "method", json_string(aed_mine_method_name(o->method)));
	json_object_set_new(j, "score", json_string(o->method == AED_MINE_MEAN ? "raw"
						     : aed_mine_score_name(o->score)));
	json_object_set_new(j, "index_id", json_integer(r->index_id));
	json_object_set_new(j, "model_sha256", json_string(r->model_sha256));
	json_object_set_new(j, "corpus_segments", json_integer(r->corpus_segments));
	json_object_set_new(j, "excluded_segments", json_integer(r->n_excluded));
	json_object_set_new(j, "frames", json_integer(r->n_frames));
	json_object_set_new(j, "kept_frames", json_integer(o->method == AED_MINE_MEAN ? r->n_frames
							  : r->sel.n_kept));
	json_object_set_new(j, "queries", json_integer(r->n_queries));
	json_object_set_new(j, "fallback", json_boolean(r->sel.fallback));
	json_object_set_new(j, "ranker", json_pack("{s:b, s:i, s:i, s:i, s:I, s:i, s:f}", "used",
						    r->ranker_rated > 0, "rated_clips",
						    r->ranker_rated, "positives", r->ranker_pos,
						    "negatives", r->ranker_neg, "weak_negatives",
						    (json_int_t)r->ranker_weak, "pool", r->ranker_pool,
						    "weight", r->ranker_weight));
	json_object_set_new(json_object_get(j, "ranker"), "group_weight",
			    json_real(r->ranker_group));
	json_object_set_new(json_object_get(j, "ranker"), "group_hits",
			    json_integer(r->ranker_group_hits));
	json_object_set_new(json_object_get(j, "ranker"), "seconds",
			    json_real(r->ranker_seconds));
	json_object_set_new(j, "generic_dropped", json_integer(r->sel.n_generic));
	json_object_set_new(j, "unshared_dropped", json_integer(r->sel.n_unshared));
	for (int i = 0; i < r->n_exemplars; i++) {
		const struct aed_mine_exemplar *e = &r->exemplars[i];
		json_t *kept = json_array();
		for (int p = 0; p < e->frames_total; p++)
			if (e->kept[p] == 1)
				json_array_append_new(kept, json_real(p * AED_PATCH_HOP_S));
		json_array_append_new(ex, json_pack("{s:s, s:I, s:s, s:i, s:i, s:o}", "name", e->name,
						    "segment_id", (json_int_t)e->segment_id, "source",
						    e->source, "frames", e->frames_total, "kept",
						    e->frames_kept, "kept_times_s", kept));
	}
	json_object_set_new(j, "exemplars", ex);
	for (int c = 0; c < r->sel.n_clusters; c++)
		json_array_append_new(cl, json_pack("{s:i, s:i, s:i, s:b}", "cluster", c, "frames",
						    r->sel.cl_frames[c], "exemplars",
						    r->sel.cl_exemplars[c], "kept", r->sel.cl_kept[c]));
	json_object_set_new(j, "clusters", cl);
	for (int i = 0; i < r->n_candidates; i++) {
		const struct aed_mine_candidate *c = &r->candidates[i];
		json_array_append_new(ca, json_pack("{s:i, s:I, s:s, s:f, s:f, s:s}", "rank", c->rank,
						    "segment_id", (json_int_t)c->segment_id, "key",
						    c->key, "score", c->score, "best_time_s",
						    c->best_time_s, "labels", c->labels));
	}
	json_object_set_new(j, "candidates", ca);
	json_object_set_new(j, "search", json_pack("{s:I, s:I, s:I, s:I, s:b, s:f}", "hits_per_query",
						   (json_int_t)r->stats.hits_per_query,
						   "score_query_hits", (json_int_t)r->stats.score_query_hits,
						   "pooled_frames", (json_int_t)r->stats.pooled_frames,
						   "pooled_segments",
						   (json_int_t)r->stats.pooled_segments, "pool_capped",
						   r->stats.pool_capped, "seconds", r->stats.seconds));
	json_object_set_new(j, "seconds", json_pack("{s:f, s:f, s:f, s:f, s:f, s:f, s:f, s:f}",
						    "open", r->seconds.open, "exemplars",
						    r->seconds.exemplars, "sample", r->seconds.sample,
						    "queries", r->seconds.queries, "exclusions",
						    r->seconds.exclusions, "search", r->seconds.search,
						    "record", r->seconds.record, "total",
						    r->seconds.total));
	return j;
}

static void print_text(const struct aed_mine_result *r, const struct aed_mine_opts *o, int show)
{
	printf("mine run %lld: %s (%s), method %s", (long long)r->mine_run_id, r->class_name,
	       r->class_mid, aed_mine_method_name(o->method));
	if (o->method == AED_MINE_EXEMPLAR)
		printf(", score %s", aed_mine_score_name(o->score));
	printf("; index %lld, %lld segments, %lld not candidates\n", (long long)r->index_id,
	       (long long)r->corpus_segments, (long long)r->n_excluded);
	printf("exemplars: %d, %d frames\n", r->n_exemplars, r->n_frames);
	if (r->ranker_rated)
		printf("ranker: trained on %d rated clips (%d positive clips with the exemplars, "
		       "%d negative) and %lld weak-negative corpus vectors; re-ranked the best %d "
		       "candidates, weight %.2f, %d of them from recordings with ratings (weight "
		       "%.2f); %.3f s\n", r->ranker_rated, r->ranker_pos, r->ranker_neg,
		       (long long)r->ranker_weak, r->ranker_pool, r->ranker_weight,
		       r->ranker_group_hits, r->ranker_group, r->ranker_seconds);
	else if (o->ranker)
		printf("ranker: off, no rated clip (Present or Not present) for the class yet\n");
	for (int i = 0; i < r->n_exemplars; i++) {
		const struct aed_mine_exemplar *e = &r->exemplars[i];
		printf("  %-8s %s: %d of %d frames kept", e->source, e->name, e->frames_kept,
		       e->frames_total);
		if (o->method == AED_MINE_EXEMPLAR) {
			printf(" [");
			for (int p = 0; p < e->frames_total; p++)
				printf("%s%.2fs:c%d%s", p ? " " : "", p * AED_PATCH_HOP_S, e->cluster[p],
				       e->kept[p] == 1 ? "+" : e->kept[p] == 2 ? "g"
				       : e->kept[p] == 3 ? "u" : "-");
			printf("]");
		}
		printf("\n");
	}
	if (o->method == AED_MINE_EXEMPLAR) {
		int min_ex = o->select.min_exemplars > 0 ? o->select.min_exemplars
			     : r->n_exemplars >= 2 ? 2 : 1;
		printf("frame clusters: %d (k-means); kept: those with frames from >= %d exemplars "
		       "(the shared sound)\n", r->sel.n_clusters, min_ex);
		for (int c = 0; c < r->sel.n_clusters; c++)
			printf("  cluster %d: %d frames from %d exemplar%s -> %s\n", c,
			       r->sel.cl_frames[c], r->sel.cl_exemplars[c],
			       r->sel.cl_exemplars[c] == 1 ? "" : "s",
			       r->sel.cl_kept[c] ? "kept"
			       : r->sel.cl_exemplars[c] <= 1 ? "dropped: one exemplar's own background"
							      : "dropped: too few exemplars share it");
		if (r->sel.n_generic)
			printf("  %d frames of kept clusters dropped (g) as resembling the whole corpus "
			       "(mean similarity >= %.3f: silence, hum, padding)\n", r->sel.n_generic,
			       r->sel.generic_cut);
		if (r->sel.n_unshared)
			printf("  %d frames dropped (u): fewer than %d other exemplars have a frame "
			       "unusually close to them (z >= 2 against the corpus)\n",
			       r->sel.n_unshared, r->sel.share_needed);
		if (r->sel.fallback)
			printf("  no cluster spans %d exemplars: kept the clusters spanning the most\n",
			       min_ex);
		if (r->n_queries < r->sel.n_kept)
			printf("queries: %d kept frames, merged into %d (--max-queries)\n",
			       r->sel.n_kept, r->n_queries);
		else
			printf("queries: %d kept frames\n", r->sel.n_kept);
	}
	printf("search: %lld hits per query frame, %lld for the score query; %lld frames of %lld "
	       "segments scored exactly, %.3f s\n",
	       (long long)r->stats.hits_per_query, (long long)r->stats.score_query_hits,
	       (long long)r->stats.pooled_frames, (long long)r->stats.pooled_segments,
	       r->stats.seconds);
	printf("time: %.2f s: open %.2f, exemplars %.2f, sample %.2f, queries %.2f, exclusions "
	       "%.2f, search %.2f, record %.2f\n", r->seconds.total, r->seconds.open,
	       r->seconds.exemplars, r->seconds.sample, r->seconds.queries, r->seconds.exclusions,
	       r->seconds.search, r->seconds.record);
	printf("candidates: %d queued (mine_run %lld)%s\n", r->n_candidates,
	       (long long)r->mine_run_id, r->n_candidates > show ? ", top ones:" : "");
	printf("%5s %8s %7s  %-28s %s\n", "rank", "score", "time_s", "segment", "labels");
	for (int i = 0; i < r->n_candidates && i < show; i++) {
		const struct aed_mine_candidate *c = &r->candidates[i];
		printf("%5d %8.4f %7.2f  %-28s %s\n", c->rank, c->score, c->best_time_s, c->key,
		       *c->labels ? c->labels : "-");
	}
}

int cmd_mine(struct aed_ctx *ctx, int argc, char **argv)
{
	struct mine_cli o = { 0 };
	struct aed_mine_opts *mo = &o.s;
	struct aed_mine_result r;
	int nargs = 0, rc;

	aed_mine_opts_init(mo);
	if ((rc = aed_parse(ctx, &spec, argc, argv, &o, &nargs)))
		return rc;
	if (!mo->class_name)
		return aed_error(AED_EUSAGE, "mine: --class NAME|MID is required");
	if ((rc = cmd_mine_finish("mine", o.method, o.score, o.no_share, mo)))
		return rc;
	mo->exemplars = o.exemplars.v;
	mo->n_exemplars = o.exemplars.n;
	mo->ranker = mo->ranker && !o.no_ranker;
	if ((rc = aed_ctx_open_db(ctx, 0)) || (rc = aed_mine(ctx->db, mo, &r)))
		return rc;
	if (ctx->g.json) {
		json_t *j = result_json(&r, mo);
		if (!j)
			rc = aed_error(AED_ENOMEM, "out of memory building JSON");
		else {
			if (json_dumpf(j, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER))
				rc = aed_error(AED_EIO, "writing JSON to stdout failed");
			fputc('\n', stdout);
			json_decref(j);
		}
	} else
		print_text(&r, mo, o.show);
	aed_mine_result_release(&r);
	return rc;
}
