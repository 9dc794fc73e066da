/* seglist.h - readers of segment lists: AudioSet segment CSVs, the strong-
 * label TSV and manifests of users' own files (src/format/seglist.c,
 * strong.c, manifest.c). The first step of a clip's path: a reader turns
 * each line into a row (a segment key, its times, path, labels and meta) or
 * a bad-row report, and hands it to its caller, the segments stage
 * (segments.h), which checks it against the database and stores it. The
 * formats and the bad-row rules are documented in segments.h.
 *
 * A reader knows no database: label text becomes class ids through the
 * caller's resolve(), and every row goes to the caller's row() or strong()
 * as soon as it is read, so that reports keep the order of the lines.
 *
 * Ownership: the caller owns the reader struct, the arena (every key, path,
 * meta and group of a row is copied there and stays until the caller
 * releases it) and the label vector (a row's class ids are appended to it).
 */
#ifndef AEDCURATE_SEGLIST_H
#define AEDCURATE_SEGLIST_H

#include <stddef.h>
#include <stdint.h>

#include "aedcurate/arena.h"

enum aed_seg_format {
	AED_SEG_AUTO = 0,
	AED_SEG_CSV,
	AED_SEG_STRONG,
	AED_SEG_MANIFEST,
};

/* Why a row was rejected; index into aed_segments_result.bad_by. */
enum aed_bad_reason {
	AED_BAD_SYNTAX,    /* tokenizer: open quote, NUL, line too long */
	AED_BAD_FIELDS,    /* wrong field count */
	AED_BAD_TIME,      /* unparsable, negative or huge time */
	AED_BAD_RANGE,     /* end <= start */
	AED_BAD_ID,        /* empty or malformed YTID / segment id / path */
	AED_BAD_CLASS,     /* unknown or ambiguous class */
	AED_BAD_DUPLICATE, /* segment (or strong row) already seen in this file */
	AED_BAD_CONFLICT,  /* differs from the stored segment */
	AED_BAD_COUNT
};

const char *aed_seg_format_name(enum aed_seg_format f); /* "csv", ... */
int aed_seg_format_parse(const char *s, enum aed_seg_format *out);
const char *aed_bad_reason_name(enum aed_bad_reason r);   /* "fields", ... */

/* One segment as a list names it. */
struct aed_seg_row {
	const char *key;     /* "{id}_{start_ms}", arena, NUL-terminated */
	uint32_t key_n;      /* bytes */
	uint32_t ytid_n;     /* the id is key[0..ytid_n) */
	int64_t start_ms, end_ms; /* end_ms -1: none */
	const char *path;    /* manifest: absolute path or URL (arena); else NULL */
	const char *group;   /* manifest group column (arena), or NULL: the id */
	const char *meta;    /* manifest: JSON object of the other columns (arena), or NULL */
	size_t lab_off, lab_n; /* its class ids: (int64_t *)labels->v + lab_off */
};

/* One line of the strong-label TSV: a label with times inside a segment. */
struct aed_strong_row {
	struct aed_seg_row seg;  /* end_ms: start + 10 s (the release's clips) */
	int64_t class_id;
	double start_s, end_s;   /* relative to the segment start */
};

struct aed_seglist_reader {
	const char *name;        /* the source as given, for messages */
	struct aed_arena *arena;
	struct aed_vec *labels;  /* int64_t class ids */
	int64_t *rows;           /* incremented for every data row read */
	void *ctx;               /* the callbacks' first argument */
	/* Class id of a label: a mid, or (for manifests) a display name. > 0,
	 * 0 unknown, -1 a display name shared by several classes. */
	int64_t (*resolve)(void *ctx, const char *p, size_t n);
	/* A bad row, "reason" without the FILE:LINE prefix. Non-zero stops the
	 * reader and is returned (--strict, out of memory). */
	int (*bad)(void *ctx, size_t line, enum aed_bad_reason why, const char *reason);
	/* A row that passed the reader's checks (csv, manifest). On rejecting it
	 * the caller takes its labels back (labels->n = row->lab_off). */
	int (*row)(void *ctx, size_t line, const struct aed_seg_row *row);
	/* A strong-label row that passed the reader's checks. */
	int (*strong)(void *ctx, size_t line, const struct aed_strong_row *row);
	/* Optional: the input read up to byte offset (csv). */
	void (*progress)(void *ctx, size_t offset);
};

/* The format of data from its first line: '#' or "YTID," csv, "segment_id\t"
 * strong, a header with a 'path' column manifest, else an AudioSet row
 * without its comment lines csv. AED_EFORMAT naming the line otherwise. */
int aed_seglist_detect(const char *name, const char *data, size_t n, enum aed_seg_format *f);

/* Read a whole list. Returns AED_OK at its end (bad rows reported through
 * bad()), or the first non-zero return of a callback, or AED_ENOMEM. */
int aed_seglist_read_csv(struct aed_seglist_reader *rd, const char *data, size_t n);
int aed_seglist_read_strong(struct aed_seglist_reader *rd, const char *data, size_t n);

/* --- manifests -------------------------------------------------------------- */

#define AED_MANIFEST_ROLES 6 /* path, start, end, labels, id, group */

/* A --columns map, "path=file,labels=mid": the manifest's column name for
 * each role, or NULL where the header names the role itself. */
struct aed_manifest_columns {
	char *name[AED_MANIFEST_ROLES]; /* malloc'd */
};

/* Parse map (NULL: none) into a caller-owned struct; AED_EUSAGE naming the
 * bad entry. Release it with aed_manifest_columns_release() either way. */
int aed_manifest_columns_parse(const char *map, struct aed_manifest_columns *cols);
void aed_manifest_columns_release(struct aed_manifest_columns *cols);

/* Read a manifest: its header row (AED_EFORMAT for a bad one: no 'path'
 * column, a name twice, a mapped column missing), then its rows. Relative
 * paths are joined to base (the manifest's folder or URL folder, ending in
 * '/'); with cut, every row's meta carries "cut": true. */
int aed_manifest_read(struct aed_seglist_reader *rd, const struct aed_manifest_columns *cols,
		      const char *base, int cut, const char *data, size_t n);

#endif
