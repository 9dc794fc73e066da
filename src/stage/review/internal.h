/* internal.h - what the files of the review stage (src/stage/review/) share:
 * an exported candidate, the page writer's pieces that export.c calls, and
 * the statements that recompute decisions, which import.c holds for a whole
 * file. Not a public interface: the stage's contract is review.h. */
#ifndef AEDCURATE_REVIEW_INTERNAL_H
#define AEDCURATE_REVIEW_INTERNAL_H

#include <jansson.h>
#include <sqlite3.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "aedcurate/review.h"
#include "aedcurate/store.h"

/* One candidate of an export, in page order (export.c reads them). */
struct cand {
	int64_t segment_id, rank, start_ms;
	double score, best_time_s;
	char *key, *ytid;
};

static inline const char *col(sqlite3_stmt *st, int i)
{
	const char *s = (const char *)sqlite3_column_text(st, i);

	return s ? s : "";
}

static inline char *xstrdup(const char *s)
{
	return strdup(s ? s : "");
}

/* --- page.c: the export folder ---------------------------------------------- */

/* Does dir hold the page sources (an index.html)? */
int aed_review_dir_has_page(const char *dir);

/* Candidate c at page position pos (0-based): its context clip and image
 * into out_dir/media/, its entry appended to arr. */
int aed_review_export_one(struct aed_db *db, const struct cand *c, size_t pos,
			  const char *out_dir, int bitrate, json_t *arr);

/* The files of a page of n candidates, for the folder's file list
 * (outdir.h): names[] points into *buf or at literals; free both. */
int aed_review_page_file_names(size_t n, const char ***names, size_t *n_names, char **buf);

/* candidates.js from the page data root (NULL: out of memory building it),
 * then the page sources copied from web. */
int aed_review_write_page(const char *out_dir, const char *web, json_t *root);

/* --- decision.c: what follows from the ratings ------------------------------- */

/* The statements that recompute a decision, prepared once per imported file
 * and reset after each use (see struct imp in import.c). */
struct aed_review_decider {
	struct aed_db *db;
	sqlite3_stmt *counts, *decision, *verify, *unverify; /* aed_review_decide_pair */
	sqlite3_stmt *review_del, *review_ins;              /* aed_review_sync_labels */
};

int aed_review_decider_prepare(struct aed_db *db, struct aed_review_decider *d);
void aed_review_decider_release(struct aed_review_decider *d);

/* Recompute the decision of (class, segment) from all its ratings, and the
 * verified label that follows from it; counts go to r, the agreement of a
 * pair rated twice or more to *agreement_sum. */
int aed_review_decide_pair(struct aed_review_decider *d, int64_t class_id, int64_t segment_id,
			   const char *now, struct aed_review_import_result *r,
			   double *agreement_sum);

/* Bring the segment's 'review' labels in line with the labels its ratings
 * add, after a rating of it was stored or replaced. */
int aed_review_sync_labels(struct aed_review_decider *d, int64_t segment_id,
			   struct aed_review_import_result *r);

#endif
