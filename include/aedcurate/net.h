/* net.h - the network layer, and the fetch stage's other ways of getting a
 * file. Four parts, each in its own file:
 *   source.c    reading a SOURCE that is a local path, a file:// URL or an
 *               http(s):// URL (libcurl), with timeouts, redirects, a size cap
 *               and the HTTP status in the error message: the one-shot reader
 *               of the ingest commands;
 *   names.c     a sorted index of the file names under a folder (--from);
 *   download.c  resumable HTTP downloads into <file>.part, many at once on a
 *               libcurl multi handle (--url, manifest URLs);
 *   child.c     shell commands in process groups of their own (--cmd).
 * The fetch stage (src/stage/fetch/) decides what to try and records what
 * happened; nothing here knows about segments or the database. Source
 * templates are template.h.
 */
#ifndef AEDCURATE_NET_H
#define AEDCURATE_NET_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <curl/curl.h>

#include "aedcurate/util.h"

struct aed_source_opts {
	long connect_timeout_s; /* 0: 15 s */
	long timeout_s;         /* whole transfer; 0: 120 s */
	long low_speed_s;       /* abort if < 1 byte/s for this long; 0: 30 s */
	size_t max_bytes;       /* 0: 512 MiB */
	long max_redirects;     /* 0: 5 */
};

/* 1 if s looks like a URL (scheme://), 0 for a plain path. */
int aed_source_is_url(const char *s);

/* Read the whole SOURCE into *data (malloc'd, NUL-terminated; *n excludes the
 * NUL). opts may be NULL for defaults. Errors name the source and, for HTTP,
 * the status code ("https://x/y: HTTP 404"). */
int aed_source_read(const char *source, const struct aed_source_opts *opts,
		    char **data, size_t *n);

/* "file:///abs/p%20q" or "file://localhost/abs/p%20q" -> "/abs/p q" (malloc'd
 * into *out). Other hosts and bad escapes are AED_EUSAGE naming the URL. */
int aed_file_url_path(const char *url, char **out);

/* --- a sorted index of file names (names.c) ----------------------------------
 * Each folder is listed once (names starting with '.' and *.part / *.tmp
 * left out, at most 8 folders deep), sorted by base name; a pattern's
 * literal prefix narrows a look-up to a binary-searched range.
 * Ownership: aed_name_index_build() fills a caller-owned struct that
 * aed_name_index_release() empties; entries are the index's. */
struct aed_name_entry {
	char *base; /* points into rel */
	char *rel;  /* malloc'd path relative to the folder */
};

struct aed_name_index {
	char *root; /* realpath of the folder */
	struct aed_name_entry *e;
	size_t n, cap;
};

/* List dir (and, with recursive, its subfolders). AED_ENOTFOUND when dir
 * cannot be resolved, AED_EIO when a folder cannot be read. */
int aed_name_index_build(struct aed_name_index *ix, const char *dir, int recursive);
void aed_name_index_release(struct aed_name_index *ix);
/* Add one top-level name keeping the order (a file written since the build). */
int aed_name_index_insert(struct aed_name_index *ix, const char *name);
/* First entry (in name order) whose base name (or relative path, when the
 * fnmatch pattern has a '/') matches pat, or NULL. */
const struct aed_name_entry *aed_name_index_match(const struct aed_name_index *ix,
						  const char *pat);
/* First entry named "<name>" or "<name>.<ext>" (ext letters and digits), or
 * NULL. */
const struct aed_name_entry *aed_name_index_find_stem(const struct aed_name_index *ix,
						      const char *name);

/* --- resumable HTTP downloads (download.c) -----------------------------------
 * A download writes <final>.part and the caller's multi handle drives it; a
 * .part left by an earlier run is resumed with a Range request (a server that
 * ignores Range answers 200, and that whole body replaces the .part), and
 * aed_download_finish() renames it to <final> when complete. The struct is
 * embedded by the caller, who owns the URL and the final path; the download
 * owns its .part path, its libcurl handle and the .part's descriptor until
 * aed_download_finish() or aed_download_release(). */
struct aed_http_limits {
	double connect_timeout_s;
	double timeout_s;        /* one transfer, whole */
	double stall_s;          /* abort a transfer receiving nothing this long */
	int64_t max_bytes;       /* one file */
};

struct aed_download {
	const char *url;         /* borrowed from the caller */
	char *part_path;         /* malloc'd "<final>.part" */
	CURL *easy;
	int fd;                  /* the .part; -1: closed */
	int64_t have, resume_from;  /* bytes in the .part now, at the start */
	int64_t max_bytes;
	int64_t received;        /* body bytes of the current transfer */
	int checked, over_cap, io_errno;
	int64_t range_start, range_total; /* from Content-Range; -1: none */
	int range_bad;           /* a 206 for some other offset than asked */
	char errbuf[CURL_ERROR_SIZE];
};

/* How a transfer ended (aed_download_finish). */
enum aed_download_status {
	AED_DL_DONE,      /* the file is complete at its final path */
	AED_DL_FAILED,    /* for good: too large, short, I/O error, HTTP 4xx, ... */
	AED_DL_MISSING,   /* HTTP 404 or 410: the server has no such file */
	AED_DL_TRANSIENT, /* worth retrying after a pause: timeouts, resets,
	                   * HTTP 5xx, 408 and 429 */
	AED_DL_RESTART,   /* a 206 for another range than asked: the .part is
	                   * removed, start over now */
	AED_DL_MISFIT,    /* HTTP 416 for a resume: the .part does not fit what
	                   * the server has; removed, start over now */
};

/* curl_global_init() once, a multi handle with at most max_connections. */
int aed_download_multi_new(long max_connections, CURLM **multi);
/* Open (or resume) <final_path>.part and add the transfer of url to multi;
 * CURLINFO_PRIVATE of its handle is owner. AED_EIO for the .part, AED_ENET
 * when libcurl refuses. */
int aed_download_start(struct aed_download *d, CURLM *multi, const char *url,
		       const char *final_path, const struct aed_http_limits *lim, void *owner);
/* Run the transfers; for each one that ended, done(ctx, owner, result). Stops
 * at the first non-zero return of done and returns it. */
int aed_download_poll(CURLM *multi, int (*done)(void *ctx, void *owner, CURLcode cc),
		      void *ctx);
/* The transfer ended with cc: take it off multi, close the .part and, when
 * complete, fsync it, rename it to final_path and fsync dir_fd (the folder),
 * so the rename survives a power cut before the caller records it. *http_code
 * is the last response's status (0: none); msg says why for every status
 * but AED_DL_DONE. */
enum aed_download_status aed_download_finish(struct aed_download *d, CURLM *multi, CURLcode cc,
					     const char *final_path, int dir_fd,
					     long *http_code, char *msg, size_t cap);
/* Stop a transfer still running and close the .part (kept for a resume). */
void aed_download_release(struct aed_download *d, CURLM *multi);

/* --- child commands (child.c) ------------------------------------------------
 * A command runs with /bin/sh -c in a process group of its own, with stdin
 * and stdout on /dev/null and stderr on a pipe whose last bytes are kept for
 * the record. The group -- the tools the shell started, not just the shell --
 * is killed and waited for on every way a command ends: exit (before its
 * output is taken), timeout, and the caller stopping. A kill -9 of the caller
 * runs no code: the shell dies with it (PR_SET_PDEATHSIG), and what it started
 * is found by the mark the caller puts in its environment (store.h,
 * aed_run_command_mark()). The struct is embedded by the caller. */
#define AED_CHILD_TAIL_KEEP 600  /* bytes of a command's stderr kept for the record */

struct aed_child {
	pid_t pid;               /* the shell, leader of its group; 0: none */
	int err_fd;              /* read end of its stderr; -1: closed */
	struct aed_buf tail;     /* the last of its stderr */
};

/* environ without any inherited entry of mark's variable, plus mark ("VAR=
 * value"), for aed_child_start(): built before the fork because the child may
 * only make async-signal-safe calls. Free the array (not its strings). */
int aed_child_env_new(const char *mark, char ***env);
/* Make this process the subreaper of its descendants, so that a command's
 * tools whose parent died become ours to reap (aed_child_kill). Returns the
 * setting to give back to aed_child_subreaper_end(), -1 when it was not set. */
int aed_child_subreaper_begin(void);
void aed_child_subreaper_end(int was);
/* Fork and exec /bin/sh -c cmd with env. AED_EIO when the pipe or fork fails. */
int aed_child_start(struct aed_child *c, const char *cmd, char **env);
/* Read what stderr holds now; 1 when the shell has exited, after its group
 * was killed and reaped (wait status in *wstatus); 0 while it runs. */
int aed_child_poll(struct aed_child *c, int *wstatus);
/* Kill the command's process group now and reap it (wait status in *wstatus). */
void aed_child_kill(struct aed_child *c, int *wstatus);
/* After the exit or the kill: the rest of stderr read, the pipe closed, and
 * its last lines (at most AED_CHILD_TAIL_KEEP bytes, trimmed) in out. */
void aed_child_end(struct aed_child *c, char *out, size_t cap);
/* The file a command left in dir: name itself, else the largest regular file
 * (tools that add an extension: "{out}.opus"). malloc'd base name, or NULL. */
char *aed_child_output(const char *dir, const char *name);
/* Remove a folder and everything in it, as far as possible (no errors). */
void aed_rm_tree(const char *path);

#endif
