/* store.h - the stage store: one SQLite database per corpus (or per --shard),
 * the stage runs and per-item work state recorded in it, and the array store
 * of bulk float data kept in append-only files beside it.
 *
 * Ownership: aed_db_open() returns a handle the caller frees with
 * aed_db_free(&db). A handle is used by one thread at a time; worker threads
 * open their own handle on the same path (WAL mode lets them run together).
 * Every function returns an enum aed_status and records a message on failure.
 */
#ifndef AEDCURATE_STORE_H
#define AEDCURATE_STORE_H

#include <stddef.h>
#include <stdint.h>
#include <sqlite3.h>

struct aed_db;

enum aed_db_flags {
	AED_DB_CREATE = 1 << 0,    /* create the file if missing (aedcurate init) */
	AED_DB_READONLY = 1 << 1,  /* open read-only: status, dump, show */
};

/* Schema version this binary writes (the highest sql/NNNN_*.sql). */
int aed_db_schema_version(void);

/* Open (and if needed migrate) the database at path. Refuses a database whose
 * schema is newer than this binary's, or a file that is not a database. */
int aed_db_open(const char *path, int flags, struct aed_db **out);
void aed_db_free(struct aed_db **db);
/* 1 when this process can write the database at path and create files in
 * its folder (SQLite's -wal and -shm): what any writing command needs. A
 * writing open of a database that is not writable says so, naming the folder.
 * A read-only open in a folder this user cannot write reads the file as
 * immutable when it must (no -shm to share, no -wal holding changes). */
int aed_db_path_writable(const char *path);

sqlite3 *aed_db_sqlite(struct aed_db *db);
const char *aed_db_path(const struct aed_db *db);
/* Directory of the array store: "<db path>.arrays". Created on demand. */
const char *aed_db_array_dir(const struct aed_db *db);

/* Transactions. begin() takes the write lock at once (BEGIN IMMEDIATE), so a
 * transaction never fails half-way for lock upgrades; busy waits up to 60 s. */
int aed_db_begin(struct aed_db *db);
int aed_db_commit(struct aed_db *db);
void aed_db_rollback(struct aed_db *db); /* safe to call when none is open */

/* Run SQL with no results. */
int aed_db_exec(struct aed_db *db, const char *sql);
/* Prepare a statement; on failure records the SQL error. */
int aed_db_prepare(struct aed_db *db, const char *sql, sqlite3_stmt **st);
/* Record the connection's current SQLite error as AED_EDB with context. */
int aed_db_error(struct aed_db *db, const char *what);
/* First column of the first row as int64 (0 if no row). */
int aed_db_int(struct aed_db *db, const char *sql, int64_t *out);
/* SHA-256 of a query's rows, in the order it returns them: each row as its
 * column count, then each value as its type and 8 bytes (the integer, the
 * real, or the length of the text or blob whose bytes follow), so two queries
 * digest alike only when they return the same values of the same types in
 * the same rows and order. For comparing tables without holding or probing
 * them: `SELECT * FROM t ORDER BY <its key>`. */
int aed_db_digest(struct aed_db *db, const char *sql, unsigned char out[32]);

/* meta(key, value) */
int aed_db_meta_get(struct aed_db *db, const char *key, char **value); /* *value malloc'd or NULL */
int aed_db_meta_set(struct aed_db *db, const char *key, const char *value);

/* --- cache files -------------------------------------------------------------
 * Data derived from the database and kept beside the file it describes (the
 * vector index's segment map, mine's corpus sample), so that a command need
 * not read millions of rows to derive it again. A header says what it was
 * derived from; a reader that finds another header, or no file, derives the
 * data itself (and may write the cache for the next one). Written under a
 * temporary name and renamed; read mapped. Native byte order: a cache is not
 * carried to another machine, and one that does not match is only slower. */
struct aed_cache {
	void *base;   /* the header, then the data (at base + the header's size) */
	size_t len;
};
/* 1 and c mapped when path is hn + data_len bytes whose first hn equal hdr;
 * 0 otherwise. hn a multiple of 8 keeps the data aligned. */
int aed_cache_map(const char *path, const void *hdr, size_t hn, size_t data_len,
		  struct aed_cache *c);
void aed_cache_unmap(struct aed_cache *c);
/* hdr and the n parts, in order; -1 (nothing left behind) on failure. */
int aed_cache_write(const char *path, const void *hdr, size_t hn, int n,
		    const void *const part[], const size_t size[]);

/* --- runs ------------------------------------------------------------------
 * A run is one execution of a stage. aed_run_begin() first reaps runs whose
 * process is gone: kills what their external commands left running (see
 * aed_run_command_mark()), marks them interrupted, releases their claims.
 *
 * The stage envelope, the same in every stage:
 *     json_t *p = json_pack(...the options that shape the results...);
 *     if ((rc = aed_run_begin(db, "stage", p, &run_id)))   // p is taken
 *             return rc;
 *     ...work...
 *     if (rc)
 *             return aed_run_fail(db, run_id, rc, n_done, n_failed);
 *     return aed_run_end(db, run_id, AED_RUN_OK, n_done, n_failed, NULL);
 * aed_run_begin() records params (a JSON object; NULL records {}) as compact
 * JSON, keys in the order they were added, and releases it. aed_run_fail()
 * rolls back an open transaction, puts the run's work claims back to
 * pending, ends the run FAILED with the message of the error that stopped it
 * (aed_last_error()), raises that error again (ending the run may have
 * replaced it) and returns rc. */
enum aed_run_outcome { AED_RUN_OK, AED_RUN_FAILED, AED_RUN_INTERRUPTED };

struct json_t;
int aed_run_begin(struct aed_db *db, const char *stage, struct json_t *params, int64_t *run_id);
int aed_run_progress(struct aed_db *db, int64_t run_id, int64_t n_done, int64_t n_failed);
int aed_run_end(struct aed_db *db, int64_t run_id, enum aed_run_outcome outcome,
		int64_t n_done, int64_t n_failed, const char *message);
/* aed_run_fail() with another outcome: AED_RUN_INTERRUPTED for a stage
 * stopped by a signal. */
int aed_run_stop(struct aed_db *db, int64_t run_id, enum aed_run_outcome outcome, int rc,
		 int64_t n_done, int64_t n_failed);
static inline int aed_run_fail(struct aed_db *db, int64_t run_id, int rc, int64_t n_done,
			       int64_t n_failed)
{
	return aed_run_stop(db, run_id, AED_RUN_FAILED, rc, n_done, n_failed);
}
int aed_run_reap(struct aed_db *db);
/* aed_run_reap(), and every run recorded as running on another host is
 * taken as dead too (marked interrupted, its claims released, its uncommitted
 * array bytes cut), with nothing killed there. Only for a caller that is the
 * database's one writer: a Slurm task on its shard's database, which may have
 * been requeued onto another node than the one it was killed on. */
int aed_run_reap_all_hosts(struct aed_db *db);
/* The environment entry "AEDCURATE_RUN=<pid>.<start>" naming this process as
 * a run row does (pid, pid_start), written to buf (64 bytes are enough). A
 * stage puts it in the environment of every external command it starts; every
 * descendant inherits it, so when the run is reaped as dead the process groups
 * of the processes still carrying it are killed before its claims go back to
 * pending, and a leftover of a kill -9 cannot write into a rerun's output. */
void aed_run_command_mark(char *buf, size_t n);
#define AED_RUN_MARK_VAR "AEDCURATE_RUN"

/* Whether the process of a run recorded as running, on host with pid and
 * pid_start (its start time), is still there: 1 yes, 0 no (a reap would mark
 * the run interrupted), -1 cannot tell (another host). Reads nothing. */
int aed_run_alive(const char *host, int64_t pid, int64_t pid_start);

/* --- per-item work ---------------------------------------------------------
 * States: pending -> claimed -> done | failed. Claims are taken in batches
 * under BEGIN IMMEDIATE, so several threads or processes never claim the same
 * item. An item is done only when its results and its 'done' state commit in
 * the same transaction: a kill at any moment leaves it either done (results
 * stored) or not done (nothing stored, redone next time). */
struct aed_work_counts {
	int64_t pending, claimed, done, failed;
};

struct aed_shard {
	int index, count; /* --shard I/N: items with shard % N == I; count 0 = all */
};

/* Parse "I/N" (0 <= I < N). */
int aed_shard_parse(const char *s, struct aed_shard *out);
/* The deterministic shard hash of a segment key (FNV-1a, 31 bits). */
int64_t aed_shard_hash(const char *key);

/* Add pending rows for every segment id returned by select_sql (a SELECT of
 * one column of segment ids) not already in the stage's work, restricted to the
 * shard. Returns how many were added in *added (may be NULL). */
int aed_work_seed(struct aed_db *db, const char *stage, const char *select_sql,
		  const struct aed_shard *shard, int64_t *added);
/* Which items a claim may take; a NULL filter (or a zeroed one) takes any.
 * Items outside it are never claimed, in any state: a failed item of another
 * selection or shard is left for the runs of that selection or shard. */
struct aed_work_filter {
	/* NULL, or the name of a TEMP table of this handle's connection with an
	 * integer column id (e.g. "fetch_sel", made with CREATE TEMP TABLE
	 * fetch_sel(id INTEGER PRIMARY KEY)): only items whose id is in it. The
	 * name is letters, digits and '_'. Temp tables are per connection, so a
	 * worker thread on its own handle needs its own table. */
	const char *selection;
	/* Only items that are segments with segment.shard % count == index.
	 * segment.shard is aed_shard_hash(key), stored when the segment is
	 * ingested (the column aed_work_seed() filters on), so a claim compares
	 * integers and hashes nothing; an item with no segment row is not taken.
	 * count 0 or 1: every shard. */
	struct aed_shard shard;
};

/* Runs that may try a failed item before it is left alone: the stages'
 * max_attempts default (their opts_init and the commands' --max-attempts). */
#define AED_WORK_MAX_ATTEMPTS_DEFAULT 3

/* Claim up to max items for run_id: pending ones, and failed ones with fewer
 * than max_attempts attempts that run_id did not fail itself, restricted to
 * filter (may be NULL). Items come in ascending item order, pending and
 * failed together, each claim adding 1 to the item's attempts; the claim is
 * one UPDATE under BEGIN IMMEDIATE. Returns the count in *n (0: nothing left
 * for this filter). Cost per claim: a walk of the (stage, state) index from
 * its first eligible item, skipping items outside the filter. */
int aed_work_claim(struct aed_db *db, const char *stage, int64_t run_id, int max,
		   int max_attempts, const struct aed_work_filter *filter,
		   int64_t *items, int *n);
/* Mark an item done / failed. Call inside the transaction that stores the
 * item's results (aed_db_begin ... aed_db_commit). */
int aed_work_done(struct aed_db *db, const char *stage, int64_t item);
int aed_work_fail(struct aed_db *db, const char *stage, int64_t item, const char *error);
/* Give claimed items back (a worker stopping early). */
int aed_work_release(struct aed_db *db, const char *stage, int64_t run_id);
int aed_work_counts(struct aed_db *db, const char *stage, struct aed_work_counts *out);
/* Forget the stage's work state (done items will be redone): --redo. */
int aed_work_reset(struct aed_db *db, const char *stage);
/* Item's array of kind was written anew, or removed: the stages that read
 * that kind (stage_input, sql/0014_stage_input.sql) forget their work on the
 * item, so their next run seeds it again and computes it from the new input;
 * with drop_outputs, the arrays those stages made of it are removed too (an
 * input that is gone leaves nothing made from it). Called by the stage that
 * wrote or removed the array, which so needs to know no stage after it. */
int aed_work_input_changed(struct aed_db *db, const char *kind, int64_t item, int drop_outputs);

/* --- array store -------------------------------------------------------------
 * Layout on disk: <db>.arrays/<kind>/<run_id>-<writer>.bin, raw little-endian
 * arrays back to back, each 64-byte aligned; array_ref rows say where each one
 * is (array_file.path is relative to <db>.arrays/, or absolute for a shard's
 * file that `merge` points at: those are read, never written or truncated).
 * A writer belongs to one thread. Protocol per batch:
 *   aed_array_append() for each item (bytes go to the file, not yet visible),
 *   aed_array_sync() (fdatasync),
 *   aed_db_begin(); aed_array_record() + aed_work_done() per item;
 *   aed_array_commit_size(); aed_db_commit().
 * Bytes past committed_bytes belong to nobody and are truncated on reap. */
enum aed_dtype { AED_F32, AED_I16, AED_U8 };

struct aed_array {
	enum aed_dtype dtype;
	int64_t dims[3];  /* unused trailing dims are 1 */
	void *data;       /* malloc'd by aed_array_get, free with aed_array_release */
	size_t nbytes;
};

struct aed_array_writer;

int aed_array_writer_new(struct aed_db *db, const char *kind, int64_t run_id,
			 int writer_index, struct aed_array_writer **out);
void aed_array_writer_free(struct aed_array_writer **w);
/* Append; *offset receives where the bytes start. */
int aed_array_append(struct aed_array_writer *w, const void *data, size_t nbytes,
		     int64_t *offset);
int aed_array_sync(struct aed_array_writer *w);
/* Insert (or replace) the array_ref row for item. */
int aed_array_record(struct aed_array_writer *w, int64_t item, int64_t offset,
		     enum aed_dtype dtype, const int64_t dims[3]);
/* Update array_file.committed_bytes to everything appended so far. */
int aed_array_commit_size(struct aed_array_writer *w);

/* Read the array of (kind, item). AED_ENOTFOUND if there is none. */
int aed_array_get(struct aed_db *db, const char *kind, int64_t item, struct aed_array *out);
void aed_array_release(struct aed_array *a);
/* Many arrays of one kind: one prepared statement, and the files read kept
 * open. Same arrays as aed_array_get, but out->data is the reader's buffer,
 * valid until the next get or the free (not for aed_array_release). */
struct aed_array_reader;
int aed_array_reader_new(struct aed_db *db, const char *kind, struct aed_array_reader **out);
int aed_array_reader_get(struct aed_array_reader *r, int64_t item, struct aed_array *out);
/* Rows row0 .. row0 + nrows - 1 of it (along dims[0]; nrows < 0: all), read
 * alone: out->dims are the whole array's, out->data and nbytes the rows'. */
int aed_array_reader_rows(struct aed_array_reader *r, int64_t item, int64_t row0, int64_t nrows,
			  struct aed_array *out);
void aed_array_reader_free(struct aed_array_reader **r);
size_t aed_dtype_size(enum aed_dtype t);
const char *aed_dtype_name(enum aed_dtype t);

/* --- segments ------------------------------------------------------------- */
/* Resolve "YTID_STARTMS", a bare segment id number, or a file path of an
 * ingested manifest row to a segment id. */
int aed_segment_lookup(struct aed_db *db, const char *name, int64_t *id);

#endif
