/* csv.c - line-oriented CSV/TSV tokenizer over an in-memory buffer and strict
 * decimal-seconds parsers. See csv.h for the accepted dialect. */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "aedcurate/csv.h"
#include "aedcurate/error.h"

void aed_csv_init(struct aed_csv *c, const char *data, size_t n, char sep, int flags)
{
	memset(c, 0, sizeof *c);
	c->data = c->cur = data;
	c->end = data + n;
	c->sep = sep;
	c->flags = flags;
	c->next_line = 1;
	if (n >= 3 && (unsigned char)data[0] == 0xEF && (unsigned char)data[1] == 0xBB &&
	    (unsigned char)data[2] == 0xBF)
		c->cur += 3;
}

void aed_csv_release(struct aed_csv *c)
{
	free(c->scratch);
	c->scratch = NULL;
	c->scratch_cap = 0;
}

static int is_blank(char ch, char sep)
{
	return ch == ' ' || (ch == '\t' && sep != '\t');
}

/* Tokenize one line [p, e) into c->f. Returns NULL or a static reason. */
static const char *split_line(struct aed_csv *c, const char *p, const char *e)
{
	int trim = c->flags & AED_CSV_TRIM;
	char *w = c->scratch; /* next free byte of scratch */

	c->nf = 0;
	for (;;) {
		struct aed_csv_field fld;

		if (c->nf == AED_CSV_MAX_FIELDS)
			return "too many fields";
		if (trim)
			while (p < e && is_blank(*p, c->sep))
				p++;
		if (p < e && *p == '"') {
			const char *q = ++p;
			int escaped = 0;

			for (;;) {
				q = memchr(q, '"', (size_t)(e - q));
				if (!q)
					return "quote left open";
				if (q + 1 < e && q[1] == '"') {
					escaped = 1;
					q += 2;
					continue;
				}
				break;
			}
			if (escaped) {
				fld.p = w;
				for (const char *s = p; s < q; s++) {
					*w++ = *s;
					if (*s == '"')
						s++;
				}
				fld.n = (size_t)(w - fld.p);
			} else {
				fld.p = p;
				fld.n = (size_t)(q - p);
			}
			p = q + 1;
			if (trim)
				while (p < e && is_blank(*p, c->sep))
					p++;
			if (p < e && *p != c->sep)
				return "text after closing quote";
		} else {
			const char *q = memchr(p, c->sep, (size_t)(e - p));
			const char *fe = q ? q : e;

			if (memchr(p, '"', (size_t)(fe - p)))
				return "quote inside unquoted field";
			fld.p = p;
			fld.n = (size_t)(fe - p);
			if (trim)
				while (fld.n && is_blank(fld.p[fld.n - 1], c->sep))
					fld.n--;
			p = fe;
		}
		c->f[c->nf++] = fld;
		if (p < e && *p == c->sep) {
			p++;
			continue;
		}
		return NULL;
	}
}

int aed_csv_next(struct aed_csv *c, int *got)
{
	*got = 0;
	c->reason = NULL;
	c->nf = 0;
	while (c->cur < c->end) {
		const char *p = c->cur;
		const char *nl = memchr(p, '\n', (size_t)(c->end - p));
		const char *e = nl ? nl : c->end;
		size_t len;

		c->line = c->next_line++;
		c->cur = nl ? nl + 1 : c->end;
		if (e > p && e[-1] == '\r')
			e--;
		len = (size_t)(e - p);
		if (len > AED_CSV_MAX_LINE) {
			c->reason = "line longer than 1 MiB";
			return AED_EFORMAT;
		}
		if (memchr(p, '\0', len)) {
			c->reason = "NUL byte in line";
			return AED_EFORMAT;
		}
		if ((c->flags & AED_CSV_COMMENTS) && len && *p == '#')
			continue;
		{
			const char *s = p;

			while (s < e && (*s == ' ' || *s == '\t'))
				s++;
			if (s == e)
				continue; /* blank line */
		}
		/* Unescaped fields never exceed the line, so one line of scratch
		 * is enough for all fields of the record together. */
		if (memchr(p, '"', len) && c->scratch_cap < len + 1) {
			size_t cap = c->scratch_cap ? c->scratch_cap : 256;
			char *ns;

			while (cap < len + 1)
				cap *= 2;
			ns = realloc(c->scratch, cap);
			if (!ns)
				return aed_error(AED_ENOMEM, "line %zu: out of memory", c->line);
			c->scratch = ns;
			c->scratch_cap = cap;
		}
		c->reason = split_line(c, p, e);
		if (c->reason) {
			c->nf = 0;
			return AED_EFORMAT;
		}
		*got = 1;
		return AED_OK;
	}
	return AED_OK;
}

int aed_csv_field_eq(const struct aed_csv_field *f, const char *s, int ci)
{
	size_t n = strlen(s);

	if (f->n != n)
		return 0;
	return ci ? strncasecmp(f->p, s, n) == 0 : memcmp(f->p, s, n) == 0;
}

/* Validate the seconds grammar; on success (ip, il) and (fp, fl) are the
 * integer and fraction digit runs. */
static const char *check_seconds(const char *p, size_t n, const char **ip, size_t *il,
				 const char **fp, size_t *fl)
{
	size_t i = 0;

	if (n == 0)
		return "empty time";
	if (p[0] == '-')
		return n > 1 && ((p[1] >= '0' && p[1] <= '9') || p[1] == '.') ? "negative time"
									       : "not a number";
	*ip = p;
	while (i < n && p[i] >= '0' && p[i] <= '9')
		i++;
	*il = i;
	*fp = p + i;
	*fl = 0;
	if (i < n && p[i] == '.') {
		size_t j = ++i;

		while (i < n && p[i] >= '0' && p[i] <= '9')
			i++;
		*fp = p + j;
		*fl = i - j;
	}
	if (i != n || (*il == 0 && *fl == 0))
		return "not a number";
	{
		/* Leading zeros do not count toward the size limit. */
		const char *d = *ip;
		size_t k = *il;

		while (k > 1 && *d == '0')
			d++, k--;
		if (k > 10 || (k == 10 && memcmp(d, "1000000000", 10) > 0))
			return "time too large";
	}
	return NULL;
}

const char *aed_parse_ms(const char *p, size_t n, int64_t *ms)
{
	const char *ip, *fp, *why;
	size_t il, fl;
	int64_t v = 0;

	why = check_seconds(p, n, &ip, &il, &fp, &fl);
	if (why)
		return why;
	for (size_t i = 0; i < il; i++)
		v = v * 10 + (ip[i] - '0');
	for (size_t i = 0; i < 3; i++)
		v = v * 10 + (i < fl ? fp[i] - '0' : 0);
	if (fl > 3 && fp[3] >= '5')
		v++;
	*ms = v;
	return NULL;
}

const char *aed_parse_seconds(const char *p, size_t n, double *s)
{
	const char *ip, *fp, *why;
	size_t il, fl;
	char buf[64];

	why = check_seconds(p, n, &ip, &il, &fp, &fl);
	if (why)
		return why;
	if (n >= sizeof buf) {
		/* Long fractions add nothing a double can hold: cut them. */
		n = sizeof buf - 1;
	}
	memcpy(buf, p, n);
	buf[n] = 0;
	*s = strtod(buf, NULL);
	return NULL;
}
