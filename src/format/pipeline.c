/* pipeline.c - parsing and expanding pipeline files (format in pipeline.h):
 * the file that lists the commands taking a clip from the segment list to
 * the shards, before any of them runs. Pure text processing, no stage
 * dependency; running the steps is src/cmd/run.c. */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "aedcurate/error.h"
#include "aedcurate/pipeline.h"
#include "aedcurate/util.h"

#define MAX_VARS 64
#define MAX_LINE (64 * 1024)

struct var {
	char *name, *value;
};

struct parser {
	const char *path;
	int line;
	struct var vars[MAX_VARS];
	int n_vars;
};

static const char *var_get(struct parser *ps, const char *name, size_t len)
{
	for (int i = ps->n_vars - 1; i >= 0; i--)
		if (strlen(ps->vars[i].name) == len && !strncmp(ps->vars[i].name, name, len))
			return ps->vars[i].value;
	return NULL;
}

static int valid_name(const char *s, size_t n)
{
	if (n == 0 || n > 64)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (!(isalnum((unsigned char)s[i]) || s[i] == '_' || s[i] == '-'))
			return 0;
	return 1;
}

/* Append the value of the reference at *sp (${ENV}, ${ENV:-default} or {VAR})
 * to b and move *sp past it. The value is appended as it is: nothing in it is
 * read again, so it can neither split a word nor open a quote. */
static int expand_ref(struct parser *ps, const char **sp, struct aed_buf *b)
{
	const char *s = *sp;
	if (s[0] == '$') {
		const char *end = strchr(s + 2, '}');
		if (!end)
			return aed_error(AED_EFORMAT, "%s:%d: '${' without '}'", ps->path, ps->line);
		const char *name = s + 2, *dflt = NULL;
		size_t len = (size_t)(end - name);
		const char *colon = memchr(name, ':', len);
		if (colon && colon + 1 < end && colon[1] == '-') {
			dflt = colon + 2;
			len = (size_t)(colon - name);
		}
		if (!valid_name(name, len))
			return aed_error(AED_EFORMAT, "%s:%d: bad variable name in '%.*s'", ps->path,
					 ps->line, (int)(end - s + 1), s);
		char env[72];
		snprintf(env, sizeof env, "%.*s", (int)len, name);
		const char *v = getenv(env);
		*sp = end + 1;
		if (v && *v)
			return aed_buf_append(b, v, strlen(v));
		if (dflt)
			return aed_buf_append(b, dflt, (size_t)(end - dflt));
		return aed_error(AED_EFORMAT, "%s:%d: environment variable %s is not set "
				 "(write ${%s:-default} for a default)", ps->path, ps->line, env, env);
	}
	const char *end = strchr(s + 1, '}');
	size_t len = end ? (size_t)(end - s - 1) : 0;
	const char *v = end && valid_name(s + 1, len) ? var_get(ps, s + 1, len) : NULL;
	if (!v)
		return aed_error(AED_EFORMAT, "%s:%d: unknown variable '%.*s' (define it with "
				 "'set' or 'source' above)", ps->path, ps->line,
				 end ? (int)(len + 2) : 1, s);
	*sp = end + 1;
	return aed_buf_append(b, v, strlen(v));
}

static int is_ref(const char *s)
{
	return s[0] == '{' || (s[0] == '$' && s[1] == '{');
}

/* Expand every reference in s (a set value or a source alternative, which
 * are one string each, never split) into a new string. */
static int expand(struct parser *ps, const char *s, char **out)
{
	struct aed_buf b = { 0 };
	int rc = AED_OK;
	*out = NULL;
	while (*s) {
		if (is_ref(s))
			rc = expand_ref(ps, &s, &b);
		else
			rc = aed_buf_append(&b, s++, 1);
		if (rc)
			goto out;
	}
	if (!b.data && (rc = aed_buf_append(&b, "", 0)))
		goto out;
	*out = b.data;
	b.data = NULL;
out:
	aed_buf_release(&b);
	return rc;
}

/* Split a step's command line into words with '...' / "..." quoting, then
 * expand references within each word as the scan reaches them. Words are
 * found in the text as written, so a value never adds, removes or splits one:
 * `{d}/o.json` is one argument whatever d holds (blanks, quotes, a leading
 * '-', newlines), and an empty value is an empty argument. Blanks inside a
 * reference (`${DIR:-/my data}`) belong to it and do not end the word. */
static int split_words(struct parser *ps, const char *s, char ***argv_out, int *argc_out)
{
	char **argv = NULL;
	int argc = 0, rc = AED_OK;
	struct aed_buf w = { 0 };
	for (;;) {
		while (*s == ' ' || *s == '\t')
			s++;
		if (!*s)
			break;
		char q = 0;
		while (*s && (q || (*s != ' ' && *s != '\t'))) {
			if (q && *s == q) {
				q = 0;
				s++;
			} else if (!q && (*s == '\'' || *s == '"')) {
				q = *s++;
			} else if (is_ref(s)) {
				if ((rc = expand_ref(ps, &s, &w)))
					goto out;
			} else if ((rc = aed_buf_append(&w, s++, 1))) {
				goto out;
			}
		}
		if (q) {
			rc = aed_error(AED_EFORMAT, "%s:%d: quote %c left open", ps->path, ps->line, q);
			goto out;
		}
		if (!w.data && (rc = aed_buf_append(&w, "", 0)))
			goto out;
		char **nv = realloc(argv, (size_t)(argc + 2) * sizeof *nv);
		if (!nv) {
			rc = aed_error(AED_ENOMEM, "out of memory");
			goto out;
		}
		argv = nv;
		argv[argc++] = w.data;
		argv[argc] = NULL;
		w.data = NULL;
		w.len = w.cap = 0;
	}
out:
	aed_buf_release(&w);
	if (rc) {
		for (int i = 0; i < argc; i++)
			free(argv[i]);
		free(argv);
		return rc;
	}
	*argv_out = argv;
	*argc_out = argc;
	return AED_OK;
}

/* The words as one line, each quoted as a shell would need it ('...' with
 * ' written '\''), so the line reads back as the same words and two
 * different argument lists never give the same line. */
static int join_words(char **argv, int argc, char **out)
{
	struct aed_buf b = { 0 };
	int rc = AED_OK;
	*out = NULL;
	for (int i = 0; i < argc && !rc; i++) {
		const char *a = argv[i];
		int plain = *a != 0;
		for (const char *c = a; *c && plain; c++)
			plain = isalnum((unsigned char)*c) || strchr("-_./:=,+@%", *c);
		if (i && (rc = aed_buf_append(&b, " ", 1)))
			break;
		if (plain) {
			rc = aed_buf_append(&b, a, strlen(a));
			continue;
		}
		rc = aed_buf_append(&b, "'", 1);
		for (const char *c = a; *c && !rc; c++)
			rc = *c == '\'' ? aed_buf_append(&b, "'\\''", 4) : aed_buf_append(&b, c, 1);
		if (!rc)
			rc = aed_buf_append(&b, "'", 1);
	}
	if (!rc && !b.data)
		rc = aed_buf_append(&b, "", 0);
	if (rc) {
		aed_buf_release(&b);
		return rc;
	}
	*out = b.data;
	return AED_OK;
}

/* Strip a trailing comment (a '#' outside quotes) and surrounding blanks. */
static char *trim_line(char *s)
{
	char q = 0;
	for (char *p = s; *p; p++) {
		if (q) {
			if (*p == q)
				q = 0;
		} else if (*p == '\'' || *p == '"') {
			q = *p;
		} else if (*p == '#' && (p == s || p[-1] == ' ' || p[-1] == '\t')) {
			*p = 0;
			break;
		}
	}
	while (*s == ' ' || *s == '\t')
		s++;
	size_t n = strlen(s);
	while (n && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\r'))
		s[--n] = 0;
	return s;
}

static int set_var(struct parser *ps, const char *name, size_t len, char *value)
{
	if (!valid_name(name, len)) {
		free(value);
		return aed_error(AED_EFORMAT, "%s:%d: bad variable name '%.*s'", ps->path, ps->line,
				 (int)len, name);
	}
	if (ps->n_vars == MAX_VARS) {
		free(value);
		return aed_error(AED_EFORMAT, "%s:%d: more than %d variables", ps->path, ps->line,
				 MAX_VARS);
	}
	ps->vars[ps->n_vars].name = strndup(name, len);
	ps->vars[ps->n_vars].value = value;
	ps->n_vars++;
	return AED_OK;
}

/* "NAME = VALUE" -> name span and a pointer to VALUE. */
static int split_assign(struct parser *ps, char *s, const char **name, size_t *len, char **value)
{
	char *eq = strchr(s, '=');
	if (!eq)
		return aed_error(AED_EFORMAT, "%s:%d: expected NAME = VALUE", ps->path, ps->line);
	char *e = eq;
	while (e > s && (e[-1] == ' ' || e[-1] == '\t'))
		e--;
	*name = s;
	*len = (size_t)(e - s);
	*value = eq + 1;
	while (**value == ' ' || **value == '\t')
		(*value)++;
	return AED_OK;
}

static int parse_source(struct parser *ps, char *rest, aed_source_chooser choose, void *arg)
{
	const char *name;
	size_t len;
	char *value, *alts[16];
	int n = 0, rc;
	if ((rc = split_assign(ps, rest, &name, &len, &value)))
		return rc;
	for (char *tok = value;;) {
		char *bar = strchr(tok, '|');
		if (bar)
			*bar = 0;
		char *t = trim_line(tok);
		if (*t) {
			if (n == 16) {
				rc = aed_error(AED_EFORMAT, "%s:%d: more than 16 alternatives", ps->path,
					       ps->line);
				goto out;
			}
			if ((rc = expand(ps, t, &alts[n])))
				goto out;
			n++;
		}
		if (!bar)
			break;
		tok = bar + 1;
	}
	if (n == 0) {
		rc = aed_error(AED_EFORMAT, "%s:%d: source with no alternatives", ps->path, ps->line);
		goto out;
	}
	char why[512] = "";
	int pick = choose ? choose((const char *const *)alts, n, why, arg) : 0;
	if (pick < 0 || pick >= n) {
		rc = aed_error(AED_ENOTFOUND, "%s:%d: no alternative of source '%.*s' is reachable%s%s",
			       ps->path, ps->line, (int)len, name, *why ? ": " : "", why);
		goto out;
	}
	rc = set_var(ps, name, len, alts[pick]);
	alts[pick] = NULL;
out:
	for (int i = 0; i < n; i++)
		free(alts[i]);
	return rc;
}

/* "step NAME: COMMAND ..." or "step NAME [shard]: COMMAND ...": one more
 * step of p. */
static int parse_step(struct parser *ps, struct aed_pipeline *p, char *rest)
{
	char *colon = strchr(rest, ':');
	size_t nlen = colon ? (size_t)(colon - rest) : 0;
	int rc, shard = 0;
	/* "NAME [shard]:" marks a per-shard step (pipeline.h). */
	if (colon && nlen > 7 && !strncmp(colon - 7, "[shard]", 7)) {
		shard = 1;
		for (nlen -= 7; nlen && (rest[nlen - 1] == ' ' || rest[nlen - 1] == '\t');)
			nlen--;
	}
	if (!colon || !valid_name(rest, nlen))
		return aed_error(AED_EFORMAT, "%s:%d: expected 'step NAME: COMMAND ...' or "
				 "'step NAME [shard]: COMMAND ...'", ps->path, ps->line);
	for (int i = 0; i < p->n_steps; i++)
		if (strlen(p->steps[i].name) == nlen && !strncmp(p->steps[i].name, rest, nlen))
			return aed_error(AED_EFORMAT, "%s:%d: step '%.*s' already defined at line %d",
					 ps->path, ps->line, (int)nlen, rest, p->steps[i].line);
	struct aed_pipeline_step *ns = realloc(p->steps, (size_t)(p->n_steps + 1) * sizeof *ns);
	if (!ns)
		return aed_error(AED_ENOMEM, "out of memory");
	p->steps = ns;
	struct aed_pipeline_step *st = &p->steps[p->n_steps];
	memset(st, 0, sizeof *st);
	p->n_steps++;
	st->line = ps->line;
	st->shard = shard;
	if (!(st->name = strndup(rest, nlen)))
		return aed_error(AED_ENOMEM, "out of memory");
	if ((rc = split_words(ps, colon + 1, &st->argv, &st->argc)))
		return rc;
	if (st->argc == 0)
		return aed_error(AED_EFORMAT, "%s:%d: step '%s' has no command", ps->path, ps->line,
				 st->name);
	return join_words(st->argv, st->argc, &st->text);
}

int aed_pipeline_parse(const char *text, size_t n, const char *path, aed_source_chooser choose,
		       void *choose_arg, struct aed_pipeline **out)
{
	struct parser ps = { .path = path };
	struct aed_pipeline *p = calloc(1, sizeof *p);
	char *line = malloc(MAX_LINE + 1);
	int rc = AED_OK;
	*out = NULL;
	if (!p || !line) {
		rc = aed_error(AED_ENOMEM, "out of memory");
		goto out;
	}
	size_t pos = 0;
	while (pos < n) {
		const char *nl = memchr(text + pos, '\n', n - pos);
		size_t len = nl ? (size_t)(nl - (text + pos)) : n - pos;
		ps.line++;
		if (len > MAX_LINE) {
			rc = aed_error(AED_EFORMAT, "%s:%d: line longer than %d bytes", path, ps.line,
				       MAX_LINE);
			goto out;
		}
		if (memchr(text + pos, 0, len)) {
			rc = aed_error(AED_EFORMAT, "%s:%d: NUL byte in a text file", path, ps.line);
			goto out;
		}
		memcpy(line, text + pos, len);
		line[len] = 0;
		pos += len + 1;
		char *s = trim_line(line);
		if (!*s)
			continue;
		char *sp = s + strcspn(s, " \t");
		char *rest = *sp ? sp + 1 : sp;
		*sp = 0;
		while (*rest == ' ' || *rest == '\t')
			rest++;
		if (!strcmp(s, "pipeline")) {
			if (!valid_name(rest, strlen(rest))) {
				rc = aed_error(AED_EFORMAT, "%s:%d: pipeline name must be letters, digits, "
					       "'_' or '-'", path, ps.line);
				goto out;
			}
			free(p->name);
			p->name = strdup(rest);
		} else if (!strcmp(s, "set")) {
			const char *name;
			size_t nlen;
			char *value, *v;
			if ((rc = split_assign(&ps, rest, &name, &nlen, &value)) ||
			    (rc = expand(&ps, value, &v)) || (rc = set_var(&ps, name, nlen, v)))
				goto out;
		} else if (!strcmp(s, "source")) {
			if ((rc = parse_source(&ps, rest, choose, choose_arg)))
				goto out;
		} else if (!strcmp(s, "step")) {
			if ((rc = parse_step(&ps, p, rest)))
				goto out;
		} else {
			rc = aed_error(AED_EFORMAT, "%s:%d: unknown statement '%s' (expected pipeline, "
				       "set, source or step)", path, ps.line, s);
			goto out;
		}
	}
	if (!p->name) {
		rc = aed_error(AED_EFORMAT, "%s: no 'pipeline NAME' line", path);
		goto out;
	}
	if (p->n_steps == 0) {
		rc = aed_error(AED_EFORMAT, "%s: no steps", path);
		goto out;
	}
out:
	for (int i = 0; i < ps.n_vars; i++) {
		free(ps.vars[i].name);
		free(ps.vars[i].value);
	}
	free(line);
	if (rc)
		aed_pipeline_free(&p);
	*out = p;
	return rc;
}

void aed_pipeline_free(struct aed_pipeline **pp)
{
	struct aed_pipeline *p = *pp;
	if (!p)
		return;
	for (int i = 0; i < p->n_steps; i++) {
		free(p->steps[i].name);
		free(p->steps[i].text);
		for (int j = 0; p->steps[i].argv && j < p->steps[i].argc; j++)
			free(p->steps[i].argv[j]);
		free(p->steps[i].argv);
	}
	free(p->steps);
	free(p->name);
	free(p);
	*pp = NULL;
}
