/* fetch.h - the fetch stage: find or download each segment's audio file and
 * record it in the media table (sql/0002_media.sql). The sources it tries are
 * templates (template.h); the file-name index, the HTTP downloads and the
 * --cmd children it drives are the net layer's (net.h).
 */
#ifndef AEDCURATE_FETCH_H
#define AEDCURATE_FETCH_H

#include <stdint.h>

#include "aedcurate/store.h"
#include "aedcurate/template.h"
#include "aedcurate/util.h"

/* --- the stage ---------------------------------------------------------------
 * For each selected segment, sources are tried in this order until one has
 * the file: the manifest's own path, the --from folders (each with each name
 * template), the --url templates, the --cmd templates. A segment every source
 * reports as missing (no file, HTTP 404/410) is 'unavailable'; one that some
 * source failed on (timeouts, 5xx after the retries, a non-zero exit) is
 * 'failed' and is tried again by later runs, up to max_attempts runs.
 * Downloads go to <media>/<name>.part and are renamed when complete; a .part
 * left by an earlier run is resumed with an HTTP Range request (a server that
 * ignores Range answers 200, and that whole body replaces the .part). <name> is the
 * segment key (or the ytid for whole-recording templates) made file-name safe,
 * plus the URL's extension; a complete file already there is recorded without
 * downloading again, which is what makes a rerun after kill -9 cheap.
 * Selection: segments of --split/--shard, the first --limit of them by id
 * (with no --from/--url/--cmd only manifest rows); a run claims work items of
 * its own selection only (the store's work rows, stage "fetch").
 * SIGINT/SIGTERM during the run: finished records are kept, claims released,
 * commands killed, the run marked interrupted and AED_ESTATE returned.
 * A command is killed as a whole process group (the tools it started too),
 * and when it exits whatever it left running is killed before its output is
 * taken. After a kill -9 of the stage, the next run of any stage kills what
 * the commands left running before their items can be retried (they carry
 * the run's mark, aed_run_command_mark() in store.h). */
struct aed_fetch_opts {
	const char **from;     /* --from DIR, n_from of them */
	int n_from;
	const char **names;    /* file-name templates for --from; NULL: the defaults
	                        * "{ytid}_{start_ms}.*" then "{ytid}.*" */
	int n_names;
	const char **urls;     /* --url TEMPLATE */
	int n_urls;
	const char **cmds;     /* --cmd TEMPLATE, run with /bin/sh -c */
	int n_cmds;
	const char *media_dir; /* NULL: "<db path>.media" */
	/* The numbers below take their defaults from aed_fetch_opts_init();
	 * 0 (retries: < 0) asks the stage for the same. */
	int jobs;              /* transfers and commands at once */
	int retries;           /* per source per run, timeouts/5xx/resets */
	double backoff_s;      /* first retry delay, doubled each time */
	double timeout_s;      /* one transfer, whole */
	double connect_timeout_s;
	double stall_s;        /* abort a transfer receiving nothing this long */
	double cmd_timeout_s;  /* one command */
	int64_t max_bytes;     /* one file */
	const char *split;     /* only segments of this split, or NULL */
	int64_t limit;         /* only the first N selected segments (by id); 0: all */
	struct aed_shard shard;
	int max_attempts;      /* runs that may try a failed segment */
	int retry_unavailable; /* look again for segments recorded unavailable */
	int retry_failed;      /* failed segments get max_attempts fresh runs */
	int redo;              /* forget all fetch work state first */
};

/* Defaults: aed_fetch_opts_init() and `aedcurate fetch`'s option rows. */
#define AED_FETCH_JOBS_DEFAULT 8
#define AED_FETCH_RETRIES_DEFAULT 3
#define AED_FETCH_BACKOFF_DEFAULT 1.0              /* s */
#define AED_FETCH_TIMEOUT_DEFAULT 600.0            /* s */
#define AED_FETCH_CONNECT_TIMEOUT_DEFAULT 15.0     /* s */
#define AED_FETCH_STALL_DEFAULT 30.0               /* s */
#define AED_FETCH_CMD_TIMEOUT_DEFAULT 3600.0       /* s */
#define AED_FETCH_MAX_BYTES_DEFAULT ((int64_t)2 << 30)
static inline void aed_fetch_opts_init(struct aed_fetch_opts *o)
{
	*o = (struct aed_fetch_opts){
		.jobs = AED_FETCH_JOBS_DEFAULT,
		.retries = AED_FETCH_RETRIES_DEFAULT,
		.backoff_s = AED_FETCH_BACKOFF_DEFAULT,
		.timeout_s = AED_FETCH_TIMEOUT_DEFAULT,
		.connect_timeout_s = AED_FETCH_CONNECT_TIMEOUT_DEFAULT,
		.stall_s = AED_FETCH_STALL_DEFAULT,
		.cmd_timeout_s = AED_FETCH_CMD_TIMEOUT_DEFAULT,
		.max_bytes = AED_FETCH_MAX_BYTES_DEFAULT,
		.max_attempts = AED_WORK_MAX_ATTEMPTS_DEFAULT,
	};
}

struct aed_fetch_summary {
	int64_t run_id;
	int64_t selected;      /* segments in this run's selection (seeded) */
	int64_t processed;     /* segments this run recorded */
	int64_t ok, unavailable, failed;
	int64_t downloaded;    /* files transferred by HTTP in this run */
	int64_t commands;      /* commands run */
	int64_t bytes;         /* bytes received over HTTP in this run */
	double seconds;
};

/* Run the stage on db. Per-segment failures are recorded, never returned;
 * errors are returned for bad options, the database and the media folder. */
int aed_fetch_run(struct aed_db *db, const struct aed_fetch_opts *opts,
		  struct aed_fetch_summary *summary);

#endif
