/* examples.c - the ontology's positive examples as a segment list: the
 * class_example rows of the chosen classes are written out as an AudioSet
 * segment CSV in memory and ingested by the segment-list stage, so they get
 * their own split for `fetch` and become `mine`'s exemplars once embedded.
 * Not a second parser: every row goes through the segments stage's checks. */
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#include "aedcurate/error.h"
#include "aedcurate/class.h"
#include "aedcurate/segments.h"
#include "aedcurate/store.h"
#include "aedcurate/util.h"

#define EXAMPLES_SOURCE "ontology:positive_examples"

/* One CSV row per example (ytid, start), labelled with every chosen class
 * that lists it: the same example under two classes is one segment, and a
 * segment list may not name a segment twice. */
static int examples_csv(struct aed_db *db, const int64_t *ids, size_t n, struct aed_buf *b,
			size_t *rows)
{
	sqlite3_stmt *st = NULL;
	int rc, step = SQLITE_DONE;

	*rows = 0;
	/* ids go in a temp table: a list of any length, no SQL built from it */
	if ((rc = aed_db_exec(db, "CREATE TEMP TABLE IF NOT EXISTS examples_class(id INTEGER "
			      "PRIMARY KEY); DELETE FROM examples_class")))
		return rc;
	if ((rc = aed_db_prepare(db, "INSERT OR IGNORE INTO examples_class(id) VALUES(?1)", &st)))
		return rc;
	for (size_t i = 0; i < n && !rc; i++) {
		sqlite3_bind_int64(st, 1, ids[i]);
		if (sqlite3_step(st) != SQLITE_DONE)
			rc = aed_db_error(db, "choosing classes");
		sqlite3_reset(st);
	}
	sqlite3_finalize(st);
	st = NULL;
	if (rc)
		return rc;
	rc = aed_db_prepare(db,
		"SELECT e.ytid, e.start_ms, max(e.end_ms), group_concat(c.mid, ',') FROM "
		"(SELECT * FROM class_example ORDER BY class_id) e JOIN class c ON c.id = e.class_id "
		"WHERE (?1 OR e.class_id IN (SELECT id FROM examples_class)) "
		/* ytids are letters, digits, '_' and '-' (ontology ingest checks);
		 * a mid that could break the row is left out */
		"AND instr(c.mid, '\"') = 0 AND instr(c.mid, ',') = 0 AND instr(c.mid, char(10)) = 0 "
		"AND instr(c.mid, char(13)) = 0 "
		"GROUP BY e.ytid, e.start_ms ORDER BY e.ytid, e.start_ms", &st);
	if (rc)
		return rc;
	sqlite3_bind_int(st, 1, n == 0);
	rc = aed_buf_printf(b, "# " EXAMPLES_SOURCE "\n# YTID, start_seconds, end_seconds, "
			    "positive_labels\n");
	while (!rc && (step = sqlite3_step(st)) == SQLITE_ROW) {
		int64_t s = sqlite3_column_int64(st, 1), e = sqlite3_column_int64(st, 2);

		rc = aed_buf_printf(b, "%s, %lld.%03lld, %lld.%03lld, \"%s\"\n",
				    (const char *)sqlite3_column_text(st, 0), (long long)(s / 1000),
				    (long long)(s % 1000), (long long)(e / 1000), (long long)(e % 1000),
				    (const char *)sqlite3_column_text(st, 3));
		++*rows;
	}
	if (!rc && step != SQLITE_DONE)
		rc = aed_db_error(db, "reading the ontology's examples");
	sqlite3_finalize(st);
	aed_db_exec(db, "DROP TABLE IF EXISTS temp.examples_class");
	return rc;
}

int aed_segments_ingest_examples(struct aed_db *db, const char *const *classes,
				 size_t n_classes, const struct aed_segments_opts *opts,
				 struct aed_segments_result *r)
{
	struct aed_segments_opts o = *opts;
	struct aed_buf csv = { 0 };
	int64_t *ids = NULL, n_onto = 0;
	size_t rows = 0;
	int rc;

	memset(r, 0, sizeof *r);
	if ((rc = aed_db_int(db, "SELECT count(*) FROM class", &n_onto)))
		return rc;
	if (!n_onto)
		return aed_error(AED_ESTATE, "no ontology yet: run aedcurate ontology ingest first");
	if (n_classes && !(ids = calloc(n_classes, sizeof *ids)))
		return aed_error(AED_ENOMEM, "out of memory");
	for (size_t i = 0; i < n_classes; i++)
		if ((rc = aed_class_resolve(db, classes[i], &ids[i])))
			goto out;
	if ((rc = examples_csv(db, ids, n_classes, &csv, &rows)))
		goto out;
	if (!rows) {
		rc = aed_error(AED_ENOTFOUND, "the ontology lists no positive example for %s",
			       n_classes == 1 ? classes[0] : n_classes ? "these classes" : "any class");
		goto out;
	}
	o.source = EXAMPLES_SOURCE;
	o.data = csv.data;
	o.data_len = csv.len;
	o.format = AED_SEG_CSV;
	o.columns = NULL;
	o.cut = 0;
	o.ontology_examples = 1;
	if (!o.split)
		o.split = AED_EXAMPLES_SPLIT;
	rc = aed_segments_ingest(db, &o, r);
out:
	aed_buf_release(&csv);
	free(ids);
	return rc;
}
