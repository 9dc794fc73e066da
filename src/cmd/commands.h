/* commands.h - every command's entry point, one per src/cmd/ file or group.
 * Each parses its own options with aed_parse() and calls a stage. */
#ifndef AEDCURATE_COMMANDS_H
#define AEDCURATE_COMMANDS_H

#include <stdint.h>

#include "aedcurate/cli.h"
#include "aedcurate/store.h"

struct aed_db;

/* A default macro's value as text, for a row's def_note. */
#define CMD_STR(x) CMD_STR_(x)
#define CMD_STR_(x) #x

/* Option rows shared by the commands of the per-item stages (decode,
 * features, embed, fetch), declared once here; off is the offsetof() of the
 * field the row writes, in the stage's options struct. */
#define CMD_OPT_SHARD(off) \
	{ "shard", 0, AED_OPT_SHARD, (off), "I/N", "only segments whose key hashes to shard I of N" }
#define CMD_OPT_MAX_ATTEMPTS(off) \
	{ "max-attempts", 0, AED_OPT_INT, (off), "N", "runs that may retry a failed segment", \
	  .def.i = AED_WORK_MAX_ATTEMPTS_DEFAULT, AED_OPT_AT_LEAST(0) }
/* Items per transaction of a work-pool stage (0 also asks for the default). */
#define CMD_OPT_BATCH(off, dflt) \
	{ "batch", 0, AED_OPT_INT, (off), "N", "segments per transaction", .def.i = (dflt), \
	  AED_OPT_RANGE(0, 1024) }
#define CMD_OPT_REDO(off, help) { "redo", 0, AED_OPT_FLAG, (off), NULL, (help) }

/* The mining rows of `mine` and `eval mine`, declared once: T is the
 * command's options struct, m the path of its struct aed_mine_opts (mine.h),
 * and T has the fields const char *method, *score and int no_share, for
 * cmd_mine_finish() to apply. */
#define CMD_OPTS_MINE(T, m) \
	{ "method", 0, AED_OPT_STR, offsetof(T, method), "M", \
	  "exemplar (frame clusters, multi-query) | mean (one query, the mean embedding)", \
	  .def.s = "exemplar" }, \
	{ "score", 0, AED_OPT_STR, offsetof(T, score), "S", \
	  "z (similarities standardised over the corpus) | raw (mean cosine)", .def.s = "z" }, \
	{ "exclude-group", 'g', AED_OPT_FLAG, offsetof(T, m.exclude_group), NULL, \
	  "no candidate from an exemplar's source recording (segment.source_group); " \
	  "clips verified for the class are exemplars whose recordings stay candidates" }, \
	{ "exclude-group-verified", 0, AED_OPT_FLAG, offsetof(T, m.exclude_group_verified), NULL, \
	  "with --exclude-group: leave out the verified clips' recordings too" }, \
	{ "candidates", 0, AED_OPT_STR, offsetof(T, m.candidates_split), "SPLIT", \
	  "only segments of this split are candidates" }, \
	{ "clusters", 0, AED_OPT_INT, offsetof(T, m.select.clusters), "N", \
	  "k-means clusters of the exemplar frames", AED_OPT_AT_LEAST(0), \
	  .def_note = "frames / (4 x exemplars), at least 2" }, \
	{ "min-exemplars", 0, AED_OPT_INT, offsetof(T, m.select.min_exemplars), "N", \
	  "keep clusters with frames from at least N exemplars", AED_OPT_AT_LEAST(0), \
	  .def_note = "2, or 1 with a single exemplar" }, \
	{ "generic", 0, AED_OPT_DOUBLE, offsetof(T, m.select.generic_drop), "F", \
	  "drop this fraction of exemplar frames, those most similar to the whole corpus", \
	  .def.d = AED_MINE_GENERIC_DROP_DEFAULT, AED_OPT_RANGE(0, 1), .flags = AED_OPT_MAX_OPEN }, \
	{ "share", 0, AED_OPT_INT, offsetof(T, m.select.share), "N", \
	  "keep a frame only if N other exemplars have one like it", AED_OPT_AT_LEAST(0), \
	  .def_note = "40% of the others" }, \
	{ "no-share", 0, AED_OPT_FLAG, offsetof(T, no_share), NULL, \
	  "no per-frame shared test (clusters and --generic only)" }, \
	{ "max-queries", 0, AED_OPT_INT, offsetof(T, m.max_queries), "N", \
	  "merge more kept frames than N into N queries (k-means, weighted by frames)", \
	  .def.i = AED_MINE_MAX_QUERIES_DEFAULT, AED_OPT_AT_LEAST(1) }, \
	{ "sample", 0, AED_OPT_INT64, offsetof(T, m.sample), "N", \
	  "corpus vectors for the z statistics", .def.i = AED_MINE_SAMPLE_DEFAULT, \
	  AED_OPT_AT_LEAST(0) }, \
	{ "model", 'm', AED_OPT_STR, offsetof(T, m.model_path), "PATH", \
	  "YAMNet file for exemplar files outside the corpus", .def_note = "as `embed`" }, \
	{ "ranker-weight", 0, AED_OPT_DOUBLE, offsetof(T, m.ranker_weight), "W", \
	  "the ranker's share of the blended score", .def.d = AED_MINE_RANKER_WEIGHT_DEFAULT, \
	  AED_OPT_RANGE(0, 1) }, \
	{ "ranker-group", 0, AED_OPT_DOUBLE, offsetof(T, m.ranker_group), "G", \
	  "the ranker's weight of a candidate's recording's ratings (0: none)", \
	  .def.d = AED_MINE_RANKER_GROUP_DEFAULT, AED_OPT_RANGE(0, 100) }
struct aed_mine_opts;
/* After aed_parse: --method and --score into o, --no-share as share -1. */
int cmd_mine_finish(const char *cmd, const char *method, const char *score, int no_share,
		    struct aed_mine_opts *o);

/* After a per-item stage: warn with the first few items the run failed and
 * their reasons (common.c). */
void cmd_warn_failures(struct aed_db *db, const char *stage, int64_t run_id, int64_t failed);
/* --json output: print j on stdout and free it (common.c). */
typedef struct json_t json_t;
int cmd_print_json(json_t *j);

int cmd_init(struct aed_ctx *ctx, int argc, char **argv);
int cmd_status(struct aed_ctx *ctx, int argc, char **argv);
int cmd_run(struct aed_ctx *ctx, int argc, char **argv);
int cmd_ontology_ingest(struct aed_ctx *ctx, int argc, char **argv);
int cmd_ontology_show(struct aed_ctx *ctx, int argc, char **argv);
int cmd_ontology_tree(struct aed_ctx *ctx, int argc, char **argv);
int cmd_ontology_search(struct aed_ctx *ctx, int argc, char **argv);
int cmd_segments_ingest(struct aed_ctx *ctx, int argc, char **argv);
int cmd_segments_list(struct aed_ctx *ctx, int argc, char **argv);
int cmd_fetch(struct aed_ctx *ctx, int argc, char **argv);
int cmd_decode(struct aed_ctx *ctx, int argc, char **argv);
int cmd_features(struct aed_ctx *ctx, int argc, char **argv);
int cmd_dump(struct aed_ctx *ctx, int argc, char **argv);
int cmd_embed(struct aed_ctx *ctx, int argc, char **argv);
int cmd_tag(struct aed_ctx *ctx, int argc, char **argv);
int cmd_index_build(struct aed_ctx *ctx, int argc, char **argv);
int cmd_index_status(struct aed_ctx *ctx, int argc, char **argv);
int cmd_mine(struct aed_ctx *ctx, int argc, char **argv);

int cmd_review_export(struct aed_ctx *ctx, int argc, char **argv);
int cmd_review_import(struct aed_ctx *ctx, int argc, char **argv);
int cmd_review_status(struct aed_ctx *ctx, int argc, char **argv);
int cmd_priors(struct aed_ctx *ctx, int argc, char **argv);
int cmd_refine(struct aed_ctx *ctx, int argc, char **argv);
int cmd_eval_scores(struct aed_ctx *ctx, int argc, char **argv);
int cmd_eval_refine(struct aed_ctx *ctx, int argc, char **argv);
int cmd_eval_mine(struct aed_ctx *ctx, int argc, char **argv);

int cmd_merge(struct aed_ctx *ctx, int argc, char **argv);
int cmd_submit(struct aed_ctx *ctx, int argc, char **argv);
int cmd_export(struct aed_ctx *ctx, int argc, char **argv);
#endif
