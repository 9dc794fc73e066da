/* export.c - `review export`: the best-ranked candidates of a mine run put
 * on a review page (page.c writes the folder), and the export recorded
 * (review_export, review_item, a "review-export" run) so that the ratings
 * coming back can be checked against it. On a clip's way from a CSV row to a
 * shard this is where a mined candidate goes out to a person, between mine
 * and refine. */
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "aedcurate/class.h"
#include "aedcurate/error.h"
#include "aedcurate/message.h"
#include "aedcurate/outdir.h"
#include "aedcurate/review.h"
#include "aedcurate/store.h"
#include "aedcurate/util.h"
#include "stage/review/internal.h"

#define DEFAULT_LIMIT AED_REVIEW_EXPORT_LIMIT_DEFAULT
#define DEFAULT_BITRATE AED_REVIEW_EXPORT_BITRATE_DEFAULT /* bit/s */
#define MAX_PATH_DEPTH 64       /* ontology path length guard */

static int strcmp_ptr(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

int aed_review_checksum(const char *mid, const char *const *ids, size_t n, char hex[65])
{
	const char **sorted = NULL;
	struct aed_buf b = { 0 };
	int rc;
	size_t i;

	if (n && !(sorted = malloc(n * sizeof *sorted)))
		return aed_error(AED_ENOMEM, "out of memory");
	for (i = 0; i < n; i++)
		sorted[i] = ids[i];
	if (n)
		qsort(sorted, n, sizeof *sorted, strcmp_ptr);
	rc = aed_buf_printf(&b, "aedcurate-review-v1\n%s\n", mid);
	for (i = 0; !rc && i < n; i++)
		rc = aed_buf_printf(&b, "%s\n", sorted[i]);
	if (!rc)
		aed_sha256_hex(b.data, b.len, hex);
	aed_buf_release(&b);
	free(sorted);
	return rc;
}

/* End a review-export run: FAILED with the error that ended it (raised
 * again for the caller), or OK with its n candidates. */
static int end_export_run(struct aed_db *db, int64_t run_id, int rc, size_t n)
{
	if (!rc)
		return aed_run_end(db, run_id, AED_RUN_OK, (int64_t)n, 0, NULL);
	return aed_run_fail(db, run_id, rc, 0, 1);
}

/* The class's path from a root: follows the first parent (lowest id) up. */
static int class_path(struct aed_db *db, int64_t class_id, json_t *path)
{
	sqlite3_stmt *up = NULL, *nm = NULL;
	int64_t id = class_id;
	int rc, depth;

	if ((rc = aed_db_prepare(db, "SELECT parent_id FROM class_edge WHERE child_id = ?1 "
				 "ORDER BY parent_id LIMIT 1", &up)) ||
	    (rc = aed_db_prepare(db, "SELECT name FROM class WHERE id = ?1", &nm)))
		goto out;
	for (depth = 0; depth < MAX_PATH_DEPTH; depth++) {
		sqlite3_bind_int64(nm, 1, id);
		if (sqlite3_step(nm) == SQLITE_ROW)
			json_array_insert_new(path, 0, json_string(col(nm, 0)));
		sqlite3_reset(nm);
		sqlite3_bind_int64(up, 1, id);
		if (sqlite3_step(up) != SQLITE_ROW) {
			sqlite3_reset(up);
			break;
		}
		id = sqlite3_column_int64(up, 0);
		sqlite3_reset(up);
	}
out:
	sqlite3_finalize(up);
	sqlite3_finalize(nm);
	return rc;
}

static int random_hex(char out[33])
{
	unsigned char b[16];
	size_t got = 0;

	while (got < sizeof b) {
		ssize_t r = getrandom(b + got, sizeof b - got, 0);

		if (r < 0) {
			if (errno == EINTR)
				continue;
			return aed_error(AED_EIO, "getrandom: %s", strerror(errno));
		}
		got += (size_t)r;
	}
	for (size_t i = 0; i < sizeof b; i++)
		snprintf(out + 2 * i, 3, "%02x", b[i]);
	return AED_OK;
}

static void cands_release(struct cand *c, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(c[i].key);
		free(c[i].ytid);
	}
	free(c);
}

/* Record the export: review_export and review_item rows, one transaction. */
static int record_export(struct aed_db *db, struct aed_review_export_result *r,
			 const char *out_dir, const struct cand *c, size_t n)
{
	sqlite3_stmt *st = NULL;
	char now[32];
	int rc;

	aed_utc_iso8601(now);
	if ((rc = aed_db_begin(db)))
		return rc;
	if ((rc = aed_db_prepare(db, "INSERT INTO review_export(export_id, mine_run_id, class_id, "
				 "checksum, n_candidates, out_dir, run_id, created_at) "
				 "VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)", &st)))
		goto out;
	sqlite3_bind_text(st, 1, r->export_id, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, r->mine_run_id);
	sqlite3_bind_int64(st, 3, r->class_id);
	sqlite3_bind_text(st, 4, r->checksum, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 5, (int64_t)n);
	sqlite3_bind_text(st, 6, out_dir, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 7, r->run_id);
	sqlite3_bind_text(st, 8, now, -1, SQLITE_STATIC);
	if (sqlite3_step(st) != SQLITE_DONE) {
		rc = aed_db_error(db, "recording the export");
		goto out;
	}
	r->review_export_id = sqlite3_last_insert_rowid(aed_db_sqlite(db));
	sqlite3_finalize(st);
	st = NULL;
	if ((rc = aed_db_prepare(db, "INSERT INTO review_item(export_id, segment_id, ord) "
				 "VALUES(?1, ?2, ?3)", &st)))
		goto out;
	for (size_t i = 0; i < n; i++) {
		sqlite3_bind_int64(st, 1, r->review_export_id);
		sqlite3_bind_int64(st, 2, c[i].segment_id);
		sqlite3_bind_int64(st, 3, (int64_t)i);
		if (sqlite3_step(st) != SQLITE_DONE) {
			rc = aed_db_error(db, "recording an exported candidate");
			goto out;
		}
		sqlite3_reset(st);
	}
	rc = aed_db_commit(db);
out:
	sqlite3_finalize(st);
	if (rc)
		aed_db_rollback(db);
	return rc;
}

/* Which mine run: the one given, or the latest of the class given. */
static int pick_mine_run(struct aed_db *db, const struct aed_review_export_opts *o,
			 struct aed_review_export_result *r)
{
	sqlite3_stmt *st = NULL;
	int rc;

	if (o->mine_run_id > 0) {
		r->mine_run_id = o->mine_run_id;
	} else if (o->class_name) {
		int64_t cid;

		if ((rc = aed_class_resolve(db, o->class_name, &cid)))
			return rc;
		if ((rc = aed_db_prepare(db, "SELECT id FROM mine_run WHERE class_id = ?1 "
					 "ORDER BY id DESC LIMIT 1", &st)))
			return rc;
		sqlite3_bind_int64(st, 1, cid);
		if (sqlite3_step(st) == SQLITE_ROW)
			r->mine_run_id = sqlite3_column_int64(st, 0);
		sqlite3_finalize(st);
		if (!r->mine_run_id) {
			char *mid = NULL, *name = NULL;

			/* Name the class resolved, not the text typed: "cough" and
			 * "/m/01b_21" are the same class. */
			if ((rc = aed_class_mid_name(db, cid, &mid, &name)))
				return rc;
			rc = aed_error(AED_ENOTFOUND, "%s (%s) has no mine run: run `aedcurate "
				       "mine --class %s` first", mid, name, mid);
			free(mid);
			free(name);
			return rc;
		}
	} else {
		return aed_error(AED_EUSAGE, "review export: give --class NAME|MID or --run ID");
	}
	return AED_OK;
}

/* The mine run r->mine_run_id and its class as the page data shows them:
 * *cls {mid, name, description, path} and *mrun {id, method, created_at}
 * (the caller releases both); fills r->class_id and r->mid. */
static int read_run_class(struct aed_db *db, struct aed_review_export_result *r, json_t **cls,
			  json_t **mrun)
{
	sqlite3_stmt *st = NULL;
	json_t *path = NULL;
	int rc, step;

	if ((rc = aed_db_prepare(db, "SELECT m.class_id, c.mid, c.name, c.description, m.method, "
				 "m.created_at FROM mine_run m JOIN class c ON c.id = m.class_id "
				 "WHERE m.id = ?1", &st)))
		goto out;
	sqlite3_bind_int64(st, 1, r->mine_run_id);
	if ((step = sqlite3_step(st)) != SQLITE_ROW) {
		rc = step == SQLITE_DONE
			? aed_error(AED_ENOTFOUND, "no mine run %lld with a class (see `aedcurate "
				    "review status`)", (long long)r->mine_run_id)
			: aed_db_error(db, "reading the mine run");
		goto out;
	}
	r->class_id = sqlite3_column_int64(st, 0);
	snprintf(r->mid, sizeof r->mid, "%s", col(st, 1));
	path = json_array();
	*cls = json_pack("{s:s, s:s, s:s, s:O}", "mid", col(st, 1), "name", col(st, 2),
			 "description", col(st, 3), "path", path);
	*mrun = json_pack("{s:I, s:s, s:s}", "id", (json_int_t)r->mine_run_id, "method", col(st, 4),
			  "created_at", col(st, 5));
	sqlite3_finalize(st);
	st = NULL;
	if (!*cls || !*mrun || !path) {
		rc = aed_error(AED_ENOMEM, "out of memory");
		goto out;
	}
	rc = class_path(db, r->class_id, path);
out:
	sqlite3_finalize(st);
	json_decref(path);
	return rc;
}

/* The best-ranked candidates of the run (with unrated, only those without a
 * review decision), at most limit, in page order. *pc and *pn hold what was
 * read even on failure; the caller releases them (cands_release). */
static int read_candidates(struct aed_db *db, const struct aed_review_export_result *r,
			   long limit, int unrated, struct cand **pc, size_t *pn)
{
	sqlite3_stmt *st = NULL;
	struct cand *c = NULL;
	size_t n = 0, cap = 0;
	int rc, step;

	if ((rc = aed_db_prepare(db, "SELECT k.segment_id, k.rank, k.score, k.best_time_s, s.key, "
				 "s.ytid, s.start_ms FROM candidate k JOIN segment s "
				 "ON s.id = k.segment_id WHERE k.mine_run_id = ?1 AND (?3 = 0 OR "
				 "NOT EXISTS (SELECT 1 FROM review_decision d WHERE d.class_id = ?4 "
				 "AND d.segment_id = k.segment_id)) "
				 "ORDER BY k.rank, k.segment_id LIMIT ?2", &st)))
		goto out;
	sqlite3_bind_int64(st, 1, r->mine_run_id);
	sqlite3_bind_int64(st, 2, limit);
	sqlite3_bind_int(st, 3, unrated);
	sqlite3_bind_int64(st, 4, r->class_id);
	while ((step = sqlite3_step(st)) == SQLITE_ROW) {
		if (n == cap) {
			size_t ncap = cap ? cap * 2 : 64;
			struct cand *nc = realloc(c, ncap * sizeof *c);

			if (!nc) {
				rc = aed_error(AED_ENOMEM, "out of memory");
				goto out;
			}
			memset(nc + cap, 0, (ncap - cap) * sizeof *nc);
			c = nc;
			cap = ncap;
		}
		c[n].segment_id = sqlite3_column_int64(st, 0);
		c[n].rank = sqlite3_column_int64(st, 1);
		c[n].score = sqlite3_column_double(st, 2);
		c[n].best_time_s = sqlite3_column_double(st, 3);
		c[n].key = xstrdup(col(st, 4));
		c[n].ytid = xstrdup(col(st, 5));
		c[n].start_ms = sqlite3_column_int64(st, 6);
		n++;
		if (!c[n - 1].key || !c[n - 1].ytid) {
			rc = aed_error(AED_ENOMEM, "out of memory");
			goto out;
		}
	}
	if (step != SQLITE_DONE)
		rc = aed_db_error(db, "reading candidates");
out:
	sqlite3_finalize(st);
	*pc = c;
	*pn = n;
	return rc;
}

/* The whole ontology for the "missing labels" autocomplete: [[mid, name], ...]. */
static int read_ontology(struct aed_db *db, json_t *onto)
{
	sqlite3_stmt *st = NULL;
	int rc, step;

	if ((rc = aed_db_prepare(db, "SELECT mid, name FROM class ORDER BY name COLLATE NOCASE, id",
				 &st)))
		return rc;
	while ((step = sqlite3_step(st)) == SQLITE_ROW)
		json_array_append_new(onto, json_pack("[s, s]", col(st, 0), col(st, 1)));
	sqlite3_finalize(st);
	if (step != SQLITE_DONE)
		return aed_db_error(db, "reading the ontology");
	return AED_OK;
}

int aed_review_export(struct aed_db *db, const struct aed_review_export_opts *o,
		      struct aed_review_export_result *r)
{
	struct cand *c = NULL;
	size_t n = 0, i;
	json_t *root = NULL, *cls = NULL, *arr = NULL, *onto = NULL, *mrun = NULL;
	char now[32], file[4096];
	const char **ids = NULL, **files = NULL;
	const char *web;
	struct aed_outdir od = { 0 };
	size_t n_files = 0;
	char *files_buf = NULL;
	long limit = o->limit > 0 ? o->limit : DEFAULT_LIMIT;
	int bitrate = o->bitrate > 0 ? o->bitrate : DEFAULT_BITRATE;
	int rc, run_open = 0;

	memset(r, 0, sizeof *r);
	if (!o->out_dir || !*o->out_dir)
		return aed_error(AED_EUSAGE, "review export: --out DIR is required");
	web = o->web_dir ? o->web_dir : aed_review_web_dir();
	if (!web || !aed_review_dir_has_page(web))
		return aed_error(AED_ENOTFOUND, "the review page sources (index.html, app.js, "
				 "style.css) are not in %s: set AEDCURATE_WEB or --web",
				 web ? web : "$AEDCURATE_WEB, <prefix>/web/review or ./web/review");
	if ((rc = pick_mine_run(db, o, r)))
		return rc;
	if ((rc = read_run_class(db, r, &cls, &mrun)) ||
	    (rc = read_candidates(db, r, limit, o->unrated, &c, &n)))
		goto out;
	if (n == 0) {
		rc = aed_error(AED_ESTATE, "mine run %lld has no candidates%s", (long long)r->mine_run_id,
			       o->unrated ? " without a review decision" : "");
		goto out;
	}
	r->n_candidates = (int64_t)n;
	if (!(ids = malloc(n * sizeof *ids))) {
		rc = aed_error(AED_ENOMEM, "out of memory");
		goto out;
	}
	for (i = 0; i < n; i++)
		ids[i] = c[i].key;
	if ((rc = aed_review_checksum(r->mid, ids, n, r->checksum)) || (rc = random_hex(r->export_id)))
		goto out;
	if (!(onto = json_array()) || !(arr = json_array())) {
		rc = aed_error(AED_ENOMEM, "out of memory");
		goto out;
	}
	if ((rc = read_ontology(db, onto)))
		goto out;
	/* The run, then the files, then the record of what was written.
	 * Only an empty or new folder or an earlier review page is written into;
	 * a refusal comes before the run and changes nothing. */
	if ((rc = aed_outdir_claim(o->out_dir, "review-page", &od)) ||
	    (rc = aed_review_page_file_names(n, &files, &n_files, &files_buf)))
		goto out;
	if ((rc = aed_run_begin(db, "review-export",
				json_pack("{s:I, s:o, s:I}", "mine_run", (json_int_t)r->mine_run_id,
					  "out", aed_json_text(o->out_dir), "limit", (json_int_t)limit),
				&r->run_id)))
		goto out;
	run_open = 1;
	snprintf(file, sizeof file, "%s/media", o->out_dir);
	if ((rc = aed_outdir_begin(&od, files, n_files)) || (rc = aed_mkdir_p(file)))
		goto out;
	for (i = 0; i < n; i++)
		if ((rc = aed_review_export_one(db, &c[i], i, o->out_dir, bitrate, arr)))
			goto out;
	aed_utc_iso8601(now);
	root = json_pack("{s:s, s:i, s:s, s:s, s:s, s:O, s:O, s:O, s:O}",
			 "format", "aedcurate-review", "version", 1, "export_id", r->export_id,
			 "checksum", r->checksum, "created_at", now, "mine_run", mrun, "class", cls,
			 "candidates", arr, "ontology", onto);
	if ((rc = aed_review_write_page(o->out_dir, web, root)))
		goto out;
	/* media of an earlier, longer page go; files it did not write stay */
	if ((rc = aed_outdir_finish(&od, files, n_files)))
		goto out;
	rc = record_export(db, r, o->out_dir, c, n);
out:
	if (run_open)
		rc = end_export_run(db, r->run_id, rc, n);
	if (c)
		cands_release(c, n);
	aed_outdir_release(&od);
	free(files);
	free(files_buf);
	free(ids);
	json_decref(root);
	json_decref(cls);
	json_decref(arr);
	json_decref(onto);
	json_decref(mrun);
	return rc;
}

int aed_review_export_record(struct aed_db *db, int64_t mine_run_id, long limit,
			     const char *note, struct aed_review_export_result *r)
{
	sqlite3_stmt *st = NULL;
	struct cand *c = NULL;
	const char **ids = NULL;
	size_t n = 0;
	int rc, step, run_open = 0;

	memset(r, 0, sizeof *r);
	r->mine_run_id = mine_run_id;
	if ((rc = aed_db_prepare(db, "SELECT m.class_id, c.mid FROM mine_run m JOIN class c ON "
				 "c.id = m.class_id WHERE m.id = ?1", &st)))
		return rc;
	sqlite3_bind_int64(st, 1, mine_run_id);
	if ((step = sqlite3_step(st)) == SQLITE_ROW) {
		r->class_id = sqlite3_column_int64(st, 0);
		snprintf(r->mid, sizeof r->mid, "%s", col(st, 1));
	}
	sqlite3_finalize(st);
	st = NULL;
	if (step != SQLITE_ROW)
		return step == SQLITE_DONE ? aed_error(AED_ENOTFOUND, "no mine run %lld",
						       (long long)mine_run_id)
					   : aed_db_error(db, "reading the mine run");
	if (limit <= 0)
		limit = DEFAULT_LIMIT;
	if (!(c = calloc((size_t)limit, sizeof *c)) || !(ids = calloc((size_t)limit, sizeof *ids))) {
		rc = aed_error(AED_ENOMEM, "out of memory");
		goto out;
	}
	if ((rc = aed_db_prepare(db, "SELECT k.segment_id, s.key FROM candidate k JOIN segment s "
				 "ON s.id = k.segment_id WHERE k.mine_run_id = ?1 "
				 "ORDER BY k.rank, k.segment_id LIMIT ?2", &st)))
		goto out;
	sqlite3_bind_int64(st, 1, mine_run_id);
	sqlite3_bind_int64(st, 2, limit);
	while ((step = sqlite3_step(st)) == SQLITE_ROW) {
		c[n].segment_id = sqlite3_column_int64(st, 0);
		if (!(c[n].key = xstrdup(col(st, 1)))) {
			rc = aed_error(AED_ENOMEM, "out of memory");
			goto out;
		}
		ids[n] = c[n].key;
		n++;
	}
	if (step != SQLITE_DONE) {
		rc = aed_db_error(db, "reading candidates");
		goto out;
	}
	if (n == 0) {
		rc = aed_error(AED_ESTATE, "mine run %lld has no candidates", (long long)mine_run_id);
		goto out;
	}
	r->n_candidates = (int64_t)n;
	if ((rc = aed_review_checksum(r->mid, ids, n, r->checksum)) || (rc = random_hex(r->export_id)))
		goto out;
	if ((rc = aed_run_begin(db, "review-export",
				json_pack("{s:I, s:o, s:I}", "mine_run", (json_int_t)mine_run_id,
					  "record_only", aed_json_text(note ? note : ""), "limit",
					  (json_int_t)limit),
				&r->run_id)))
		goto out;
	run_open = 1;
	rc = record_export(db, r, note ? note : "", c, n);
out:
	sqlite3_finalize(st);
	if (run_open)
		rc = end_export_run(db, r->run_id, rc, n);
	if (c)
		cands_release(c, n);
	free(ids);
	return rc;
}
