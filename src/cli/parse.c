/* parse.c - the one option parser: reads a command's struct aed_opt table,
 * fills its options struct, and prints --help from the same table. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "aedcurate/cli.h"
#include "aedcurate/error.h"
#include "aedcurate/store.h"
#include "aedcurate/util.h"

static int help_requested;

/* Arrays of repeatable options live until the process ends; remembered here
 * so aed_parse_release() can free them (options structs are plain data). */
static void **list_allocs;
static size_t n_list_allocs;

void aed_parse_release(void)
{
	for (size_t i = 0; i < n_list_allocs; i++)
		free(list_allocs[i]);
	free(list_allocs);
	list_allocs = NULL;
	n_list_allocs = 0;
}

/* Index of p in list_allocs, adding a slot if it is new (p NULL: new). */
static int alloc_slot(const void *p, size_t *slot)
{
	for (size_t i = 0; p && i < n_list_allocs; i++)
		if (list_allocs[i] == p) {
			*slot = i;
			return AED_OK;
		}
	void **nv = realloc(list_allocs, (n_list_allocs + 1) * sizeof *nv);
	if (!nv)
		return aed_error(AED_ENOMEM, "out of memory");
	list_allocs = nv;
	list_allocs[n_list_allocs] = NULL;
	*slot = n_list_allocs++;
	return AED_OK;
}

int aed_help_requested(void) { return help_requested; }

#define G(f) offsetof(struct aed_global, f)
static const struct aed_opt global_opts[] = {
	{ "db", 0, AED_OPT_STR, G(db), "PATH", "database (default $AEDCURATE_DB, else ./aedcurate.db)" },
	{ "json", 0, AED_OPT_FLAG, G(json), NULL, "machine-readable JSON on stdout" },
	{ "quiet", 'q', AED_OPT_FLAG, G(quiet), NULL, "no progress or info messages" },
	{ "threads", 0, AED_OPT_INT, G(threads), "N", "worker threads (default: all cores)" },
	{ 0 }
};

static void print_opts(FILE *f, const struct aed_opt *o)
{
	for (; o && o->name; o++) {
		char left[96];
		char sh[8] = "    ";
		if (o->short_name)
			snprintf(sh, sizeof sh, "-%c, ", o->short_name);
		int n = snprintf(left, sizeof left, "  %s--%s%s%s", sh, o->name,
				 o->metavar ? " " : "", o->metavar ? o->metavar : "");
		fprintf(f, "%s%*s%s%s\n", left, n < 30 ? 30 - n : 1, "", o->help,
			o->type == AED_OPT_LIST && !strstr(o->help, "repeatable") ? " (repeatable)" : "");
	}
}

void aed_usage(const struct aed_cmd_spec *spec, int to_stderr)
{
	FILE *f = to_stderr ? stderr : stdout;
	fprintf(f, "usage: aedcurate %s [options]%s%s\n", spec->name, spec->args ? " " : "",
		spec->args ? spec->args : "");
	fprintf(f, "\n%s\n", spec->summary);
	if (spec->details)
		fprintf(f, "\n%s\n", spec->details);
	if (spec->opts && spec->opts->name) {
		fprintf(f, "\noptions:\n");
		print_opts(f, spec->opts);
	}
	fprintf(f, "\nglobal options:\n");
	print_opts(f, global_opts);
	fprintf(f, "  -h, --help                    this help\n");
}

static const struct aed_opt *find_opt(const struct aed_opt *t, const char *name, size_t len,
				      char short_name)
{
	for (; t && t->name; t++) {
		if (short_name ? t->short_name == short_name
			       : (strlen(t->name) == len && !strncmp(t->name, name, len)))
			return t;
	}
	return NULL;
}

static int set_opt(const struct aed_cmd_spec *spec, const struct aed_opt *o, void *base,
		   const char *val, const char *shown)
{
	char *p = (char *)base + o->offset, *end;
	switch (o->type) {
	case AED_OPT_FLAG:
		*(int *)p = 1;
		return AED_OK;
	case AED_OPT_STR:
		*(const char **)p = val;
		return AED_OK;
	case AED_OPT_INT: {
		errno = 0;
		long v = strtol(val, &end, 10);
		if (errno || end == val || *end)
			return aed_error(AED_EUSAGE, "%s: %s expects a whole number, not '%s'",
					 spec->name, shown, val);
		*(long *)p = v;
		return AED_OK;
	}
	case AED_OPT_DOUBLE: {
		errno = 0;
		double v = strtod(val, &end);
		if (errno || end == val || *end || !isfinite(v))
			return aed_error(AED_EUSAGE, "%s: %s expects a number, not '%s'", spec->name,
					 shown, val);
		*(double *)p = v;
		return AED_OK;
	}
	case AED_OPT_LIST: {
		struct aed_strlist *l = (struct aed_strlist *)p;
		size_t slot = 0;
		int rc = alloc_slot(l->v, &slot);
		if (rc)
			return rc;
		const char **nv = realloc(l->v, (size_t)(l->n + 1) * sizeof *nv);
		if (!nv)
			return aed_error(AED_ENOMEM, "out of memory");
		nv[l->n++] = val;
		l->v = nv;
		list_allocs[slot] = nv;
		return AED_OK;
	}
	}
	return aed_error(AED_EINTERNAL, "bad option type");
}

int aed_parse(struct aed_ctx *ctx, const struct aed_cmd_spec *spec, int argc, char **argv,
	      void *opts, int *nargs)
{
	int npos = 0, rc, only_pos = 0;
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		if (only_pos || a[0] != '-' || a[1] == 0) {
			argv[npos++] = argv[i];
			continue;
		}
		if (!strcmp(a, "--")) {
			only_pos = 1;
			continue;
		}
		if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
			help_requested = 1;
			aed_usage(spec, 0);
			return aed_error(AED_EUSAGE, "%s", "");
		}
		const struct aed_opt *o;
		void *base;
		const char *val = NULL, *eq = NULL;
		char shown[128];
		if (a[1] == '-') {
			const char *name = a + 2;
			eq = strchr(name, '=');
			size_t len = eq ? (size_t)(eq - name) : strlen(name);
			snprintf(shown, sizeof shown, "--%.*s", (int)len, name);
			if ((o = find_opt(spec->opts, name, len, 0)))
				base = opts;
			else if ((o = find_opt(global_opts, name, len, 0)))
				base = &ctx->g;
			else
				return aed_error(AED_EUSAGE, "%s: unknown option %s (see aedcurate %s --help)",
						 spec->name, shown, spec->name);
			if (eq)
				val = eq + 1;
		} else {
			snprintf(shown, sizeof shown, "-%c", a[1]);
			if ((o = find_opt(spec->opts, NULL, 0, a[1])))
				base = opts;
			else if ((o = find_opt(global_opts, NULL, 0, a[1])))
				base = &ctx->g;
			else
				return aed_error(AED_EUSAGE, "%s: unknown option %s (see aedcurate %s --help)",
						 spec->name, shown, spec->name);
			if (a[2])
				val = a + 2;
		}
		if (o->type == AED_OPT_FLAG) {
			if (eq)
				return aed_error(AED_EUSAGE, "%s: %s takes no value", spec->name, shown);
			if (val) /* -qx: bundled short flags are not supported */
				return aed_error(AED_EUSAGE, "%s: unknown option %s", spec->name, a);
		} else if (!val) {
			if (i + 1 >= argc)
				return aed_error(AED_EUSAGE, "%s: %s needs a value (%s)", spec->name, shown,
						 o->metavar ? o->metavar : "value");
			val = argv[++i];
		}
		if ((rc = set_opt(spec, o, base, val, shown)))
			return rc;
	}
	if (npos < spec->min_args || (spec->max_args >= 0 && npos > spec->max_args)) {
		if (npos < spec->min_args)
			return aed_error(AED_EUSAGE, "%s: missing %s (usage: aedcurate %s [options] %s)",
					 spec->name, spec->args ? spec->args : "arguments", spec->name,
					 spec->args ? spec->args : "");
		return aed_error(AED_EUSAGE, "%s: unexpected argument '%s' (usage: aedcurate %s "
				 "[options]%s%s)", spec->name, argv[spec->max_args], spec->name,
				 spec->args ? " " : "", spec->args ? spec->args : "");
	}
	if (ctx->g.threads < 0)
		return aed_error(AED_EUSAGE, "%s: --threads must be 0 (all cores) or more", spec->name);
	if (ctx->g.threads == 0)
		ctx->g.threads = aed_ncpu();
	if (ctx->g.quiet)
		aed_set_quiet(1);
	if (nargs)
		*nargs = npos;
	argv[npos] = NULL;
	return AED_OK;
}

int aed_ctx_open_db(struct aed_ctx *ctx, int flags)
{
	if (ctx->db)
		return AED_OK;
	if (!ctx->g.db || !*ctx->g.db) {
		const char *env = getenv("AEDCURATE_DB");
		ctx->g.db = env && *env ? env : "aedcurate.db";
	}
	return aed_db_open(ctx->g.db, flags, &ctx->db);
}
