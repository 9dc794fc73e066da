/* pipeline.h - pipeline files: stages in order, each a command line.
 *
 * Format (one statement per line; '#' starts a comment outside quotes):
 *   pipeline NAME                       the name runs are recorded under
 *   set VAR = VALUE                     a variable, used as {VAR}
 *   source VAR = ALT | ALT | ...        the first reachable alternative (an
 *                                       http(s) URL that answers, or a path
 *                                       that exists) becomes {VAR}
 *   step NAME: COMMAND ARGS...          an aedcurate command line
 *   step NAME [shard]: COMMAND ARGS...  the same, run once per shard when the
 *                                       pipeline is split (see below)
 * Values and steps expand ${ENV} and ${ENV:-default} from the environment and
 * {VAR} from earlier set/source lines. A step is split into words first, on
 * blanks outside '...' / "..." quotes (references expand inside quotes too;
 * blanks inside a reference such as ${DIR:-/my data} do not split), and each
 * reference is then replaced within its word: a value never splits, joins,
 * removes or quotes words, so `{d}/o.json` is one argument whatever d holds
 * (blanks, quotes, a leading '-', newlines) and an empty value gives an empty
 * argument. No shell is involved. A set value and each source alternative
 * are one string: expanded, never split.
 *
 * A step may itself be `run OTHER.pipeline`. `aedcurate run` refuses a file
 * already on the chain of runs that led to it (compared by real path: a
 * pipeline may not run itself, directly or through others) and a chain more
 * than 8 pipelines deep; the message names the chain, prefixed by the file,
 * line and name of each step on it (src/cmd/run.c).
 *
 * Shards. Steps marked [shard] are the per-segment stages a cluster splits
 * (fetch, decode, features, embed: each takes --shard I/N). They must be one
 * block of consecutive steps, which divides the pipeline in three:
 *   set-up steps   before the block: run in every shard's database (each
 *                  shard needs the whole ontology and lists to pick its
 *                  slice; `merge` brings them in once);
 *   shard steps    the block: run in every shard's database with
 *                  `--shard I/N` appended to the step's words;
 *   corpus steps   after the block: run once, on the database the shards are
 *                  merged into (index, mine, review, refine, export need
 *                  the whole corpus).
 * `aedcurate run FILE` ignores the marks and runs every step on one database;
 * `run FILE --shard I/N` runs the set-up and shard steps, `run FILE --corpus`
 * the corpus steps; `aedcurate submit` runs them as a Slurm job array and a
 * merge job (src/cmd/submit.c). A pipeline with no [shard] step cannot be
 * split.
 *
 * Ownership: aed_pipeline_parse() allocates *out; free with aed_pipeline_free().
 */
#ifndef AEDCURATE_PIPELINE_H
#define AEDCURATE_PIPELINE_H

#include <stddef.h>

struct aed_pipeline_step {
	char *name;
	char *text;   /* argv as one line, words quoted as a shell would need;
		       * `run` records finished steps under it */
	char **argv;  /* NULL-terminated */
	int argc;
	int line;     /* in the pipeline file */
	int shard;    /* marked [shard]: one run per shard, with --shard I/N */
};

struct aed_pipeline {
	char *name;
	struct aed_pipeline_step *steps;
	int n_steps;
};

/* Decides which alternative of a `source` line to use: returns the index of the
 * first usable one, or -1. `why` (size 512) receives a reason when none is. */
typedef int (*aed_source_chooser)(const char *const *alts, int n, char *why, void *arg);

/* Parse and expand a pipeline file held in text[0..n). path names it in
 * errors ("demo.pipeline:7: ..."). choose may be NULL: first alternative. */
int aed_pipeline_parse(const char *text, size_t n, const char *path, aed_source_chooser choose,
		       void *choose_arg, struct aed_pipeline **out);
void aed_pipeline_free(struct aed_pipeline **p);

/* The [shard] block: steps [*first, *end) are the shard steps, those before
 * them set-up steps, those after corpus steps. AED_ENOTFOUND when no step is
 * marked; AED_EFORMAT, naming the step, when the marked steps are not
 * consecutive. path names the file in messages. */
int aed_pipeline_shard_block(const struct aed_pipeline *p, const char *path, int *first,
			     int *end);

/* Append `--shard I/N` to the words (and text) of every [shard] step, as a
 * shard's run executes them. 0 <= index < count. */
int aed_pipeline_set_shard(struct aed_pipeline *p, int index, int count);

#endif
