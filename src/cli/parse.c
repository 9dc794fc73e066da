/* parse.c - the one option parser: reads a command's struct aed_opt table,
 * fills its options struct, and prints --help from the same table. */
#include <errno.h>
#include <limits.h>
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
	{ "db", 0, AED_OPT_STR, G(db), "PATH", "database",
	  .def_note = "$AEDCURATE_DB, else ./aedcurate.db" },
	{ "json", 0, AED_OPT_FLAG, G(json), NULL, "machine-readable JSON on stdout" },
	{ "quiet", 'q', AED_OPT_FLAG, G(quiet), NULL, "no progress or info messages" },
	{ "threads", 0, AED_OPT_INT, G(threads), "N", "worker threads",
	  AED_OPT_AT_LEAST(0), .def_note = "all cores" },
	{ 0 }
};

int aed_global_takes_value(const char *arg)
{
	for (const struct aed_opt *o = global_opts; o->name; o++) {
		int hit = arg[0] == '-' && (arg[1] == '-' ? !strcmp(arg + 2, o->name)
					    : o->short_name && arg[1] == o->short_name && !arg[2]);
		if (hit)
			return o->type != AED_OPT_FLAG;
	}
	return 0;
}

static int is_number(enum aed_opt_type t)
{
	return t == AED_OPT_INT || t == AED_OPT_INT64 || t == AED_OPT_UINT64 || t == AED_OPT_LONG ||
	       t == AED_OPT_DOUBLE || t == AED_OPT_SIZE;
}

static int has_range(const struct aed_opt *o)
{
	return is_number(o->type) && o->min < o->max;
}

static int out_of_range(const struct aed_opt *o, double v)
{
	if (!has_range(o))
		return 0;
	if (o->flags & AED_OPT_MIN_OPEN ? !(v > o->min) : !(v >= o->min))
		return 1;
	return o->flags & AED_OPT_MAX_OPEN ? !(v < o->max) : !(v <= o->max);
}

/* "2G" for 2 GiB: the largest unit that divides n. */
static void format_size(char *buf, size_t n, int64_t v)
{
	static const char units[] = "GMK";
	for (int u = 0; u < 3; u++) {
		int64_t unit = (int64_t)1 << (10 * (3 - u));
		if (v && v % unit == 0) {
			snprintf(buf, n, "%lld%c", (long long)(v / unit), units[u]);
			return;
		}
	}
	snprintf(buf, n, "%lld", (long long)v);
}

/* A bound as --help and the range errors write it: whole numbers without a
 * fraction, doubles as %g; an infinite one (the side with no bound) is never
 * written, but stays defined. */
static void format_bound(char *buf, size_t n, const struct aed_opt *o, double v)
{
	if (o->type == AED_OPT_DOUBLE || !isfinite(v))
		snprintf(buf, n, "%g", v);
	else
		snprintf(buf, n, "%lld", (long long)v);
}

/* "1 <= N <= 48", "0 < X <= 1", "N >= 0": the range in the metavar's name. */
static void format_range(char *buf, size_t n, const struct aed_opt *o)
{
	char lo[32], hi[32];
	const char *m = o->metavar ? o->metavar : "value";
	const char *lt = o->flags & AED_OPT_MIN_OPEN ? "<" : "<=";
	const char *gt = o->flags & AED_OPT_MIN_OPEN ? ">" : ">=";
	format_bound(lo, sizeof lo, o, o->min);
	format_bound(hi, sizeof hi, o, o->max);
	if (o->max == HUGE_VAL)
		snprintf(buf, n, "%s %s %s", m, gt, lo);
	else if (o->min == -HUGE_VAL)
		snprintf(buf, n, "%s %s %s", m, o->flags & AED_OPT_MAX_OPEN ? "<" : "<=", hi);
	else
		snprintf(buf, n, "%s %s %s %s %s", lo, lt, m, o->flags & AED_OPT_MAX_OPEN ? "<" : "<=",
			 hi);
}

/* The row's default as --help shows it; "" when it has none to show (a flag,
 * a string left NULL, a NAN double, a number outside its own range - the
 * mark of a required one -, a shard, a list). */
static void format_default(char *buf, size_t n, const struct aed_opt *o)
{
	*buf = 0;
	if (is_number(o->type) && out_of_range(o, o->type == AED_OPT_DOUBLE ? o->def.d
								     : (double)o->def.i))
		return;
	switch (o->type) {
	case AED_OPT_STR:
		if (o->def.s)
			snprintf(buf, n, "%s", o->def.s);
		break;
	case AED_OPT_DOUBLE:
		if (!isnan(o->def.d))
			snprintf(buf, n, "%g", o->def.d);
		break;
	case AED_OPT_SIZE:
		format_size(buf, n, o->def.i);
		break;
	case AED_OPT_INT:
	case AED_OPT_INT64:
	case AED_OPT_UINT64:
	case AED_OPT_LONG:
		snprintf(buf, n, "%lld", (long long)o->def.i);
		break;
	case AED_OPT_FLAG:
	case AED_OPT_SHARD:
	case AED_OPT_LIST:
		break;
	}
}

/* What --help adds to a row's help: " (default 12; 1 <= N <= 48)",
 * " (default 0: all cores)", " (default: the usual search)", " (repeatable)". */
static void format_suffix(char *buf, size_t n, const struct aed_opt *o)
{
	char def[64], range[96];
	size_t len = 0;
	*buf = 0;
	format_default(def, sizeof def, o);
	if (*def || o->def_note)
		len += (size_t)snprintf(buf + len, n - len, "%sdefault%s%s%s%s", len ? ", " : " (",
					*def ? " " : "", def, o->def_note ? ": " : "",
					o->def_note ? o->def_note : "");
	if (has_range(o) && len < n) {
		format_range(range, sizeof range, o);
		len += (size_t)snprintf(buf + len, n - len, "%s%s", len ? "; " : " (", range);
	}
	if (o->type == AED_OPT_LIST && !strstr(o->help, "repeatable") && len < n)
		len += (size_t)snprintf(buf + len, n - len, "%srepeatable", len ? "; " : " (");
	if (len && len < n)
		snprintf(buf + len, n - len, ")");
}

static void print_opts(FILE *f, const struct aed_opt *o)
{
	for (; o && o->name; o++) {
		char left[96], suffix[256];
		char sh[8] = "    ";
		if (o->short_name)
			snprintf(sh, sizeof sh, "-%c, ", o->short_name);
		int n = snprintf(left, sizeof left, "  %s--%s%s%s", sh, o->name,
				 o->metavar ? " " : "", o->metavar ? o->metavar : "");
		format_suffix(suffix, sizeof suffix, o);
		fprintf(f, "%s%*s%s%s\n", left, n < 30 ? 30 - n : 1, "", o->help, suffix);
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

/* Parse "N[KMG][B]" (K = 1024) into bytes. */
static int parse_size(const char *s, int64_t *out)
{
	char *end;
	errno = 0;
	double v = strtod(s, &end);
	if (errno || end == s || v <= 0)
		return -1;
	switch (*end) {
	case 'k': case 'K': v *= 1024; end++; break;
	case 'm': case 'M': v *= 1024 * 1024; end++; break;
	case 'g': case 'G': v *= 1024.0 * 1024 * 1024; end++; break;
	default: break;
	}
	if (*end == 'B' || *end == 'b')
		end++;
	if (*end || v > 9e18)
		return -1;
	*out = (int64_t)v;
	return 0;
}


/* "1..48", "in (0, 1]", ">= 0": the range as an error states it. */
static void format_range_short(char *buf, size_t n, const struct aed_opt *o)
{
	char lo[32], hi[32];
	int lo_open = o->flags & AED_OPT_MIN_OPEN, hi_open = o->flags & AED_OPT_MAX_OPEN;
	format_bound(lo, sizeof lo, o, o->min);
	format_bound(hi, sizeof hi, o, o->max);
	if (o->max == HUGE_VAL)
		snprintf(buf, n, "%s %s", lo_open ? ">" : ">=", lo);
	else if (o->min == -HUGE_VAL)
		snprintf(buf, n, "%s %s", hi_open ? "<" : "<=", hi);
	else if (!lo_open && !hi_open)
		snprintf(buf, n, "%s..%s", lo, hi);
	else
		snprintf(buf, n, "in %c%s, %s%c", lo_open ? '(' : '[', lo, hi, hi_open ? ')' : ']');
}

static int range_error(const struct aed_cmd_spec *spec, const struct aed_opt *o,
		       const char *shown, const char *val)
{
	char range[96];
	format_range_short(range, sizeof range, o);
	return aed_error(AED_EUSAGE, "%s: %s must be %s, not %s", spec->name, shown, range, val);
}

/* A whole number of the row's type: within the C type, then the row's range. */
static int parse_whole(const struct aed_cmd_spec *spec, const struct aed_opt *o,
		       const char *val, const char *shown, long long *out)
{
	char *end;
	errno = 0;
	long long v = strtoll(val, &end, 10);
	if (errno || end == val || *end)
		return aed_error(AED_EUSAGE, "%s: %s expects a whole number, not '%s'", spec->name,
				 shown, val);
	if ((o->type == AED_OPT_INT && (v < INT_MIN || v > INT_MAX)) ||
	    (o->type == AED_OPT_LONG && (v < LONG_MIN || v > LONG_MAX)))
		return aed_error(AED_EUSAGE, "%s: %s %s is too large", spec->name, shown, val);
	if (o->type == AED_OPT_UINT64 && v < 0)
		return aed_error(AED_EUSAGE, "%s: %s expects a whole number >= 0, not '%s'",
				 spec->name, shown, val);
	if (out_of_range(o, (double)v))
		return range_error(spec, o, shown, val);
	*out = v;
	return AED_OK;
}

static int set_opt(const struct aed_cmd_spec *spec, const struct aed_opt *o, void *base,
		   const char *val, const char *shown)
{
	char *p = (char *)base + o->offset, *end;
	long long w = 0;
	int rc;
	switch (o->type) {
	case AED_OPT_FLAG:
		*(int *)p = 1;
		return AED_OK;
	case AED_OPT_STR:
		*(const char **)p = val;
		return AED_OK;
	case AED_OPT_INT:
	case AED_OPT_INT64:
	case AED_OPT_UINT64:
	case AED_OPT_LONG:
		if ((rc = parse_whole(spec, o, val, shown, &w)))
			return rc;
		if (o->type == AED_OPT_INT)
			*(int *)p = (int)w;
		else if (o->type == AED_OPT_INT64)
			*(int64_t *)p = (int64_t)w;
		else if (o->type == AED_OPT_UINT64)
			*(uint64_t *)p = (uint64_t)w;
		else
			*(long *)p = (long)w;
		return AED_OK;
	case AED_OPT_DOUBLE: {
		errno = 0;
		double v = strtod(val, &end);
		if (errno || end == val || *end || !isfinite(v))
			return aed_error(AED_EUSAGE, "%s: %s expects a number, not '%s'", spec->name,
					 shown, val);
		if (out_of_range(o, v))
			return range_error(spec, o, shown, val);
		*(double *)p = v;
		return AED_OK;
	}
	case AED_OPT_SIZE: {
		int64_t v;
		if (parse_size(val, &v))
			return aed_error(AED_EUSAGE, "%s: %s expects a size like 500M, not '%s'",
					 spec->name, shown, val);
		if (out_of_range(o, (double)v))
			return range_error(spec, o, shown, val);
		*(int64_t *)p = v;
		return AED_OK;
	}
	case AED_OPT_SHARD:
		return aed_shard_parse(val, (struct aed_shard *)p);
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

/* Store every row's default into base: what a command sees for an option the
 * command line leaves out. */
static void set_defaults(const struct aed_opt *o, void *base)
{
	for (; o && o->name; o++) {
		char *p = (char *)base + o->offset;
		switch (o->type) {
		case AED_OPT_FLAG:
		case AED_OPT_INT:
			*(int *)p = (int)o->def.i;
			break;
		case AED_OPT_INT64:
		case AED_OPT_SIZE:
			*(int64_t *)p = o->def.i;
			break;
		case AED_OPT_UINT64:
			*(uint64_t *)p = (uint64_t)o->def.i;
			break;
		case AED_OPT_LONG:
			*(long *)p = (long)o->def.i;
			break;
		case AED_OPT_DOUBLE:
			*(double *)p = o->def.d;
			break;
		case AED_OPT_STR:
			*(const char **)p = o->def.s;
			break;
		case AED_OPT_SHARD:
			*(struct aed_shard *)p = (struct aed_shard){ 0, 0 };
			break;
		case AED_OPT_LIST:
			*(struct aed_strlist *)p = (struct aed_strlist){ NULL, 0 };
			break;
		}
	}
}

int aed_parse(struct aed_ctx *ctx, const struct aed_cmd_spec *spec, int argc, char **argv,
	      void *opts, int *nargs)
{
	int npos = 0, rc, only_pos = 0;
	if (opts)
		set_defaults(spec->opts, opts);
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
