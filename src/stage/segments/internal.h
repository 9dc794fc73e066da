/* internal.h - what the files of the segments stage share: the rows of one
 * list held in memory while they are checked (struct ctx), and the writer
 * that stores them; not a public interface (the stage's contract is
 * include/aedcurate/segments.h).
 *
 *   ingest.c  the stage: hand the input to a reader (seglist.h), check each
 *             row against the class table and the stored segments
 *   source.c  the input: read whole, its sha256, a manifest's folder
 *   write.c   write the checked rows in one transaction
 */
#ifndef AEDCURATE_STAGE_SEGMENTS_INTERNAL_H
#define AEDCURATE_STAGE_SEGMENTS_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include <sqlite3.h>

#include "aedcurate/arena.h"
#include "aedcurate/seglist.h"
#include "aedcurate/segments.h"
#include "aedcurate/store.h"
#include "aedcurate/util.h"

/* A segment of this list: the row as the reader gave it, and what the
 * database knows of it. */
struct seg {
	struct aed_seg_row row; /* lab_off/lab_n index ctx.labels (csv, manifest) */
	int64_t id;          /* stored id, 0 until known */
	int exists;          /* 1: stored before this ingest */
	int fill_path;       /* existing row gets path/meta */
};

struct strong_row {
	size_t seg;          /* index into ctx.segs */
	int64_t class_id;
	double start_s, end_s;
};

struct existing {
	int64_t id, end_ms; /* end_ms -1: NULL */
	char *path;         /* malloc'd or NULL */
};

struct ctx {
	struct aed_db *db;
	const struct aed_segments_opts *o;
	struct aed_segments_result *r;
	const char *name;          /* source as given, for messages */
	size_t max_errors;
	struct aed_arena arena;
	struct aed_keymap classes; /* mid -> class id */
	struct aed_keymap names;   /* display name (case-folded) -> id, -1 ambiguous */
	struct aed_keymap keys;    /* key -> index in segs (this file), see keys_sorted */
	int keys_sorted;           /* 1: segs are in strictly increasing key order
				    * and keys is not filled yet (csv, manifest) */
	struct aed_keymap stored;  /* key -> index in stored_v (preloaded) */
	struct aed_vec stored_v;   /* struct existing */
	int preloaded;             /* stored holds every stored key */
	sqlite3_stmt *lookup;      /* per-key lookup when not preloaded */
	int64_t n_stored;          /* segments in the db before this ingest */
	struct aed_vec segs;       /* struct seg */
	struct aed_vec labels;     /* int64_t class ids */
	struct aed_vec strong;     /* struct strong_row */
	struct aed_progress *prog;
	size_t prog_done;          /* bytes reported so far */
};

/* source.c */
struct source {
	const char *data;
	size_t n;
	void *map;   /* mmap'd, or NULL */
	char *heap;  /* malloc'd, or NULL */
};

/* The whole input: a path mmap'd, or a URL read with a timeout (0: net.h's
 * default); at most 4 GiB. */
int segments_source_open(const char *src, long timeout_s, struct source *s);
void segments_source_close(struct source *s);

/* For pthread_create(): the sha256 of the input into hex. */
struct sha_job {
	const char *data;
	size_t n;
	char *hex;
};
void *segments_sha_thread(void *arg);

/* Directory that relative manifest paths are resolved against, with a
 * trailing '/' (malloc'd into *out): a URL's folder, or the realpath of the
 * manifest's folder. */
int segments_manifest_base(const char *source, char **out);

/* write.c */
/* Write every checked row (segments, split, labels, strong labels) inside
 * the caller's transaction; *split_id is the split's id, 0 without one. */
int segments_write_all(struct ctx *c, int64_t *split_id);
/* The segment_source row of this ingest (the ingest log). */
int segments_record_source(struct ctx *c, int64_t split_id);

#endif
