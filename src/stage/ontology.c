/* ontology.c - the ontology stage: ontology.json and class_labels_indices.csv
 * read from a path or URL, parsed (src/format/ontology_json.c,
 * src/format/class_labels.c) and stored in one transaction as a new
 * ontology_version and a run: classes updated in place by mid, the edges,
 * closure and examples rebuilt. The first stage on a clip's way from a CSV
 * row to a shard; the look-ups later stages use are src/store/class.c.
 * Printing belongs to src/cmd/ontology.c. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <sqlite3.h>

#include "aedcurate/error.h"
#include "aedcurate/message.h"
#include "aedcurate/net.h"
#include "aedcurate/ontology.h"
#include "aedcurate/store.h"
#include "aedcurate/strmap.h"
#include "aedcurate/util.h"

/* Every label row must name a class of the ontology. */
static int check_labels(const struct aed_ontology *o, const struct aed_class_labels *l,
			const struct aed_strmap *ids, const char *labels_name)
{
	char msg[2048] = "";
	size_t i, j, n_bad = 0;

	for (i = 0; i < l->n; i++)
		if (!aed_strmap_get(ids, l->rows[i].mid, &j) && n_bad++ < AED_MSG_MAX_LISTED)
			aed_msg_add(msg, sizeof msg, "%s line %zu: %s", n_bad > 1 ? ";" : "",
				    l->rows[i].line, aed_msg_clip(l->rows[i].mid));
	(void)o;
	if (n_bad)
		return aed_error(AED_ENOTFOUND, "%s: %zu mid%s not in the ontology:%s%s",
				 labels_name ? labels_name : "labels", n_bad,
				 n_bad > 1 ? "s" : "", msg,
				 n_bad > AED_MSG_MAX_LISTED ? "; ..." : "");
	return AED_OK;
}

static int ids_map(const struct aed_ontology *o, struct aed_strmap *ids)
{
	size_t i, old;
	int rc = aed_strmap_init(ids, o->n_classes);

	for (i = 0; !rc && i < o->n_classes; i++)
		aed_strmap_put(ids, o->classes[i].mid, i, &old);
	return rc;
}

static int step_done(struct aed_db *db, sqlite3_stmt *st, const char *what)
{
	int r = sqlite3_step(st);

	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	if (r != SQLITE_DONE && r != SQLITE_ROW)
		return aed_db_error(db, what);
	return AED_OK;
}

/* Does the labels file change any class.label_index? wanted[i] is the index
 * for ontology class i or -1. Classes absent from the database count as a
 * change. */
static int labels_differ(struct aed_db *db, const struct aed_ontology *o,
			 const struct aed_strmap *ids, const long *wanted, int *differ)
{
	sqlite3_stmt *st = NULL;
	size_t seen = 0, j;
	int rc, r;

	*differ = 0;
	if ((rc = aed_db_prepare(db, "SELECT mid, label_index FROM class", &st)))
		return rc;
	while ((r = sqlite3_step(st)) == SQLITE_ROW) {
		const char *mid = (const char *)sqlite3_column_text(st, 0);
		long have = sqlite3_column_type(st, 1) == SQLITE_NULL ? -1
			    : (long)sqlite3_column_int64(st, 1);

		if (!mid || !aed_strmap_get(ids, mid, &j) || wanted[j] != have) {
			*differ = 1;
			break;
		}
		seen++;
	}
	if (r != SQLITE_ROW && r != SQLITE_DONE)
		rc = aed_db_error(db, "reading class labels");
	else if (!*differ && seen != o->n_classes)
		*differ = 1;
	sqlite3_finalize(st);
	return rc;
}

/* Latest ontology_version: id and sha256 (0 and "" if none). */
static int latest_version(struct aed_db *db, int64_t *id, char sha[65])
{
	sqlite3_stmt *st = NULL;
	int rc, r;

	*id = 0;
	sha[0] = '\0';
	if ((rc = aed_db_prepare(db, "SELECT id, sha256 FROM ontology_version "
				 "ORDER BY id DESC LIMIT 1", &st)))
		return rc;
	r = sqlite3_step(st);
	if (r == SQLITE_ROW) {
		*id = sqlite3_column_int64(st, 0);
		snprintf(sha, 65, "%s", (const char *)sqlite3_column_text(st, 1));
	} else if (r != SQLITE_DONE) {
		rc = aed_db_error(db, "reading ontology_version");
	}
	sqlite3_finalize(st);
	return rc;
}

/* Classes in the database that the new file lacks: delete them, unless
 * labels reference them (then refuse, naming them). */
static int remove_missing(struct aed_db *db, const struct aed_strmap *ids, const char *source,
			  size_t *n_removed)
{
	sqlite3_stmt *st = NULL, *del = NULL;
	char msg[2048] = "";
	size_t j, n_ref = 0;
	int64_t *gone = NULL;
	size_t n_gone = 0, cap = 0, k;
	int rc, r;

	*n_removed = 0;
	if ((rc = aed_db_prepare(db, "SELECT c.id, c.mid, c.name, "
				 "(SELECT count(*) FROM label WHERE class_id = c.id) + "
				 "(SELECT count(*) FROM strong_label WHERE class_id = c.id) "
				 "FROM class c ORDER BY c.id", &st)))
		goto out;
	while ((r = sqlite3_step(st)) == SQLITE_ROW) {
		const char *mid = (const char *)sqlite3_column_text(st, 1);
		int64_t refs = sqlite3_column_int64(st, 3);

		if (mid && aed_strmap_get(ids, mid, &j))
			continue;
		if (refs > 0) {
			if (n_ref++ < AED_MSG_MAX_LISTED)
				aed_msg_add(msg, sizeof msg, "%s %s \"%s\" (%lld labels)",
					    n_ref > 1 ? ";" : "", aed_msg_clip(mid ? mid : ""),
					    aed_msg_clip((const char *)sqlite3_column_text(st, 2)),
					    (long long)refs);
			continue;
		}
		if (n_gone == cap) {
			void *p = realloc(gone, (cap = cap ? 2 * cap : 64) * sizeof *gone);

			if (!p) {
				rc = aed_error(AED_ENOMEM, "out of memory");
				goto out;
			}
			gone = p;
		}
		gone[n_gone++] = sqlite3_column_int64(st, 0);
	}
	if (r != SQLITE_DONE) {
		rc = aed_db_error(db, "reading classes");
		goto out;
	}
	if (n_ref) {
		rc = aed_error(AED_ESTATE, "%s: refusing the update: %zu class%s missing from "
			       "the new ontology %s still labelled:%s%s", source, n_ref,
			       n_ref > 1 ? "es" : "", n_ref > 1 ? "are" : "is", msg,
			       n_ref > AED_MSG_MAX_LISTED ? "; ..." : "");
		goto out;
	}
	/* edges, closure and examples are rebuilt afterwards; only the class rows go here */
	if ((rc = aed_db_prepare(db, "DELETE FROM class WHERE id = ?1", &del)))
		goto out;
	for (k = 0; k < n_gone; k++) {
		sqlite3_bind_int64(del, 1, gone[k]);
		if ((rc = step_done(db, del, "deleting a class")))
			goto out;
	}
	*n_removed = n_gone;
out:
	sqlite3_finalize(st);
	sqlite3_finalize(del);
	free(gone);
	return rc;
}

static int text_eq(sqlite3_stmt *st, int col, const char *s)
{
	const char *t = (const char *)sqlite3_column_text(st, col);

	return t && strcmp(t, s) == 0;
}

/* Insert or update every class by mid; class_id[i] receives the row id. */
static int upsert_classes(struct aed_db *db, const struct aed_ontology *o, int64_t version_id,
			  int64_t *class_id, struct aed_ontology_ingest_result *res)
{
	sqlite3_stmt *get = NULL, *upd = NULL, *ins = NULL;
	size_t i;
	int rc;

	if ((rc = aed_db_prepare(db, "SELECT id, name, description, citation_uri, "
				 "is_abstract, is_blacklist FROM class WHERE mid = ?1", &get)) ||
	    (rc = aed_db_prepare(db, "UPDATE class SET name = ?2, description = ?3, "
				 "citation_uri = ?4, is_abstract = ?5, is_blacklist = ?6, "
				 "version_id = ?7 WHERE id = ?1", &upd)) ||
	    (rc = aed_db_prepare(db, "INSERT INTO class (mid, name, description, "
				 "citation_uri, is_abstract, is_blacklist, version_id) "
				 "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)", &ins)))
		goto out;
	for (i = 0; i < o->n_classes; i++) {
		const struct aed_onto_class *c = &o->classes[i];
		sqlite3_stmt *w;
		int r;

		sqlite3_bind_text(get, 1, c->mid, -1, SQLITE_STATIC);
		r = sqlite3_step(get);
		if (r == SQLITE_ROW) {
			class_id[i] = sqlite3_column_int64(get, 0);
			if (text_eq(get, 1, c->name) && text_eq(get, 2, c->description) &&
			    text_eq(get, 3, c->citation_uri) &&
			    sqlite3_column_int(get, 4) == c->is_abstract &&
			    sqlite3_column_int(get, 5) == c->is_blacklist) {
				res->n_same++;
				sqlite3_reset(get);
				continue;
			}
			w = upd;
			sqlite3_bind_int64(w, 1, class_id[i]);
			res->n_updated++;
		} else if (r == SQLITE_DONE) {
			w = ins;
			sqlite3_bind_text(w, 1, c->mid, -1, SQLITE_STATIC);
			res->n_added++;
		} else {
			rc = aed_db_error(db, "looking up a class");
			goto out;
		}
		sqlite3_reset(get);
		sqlite3_bind_text(w, 2, c->name, -1, SQLITE_STATIC);
		sqlite3_bind_text(w, 3, c->description, -1, SQLITE_STATIC);
		sqlite3_bind_text(w, 4, c->citation_uri, -1, SQLITE_STATIC);
		sqlite3_bind_int(w, 5, c->is_abstract);
		sqlite3_bind_int(w, 6, c->is_blacklist);
		sqlite3_bind_int64(w, 7, version_id);
		if ((rc = step_done(db, w, "storing a class")))
			goto out;
		if (w == ins)
			class_id[i] = sqlite3_last_insert_rowid(aed_db_sqlite(db));
	}
out:
	sqlite3_finalize(get);
	sqlite3_finalize(upd);
	sqlite3_finalize(ins);
	return rc;
}

/* Rebuild class_edge, class_closure and class_example from the file. */
static int rebuild_graph(struct aed_db *db, const struct aed_ontology *o,
			 const int64_t *class_id)
{
	sqlite3_stmt *edge = NULL, *clo = NULL, *ex = NULL;
	size_t n = o->n_classes, i, k, m;
	size_t *mark = calloc(n, sizeof *mark), *idx = malloc(n * sizeof *idx);
	int *depth = malloc(n * sizeof *depth);
	int rc;

	if (!mark || !idx || !depth) {
		rc = aed_error(AED_ENOMEM, "out of memory");
		goto out;
	}
	/* The closure holds a row per (ancestor, descendant): n(n+1)/2 for a chain
	 * n deep (4.5 million for 3,000), whatever computes it. Storing them is
	 * what costs; the index on descendant_id is dropped and built again
	 * after (one sort) rather than updated row by row in random order. */
	if ((rc = aed_db_exec(db, "DELETE FROM class_edge; DELETE FROM class_closure; "
			      "DELETE FROM class_example; "
			      "DROP INDEX IF EXISTS class_closure_desc;")) ||
	    (rc = aed_db_prepare(db, "INSERT INTO class_edge (parent_id, child_id, ord) "
				 "VALUES (?1, ?2, ?3)", &edge)) ||
	    (rc = aed_db_prepare(db, "INSERT INTO class_closure (ancestor_id, descendant_id, "
				 "depth) VALUES (?1, ?2, ?3)", &clo)) ||
	    (rc = aed_db_prepare(db, "INSERT OR IGNORE INTO class_example (class_id, ytid, "
				 "start_ms, end_ms) VALUES (?1, ?2, ?3, ?4)", &ex)))
		goto out;
	for (i = 0; i < n; i++) {
		const struct aed_onto_class *c = &o->classes[i];

		for (k = 0; k < c->n_children; k++) {
			sqlite3_bind_int64(edge, 1, class_id[i]);
			sqlite3_bind_int64(edge, 2, class_id[c->children[k]]);
			sqlite3_bind_int64(edge, 3, (int64_t)k);
			if ((rc = step_done(db, edge, "storing an edge")))
				goto out;
		}
		m = aed_ontology_walk(o, i, mark, i + 1, idx, depth);
		for (k = 0; k < m; k++) {
			sqlite3_bind_int64(clo, 1, class_id[i]);
			sqlite3_bind_int64(clo, 2, class_id[idx[k]]);
			sqlite3_bind_int(clo, 3, depth[k]);
			if ((rc = step_done(db, clo, "storing the closure")))
				goto out;
		}
		for (k = 0; k < c->n_examples; k++) {
			sqlite3_bind_int64(ex, 1, class_id[i]);
			sqlite3_bind_text(ex, 2, c->examples[k].ytid, -1, SQLITE_STATIC);
			sqlite3_bind_int64(ex, 3, c->examples[k].start_ms);
			sqlite3_bind_int64(ex, 4, c->examples[k].end_ms);
			if ((rc = step_done(db, ex, "storing an example")))
				goto out;
		}
	}
	/* as sql/0001_init.sql creates it */
	rc = aed_db_exec(db, "CREATE INDEX class_closure_desc ON class_closure(descendant_id)");
out:
	sqlite3_finalize(edge);
	sqlite3_finalize(clo);
	sqlite3_finalize(ex);
	free(mark);
	free(idx);
	free(depth);
	return rc;
}

static int store_labels(struct aed_db *db, const struct aed_class_labels *l)
{
	sqlite3_stmt *st = NULL;
	size_t i;
	int rc;

	if ((rc = aed_db_exec(db, "UPDATE class SET label_index = NULL "
			      "WHERE label_index IS NOT NULL")) ||
	    (rc = aed_db_prepare(db, "UPDATE class SET label_index = ?1 WHERE mid = ?2", &st)))
		goto out;
	for (i = 0; i < l->n; i++) {
		sqlite3_bind_int64(st, 1, l->rows[i].index);
		sqlite3_bind_text(st, 2, l->rows[i].mid, -1, SQLITE_STATIC);
		if ((rc = step_done(db, st, "storing a label index")))
			goto out;
	}
out:
	sqlite3_finalize(st);
	return rc;
}

static void fill_counts(const struct aed_ontology *o, struct aed_ontology_ingest_result *res)
{
	res->n_classes = o->n_classes;
	res->n_abstract = o->n_abstract;
	res->n_blacklist = o->n_blacklist;
	res->n_edges = o->n_edges;
	res->n_examples = o->n_examples;
	res->n_closure = o->n_closure;
	res->n_unknown_keys = o->n_unknown_keys;
	memcpy(res->first_unknown_key, o->first_unknown_key, sizeof res->first_unknown_key);
	memcpy(res->sha256, o->sha256, sizeof res->sha256);
}

/* What an ingest would write: *unchanged when the bytes equal the latest
 * version's, *labels_change when a labels file changes some label_index. */
static int plan(struct aed_db *db, const struct aed_ontology *o,
		const struct aed_class_labels *l, const struct aed_strmap *ids,
		int64_t *latest_id, int *unchanged, int *labels_change)
{
	char sha[65];
	long *wanted = NULL;
	size_t i, j;
	int rc;

	*unchanged = 0;
	*labels_change = 0;
	if ((rc = latest_version(db, latest_id, sha)))
		return rc;
	*unchanged = *latest_id && strcmp(sha, o->sha256) == 0;
	if (!l)
		return AED_OK;
	if (!(wanted = malloc(o->n_classes * sizeof *wanted)))
		return aed_error(AED_ENOMEM, "out of memory");
	for (i = 0; i < o->n_classes; i++)
		wanted[i] = -1;
	for (i = 0; i < l->n; i++)
		if (aed_strmap_get(ids, l->rows[i].mid, &j))
			wanted[j] = l->rows[i].index;
	rc = labels_differ(db, o, ids, wanted, labels_change);
	free(wanted);
	return rc;
}

int aed_ontology_store(struct aed_db *db, const struct aed_ontology *o,
		       const struct aed_class_labels *labels, const char *source,
		       struct aed_ontology_ingest_result *res)
{
	struct aed_strmap ids = {0};
	sqlite3_stmt *st = NULL;
	int64_t *class_id = NULL, latest = 0;
	int unchanged, labels_change, in_tx = 0, rc;
	char now[32];

	memset(res, 0, sizeof *res);
	fill_counts(o, res);
	if ((rc = ids_map(o, &ids)) ||
	    (labels && (rc = check_labels(o, labels, &ids, NULL))) ||
	    (rc = plan(db, o, labels, &ids, &latest, &unchanged, &labels_change)))
		goto out;
	res->n_labels = labels ? labels->n : 0;
	res->version_id = latest;
	if (unchanged && !labels_change) {
		res->unchanged = 1;
		res->n_same = o->n_classes;
		goto out;
	}
	if (!(class_id = calloc(o->n_classes, sizeof *class_id))) {
		rc = aed_error(AED_ENOMEM, "out of memory");
		goto out;
	}
	if ((rc = aed_db_begin(db)))
		goto out;
	in_tx = 1;
	if (!unchanged) {
		aed_utc_iso8601(now);
		if ((rc = aed_db_prepare(db, "INSERT INTO ontology_version (source, sha256, "
					 "n_classes, ingested_at) VALUES (?1, ?2, ?3, ?4)", &st)))
			goto out;
		sqlite3_bind_text(st, 1, source ? source : "", -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 2, o->sha256, -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 3, (int64_t)o->n_classes);
		sqlite3_bind_text(st, 4, now, -1, SQLITE_STATIC);
		if ((rc = step_done(db, st, "recording the ontology version")))
			goto out;
		res->version_id = sqlite3_last_insert_rowid(aed_db_sqlite(db));
		if ((rc = remove_missing(db, &ids, source ? source : "ontology", &res->n_removed)) ||
		    (rc = upsert_classes(db, o, res->version_id, class_id, res)) ||
		    (rc = rebuild_graph(db, o, class_id)))
			goto out;
	} else {
		res->unchanged = 1;
		res->n_same = o->n_classes;
	}
	if (labels && (rc = store_labels(db, labels)))
		goto out;
	res->labels_changed = labels_change;
	if ((rc = aed_db_commit(db)))
		goto out;
	in_tx = 0;
out:
	if (in_tx)
		aed_db_rollback(db);
	sqlite3_finalize(st);
	aed_strmap_release(&ids);
	free(class_id);
	return rc;
}

static int read_source(const char *source, const struct aed_ontology_ingest_opts *opts,
		       size_t max_bytes, char **data, size_t *n)
{
	struct aed_source_opts so = {0};

	so.max_bytes = max_bytes;
	if (opts->timeout_s > 0) {
		so.timeout_s = opts->timeout_s;
		so.connect_timeout_s = opts->timeout_s < 15 ? opts->timeout_s : 15;
		so.low_speed_s = opts->timeout_s < 30 ? opts->timeout_s : 30;
	}
	return aed_source_read(source, &so, data, n);
}

int aed_ontology_ingest(struct aed_db *db, const struct aed_ontology_ingest_opts *opts,
			struct aed_ontology_ingest_result *res)
{
	const char *source = opts->source ? opts->source : AED_ONTOLOGY_URL;
	struct aed_ontology *o = NULL;
	struct aed_class_labels *labels = NULL;
	struct aed_strmap ids = {0};
	char *data = NULL, *ldata = NULL, note[256];
	size_t n = 0, ln = 0;
	int64_t run_id = 0, latest;
	int unchanged, labels_change, rc;

	memset(res, 0, sizeof *res);
	if ((rc = read_source(source, opts, AED_ONTO_MAX_SOURCE, &data, &n)) ||
	    (rc = aed_ontology_parse(data, n, source, &o)))
		goto out;
	if (opts->labels &&
	    ((rc = read_source(opts->labels, opts, AED_LABELS_MAX_SOURCE, &ldata, &ln)) ||
	     (rc = aed_class_labels_parse(ldata, ln, opts->labels, &labels))))
		goto out;
	if ((rc = ids_map(o, &ids)) ||
	    (labels && (rc = check_labels(o, labels, &ids, opts->labels))) ||
	    (rc = plan(db, o, labels, &ids, &latest, &unchanged, &labels_change)))
		goto out;
	if (unchanged && !labels_change) {
		/* nothing to write: not even a run */
		fill_counts(o, res);
		res->unchanged = 1;
		res->version_id = latest;
		res->n_same = o->n_classes;
		res->n_labels = labels ? labels->n : 0;
		goto out;
	}

	if ((rc = aed_run_begin(db, "ontology", json_pack("{s:o, s:o}", "source",
							  aed_json_text(source), "labels",
							  aed_json_text(opts->labels)), &run_id)))
		goto out;
	if ((rc = aed_ontology_store(db, o, labels, source, res))) {
		aed_run_fail(db, run_id, rc, 0, 1);
		goto out;
	}
	res->run_id = run_id;
	snprintf(note, sizeof note, "%zu classes: %zu added, %zu updated, %zu removed%s",
		 res->n_classes, res->n_added, res->n_updated, res->n_removed,
		 res->labels_changed ? "; label indexes set" : "");
	rc = aed_run_end(db, run_id, AED_RUN_OK, (int64_t)res->n_classes, 0, note);
out:
	aed_strmap_release(&ids);
	free(data);
	free(ldata);
	aed_ontology_free(&o);
	aed_class_labels_free(&labels);
	return rc;
}
