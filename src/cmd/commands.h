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

/* After a per-item stage: warn with the first few items the run failed and
 * their reasons (common.c). */
void cmd_warn_failures(struct aed_db *db, const char *stage, int64_t run_id, int64_t failed);

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
int cmd_export(struct aed_ctx *ctx, int argc, char **argv);
#endif
