/* ingest.c - the segment-list ingest stage, where a clip's path starts: a
 * segment list (AudioSet CSV, strong-label TSV, manifest) becomes segment,
 * split and label rows. Reads the whole source (mmap for local files), hands
 * it to a reader (seglist.h) that turns lines into rows, checks every row in
 * memory against the class table and the stored segments, then writes
 * everything in one transaction (write.c). Formats and the rules for bad
 * rows are documented in include/aedcurate/segments.h. */
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <sqlite3.h>

#include "aedcurate/error.h"
#include "aedcurate/message.h"
#include "stage/segments/internal.h"

#define PROGRESS_MIN_BYTES (8u << 20)      /* no meter for small inputs */

/* Record a bad row (the reader's or this file's checks). In strict mode, set
 * the error and return it, which stops the reader and the ingest. */
static int bad_row(struct ctx *c, size_t line, enum aed_bad_reason why, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static int bad_row(struct ctx *c, size_t line, enum aed_bad_reason why, const char *fmt, ...)
{
	struct aed_segments_result *r = c->r;
	char reason[512], *msg;
	va_list ap;
	int n;

	va_start(ap, fmt);
	vsnprintf(reason, sizeof reason, fmt, ap);
	va_end(ap);
	r->bad++;
	r->bad_by[why]++;
	if (c->o->strict)
		return aed_error(AED_EFORMAT, "%s:%zu: %s (--strict: nothing was written)",
				 c->name, line, reason);
	if (r->n_messages < c->max_errors) {
		char **nm = realloc(r->messages, (r->n_messages + 1) * sizeof *nm);

		if (!nm)
			return aed_error(AED_ENOMEM, "out of memory");
		r->messages = nm;
		n = snprintf(NULL, 0, "%s:%zu: %s", c->name, line, reason);
		msg = malloc((size_t)n + 1);
		if (!msg)
			return aed_error(AED_ENOMEM, "out of memory");
		snprintf(msg, (size_t)n + 1, "%s:%zu: %s", c->name, line, reason);
		r->messages[r->n_messages++] = msg;
	}
	return AED_OK;
}

static void progress_to(void *ctx, size_t offset)
{
	struct ctx *c = ctx;

	if (c->prog && offset - c->prog_done >= (1u << 20)) {
		aed_progress_add(c->prog, (int64_t)(offset - c->prog_done));
		c->prog_done = offset;
	}
}

/* --- loading what the db knows ---------------------------------------------- */

static int load_classes(struct ctx *c, int with_names)
{
	sqlite3_stmt *st = NULL;
	int rc, s;
	struct aed_keymap_ent *e;

	rc = aed_db_prepare(c->db, "SELECT mid, id, name FROM class", &st);
	if (rc)
		goto out;
	while ((s = sqlite3_step(st)) == SQLITE_ROW) {
		const char *mid = (const char *)sqlite3_column_text(st, 0);
		const char *name = (const char *)sqlite3_column_text(st, 2);
		int64_t id = sqlite3_column_int64(st, 1);
		char *k;

		if (!mid || !(k = aed_arena_strndup(&c->arena, mid, strlen(mid)))) {
			rc = aed_error(AED_ENOMEM, "out of memory loading classes");
			goto out;
		}
		rc = aed_keymap_get(&c->classes, k, strlen(k), 0, 1, id, &e);
		if (rc)
			goto out;
		if (with_names && name) {
			if (!(k = aed_arena_strndup(&c->arena, name, strlen(name)))) {
				rc = aed_error(AED_ENOMEM, "out of memory loading classes");
				goto out;
			}
			rc = aed_keymap_get(&c->names, k, strlen(k), 1, 1, id, &e);
			if (rc)
				goto out;
			if (e->v != id)
				e->v = -1; /* two classes share this name */
		}
	}
	if (s != SQLITE_DONE) {
		rc = aed_db_error(c->db, "reading classes");
		goto out;
	}
	if (c->classes.n == 0)
		rc = aed_error(AED_ESTATE, "%s: the database has no classes; ingest the "
			       "ontology first (aedcurate ontology ingest ontology.json)", c->name);
out:
	sqlite3_finalize(st);
	return rc;
}

static int add_stored(struct ctx *c, sqlite3_stmt *st, const char *key, size_t *idx)
{
	struct existing *x = aed_vec_push(&c->stored_v);
	const char *path = (const char *)sqlite3_column_text(st, 2);

	if (!x)
		return aed_error(AED_ENOMEM, "out of memory loading segments");
	x->id = sqlite3_column_int64(st, 0);
	x->end_ms = sqlite3_column_type(st, 1) == SQLITE_NULL ? -1 : sqlite3_column_int64(st, 1);
	x->path = path ? strdup(path) : NULL;
	if (path && !x->path)
		return aed_error(AED_ENOMEM, "out of memory loading segments");
	*idx = c->stored_v.n - 1;
	(void)key;
	return AED_OK;
}

/* Either load every stored key (when the input is not much smaller than the
 * table) or prepare a per-key lookup. */
static int prepare_stored(struct ctx *c, size_t input_bytes)
{
	sqlite3_stmt *st = NULL;
	int rc, s;

	rc = aed_db_int(c->db, "SELECT count(*) FROM segment", &c->n_stored);
	if (rc || c->n_stored == 0)
		return rc;
	/* A segment row costs ~50 input bytes: preload when the input may
	 * name at least a quarter as many segments as are stored. */
	if ((int64_t)(input_bytes / 50) * 4 < c->n_stored)
		return aed_db_prepare(c->db, "SELECT id, end_ms, path FROM segment WHERE key = ?1",
				      &c->lookup);
	rc = aed_db_prepare(c->db, "SELECT id, end_ms, path, key FROM segment", &st);
	if (rc)
		goto out;
	c->preloaded = 1;
	while ((s = sqlite3_step(st)) == SQLITE_ROW) {
		const char *key = (const char *)sqlite3_column_text(st, 3);
		size_t n = strlen(key ? key : ""), idx;
		char *k = aed_arena_strndup(&c->arena, key ? key : "", n);
		struct aed_keymap_ent *e;

		if (!k) {
			rc = aed_error(AED_ENOMEM, "out of memory loading segments");
			goto out;
		}
		rc = add_stored(c, st, k, &idx);
		if (!rc)
			rc = aed_keymap_get(&c->stored, k, n, 0, 1, (int64_t)idx, &e);
		if (rc)
			goto out;
	}
	if (s != SQLITE_DONE)
		rc = aed_db_error(c->db, "reading segments");
out:
	sqlite3_finalize(st);
	return rc;
}

/* The stored segment of key, or NULL. */
static int find_stored(struct ctx *c, const char *key, size_t n, struct existing **out)
{
	struct aed_keymap_ent *e;
	int rc, s;

	*out = NULL;
	if (c->n_stored == 0)
		return AED_OK;
	if (c->preloaded) {
		rc = aed_keymap_get(&c->stored, key, n, 0, 0, 0, &e);
		if (!rc && e)
			*out = (struct existing *)c->stored_v.v + e->v;
		return rc;
	}
	sqlite3_reset(c->lookup);
	sqlite3_bind_text(c->lookup, 1, key, (int)n, SQLITE_STATIC);
	s = sqlite3_step(c->lookup);
	if (s == SQLITE_ROW) {
		size_t idx;

		rc = add_stored(c, c->lookup, key, &idx);
		if (rc)
			return rc;
		*out = (struct existing *)c->stored_v.v + idx;
	} else if (s != SQLITE_DONE) {
		return aed_db_error(c->db, "looking up a segment");
	}
	sqlite3_reset(c->lookup);
	return AED_OK;
}

/* Index every segment of this file so far in c->keys: the lists arrive
 * sorted, so keys are only hashed once one arrives out of order. */
static int index_keys(struct ctx *c)
{
	const struct seg *segs = c->segs.v;
	struct aed_keymap_ent *e;
	int rc = aed_keymap_grow(&c->keys, c->segs.n + 1);

	c->keys_sorted = 0;
	for (size_t i = 0; i < c->segs.n && !rc; i++)
		rc = aed_keymap_get(&c->keys, segs[i].row.key, segs[i].row.key_n, 0, 1, (int64_t)i,
				    &e);
	return rc;
}

/* Register a new segment of this file. Returns its index via *idx, or
 * *dup = 1 when the key was already seen in this file. */
static int add_seg(struct ctx *c, const struct seg *s, size_t *idx, int *dup)
{
	struct aed_keymap_ent *e;
	struct seg *ns;
	int rc;

	if (c->keys_sorted) {
		const struct seg *last = c->segs.n ? (const struct seg *)c->segs.v + c->segs.n - 1
						   : NULL;

		if (!last || strcmp(last->row.key, s->row.key) < 0) {
			/* Above every key so far: new to this file. */
			ns = aed_vec_push(&c->segs);
			if (!ns)
				return aed_error(AED_ENOMEM, "out of memory (%zu segments)",
						 c->segs.n);
			*ns = *s;
			*idx = c->segs.n - 1;
			*dup = 0;
			return AED_OK;
		}
		if ((rc = index_keys(c)))
			return rc;
	}
	rc = aed_keymap_get(&c->keys, s->row.key, s->row.key_n, 0, 1, (int64_t)c->segs.n, &e);
	if (rc)
		return rc;
	*dup = e->v != (int64_t)c->segs.n;
	*idx = (size_t)e->v;
	if (*dup)
		return AED_OK;
	ns = aed_vec_push(&c->segs);
	if (!ns)
		return aed_error(AED_ENOMEM, "out of memory (%zu segments)", c->segs.n);
	*ns = *s;
	return AED_OK;
}

/* Resolve one label token (mid, or display name when names are loaded):
 * aed_seglist_reader.resolve. */
static int64_t resolve_label(void *ctx, const char *p, size_t n)
{
	struct ctx *c = ctx;
	struct aed_keymap_ent *e = NULL;

	if (aed_keymap_get(&c->classes, p, n, 0, 0, 0, &e) == AED_OK && e)
		return e->v;
	if (c->names.n && aed_keymap_get(&c->names, p, n, 1, 0, 0, &e) == AED_OK && e)
		return e->v; /* -1 when ambiguous */
	return 0;
}

/* Compare a good row with the stored segment of the same key. */
static int check_stored(struct ctx *c, size_t line, struct seg *s, int *bad)
{
	const struct aed_seg_row *row = &s->row;
	struct existing *x;
	int rc = find_stored(c, row->key, row->key_n, &x);

	*bad = 0;
	if (rc || !x)
		return rc;
	s->exists = 1;
	s->id = x->id;
	if (row->end_ms >= 0 && x->end_ms >= 0 && row->end_ms != x->end_ms) {
		*bad = 1;
		return bad_row(c, line, AED_BAD_CONFLICT,
			       "segment %s is stored with end %lld.%03lld s, this row says %lld.%03lld s",
			       row->key, (long long)(x->end_ms / 1000), (long long)(x->end_ms % 1000),
			       (long long)(row->end_ms / 1000), (long long)(row->end_ms % 1000));
	}
	if (row->path && x->path && strcmp(row->path, x->path) != 0) {
		*bad = 1;
		return bad_row(c, line, AED_BAD_CONFLICT, "segment %s is stored with path %s",
			       row->key, x->path);
	}
	s->fill_path = row->path && !x->path;
	return AED_OK;
}

/* A row that passed the reader's checks (aed_seglist_reader.row): compare
 * it with what is stored, then queue it, or report it as a bad row (its
 * labels are dropped). */
static int accept_row(void *ctx, size_t line, const struct aed_seg_row *row)
{
	struct ctx *c = ctx;
	struct seg seg = { .row = *row }, *s = &seg;
	size_t idx;
	int bad = 0, dup = 0;
	int rc = check_stored(c, line, s, &bad);
	if (rc || bad) {
		c->labels.n = s->row.lab_off;
		return rc;
	}
	rc = add_seg(c, s, &idx, &dup);
	if (!rc && dup) {
		c->labels.n = s->row.lab_off;
		return bad_row(c, line, AED_BAD_DUPLICATE, "segment %s appears twice in this file",
			       s->row.key);
	}
	if (!rc)
		c->r->ingested++;
	return rc;
}

/* A strong-label row (aed_seglist_reader.strong): the segment it belongs to
 * (one of this file's, a stored one, or a new one), then the label. */
static int accept_strong(void *ctx, size_t line, const struct aed_strong_row *row)
{
	struct ctx *c = ctx;
	struct seg s = { 0 };
	struct strong_row *sr;
	struct aed_keymap_ent *ke;
	size_t idx;
	int dup, bad, rc;

	rc = aed_keymap_get(&c->keys, row->seg.key, row->seg.key_n, 0, 0, 0, &ke);
	if (rc)
		return rc;
	if (ke) {
		idx = (size_t)ke->v;
	} else {
		s.row = row->seg;
		s.row.end_ms = -1; /* a stored segment keeps its own end */
		rc = check_stored(c, line, &s, &bad);
		if (rc)
			return rc;
		s.row.end_ms = row->seg.end_ms;
		rc = add_seg(c, &s, &idx, &dup);
		if (rc)
			return rc;
	}
	sr = aed_vec_push(&c->strong);
	if (!sr)
		return aed_error(AED_ENOMEM, "out of memory");
	sr->seg = idx;
	sr->class_id = row->class_id;
	sr->start_s = row->start_s;
	sr->end_s = row->end_s;
	c->r->ingested++;
	return AED_OK;
}

/* aed_seglist_reader.bad: a reader's bad row. */
static int reader_bad(void *ctx, size_t line, enum aed_bad_reason why, const char *reason)
{
	return bad_row(ctx, line, why, "%s", reason);
}


/* --- the stage -------------------------------------------------------------- */

/* A manifest: the --columns map, the folder its relative paths are in, then
 * the reader (errors in that order). */
static int read_manifest(struct ctx *c, struct aed_seglist_reader *rd, const char *data,
			 size_t n)
{
	struct aed_manifest_columns cols;
	char *base = NULL;
	int rc = aed_manifest_columns_parse(c->o->columns, &cols);

	if (!rc)
		rc = segments_manifest_base(c->o->source, &base);
	if (!rc)
		rc = aed_manifest_read(rd, &cols, base, c->o->cut, data, n);
	aed_manifest_columns_release(&cols);
	free(base);
	return rc;
}

/* The reader for fmt over the whole input; its rows are checked and kept in
 * c as they come. */
static int read_rows(struct ctx *c, const char *data, size_t n, enum aed_seg_format fmt)
{
	struct aed_seglist_reader rd = {
		.name = c->name, .arena = &c->arena, .labels = &c->labels, .rows = &c->r->rows,
		.ctx = c, .resolve = resolve_label, .bad = reader_bad, .row = accept_row,
		.strong = accept_strong, .progress = progress_to,
	};

	c->keys_sorted = fmt != AED_SEG_STRONG; /* accept_strong looks keys up itself */
	switch (fmt) {
	case AED_SEG_CSV: return aed_seglist_read_csv(&rd, data, n);
	case AED_SEG_STRONG: return aed_seglist_read_strong(&rd, data, n);
	default: return read_manifest(c, &rd, data, n);
	}
}

/* The run's params. */
static json_t *params_json(const struct aed_segments_opts *o, enum aed_seg_format fmt)
{
	return json_pack("{s:o, s:s, s:o, s:o, s:b, s:b}", "source", aed_json_text(o->source),
			 "format", aed_seg_format_name(fmt), "split", aed_json_text(o->split),
			 "columns", aed_json_text(o->columns), "cut",
			 o->cut, "strict", o->strict);
}

static void ctx_release(struct ctx *c)
{
	aed_progress_free(&c->prog);
	sqlite3_finalize(c->lookup);
	for (size_t i = 0; i < c->stored_v.n; i++)
		free(((struct existing *)c->stored_v.v)[i].path);
	free(c->stored_v.v);
	free(c->segs.v);
	free(c->labels.v);
	free(c->strong.v);
	aed_keymap_release(&c->classes);
	aed_keymap_release(&c->names);
	aed_keymap_release(&c->keys);
	aed_keymap_release(&c->stored);
	aed_arena_release(&c->arena);
}

void aed_segments_result_release(struct aed_segments_result *r)
{
	for (size_t i = 0; i < r->n_messages; i++)
		free(r->messages[i]);
	free(r->messages);
	r->messages = NULL;
	r->n_messages = 0;
}

/* Everything is validated: write it in one transaction, inside a run of
 * its own. On failure the run is marked failed, the error kept. */
static int store_rows(struct ctx *c, enum aed_seg_format fmt)
{
	struct aed_db *db = c->db;
	struct aed_segments_result *r = c->r;
	int64_t split_id = 0, run_id = 0, cache_size = 0, fk_on = 0;
	int in_tx = 0, rc;

	if ((rc = aed_run_begin(db, "segments", params_json(c->o, fmt), &run_id)))
		goto out;
	r->run_id = run_id;
	/* Every reference is checked above (class ids come from the class
	 * table, segment ids from this transaction), so the per-row foreign
	 * key lookups would only double the cost of a bulk load. The pragma is
	 * a no-op inside a transaction: switch it around the transaction. */
	if (!aed_db_int(db, "PRAGMA foreign_keys", &fk_on) && fk_on)
		aed_db_exec(db, "PRAGMA foreign_keys = OFF");
	if ((rc = aed_db_begin(db)))
		goto out;
	in_tx = 1;
	if (!aed_db_int(db, "PRAGMA cache_size", &cache_size))
		aed_db_exec(db, "PRAGMA cache_size = -262144"); /* 256 MiB for the bulk load */
	if (c->o->progress && c->segs.n >= 200000)
		c->prog = aed_progress_new("segments: writing", (int64_t)c->segs.n);
	rc = segments_write_all(c, &split_id);
	aed_progress_free(&c->prog);
	if (!rc)
		rc = segments_record_source(c, split_id);
	if (!rc)
		rc = aed_db_commit(db);
	if (rc)
		goto out;
	in_tx = 0;
	rc = aed_run_end(db, run_id, AED_RUN_OK, r->ingested, r->bad, NULL);
	run_id = 0;
out:
	if (in_tx)
		aed_db_rollback(db);
	if (fk_on)
		aed_db_exec(db, "PRAGMA foreign_keys = ON");
	if (rc && run_id) {
		aed_run_fail(db, run_id, rc, 0, 0);
		r->run_id = 0;
		r->source_id = 0;
	}
	if (cache_size) {
		char sql[64];

		snprintf(sql, sizeof sql, "PRAGMA cache_size = %lld", (long long)cache_size);
		aed_db_exec(db, sql);
	}
	return rc;
}

int aed_segments_ingest(struct aed_db *db, const struct aed_segments_opts *o,
			struct aed_segments_result *r)
{
	struct ctx c = { 0 };
	struct source src = { 0 };
	struct sha_job job;
	pthread_t sha_tid;
	int sha_started = 0, rc;
	enum aed_seg_format fmt = o->format;

	memset(r, 0, sizeof *r);
	c.db = db;
	c.o = o;
	c.r = r;
	c.name = o->source;
	c.max_errors = o->max_errors; /* 0: count bad rows, list none */
	c.segs.size = sizeof(struct seg);
	c.labels.size = sizeof(int64_t);
	c.strong.size = sizeof(struct strong_row);
	c.stored_v.size = sizeof(struct existing);
	if (o->split && !*o->split) {
		rc = aed_error(AED_EUSAGE, "--split: empty name");
		goto out;
	}
	if (o->columns && fmt != AED_SEG_AUTO && fmt != AED_SEG_MANIFEST) {
		rc = aed_error(AED_EUSAGE, "--columns applies to manifests only");
		goto out;
	}

	if (o->data) {
		src.data = o->data;
		src.n = o->data_len;
	} else if ((rc = segments_source_open(o->source, o->timeout_s, &src))) {
		goto out;
	}
	job.data = src.data;
	job.n = src.n;
	job.hex = r->sha256;
	if (pthread_create(&sha_tid, NULL, segments_sha_thread, &job) == 0)
		sha_started = 1;
	else
		aed_sha256_hex(src.data, src.n, r->sha256);

	if (fmt == AED_SEG_AUTO && o->columns)
		fmt = AED_SEG_MANIFEST;
	else if (fmt == AED_SEG_AUTO && (rc = aed_seglist_detect(c.name, src.data, src.n, &fmt)))
		goto out;
	r->format = fmt;
	if ((rc = load_classes(&c, fmt == AED_SEG_MANIFEST)))
		goto out;
	if ((rc = prepare_stored(&c, src.n)))
		goto out;
	if (o->progress && src.n >= PROGRESS_MIN_BYTES)
		c.prog = aed_progress_new("segments: reading MiB", (int64_t)(src.n >> 20));
	rc = read_rows(&c, src.data, src.n, fmt);
	aed_progress_free(&c.prog);
	if (rc)
		goto out;
	if (r->rows == 0) {
		rc = aed_error(AED_EFORMAT, "%s: no data rows", c.name);
		goto out;
	}
	if (sha_started) {
		pthread_join(sha_tid, NULL);
		sha_started = 0;
	}
	rc = store_rows(&c, fmt);
out:
	if (sha_started)
		pthread_join(sha_tid, NULL);
	if (rc) {
		r->segments_new = r->segments_seen = r->labels = r->strong_labels = 0;
	}
	segments_source_close(&src);
	ctx_release(&c);
	return rc;
}
