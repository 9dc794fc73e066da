/* merge.h - bringing shard databases into one corpus database (`aedcurate
 * merge SHARD.db... --into CORPUS.db`): the per-segment results of N
 * databases each made with `--shard I/N`, so that index build, mine, review,
 * refine and export on the corpus see what a single-machine run stores.
 *
 * What comes over, matched by natural key (ids are local to a database):
 *   segments by key "{ytid}_{start_ms}"; splits by name; classes by mid (with
 *   their edges, closure and examples); ontology ingests by (source, sha256)
 *   and segment-list ingests by (source, format, sha256, split): a file
 *   ingested in every shard is one row; models by sha256; labels, strong
 *   labels, split membership as the union of identical rows; media, clip and
 *   embedding rows, array_ref rows (clips, log-mels, embeddings, scores) and
 *   work rows by segment key.
 * Runs: every run row of the shard, with shard_db (absolute path) and
 *   shard_run_id saying where it came from. A run is known by the process that
 *   made it (host, pid, pid_start, stage, started_at), so a run present in
 *   several shards (shards copied from one database after its ingests) is one
 *   row, carrying the first shard that brought it. A run still 'running' in
 *   the shard comes over 'interrupted' (a shard run alive on this host makes
 *   the merge refuse the shard); claimed work comes over pending.
 * Arrays stay in the shard's files: array_file.path is the file's absolute
 *   path (store.h). With copy set, the bytes up to committed_bytes are copied
 *   to <corpus>.arrays/<kind>/<corpus run id>-<file name> first (fdatasync'ed
 *   before the commit), so the corpus no longer needs the shards.
 * Not merged: what is made over a whole corpus after a merge (vector indexes,
 *   mine runs and candidates, reviews and ratings, priors, refinement,
 *   exports, pipeline steps). Rows of those in a shard are counted in the
 *   result (skipped) and left there.
 *
 * The same result. A segment done in two shards (or in the corpus and a
 * shard) must agree: segment rows on every column; media 'ok' in both on
 *   sha256 (a failed or unavailable row gives way to an 'ok' one: a retry that
 *   succeeded); clip rows on every measured column; embedding rows on model
 *   sha256 and n_patches; arrays on dtype, shape and content (the bytes are
 *   read and compared; the same file and offset needs no read); classes on
 *   name, flags and label index. Work: 'done' replaces any other state,
 *   otherwise the first state stays. Anything else that differs is a conflict.
 * Conflicts are never resolved: a shard with any conflict is not merged at
 *   all (its transaction rolls back), every conflict is listed (up to
 *   max_listed) and the merge goes on with the next shard, then fails.
 *
 * Refusals, before anything is written: a shard whose schema version (PRAGMA
 * user_version) is not the corpus's, or that registered a model file
 * (sha256) other than the corpus's (or, for an empty corpus, the first
 * shard's that has one), or whose run is still alive on this host, or that is
 * the corpus itself. The message names the shard. A shard whose array file
 * is missing or shorter than its committed size stops the merge at that
 * shard (its transaction rolls back; the shards before it stay merged, and a
 * rerun carries on), as the corpus would point at bytes that are not there.
 *
 * Shards that ran the same ingests: when a shard's segment, segment_split,
 *   label and strong_label tables hold exactly the corpus's rows, ids
 *   included (SHA-256 of each table in key order, aed_db_digest()), and its
 *   classes and splits have the corpus's ids, nothing of them is copied and
 *   only the segments its results name are mapped (same_ingest in the result).
 *   Every shard of `submit` after the first is such a shard: its merge reads
 *   those tables once instead of probing the corpus for every row. Any
 *   difference (one more label, one segment column) takes the row-by-row way,
 *   with its conflict checks.
 * Idempotent and resumable: each shard is merged in one transaction, which
 * also writes its merge_shard row; a kill -9 leaves that shard not merged at
 * all, and a rerun merges the shards already in as no change (nothing is
 * written for a shard that brings nothing new), so it ends with the database
 * an uninterrupted merge makes: rows are inserted in shard order, then in the
 * shard's id order, so ids do not depend on where a merge was killed.
 *
 * Ownership: the caller owns opts; aed_merge() fills *res, released with
 * aed_merge_result_release(). Returns an enum aed_status; AED_ESTATE when a
 * shard was refused or had conflicts (res says which). */
#ifndef AEDCURATE_MERGE_H
#define AEDCURATE_MERGE_H

#include <stddef.h>
#include <stdint.h>

struct aed_db;

struct aed_merge_opts {
	const char *const *shards; /* database paths, merged in this order */
	size_t n_shards;
	int copy;                  /* copy the array files into the corpus */
	size_t max_listed;         /* conflicts kept in the result (0: the default) */
};
/* Default: aed_merge_opts_init() and `aedcurate merge`'s rows. */
#define AED_MERGE_MAX_LISTED_DEFAULT 20
static inline void aed_merge_opts_init(struct aed_merge_opts *o)
{
	*o = (struct aed_merge_opts){ .max_listed = AED_MERGE_MAX_LISTED_DEFAULT };
}

enum aed_merge_outcome {
	AED_MERGE_MERGED,    /* brought new rows */
	AED_MERGE_UNCHANGED, /* everything was in already */
	AED_MERGE_CONFLICT,  /* not merged: see conflicts */
};

struct aed_merge_shard {
	char *path;          /* absolute */
	enum aed_merge_outcome outcome;
	int64_t n_segments;  /* segments in the shard */
	int64_t n_new;       /* corpus rows added or changed */
	int64_t n_arrays;    /* array_ref rows in the shard */
	int64_t n_conflicts;
	int64_t n_skipped;   /* rows of tables merge leaves alone */
	int same_ingest;     /* segments, splits, labels as the corpus's (digest) */
	char *skipped;       /* "mine_run 2, candidate 100", or NULL */
	double seconds;
};

struct aed_merge_result {
	struct aed_merge_shard *shards;
	size_t n_shards;
	char **conflicts;    /* "SHARD: segment KEY: embedding differs (...)" */
	size_t n_listed;
	int64_t n_conflicts; /* all of them, listed or not */
};

int aed_merge(struct aed_db *db, const struct aed_merge_opts *opts, struct aed_merge_result *res);
void aed_merge_result_release(struct aed_merge_result *res);

#endif
