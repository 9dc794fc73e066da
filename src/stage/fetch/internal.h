/* internal.h - what the files of the fetch stage share: the stage's state
 * (struct fetch), one job per segment in flight, the sources a job tries and
 * the records waiting for the database; not a public interface (the stage's
 * contract is include/aedcurate/fetch.h).
 *
 *   fetch.c    the run: options, sources, selection, the event loop, the end
 *   sources.c  a job through its sources: the manifest's path, --from, --url,
 *              --cmd (the net layer does the I/O: net.h)
 *   records.c  a finished job's media row and work state, in batches
 */
#ifndef AEDCURATE_STAGE_FETCH_INTERNAL_H
#define AEDCURATE_STAGE_FETCH_INTERNAL_H

#include <stdint.h>

#include <sqlite3.h>

#include "aedcurate/fetch.h"
#include "aedcurate/net.h"
#include "aedcurate/store.h"
#include "aedcurate/util.h"

#define STAGE "fetch"
#define FLUSH_EVERY 64   /* records per transaction */
#define FLUSH_SECONDS 0.5

enum src_kind { SRC_LOCAL, SRC_URL, SRC_CMD };

struct source {
	enum src_kind kind;
	const char *text;        /* the template as given */
	struct aed_template tpl;
	int dir;                 /* SRC_LOCAL: index into fetch.dirs */
	int per_segment;         /* aed_template_is_segment() */
};

enum job_state { J_FREE, J_READY, J_URL, J_CMD };

enum outcome { OUT_OK, OUT_UNAVAILABLE, OUT_FAILED };

struct job {
	enum job_state state;
	/* the segment */
	int64_t id, start_ms, end_ms;  /* end_ms < 0: none */
	char *key, *ytid, *mpath;      /* mpath: manifest path or NULL */
	int cut;                       /* manifest file is the whole recording */
	/* progress through the sources */
	int src;                 /* next source to try; -2: the manifest path not
	                          * looked at yet; -1: downloading the manifest's URL */
	int whole_video;         /* of the current transfer or command */
	int tries;               /* retries used on the current source */
	double next_at;          /* monotonic time to (re)start */
	int attempts;            /* transfers and commands started, this run */
	int failed;              /* some source failed (not just 'missing') */
	char *error;             /* the most telling reason so far */
	long http_status;
	int exit_status;         /* -1: none */
	/* the current transfer or command */
	char *where;             /* expanded URL or command */
	char *name;              /* file name in the media folder */
	char *final_path;
	struct aed_download dl;  /* J_URL */
	struct aed_child child;  /* J_CMD */
	double started;
	char *tmpdir;            /* J_CMD: the folder the command writes into */
};

struct record {
	int64_t id;
	enum outcome status;
	char *path, *sha256, *source, *error;
	const char *kind;
	int whole_video, exit_status;
	long http_status;
	int64_t size;
	int attempts;
};

struct fetch {
	struct aed_db *db;
	struct aed_fetch_opts o;
	struct aed_fetch_summary *sum;
	int64_t run_id;
	char *media;             /* realpath of the media folder */
	int media_fd;            /* the folder, open for fsync after renames */
	struct aed_name_index *dirs; /* one per --from */
	int n_dirs;
	struct aed_name_index media_ix; /* media folder, for --cmd outputs */
	struct source *src;
	int n_src;
	struct job *jobs;
	int n_jobs;              /* slots */
	int running;             /* transfers + commands */
	CURLM *multi;
	int64_t *claimed;        /* claimed ids not yet given to a job */
	int n_claimed, claim_pos, claims_done, claim_max;
	struct record *recs;
	int n_recs;
	double last_flush;
	sqlite3_stmt *seg_st, *ins_st;
	struct aed_progress *progress;
	unsigned rng;
	char **cmd_env;          /* environ plus the run mark, for --cmd children */
	char cmd_mark[96];       /* "AEDCURATE_RUN=<pid>.<start>" */
	int subreaper_was;       /* PR_GET_CHILD_SUBREAPER before the stage; -1: unset */
};

/* records.c */
void fetch_set_error(struct job *j, const char *msg);
void fetch_job_clear_transfer(struct job *j);
void fetch_job_release(struct job *j);
void fetch_records_release(struct fetch *f);
/* Write the queued records and their work state in one transaction. */
int fetch_flush_records(struct fetch *f);
/* Finish a job: queue its record and free the slot. For OUT_OK, path is the
 * file, source where it came from. */
int fetch_job_finish(struct fetch *f, struct job *j, enum outcome st, const char *path,
		     int whole_video, const char *source, const char *kind);

/* sources.c */
/* Read claimed segment id into the free slot j. */
int fetch_load_segment(struct fetch *f, struct job *j, int64_t id);
/* Try sources from j->src on until one is running or the job is finished. */
int fetch_job_advance(struct fetch *f, struct job *j);
/* A transfer ended (aed_download_poll's callback; ctx is the fetch). */
int fetch_url_done(void *ctx, void *owner, CURLcode cc);
/* Commands that exited or ran out of time: finish them. */
int fetch_cmd_poll(struct fetch *f);

#endif
