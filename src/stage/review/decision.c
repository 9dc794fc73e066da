/* decision.c - what follows from the ratings of a (class, segment) pair:
 * the decision over several annotators' answers, the verified label it
 * gives or takes back, the 'review' labels that annotators added, and the
 * per-mine-run review status. On a clip's way from a CSV row to a shard a
 * verified positive is the label refine and export read and an exemplar for
 * the next round of mining. Reading ratings files: import.c. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "aedcurate/error.h"
#include "aedcurate/review.h"
#include "aedcurate/store.h"
#include "stage/review/internal.h"

enum aed_answer aed_review_decide(const int64_t *counts, double *agreement)
{
	int64_t best = 0, total = 0;
	int n_best = 0, i, which = AED_ANSWER_UNSURE;

	for (i = 0; i < AED_ANSWER_COUNT; i++) {
		total += counts[i];
		if (counts[i] > best) {
			best = counts[i];
			n_best = 1;
			which = i;
		} else if (counts[i] == best && best > 0) {
			n_best++;
		}
	}
	if (n_best != 1)
		which = AED_ANSWER_UNSURE;
	if (agreement)
		*agreement = total ? (double)best / (double)total : 0.0;
	return (enum aed_answer)which;
}

void aed_review_decider_release(struct aed_review_decider *d)
{
	sqlite3_stmt **v[] = { &d->counts, &d->decision, &d->verify, &d->unverify,
			       &d->review_del, &d->review_ins };

	for (size_t i = 0; i < sizeof v / sizeof *v; i++) {
		sqlite3_finalize(*v[i]);
		*v[i] = NULL;
	}
}

int aed_review_decider_prepare(struct aed_db *db, struct aed_review_decider *d)
{
	const struct {
		sqlite3_stmt **st;
		const char *sql;
	} s[] = {
		{ &d->counts, "SELECT answer, count(*) FROM rating WHERE class_id = ?1 AND "
			      "segment_id = ?2 GROUP BY answer" },
		{ &d->decision, "INSERT OR REPLACE INTO review_decision(class_id, segment_id, "
				 "decision, n_ratings, n_present, n_not_present, n_unsure, "
				 "n_not_acoustic, agreement, updated_at) "
				 "VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)" },
		{ &d->verify, "INSERT OR IGNORE INTO label(segment_id, class_id, source) "
			      "VALUES(?1, ?2, 'verified')" },
		{ &d->unverify, "DELETE FROM label WHERE segment_id = ?1 AND class_id = ?2 AND "
				 "source = 'verified'" },
		/* The segment's 'review' labels are the classes its ratings add
		 * (sql/0012_review_label.sql), bar a contradicting one stored
		 * before such entries were refused. */
		{ &d->review_del, "DELETE FROM label WHERE segment_id = ?1 AND source = 'review' "
				  "AND class_id NOT IN (SELECT rl.class_id FROM rating r JOIN "
				  "rating_label rl ON rl.rating_id = r.id WHERE r.segment_id = ?1 "
				  "AND NOT (rl.class_id = r.class_id AND r.answer = 'not_present'))" },
		{ &d->review_ins, "INSERT OR IGNORE INTO label(segment_id, class_id, source) "
				  "SELECT DISTINCT r.segment_id, rl.class_id, 'review' FROM rating r "
				  "JOIN rating_label rl ON rl.rating_id = r.id WHERE r.segment_id = "
				  "?1 AND NOT (rl.class_id = r.class_id AND r.answer = "
				  "'not_present')" },
	};
	int rc = AED_OK;

	memset(d, 0, sizeof *d);
	d->db = db;
	for (size_t i = 0; i < sizeof s / sizeof *s && !rc; i++)
		rc = aed_db_prepare(db, s[i].sql, s[i].st);
	if (rc)
		aed_review_decider_release(d);
	return rc;
}

/* Recompute the decision of (class, segment) from all its ratings, and the
 * verified label that follows from it. */
int aed_review_decide_pair(struct aed_review_decider *dc, int64_t class_id, int64_t segment_id,
			   const char *now, struct aed_review_import_result *r,
			   double *agreement_sum)
{
	sqlite3_stmt *st = dc->counts;
	int64_t counts[AED_ANSWER_COUNT] = { 0 }, total = 0, best = 0;
	enum aed_answer d;
	double agreement;
	int rc = AED_OK, n_best = 0, i, step;

	sqlite3_bind_int64(st, 1, class_id);
	sqlite3_bind_int64(st, 2, segment_id);
	while ((step = sqlite3_step(st)) == SQLITE_ROW) {
		enum aed_answer a = AED_ANSWER_UNSURE;

		if (aed_answer_parse(col(st, 0), &a) == AED_OK)
			counts[a] += sqlite3_column_int64(st, 1);
	}
	sqlite3_reset(st);
	if (step != SQLITE_DONE)
		return aed_db_error(dc->db, "counting ratings");
	for (i = 0; i < AED_ANSWER_COUNT; i++) {
		total += counts[i];
		if (counts[i] > best) {
			best = counts[i];
			n_best = 1;
		} else if (counts[i] == best && best) {
			n_best++;
		}
	}
	if (!total)
		return AED_OK;
	d = aed_review_decide(counts, &agreement);
	st = dc->decision;
	sqlite3_bind_int64(st, 1, class_id);
	sqlite3_bind_int64(st, 2, segment_id);
	sqlite3_bind_text(st, 3, aed_answer_name(d), -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 4, total);
	for (i = 0; i < AED_ANSWER_COUNT; i++)
		sqlite3_bind_int64(st, 5 + i, counts[i]);
	sqlite3_bind_double(st, 9, agreement);
	sqlite3_bind_text(st, 10, now, -1, SQLITE_STATIC);
	if (sqlite3_step(st) != SQLITE_DONE)
		rc = aed_db_error(dc->db, "storing a decision");
	sqlite3_reset(st);
	if (rc)
		return rc;
	/* A verified positive is a label and an exemplar for the next round;
	 * anything else takes a verified label back. */
	st = d == AED_ANSWER_PRESENT ? dc->verify : dc->unverify;
	sqlite3_bind_int64(st, 1, segment_id);
	sqlite3_bind_int64(st, 2, class_id);
	if (sqlite3_step(st) != SQLITE_DONE)
		rc = aed_db_error(dc->db, "updating verified labels");
	sqlite3_reset(st);
	r->decisions++;
	if (d == AED_ANSWER_PRESENT)
		r->labels_verified++;
	if (total >= 2) {
		r->multi_rated++;
		*agreement_sum += agreement;
		if (n_best > 1)
			r->ties++;
	}
	return rc;
}

/* Bring the segment's 'review' labels in line with the labels its ratings
 * add, after a rating of it was stored or replaced. */
int aed_review_sync_labels(struct aed_review_decider *dc, int64_t segment_id,
			   struct aed_review_import_result *r)
{
	sqlite3_stmt *v[2] = { dc->review_del, dc->review_ins };
	int rc = AED_OK;

	for (int k = 0; k < 2 && !rc; k++) {
		sqlite3_bind_int64(v[k], 1, segment_id);
		if (sqlite3_step(v[k]) != SQLITE_DONE)
			rc = aed_db_error(dc->db, "updating the labels annotators added");
		else if (k == 1)
			r->labels_added += sqlite3_changes(aed_db_sqlite(dc->db));
		sqlite3_reset(v[k]);
	}
	return rc;
}

/* --- status ------------------------------------------------------------------ */

void aed_review_status_release(struct aed_review_status *s)
{
	for (size_t i = 0; i < s->n; i++)
		free(s->runs[i].name);
	free(s->runs);
	memset(s, 0, sizeof *s);
}

int aed_review_status_get(struct aed_db *db, int64_t class_id, struct aed_review_status *s)
{
	sqlite3_stmt *st = NULL;
	int rc, step;

	memset(s, 0, sizeof *s);
	if ((rc = aed_db_prepare(db,
		"SELECT m.id, m.class_id, c.mid, c.name, count(k.segment_id), count(d.decision), "
		"  coalesce(sum(d.decision = 'present'), 0), "
		"  coalesce(sum(d.decision = 'not_present'), 0), "
		"  coalesce(sum(d.decision = 'unsure'), 0), "
		"  coalesce(sum(d.decision = 'not_acoustic'), 0), "
		"  coalesce(sum(d.n_ratings), 0), "
		"  avg(CASE WHEN d.n_ratings >= 2 THEN d.agreement END) "
		"FROM mine_run m LEFT JOIN class c ON c.id = m.class_id "
		"LEFT JOIN candidate k ON k.mine_run_id = m.id "
		"LEFT JOIN review_decision d ON d.class_id = m.class_id AND d.segment_id = k.segment_id "
		"WHERE ?1 = 0 OR m.class_id = ?1 GROUP BY m.id ORDER BY m.id", &st)))
		return rc;
	sqlite3_bind_int64(st, 1, class_id);
	while ((step = sqlite3_step(st)) == SQLITE_ROW) {
		struct aed_review_run_status *v, *x;
		int64_t judged;

		if (!(v = realloc(s->runs, (s->n + 1) * sizeof *v))) {
			rc = aed_error(AED_ENOMEM, "out of memory");
			goto out;
		}
		s->runs = v;
		x = &s->runs[s->n];
		memset(x, 0, sizeof *x);
		x->mine_run_id = sqlite3_column_int64(st, 0);
		x->class_id = sqlite3_column_int64(st, 1);
		snprintf(x->mid, sizeof x->mid, "%s", col(st, 2));
		if (!(x->name = xstrdup(col(st, 3)))) {
			rc = aed_error(AED_ENOMEM, "out of memory");
			goto out;
		}
		s->n++;
		x->candidates = sqlite3_column_int64(st, 4);
		x->rated = sqlite3_column_int64(st, 5);
		for (int i = 0; i < AED_ANSWER_COUNT; i++)
			x->by_decision[i] = sqlite3_column_int64(st, 6 + i);
		x->ratings = sqlite3_column_int64(st, 10);
		x->mean_agreement = sqlite3_column_type(st, 11) == SQLITE_NULL
					    ? -1.0 : sqlite3_column_double(st, 11);
		/* Unsure answers say nothing about precision; not acoustic ones
		 * are not examples of the class. */
		judged = x->rated - x->by_decision[AED_ANSWER_UNSURE];
		x->precision = judged > 0
				       ? (double)x->by_decision[AED_ANSWER_PRESENT] / (double)judged
				       : -1.0;
	}
	if (step != SQLITE_DONE)
		rc = aed_db_error(db, "reading review status");
out:
	sqlite3_finalize(st);
	if (rc)
		aed_review_status_release(s);
	return rc;
}
