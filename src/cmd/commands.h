/* commands.h - every command's entry point, one per src/cmd/ file or group.
 * Each parses its own options with aed_parse() and calls a stage. */
#ifndef AEDCURATE_COMMANDS_H
#define AEDCURATE_COMMANDS_H

#include <stdint.h>

#include "aedcurate/cli.h"

struct aed_db;

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
int cmd_submit(struct aed_ctx *ctx, int argc, char **argv);
int cmd_export(struct aed_ctx *ctx, int argc, char **argv);
#endif
