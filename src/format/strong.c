/* strong.c - the reader of the AudioSet strong-label TSV (segment_id, start,
 * end, label per line): each line becomes a label with times inside a 10 s
 * segment, handed to the segments stage, which finds or creates the segment.
 * Identical lines are bad rows. Format: include/aedcurate/segments.h. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "aedcurate/csv.h"
#include "aedcurate/error.h"
#include "aedcurate/seglist.h"
#include "format/seglist_int.h"

#define STRONG_CLIP_MS 10000               /* strong-label segments are 10 s */

/* Identical rows are bad; the key is "segment_id\tclass\tstart\tend" with
 * the times as parsed. *first_line is the line the row was first seen on. */
static int seen_before(struct aed_seglist_reader *rd, struct aed_keymap *seen,
		       const struct aed_csv *t, int64_t id, double a, double b,
		       int64_t *first_line)
{
	struct aed_keymap_ent *e;
	char tail[80], *rk;
	int k = snprintf(tail, sizeof tail, "\t%lld\t%.17g\t%.17g", (long long)id, a, b);
	int rc;

	rk = aed_arena_alloc(rd->arena, t->f[0].n + (size_t)k + 1);
	if (!rk)
		return aed_error(AED_ENOMEM, "out of memory");
	memcpy(rk, t->f[0].p, t->f[0].n);
	memcpy(rk + t->f[0].n, tail, (size_t)k + 1);
	rc = aed_keymap_get(seen, rk, strlen(rk), 0, 1, (int64_t)t->line, &e);
	if (!rc)
		*first_line = e->v;
	return rc;
}

/* One data row, checked field by field, then handed to the caller. A bad
 * row is reported and AED_OK returned. */
static int read_row(struct aed_seglist_reader *rd, const struct aed_csv *t,
		    struct aed_keymap *seen)
{
	struct aed_strong_row s = { 0 };
	const char *why, *us = NULL;
	double a, b;
	int64_t start, id, first_line = 0;
	size_t yl;
	int rc;
	char buf[80];

	(*rd->rows)++;
	if (t->nf != 4)
		return seglist_bad(rd, t->line, AED_BAD_FIELDS,
				   "expected 4 tab-separated fields (segment_id, start, end, "
				   "label), got %zu", t->nf);
	for (size_t i = t->f[0].n; i > 0; i--)
		if (t->f[0].p[i - 1] == '_') {
			us = t->f[0].p + i - 1;
			break;
		}
	yl = us ? (size_t)(us - t->f[0].p) : 0;
	if (!us || !seglist_ytid_ok(t->f[0].p, yl) ||
	    aed_parse_ms(us + 1, t->f[0].n - yl - 1, &start) ||
	    memchr(us + 1, '.', t->f[0].n - yl - 1))
		return seglist_bad(rd, t->line, AED_BAD_ID, "bad segment_id '%s' (want YTID_STARTMS)",
				   seglist_show(t->f[0].p, t->f[0].n, buf));
	start /= 1000; /* the suffix is already milliseconds */
	if ((why = aed_parse_seconds(t->f[1].p, t->f[1].n, &a)))
		return seglist_bad(rd, t->line, AED_BAD_TIME, "start: %s '%s'", why,
				   seglist_show(t->f[1].p, t->f[1].n, buf));
	if ((why = aed_parse_seconds(t->f[2].p, t->f[2].n, &b)))
		return seglist_bad(rd, t->line, AED_BAD_TIME, "end: %s '%s'", why,
				   seglist_show(t->f[2].p, t->f[2].n, buf));
	if (b <= a)
		return seglist_bad(rd, t->line, AED_BAD_RANGE, "end %.*s is not after start %.*s",
				   (int)t->f[2].n, t->f[2].p, (int)t->f[1].n, t->f[1].p);
	id = rd->resolve(rd->ctx, t->f[3].p, t->f[3].n);
	if (id <= 0)
		return seglist_bad(rd, t->line, AED_BAD_CLASS, "unknown class '%s'",
				   seglist_show(t->f[3].p, t->f[3].n, buf));
	if ((rc = seen_before(rd, seen, t, id, a, b, &first_line)))
		return rc;
	if (first_line != (int64_t)t->line)
		return seglist_bad(rd, t->line, AED_BAD_DUPLICATE, "same row as line %lld",
				   (long long)first_line);
	s.seg.key = aed_arena_strndup(rd->arena, t->f[0].p, t->f[0].n);
	s.seg.key_n = (uint32_t)t->f[0].n;
	if (!s.seg.key)
		return aed_error(AED_ENOMEM, "out of memory");
	s.seg.ytid_n = (uint32_t)yl;
	s.seg.start_ms = start;
	s.seg.end_ms = start + STRONG_CLIP_MS;
	s.class_id = id;
	s.start_s = a;
	s.end_s = b;
	return rd->strong(rd->ctx, t->line, &s);
}

int aed_seglist_read_strong(struct aed_seglist_reader *rd, const char *data, size_t n)
{
	struct aed_csv t;
	struct aed_keymap seen = { 0 }; /* rows so far, to find identical ones */
	int rc = AED_OK, got, first = 1;

	aed_csv_init(&t, data, n, '\t', AED_CSV_TRIM | AED_CSV_COMMENTS);
	for (;;) {
		rc = aed_csv_next(&t, &got);
		if (rc) {
			if ((rc = seglist_syntax_error(rd, &t, rc)))
				break;
			continue;
		}
		if (!got)
			break;
		if (first && t.nf >= 1 && aed_csv_field_eq(&t.f[0], "segment_id", 1)) {
			first = 0;
			continue;
		}
		first = 0;
		if ((rc = read_row(rd, &t, &seen)))
			break;
	}
	aed_keymap_release(&seen);
	aed_csv_release(&t);
	return rc;
}
