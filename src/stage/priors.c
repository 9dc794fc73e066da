/* priors.c - the priors stage: each class's prior (the fraction of labelled
 * segments carrying it or a descendant) and the weight of its positive
 * examples, w_c = (mean prior / prior_c)^beta; stored in class_prior and
 * written as priors.csv / priors.json. */
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "aedcurate/error.h"
#include "aedcurate/message.h"
#include "aedcurate/refine.h"
#include "aedcurate/store.h"
#include "aedcurate/util.h"

void aed_prior_weights(const double *prior, size_t n, double beta, double *weight,
		       double *mean)
{
	double sum = 0;
	size_t nz = 0;

	for (size_t i = 0; i < n; i++)
		if (prior[i] > 0) {
			sum += prior[i];
			nz++;
		}
	double m = nz ? sum / (double)nz : 0;
	for (size_t i = 0; i < n; i++)
		weight[i] = prior[i] > 0 ? pow(m / prior[i], beta) : 0;
	if (mean)
		*mean = m;
}

static void copy_text(char *dst, size_t cap, const unsigned char *s)
{
	snprintf(dst, cap, "%s", s ? (const char *)s : "");
}

/* Split restriction shared by the counting queries (?1 = split name). */
#define SPLIT_JOIN " JOIN segment_split ss ON ss.segment_id = l.segment_id " \
		   "JOIN split sp ON sp.id = ss.split_id AND sp.name = ?1 "

/* The segments counted (labelled, in o->split if given) and every class
 * with a label index or a positive, with its positives and prior. */
static int count_priors(struct aed_db *db, const struct aed_priors_opts *o,
			struct aed_priors_result *r)
{
	sqlite3_stmt *st = NULL;
	size_t cap = 0;
	int rc = AED_OK, s;
	char sql[1024];

	snprintf(sql, sizeof sql, "SELECT count(DISTINCT l.segment_id) FROM label l %s",
		 o->split ? SPLIT_JOIN : "");
	if ((rc = aed_db_prepare(db, sql, &st)))
		goto out;
	if (o->split)
		sqlite3_bind_text(st, 1, o->split, -1, SQLITE_STATIC);
	if (sqlite3_step(st) == SQLITE_ROW)
		r->n_total = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	st = NULL;
	if (!r->n_total) {
		rc = aed_error(AED_ESTATE, "priors: no labelled segments%s%s%s",
			       o->split ? " in split '" : "", o->split ? o->split : "",
			       o->split ? "'" : "");
		goto out;
	}
	/* Every class with a label index or a positive; positives counted once
	 * per segment through the closure (a Toothbrush segment counts for
	 * Toothbrush only; an Electric toothbrush one for both). */
	snprintf(sql, sizeof sql,
		 "WITH segs AS (SELECT DISTINCT l.segment_id, l.class_id FROM label l %s), "
		 "pos AS (SELECT cc.ancestor_id AS class_id, count(DISTINCT s.segment_id) AS n "
		 "FROM segs s JOIN class_closure cc ON cc.descendant_id = s.class_id "
		 "GROUP BY cc.ancestor_id) "
		 "SELECT c.id, c.label_index, c.mid, c.name, coalesce(p.n, 0) FROM class c "
		 "LEFT JOIN pos p ON p.class_id = c.id "
		 "WHERE c.label_index IS NOT NULL OR p.n > 0 "
		 "ORDER BY c.label_index IS NULL, c.label_index, c.mid",
		 o->split ? SPLIT_JOIN : "");
	if ((rc = aed_db_prepare(db, sql, &st)))
		goto out;
	if (o->split)
		sqlite3_bind_text(st, 1, o->split, -1, SQLITE_STATIC);
	while ((s = sqlite3_step(st)) == SQLITE_ROW) {
		if (r->n_classes == cap) {
			size_t nc = cap ? cap * 2 : 1024;
			void *p = realloc(r->classes, nc * sizeof *r->classes);
			if (!p) {
				rc = aed_error(AED_ENOMEM, "out of memory");
				goto out;
			}
			r->classes = p;
			cap = nc;
		}
		struct aed_class_prior *c = &r->classes[r->n_classes++];
		memset(c, 0, sizeof *c);
		c->class_id = sqlite3_column_int64(st, 0);
		c->label_index = sqlite3_column_type(st, 1) == SQLITE_NULL ? -1 :
				 (long)sqlite3_column_int64(st, 1);
		copy_text(c->mid, sizeof c->mid, sqlite3_column_text(st, 2));
		copy_text(c->name, sizeof c->name, sqlite3_column_text(st, 3));
		c->n_pos = sqlite3_column_int64(st, 4);
		c->prior = (double)c->n_pos / (double)r->n_total;
	}
	if (s != SQLITE_DONE) {
		rc = aed_db_error(db, "counting class priors");
		goto out;
	}
	sqlite3_finalize(st);
	st = NULL;
out:
	sqlite3_finalize(st);
	return rc;
}

/* Inside the caller's transaction: class_prior holds this run's rows only. */
static int store_priors(struct aed_db *db, const struct aed_priors_opts *o,
			const struct aed_priors_result *r)
{
	sqlite3_stmt *st = NULL;
	int rc;

	if ((rc = aed_db_exec(db, "DELETE FROM class_prior")) ||
	    (rc = aed_db_prepare(db, "INSERT INTO class_prior(class_id, run_id, n_pos, n_total, "
				 "prior, weight, beta) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)", &st)))
		goto out;
	for (size_t i = 0; i < r->n_classes; i++) {
		const struct aed_class_prior *c = &r->classes[i];
		sqlite3_bind_int64(st, 1, c->class_id);
		sqlite3_bind_int64(st, 2, r->run_id);
		sqlite3_bind_int64(st, 3, c->n_pos);
		sqlite3_bind_int64(st, 4, r->n_total);
		sqlite3_bind_double(st, 5, c->prior);
		sqlite3_bind_double(st, 6, c->weight);
		sqlite3_bind_double(st, 7, o->beta);
		if (sqlite3_step(st) != SQLITE_DONE) {
			rc = aed_db_error(db, "storing class priors");
			goto out;
		}
		sqlite3_reset(st);
	}
	sqlite3_finalize(st);
	st = NULL;
	rc = AED_OK;
out:
	sqlite3_finalize(st);
	return rc;
}

int aed_priors(struct aed_db *db, const struct aed_priors_opts *o, struct aed_priors_result *r)
{
	sqlite3_stmt *st = NULL;
	double *prior = NULL, *weight = NULL;
	int rc, s, began = 0;

	memset(r, 0, sizeof *r);
	r->beta = o->beta;
	if (!(o->beta >= 0) || !isfinite(o->beta))
		return aed_error(AED_EUSAGE, "priors: --beta must be a number >= 0, not %g", o->beta);
	int64_t n_classes = 0;
	if ((rc = aed_db_int(db, "SELECT count(*) FROM class", &n_classes)))
		return rc;
	if (!n_classes)
		return aed_error(AED_ESTATE, "priors: no ontology in the database "
				 "(run `aedcurate ontology ingest` first)");
	if (o->split) {
		if ((rc = aed_db_prepare(db, "SELECT count(*) FROM split WHERE name = ?1", &st)))
			return rc;
		sqlite3_bind_text(st, 1, o->split, -1, SQLITE_STATIC);
		s = sqlite3_step(st);
		int64_t have = s == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
		sqlite3_finalize(st);
		st = NULL;
		if (!have)
			return aed_error(AED_ENOTFOUND, "priors: no split named '%s'", o->split);
	}
	if ((rc = count_priors(db, o, r)))
		goto out;
	prior = calloc(r->n_classes + 1, sizeof *prior);
	weight = calloc(r->n_classes + 1, sizeof *weight);
	if (!prior || !weight) {
		rc = aed_error(AED_ENOMEM, "out of memory");
		goto out;
	}
	for (size_t i = 0; i < r->n_classes; i++)
		prior[i] = r->classes[i].prior;
	aed_prior_weights(prior, r->n_classes, o->beta, weight, &r->mean_prior);
	for (size_t i = 0; i < r->n_classes; i++) {
		r->classes[i].weight = weight[i];
		r->n_nonzero += prior[i] > 0;
	}

	json_t *params = json_pack("{s:f, s:o, s:o}", "beta", o->beta, "split",
				   aed_json_text(o->split), "out", aed_json_text(o->out_dir));
	if ((rc = aed_run_begin(db, "priors", params, &r->run_id)))
		goto out;
	if ((rc = aed_db_begin(db)))
		goto fail;
	began = 1;
	if ((rc = store_priors(db, o, r)))
		goto fail;
	if ((rc = aed_db_commit(db)))
		goto fail;
	began = 0;
	if (o->out_dir && (rc = aed_priors_write(r, o->out_dir)))
		goto fail;
	rc = aed_run_end(db, r->run_id, AED_RUN_OK, (int64_t)r->n_classes, 0, NULL);
	goto out;
fail:
	sqlite3_finalize(st);
	st = NULL;
	if (began)
		aed_db_rollback(db);
	aed_run_fail(db, r->run_id, rc, 0, 0);
out:
	sqlite3_finalize(st);
	free(prior);
	free(weight);
	if (rc)
		aed_priors_result_release(r);
	return rc;
}

void aed_priors_result_release(struct aed_priors_result *r)
{
	free(r->classes);
	r->classes = NULL;
	r->n_classes = 0;
}

/* CSV field: quoted when it holds a comma, quote or line break. */
static int csv_text(struct aed_buf *b, const char *s)
{
	if (!strpbrk(s, ",\"\r\n"))
		return aed_buf_append(b, s, strlen(s));
	int rc = aed_buf_append(b, "\"", 1);
	for (; !rc && *s; s++)
		rc = *s == '"' ? aed_buf_append(b, "\"\"", 2) : aed_buf_append(b, s, 1);
	return rc ? rc : aed_buf_append(b, "\"", 1);
}

int aed_priors_write(const struct aed_priors_result *r, const char *dir)
{
	struct aed_buf csv = { 0 };
	json_t *root = NULL, *by_mid, *by_index;
	char *text = NULL, path[4096];
	int rc;

	if ((rc = aed_mkdir_p(dir)))
		return rc;
	root = json_pack("{s:f, s:I, s:f, s:I, s:{}, s:{}}", "beta", r->beta, "n_total",
			 (json_int_t)r->n_total, "mean_prior", r->mean_prior, "classes_nonzero",
			 (json_int_t)r->n_nonzero, "by_mid", "by_index");
	if (!root) {
		rc = aed_error(AED_ENOMEM, "out of memory building priors.json");
		goto out;
	}
	by_mid = json_object_get(root, "by_mid");
	by_index = json_object_get(root, "by_index");
	rc = aed_buf_printf(&csv, "index,mid,display_name,n_pos,n_total,prior,weight\n");
	for (size_t i = 0; !rc && i < r->n_classes; i++) {
		const struct aed_class_prior *c = &r->classes[i];
		if (c->label_index >= 0)
			rc = aed_buf_printf(&csv, "%ld,", c->label_index);
		else
			rc = aed_buf_append(&csv, ",", 1);
		if (!rc)
			rc = csv_text(&csv, c->mid);
		if (!rc)
			rc = aed_buf_append(&csv, ",", 1);
		if (!rc)
			rc = csv_text(&csv, c->name);
		if (!rc)
			rc = aed_buf_printf(&csv, ",%lld,%lld,%.9g,%.9g\n", (long long)c->n_pos,
					    (long long)r->n_total, c->prior, c->weight);
		json_t *e = json_pack("{s:I, s:s, s:s, s:I, s:f, s:f}", "index",
				      (json_int_t)c->label_index, "mid", c->mid, "name", c->name,
				      "n_pos", (json_int_t)c->n_pos, "prior", c->prior,
				      "weight", c->weight);
		if (!e) {
			rc = aed_error(AED_ENOMEM, "out of memory building priors.json");
			break;
		}
		if (c->label_index < 0)
			json_object_set_new(e, "index", json_null());
		json_object_set(by_mid, c->mid, e);
		if (c->label_index >= 0) {
			char key[32];
			snprintf(key, sizeof key, "%ld", c->label_index);
			json_object_set(by_index, key, e);
		}
		json_decref(e);
	}
	if (rc)
		goto out;
	snprintf(path, sizeof path, "%s/priors.csv", dir);
	if ((rc = aed_write_file_atomic(path, csv.data, csv.len)))
		goto out;
	if (!(text = json_dumps(root, JSON_INDENT(1) | JSON_PRESERVE_ORDER))) {
		rc = aed_error(AED_ENOMEM, "out of memory writing priors.json");
		goto out;
	}
	snprintf(path, sizeof path, "%s/priors.json", dir);
	rc = aed_write_file_atomic(path, text, strlen(text));
out:
	free(text);
	json_decref(root);
	aed_buf_release(&csv);
	return rc;
}
