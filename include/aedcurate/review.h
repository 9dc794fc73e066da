/* review.h - the review stage, human review of mined candidates: the static
 * review page's export folder, the import of the ratings files the page
 * produces (their format and parser: ratings.h), the derived decisions and
 * the per-run review status. On a clip's way from a CSV row to a shard it
 * comes after mine and before refine: a verified positive becomes a label
 * and an exemplar for the next round. The page itself lives in web/review/
 * (index.html, app.js, style.css) and is copied as-is.
 * Code: src/stage/review/ (export.c, page.c, import.c, decision.c).
 *
 * Export folder (`review export --out DIR`), all of it static and usable from
 * file:// (no fetch(), nothing from a network):
 *   index.html app.js style.css   the page, copied from the web directory
 *   candidates.js                 `window.AED_DATA = {...};` (below)
 *   media/NNNN.ogg                10 s context clip, Ogg Opus, 16 kHz mono
 *   media/NNNN.png                its log-mel (YAMNet front end) as an RGB
 *                                 image: width = frames (10 ms each), height
 *                                 = 64 bands x 2, low frequencies at the bottom
 * NNNN is the 1-based page position, zero-padded to 4 digits.
 *
 * candidates.js holds one JSON object; every '<', '>', '&', U+2028 and
 * U+2029 inside it is written as \uXXXX so no string can end the script or
 * the line. Fields:
 *   format "aedcurate-review", version 1, export_id (32 hex), checksum,
 *   created_at, mine_run {id, method, created_at},
 *   class {mid, name, description, path: [root name, ..., name]},
 *   candidates: [{id (segment key), ytid, start_s (of the segment in its
 *     source), rank, score, best_time_s (into the clip), offset_s (where the
 *     context starts in the clip), duration_s, best_start_s (best patch start
 *     in the context), best_dur_s (0.96), audio, image (paths in the folder),
 *     frames}],
 *   ontology: [[mid, name], ...] for the label autocomplete.
 * checksum = sha256 hex of "aedcurate-review-v1\n" MID "\n" then each
 * candidate id followed by "\n", ids sorted bytewise (aed_review_checksum).
 *
 * Ownership: result structs are released with their _release function.
 * Functions taking a struct aed_db only borrow it. Every function returns an
 * enum aed_status and records a message on failure.
 */
#ifndef AEDCURATE_REVIEW_H
#define AEDCURATE_REVIEW_H

#include <stddef.h>
#include <stdint.h>

#include "aedcurate/ratings.h"

struct aed_db;

#define AED_REVIEW_CONTEXT_S      10.0        /* s, context clip length */
#define AED_REVIEW_PATCH_S        0.96        /* s, a mined patch */

/* The decision over several answers: the most frequent one; a tie between
 * the most frequent answers gives unsure. counts[AED_ANSWER_COUNT]; all
 * zero gives unsure. *agreement (may be NULL) = count of the most frequent
 * answer / total: 1 when all agree, 0.5 for a tie of two (0 for none). */
enum aed_answer aed_review_decide(const int64_t *counts, double *agreement);

/* --- export ---------------------------------------------------------------- */

struct aed_review_export_opts {
	const char *class_name;  /* the latest mine run of this class, or */
	int64_t mine_run_id;     /* this mine run (mine_run.id); 0: use class_name */
	const char *out_dir;     /* created; existing page files are replaced */
	long limit;              /* best-ranked candidates; <= 0: the default */
	const char *web_dir;     /* page sources; NULL: aed_review_web_dir() */
	int bitrate;             /* bit/s of the Opus clips; 0: the default */
	int unrated;             /* only candidates without a review decision yet */
};
/* Defaults: aed_review_export_opts_init() and `aedcurate review export`'s rows. */
#define AED_REVIEW_EXPORT_LIMIT_DEFAULT 100
#define AED_REVIEW_EXPORT_BITRATE_DEFAULT 32000
static inline void aed_review_export_opts_init(struct aed_review_export_opts *o)
{
	*o = (struct aed_review_export_opts){
		.limit = AED_REVIEW_EXPORT_LIMIT_DEFAULT,
		.bitrate = AED_REVIEW_EXPORT_BITRATE_DEFAULT,
	};
}

struct aed_review_export_result {
	int64_t mine_run_id, class_id, run_id, review_export_id;
	int64_t n_candidates;
	char export_id[33];
	char checksum[65];
	char mid[257];           /* the class judged (AED_ONTO_MAX_MID + 1) */
};

/* Write the export folder and record the export (review_export, review_item,
 * a run of stage "review-export"). Fails with AED_ENOTFOUND for an unknown
 * class or run, AED_ESTATE when the run has no candidates or a candidate has
 * no decoded clip, AED_EMEDIA when encoding fails. */
int aed_review_export(struct aed_db *db, const struct aed_review_export_opts *o,
		      struct aed_review_export_result *r);

/* Where the page sources are: $AEDCURATE_WEB, else web/review beside the
 * executable's parent (bin/../web/review), else ./web/review. Returns a
 * static buffer; NULL when none of them holds index.html. */
const char *aed_review_web_dir(void);

/* sha256 hex of the candidate set (see above). ids need not be sorted. */
int aed_review_checksum(const char *mid, const char *const *ids, size_t n, char hex[65]);

/* JSON text -> safe inside a <script> element: '<' '>' '&' U+2028 U+2029 as
 * \uXXXX. Appends to *out (malloc'd, caller frees). */
int aed_review_script_escape(const char *json, char **out);

/* Record an export of a mine run's `limit` best candidates (review_export,
 * review_item, a "review-export" run) without writing a page: for ratings
 * made elsewhere, e.g. the simulated annotator of `eval mine --rounds`.
 * note goes to review_export.out_dir. */
int aed_review_export_record(struct aed_db *db, int64_t mine_run_id, long limit,
			     const char *note, struct aed_review_export_result *r);

/* --- import ---------------------------------------------------------------- */

struct aed_review_import_result {
	int64_t files, files_rejected;
	int64_t entries, new_ratings, updated, same, older, bad;
	int64_t labels_verified;   /* verified label rows after the import (touched pairs) */
	int64_t labels_added;      /* new label rows of source 'review' ("Add missing labels") */
	int64_t decisions;         /* (class, segment) decisions recomputed */
	int64_t multi_rated;       /* of those, with 2+ ratings */
	double mean_agreement;     /* over the multi-rated ones, 0 if none */
	int64_t ties;              /* multi-rated ones decided unsure by a tie */
	char **messages;           /* "FILE: entry N (ID): reason", every rejection */
	size_t n_messages;
};

/* Import ratings files. Each file is checked against the database: its
 * export id must be one of ours (else: a file from another export), its
 * checksum that export's (else tampered), each candidate in the export, each
 * label a known mid. Rejected entries (and all entries of a rejected file)
 * are reported in r->messages and change nothing; the good entries of each
 * file are stored in one transaction with the review_import row, and the
 * decisions and verified labels of the touched (class, segment) pairs are
 * recomputed, as are the touched segments' labels of source 'review' (every
 * class a rating of the segment adds; annotators in the review_label view). A rating already stored unchanged is counted as same; a file
 * that changes nothing writes nothing. Returns AED_OK even when entries were
 * rejected (see r->bad, r->files_rejected); an error return means a file
 * could not be read or the database failed (that file's entries are not
 * stored). */
int aed_review_import(struct aed_db *db, const char *const *paths, size_t n_paths,
		      struct aed_review_import_result *r);
/* The same for one ratings file held in memory; name stands for its path
 * in messages and in review_import. */
int aed_review_import_data(struct aed_db *db, const char *name, const char *data, size_t n,
			   struct aed_review_import_result *r);
void aed_review_import_result_release(struct aed_review_import_result *r);

/* --- status ---------------------------------------------------------------- */

struct aed_review_run_status {
	int64_t mine_run_id, class_id;
	char mid[257];
	char *name;
	int64_t candidates, rated;          /* rated: with a decision */
	int64_t by_decision[AED_ANSWER_COUNT];
	int64_t ratings;                    /* individual ratings */
	double precision;                   /* present / (rated - unsure); -1 if none */
	double mean_agreement;              /* over candidates with 2+ ratings; -1 if none */
};

struct aed_review_status {
	struct aed_review_run_status *runs; /* by mine run id */
	size_t n;
};

/* Per mine run (of class_id only when class_id > 0). */
int aed_review_status_get(struct aed_db *db, int64_t class_id, struct aed_review_status *s);
void aed_review_status_release(struct aed_review_status *s);

#endif
