/* merge.c - `aedcurate merge SHARD.db... --into CORPUS.db`: argv to options,
 * then the merge stage (src/stage/merge.c), and its summary or --json. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>

#include "aedcurate/cli.h"
#include "aedcurate/error.h"
#include "aedcurate/merge.h"
#include "aedcurate/store.h"
#include "cmd/commands.h"

struct merge_cli {
	const char *into;
	int copy;
	int max_listed;  /* 0: the stage's default */
};

#define O(f) offsetof(struct merge_cli, f)
static const struct aed_opt merge_table[] = {
	{ "into", 'i', AED_OPT_STR, O(into), "CORPUS.db",
	  "the database to merge into, created if missing", .def_note = "--db" },
	{ "copy", 0, AED_OPT_FLAG, O(copy), NULL,
	  "copy the shards' array files into CORPUS.db.arrays/", .def_note = "point at them" },
	{ "max-conflicts", 0, AED_OPT_INT, O(max_listed), "N",
	  "list at most N conflicts (all are counted)", .def.i = AED_MERGE_MAX_LISTED_DEFAULT,
	  AED_OPT_AT_LEAST(0) },
	{ 0 }
};
#undef O

static const struct aed_cmd_spec merge_spec = {
	.name = "merge",
	.args = "SHARD.db...",
	.summary = "Bring shard databases (made with --shard I/N) into one corpus database.",
	.details =
		"Segments, labels, splits, ontology, models, media, clips, embeddings, arrays\n"
		"(log-mels, scores, ...) and work states come over matched by segment key and\n"
		"class mid; every run comes over with the shard it came from (run.shard_db).\n"
		"Arrays stay in the shard's files unless --copy. Each shard is merged in one\n"
		"transaction: merging a shard again changes nothing, and a rerun after a kill\n"
		"finishes what an uninterrupted merge makes. Refused, before anything is\n"
		"written: a shard of another schema version or another model file. A segment\n"
		"with different results in two databases is a conflict: listed, the shard\n"
		"that brought it is not merged, and the command fails.\n"
		"Index, mine, review, priors, refine and export rows are not merged: run those\n"
		"on the corpus.",
	.opts = merge_table,
	.min_args = 1,
	.max_args = -1,
};

static const char *outcome_name(enum aed_merge_outcome o)
{
	return o == AED_MERGE_MERGED ? "merged" : o == AED_MERGE_UNCHANGED ? "unchanged" : "conflict";
}

static int print_json(const struct aed_merge_result *r)
{
	json_t *j = json_pack("{s:[], s:I, s:[]}", "shards", "conflicts",
			      (json_int_t)r->n_conflicts, "conflict_list");
	json_t *a = j ? json_object_get(j, "shards") : NULL;
	json_t *c = j ? json_object_get(j, "conflict_list") : NULL;
	for (size_t i = 0; a && i < r->n_shards; i++) {
		const struct aed_merge_shard *s = &r->shards[i];
		json_array_append_new(a, json_pack("{s:s, s:s, s:I, s:I, s:I, s:I, s:I, s:b, s:f}",
			"path", s->path ? s->path : "", "outcome", outcome_name(s->outcome),
			"segments", (json_int_t)s->n_segments, "arrays", (json_int_t)s->n_arrays,
			"new_rows", (json_int_t)s->n_new, "conflicts", (json_int_t)s->n_conflicts,
			"skipped_rows", (json_int_t)s->n_skipped, "same_ingest", s->same_ingest,
			"seconds", s->seconds));
	}
	for (size_t i = 0; c && i < r->n_listed; i++)
		json_array_append_new(c, json_string(r->conflicts[i]));
	return cmd_print_json(j);
}

int cmd_merge(struct aed_ctx *ctx, int argc, char **argv)
{
	struct merge_cli o = { 0 };
	struct aed_merge_opts mo;
	struct aed_merge_result r = { 0 };
	int nargs, rc, prc = AED_OK;

	aed_merge_opts_init(&mo);
	if ((rc = aed_parse(ctx, &merge_spec, argc, argv, &o, &nargs)))
		return rc;
	if (o.into)
		ctx->g.db = o.into;
	if ((rc = aed_ctx_open_db(ctx, AED_DB_CREATE)))
		return rc;
	mo.shards = (const char *const *)argv;
	mo.n_shards = (size_t)nargs;
	mo.copy = o.copy;
	mo.max_listed = (size_t)o.max_listed; /* 0: the stage's default */
	rc = aed_merge(ctx->db, &mo, &r);
	/* A refusal leaves nothing to report; conflicts are the report. */
	if (rc && !r.n_conflicts) {
		aed_merge_result_release(&r);
		return rc;
	}
	if (ctx->g.json) {
		prc = print_json(&r);
	} else {
		for (size_t i = 0; i < r.n_shards; i++) {
			const struct aed_merge_shard *s = &r.shards[i];
			printf("%-9s %s: %lld segments, %lld arrays, %lld rows new, %.2f s\n",
			       outcome_name(s->outcome), s->path, (long long)s->n_segments,
			       (long long)s->n_arrays, (long long)s->n_new, s->seconds);
			if (s->skipped)
				printf("          not merged (run these on the corpus): %s\n", s->skipped);
		}
		for (size_t i = 0; i < r.n_listed; i++)
			printf("conflict: %s\n", r.conflicts[i]);
		if (r.n_conflicts > (int64_t)r.n_listed)
			printf("conflict: ... %lld more\n", (long long)(r.n_conflicts - (int64_t)r.n_listed));
	}
	aed_merge_result_release(&r);
	return rc ? rc : prc;
}
