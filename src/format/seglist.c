/* seglist.c - reading segment lists, the first step of a clip's path: the
 * AudioSet segment CSV reader, the detection of a list's format, and what
 * the three readers share (bad-row reports, ids, keys, label lists). The
 * strong-label TSV is strong.c, manifests manifest.c; the segments stage
 * (src/stage/segments/) checks the rows against the database and stores
 * them. Formats: include/aedcurate/segments.h. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "aedcurate/csv.h"
#include "aedcurate/error.h"
#include "aedcurate/seglist.h"
#include "format/seglist_int.h"

/* --- what the readers share -------------------------------------------------- */

int seglist_bad(struct aed_seglist_reader *rd, size_t line, enum aed_bad_reason why,
		const char *fmt, ...)
{
	char reason[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(reason, sizeof reason, fmt, ap);
	va_end(ap);
	return rd->bad(rd->ctx, line, why, reason);
}

int seglist_syntax_error(struct aed_seglist_reader *rd, struct aed_csv *t, int rc)
{
	if (rc != AED_EFORMAT)
		return rc;
	(*rd->rows)++;
	return seglist_bad(rd, t->line, AED_BAD_SYNTAX, "%s", t->reason);
}

const char *seglist_show(const char *p, size_t n, char buf[80])
{
	size_t k = 0;

	for (size_t i = 0; i < n && k < 60; i++) {
		unsigned char ch = (unsigned char)p[i];

		buf[k++] = ch < 0x20 || ch == 0x7f ? '?' : (char)ch;
	}
	if (n > 60) {
		memcpy(buf + k, "...", 3);
		k += 3;
	}
	buf[k] = 0;
	return buf;
}

int seglist_ytid_ok(const char *p, size_t n)
{
	if (n == 0 || n > 64)
		return 0;
	for (size_t i = 0; i < n; i++) {
		char ch = p[i];

		if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
		      (ch >= '0' && ch <= '9') || ch == '_' || ch == '-'))
			return 0;
	}
	return 1;
}

int seglist_text_ok(const char *p, size_t n, size_t max)
{
	if (n == 0 || n > max)
		return 0;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)p[i] < 0x20 || p[i] == 0x7f)
			return 0;
	return 1;
}

char *seglist_make_key(struct aed_seglist_reader *rd, const char *ytid, size_t n,
		       int64_t start_ms)
{
	char num[24], *d = num + sizeof num;
	uint64_t v = start_ms < 0 ? 0 - (uint64_t)start_ms : (uint64_t)start_ms;
	size_t k;
	char *key;

	*--d = 0;
	do
		*--d = (char)('0' + v % 10);
	while ((v /= 10));
	if (start_ms < 0)
		*--d = '-';
	*--d = '_';
	k = (size_t)(num + sizeof num - d) - 1;
	key = aed_arena_alloc(rd->arena, n + k + 1);

	if (key) {
		memcpy(key, ytid, n);
		memcpy(key + n, d, k + 1);
	}
	return key;
}

int seglist_labels(struct aed_seglist_reader *rd, size_t line, const char *p, size_t n,
		   char sep, size_t *off, size_t *cnt, int *bad)
{
	size_t start = rd->labels->n;
	const char *e = p + n;
	char buf[80];

	*bad = 0;
	*off = start;
	*cnt = 0;
	while (p < e) {
		const char *q = memchr(p, sep, (size_t)(e - p));
		const char *te = q ? q : e;
		int64_t id, *slot;

		while (p < te && (*p == ' ' || *p == '\t'))
			p++;
		while (te > p && (te[-1] == ' ' || te[-1] == '\t'))
			te--;
		if (te > p) {
			id = rd->resolve(rd->ctx, p, (size_t)(te - p));
			if (id <= 0) {
				rd->labels->n = start;
				*bad = 1;
				return seglist_bad(rd, line, AED_BAD_CLASS,
						   id < 0 ? "ambiguous class name '%s' (use its mid)"
							  : "unknown class '%s'",
						   seglist_show(p, (size_t)(te - p), buf));
			}
			for (size_t i = start; i < rd->labels->n; i++) {
				if (((int64_t *)rd->labels->v)[i] == id) {
					rd->labels->n = start;
					*bad = 1;
					return seglist_bad(rd, line, AED_BAD_DUPLICATE,
							   "class '%s' listed twice",
							   seglist_show(p, (size_t)(te - p), buf));
				}
			}
			slot = aed_vec_push(rd->labels);
			if (!slot)
				return aed_error(AED_ENOMEM, "out of memory (labels)");
			*slot = id;
		}
		p = q ? q + 1 : e;
	}
	*cnt = rd->labels->n - start;
	return AED_OK;
}

/* --- format names and detection ---------------------------------------------- */

const char *aed_seg_format_name(enum aed_seg_format f)
{
	switch (f) {
	case AED_SEG_CSV: return "csv";
	case AED_SEG_STRONG: return "strong";
	case AED_SEG_MANIFEST: return "manifest";
	default: return "auto";
	}
}

int aed_seg_format_parse(const char *s, enum aed_seg_format *out)
{
	static const enum aed_seg_format all[] = { AED_SEG_AUTO, AED_SEG_CSV, AED_SEG_STRONG,
						   AED_SEG_MANIFEST };

	for (size_t i = 0; i < sizeof all / sizeof *all; i++)
		if (strcmp(s, aed_seg_format_name(all[i])) == 0) {
			*out = all[i];
			return AED_OK;
		}
	return aed_error(AED_EUSAGE, "--format: '%s' is not one of auto, csv, strong, manifest", s);
}

const char *aed_bad_reason_name(enum aed_bad_reason r)
{
	static const char *const names[AED_BAD_COUNT] = {
		"syntax", "fields", "time", "range", "id", "class", "duplicate", "conflict"
	};
	return (unsigned)r < AED_BAD_COUNT ? names[r] : "?";
}

int aed_seglist_detect(const char *name, const char *data, size_t n, enum aed_seg_format *f)
{
	const char *p = data, *e = data + n, *nl;
	char buf[80];

	if (n >= 3 && memcmp(p, "\xEF\xBB\xBF", 3) == 0)
		p += 3;
	while (p < e && (*p == '\n' || *p == '\r' || *p == ' ' || *p == '\t'))
		p++;
	nl = memchr(p, '\n', (size_t)(e - p));
	if (!nl)
		nl = e;
	if (p == e) {
		return aed_error(AED_EFORMAT, "%s: empty file", name);
	}
	if (*p == '#' || (nl - p >= 5 && strncasecmp(p, "YTID,", 5) == 0)) {
		*f = AED_SEG_CSV;
		return AED_OK;
	}
	if (nl - p >= 11 && strncasecmp(p, "segment_id\t", 11) == 0) {
		*f = AED_SEG_STRONG;
		return AED_OK;
	}
	{
		/* A manifest header names a path column. */
		struct aed_csv t;
		int got, rc;

		aed_csv_init(&t, p, (size_t)(nl - p), ',', AED_CSV_TRIM);
		rc = aed_csv_next(&t, &got);
		if (!rc && got) {
			for (size_t i = 0; i < t.nf; i++)
				if (aed_csv_field_eq(&t.f[i], "path", 1)) {
					*f = AED_SEG_MANIFEST;
					aed_csv_release(&t);
					return AED_OK;
				}
			/* An AudioSet row without the comment lines. */
			if (t.nf == 4 && seglist_ytid_ok(t.f[0].p, t.f[0].n)) {
				int64_t ms;

				if (!aed_parse_ms(t.f[1].p, t.f[1].n, &ms)) {
					*f = AED_SEG_CSV;
					aed_csv_release(&t);
					return AED_OK;
				}
			}
		}
		aed_csv_release(&t);
	}
	return aed_error(AED_EFORMAT, "%s: cannot tell the format from the first line '%s'; "
			 "use --format csv|strong|manifest (a manifest needs a 'path' column, "
			 "or --columns path=NAME)", name, seglist_show(p, (size_t)(nl - p), buf));
}

/* --- AudioSet segment CSV --------------------------------------------------- */

/* One data row, checked field by field, then handed to the caller. A bad
 * row is reported and AED_OK returned. */
static int read_row(struct aed_seglist_reader *rd, const struct aed_csv *t)
{
	struct aed_seg_row s = { 0 };
	const char *why;
	int64_t start, end;
	int bad, rc;
	char buf[80];

	(*rd->rows)++;
	if (t->nf != 4)
		return seglist_bad(rd, t->line, AED_BAD_FIELDS,
				   "expected 4 fields (YTID, start, end, \"labels\"), got %zu", t->nf);
	if (!seglist_ytid_ok(t->f[0].p, t->f[0].n))
		return seglist_bad(rd, t->line, AED_BAD_ID, "bad YTID '%s'",
				   seglist_show(t->f[0].p, t->f[0].n, buf));
	if ((why = aed_parse_ms(t->f[1].p, t->f[1].n, &start)))
		return seglist_bad(rd, t->line, AED_BAD_TIME, "start: %s '%s'", why,
				   seglist_show(t->f[1].p, t->f[1].n, buf));
	if ((why = aed_parse_ms(t->f[2].p, t->f[2].n, &end)))
		return seglist_bad(rd, t->line, AED_BAD_TIME, "end: %s '%s'", why,
				   seglist_show(t->f[2].p, t->f[2].n, buf));
	if (end <= start)
		return seglist_bad(rd, t->line, AED_BAD_RANGE, "end %.*s is not after start %.*s",
				   (int)t->f[2].n, t->f[2].p, (int)t->f[1].n, t->f[1].p);
	rc = seglist_labels(rd, t->line, t->f[3].p, t->f[3].n, ',', &s.lab_off, &s.lab_n, &bad);
	if (rc || bad)
		return rc;
	if (s.lab_n == 0)
		return seglist_bad(rd, t->line, AED_BAD_CLASS, "no labels");
	s.key = seglist_make_key(rd, t->f[0].p, t->f[0].n, start);
	if (!s.key)
		return aed_error(AED_ENOMEM, "out of memory");
	s.key_n = (uint32_t)strlen(s.key);
	s.ytid_n = (uint32_t)t->f[0].n;
	s.start_ms = start;
	s.end_ms = end;
	return rd->row(rd->ctx, t->line, &s);
}

int aed_seglist_read_csv(struct aed_seglist_reader *rd, const char *data, size_t n)
{
	struct aed_csv t;
	int rc = AED_OK, got, first = 1;

	aed_csv_init(&t, data, n, ',', AED_CSV_TRIM | AED_CSV_COMMENTS);
	for (;;) {
		rc = aed_csv_next(&t, &got);
		if (rc) {
			if ((rc = seglist_syntax_error(rd, &t, rc)))
				break;
			continue;
		}
		if (!got)
			break;
		if (rd->progress)
			rd->progress(rd->ctx, aed_csv_offset(&t));
		if (first && t.nf >= 2 && aed_csv_field_eq(&t.f[0], "YTID", 1) &&
		    aed_csv_field_eq(&t.f[1], "start_seconds", 1)) {
			first = 0;
			continue; /* eval_segments.csv's uncommented header */
		}
		first = 0;
		if ((rc = read_row(rd, &t)))
			break;
	}
	aed_csv_release(&t);
	return rc;
}
