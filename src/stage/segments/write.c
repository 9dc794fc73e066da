/* write.c - the last step of a segment list's ingest: the checked rows of
 * ingest.c go into segment, segment_split, label and strong_label (and the
 * ingest log, segment_source) in the caller's one transaction, with
 * multi-row INSERTs and new segment ids in key order. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#include "aedcurate/error.h"
#include "stage/segments/internal.h"

static int step_done(struct aed_db *db, sqlite3_stmt *st, const char *what)
{
	int s = sqlite3_step(st);

	sqlite3_reset(st);
	if (s != SQLITE_DONE)
		return aed_db_error(db, what);
	return AED_OK;
}

/* Rows per multi-row INSERT: fewer statement executions per row. */
#define BATCH 256

/* A multi-row "INSERT OR IGNORE INTO table(cols) VALUES (..), (..)" with
 * BATCH rows of ncols parameters each, plus a one-row statement for the
 * remainder; rows are staged in vals and flushed when full. */
struct batch {
	sqlite3_stmt *many, *one;
	int ncols, n;           /* parameters per row; rows staged */
	int64_t vals[BATCH * 2];
	int64_t *changes;       /* rows actually inserted are added here */
};

/* Prepare head followed by rows of "(?, ..., ?[, tail])": ncols numbered
 * parameters per row, then the constant SQL tail (NULL: none). */
static int prepare_rows(struct aed_db *db, const char *head, int rows, int ncols,
			const char *tail, sqlite3_stmt **st)
{
	struct aed_buf sql = { 0 };
	int rc = aed_buf_printf(&sql, "%s", head);

	for (int i = 0; i < rows && !rc; i++) {
		rc = aed_buf_printf(&sql, "%s(", i ? ", " : "");
		for (int j = 1; j <= ncols && !rc; j++)
			rc = aed_buf_printf(&sql, "?%d%s", ncols * i + j, j < ncols ? ", " : "");
		if (!rc)
			rc = aed_buf_printf(&sql, "%s%s)", tail ? ", " : "", tail ? tail : "");
	}
	if (!rc)
		rc = aed_db_prepare(db, sql.data, st);
	aed_buf_release(&sql);
	return rc;
}

static int batch_init(struct aed_db *db, struct batch *b, const char *head, const char *row,
		      int ncols, int64_t *changes)
{
	int rc;

	memset(b, 0, sizeof *b);
	b->ncols = ncols;
	b->changes = changes;
	if ((rc = prepare_rows(db, head, BATCH, ncols, row, &b->many)))
		return rc;
	return prepare_rows(db, head, 1, ncols, row, &b->one);
}

static int batch_flush(struct aed_db *db, struct batch *b, int all)
{
	sqlite3_stmt *st = b->n == BATCH ? b->many : b->one;
	int rows = b->n == BATCH ? BATCH : 1;
	int rc = AED_OK;

	while (b->n && (b->n == BATCH || all)) {
		for (int i = 0; i < rows * b->ncols; i++)
			sqlite3_bind_int64(st, i + 1, b->vals[i]);
		if ((rc = step_done(db, st, "inserting rows")))
			return rc;
		*b->changes += sqlite3_changes(aed_db_sqlite(db));
		b->n -= rows;
		memmove(b->vals, b->vals + rows * b->ncols, (size_t)(b->n * b->ncols) * sizeof *b->vals);
	}
	return rc;
}

static int batch_add(struct aed_db *db, struct batch *b, int64_t x, int64_t y)
{
	b->vals[b->n * b->ncols] = x;
	if (b->ncols == 2)
		b->vals[b->n * b->ncols + 1] = y;
	b->n++;
	return b->n == BATCH ? batch_flush(db, b, 0) : AED_OK;
}

static void batch_release(struct batch *b)
{
	sqlite3_finalize(b->many);
	sqlite3_finalize(b->one);
}

/* qsort context: the segment array (qsort has no user pointer). */
static const struct seg *sort_segs;

static int cmp_key(const void *a, const void *b)
{
	const struct seg *x = &sort_segs[*(const size_t *)a], *y = &sort_segs[*(const size_t *)b];

	return strcmp(x->row.key, y->row.key);
}

/* New segments per multi-row INSERT; each row has 9 parameters. */
#define SEG_BATCH 64
#define SEG_INSERT "INSERT OR IGNORE INTO segment(id, key, ytid, start_ms, end_ms, path, source_group, " \
		   "meta, shard) VALUES "

/* Bind segment s to the 9 parameters from b on. */
static void bind_seg(sqlite3_stmt *st, int b, const struct seg *x)
{
	const struct aed_seg_row *s = &x->row;

	sqlite3_bind_int64(st, b, x->id);
	sqlite3_bind_text(st, b + 1, s->key, (int)s->key_n, SQLITE_STATIC);
	sqlite3_bind_text(st, b + 2, s->key, (int)s->ytid_n, SQLITE_STATIC);
	sqlite3_bind_int64(st, b + 3, s->start_ms);
	if (s->end_ms >= 0)
		sqlite3_bind_int64(st, b + 4, s->end_ms);
	else
		sqlite3_bind_null(st, b + 4);
	if (s->path)
		sqlite3_bind_text(st, b + 5, s->path, -1, SQLITE_STATIC);
	else
		sqlite3_bind_null(st, b + 5);
	if (s->group)
		sqlite3_bind_text(st, b + 6, s->group, -1, SQLITE_STATIC);
	else
		sqlite3_bind_text(st, b + 6, s->key, (int)s->ytid_n, SQLITE_STATIC);
	if (s->meta)
		sqlite3_bind_text(st, b + 7, s->meta, -1, SQLITE_STATIC);
	else
		sqlite3_bind_null(st, b + 7);
	sqlite3_bind_int64(st, b + 8, aed_shard_hash(s->key));
}

/* Run a segment INSERT of n rows. It is "OR IGNORE" only so that SQLite
 * needs no statement journal for it (a multi-row statement that may abort
 * must be able to undo its first rows); every key was checked against the
 * table before the transaction, so a row left out means the table changed
 * meanwhile, and the ingest fails as a plain INSERT would. */
static int insert_segs(struct ctx *c, sqlite3_stmt *st, int n)
{
	int rc = step_done(c->db, st, "inserting segments");

	if (!rc && sqlite3_changes(aed_db_sqlite(c->db)) != n)
		rc = aed_error(AED_ESTATE, "%s: a segment of this list was stored by another "
			       "process during the ingest; nothing was written", c->name);
	return rc;
}

/* The id of split name, added if new. */
static int split_id_of(struct aed_db *db, const char *name, int64_t *split_id)
{
	sqlite3_stmt *st = NULL;
	int rc;

	rc = aed_db_prepare(db, "INSERT OR IGNORE INTO split(name) VALUES (?1)", &st);
	if (rc)
		goto out;
	sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
	if ((rc = step_done(db, st, "adding the split")))
		goto out;
	sqlite3_finalize(st);
	rc = aed_db_prepare(db, "SELECT id FROM split WHERE name = ?1", &st);
	if (rc)
		goto out;
	sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
	if (sqlite3_step(st) != SQLITE_ROW) {
		rc = aed_db_error(db, "reading the split");
		goto out;
	}
	*split_id = sqlite3_column_int64(st, 0);
out:
	sqlite3_finalize(st);
	return rc;
}

/* New segments get ids in key order, so the key index (and the ytid
 * index, whose order nearly matches) grows at its end instead of at
 * random places; AudioSet lists are sorted by YTID already. Stored
 * segments follow. Rows of segment_split and label then arrive in
 * primary-key order too. *order (malloc'd) lists the indexes into c->segs,
 * the first *n_new of them new. */
static int insert_order(struct ctx *c, size_t **order, size_t *n_new)
{
	struct seg *segs = c->segs.v;
	size_t *o, n = 0, k;

	o = *order = malloc((c->segs.n + 1) * sizeof *o);
	if (!o)
		return aed_error(AED_ENOMEM, "out of memory (%zu segments)", c->segs.n);
	for (size_t i = 0; i < c->segs.n; i++)
		if (!segs[i].exists)
			o[n++] = i;
	k = n;
	for (size_t i = 0; i < c->segs.n; i++)
		if (segs[i].exists)
			o[k++] = i;
	for (size_t i = 1; i < n && !c->keys_sorted; i++) /* else sorted already */
		if (strcmp(segs[o[i - 1]].row.key, segs[o[i]].row.key) > 0) {
			sort_segs = segs;
			qsort(o, n, sizeof *o, cmp_key);
			break;
		}
	*n_new = n;
	return AED_OK;
}

/* New segments order[k, k + m) with ids after next_id: SEG_BATCH rows at a
 * time through many, fewer one by one through one. */
static int insert_new(struct ctx *c, sqlite3_stmt *many, sqlite3_stmt *one, const size_t *order,
		      size_t k, size_t m, int64_t next_id)
{
	struct seg *segs = c->segs.v;
	sqlite3_stmt *ins = m == SEG_BATCH ? many : one;
	int rc;

	for (size_t i = 0; i < m; i++) {
		struct seg *x = &segs[order[k + i]];

		x->id = next_id + (int64_t)(k + i) + 1;
		bind_seg(ins, m == SEG_BATCH ? (int)(9 * i) + 1 : 1, x);
		if (m < SEG_BATCH && (rc = insert_segs(c, ins, 1)))
			return rc;
	}
	if (m == SEG_BATCH && (rc = insert_segs(c, ins, SEG_BATCH)))
		return rc;
	c->r->segments_new += (int64_t)m;
	return AED_OK;
}

/* A stored segment that gains a path (and meta). */
static int fill_path(struct aed_db *db, sqlite3_stmt *upd_seg, const struct seg *s)
{
	sqlite3_bind_int64(upd_seg, 1, s->id);
	sqlite3_bind_text(upd_seg, 2, s->row.path, -1, SQLITE_STATIC);
	if (s->row.meta)
		sqlite3_bind_text(upd_seg, 3, s->row.meta, -1, SQLITE_STATIC);
	else
		sqlite3_bind_null(upd_seg, 3);
	return step_done(db, upd_seg, "updating a segment");
}

/* The strong labels, each also a clip-level label. */
static int write_strong(struct ctx *c, struct batch *labels)
{
	struct aed_db *db = c->db;
	struct seg *segs = c->segs.v;
	struct strong_row *sr = c->strong.v;
	sqlite3_stmt *ins_strong = NULL;
	int rc;

	rc = aed_db_prepare(db, "INSERT OR IGNORE INTO strong_label(segment_id, class_id, "
			    "start_s, end_s) VALUES (?1, ?2, ?3, ?4)", &ins_strong);
	if (rc)
		goto out;
	for (size_t i = 0; i < c->strong.n; i++) {
		int64_t sid = segs[sr[i].seg].id;

		sqlite3_bind_int64(ins_strong, 1, sid);
		sqlite3_bind_int64(ins_strong, 2, sr[i].class_id);
		sqlite3_bind_double(ins_strong, 3, sr[i].start_s);
		sqlite3_bind_double(ins_strong, 4, sr[i].end_s);
		if ((rc = step_done(db, ins_strong, "inserting a strong label")))
			goto out;
		c->r->strong_labels += sqlite3_changes(aed_db_sqlite(db));
		if ((rc = batch_add(db, labels, sid, sr[i].class_id)))
			goto out;
	}
out:
	sqlite3_finalize(ins_strong);
	return rc;
}

int segments_write_all(struct ctx *c, int64_t *split_id)
{
	struct aed_db *db = c->db;
	sqlite3_stmt *ins_seg = NULL, *ins_segs = NULL, *upd_seg = NULL;
	struct batch labels = { 0 }, splits = { 0 };
	struct seg *segs = c->segs.v;
	const int64_t *label_ids = c->labels.v;
	const char *label_row = c->o->ontology_examples ? "'ontology'"
				: c->r->format == AED_SEG_CSV ? "'weak'"
				: c->r->format == AED_SEG_STRONG ? "'strong'" : "'manifest'";
	size_t *order = NULL, n_new = 0, k;
	int64_t next_id, split_rows = 0;
	int rc = AED_OK;

	*split_id = 0;
	if (c->o->split && (rc = split_id_of(db, c->o->split, split_id)))
		goto out;
	rc = aed_db_int(db, "SELECT COALESCE(MAX(id), 0) FROM segment", &next_id);
	if (rc || (rc = insert_order(c, &order, &n_new)))
		goto out;
	if ((rc = prepare_rows(db, SEG_INSERT, SEG_BATCH, 9, NULL, &ins_segs)) ||
	    (rc = prepare_rows(db, SEG_INSERT, 1, 9, NULL, &ins_seg)) ||
	    (rc = aed_db_prepare(db, "UPDATE segment SET path = ?2, meta = COALESCE(meta, ?3) "
				 "WHERE id = ?1", &upd_seg)) ||
	    (rc = batch_init(db, &labels, "INSERT OR IGNORE INTO label(segment_id, class_id, source) "
			     "VALUES ", label_row, 2, &c->r->labels)))
		goto out;
	if (*split_id) {
		char row[32];

		snprintf(row, sizeof row, "%lld", (long long)*split_id);
		if ((rc = batch_init(db, &splits, "INSERT OR IGNORE INTO segment_split(segment_id, "
				     "split_id) VALUES ", row, 1, &split_rows)))
			goto out;
	}
	for (k = 0; k < c->segs.n; k++) {
		struct seg *s = &segs[order[k]];

		/* New segments are order[0, n_new): insert them SEG_BATCH at a
		 * time, each chunk before its labels and splits. */
		if (k < n_new && k % SEG_BATCH == 0) {
			size_t m = n_new - k < SEG_BATCH ? n_new - k : SEG_BATCH;

			if ((rc = insert_new(c, ins_segs, ins_seg, order, k, m, next_id)))
				goto out;
		} else if (k >= n_new) {
			c->r->segments_seen++;
			if (s->fill_path && (rc = fill_path(db, upd_seg, s)))
				goto out;
		}
		if (*split_id && (rc = batch_add(db, &splits, s->id, 0)))
			goto out;
		for (size_t j = 0; j < s->row.lab_n; j++)
			if ((rc = batch_add(db, &labels, s->id, label_ids[s->row.lab_off + j])))
				goto out;
		if (c->prog && (k & 0xffff) == 0xffff)
			aed_progress_add(c->prog, 0x10000);
	}
	if (c->strong.n && (rc = write_strong(c, &labels)))
		goto out;
	if (!(rc = batch_flush(db, &labels, 1)) && *split_id)
		rc = batch_flush(db, &splits, 1);
out:
	free(order);
	batch_release(&labels);
	batch_release(&splits);
	sqlite3_finalize(ins_seg);
	sqlite3_finalize(ins_segs);
	sqlite3_finalize(upd_seg);
	return rc;
}

int segments_record_source(struct ctx *c, int64_t split_id)
{
	sqlite3_stmt *st = NULL;
	char now[32];
	int rc;

	aed_utc_iso8601(now);
	rc = aed_db_prepare(c->db, "INSERT INTO segment_source(source, format, split_id, sha256, "
			    "n_rows, n_bad, ingested_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)", &st);
	if (rc)
		return rc;
	sqlite3_bind_text(st, 1, c->o->source, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, aed_seg_format_name(c->r->format), -1, SQLITE_STATIC);
	if (split_id)
		sqlite3_bind_int64(st, 3, split_id);
	else
		sqlite3_bind_null(st, 3);
	sqlite3_bind_text(st, 4, c->r->sha256, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 5, c->r->rows);
	sqlite3_bind_int64(st, 6, c->r->bad);
	sqlite3_bind_text(st, 7, now, -1, SQLITE_STATIC);
	rc = step_done(c->db, st, "recording the segment source");
	if (!rc)
		c->r->source_id = sqlite3_last_insert_rowid(aed_db_sqlite(c->db));
	sqlite3_finalize(st);
	return rc;
}

