/* fetch.h - the fetch stage (find or download each segment's audio file and
 * record it in the media table, sql/0002_media.sql) and the source templates
 * it expands: file-name patterns, URLs and shell commands.
 *
 * Template syntax: literal text with {variable} placeholders; "{{" and "}}"
 * stand for literal braces. Variables:
 *   {ytid}      the segment's YouTube id (or manifest file stem)
 *   {start_ms}  {end_ms}   the segment's range in milliseconds
 *   {start}     {end}      the same in seconds, shortest exact decimal ("30", "30.5")
 *   {key}       "{ytid}_{start_ms}"
 *   {out}       (--cmd only) the path the command must write to
 * A template that uses {start_ms}, {start} or {key} names one file per segment
 * (media.whole_video = 0); otherwise the file is the whole source recording and
 * decode cuts the segment's range out of it (whole_video = 1).
 *
 * Values are escaped for where they land, so a hostile id cannot leave its
 * placeholder: percent-encoded in URLs, single-quoted in commands, glob
 * characters escaped in file-name patterns; a value containing '/' is refused
 * in file-name patterns.
 *
 * Ownership: aed_template_parse() fills a caller-owned struct that
 * aed_template_release() empties; expansion appends to a caller-owned aed_buf.
 */
#ifndef AEDCURATE_FETCH_H
#define AEDCURATE_FETCH_H

#include <stdint.h>

#include "aedcurate/store.h"
#include "aedcurate/util.h"

enum aed_tpl_var {
	AED_TPL_LITERAL = -1,
	AED_TPL_YTID = 0,
	AED_TPL_START_MS,
	AED_TPL_END_MS,
	AED_TPL_START,
	AED_TPL_END,
	AED_TPL_KEY,
	AED_TPL_OUT,
	AED_TPL_NVARS
};

enum aed_tpl_escape {
	AED_TPL_RAW,   /* values as they are */
	AED_TPL_URL,   /* values percent-encoded (RFC 3986 unreserved kept) */
	AED_TPL_SHELL, /* each value one single-quoted shell word */
	AED_TPL_GLOB,  /* fnmatch metacharacters in values escaped; '/' refused */
};

struct aed_tpl_part {
	enum aed_tpl_var var; /* AED_TPL_LITERAL: text holds the literal */
	char *text;           /* malloc'd literal text, NULL for variables */
};

struct aed_template {
	struct aed_tpl_part *parts; /* malloc'd, n entries */
	int n;
	unsigned vars;              /* bit (1 << var) for every variable used */
};

struct aed_tpl_values {
	const char *ytid;
	const char *key;
	int64_t start_ms;
	int64_t end_ms;  /* < 0: unknown (manifest row without an end) */
	const char *out; /* NULL unless expanding a --cmd template */
};

/* Parse text. Errors name the template and the byte offset. */
int aed_template_parse(const char *text, struct aed_template *t);
void aed_template_release(struct aed_template *t);
/* 1 if the template names one file per segment (uses a start variable). */
int aed_template_is_segment(const struct aed_template *t);
/* Append the expansion to out. Fails (AED_EFORMAT) on a value the escape mode
 * cannot carry and (AED_ENOTFOUND) on {end}/{end_ms} of a segment with no end
 * or {out} without an output path. */
int aed_template_expand(const struct aed_template *t, const struct aed_tpl_values *v,
			enum aed_tpl_escape esc, struct aed_buf *out);
/* Milliseconds as the shortest exact decimal number of seconds: 30500 -> "30.5". */
void aed_ms_to_seconds(int64_t ms, char buf[32]);

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
