/* eval_mine_rounds.c - `eval mine --rounds` (mine.h): the simulated
 * annotator. Per trial, the best unrated candidates are rated by the oracle
 * (the stored labels) and the class is mined again: through review
 * import's own code (the review curve, with mine's ranker when asked), or
 * with the positives only added as exemplars; a trial's ratings are taken
 * back before the next. In the path of a clip: what a review round would
 * bring, measured on a labelled corpus. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "aedcurate/error.h"
#include "aedcurate/mine.h"
#include "aedcurate/review.h"
#include "aedcurate/store.h"
#include "aedcurate/util.h"
#include "stage/eval_mine_internal.h"

/* Today's behaviour: the positives found become exemplars and nothing else
 * changes; the annotator skips the candidates it already rated. */
static int rounds_positives(struct aed_db *db, const struct aed_eval_mine_opts *o,
			    int64_t class_id, const char *mid, const struct keys *ex0, double *yield)
{
	struct keys ex = { 0 };
	int64_t *rated = NULL, n_rated = 0, found = 0;
	int rc = AED_OK;

	if (!(rated = malloc((size_t)o->rounds * (size_t)o->per_round * sizeof *rated)))
		return aed_error(AED_ENOMEM, "out of memory");
	for (int i = 0; i < ex0->n && !rc; i++)
		rc = eval_mine_keys_push(&ex, ex0->v[i]);
	for (int round = 0; round < o->rounds && !rc; round++) {
		struct aed_mine_result r;
		uint8_t *rel = NULL;
		int took = 0;
		yield[round] = (double)found;
		rc = eval_mine_rank_pool(db, o, mid, &ex, o->mine.method,
					 o->per_round + (int)n_rated, 0, &r);
		if (rc == AED_ENOTFOUND && round > 0) {
			rc = AED_OK; /* no candidate left: the curve stays flat */
			for (; round < o->rounds; round++)
				yield[round] = (double)found;
			aed_mine_result_release(&r);
			break;
		}
		if (rc) {
			aed_mine_result_release(&r);
			break;
		}
		if (!(rel = calloc((size_t)(r.n_candidates ? r.n_candidates : 1), 1)))
			rc = aed_error(AED_ENOMEM, "out of memory");
		else
			rc = eval_mine_oracle(db, class_id, r.candidates, r.n_candidates, rel);
		/* Rated ones are sorted: n_rated is small, a linear look is enough. */
		for (int i = 0; !rc && i < r.n_candidates && took < o->per_round; i++) {
			int seen = 0;
			for (int64_t j = 0; j < n_rated && !seen; j++)
				seen = rated[j] == r.candidates[i].segment_id;
			if (seen)
				continue;
			rated[n_rated++] = r.candidates[i].segment_id;
			took++;
			if (rel[i]) {
				found++;
				rc = eval_mine_keys_push(&ex, r.candidates[i].key);
			}
		}
		yield[round] = (double)found;
		free(rel);
		aed_mine_result_release(&r);
	}
	free(rated);
	eval_mine_keys_release(&ex);
	return rc;
}

/* The ratings go through review import: a recorded mine run, an export
 * record of its best per_round candidates, a ratings file made in memory
 * and imported by aed_review_import_data; the class is then mined again with
 * the positives as exemplars, rated clips being left out by mining itself. */
static int rounds_review(struct aed_db *db, const struct aed_eval_mine_opts *o,
			 int64_t class_id, const char *mid, const struct keys *ex0, double *yield)
{
	struct keys ex = { 0 };
	int64_t found = 0;
	int rc = AED_OK;

	for (int i = 0; i < ex0->n && !rc; i++)
		rc = eval_mine_keys_push(&ex, ex0->v[i]);
	for (int round = 0; round < o->rounds && !rc; round++) {
		struct aed_mine_result r;
		struct aed_review_export_result er;
		struct aed_review_import_result ir = { 0 };
		uint8_t *rel = NULL;
		json_t *j = NULL, *a = NULL;
		char *text = NULL, now[32], name[320];

		yield[round] = (double)found;
		rc = eval_mine_rank_pool(db, o, mid, &ex, o->mine.method, o->per_round, 1, &r);
		if (rc == AED_ENOTFOUND && round > 0) {
			rc = AED_OK; /* every candidate is rated: the curve stays flat */
			for (; round < o->rounds; round++)
				yield[round] = (double)found;
			aed_mine_result_release(&r);
			break;
		}
		if (rc) {
			aed_mine_result_release(&r);
			break;
		}
		if (!(rel = calloc((size_t)(r.n_candidates ? r.n_candidates : 1), 1))) {
			rc = aed_error(AED_ENOMEM, "out of memory");
			goto next;
		}
		if ((rc = eval_mine_oracle(db, class_id, r.candidates, r.n_candidates, rel)) ||
		    (rc = aed_review_export_record(db, r.mine_run_id, o->per_round,
						   "(eval mine: simulated annotator)", &er)))
			goto next;
		aed_utc_iso8601(now);
		a = json_array();
		j = json_pack("{s:s, s:i, s:s, s:s, s:s, s:s, s:s, s:O}", "format",
			      AED_RATINGS_FORMAT, "version", AED_RATINGS_VERSION, "export_id",
			      er.export_id, "checksum", er.checksum, "class", er.mid, "annotator",
			      AED_EVAL_MINE_ANNOTATOR, "exported_at", now, "ratings", a);
		for (int i = 0; j && a && i < r.n_candidates; i++)
			json_array_append_new(a, json_pack("{s:s, s:s, s:s}", "candidate",
							   r.candidates[i].key, "answer",
							   rel[i] ? "present" : "not_present",
							   "time", now));
		if (!j || !a || !(text = json_dumps(j, JSON_COMPACT))) {
			rc = aed_error(AED_ENOMEM, "out of memory");
			goto next;
		}
		snprintf(name, sizeof name, "eval-mine:%s:mine_run_%lld", er.mid,
			 (long long)r.mine_run_id);
		if ((rc = aed_review_import_data(db, name, text, strlen(text), &ir)))
			goto next;
		if (ir.bad || ir.files_rejected) {
			rc = aed_error(AED_EINTERNAL, "eval mine: review import rejected simulated "
				       "ratings: %s", ir.n_messages ? ir.messages[0] : "?");
			goto next;
		}
		for (int i = 0; i < r.n_candidates && !rc; i++)
			if (rel[i]) {
				found++;
				rc = eval_mine_keys_push(&ex, r.candidates[i].key);
			}
		yield[round] = (double)found;
next:
		aed_review_import_result_release(&ir);
		json_decref(j);
		json_decref(a);
		free(text);
		free(rel);
		aed_mine_result_release(&r);
	}
	eval_mine_keys_release(&ex);
	return rc;
}

/* The simulation starts from a class nobody reviewed: refuse otherwise. */
int eval_mine_check_unreviewed(struct aed_db *db, int64_t class_id, const char *name)
{
	char sql[512];
	int64_t n = 0;
	snprintf(sql, sizeof sql, "SELECT (SELECT count(*) FROM rating WHERE class_id = %lld) + "
		 "(SELECT count(*) FROM review_decision WHERE class_id = %lld) + (SELECT count(*) "
		 "FROM label WHERE class_id = %lld AND source = 'verified')",
		 (long long)class_id, (long long)class_id, (long long)class_id);
	int rc = aed_db_int(db, sql, &n);
	if (rc)
		return rc;
	if (n)
		return aed_error(AED_ESTATE, "eval mine --rounds: class %s already has %lld ratings, "
				 "decisions or verified labels; the simulated review starts from an "
				 "unreviewed class: run it on a copy of the database without them",
				 name, (long long)n);
	return AED_OK;
}

/* Undo a trial's simulated review so the next trial starts unreviewed too
 * (its runs, exports and import log stay). */
static int undo_review(struct aed_db *db, int64_t class_id)
{
	char sql[512];
	int rc;
	snprintf(sql, sizeof sql, "DELETE FROM rating WHERE class_id = %lld AND annotator = '"
		 AED_EVAL_MINE_ANNOTATOR "'; DELETE FROM review_decision WHERE class_id = %lld; "
		 "DELETE FROM label WHERE class_id = %lld AND source = 'verified';",
		 (long long)class_id, (long long)class_id, (long long)class_id);
	if ((rc = aed_db_begin(db)))
		return rc;
	if ((rc = aed_db_exec(db, sql))) {
		aed_db_rollback(db);
		return rc;
	}
	return aed_db_commit(db);
}

/* One trial's simulated review rounds (o->rounds): yield[1] with the
 * positives as exemplars only, yield[0] through review import. */
int eval_mine_trial_rounds(struct aed_db *db, const struct aed_eval_mine_opts *o, int64_t class_id,
			   const char *mid, const struct keys *ex, struct aed_eval_mine_trial *tr,
			   int last)
{
	int rc = AED_OK;
	/* --exclude-group: the initial exemplars' recordings only; the positives
	 * the rounds find join the exemplars, and more clips of their
	 * recordings are what a round should find. */
	struct aed_eval_mine_opts oo = *o;
	oo.mine.exclude_group_first = ex->n;
	o = &oo;

	if (!(tr->yield[0] = calloc((size_t)o->rounds, sizeof *tr->yield[0])) ||
	    !(tr->yield[1] = calloc((size_t)o->rounds, sizeof *tr->yield[1])))
		rc = aed_error(AED_ENOMEM, "out of memory");
	if (!rc)
		rc = rounds_positives(db, o, class_id, mid, ex, tr->yield[1]);
	if (!rc) {
		rc = rounds_review(db, o, class_id, mid, ex, tr->yield[0]);
		/* A failed simulation takes its ratings back: the oracle's
		 * labels must not stay behind as verified labels. */
		if (rc) {
			char msg[512];
			snprintf(msg, sizeof msg, "%s", aed_last_error());
			undo_review(db, class_id);
			aed_error(rc, "%s", msg);
		}
	}
	/* The last trial's review stays, for `review status` to show. */
	if (!rc && !last)
		rc = undo_review(db, class_id);
	return rc;
}
