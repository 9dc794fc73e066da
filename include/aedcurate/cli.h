/* cli.h - the command table and the one option parser every command uses.
 *
 * Adding a command:
 *   1. write src/cmd/<name>.c with `int cmd_<name>(struct aed_ctx *, int, char **)`
 *      that declares its options as a struct aed_opt table and calls aed_parse();
 *   2. declare it in src/cmd/commands.h;
 *   3. add a row to the table in src/cmd/table.c.
 * Commands parse argv into an options struct and call a stage; stages never
 * read argv. `--help` is printed from the same table that parses, so usage
 * never drifts from the code.
 */
#ifndef AEDCURATE_CLI_H
#define AEDCURATE_CLI_H

#include <stddef.h>
#include <stdint.h>

struct aed_db;

enum aed_opt_type {
	AED_OPT_FLAG,   /* int, set to 1 */
	AED_OPT_STR,    /* const char * */
	AED_OPT_INT,    /* long */
	AED_OPT_DOUBLE, /* double */
	AED_OPT_LIST,   /* struct aed_strlist: option may repeat */
};

struct aed_strlist {
	const char **v;
	int n;
};

struct aed_opt {
	const char *name;     /* long name without dashes: "class" */
	char short_name;      /* 0 if none */
	enum aed_opt_type type;
	size_t offset;        /* offsetof(struct my_opts, field) */
	const char *metavar;  /* "NAME", NULL for flags */
	const char *help;     /* one line; the default goes here too */
};

/* Options every command accepts; filled before the command runs. */
struct aed_global {
	const char *db;  /* --db PATH, else $AEDCURATE_DB, else ./aedcurate.db */
	int json;        /* --json: machine-readable output on stdout */
	int quiet;       /* --quiet: no progress, no info lines */
	long threads;    /* --threads N: worker threads, 0 = all cores */
};

struct aed_run_link;

struct aed_ctx {
	struct aed_global g;
	const char *cmd_name;   /* "ontology ingest" */
	struct aed_db *db;      /* open when the command has AED_CMD_DB */
	/* The pipelines whose `run` steps led to this command, innermost first;
	 * NULL from the command line. Private to src/cmd/run.c. */
	const struct aed_run_link *run_chain;
};

struct aed_cmd_spec {
	const char *name;       /* "segments ingest" */
	const char *args;       /* positional synopsis: "SOURCE" */
	const char *summary;    /* one line */
	const char *details;    /* paragraph printed under the usage, or NULL */
	const struct aed_opt *opts; /* terminated by an all-zero row; may be NULL */
	int min_args, max_args; /* positional count; max -1 = unbounded */
};

/* Parse argv (argv[0] is the command name) into opts and ctx->g. Positional
 * arguments are compacted to the front of argv; their count goes to *nargs.
 * On --help prints usage and returns AED_EUSAGE with an empty message so main
 * exits 0; on a bad option records a message naming it. */
int aed_parse(struct aed_ctx *ctx, const struct aed_cmd_spec *spec, int argc,
	      char **argv, void *opts, int *nargs);
void aed_usage(const struct aed_cmd_spec *spec, int to_stderr);
/* Free what aed_parse allocated for repeatable options (main calls it last). */
void aed_parse_release(void);
/* True when aed_parse returned because of --help (main exits 0). */
int aed_help_requested(void);

/* Open ctx->g.db into ctx->db if not open yet (flags as aed_db_open). */
int aed_ctx_open_db(struct aed_ctx *ctx, int flags);

#endif
