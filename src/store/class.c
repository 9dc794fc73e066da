/* class.c - the classes of the stored ontology looked up (contract in
 * include/aedcurate/class.h): what a user typed resolved to one class, a mid
 * to an id and back, a class's descendants and ancestors from class_closure.
 * Every stage that takes a class calls these, on its way from a CSV row to a
 * shard; the ontology stage (src/stage/ontology.c) fills the tables. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#include "aedcurate/class.h"
#include "aedcurate/error.h"
#include "aedcurate/message.h"
#include "aedcurate/ontology_file.h"
#include "aedcurate/store.h"

int aed_class_id_by_mid(struct aed_db *db, const char *mid, int64_t *class_id)
{
	sqlite3_stmt *st = NULL;
	int rc, r;

	if ((rc = aed_db_prepare(db, "SELECT id FROM class WHERE mid = ?1", &st)))
		return rc;
	sqlite3_bind_text(st, 1, mid, -1, SQLITE_STATIC);
	r = sqlite3_step(st);
	if (r == SQLITE_ROW)
		*class_id = sqlite3_column_int64(st, 0);
	else if (r == SQLITE_DONE)
		rc = aed_error(AED_ENOTFOUND, "no class with mid %s", aed_msg_clip(mid));
	else
		rc = aed_db_error(db, "looking up a mid");
	sqlite3_finalize(st);
	return rc;
}

int aed_class_mid_name(struct aed_db *db, int64_t class_id, char **mid, char **name)
{
	sqlite3_stmt *st = NULL;
	int rc, r;

	if (mid)
		*mid = NULL;
	if (name)
		*name = NULL;
	if ((rc = aed_db_prepare(db, "SELECT mid, name FROM class WHERE id = ?1", &st)))
		return rc;
	sqlite3_bind_int64(st, 1, class_id);
	r = sqlite3_step(st);
	if (r == SQLITE_ROW) {
		if (mid && !(*mid = strdup((const char *)sqlite3_column_text(st, 0))))
			rc = aed_error(AED_ENOMEM, "out of memory");
		if (!rc && name && !(*name = strdup((const char *)sqlite3_column_text(st, 1))))
			rc = aed_error(AED_ENOMEM, "out of memory");
	} else if (r == SQLITE_DONE) {
		rc = aed_error(AED_ENOTFOUND, "no class with id %lld", (long long)class_id);
	} else {
		rc = aed_db_error(db, "looking up a class");
	}
	if (rc && mid) {
		free(*mid);
		*mid = NULL;
	}
	sqlite3_finalize(st);
	return rc;
}

/* Run a query binding ?1 = text; count rows, keep the first id, list up to
 * AED_MSG_MAX_LISTED candidates as "\n  mid  name" in msg. */
static int candidates(struct aed_db *db, const char *sql, const char *text, int64_t *first,
		      size_t *count, char *msg, size_t cap)
{
	sqlite3_stmt *st = NULL;
	int rc, r;

	*count = 0;
	if ((rc = aed_db_prepare(db, sql, &st)))
		return rc;
	sqlite3_bind_text(st, 1, text, -1, SQLITE_TRANSIENT);
	while ((r = sqlite3_step(st)) == SQLITE_ROW) {
		if (*count == 0)
			*first = sqlite3_column_int64(st, 0);
		if (++*count <= AED_MSG_MAX_LISTED)
			aed_msg_add(msg, cap, "\n  %s  %s",
				    (const char *)sqlite3_column_text(st, 1),
				    aed_msg_clip((const char *)sqlite3_column_text(st, 2)));
	}
	if (r != SQLITE_DONE)
		rc = aed_db_error(db, "resolving a class");
	sqlite3_finalize(st);
	return rc;
}

/* The one resolver of every command's class argument (--class, ontology
 * show/tree): a user may paste a mid from a CSV row (", /m/01b_21"), type
 * a name in any case, or a part of a long name; all of them must reach the
 * same class whichever command they are given to. */
int aed_class_resolve(struct aed_db *db, const char *text, int64_t *class_id)
{
	static const char *const queries[] = {
		"SELECT id, mid, name FROM class WHERE mid = ?1",
		"SELECT id, mid, name FROM class WHERE mid = ?1 COLLATE NOCASE ORDER BY id",
		"SELECT id, mid, name FROM class WHERE name = ?1 COLLATE NOCASE ORDER BY id",
		("SELECT id, mid, name FROM class WHERE instr(lower(name), lower(?1)) > 0 "
		 "ORDER BY name COLLATE NOCASE, id"),
	};
	char msg[2048], want[AED_ONTO_MAX_NAME + 1];
	size_t q, count, len;
	int64_t first = 0, n_classes = 0;
	int rc;

	/* Surrounding blanks are never part of a mid or name. */
	while (text && (*text == ' ' || *text == '\t'))
		text++;
	len = text ? strlen(text) : 0;
	while (len && (text[len - 1] == ' ' || text[len - 1] == '\t' || text[len - 1] == '\n' ||
		       text[len - 1] == '\r'))
		len--;
	if (!len)
		return aed_error(AED_EUSAGE, "an empty class: give its name or its mid");
	if (len > AED_ONTO_MAX_NAME)
		return aed_error(AED_ENOTFOUND, "no class matches \"%s\": longer than any name or "
				 "mid", aed_msg_clip(text));
	memcpy(want, text, len);
	want[len] = '\0';
	if ((rc = aed_db_int(db, "SELECT count(*) FROM class", &n_classes)))
		return rc;
	if (n_classes == 0)
		return aed_error(AED_ESTATE, "no ontology in %s: run `aedcurate ontology "
				 "ingest` first", aed_db_path(db));
	for (q = 0; q < sizeof queries / sizeof *queries; q++) {
		msg[0] = '\0';
		if ((rc = candidates(db, queries[q], want, &first, &count, msg, sizeof msg)))
			return rc;
		if (count == 1) {
			*class_id = first;
			return AED_OK;
		}
		if (count > 1) {
			if (count > AED_MSG_MAX_LISTED)
				aed_msg_add(msg, sizeof msg, "\n  ... and %zu more",
					    count - AED_MSG_MAX_LISTED);
			return aed_error(AED_ENOTFOUND, "class \"%s\" is ambiguous: %zu classes "
					 "match; give a mid or a whole name:%s", aed_msg_clip(want),
					 count, msg);
		}
	}
	return aed_error(AED_ENOTFOUND, "no class matches \"%s\" by mid or name (any case); "
			 "look for it with `aedcurate ontology search WORD`", aed_msg_clip(want));
}

static int id_list(struct aed_db *db, const char *sql, int64_t class_id, int64_t **ids,
		   size_t *n)
{
	sqlite3_stmt *st = NULL;
	size_t cap = 0;
	int rc, r;

	*ids = NULL;
	*n = 0;
	if ((rc = aed_db_prepare(db, sql, &st)))
		return rc;
	sqlite3_bind_int64(st, 1, class_id);
	while ((r = sqlite3_step(st)) == SQLITE_ROW) {
		if (*n == cap) {
			void *p = realloc(*ids, (cap = cap ? 2 * cap : 16) * sizeof **ids);

			if (!p) {
				rc = aed_error(AED_ENOMEM, "out of memory");
				break;
			}
			*ids = p;
		}
		(*ids)[(*n)++] = sqlite3_column_int64(st, 0);
	}
	if (!rc && r != SQLITE_DONE)
		rc = aed_db_error(db, "reading the class closure");
	if (!rc && *n == 0)
		rc = aed_error(AED_ENOTFOUND, "class id %lld has no closure rows (not ingested?)",
			       (long long)class_id);
	if (rc) {
		free(*ids);
		*ids = NULL;
		*n = 0;
	}
	sqlite3_finalize(st);
	return rc;
}

int aed_class_descendants(struct aed_db *db, int64_t class_id, int64_t **ids, size_t *n)
{
	return id_list(db, "SELECT descendant_id FROM class_closure WHERE ancestor_id = ?1 "
		       "ORDER BY depth, descendant_id", class_id, ids, n);
}

int aed_class_ancestors(struct aed_db *db, int64_t class_id, int64_t **ids, size_t *n)
{
	return id_list(db, "SELECT ancestor_id FROM class_closure WHERE descendant_id = ?1 "
		       "ORDER BY depth, ancestor_id", class_id, ids, n);
}
