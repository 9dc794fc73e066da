/* cli.h - the command table and the one option parser every command uses.
 *
 * Adding a command:
 *   1. write src/cmd/<name>.c with `int cmd_<name>(struct aed_ctx *, int, char **)`
 *      that declares its options as a struct aed_opt table and calls aed_parse();
 *   2. declare it in src/cmd/commands.h;
 *   3. add a row to the table in src/cmd/table.c.
 * Commands parse argv into an options struct and call a stage; stages never
 * read argv. `--help` is printed from the same table that parses, defaults
 * and ranges included, so usage never drifts from the code.
 *
 * Defaults: a stage's defaults are macros in its header (AED_REFINE_LOW_DEFAULT),
 * used by the stage's *_opts_init() and by the command's rows; a command
 * calls opts_init() on the stage's struct (for the fields no row sets), then
 * aed_parse() stores every row's default and reads argv over them. Options
 * only a command has carry their default in the row alone. Rows several
 * commands share (--shard, --max-attempts, --batch, --redo, the mining rows)
 * are declared once, as macros in src/cmd/commands.h; the global options
 * (--db, --json, --quiet, --threads) are the table in src/cli/parse.c.
 */
#ifndef AEDCURATE_CLI_H
#define AEDCURATE_CLI_H

#include <math.h>
#include <stddef.h>
#include <stdint.h>

struct aed_db;

enum aed_opt_type {
	AED_OPT_FLAG,   /* int, set to 1 */
	AED_OPT_STR,    /* const char * */
	AED_OPT_INT,    /* int */
	AED_OPT_INT64,  /* int64_t */
	AED_OPT_UINT64, /* uint64_t, written as a whole number >= 0 */
	AED_OPT_DOUBLE, /* double */
	AED_OPT_SIZE,   /* int64_t bytes, written N[KMG][B] (K = 1024) */
	AED_OPT_SHARD,  /* struct aed_shard (store.h), written I/N */
	AED_OPT_LIST,   /* struct aed_strlist: option may repeat */
	AED_OPT_LONG,   /* long */
};

struct aed_strlist {
	const char **v;
	int n;
};

/* A row's default: .i for FLAG and the whole-number types (and SIZE), .d for
 * DOUBLE, .s for STR. SHARD and LIST start empty. A DOUBLE defaulting to NAN
 * is unset (the command line cannot give a NaN): the command tests isnan()
 * and --help shows only the row's def_note. */
union aed_opt_value {
	int64_t i;
	double d;
	const char *s;
};

/* Numbers' ranges: min and max are inclusive unless flags say otherwise. */
enum {
	AED_OPT_MIN_OPEN = 1, /* value > min */
	AED_OPT_MAX_OPEN = 2, /* value < max */
};
#define AED_OPT_RANGE(lo, hi) .min = (lo), .max = (hi)
#define AED_OPT_AT_LEAST(lo) .min = (lo), .max = HUGE_VAL

/* One option of a command, after FFmpeg's AVOption: where it is stored, its
 * default and its range. A row is written positionally up to help, the rest
 * by name:
 *   { "low", 0, AED_OPT_DOUBLE, offsetof(struct refine_cli, s.low), "X",
 *     "hysteresis: grow kept runs through neighbours >= X",
 *     .def.d = AED_REFINE_LOW_DEFAULT, AED_OPT_RANGE(0, 1), .flags = AED_OPT_MIN_OPEN },
 * Where a command calls a stage, its table writes straight into the stage's
 * options struct (a command-local struct may embed it, with a few fields of
 * its own for options that need converting: names of enum values, negated
 * flags). The stage's defaults are defined once, as macros in the stage's
 * header that both the rows and the stage's *_opts_init() use;
 * tests/unit/test_cli_defaults.c checks every command's --help against the
 * *_opts_init() values. */
struct aed_opt {
	const char *name;     /* long name without dashes: "class" */
	char short_name;      /* 0 if none */
	enum aed_opt_type type;
	size_t offset;        /* offsetof(struct my_opts, field) */
	const char *metavar;  /* "NAME", NULL for flags */
	const char *help;     /* one line, without the default or range: --help
	                       * adds "(default X; RANGE)" from the fields below */
	union aed_opt_value def; /* stored by aed_parse before it reads argv; a
	                       * number outside its own range (a required one)
	                       * is not shown as a default */
	double min, max;      /* numbers: the accepted range, when min < max
	                       * (max HUGE_VAL, min -HUGE_VAL: no bound on that
	                       * side); else any value of the type */
	int flags;            /* AED_OPT_MIN_OPEN, AED_OPT_MAX_OPEN */
	const char *def_note; /* what the default means, shown after it:
	                       * "(default 0: all cores)", "(default: --db)" */
};

/* Options every command accepts; filled before the command runs. */
struct aed_global {
	const char *db;  /* --db PATH, else $AEDCURATE_DB, else ./aedcurate.db */
	int json;        /* --json: machine-readable output on stdout */
	int quiet;       /* --quiet: no progress, no info lines */
	int threads;     /* --threads N: worker threads, 0 = all cores */
};

struct aed_run_link;

struct aed_ctx {
	struct aed_global g;
	const char *cmd_name;   /* "ontology ingest" */
	struct aed_db *db;      /* open once the command called aed_ctx_open_db() */
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

/* Parse argv (argv[0] is the command name) into opts and ctx->g. Every field
 * of spec->opts is first set to its row's default (ctx->g is left as it is:
 * main zeroes it, a pipeline step inherits its pipeline's). Positional
 * arguments are compacted to the front of argv; their count goes to *nargs.
 * On --help prints usage and returns AED_EUSAGE with an empty message so main
 * exits 0; on a bad option or a value out of its range records a message
 * naming it. */
int aed_parse(struct aed_ctx *ctx, const struct aed_cmd_spec *spec, int argc,
	      char **argv, void *opts, int *nargs);
void aed_usage(const struct aed_cmd_spec *spec, int to_stderr);
/* Free what aed_parse allocated for repeatable options (main calls it last). */
void aed_parse_release(void);
/* True when aed_parse returned because of --help (main exits 0). */
int aed_help_requested(void);
/* Does arg, a global option written before the command ("--db", "-q"),
 * take the next argument as its value? ("--db=x" does not.) */
int aed_global_takes_value(const char *arg);

/* Open ctx->g.db into ctx->db if not open yet (flags as aed_db_open). */
int aed_ctx_open_db(struct aed_ctx *ctx, int flags);

#endif
