/* segments.h - the segment-list ingest stage: AudioSet segment CSVs, the
 * AudioSet strong-label TSV and manifests of users' own files become rows of
 * segment, segment_split, label and strong_label (sql/0001_init.sql). The
 * readers that turn lines into rows, and the format and bad-reason enums,
 * are seglist.h's; the stage checks the rows and stores them.
 *
 * Ownership: aed_segments_ingest() fills a caller-embedded result; release it
 * with aed_segments_result_release(). The stage never prints: bad-row
 * messages are returned in the result for the command to show.
 *
 * Input formats (detected from the first line, or forced with .format):
 *
 * csv - AudioSet segment lists (balanced_train_segments.csv, ...):
 *     # comment lines start with '#'
 *     YTID, start_seconds, end_seconds, "mid,mid,..."
 *   Exactly 4 fields; spaces after the commas are allowed. An uncommented
 *   header row whose first field is "YTID" (eval_segments.csv has one) is
 *   skipped. Key "{YTID}_{start_ms}", path NULL, source_group = YTID, labels
 *   with source 'weak'. Times are decimal seconds, stored as whole ms.
 *
 * strong - the temporally-strong label release (tab-separated, header row):
 *     segment_id<TAB>start_time_seconds<TAB>end_time_seconds<TAB>label
 *   segment_id is "{YTID}_{start_ms}" (split at the last '_'); the segment is
 *   created if new with end = start + 10 s. Each row adds a strong_label
 *   (times relative to the segment start) and a clip-level label with source
 *   'strong'. Several rows per segment are normal; an identical row twice is
 *   a bad row.
 *
 * manifest - a CSV with a header row naming its columns:
 *     path    required. The audio file. Relative paths are resolved against
 *             the manifest's directory (or its URL's directory) and stored
 *             absolute in segment.path.
 *     start   optional seconds (default 0), end optional seconds (default:
 *             the end of the file, stored as NULL).
 *     labels  optional. Mids or unambiguous display names (case-insensitive),
 *             separated by ';' when the field has any ';', else by ','
 *             (quote the field for commas) unless the whole field is one
 *             display name ("Gunshot, gunfire"). Label source 'manifest'.
 *     id      optional (alias: ytid). The segment's name; default the file
 *             name without directory and extension. Key "{id}_{start_ms}",
 *             so a manifest of cut YouTube clips with id = YTID and start =
 *             the position in the video names the same segment as the
 *             AudioSet lists.
 *     group   optional source recording (segment.source_group; exports never
 *             split a group). Default: id when given, else the file stem.
 *   Every other column goes to segment.meta as a JSON object of strings
 *   {"column": "value", ...}; empty cells are left out.
 *   Column map: "path=file,labels=audioset_mid,group=fsID" names the
 *   manifest's own columns for the roles above, so a foreign manifest is
 *   ingested unchanged.
 *   start/end say where the clip lies in its source recording. By default
 *   the file IS the clip (already cut: UrbanSound8K clips, downloaded AudioSet
 *   segments), and decoding reads the whole file. With .cut the file is the
 *   whole recording and [start, end) must be cut out of it; such segments get
 *   "cut": true in their meta. Either way segment.start_ms/end_ms hold the
 *   manifest's start/end.
 *
 * Bad rows: wrong field count, unparsable or negative time, end <= start, bad
 * id, unknown class, a segment twice in one file, a row that conflicts with
 * the stored segment (different end or path), and lines the tokenizer rejects
 * (open quote, NUL byte, line over 1 MiB). Each is reported as
 * "FILE:LINE: reason". Without .strict they are skipped and counted; with it
 * the first one aborts the ingest and the database is left untouched (not
 * even a run row). Rows are validated completely before anything is written.
 *
 * A segment already stored (from another file, or an earlier ingest of this
 * one) is not a bad row: it joins the split and gains the labels; its path and
 * meta are filled in if they were NULL. Re-ingesting the same file changes no
 * segment, split or label row; each ingest adds one run row and one
 * segment_source row (the ingest log).
 */
#ifndef AEDCURATE_SEGMENTS_H
#define AEDCURATE_SEGMENTS_H

#include <stddef.h>
#include <stdint.h>

#include "aedcurate/seglist.h"

struct aed_db;

struct aed_segments_opts {
	const char *source;          /* path or URL */
	const char *split;           /* split name, or NULL for none */
	enum aed_seg_format format;  /* AED_SEG_AUTO: detect */
	const char *columns;         /* manifest column map, or NULL */
	int cut;                     /* manifest files hold whole recordings */
	int strict;                  /* first bad row aborts, nothing written */
	size_t max_errors;           /* messages kept in the result (0: none; opts_init: the default) */
	int progress;                /* draw aed_progress for big inputs */
	long timeout_s;              /* URL sources: give up after this; 0: net.h default */
	const char *data;            /* non-NULL: the input itself (data_len bytes), and
	                              * source only names it; not read */
	size_t data_len;
	int ontology_examples;       /* labels get source 'ontology' (csv only) */
};
/* Default: aed_segments_opts_init() and `aedcurate segments ingest`'s rows.
 * timeout_s 0 leaves net.h's timeouts (120 s a transfer, 15 s to connect,
 * 30 s without data); a number sets all three. */
#define AED_SEGMENTS_MAX_ERRORS_DEFAULT 20
static inline void aed_segments_opts_init(struct aed_segments_opts *o)
{
	*o = (struct aed_segments_opts){ .max_errors = AED_SEGMENTS_MAX_ERRORS_DEFAULT };
}

struct aed_segments_result {
	enum aed_seg_format format;
	int64_t rows;          /* data rows read (not comments, headers, blanks) */
	int64_t ingested;      /* good rows */
	int64_t segments_new;  /* segments created */
	int64_t segments_seen; /* good rows' segments that were already stored */
	int64_t labels;        /* label rows added */
	int64_t strong_labels; /* strong_label rows added */
	int64_t bad;
	int64_t bad_by[AED_BAD_COUNT];
	char **messages;       /* first max_errors "FILE:LINE: reason" lines */
	size_t n_messages;
	int64_t run_id, source_id; /* 0 when nothing was written */
	char sha256[65];       /* of the raw input */
};

/* Ingest opts->source into db. Returns AED_OK when the ingest committed (bad
 * rows may have been skipped: see r->bad); AED_EFORMAT for --strict aborts
 * and unusable files (message names FILE:LINE); AED_ENET / AED_EIO when the
 * source cannot be read; AED_ESTATE when the ontology is not ingested yet. */
int aed_segments_ingest(struct aed_db *db, const struct aed_segments_opts *opts,
			struct aed_segments_result *r);

/* The ontology's positive examples ("youtu.be/ID?start=S&end=E", table
 * class_example) as AudioSet segments: one segment per (ID, S), labelled
 * with every class that lists it (label source 'ontology'), in split
 * opts->split (NULL: AED_EXAMPLES_SPLIT), so that `fetch --split` brings
 * their audio and `mine` finds them as the class's exemplars. classes: names
 * or mids (aed_class_resolve), each class's own examples; n_classes == 0:
 * every class's. opts->source, data, format and columns are ignored. Same
 * contract and result as aed_segments_ingest (format csv, source
 * "ontology:positive_examples"); AED_ENOTFOUND when the classes list no
 * example. */
#define AED_EXAMPLES_SPLIT "ontology_examples"
int aed_segments_ingest_examples(struct aed_db *db, const char *const *classes,
				 size_t n_classes, const struct aed_segments_opts *opts,
				 struct aed_segments_result *r);
void aed_segments_result_release(struct aed_segments_result *r);

#endif
