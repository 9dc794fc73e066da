/* ratings.h - the ratings file that the review page writes and `review
 * import` reads: its format, a pure parser (no database) and the answers an
 * annotator can give. On a clip's way from a CSV row to a shard it is the
 * human verdict on a mined candidate, read between mining and refinement; the
 * review stage (review.h) checks a parsed file against the database and
 * stores it.
 *
 * Ratings file (downloaded from the page, read by `review import`), JSON:
 *   { "format": "aedcurate-ratings", "version": 1,
 *     "export_id": "...", "checksum": "...",    echoed from the data file
 *     "class": "/m/...",                        the class judged
 *     "annotator": "id",                        1..128 bytes, no control chars
 *     "exported_at": "2026-11-21T10:04:08.123Z",
 *     "ratings": [ { "candidate": "YTID_STARTMS",
 *                    "answer": "present" | "not_present" | "unsure" | "not_acoustic",
 *                    "labels": ["/m/...", ...],   optional, missing labels:
 *                                                 labels of the clip (source
 *                                                 'review'); not the class
 *                                                 judged when not_present
 *                    "comment": "...",            optional, <= 4096 bytes
 *                    "time": "2026-11-21T10:03:59.456Z" }, ... ] }
 * Times are ISO 8601 UTC: YYYY-MM-DDTHH:MM:SS[.fff]Z.
 *
 * Ownership: aed_ratings_parse() returns a heap object freed with
 * aed_ratings_free(&r); every string inside is owned by it. Functions
 * returning an int return an enum aed_status and record a message on failure.
 */
#ifndef AEDCURATE_RATINGS_H
#define AEDCURATE_RATINGS_H

#include <stddef.h>
#include <stdint.h>

#define AED_RATINGS_FORMAT        "aedcurate-ratings"
#define AED_RATINGS_VERSION       1
#define AED_RATINGS_MAX_SOURCE    (64u << 20) /* bytes of one ratings file */
#define AED_RATINGS_MAX_ENTRIES   1000000
#define AED_RATINGS_MAX_ANNOTATOR 128         /* bytes */
#define AED_RATINGS_MAX_COMMENT   4096        /* bytes */
#define AED_RATINGS_MAX_LABELS    64          /* per rating */
#define AED_RATINGS_MAX_ID        1024        /* bytes of a candidate id or mid */

enum aed_answer {
	AED_ANSWER_PRESENT,
	AED_ANSWER_NOT_PRESENT,
	AED_ANSWER_UNSURE,
	AED_ANSWER_NOT_ACOUSTIC,
	AED_ANSWER_COUNT
};

const char *aed_answer_name(enum aed_answer a); /* "present", "not_present", ... */
int aed_answer_parse(const char *s, enum aed_answer *out);

/* Is s an ISO 8601 UTC time as the page writes it (see above)? */
int aed_review_time_valid(const char *s);
/* The same time in microseconds since 1970; -1 if s is not such a time. */
int64_t aed_review_time_us(const char *s);

/* A short printable excerpt of untrusted text (a ratings file's ids, mids,
 * answers) for messages: at most 90 bytes, control characters as '?', '~'
 * where it was cut. */
void aed_ratings_excerpt(const char *s, char out[96]);

/* --- ratings file ---------------------------------------------------------- */

struct aed_rating_entry {
	size_t index;          /* 1-based position in "ratings" */
	char *candidate;       /* "" if missing or not a string */
	enum aed_answer answer;
	char **labels;         /* mids, duplicates removed, file order */
	size_t n_labels;
	char *comment;         /* "" when absent */
	char *time;
	char *bad;             /* NULL for a well-formed entry, else why not */
};

struct aed_ratings {
	int version;
	char *export_id, *checksum, *class_mid, *annotator, *exported_at;
	struct aed_rating_entry *entries;
	size_t n;
	char sha256[65];       /* of the raw bytes */
};

/* Parse a ratings file from memory. `name` is used in messages only.
 * File-level faults fail the whole parse with AED_EFORMAT: JSON syntax
 * (truncated files included, with jansson's line and column), a top level
 * that is not an object, a wrong format name or version, missing or mistyped
 * export_id/checksum/class/annotator, an over-long or control-character
 * annotator, no "ratings" array, more than AED_RATINGS_MAX_ENTRIES entries.
 * Entry-level faults only mark the entry (entry.bad): not an object, missing
 * or mistyped fields, unknown answer, bad time, over-long comment or id, too
 * many labels, answer not_present with the class judged among its labels (a
 * contradiction), and the same candidate rated twice (every such entry). */
int aed_ratings_parse(const char *data, size_t n, const char *name, struct aed_ratings **out);
void aed_ratings_free(struct aed_ratings **r);

#endif
