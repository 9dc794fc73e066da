/* template.c - source templates for fetch: "{ytid}_{start_ms}.*",
 * "https://mirror/{key}.flac", "yt-dlp -o {out} ...": parse once, expand per
 * segment with the escaping the destination needs (URL, shell word, glob). */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "aedcurate/error.h"
#include "aedcurate/template.h"
#include "aedcurate/util.h"

static const char *const var_names[AED_TPL_NVARS] = {
	[AED_TPL_YTID] = "ytid",   [AED_TPL_START_MS] = "start_ms",
	[AED_TPL_END_MS] = "end_ms", [AED_TPL_START] = "start",
	[AED_TPL_END] = "end",     [AED_TPL_KEY] = "key",
	[AED_TPL_OUT] = "out",
};

void aed_template_release(struct aed_template *t)
{
	for (int i = 0; i < t->n; i++)
		free(t->parts[i].text);
	free(t->parts);
	t->parts = NULL;
	t->n = 0;
	t->vars = 0;
}

static int add_part(struct aed_template *t, enum aed_tpl_var var, const char *s, size_t n)
{
	struct aed_tpl_part *p = realloc(t->parts, (size_t)(t->n + 1) * sizeof *p);

	if (!p)
		return aed_error(AED_ENOMEM, "template: out of memory");
	t->parts = p;
	p[t->n].var = var;
	p[t->n].text = NULL;
	if (var == AED_TPL_LITERAL) {
		p[t->n].text = malloc(n + 1);
		if (!p[t->n].text)
			return aed_error(AED_ENOMEM, "template: out of memory");
		memcpy(p[t->n].text, s, n);
		p[t->n].text[n] = '\0';
	} else {
		t->vars |= 1u << var;
	}
	t->n++;
	return AED_OK;
}

int aed_template_parse(const char *text, struct aed_template *t)
{
	struct aed_buf lit = { 0 };
	const char *p = text;
	int rc = AED_OK;

	memset(t, 0, sizeof *t);
	while (*p) {
		if ((p[0] == '{' && p[1] == '{') || (p[0] == '}' && p[1] == '}')) {
			if ((rc = aed_buf_append(&lit, p, 1)))
				goto out;
			p += 2;
		} else if (*p == '{') {
			const char *end = strchr(p + 1, '}');
			size_t len;
			int v;

			if (!end) {
				rc = aed_error(AED_EUSAGE, "template '%s': unclosed '{' at offset %zu",
					       text, (size_t)(p - text));
				goto out;
			}
			len = (size_t)(end - p - 1);
			for (v = 0; v < AED_TPL_NVARS; v++)
				if (strlen(var_names[v]) == len && !strncmp(p + 1, var_names[v], len))
					break;
			if (v == AED_TPL_NVARS) {
				rc = aed_error(AED_EUSAGE, "template '%s': unknown variable {%.*s} at "
					       "offset %zu (known: {ytid} {start_ms} {end_ms} {start} "
					       "{end} {key} {out})", text, (int)(len > 40 ? 40 : len),
					       p + 1, (size_t)(p - text));
				goto out;
			}
			if (lit.len && (rc = add_part(t, AED_TPL_LITERAL, lit.data, lit.len)))
				goto out;
			lit.len = 0;
			if ((rc = add_part(t, (enum aed_tpl_var)v, NULL, 0)))
				goto out;
			p = end + 1;
		} else if (*p == '}') {
			rc = aed_error(AED_EUSAGE, "template '%s': unmatched '}' at offset %zu "
				       "(write '}}' for a literal brace)", text, (size_t)(p - text));
			goto out;
		} else {
			if ((rc = aed_buf_append(&lit, p, 1)))
				goto out;
			p++;
		}
	}
	if (lit.len)
		rc = add_part(t, AED_TPL_LITERAL, lit.data, lit.len);
out:
	aed_buf_release(&lit);
	if (rc)
		aed_template_release(t);
	return rc;
}

int aed_template_is_segment(const struct aed_template *t)
{
	return (t->vars & (1u << AED_TPL_START_MS | 1u << AED_TPL_START | 1u << AED_TPL_KEY)) != 0;
}

void aed_ms_to_seconds(int64_t ms, char buf[32])
{
	int64_t whole = ms / 1000, frac = ms % 1000;
	int len;

	if (ms < 0) { /* not a time we produce; keep it exact anyway */
		whole = -(ms / 1000);
		frac = -(ms % 1000);
		len = snprintf(buf, 32, "-%" PRId64 ".%03" PRId64, whole, frac);
	} else {
		len = snprintf(buf, 32, "%" PRId64 ".%03" PRId64, whole, frac);
	}
	while (len > 0 && buf[len - 1] == '0')
		buf[--len] = '\0';
	if (len > 0 && buf[len - 1] == '.')
		buf[--len] = '\0';
}

/* Append value v with escaping esc; name is the variable for messages. */
static int append_value(struct aed_buf *out, const char *v, enum aed_tpl_escape esc,
			const char *name)
{
	static const char hex[] = "0123456789ABCDEF";
	int rc = AED_OK;

	switch (esc) {
	case AED_TPL_RAW:
		return aed_buf_append(out, v, strlen(v));
	case AED_TPL_URL:
		for (const unsigned char *p = (const unsigned char *)v; *p && !rc; p++) {
			if ((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') ||
			    (*p >= '0' && *p <= '9') || *p == '-' || *p == '.' || *p == '_' ||
			    *p == '~') {
				rc = aed_buf_append(out, p, 1);
			} else {
				char e[3] = { '%', hex[*p >> 4], hex[*p & 15] };

				rc = aed_buf_append(out, e, 3);
			}
		}
		return rc;
	case AED_TPL_SHELL:
		/* One word whatever the value holds: '...' with each ' as '\''. */
		rc = aed_buf_append(out, "'", 1);
		for (const char *p = v; *p && !rc; p++)
			rc = *p == '\'' ? aed_buf_append(out, "'\\''", 4) : aed_buf_append(out, p, 1);
		if (!rc)
			rc = aed_buf_append(out, "'", 1);
		return rc;
	case AED_TPL_GLOB:
		if (strchr(v, '/') || !strcmp(v, "..") || !strcmp(v, "."))
			return aed_error(AED_EFORMAT, "{%s} value '%s' cannot be part of a file name",
					 name, v);
		for (const char *p = v; *p && !rc; p++) {
			if (strchr("*?[]\\", *p))
				rc = aed_buf_append(out, "\\", 1);
			if (!rc)
				rc = aed_buf_append(out, p, 1);
		}
		return rc;
	}
	return aed_error(AED_EINTERNAL, "template: bad escape mode %d", (int)esc);
}

int aed_template_expand(const struct aed_template *t, const struct aed_tpl_values *v,
			enum aed_tpl_escape esc, struct aed_buf *out)
{
	char num[32];
	int rc = AED_OK;

	for (int i = 0; i < t->n && !rc; i++) {
		const struct aed_tpl_part *p = &t->parts[i];
		const char *val = NULL;

		switch (p->var) {
		case AED_TPL_LITERAL:
			rc = aed_buf_append(out, p->text, strlen(p->text));
			continue;
		case AED_TPL_YTID:
			val = v->ytid;
			break;
		case AED_TPL_KEY:
			val = v->key;
			break;
		case AED_TPL_OUT:
			val = v->out;
			if (!val)
				return aed_error(AED_ENOTFOUND, "{out} is only defined in --cmd templates");
			break;
		case AED_TPL_START_MS:
			snprintf(num, sizeof num, "%" PRId64, v->start_ms);
			val = num;
			break;
		case AED_TPL_START:
			aed_ms_to_seconds(v->start_ms, num);
			val = num;
			break;
		case AED_TPL_END_MS:
		case AED_TPL_END:
			if (v->end_ms < 0)
				return aed_error(AED_ENOTFOUND, "segment %s has no end time for {%s}",
						 v->key ? v->key : "?", var_names[p->var]);
			if (p->var == AED_TPL_END)
				aed_ms_to_seconds(v->end_ms, num);
			else
				snprintf(num, sizeof num, "%" PRId64, v->end_ms);
			val = num;
			break;
		default:
			return aed_error(AED_EINTERNAL, "template: bad variable %d", (int)p->var);
		}
		if (!val)
			val = "";
		rc = append_value(out, val, esc, var_names[p->var]);
	}
	return rc;
}
