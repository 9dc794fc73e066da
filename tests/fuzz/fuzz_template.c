/* fuzz_template.c - libFuzzer target for the fetch source templates. Input:
 * "TEMPLATE\nVALUE". The template is parsed and expanded in every escape mode
 * with VALUE as {ytid}; VALUE alone must survive each escaping exactly: the
 * shell word unquotes to it, the URL form decodes to it, the glob matches it. */
#include <fnmatch.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "aedcurate/error.h"
#include "aedcurate/template.h"
#include "aedcurate/util.h"

/* POSIX sh single-quote rules for what AED_TPL_SHELL produces: '...' runs
 * and \' between them. Returns a malloc'd string or NULL if not one word. */
static char *sh_unquote(const char *s)
{
	char *out = malloc(strlen(s) + 1), *q = out;

	if (!out)
		abort();
	while (*s) {
		if (*s == '\'') {
			const char *end = strchr(s + 1, '\'');

			if (!end) {
				free(out);
				return NULL;
			}
			memcpy(q, s + 1, (size_t)(end - s - 1));
			q += end - s - 1;
			s = end + 1;
		} else if (s[0] == '\\' && s[1] == '\'') {
			*q++ = '\'';
			s += 2;
		} else {
			free(out); /* anything unquoted could be interpreted */
			return NULL;
		}
	}
	*q = '\0';
	return out;
}

static int hexv(int c)
{
	return c >= '0' && c <= '9' ? c - '0' : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

static void check_value(const char *v)
{
	struct aed_template t;
	struct aed_tpl_values vals = { .ytid = v, .key = "k_0", .start_ms = 0, .end_ms = -1 };
	struct aed_buf b = { 0 };
	char *u;

	if (aed_template_parse("{ytid}", &t))
		abort();
	if (aed_template_expand(&t, &vals, AED_TPL_SHELL, &b))
		abort();
	u = sh_unquote(b.data ? b.data : "");
	if (!u || strcmp(u, v))
		abort();
	free(u);
	b.len = 0;
	if (aed_template_expand(&t, &vals, AED_TPL_URL, &b))
		abort();
	{
		size_t n = 0;
		char *dec = malloc(b.len + 1);

		for (size_t i = 0; i < b.len; i++) {
			char c = b.data[i];

			if (c == '%') {
				if (i + 2 >= b.len)
					abort();
				if (hexv(b.data[i + 1]) < 0 || hexv(b.data[i + 2]) < 0)
					abort();
				dec[n++] = (char)(hexv(b.data[i + 1]) * 16 + hexv(b.data[i + 2]));
				i += 2;
			} else if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
				   (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_' || c == '~') {
				dec[n++] = c;
			} else {
				abort();
			}
		}
		if (n != strlen(v) || memcmp(dec, v, n))
			abort();
		free(dec);
	}
	b.len = 0;
	if (aed_template_expand(&t, &vals, AED_TPL_GLOB, &b) == AED_OK) {
		if (strchr(v, '/'))
			abort();
		if (aed_buf_append(&b, "", 1) || fnmatch(b.data, v, 0) != 0)
			abort();
	} else if (!strchr(v, '/') && strcmp(v, ".") && strcmp(v, "..")) {
		abort();
	}
	aed_buf_release(&b);
	aed_template_release(&t);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *in = malloc(size + 1), *nl, *value;
	struct aed_template t;

	if (!in)
		return 0;
	memcpy(in, data, size);
	in[size] = '\0';
	nl = strchr(in, '\n');
	value = nl ? nl + 1 : (char *)"v";
	if (nl)
		*nl = '\0';
	if (aed_template_parse(in, &t) == AED_OK) {
		struct aed_tpl_values vals = { .ytid = value, .key = "key_1", .start_ms = 1500,
					       .end_ms = (size & 1) ? -1 : 11500, .out = "/o" };
		unsigned vars = 0;

		for (int i = 0; i < t.n; i++) {
			if (t.parts[i].var == AED_TPL_LITERAL) {
				if (!t.parts[i].text || !t.parts[i].text[0])
					abort();
			} else {
				if (t.parts[i].var < 0 || t.parts[i].var >= AED_TPL_NVARS)
					abort();
				vars |= 1u << t.parts[i].var;
			}
		}
		if (vars != t.vars)
			abort();
		for (int e = AED_TPL_RAW; e <= AED_TPL_GLOB; e++) {
			struct aed_buf b = { 0 };

			aed_template_expand(&t, &vals, (enum aed_tpl_escape)e, &b);
			aed_buf_release(&b);
		}
		/* a template without placeholders expands to itself */
		if (t.vars == 0) {
			struct aed_buf b = { 0 };
			size_t want = 0;

			for (int i = 0; i < t.n; i++)
				want += strlen(t.parts[i].text);
			if (aed_template_expand(&t, &vals, AED_TPL_RAW, &b) || b.len != want)
				abort();
			aed_buf_release(&b);
		}
		aed_template_release(&t);
	}
	check_value(value);
	free(in);
	return 0;
}
