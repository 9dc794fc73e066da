/* import.c - `review import`: ratings files checked against the database
 * and stored. A file must come from one of our exports (its export id and
 * candidate-set checksum) and name known candidates and mids; its good
 * entries are stored in one transaction with its review_import row, and the
 * decisions of the pairs it touched recomputed (decision.c). On a clip's way
 * from a CSV row to a shard this is where a person's verdict on a mined
 * candidate enters the store. Parsing the file: src/format/ratings.c. */
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "aedcurate/error.h"
#include "aedcurate/message.h"
#include "aedcurate/ratings.h"
#include "aedcurate/review.h"
#include "aedcurate/store.h"
#include "aedcurate/util.h"
#include "stage/review/internal.h"

enum entry_state { ENTRY_BAD, ENTRY_NEW, ENTRY_UPDATE, ENTRY_SAME, ENTRY_OLDER };

struct good {
	struct aed_rating_entry *e;
	enum entry_state state;
	int64_t segment_id, rating_id; /* rating_id of the stored rating, if any */
	int64_t *labels;               /* class ids, sorted */
	size_t n_labels;
};

struct export_row {
	int64_t id, class_id;
	char checksum[65], mid[AED_RATINGS_MAX_ID + 1];
};

static int add_msg(struct aed_review_import_result *r, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static int add_msg(struct aed_review_import_result *r, const char *fmt, ...)
{
	va_list ap;
	char *m = NULL, **v;

	if (!r)
		return AED_OK; /* a second look: the first one reported it */
	va_start(ap, fmt);
	if (vasprintf(&m, fmt, ap) < 0)
		m = NULL;
	va_end(ap);
	if (!m || !(v = realloc(r->messages, (r->n_messages + 1) * sizeof *v))) {
		free(m);
		return aed_error(AED_ENOMEM, "out of memory");
	}
	r->messages = v;
	r->messages[r->n_messages++] = m;
	return AED_OK;
}

void aed_review_import_result_release(struct aed_review_import_result *r)
{
	for (size_t i = 0; i < r->n_messages; i++)
		free(r->messages[i]);
	free(r->messages);
	memset(r, 0, sizeof *r);
}

static int cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return (x > y) - (x < y);
}

static int find_export(struct aed_db *db, const char *export_id, struct export_row *x, int *found)
{
	sqlite3_stmt *st = NULL;
	int rc = aed_db_prepare(db, "SELECT e.id, e.class_id, e.checksum, c.mid FROM review_export e "
				"JOIN class c ON c.id = e.class_id WHERE e.export_id = ?1", &st);

	*found = 0;
	if (rc)
		return rc;
	sqlite3_bind_text(st, 1, export_id, -1, SQLITE_STATIC);
	switch (sqlite3_step(st)) {
	case SQLITE_ROW:
		x->id = sqlite3_column_int64(st, 0);
		x->class_id = sqlite3_column_int64(st, 1);
		snprintf(x->checksum, sizeof x->checksum, "%s", col(st, 2));
		snprintf(x->mid, sizeof x->mid, "%s", col(st, 3));
		*found = 1;
		break;
	case SQLITE_DONE:
		break;
	default:
		rc = aed_db_error(db, "looking up the export");
	}
	sqlite3_finalize(st);
	return rc;
}

/* The statements of an import, prepared once and reset after each use: a
 * file of 100 k entries would otherwise parse a dozen statements per entry,
 * which cost more than running them. */
struct imp {
	struct aed_db *db;
	sqlite3_stmt *cand, *mid, *rating, *labels;       /* classify */
	sqlite3_stmt *ins, *upd, *del_labels, *ins_label; /* store_rating */
	struct aed_review_decider dec;                    /* decisions (decision.c) */
};

static void imp_release(struct imp *im)
{
	sqlite3_stmt **v[] = { &im->cand, &im->mid, &im->rating, &im->labels, &im->ins, &im->upd,
			       &im->del_labels, &im->ins_label };

	for (size_t i = 0; i < sizeof v / sizeof *v; i++) {
		sqlite3_finalize(*v[i]);
		*v[i] = NULL;
	}
	aed_review_decider_release(&im->dec);
}

static int imp_prepare(struct aed_db *db, struct imp *im)
{
	const struct {
		sqlite3_stmt **st;
		const char *sql;
	} s[] = {
		{ &im->cand, "SELECT i.segment_id FROM review_item i JOIN segment s ON s.id = "
			     "i.segment_id WHERE i.export_id = ?1 AND s.key = ?2" },
		{ &im->mid, "SELECT id FROM class WHERE mid = ?1" },
		{ &im->rating, "SELECT id, answer, comment, rated_at FROM rating WHERE class_id = ?1 "
			       "AND segment_id = ?2 AND annotator = ?3" },
		{ &im->labels, "SELECT class_id FROM rating_label WHERE rating_id = ?1 ORDER BY "
			       "class_id" },
		{ &im->ins, "INSERT INTO rating(class_id, segment_id, annotator, answer, comment, "
			    "rated_at, export_id, import_id) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)" },
		{ &im->upd, "UPDATE rating SET answer = ?4, comment = ?5, rated_at = ?6, export_id = "
			    "?7, import_id = ?8 WHERE class_id = ?1 AND segment_id = ?2 AND "
			    "annotator = ?3" },
		{ &im->del_labels, "DELETE FROM rating_label WHERE rating_id = ?1" },
		{ &im->ins_label, "INSERT OR IGNORE INTO rating_label(rating_id, class_id) "
				  "VALUES(?1, ?2)" },
	};
	int rc = AED_OK;

	memset(im, 0, sizeof *im);
	im->db = db;
	for (size_t i = 0; i < sizeof s / sizeof *s && !rc; i++)
		rc = aed_db_prepare(db, s[i].sql, s[i].st);
	if (!rc)
		rc = aed_review_decider_prepare(db, &im->dec);
	if (rc)
		imp_release(im);
	return rc;
}

/* The stored rating's labels, sorted. */
static int stored_labels(struct imp *im, int64_t rating_id, int64_t **ids, size_t *n)
{
	sqlite3_stmt *st = im->labels;
	int64_t *v = NULL, *nv;
	size_t k = 0, cap = 0;
	int rc = AED_OK, step;

	*ids = NULL;
	*n = 0;
	sqlite3_bind_int64(st, 1, rating_id);
	while ((step = sqlite3_step(st)) == SQLITE_ROW) {
		if (k == cap) {
			cap = cap ? 2 * cap : 8;
			if (!(nv = realloc(v, cap * sizeof *v))) {
				rc = aed_error(AED_ENOMEM, "out of memory");
				break;
			}
			v = nv;
		}
		v[k++] = sqlite3_column_int64(st, 0);
	}
	if (!rc && step != SQLITE_DONE)
		rc = aed_db_error(im->db, "reading stored labels");
	sqlite3_reset(st);
	if (rc) {
		free(v);
		return rc;
	}
	*ids = v;
	*n = k;
	return AED_OK;
}

/* Check one well-formed entry against the export and the stored ratings:
 * sets g->state (ENTRY_BAD with a message). Reads only. */
static int classify(struct imp *im, const char *path, const struct export_row *x,
		    const char *annotator, struct good *g, struct aed_review_import_result *r)
{
	sqlite3_stmt *st = im->cand;
	struct aed_rating_entry *e = g->e;
	char ex[96];
	int64_t *old = NULL;
	size_t n_old = 0, i;
	int rc = AED_OK, step;

	aed_ratings_excerpt(e->candidate, ex);
	g->state = ENTRY_BAD;
	sqlite3_bind_int64(st, 1, x->id);
	sqlite3_bind_text(st, 2, e->candidate, -1, SQLITE_STATIC);
	step = sqlite3_step(st);
	if (step == SQLITE_ROW)
		g->segment_id = sqlite3_column_int64(st, 0);
	sqlite3_reset(st);
	if (step != SQLITE_ROW) {
		if (step != SQLITE_DONE)
			return aed_db_error(im->db, "looking up a candidate");
		return add_msg(r, "%s: entry %zu (%s): unknown candidate: not in this export", path,
			       e->index, ex);
	}
	if (e->n_labels && !(g->labels = calloc(e->n_labels, sizeof *g->labels)))
		return aed_error(AED_ENOMEM, "out of memory");
	for (i = 0; i < e->n_labels; i++) {
		st = im->mid;
		sqlite3_bind_text(st, 1, e->labels[i], -1, SQLITE_STATIC);
		step = sqlite3_step(st);
		if (step == SQLITE_ROW)
			g->labels[g->n_labels++] = sqlite3_column_int64(st, 0);
		sqlite3_reset(st);
		if (step == SQLITE_DONE) {
			char lx[96];

			aed_ratings_excerpt(e->labels[i], lx);
			return add_msg(r, "%s: entry %zu (%s): unknown mid \"%s\" in labels", path,
				       e->index, ex, lx);
		}
		if (step != SQLITE_ROW)
			return aed_db_error(im->db, "looking up a mid");
	}
	if (g->n_labels > 1)
		qsort(g->labels, g->n_labels, sizeof *g->labels, cmp_i64);
	st = im->rating;
	sqlite3_bind_int64(st, 1, x->class_id);
	sqlite3_bind_int64(st, 2, g->segment_id);
	sqlite3_bind_text(st, 3, annotator, -1, SQLITE_STATIC);
	step = sqlite3_step(st);
	if (step == SQLITE_DONE) {
		g->state = ENTRY_NEW;
	} else if (step == SQLITE_ROW) {
		int64_t t_old = aed_review_time_us(col(st, 3)), t_new = aed_review_time_us(e->time);
		int same;

		g->rating_id = sqlite3_column_int64(st, 0);
		if ((rc = stored_labels(im, g->rating_id, &old, &n_old)))
			goto out;
		same = !strcmp(col(st, 1), aed_answer_name(e->answer)) &&
		       !strcmp(col(st, 2), e->comment) && !strcmp(col(st, 3), e->time) &&
		       n_old == g->n_labels &&
		       (n_old == 0 || !memcmp(old, g->labels, n_old * sizeof *old));
		g->state = same ? ENTRY_SAME : t_new >= t_old ? ENTRY_UPDATE : ENTRY_OLDER;
	} else {
		rc = aed_db_error(im->db, "reading stored ratings");
	}
out:
	sqlite3_reset(st);
	free(old);
	return rc;
}

/* Write one new or updated rating (inside the import's transaction). */
static int store_rating(struct imp *im, const struct export_row *x, const char *annotator,
			int64_t import_id, struct good *g)
{
	sqlite3_stmt *st = g->state == ENTRY_NEW ? im->ins : im->upd;
	int rc = AED_OK;

	sqlite3_bind_int64(st, 1, x->class_id);
	sqlite3_bind_int64(st, 2, g->segment_id);
	sqlite3_bind_text(st, 3, annotator, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 4, aed_answer_name(g->e->answer), -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 5, g->e->comment, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 6, g->e->time, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 7, x->id);
	sqlite3_bind_int64(st, 8, import_id);
	if (sqlite3_step(st) != SQLITE_DONE) {
		rc = aed_db_error(im->db, "storing a rating");
		goto out;
	}
	if (g->state == ENTRY_NEW)
		g->rating_id = sqlite3_last_insert_rowid(aed_db_sqlite(im->db));
	sqlite3_reset(st);
	/* a new rating has no labels yet: nothing to replace */
	if (g->state != ENTRY_NEW) {
		st = im->del_labels;
		sqlite3_bind_int64(st, 1, g->rating_id);
		if (sqlite3_step(st) != SQLITE_DONE) {
			rc = aed_db_error(im->db, "replacing labels");
			goto out;
		}
		sqlite3_reset(st);
	}
	st = im->ins_label;
	for (size_t i = 0; i < g->n_labels; i++) {
		sqlite3_bind_int64(st, 1, g->rating_id);
		sqlite3_bind_int64(st, 2, g->labels[i]);
		if (sqlite3_step(st) != SQLITE_DONE) {
			rc = aed_db_error(im->db, "storing a label");
			goto out;
		}
		sqlite3_reset(st);
	}
out:
	sqlite3_reset(st);
	return rc;
}

static void goods_release(struct good *g, size_t n)
{
	for (size_t i = 0; g && i < n; i++)
		free(g[i].labels);
	free(g);
}

/* Write the changed ratings of one file and its import row: one transaction,
 * one run. */
static int write_file(struct imp *im, const char *path, const struct aed_ratings *rt,
		      const struct export_row *x, struct good *g, size_t n_good,
		      int64_t *counts, struct aed_review_import_result *r,
		      double *agreement_sum)
{
	struct aed_db *db = im->db;
	int64_t parse_bad = 0;
	sqlite3_stmt *st = NULL;
	int64_t run_id = 0, import_id;
	char now[32];
	int rc, in_tx = 0;
	size_t i;

	if ((rc = aed_run_begin(db, "review-import",
				json_pack("{s:o, s:o, s:o}", "file", aed_json_text(path),
					  "export_id", aed_json_text(rt->export_id), "annotator",
					  aed_json_text(rt->annotator)),
				&run_id)))
		goto out;
	if ((rc = aed_db_begin(db)))
		goto out;
	in_tx = 1;
	/* Look again under the write lock: another import may have stored some
	 * of these ratings since the first look. */
	for (i = 0; i < rt->n; i++)
		parse_bad += rt->entries[i].bad != NULL;
	memset(counts, 0, (ENTRY_OLDER + 1) * sizeof *counts);
	counts[ENTRY_BAD] = parse_bad;
	for (i = 0; i < n_good; i++) {
		free(g[i].labels);
		g[i].labels = NULL;
		g[i].n_labels = 0;
		g[i].rating_id = g[i].segment_id = 0;
		if ((rc = classify(im, path, x, rt->annotator, &g[i], NULL)))
			goto out;
		counts[g[i].state]++;
	}
	if (counts[ENTRY_NEW] + counts[ENTRY_UPDATE] == 0)
		goto out; /* the other import stored them all: roll back, write nothing */
	aed_utc_iso8601(now);
	if ((rc = aed_db_prepare(db, "INSERT INTO review_import(export_id, path, sha256, annotator, "
				 "n_entries, n_new, n_updated, n_same, n_bad, run_id, imported_at) "
				 "VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)", &st)))
		goto out;
	sqlite3_bind_int64(st, 1, x->id);
	sqlite3_bind_text(st, 2, path, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, rt->sha256, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 4, rt->annotator, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 5, (int64_t)rt->n);
	sqlite3_bind_int64(st, 6, counts[ENTRY_NEW]);
	sqlite3_bind_int64(st, 7, counts[ENTRY_UPDATE]);
	sqlite3_bind_int64(st, 8, counts[ENTRY_SAME]);
	sqlite3_bind_int64(st, 9, counts[ENTRY_BAD]);
	sqlite3_bind_int64(st, 10, run_id);
	sqlite3_bind_text(st, 11, now, -1, SQLITE_STATIC);
	if (sqlite3_step(st) != SQLITE_DONE) {
		rc = aed_db_error(db, "recording the import");
		goto out;
	}
	import_id = sqlite3_last_insert_rowid(aed_db_sqlite(db));
	for (i = 0; i < n_good; i++)
		if ((g[i].state == ENTRY_NEW || g[i].state == ENTRY_UPDATE) &&
		    (rc = store_rating(im, x, rt->annotator, import_id, &g[i])))
			goto out;
	for (i = 0; i < n_good; i++)
		if ((g[i].state == ENTRY_NEW || g[i].state == ENTRY_UPDATE) &&
		    ((rc = aed_review_decide_pair(&im->dec, x->class_id, g[i].segment_id, now, r,
						  agreement_sum)) ||
		     (rc = aed_review_sync_labels(&im->dec, g[i].segment_id, r))))
			goto out;
	rc = aed_db_commit(db);
	in_tx = 0;
out:
	sqlite3_finalize(st);
	if (in_tx)
		aed_db_rollback(db);
	if (run_id) {
		if (rc) {
			aed_run_fail(db, run_id, rc, 0, (int64_t)rt->n);
		} else {
			rc = aed_run_end(db, run_id, AED_RUN_OK,
					 counts[ENTRY_NEW] + counts[ENTRY_UPDATE], counts[ENTRY_BAD],
					 NULL);
		}
	}
	return rc;
}

/* One ratings file's bytes (data may be NULL when reading it failed with
 * read_rc): parsed, checked and stored. path names it in messages and in
 * review_import. */
static int import_bytes(struct aed_db *db, const char *path, int read_rc, const char *data,
			size_t n, struct aed_review_import_result *r, double *agreement_sum)
{
	struct aed_ratings *rt = NULL;
	struct export_row x = { 0 };
	struct good *g = NULL;
	struct imp im = { 0 };
	int64_t counts[ENTRY_OLDER + 1] = { 0 };
	size_t i, n_good = 0;
	int rc = read_rc, found, in_read = 0;

	r->files++;
	if (!rc)
		rc = aed_ratings_parse(data, n, path, &rt);
	if (rc) {
		/* An unreadable, oversized or malformed file: nothing of it is stored. */
		r->files_rejected++;
		rc = add_msg(r, "%s (file rejected, nothing imported)", aed_last_error());
		goto out;
	}
	r->entries += (int64_t)rt->n;
	if ((rc = find_export(db, rt->export_id, &x, &found)))
		goto out;
	if (!found || strcmp(x.checksum, rt->checksum) || strcmp(x.mid, rt->class_mid)) {
		char ex[96], cx[96], mx[96];

		aed_ratings_excerpt(rt->export_id, ex);
		r->files_rejected++;
		r->bad += (int64_t)rt->n;
		if (!found) {
			rc = add_msg(r, "%s: export id %s is not an export of this database (a file "
				     "from another export): all %zu entries rejected", path, ex, rt->n);
		} else if (strcmp(x.checksum, rt->checksum)) {
			aed_ratings_excerpt(rt->checksum, cx);
			rc = add_msg(r, "%s: checksum %s does not match export %s's candidate set "
				     "(tampered or edited): all %zu entries rejected", path, cx, ex,
				     rt->n);
		} else {
			aed_ratings_excerpt(rt->class_mid, cx);
			aed_ratings_excerpt(x.mid, mx);
			rc = add_msg(r, "%s: class %s is not the class of export %s (%s): all %zu "
				     "entries rejected", path, cx, ex, mx, rt->n);
		}
		goto out;
	}
	if (rt->n && !(g = calloc(rt->n, sizeof *g))) {
		rc = aed_error(AED_ENOMEM, "out of memory");
		goto out;
	}
	/* The first look reads in one transaction: statement by statement,
	 * SQLite would take and drop its file locks for every lookup. */
	if ((rc = imp_prepare(db, &im)) || (rc = aed_db_exec(db, "BEGIN DEFERRED")))
		goto out;
	in_read = 1;
	for (i = 0; i < rt->n; i++) {
		struct aed_rating_entry *e = &rt->entries[i];

		if (e->bad) {
			char ex[96];

			aed_ratings_excerpt(e->candidate, ex);
			counts[ENTRY_BAD]++;
			if ((rc = add_msg(r, "%s: entry %zu (%s): %s", path, e->index,
					  *ex ? ex : "?", e->bad)))
				goto out;
			continue;
		}
		g[n_good].e = e;
		if ((rc = classify(&im, path, &x, rt->annotator, &g[n_good], r)))
			goto out;
		counts[g[n_good].state]++;
		n_good++;
	}
	in_read = 0;
	if ((rc = aed_db_exec(db, "COMMIT")))
		goto out;
	/* Nothing changes: nothing is written, not even a run. */
	if (counts[ENTRY_NEW] + counts[ENTRY_UPDATE] > 0 &&
	    (rc = write_file(&im, path, rt, &x, g, n_good, counts, r, agreement_sum)))
		goto out;
	r->bad += counts[ENTRY_BAD];
	r->same += counts[ENTRY_SAME];
	r->older += counts[ENTRY_OLDER];
	r->new_ratings += counts[ENTRY_NEW];
	r->updated += counts[ENTRY_UPDATE];
out:
	if (in_read)
		sqlite3_exec(aed_db_sqlite(db), "ROLLBACK", NULL, NULL, NULL);
	imp_release(&im);
	goods_release(g, n_good);
	aed_ratings_free(&rt);
	return rc;
}

static int import_file(struct aed_db *db, const char *path, struct aed_review_import_result *r,
		       double *agreement_sum)
{
	char *data = NULL;
	size_t n = 0;
	int rc = aed_read_file(path, AED_RATINGS_MAX_SOURCE, &data, &n);

	rc = import_bytes(db, path, rc, data, n, r, agreement_sum);
	free(data);
	return rc;
}

int aed_review_import(struct aed_db *db, const char *const *paths, size_t n_paths,
		      struct aed_review_import_result *r)
{
	double agreement_sum = 0;
	int rc = AED_OK;

	memset(r, 0, sizeof *r);
	for (size_t i = 0; i < n_paths && !rc; i++)
		rc = import_file(db, paths[i], r, &agreement_sum);
	r->mean_agreement = r->multi_rated ? agreement_sum / (double)r->multi_rated : 0.0;
	return rc;
}

int aed_review_import_data(struct aed_db *db, const char *name, const char *data, size_t n,
			   struct aed_review_import_result *r)
{
	double agreement_sum = 0;
	int rc;

	memset(r, 0, sizeof *r);
	rc = import_bytes(db, name, AED_OK, data, n, r, &agreement_sum);
	r->mean_agreement = r->multi_rated ? agreement_sum / (double)r->multi_rated : 0.0;
	return rc;
}
