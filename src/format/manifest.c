/* manifest.c - the reader of manifests: a CSV of users' own files with a
 * header row naming its columns (path, start, end, labels, id, group; the
 * others become meta), or a --columns map naming them. Each row becomes a
 * segment row with an absolute path (or URL), handed to the segments stage,
 * which checks it against the database and stores it; fetch then finds the
 * file at that path. Format: include/aedcurate/segments.h. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "aedcurate/csv.h"
#include "aedcurate/error.h"
#include "aedcurate/seglist.h"
#include "aedcurate/util.h"
#include "format/seglist_int.h"

enum role { R_PATH, R_START, R_END, R_LABELS, R_ID, R_GROUP, R_COUNT, R_META = -1 };
static const char *const role_names[R_COUNT] = { "path", "start", "end", "labels", "id", "group" };

_Static_assert(R_COUNT == AED_MANIFEST_ROLES, "one --columns name per role");

static int role_of(const char *s, size_t n)
{
	for (int i = 0; i < R_COUNT; i++)
		if (strlen(role_names[i]) == n && strncasecmp(role_names[i], s, n) == 0)
			return i;
	if (n == 4 && strncasecmp(s, "ytid", 4) == 0)
		return R_ID;
	return R_META;
}

static void json_str(struct aed_buf *b, const char *p, size_t n, int *rc)
{
	if (!*rc)
		*rc = aed_buf_json_str(b, p, n);
}

/* --- the column map ----------------------------------------------------------- */

/* Parse "role=column,..." into cols->name[role]. */
int aed_manifest_columns_parse(const char *map, struct aed_manifest_columns *cols)
{
	char **names = cols->name;
	const char *p = map;
	int rc = AED_OK;

	memset(cols, 0, sizeof *cols);
	while (p && *p) {
		const char *comma = strchr(p, ',');
		const char *end = comma ? comma : p + strlen(p);
		const char *eq = memchr(p, '=', (size_t)(end - p));
		int role;

		if (!eq || eq == p || eq + 1 == end) {
			rc = aed_error(AED_EUSAGE, "--columns: '%.*s' is not ROLE=COLUMN",
				       (int)(end - p), p);
			goto out;
		}
		role = role_of(p, (size_t)(eq - p));
		if (role == R_META) {
			rc = aed_error(AED_EUSAGE, "--columns: unknown role '%.*s' (roles: path, "
				       "start, end, labels, id, group)", (int)(eq - p), p);
			goto out;
		}
		if (names[role]) {
			rc = aed_error(AED_EUSAGE, "--columns: role '%s' given twice", role_names[role]);
			goto out;
		}
		names[role] = strndup(eq + 1, (size_t)(end - eq - 1));
		if (!names[role]) {
			rc = aed_error(AED_ENOMEM, "out of memory");
			goto out;
		}
		p = comma ? comma + 1 : end;
	}
out:
	return rc;
}

void aed_manifest_columns_release(struct aed_manifest_columns *cols)
{
	for (int k = 0; k < R_COUNT; k++)
		free(cols->name[k]);
	memset(cols, 0, sizeof *cols);
}

/* --- the header row ------------------------------------------------------------ */

struct manifest {
	struct aed_seglist_reader *rd;
	const char *base;           /* relative paths are joined to this */
	int cut;                    /* meta gets "cut": true */
	int col[R_COUNT];           /* the column of each role; -1: none */
	int *roles;                 /* the role of each column (R_META: meta) */
	size_t ncol;
	struct aed_csv_field *hdr;  /* header names, pointing into the input */
	struct aed_buf meta, pathbuf;
};

/* Header row: which column plays which role. */
static int read_header(struct manifest *m, struct aed_csv *t, char *const mapped[R_COUNT])
{
	const char *name = m->rd->name;
	int rc, got;
	char buf[80];

	rc = aed_csv_next(t, &got);
	if (rc == AED_EFORMAT)
		return aed_error(AED_EFORMAT, "%s:%zu: header row: %s", name, t->line, t->reason);
	if (rc)
		return rc;
	if (!got)
		return aed_error(AED_EFORMAT, "%s: empty manifest (no header row)", name);
	m->ncol = t->nf;
	m->roles = malloc(m->ncol * sizeof *m->roles);
	if (!m->roles)
		return aed_error(AED_ENOMEM, "out of memory");
	for (size_t i = 0; i < m->ncol; i++) {
		int r = R_META;

		for (int k = 0; k < R_COUNT; k++)
			if (mapped[k] && aed_csv_field_eq(&t->f[i], mapped[k], 0))
				r = k;
		if (r == R_META) {
			r = role_of(t->f[i].p, t->f[i].n);
			if (r != R_META && mapped[r])
				r = R_META; /* the map gave this role to another column */
		}
		if (t->f[i].n == 0)
			return aed_error(AED_EFORMAT, "%s:%zu: header column %zu has no name",
					 name, t->line, i + 1);
		for (size_t j = 0; j < i; j++)
			if (t->f[j].n == t->f[i].n && memcmp(t->f[j].p, t->f[i].p, t->f[i].n) == 0)
				return aed_error(AED_EFORMAT, "%s:%zu: column '%s' appears twice",
						 name, t->line, seglist_show(t->f[i].p, t->f[i].n, buf));
		if (r != R_META && m->col[r] >= 0)
			return aed_error(AED_EFORMAT, "%s:%zu: two columns for '%s' (columns %d and %zu)",
					 name, t->line, role_names[r], m->col[r] + 1, i + 1);
		m->roles[i] = r;
		if (r != R_META)
			m->col[r] = (int)i;
	}
	for (int k = 0; k < R_COUNT; k++)
		if (mapped[k] && m->col[k] < 0)
			return aed_error(AED_EFORMAT, "%s:%zu: no column '%s' (from --columns %s=%s)",
					 name, t->line, mapped[k], role_names[k], mapped[k]);
	if (m->col[R_PATH] < 0)
		return aed_error(AED_EFORMAT, "%s:%zu: the header has no 'path' column; name the "
				 "file column with --columns path=NAME", name, t->line);
	m->hdr = malloc(m->ncol * sizeof *m->hdr);
	if (!m->hdr)
		return aed_error(AED_ENOMEM, "out of memory");
	memcpy(m->hdr, t->f, m->ncol * sizeof *m->hdr);
	return AED_OK;
}

/* --- the parts of a row ---------------------------------------------------------- */

/* start and end: optional seconds. *bad is set after a report. */
static int row_times(struct manifest *m, const struct aed_csv *t, struct aed_seg_row *s,
		     int *bad)
{
	const struct aed_csv_field *f;
	const char *why;
	char buf[80];

	*bad = 1;
	s->start_ms = 0;
	s->end_ms = -1;
	if (m->col[R_START] >= 0 && t->f[m->col[R_START]].n) {
		f = &t->f[m->col[R_START]];
		if ((why = aed_parse_ms(f->p, f->n, &s->start_ms)))
			return seglist_bad(m->rd, t->line, AED_BAD_TIME, "start: %s '%s'", why,
					   seglist_show(f->p, f->n, buf));
	}
	if (m->col[R_END] >= 0 && t->f[m->col[R_END]].n) {
		f = &t->f[m->col[R_END]];
		if ((why = aed_parse_ms(f->p, f->n, &s->end_ms)))
			return seglist_bad(m->rd, t->line, AED_BAD_TIME, "end: %s '%s'", why,
					   seglist_show(f->p, f->n, buf));
		if (s->end_ms <= s->start_ms)
			return seglist_bad(m->rd, t->line, AED_BAD_RANGE,
					   "end %lld ms is not after start %lld ms",
					   (long long)s->end_ms, (long long)s->start_ms);
	}
	*bad = 0;
	return AED_OK;
}

/* path: absolute, URL, or relative to the manifest. s->path stays NULL when
 * the arena is out of memory (the row reports it last). */
static int row_path(struct manifest *m, const struct aed_csv *t, struct aed_seg_row *s)
{
	const struct aed_csv_field *f = &t->f[m->col[R_PATH]];
	struct aed_buf *pathbuf = &m->pathbuf;
	int mrc;

	pathbuf->len = 0;
	if (f->p[0] != '/' && !(f->n > 3 && memmem(f->p, f->n, "://", 3))) {
		const char *p = f->p;
		size_t pn = f->n;

		while (pn > 2 && p[0] == '.' && p[1] == '/')
			p += 2, pn -= 2;
		mrc = aed_buf_append(pathbuf, m->base, strlen(m->base));
		if (!mrc)
			mrc = aed_buf_append(pathbuf, p, pn);
	} else {
		mrc = aed_buf_append(pathbuf, f->p, f->n);
	}
	if (mrc)
		return mrc;
	s->path = aed_arena_strndup(m->rd->arena, pathbuf->data, pathbuf->len);
	return AED_OK;
}

/* id: column, else the file name without extension. */
static void row_id(const struct manifest *m, const struct aed_csv *t, const char **id,
		   size_t *idn)
{
	const struct aed_csv_field *f = &t->f[m->col[R_PATH]];
	const char *slash = memrchr(f->p, '/', f->n);
	const char *stem = slash ? slash + 1 : f->p;
	const char *dot = memrchr(stem, '.', (size_t)(f->p + f->n - stem));

	*id = stem;
	*idn = (size_t)((dot && dot > stem ? dot : f->p + f->n) - stem);
	if (m->col[R_ID] >= 0 && t->f[m->col[R_ID]].n) {
		*id = t->f[m->col[R_ID]].p;
		*idn = t->f[m->col[R_ID]].n;
	}
}

/* labels: mids or display names, split at ';' when the field has one, else
 * at ','. *bad is set after a report. */
static int row_labels(struct manifest *m, const struct aed_csv *t, struct aed_seg_row *s,
		      int *bad)
{
	struct aed_seglist_reader *rd = m->rd;
	const struct aed_csv_field *f;
	char sep;

	*bad = 0;
	if (m->col[R_LABELS] < 0) {
		s->lab_off = rd->labels->n;
		return AED_OK;
	}
	f = &t->f[m->col[R_LABELS]];
	sep = memchr(f->p, ';', f->n) ? ';' : ',';
	if (sep == ',' && memchr(f->p, ',', f->n)) {
		/* One display name with a comma ("Gunshot, gunfire")
		 * is one label, not two. */
		const char *p = f->p, *e = f->p + f->n;

		while (p < e && *p == ' ')
			p++;
		while (e > p && e[-1] == ' ')
			e--;
		if (rd->resolve(rd->ctx, p, (size_t)(e - p)) > 0)
			sep = '\n'; /* never inside a field: the whole field */
	}
	return seglist_labels(rd, t->line, f->p, f->n, sep, &s->lab_off, &s->lab_n, bad);
}

/* meta: the other non-empty columns, plus "cut". s->meta stays NULL when the
 * arena is out of memory (the row reports it last). */
static int row_meta(struct manifest *m, const struct aed_csv *t, struct aed_seg_row *s)
{
	struct aed_buf *meta = &m->meta;
	int mrc = 0;

	meta->len = 0;
	for (size_t i = 0; i < m->ncol; i++) {
		if (m->roles[i] != R_META || t->f[i].n == 0)
			continue;
		mrc = aed_buf_append(meta, meta->len ? "," : "{", 1);
		json_str(meta, m->hdr[i].p, m->hdr[i].n, &mrc);
		if (!mrc)
			mrc = aed_buf_append(meta, ":", 1);
		json_str(meta, t->f[i].p, t->f[i].n, &mrc);
	}
	if (!mrc && m->cut)
		mrc = aed_buf_printf(meta, "%s\"cut\":true", meta->len ? "," : "{");
	if (!mrc && meta->len)
		mrc = aed_buf_append(meta, "}", 1);
	if (mrc)
		return mrc;
	if (meta->len)
		s->meta = aed_arena_strndup(m->rd->arena, meta->data, meta->len);
	return AED_OK;
}

/* --- rows ---------------------------------------------------------------------- */

/* One data row, checked in the order of its parts, then handed to the
 * caller. A bad row is reported and AED_OK returned. */
static int read_row(struct manifest *m, const struct aed_csv *t)
{
	struct aed_seglist_reader *rd = m->rd;
	struct aed_seg_row s = { 0 };
	const struct aed_csv_field *f, *group = NULL;
	const char *id;
	size_t idn;
	int bad, rc;
	char buf[80];

	(*rd->rows)++;
	if (t->nf != m->ncol)
		return seglist_bad(rd, t->line, AED_BAD_FIELDS,
				   "expected %zu fields as in the header, got %zu", m->ncol, t->nf);
	f = &t->f[m->col[R_PATH]];
	if (!seglist_text_ok(f->p, f->n, 4096))
		return seglist_bad(rd, t->line, AED_BAD_ID, "bad path '%s'",
				   seglist_show(f->p, f->n, buf));
	if ((rc = row_times(m, t, &s, &bad)) || bad)
		return rc;
	if ((rc = row_path(m, t, &s)))
		return rc;
	row_id(m, t, &id, &idn);
	if (!seglist_text_ok(id, idn, 255))
		return seglist_bad(rd, t->line, AED_BAD_ID, "bad segment id '%s'",
				   seglist_show(id, idn, buf));
	if ((rc = row_labels(m, t, &s, &bad)) || bad)
		return rc;
	s.key = seglist_make_key(rd, id, idn, s.start_ms);
	s.key_n = s.key ? (uint32_t)strlen(s.key) : 0;
	s.ytid_n = (uint32_t)idn;
	if (m->col[R_GROUP] >= 0 && t->f[m->col[R_GROUP]].n) {
		group = &t->f[m->col[R_GROUP]];
		if (!seglist_text_ok(group->p, group->n, 255)) {
			rd->labels->n = s.lab_off;
			return seglist_bad(rd, t->line, AED_BAD_ID, "bad group '%s'",
					   seglist_show(group->p, group->n, buf));
		}
		s.group = aed_arena_strndup(rd->arena, group->p, group->n);
	}
	if ((rc = row_meta(m, t, &s)))
		return rc;
	if (!s.key || !s.path || (m->meta.len && !s.meta) || (group && !s.group))
		return aed_error(AED_ENOMEM, "out of memory");
	return rd->row(rd->ctx, t->line, &s);
}

int aed_manifest_read(struct aed_seglist_reader *rd, const struct aed_manifest_columns *cols,
		      const char *base, int cut, const char *data, size_t n)
{
	struct manifest m = { .rd = rd, .base = base, .cut = cut };
	struct aed_csv t;
	int rc, got;

	for (int i = 0; i < R_COUNT; i++)
		m.col[i] = -1;
	aed_csv_init(&t, data, n, ',', AED_CSV_TRIM);
	rc = read_header(&m, &t, cols->name);
	while (!rc) {
		rc = aed_csv_next(&t, &got);
		if (rc) {
			if ((rc = seglist_syntax_error(rd, &t, rc)))
				break;
			continue;
		}
		if (!got)
			break;
		rc = read_row(&m, &t);
	}
	free(m.hdr);
	free(m.roles);
	aed_buf_release(&m.meta);
	aed_buf_release(&m.pathbuf);
	aed_csv_release(&t);
	return rc;
}
