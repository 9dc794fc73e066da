/* table.c - the command table and dispatch, shared by main() and the pipeline
 * runner (which runs each pipeline step exactly as the command line would).
 * To add a command: a row here, a declaration in commands.h. */
#include <stdio.h>
#include <string.h>

#include "aedcurate/cli.h"
#include "aedcurate/error.h"
#include "cmd/commands.h"
#include "main.h"

/* In the order a clip travels: from lists to shards. */
static const struct aed_command commands[] = {
	{ "init", cmd_init, "create a database (or migrate an existing one)" },
	{ "status", cmd_status, "per-stage counts and recent runs" },
	{ "run", cmd_run, "run a pipeline file, skipping finished work" },
	{ "ontology ingest", cmd_ontology_ingest, "load the AudioSet ontology (path or URL)" },
	{ "ontology show", cmd_ontology_show, "one class: restrictions, parents, children" },
	{ "ontology tree", cmd_ontology_tree, "the class hierarchy, indented" },
	{ "ontology search", cmd_ontology_search, "classes whose name or description match" },
	{ "segments ingest", cmd_segments_ingest, "load a segment list: AudioSet CSV, strong TSV, manifest" },
	{ "segments list", cmd_segments_list, "segments with their labels, by split or class" },
	{ "fetch", cmd_fetch, "find or download each segment's audio file" },
	{ "decode", cmd_decode, "decode each segment to a 16 kHz mono clip (FFmpeg)" },
	{ "features", cmd_features, "log-mel spectrograms of the clips (FFTW)" },
	{ "dump", cmd_dump, "write one stored array of a segment to WAV or .npy" },
	{ "embed", cmd_embed, "YAMNet embeddings and AudioSet scores of every segment" },
	{ "tag", cmd_tag, "top AudioSet classes of a file or segment over time" },
	{ "merge", cmd_merge, "bring shard databases (--shard I/N) into one corpus database" },
	{ "submit", cmd_submit, "a pipeline on Slurm: a job array of shards, then merge and the rest" },
	{ "index build", cmd_index_build, "FAISS index over the patch embeddings (incremental)" },
	{ "index status", cmd_index_status, "is the vector index current, stale or missing" },
	{ "mine", cmd_mine, "clips most likely to hold a sound, from a few exemplars" },
	{ "review export", cmd_review_export, "static review page of a mine run's candidates" },
	{ "review import", cmd_review_import, "ratings files from review pages into the database" },
	{ "review status", cmd_review_status, "per mine run: rated, present, ..., precision" },
	{ "priors", cmd_priors, "class priors and positive-example loss weights" },
	{ "refine", cmd_refine, "weak-label refinement: the patches that hold each label" },
	{ "eval scores", cmd_eval_scores, "AP, AUC, d', EER and P/R/F1 of stored scores" },
	{ "eval refine", cmd_eval_refine, "refined masks against strong labels" },
	{ "eval mine", cmd_eval_mine, "P@10, P@50, AP of mining on a labelled corpus; review rounds" },
	{ "export", cmd_export, "class-balanced training shards: WebDataset tar or TFRecord" },
	{ NULL, NULL, NULL }
};

const struct aed_command *aed_commands(void) { return commands; }

void aed_commands_usage(FILE *f)
{
	fprintf(f, "usage: aedcurate COMMAND [options] [args]\n\n"
		   "Curates AudioSet-style audio-event datasets: ontology and segment lists in,\n"
		   "class-balanced training shards out, every stage recorded in SQLite.\n\n"
		   "commands:\n");
	for (const struct aed_command *c = commands; c->name; c++)
		fprintf(f, "  %-20s %s\n", c->name, c->summary);
	fprintf(f, "\n'aedcurate COMMAND --help' describes a command. Every command takes\n"
		   "--db PATH (default $AEDCURATE_DB or ./aedcurate.db), --json, --quiet.\n");
}

/* The longest command name made of argv[0] or argv[0] argv[1]. */
static const struct aed_command *lookup(int argc, char **argv, int *words)
{
	if (argc >= 2) {
		char two[128];
		snprintf(two, sizeof two, "%s %s", argv[0], argv[1]);
		for (const struct aed_command *c = commands; c->name; c++)
			if (!strcmp(c->name, two)) {
				*words = 2;
				return c;
			}
	}
	for (const struct aed_command *c = commands; c->name; c++)
		if (!strcmp(c->name, argv[0])) {
			*words = 1;
			return c;
		}
	return NULL;
}

int aed_dispatch(struct aed_ctx *ctx, int argc, char **argv)
{
	int words = 0;
	const struct aed_command *c = lookup(argc, argv, &words);
	if (!c) {
		/* "aedcurate ontology" alone: list its subcommands. */
		size_t n = strlen(argv[0]);
		char list[2048] = "";
		for (const struct aed_command *g = commands; g->name; g++)
			if (!strncmp(g->name, argv[0], n) && g->name[n] == ' ')
				snprintf(list + strlen(list), sizeof list - strlen(list), "\n  %-20s %s",
					 g->name, g->summary);
		if (*list)
			return aed_error(AED_EUSAGE, "'%s' needs a subcommand:%s", argv[0], list);
		return aed_error(AED_EUSAGE, "unknown command '%s' (see aedcurate --help)", argv[0]);
	}
	/* Present the command to its parser as one argv[0]: "segments ingest". */
	char **sub = argv + words - 1;
	sub[0] = (char *)c->name;
	ctx->cmd_name = c->name;
	return c->fn(ctx, argc - words + 1, sub);
}
