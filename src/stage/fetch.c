/* fetch.c - the fetch stage: find or download each segment's audio file and
 * record where it is (media table). One thread drives everything: local
 * look-ups inline, HTTP transfers on a libcurl multi handle, --cmd children
 * through pipes, so the database handle never crosses threads.
 *
 * A --cmd command runs in a process group of its own, and the group -- the
 * tools the shell started, not just the shell -- is killed and waited for on
 * every way a command ends: exit (before its output is taken), timeout, and
 * the stage stopping (error, SIGINT/SIGTERM). A kill -9 of the stage runs no
 * code: the shell dies with it (PR_SET_PDEATHSIG), and what it started is
 * killed by the next run's reaping of the dead run, found by the mark every
 * command carries in its environment (aed_run_command_mark(), store/run.c). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <ftw.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <curl/curl.h>

#include "aedcurate/error.h"
#include "aedcurate/fetch.h"
#include "aedcurate/store.h"
#include "aedcurate/util.h"
#include "net/internal.h"

#define STAGE "fetch"
#define TAIL_KEEP 600    /* bytes of a command's stderr kept for the record */
#define FLUSH_EVERY 64   /* records per transaction */
#define FLUSH_SECONDS 0.5
#define DIR_DEPTH 8      /* how deep --from folders are indexed */

/* --- a sorted index of file names -------------------------------------------
 * Looking a template up by readdir() per segment would be quadratic in the
 * folder size; instead each folder is listed once, sorted by base name, and a
 * pattern's literal prefix narrows the search to a binary-searched range. */
struct name_entry {
	char *base; /* points into rel */
	char *rel;  /* malloc'd path relative to the folder */
};

struct name_index {
	char *root; /* realpath of the folder */
	struct name_entry *e;
	size_t n, cap;
};

static int skip_name(const char *name)
{
	size_t n = strlen(name);

	return name[0] == '.' || (n > 5 && !strcmp(name + n - 5, ".part")) ||
	       (n > 4 && !strcmp(name + n - 4, ".tmp"));
}

static int index_cmp(const void *a, const void *b)
{
	const struct name_entry *x = a, *y = b;
	int c = strcmp(x->base, y->base);

	return c ? c : strcmp(x->rel, y->rel);
}

static int index_add(struct name_index *ix, const char *rel)
{
	struct name_entry *e;

	if (ix->n == ix->cap) {
		size_t cap = ix->cap ? ix->cap * 2 : 256;

		e = realloc(ix->e, cap * sizeof *e);
		if (!e)
			return aed_error(AED_ENOMEM, "%s: out of memory listing files", ix->root);
		ix->e = e;
		ix->cap = cap;
	}
	e = &ix->e[ix->n];
	e->rel = strdup(rel);
	if (!e->rel)
		return aed_error(AED_ENOMEM, "%s: out of memory listing files", ix->root);
	e->base = strrchr(e->rel, '/') ? strrchr(e->rel, '/') + 1 : e->rel;
	ix->n++;
	return AED_OK;
}

static int index_walk(struct name_index *ix, const char *sub, int depth)
{
	struct aed_buf path = { 0 };
	DIR *d = NULL;
	struct dirent *de;
	int rc;

	if ((rc = aed_buf_printf(&path, "%s%s%s", ix->root, *sub ? "/" : "", sub)))
		goto out;
	d = opendir(path.data);
	if (!d) {
		rc = aed_error(AED_EIO, "%s: %s", path.data, strerror(errno));
		goto out;
	}
	while ((de = readdir(d))) {
		struct aed_buf rel = { 0 };
		struct stat st;
		char full[PATH_MAX];

		if (skip_name(de->d_name))
			continue;
		if ((rc = aed_buf_printf(&rel, "%s%s%s", sub, *sub ? "/" : "", de->d_name)))
			goto out;
		snprintf(full, sizeof full, "%s/%s", ix->root, rel.data);
		if (stat(full, &st) == 0) {
			if (S_ISREG(st.st_mode))
				rc = index_add(ix, rel.data);
			else if (S_ISDIR(st.st_mode) && depth < DIR_DEPTH)
				rc = index_walk(ix, rel.data, depth + 1);
		}
		aed_buf_release(&rel);
		if (rc)
			goto out;
	}
out:
	if (d)
		closedir(d);
	aed_buf_release(&path);
	return rc;
}

static void index_release(struct name_index *ix)
{
	for (size_t i = 0; i < ix->n; i++)
		free(ix->e[i].rel);
	free(ix->e);
	free(ix->root);
	memset(ix, 0, sizeof *ix);
}

static int index_build(struct name_index *ix, const char *dir, int recursive)
{
	int rc;

	memset(ix, 0, sizeof *ix);
	ix->root = realpath(dir, NULL);
	if (!ix->root)
		return aed_error(AED_ENOTFOUND, "%s: %s", dir, strerror(errno));
	rc = index_walk(ix, "", recursive ? 0 : DIR_DEPTH);
	if (rc) {
		index_release(ix);
		return rc;
	}
	if (ix->n > 1)
		qsort(ix->e, ix->n, sizeof *ix->e, index_cmp);
	return AED_OK;
}

/* Insert one top-level name keeping the order (names written by this run). */
static int index_insert(struct name_index *ix, const char *name)
{
	struct name_entry tmp;
	size_t lo = 0, hi;
	int rc;

	if ((rc = index_add(ix, name)))
		return rc;
	tmp = ix->e[ix->n - 1];
	hi = ix->n - 1;
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;

		if (index_cmp(&ix->e[mid], &tmp) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	memmove(&ix->e[lo + 1], &ix->e[lo], (ix->n - 1 - lo) * sizeof *ix->e);
	ix->e[lo] = tmp;
	return AED_OK;
}

/* The literal text before the first unescaped metacharacter of an fnmatch
 * pattern, unescaped. */
static void pattern_prefix(const char *pat, char *out, size_t cap)
{
	size_t n = 0;

	for (const char *p = pat; *p && n + 1 < cap; p++) {
		if (*p == '*' || *p == '?' || *p == '[')
			break;
		if (*p == '\\' && p[1])
			p++;
		out[n++] = *p;
	}
	out[n] = '\0';
}

/* First entry (in name order) whose base name (or relative path, when the
 * pattern has a '/') matches pat. */
static const struct name_entry *index_match(const struct name_index *ix, const char *pat)
{
	char prefix[1024];
	size_t lo = 0, hi = ix->n, plen;

	if (strchr(pat, '/')) {
		for (size_t i = 0; i < ix->n; i++)
			if (fnmatch(pat, ix->e[i].rel, FNM_PATHNAME) == 0)
				return &ix->e[i];
		return NULL;
	}
	pattern_prefix(pat, prefix, sizeof prefix);
	plen = strlen(prefix);
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;

		if (strcmp(ix->e[mid].base, prefix) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	for (size_t i = lo; i < ix->n && !strncmp(ix->e[i].base, prefix, plen); i++)
		if (fnmatch(pat, ix->e[i].base, 0) == 0)
			return &ix->e[i];
	return NULL;
}

/* --- sources and jobs --------------------------------------------------------- */

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
	char *final_path, *part_path;
	CURL *easy;
	int fd;
	int64_t have, resume_from;  /* bytes in the .part now, at the start */
	int64_t max_bytes;
	int64_t received;        /* body bytes of the current transfer */
	int checked, over_cap, io_errno;
	int64_t range_start, range_total; /* from Content-Range; -1: none */
	int range_bad;           /* a 206 for some other offset than asked */
	char errbuf[CURL_ERROR_SIZE];
	pid_t pid;
	int err_fd;
	struct aed_buf tail;
	double started;
	char *tmpdir;
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
	struct name_index *dirs; /* one per --from */
	int n_dirs;
	struct name_index media_ix; /* media folder, for --cmd outputs */
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

static char *xstrdup(const char *s)
{
	return s ? strdup(s) : NULL;
}

static void set_error(struct job *j, const char *msg)
{
	free(j->error);
	j->error = strdup(msg);
}

/* 1 when s ends in "-" and 8 lowercase hex digits, as safe_name's hash. */
static int ends_like_hash(const char *s, size_t n)
{
	if (n < 9 || s[n - 9] != '-')
		return 0;
	for (size_t i = n - 8; i < n; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return 0;
	return 1;
}

/* A file name for an id, safe in any folder and distinct for distinct ids:
 * [A-Za-z0-9._-] kept, others '_', and "-" plus 8 hex digits of the id's
 * hash added whenever the plain id could be mistaken for another id's name:
 * - a character was replaced, or the id is empty or over 180 bytes;
 * - the id itself ends like such a hash ("a_b-10a3f9f2" is the name of "a b");
 * - no extension follows (ext "": --cmd, or a URL without one) and the id has
 *   a '.': "x.wav" would be the name of "x" fetched from ".../x.wav", and
 *   --cmd outputs are found again as "<name>.<ext>".
 * So a plain name never ends in a hash, hashed ones always do, and an
 * extension (a '.' and letters or digits, url_ext) never holds a '-'.
 * Ordinary ids (YouTube ids, {ytid}_{start_ms} keys) keep the names media
 * folders already hold; an id of the last two kinds gets a new name, so a
 * media file fetched under its old name is not found again by a later run
 * (fetched rows keep their recorded path; a re-fetch writes the new name
 * and leaves the old file, which other ids may have been given, alone). */
static char *safe_name(const char *s, const char *ext)
{
	size_t n = strlen(s);
	char *out = malloc(n + 32 + strlen(ext));
	int changed = 0;

	if (!out)
		return NULL;
	for (size_t i = 0; i < n && i < 180; i++) {
		char c = s[i];
		int ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
			 (c >= '0' && c <= '9') || c == '_' || c == '-' || (c == '.' && i > 0);

		out[i] = ok ? c : '_';
		changed |= !ok;
	}
	out[n < 180 ? n : 180] = '\0';
	if (n == 0 || n > 180 || changed || ends_like_hash(s, n) || (!ext[0] && strchr(s, '.')))
		sprintf(out + strlen(out), "-%08" PRIx64, (uint64_t)aed_shard_hash(s));
	strcat(out, ext);
	return out;
}

/* ".flac" from ".../x.flac?y", "" if there is no short alphanumeric one. */
static void url_ext(const char *url, char ext[16])
{
	const char *end = url + strcspn(url, "?#");
	const char *slash = url, *dot = NULL;

	ext[0] = '\0';
	for (const char *p = url; p < end; p++)
		if (*p == '/')
			slash = p;
	for (const char *p = slash; p < end; p++)
		if (*p == '.')
			dot = p;
	if (!dot || end - dot < 2 || end - dot > 9)
		return;
	for (const char *p = dot + 1; p < end; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9')))
			return;
	memcpy(ext, dot, (size_t)(end - dot));
	ext[end - dot] = '\0';
}

static void job_clear_transfer(struct job *j)
{
	free(j->where);
	free(j->name);
	free(j->final_path);
	free(j->part_path);
	free(j->tmpdir);
	j->where = j->name = j->final_path = j->part_path = j->tmpdir = NULL;
	aed_buf_release(&j->tail);
	j->easy = NULL;
	j->fd = -1;
	j->err_fd = -1;
	j->pid = 0;
}

static void job_release(struct job *j)
{
	job_clear_transfer(j);
	free(j->key);
	free(j->ytid);
	free(j->mpath);
	free(j->error);
	memset(j, 0, sizeof *j);
	j->fd = -1;
	j->err_fd = -1;
	j->state = J_FREE;
}

/* --- recording ------------------------------------------------------------ */

static const char *outcome_name(enum outcome o)
{
	return o == OUT_OK ? "ok" : o == OUT_UNAVAILABLE ? "unavailable" : "failed";
}

static int flush_records(struct fetch *f)
{
	char now[32];
	int rc;

	if (f->n_recs == 0)
		return AED_OK;
	aed_utc_iso8601(now);
	if ((rc = aed_db_begin(f->db)))
		return rc;
	for (int i = 0; i < f->n_recs; i++) {
		struct record *r = &f->recs[i];
		sqlite3_stmt *st = f->ins_st;

		sqlite3_reset(st);
		sqlite3_clear_bindings(st);
		sqlite3_bind_int64(st, 1, r->id);
		sqlite3_bind_text(st, 2, outcome_name(r->status), -1, SQLITE_STATIC);
		if (r->path)
			sqlite3_bind_text(st, 3, r->path, -1, SQLITE_STATIC);
		sqlite3_bind_int(st, 4, r->whole_video);
		if (r->status == OUT_OK)
			sqlite3_bind_int64(st, 5, r->size);
		if (r->sha256)
			sqlite3_bind_text(st, 6, r->sha256, -1, SQLITE_STATIC);
		if (r->source)
			sqlite3_bind_text(st, 7, r->source, -1, SQLITE_STATIC);
		if (r->kind)
			sqlite3_bind_text(st, 8, r->kind, -1, SQLITE_STATIC);
		if (r->error)
			sqlite3_bind_text(st, 9, r->error, -1, SQLITE_STATIC);
		if (r->http_status > 0)
			sqlite3_bind_int64(st, 10, r->http_status);
		if (r->exit_status >= 0)
			sqlite3_bind_int(st, 11, r->exit_status);
		sqlite3_bind_int(st, 12, r->attempts);
		sqlite3_bind_text(st, 13, now, -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 14, f->run_id);
		if (sqlite3_step(st) != SQLITE_DONE) {
			rc = aed_db_error(f->db, "recording media");
			goto out;
		}
		rc = r->status == OUT_FAILED ? aed_work_fail(f->db, STAGE, r->id, r->error)
					     : aed_work_done(f->db, STAGE, r->id);
		if (rc)
			goto out;
	}
	if ((rc = aed_db_commit(f->db)))
		goto out;
	rc = aed_run_progress(f->db, f->run_id, f->sum->ok,
			      f->sum->unavailable + f->sum->failed);
out:
	sqlite3_reset(f->ins_st);
	if (rc)
		aed_db_rollback(f->db);
	for (int i = 0; i < f->n_recs; i++) {
		free(f->recs[i].path);
		free(f->recs[i].sha256);
		free(f->recs[i].source);
		free(f->recs[i].error);
	}
	f->n_recs = 0;
	f->last_flush = aed_now();
	return rc;
}

/* Finish a job: queue its record and free the slot. For OUT_OK, path is the
 * file, source where it came from. */
static int job_finish(struct fetch *f, struct job *j, enum outcome st, const char *path,
		      int whole_video, const char *source, const char *kind)
{
	struct record *r = &f->recs[f->n_recs];
	struct stat sb;
	char hex[65];
	int rc = AED_OK;

	memset(r, 0, sizeof *r);
	r->id = j->id;
	r->status = st;
	r->whole_video = whole_video;
	r->kind = kind;
	r->http_status = j->http_status;
	r->exit_status = j->exit_status;
	r->attempts = j->attempts;
	if (st == OUT_OK) {
		const char *why = NULL;

		r->path = realpath(path, NULL);
		if (!r->path || stat(r->path, &sb) != 0)
			why = strerror(errno);
		else if (aed_sha256_file(r->path, hex) != AED_OK)
			why = aed_last_error();
		if (why) {
			/* Vanished or unreadable between finding and hashing it. */
			char msg[PATH_MAX + 1100];

			snprintf(msg, sizeof msg, "%s: cannot read: %.1000s", path, why);
			free(r->path);
			r->path = NULL;
			r->status = st = OUT_FAILED;
			r->error = strdup(msg);
		} else {
			r->size = (int64_t)sb.st_size;
			r->sha256 = strdup(hex);
		}
	} else {
		r->error = xstrdup(j->error ? j->error : "no source has this segment");
	}
	r->source = xstrdup(source);
	f->n_recs++;
	if (st == OUT_OK)
		f->sum->ok++;
	else if (st == OUT_UNAVAILABLE)
		f->sum->unavailable++;
	else
		f->sum->failed++;
	f->sum->processed++;
	aed_progress_add(f->progress, 1);
	job_release(j);
	if (f->n_recs >= FLUSH_EVERY)
		rc = flush_records(f);
	return rc;
}

/* --- local sources ------------------------------------------------------------ */

static void values_of(const struct job *j, struct aed_tpl_values *v, const char *out)
{
	v->ytid = j->ytid;
	v->key = j->key;
	v->start_ms = j->start_ms;
	v->end_ms = j->end_ms;
	v->out = out;
}

/* The manifest's own path: absolute, or relative to a --from folder, or to the
 * current directory. Returns 1 with *found malloc'd when the file exists. */
static int manifest_lookup(struct fetch *f, const struct job *j, char **found)
{
	struct stat st;
	char buf[PATH_MAX];

	*found = NULL;
	if (!strncasecmp(j->mpath, "file://", 7)) {
		char *p = NULL;

		if (aed_file_url_path(j->mpath, &p) == AED_OK && stat(p, &st) == 0 &&
		    S_ISREG(st.st_mode)) {
			*found = p;
			return 1;
		}
		free(p);
		return 0;
	}
	if (j->mpath[0] != '/') {
		for (int i = 0; i < f->n_dirs; i++) {
			snprintf(buf, sizeof buf, "%s/%s", f->dirs[i].root, j->mpath);
			if (stat(buf, &st) == 0 && S_ISREG(st.st_mode)) {
				*found = strdup(buf);
				return *found != NULL;
			}
		}
	}
	if (stat(j->mpath, &st) == 0 && S_ISREG(st.st_mode)) {
		*found = strdup(j->mpath);
		return *found != NULL;
	}
	return 0;
}

static int local_lookup(struct fetch *f, struct job *j, struct source *s, char **found)
{
	struct aed_tpl_values v;
	struct aed_buf pat = { 0 };
	const struct name_entry *e;
	const struct name_index *ix = &f->dirs[s->dir];
	int rc;

	*found = NULL;
	values_of(j, &v, NULL);
	rc = aed_template_expand(&s->tpl, &v, AED_TPL_GLOB, &pat);
	if (rc) {
		set_error(j, aed_last_error());
		goto out;
	}
	e = index_match(ix, pat.data);
	if (e) {
		struct aed_buf p = { 0 };

		if (aed_buf_printf(&p, "%s/%s", ix->root, e->rel) == AED_OK)
			*found = p.data;
		else
			aed_buf_release(&p);
	} else if (!j->error) {
		struct aed_buf msg = { 0 };

		if (aed_buf_printf(&msg, "no file matching '%s' in %s", pat.data, ix->root) == AED_OK)
			set_error(j, msg.data);
		aed_buf_release(&msg);
	}
out:
	aed_buf_release(&pat);
	return *found != NULL;
}

/* --- HTTP ------------------------------------------------------------------- */

/* Header lines: remember Content-Range ("bytes A-B/T" or "bytes * /T") of
 * the last response (a redirect's headers are forgotten at the next one). */
static size_t on_header(char *buf, size_t size, size_t nitems, void *userdata)
{
	struct job *j = userdata;
	size_t n = size * nitems;
	char line[256];
	long long a, t;

	if (n >= 5 && !strncmp(buf, "HTTP/", 5)) {
		j->range_start = j->range_total = -1;
		return n;
	}
	if (n < 14 || strncasecmp(buf, "content-range:", 14))
		return n;
	snprintf(line, sizeof line, "%.*s", (int)(n < sizeof line - 1 ? n : sizeof line - 1), buf);
	if (sscanf(line + 14, " bytes %lld-%*d/%lld", &a, &t) == 2) {
		j->range_start = a;
		j->range_total = t;
	} else if (sscanf(line + 14, " bytes */%lld", &t) == 1) {
		j->range_total = t;
	}
	return n;
}

static size_t on_body(char *ptr, size_t size, size_t nmemb, void *userdata)
{
	struct job *j = userdata;
	size_t n = size * nmemb, off = 0;

	if (!j->checked) {
		long code = 0;
		curl_off_t len = -1;

		j->checked = 1;
		curl_easy_getinfo(j->easy, CURLINFO_RESPONSE_CODE, &code);
		curl_easy_getinfo(j->easy, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &len);
		/* A range from elsewhere than the end of our .part is no use. */
		if (code == 206 && j->range_start != j->resume_from) {
			j->range_bad = 1;
			return 0;
		}
		/* Asked for a range but got the whole file (a server that ignores
		 * Range answers 200): start the .part over with this body. */
		if (j->resume_from > 0 && code != 206) {
			if (ftruncate(j->fd, 0) != 0 || lseek(j->fd, 0, SEEK_SET) != 0) {
				j->io_errno = errno;
				return 0;
			}
			j->have = 0;
		}
		/* The announced size against the cap, now that we know whether it
		 * adds to the .part (206) or replaces it (200). */
		if (len >= 0 && j->have + (int64_t)len > j->max_bytes) {
			j->over_cap = 1;
			return 0;
		}
	}
	if (j->have + (int64_t)n > j->max_bytes) {
		j->over_cap = 1;
		return 0; /* aborts the transfer */
	}
	while (off < n) {
		ssize_t w = write(j->fd, ptr + off, n - off);

		if (w < 0) {
			if (errno == EINTR)
				continue;
			j->io_errno = errno;
			return 0;
		}
		off += (size_t)w;
	}
	j->have += (int64_t)n;
	j->received += (int64_t)n;
	return n;
}

static int peer_busy(struct fetch *f, const struct job *me, const char *final_path)
{
	for (int i = 0; i < f->n_jobs; i++) {
		const struct job *o = &f->jobs[i];

		if (o != me && (o->state == J_URL || o->state == J_CMD) && o->final_path &&
		    !strcmp(o->final_path, final_path))
			return 1;
	}
	return 0;
}

/* Returns AED_OK with j->state J_URL (started), J_READY (waiting for a peer
 * writing the same file), or J_FREE (finished: file already there). A
 * template the segment cannot fill moves on to the next source. */
static int url_begin(struct fetch *f, struct job *j, struct source *s)
{
	struct aed_tpl_values v;
	struct aed_buf url = { 0 }, path = { 0 };
	struct stat st;
	char ext[16];
	int rc;

	job_clear_transfer(j);
	values_of(j, &v, NULL);
	if (!s) {
		j->whole_video = j->cut;
		if (aed_buf_printf(&url, "%s", j->mpath))
			return aed_error(AED_ENOMEM, "out of memory");
	} else if (aed_template_expand(&s->tpl, &v, AED_TPL_URL, &url)) {
		set_error(j, aed_last_error());
		j->failed = 1;
		j->src++;
		j->tries = 0;
		aed_buf_release(&url);
		return AED_OK;
	} else {
		j->whole_video = !s->per_segment;
	}
	j->where = url.data;
	url_ext(j->where, ext);
	j->name = safe_name(j->whole_video && s ? j->ytid : j->key, ext);
	if (!j->name || aed_buf_printf(&path, "%s/%s", f->media, j->name)) {
		aed_buf_release(&path);
		return aed_error(AED_ENOMEM, "out of memory");
	}
	j->final_path = path.data;
	if (stat(j->final_path, &st) == 0 && S_ISREG(st.st_mode)) {
		/* Complete already: an earlier run renamed it but did not record it,
		 * or another segment of the same recording fetched it. */
		char *where = j->where, *fp = j->final_path;

		j->where = j->final_path = NULL;
		rc = job_finish(f, j, OUT_OK, fp, j->whole_video, where, "url");
		free(where);
		free(fp);
		return rc;
	}
	if (peer_busy(f, j, j->final_path)) {
		j->state = J_READY;
		j->next_at = aed_now() + 0.1;
		return AED_OK;
	}
	if (asprintf(&j->part_path, "%s.part", j->final_path) < 0)
		return aed_error(AED_ENOMEM, "out of memory");
	j->fd = open(j->part_path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
	if (j->fd < 0)
		return aed_error(AED_EIO, "%s: %s", j->part_path, strerror(errno));
	if (fstat(j->fd, &st) != 0 || lseek(j->fd, 0, SEEK_END) < 0)
		return aed_error(AED_EIO, "%s: %s", j->part_path, strerror(errno));
	j->resume_from = j->have = (int64_t)st.st_size;
	if (j->resume_from >= f->o.max_bytes) {
		if (ftruncate(j->fd, 0) != 0 || lseek(j->fd, 0, SEEK_SET) != 0)
			return aed_error(AED_EIO, "%s: %s", j->part_path, strerror(errno));
		j->resume_from = j->have = 0;
	}
	j->checked = j->over_cap = j->io_errno = j->range_bad = 0;
	j->range_start = j->range_total = -1;
	j->received = 0;
	j->max_bytes = f->o.max_bytes;
	j->errbuf[0] = '\0';
	j->easy = curl_easy_init();
	if (!j->easy)
		return aed_error(AED_ENET, "cannot create a libcurl handle");
	curl_easy_setopt(j->easy, CURLOPT_URL, j->where);
	curl_easy_setopt(j->easy, CURLOPT_PRIVATE, j);
	curl_easy_setopt(j->easy, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(j->easy, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(j->easy, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(j->easy, CURLOPT_ERRORBUFFER, j->errbuf);
	curl_easy_setopt(j->easy, CURLOPT_USERAGENT, "aedcurate/1");
	curl_easy_setopt(j->easy, CURLOPT_FOLLOWLOCATION, 1L);
	curl_easy_setopt(j->easy, CURLOPT_MAXREDIRS, 5L);
	curl_easy_setopt(j->easy, CURLOPT_FAILONERROR, 1L);
	curl_easy_setopt(j->easy, CURLOPT_CONNECTTIMEOUT_MS, (long)(f->o.connect_timeout_s * 1000));
	curl_easy_setopt(j->easy, CURLOPT_TIMEOUT_MS, (long)(f->o.timeout_s * 1000));
	curl_easy_setopt(j->easy, CURLOPT_LOW_SPEED_LIMIT, 1L);
	curl_easy_setopt(j->easy, CURLOPT_LOW_SPEED_TIME, (long)(f->o.stall_s + 0.999));
	/* libcurl's own cap sees only the announced length, which for a 206 adds
	 * to the .part and for a 200 replaces it: the whole cap here, the exact
	 * check in on_body(). */
	curl_easy_setopt(j->easy, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)f->o.max_bytes);
	curl_easy_setopt(j->easy, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(j->easy, CURLOPT_WRITEDATA, j);
	curl_easy_setopt(j->easy, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(j->easy, CURLOPT_HEADERDATA, j);
	/* Range by hand, not CURLOPT_RESUME_FROM: with that, libcurl fails a 200
	 * answer ("cannot resume") before any body arrives, and a server that
	 * ignores Range would fail the item on every run while the .part stays.
	 * on_body() starts the .part over on a 200 instead. */
	if (j->resume_from > 0) {
		char range[32];

		snprintf(range, sizeof range, "%" PRId64 "-", j->resume_from);
		curl_easy_setopt(j->easy, CURLOPT_RANGE, range);
	}
	if (curl_multi_add_handle(f->multi, j->easy) != CURLM_OK)
		return aed_error(AED_ENET, "cannot add a transfer");
	j->state = J_URL;
	j->attempts++;
	j->started = aed_now();
	f->running++;
	return AED_OK;
}

static int transient_curl(CURLcode cc)
{
	switch (cc) {
	case CURLE_OPERATION_TIMEDOUT:
	case CURLE_COULDNT_CONNECT:
	case CURLE_COULDNT_RESOLVE_HOST:
	case CURLE_PARTIAL_FILE:
	case CURLE_RECV_ERROR:
	case CURLE_SEND_ERROR:
	case CURLE_GOT_NOTHING:
	case CURLE_HTTP2:
	case CURLE_HTTP2_STREAM:
	case CURLE_SSL_CONNECT_ERROR:
	case CURLE_WEIRD_SERVER_REPLY:
		return 1;
	default:
		return 0;
	}
}

static double backoff(struct fetch *f, int tries)
{
	double d = f->o.backoff_s;

	for (int i = 1; i < tries && d < 60; i++)
		d *= 2;
	if (d > 60)
		d = 60;
	/* up to 25% jitter so that many clients do not retry in lock-step */
	return d * (1.0 + 0.25 * (rand_r(&f->rng) / (double)RAND_MAX));
}

/* A transfer ended: decide between done, retry, next source. */
static int url_done(struct fetch *f, struct job *j, CURLcode cc)
{
	long code = 0;
	char msg[CURL_ERROR_SIZE + 1024];
	int transient = 0, missing = 0, rc = AED_OK;

	curl_easy_getinfo(j->easy, CURLINFO_RESPONSE_CODE, &code);
	curl_multi_remove_handle(f->multi, j->easy);
	curl_easy_cleanup(j->easy);
	j->easy = NULL;
	f->running--;
	f->sum->bytes += j->received;
	if (code > 0)
		j->http_status = code;

	if (cc == CURLE_OK && code == 206 && j->range_total >= 0 && j->have != j->range_total) {
		snprintf(msg, sizeof msg, "%s: got %" PRId64 " bytes of %" PRId64, j->where,
			 j->have, j->range_total);
		unlink(j->part_path);
		close(j->fd);
		j->fd = -1;
		goto fail_permanent;
	}
	/* 416 for "bytes=N-" where N is the whole size: the .part is complete. */
	if ((cc == CURLE_OK && (code == 200 || code == 206)) ||
	    (code == 416 && j->resume_from > 0 && j->range_total == j->resume_from)) {
		if (fsync(j->fd) != 0 || close(j->fd) != 0) {
			j->fd = -1;
			snprintf(msg, sizeof msg, "%s: %s", j->part_path, strerror(errno));
			goto fail_permanent;
		}
		j->fd = -1;
		if (rename(j->part_path, j->final_path) != 0) {
			snprintf(msg, sizeof msg, "%s: %s", j->final_path, strerror(errno));
			goto fail_permanent;
		}
		fsync(f->media_fd); /* the rename survives a power cut before the record */
		f->sum->downloaded++;
		{
			char *where = j->where, *fp = j->final_path;

			j->where = j->final_path = NULL;
			rc = job_finish(f, j, OUT_OK, fp, j->whole_video, where, "url");
			free(where);
			free(fp);
		}
		return rc;
	}
	{
		struct stat sb;

		/* An empty .part helps no later resume; leave no litter. */
		if (fstat(j->fd, &sb) == 0 && sb.st_size == 0)
			unlink(j->part_path);
	}
	close(j->fd);
	j->fd = -1;
	if (j->over_cap || cc == CURLE_FILESIZE_EXCEEDED) {
		unlink(j->part_path);
		snprintf(msg, sizeof msg, "%s: larger than the size cap of %" PRId64 " bytes",
			 j->where, f->o.max_bytes);
		goto fail_permanent;
	}
	if (j->range_bad) {
		/* The server answered another range than asked: start over now. */
		unlink(j->part_path);
		snprintf(msg, sizeof msg, "%s: answered a range from byte %" PRId64 " for one "
			 "from byte %" PRId64, j->where, j->range_start, j->resume_from);
		if (j->tries++ < f->o.retries + 1) {
			set_error(j, msg);
			j->state = J_READY;
			j->next_at = aed_now();
			return AED_OK;
		}
		goto fail_permanent;
	}
	if (j->io_errno) {
		snprintf(msg, sizeof msg, "%s: %s", j->part_path, strerror(j->io_errno));
		goto fail_permanent;
	}
	if (cc == CURLE_HTTP_RETURNED_ERROR || (cc == CURLE_OK && code >= 300)) {
		snprintf(msg, sizeof msg, "%s: HTTP %ld", j->where, code);
		if (code == 404 || code == 410) {
			missing = 1;
		} else if (code == 416 && j->resume_from > 0) {
			/* The .part does not fit what the server has: start over now. */
			unlink(j->part_path);
			if (j->tries++ < f->o.retries + 1) {
				j->state = J_READY;
				j->next_at = aed_now();
				return AED_OK;
			}
		} else if (code >= 500 || code == 408 || code == 429) {
			transient = 1;
		}
	} else {
		snprintf(msg, sizeof msg, "%s: %s", j->where,
			 j->errbuf[0] ? j->errbuf : curl_easy_strerror(cc));
		transient = transient_curl(cc);
	}
	if (transient && j->tries < f->o.retries) {
		j->tries++;
		set_error(j, msg);
		j->state = J_READY;
		j->next_at = aed_now() + backoff(f, j->tries);
		return AED_OK;
	}
	if (transient && j->tries > 0) {
		size_t l = strlen(msg);

		snprintf(msg + l, sizeof msg - l, " (%d attempts)", j->tries + 1);
	}
	if (missing) {
		/* A 'missing' never hides an earlier real failure. */
		if (!j->failed)
			set_error(j, msg);
		j->state = J_READY;
		j->src++;
		j->tries = 0;
		j->next_at = 0;
		return AED_OK;
	}
fail_permanent:
	set_error(j, msg);
	j->failed = 1;
	j->state = J_READY;
	j->src++;
	j->tries = 0;
	j->next_at = 0;
	return AED_OK;
}

/* --- commands ------------------------------------------------------------- */

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	remove(path);
	return 0;
}

static void rm_tree(const char *path)
{
	nftw(path, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

/* Kill a command's process group and wait until nothing of it is left, so no
 * tool the command started can write after this returns. Call it while the
 * leader (pid == pgid, the shell) is not yet reaped: until then the group's
 * number cannot have been reused, so the SIGKILL reaches our group and nobody
 * else's (the kill(-pgid, 0) calls after that only ask). One SIGKILL is
 * enough: the kernel makes a fork racing a group signal deliver it to the new
 * child too. The stage is the subreaper of its commands (cmd_setup()), so
 * members whose parent died become our children and are reaped here rather
 * than by init. The leader's wait status goes to *leader_status. The wait for
 * the others is bounded (5 s): a member stuck in the kernel, or one whose
 * parent outside the group never reaps it, is left. */
static void group_kill(pid_t pgid, int *leader_status)
{
	double until = aed_now() + 5;
	int st, leader_reaped = 0;
	pid_t r;

	kill(-pgid, SIGKILL);
	kill(pgid, SIGKILL); /* the shell, even if it moved to another group */
	for (;;) {
		while ((r = waitpid(-pgid, &st, WNOHANG)) > 0)
			if (r == pgid) {
				leader_reaped = 1;
				if (leader_status)
					*leader_status = st;
			}
		if (kill(-pgid, 0) != 0 && errno == ESRCH)
			break;
		if (aed_now() > until) {
			aed_warn("command process group %ld did not exit after SIGKILL", (long)pgid);
			break;
		}
		usleep(1000);
	}
	if (!leader_reaped && waitpid(pgid, &st, 0) == pgid && leader_status)
		*leader_status = st;
}

/* A --cmd output already in the media folder: "<name>", or "<name>.<ext>"
 * where ext is letters and digits only: "abc.x-1f2e3d4c.m4a" starts with
 * "abc." but is another id's file (safe_name). */
static const struct name_entry *media_lookup(struct fetch *f, const char *name)
{
	const struct name_index *ix = &f->media_ix;
	size_t n = strlen(name), lo = 0, hi = ix->n;

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;

		if (strcmp(ix->e[mid].base, name) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	/* In name order "<name>" itself comes first. */
	for (size_t i = lo; i < ix->n && !strncmp(ix->e[i].base, name, n); i++) {
		const char *rest = ix->e[i].base + n;
		size_t m = strlen(rest);

		if (m == 0 || (rest[0] == '.' && m > 1 &&
			       strspn(rest + 1, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
						"0123456789") == m - 1))
			return &ix->e[i];
	}
	return NULL;
}

static int cmd_begin(struct fetch *f, struct job *j, struct source *s)
{
	struct aed_tpl_values v;
	struct aed_buf cmd = { 0 }, out = { 0 };
	const struct name_entry *e;
	int pfd[2] = { -1, -1 }, devnull = -1, rc = AED_OK;
	pid_t parent;

	job_clear_transfer(j);
	j->whole_video = !s->per_segment;
	j->name = safe_name(s->per_segment ? j->key : j->ytid, "");
	if (!j->name)
		return aed_error(AED_ENOMEM, "out of memory");
	if (asprintf(&j->final_path, "%s/%s", f->media, j->name) < 0)
		return aed_error(AED_ENOMEM, "out of memory");
	if (peer_busy(f, j, j->final_path)) {
		j->state = J_READY;
		j->next_at = aed_now() + 0.1;
		return AED_OK;
	}
	if (asprintf(&j->tmpdir, "%s/.cmd-%s", f->media, j->name) < 0)
		return aed_error(AED_ENOMEM, "out of memory");
	if ((rc = aed_buf_printf(&out, "%s/%s", j->tmpdir, j->name)))
		goto out;
	values_of(j, &v, out.data);
	if (aed_template_expand(&s->tpl, &v, AED_TPL_SHELL, &cmd)) {
		set_error(j, aed_last_error());
		j->failed = 1;
		j->src++;
		j->tries = 0;
		goto out;
	}
	j->where = cmd.data;
	cmd.data = NULL;
	e = media_lookup(f, j->name);
	if (e) {
		char *where = j->where, *fp = NULL;

		j->where = NULL;
		if (asprintf(&fp, "%s/%s", f->media, e->rel) < 0) {
			free(where);
			rc = aed_error(AED_ENOMEM, "out of memory");
			goto out;
		}
		rc = job_finish(f, j, OUT_OK, fp, j->whole_video, where, "cmd");
		free(where);
		free(fp);
		goto out;
	}
	rm_tree(j->tmpdir);
	if (mkdir(j->tmpdir, 0755) != 0) {
		rc = aed_error(AED_EIO, "%s: %s", j->tmpdir, strerror(errno));
		goto out;
	}
	if (pipe2(pfd, O_CLOEXEC) != 0 || (devnull = open("/dev/null", O_RDWR | O_CLOEXEC)) < 0) {
		rc = aed_error(AED_EIO, "pipe: %s", strerror(errno));
		goto out;
	}
	fflush(NULL);
	parent = getpid();
	j->pid = fork();
	if (j->pid < 0) {
		rc = aed_error(AED_EIO, "fork: %s", strerror(errno));
		j->pid = 0;
		goto out;
	}
	if (j->pid == 0) {
		/* Only async-signal-safe calls here: libcurl may have threads. */
		char *argv[] = { "sh", "-c", j->where, NULL };

		setpgid(0, 0);
		/* If we are killed (even -9) the shell goes too; what it starts is
		 * left to the group kills and the dead run's reaping (see the top). */
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (getppid() != parent)
			_exit(127); /* the stage died before the line above */
		dup2(devnull, 0);
		dup2(devnull, 1);
		dup2(pfd[1], 2);
		execve("/bin/sh", argv, f->cmd_env);
		_exit(127);
	}
	/* Both sides set the group, so it exists before either goes on. */
	setpgid(j->pid, j->pid);
	close(pfd[1]);
	pfd[1] = -1;
	fcntl(pfd[0], F_SETFL, fcntl(pfd[0], F_GETFL) | O_NONBLOCK);
	j->err_fd = pfd[0];
	pfd[0] = -1;
	j->state = J_CMD;
	j->attempts++;
	j->started = aed_now();
	f->running++;
	f->sum->commands++;
out:
	if (pfd[0] >= 0)
		close(pfd[0]);
	if (pfd[1] >= 0)
		close(pfd[1]);
	if (devnull >= 0)
		close(devnull);
	aed_buf_release(&cmd);
	aed_buf_release(&out);
	return rc;
}

static void cmd_read_stderr(struct job *j)
{
	char buf[4096];
	ssize_t n;

	while (j->err_fd >= 0 && (n = read(j->err_fd, buf, sizeof buf)) > 0) {
		aed_buf_append(&j->tail, buf, (size_t)n);
		if (j->tail.len > 4 * TAIL_KEEP) {
			memmove(j->tail.data, j->tail.data + j->tail.len - TAIL_KEEP, TAIL_KEEP);
			j->tail.len = TAIL_KEEP;
		}
	}
}

/* The last lines of stderr, at most TAIL_KEEP bytes, trimmed. */
static void tail_text(struct job *j, char *out, size_t cap)
{
	const char *p = j->tail.data ? j->tail.data : "";
	size_t n = j->tail.len;

	while (n > 0 && (p[n - 1] == '\n' || p[n - 1] == ' ' || p[n - 1] == '\r'))
		n--;
	if (n > TAIL_KEEP) {
		p += n - TAIL_KEEP;
		n = TAIL_KEEP;
	}
	if (n >= cap)
		n = cap - 1;
	memcpy(out, p, n);
	out[n] = '\0';
}

/* The file the command wrote: {out} itself, else the largest file in its
 * folder ("{out}.opus" from tools that add an extension). */
static char *cmd_output(struct job *j)
{
	struct aed_buf best = { 0 };
	off_t best_size = -1;
	struct stat st;
	DIR *d = opendir(j->tmpdir);
	struct dirent *de;

	while (d && (de = readdir(d))) {
		char p[PATH_MAX];

		if (de->d_name[0] == '.')
			continue;
		snprintf(p, sizeof p, "%s/%s", j->tmpdir, de->d_name);
		if (stat(p, &st) != 0 || !S_ISREG(st.st_mode))
			continue;
		if (!strcmp(de->d_name, j->name))
			st.st_size = (off_t)INT64_MAX; /* {out} itself wins */
		if (st.st_size > best_size) {
			best.len = 0;
			if (aed_buf_printf(&best, "%s", de->d_name))
				break;
			best_size = st.st_size;
		}
	}
	if (d)
		closedir(d);
	return best.data;
}

static int cmd_done(struct fetch *f, struct job *j, int wstatus, int timed_out)
{
	char tail[TAIL_KEEP + 1], msg[PATH_MAX + TAIL_KEEP + 512];
	char *produced = NULL;
	int rc = AED_OK;

	cmd_read_stderr(j);
	close(j->err_fd);
	j->err_fd = -1;
	f->running--;
	tail_text(j, tail, sizeof tail);
	j->pid = 0;
	if (timed_out) {
		j->exit_status = -1;
		snprintf(msg, sizeof msg, "command timed out after %.0f s%s%s", f->o.cmd_timeout_s,
			 tail[0] ? ": " : "", tail);
	} else if (WIFSIGNALED(wstatus)) {
		j->exit_status = 128 + WTERMSIG(wstatus);
		snprintf(msg, sizeof msg, "command killed by signal %d%s%s", WTERMSIG(wstatus),
			 tail[0] ? ": " : "", tail);
	} else if (WEXITSTATUS(wstatus) != 0) {
		j->exit_status = WEXITSTATUS(wstatus);
		snprintf(msg, sizeof msg, "command exited with status %d%s%s", j->exit_status,
			 tail[0] ? ": " : "", tail);
	} else {
		j->exit_status = 0;
		produced = cmd_output(j);
		if (!produced) {
			snprintf(msg, sizeof msg, "command exited with status 0 but wrote no file "
				 "at {out}%s%s", tail[0] ? ": " : "", tail);
		} else {
			/* {out} itself has no extension, whatever dots the name holds */
			const char *dot = strcmp(produced, j->name) ? strchr(produced, '.') : NULL;
			char ext[16] = "", src[PATH_MAX], dst[PATH_MAX];

			if (dot && strlen(dot) < sizeof ext)
				strcpy(ext, strrchr(produced, '.'));
			snprintf(src, sizeof src, "%s/%s", j->tmpdir, produced);
			snprintf(dst, sizeof dst, "%s/%s%s", f->media, j->name, ext);
			if (rename(src, dst) != 0) {
				snprintf(msg, sizeof msg, "%s: %s", dst, strerror(errno));
			} else {
				char *where = j->where;

				rm_tree(j->tmpdir);
				fsync(f->media_fd);
				if ((rc = index_insert(&f->media_ix, dst + strlen(f->media) + 1)))
					goto out;
				j->where = NULL;
				rc = job_finish(f, j, OUT_OK, dst, j->whole_video, where, "cmd");
				free(where);
				goto out;
			}
		}
	}
	rm_tree(j->tmpdir);
	set_error(j, msg);
	j->failed = 1;
	j->state = J_READY;
	j->src++;
	j->tries = 0;
	j->next_at = 0;
out:
	free(produced);
	return rc;
}

static int cmd_poll(struct fetch *f)
{
	double now = aed_now();
	int rc = AED_OK;

	for (int i = 0; i < f->n_jobs && !rc; i++) {
		struct job *j = &f->jobs[i];
		siginfo_t si;
		int wstatus = 0;

		if (j->state != J_CMD)
			continue;
		cmd_read_stderr(j);
		/* WNOWAIT: the shell stays a zombie, its pid (the group's number)
		 * held, until group_kill() has killed what it left behind and reaps
		 * it; its output is taken only after that. */
		memset(&si, 0, sizeof si);
		if (waitid(P_PID, (id_t)j->pid, &si, WEXITED | WNOHANG | WNOWAIT) == 0 &&
		    si.si_pid == j->pid) {
			group_kill(j->pid, &wstatus);
			rc = cmd_done(f, j, wstatus, 0);
		} else if (now - j->started > f->o.cmd_timeout_s) {
			group_kill(j->pid, &wstatus);
			rc = cmd_done(f, j, wstatus, 1);
		}
	}
	return rc;
}

/* --- driving a job through its sources ------------------------------------- */

/* Try sources from j->src on until one is running or the job is finished. */
static int job_advance(struct fetch *f, struct job *j)
{
	char *found = NULL;
	int rc = AED_OK;

	if (j->src == -2) {
		j->src = 0;
		if (j->mpath && (!strncasecmp(j->mpath, "http://", 7) ||
				 !strncasecmp(j->mpath, "https://", 8))) {
			j->src = -1; /* the manifest names a download */
		} else if (j->mpath) {
			if (manifest_lookup(f, j, &found)) {
				rc = job_finish(f, j, OUT_OK, found, j->cut, "manifest", "manifest");
				free(found);
				return rc;
			}
			if (!j->error) {
				struct aed_buf msg = { 0 };

				if (aed_buf_printf(&msg, "%s: no such file", j->mpath) == AED_OK)
					set_error(j, msg.data);
				aed_buf_release(&msg);
			}
		}
	}
	while (j->state == J_READY && j->src == -1) {
		int before = j->src;

		if (j->next_at > aed_now() || f->running >= f->o.jobs)
			return AED_OK;
		rc = url_begin(f, j, NULL);
		if (rc || j->state != J_READY || j->src == before)
			return rc;
	}
	while (j->state == J_READY && j->src < f->n_src) {
		struct source *s = &f->src[j->src];

		if (j->next_at > aed_now())
			return AED_OK;
		switch (s->kind) {
		case SRC_LOCAL:
			if (local_lookup(f, j, s, &found)) {
				rc = job_finish(f, j, OUT_OK, found, !s->per_segment,
						f->dirs[s->dir].root, "local");
				free(found);
				return rc;
			}
			j->src++;
			continue;
		case SRC_URL:
			if (f->running >= f->o.jobs)
				return AED_OK;
			{
				int before = j->src;

				rc = url_begin(f, j, s);
				if (rc || j->state != J_READY || j->src == before)
					return rc;
			}
			continue;
		case SRC_CMD:
			if (f->running >= f->o.jobs)
				return AED_OK;
			{
				int before = j->src;

				rc = cmd_begin(f, j, s);
				if (rc || j->state != J_READY || j->src == before)
					return rc;
			}
			continue;
		}
	}
	if (j->state == J_READY && j->src >= f->n_src)
		rc = job_finish(f, j, j->failed ? OUT_FAILED : OUT_UNAVAILABLE, NULL, 0,
				NULL, NULL);
	return rc;
}

static int load_segment(struct fetch *f, struct job *j, int64_t id)
{
	sqlite3_stmt *st = f->seg_st;
	int rc = AED_OK;

	sqlite3_reset(st);
	sqlite3_bind_int64(st, 1, id);
	if (sqlite3_step(st) != SQLITE_ROW) {
		rc = aed_error(AED_EINTERNAL, "fetch: claimed segment %" PRId64 " is gone", id);
		goto out;
	}
	memset(j, 0, sizeof *j);
	j->fd = -1;
	j->err_fd = -1;
	j->id = id;
	j->key = strdup((const char *)sqlite3_column_text(st, 0));
	j->ytid = strdup((const char *)sqlite3_column_text(st, 1));
	j->start_ms = sqlite3_column_int64(st, 2);
	j->end_ms = sqlite3_column_type(st, 3) == SQLITE_NULL ? -1 : sqlite3_column_int64(st, 3);
	j->mpath = sqlite3_column_type(st, 4) == SQLITE_NULL
			   ? NULL : strdup((const char *)sqlite3_column_text(st, 4));
	j->cut = sqlite3_column_int(st, 5) != 0;
	j->src = -2;
	j->exit_status = -1;
	j->state = J_READY;
	if (!j->key || !j->ytid)
		rc = aed_error(AED_ENOMEM, "out of memory");
out:
	sqlite3_reset(st);
	return rc;
}

/* Claim the next items of this run's selection: temp.fetch_sel holds the
 * segments of --split/--shard/--limit, so a run for --split eval never picks
 * up another split's failed items and tries them against this run's sources. */
static int claim(struct fetch *f)
{
	static const struct aed_work_filter sel = { .selection = "fetch_sel" };

	return aed_work_claim(f->db, STAGE, f->run_id, f->claim_max, f->o.max_attempts, &sel,
			      f->claimed, &f->n_claimed);
}

/* A free job slot, or NULL. */
static struct job *free_slot(struct fetch *f)
{
	for (int i = 0; i < f->n_jobs; i++)
		if (f->jobs[i].state == J_FREE)
			return &f->jobs[i];
	return NULL;
}

/* Fill free slots from the claimed items (claiming more when needed). Local
 * look-ups finish at once and free their slot again; after FILL_BUDGET items
 * the loop returns so that running transfers are served. */
#define FILL_BUDGET 2048
static int fill_slots(struct fetch *f)
{
	struct job *j;
	int rc = AED_OK;

	for (int budget = FILL_BUDGET; !rc && budget > 0 && (j = free_slot(f)); budget--) {
		if (f->claim_pos == f->n_claimed) {
			if (f->claims_done)
				break;
			f->claim_pos = 0;
			if ((rc = claim(f)))
				break;
			if (f->n_claimed == 0) {
				f->claims_done = 1;
				break;
			}
		}
		rc = load_segment(f, j, f->claimed[f->claim_pos++]);
		if (!rc)
			rc = job_advance(f, j);
	}
	return rc;
}

static int advance_ready(struct fetch *f, double *next_wake)
{
	double now = aed_now();
	int rc = AED_OK;

	for (int i = 0; i < f->n_jobs && !rc; i++) {
		struct job *j = &f->jobs[i];

		if (j->state != J_READY)
			continue;
		if (j->next_at <= now)
			rc = job_advance(f, j);
		/* A job due but waiting for a free transfer slot wakes with the
		 * transfers; only future retries set the alarm. */
		if (j->state == J_READY && j->next_at > now && j->next_at < *next_wake)
			*next_wake = j->next_at;
	}
	return rc;
}

static int curl_poll(struct fetch *f)
{
	CURLMsg *m;
	int left, still, rc = AED_OK;

	curl_multi_perform(f->multi, &still);
	while (!rc && (m = curl_multi_info_read(f->multi, &left))) {
		struct job *j = NULL;

		if (m->msg != CURLMSG_DONE)
			continue;
		curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&j);
		rc = url_done(f, j, m->data.result);
	}
	return rc;
}

static int busy(struct fetch *f)
{
	for (int i = 0; i < f->n_jobs; i++)
		if (f->jobs[i].state != J_FREE)
			return 1;
	return 0;
}

/* --- setup --------------------------------------------------------------------- */

static void json_str(struct aed_buf *b, const char *s)
{
	aed_buf_append(b, "\"", 1);
	for (; s && *s; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '"' || c == '\\')
			aed_buf_printf(b, "\\%c", c);
		else if (c < 0x20)
			aed_buf_printf(b, "\\u%04x", c);
		else
			aed_buf_append(b, s, 1);
	}
	aed_buf_append(b, "\"", 1);
}

static void json_list(struct aed_buf *b, const char *name, const char **v, int n)
{
	aed_buf_printf(b, ",\"%s\":[", name);
	for (int i = 0; i < n; i++) {
		if (i)
			aed_buf_append(b, ",", 1);
		json_str(b, v[i]);
	}
	aed_buf_append(b, "]", 1);
}

static char *params_json(const struct fetch *f)
{
	struct aed_buf b = { 0 };

	aed_buf_printf(&b, "{\"media\":");
	json_str(&b, f->media);
	json_list(&b, "from", f->o.from, f->o.n_from);
	json_list(&b, "names", f->o.names, f->o.n_names);
	json_list(&b, "url", f->o.urls, f->o.n_urls);
	json_list(&b, "cmd", f->o.cmds, f->o.n_cmds);
	aed_buf_printf(&b, ",\"jobs\":%d,\"retries\":%d,\"timeout_s\":%g,\"max_bytes\":%" PRId64
		       ",\"limit\":%" PRId64 ",\"shard\":\"%d/%d\",\"split\":",
		       f->o.jobs, f->o.retries, f->o.timeout_s, f->o.max_bytes, f->o.limit,
		       f->o.shard.index, f->o.shard.count);
	if (f->o.split)
		json_str(&b, f->o.split);
	else
		aed_buf_printf(&b, "null");
	aed_buf_append(&b, "}", 2);
	return b.data;
}

static const char *const default_names[] = { "{ytid}_{start_ms}.*", "{ytid}.*" };

static int add_source(struct fetch *f, enum src_kind kind, const char *text, int dir)
{
	struct source *s = &f->src[f->n_src];
	int rc;

	memset(s, 0, sizeof *s);
	s->kind = kind;
	s->text = text;
	s->dir = dir;
	if ((rc = aed_template_parse(text, &s->tpl)))
		return aed_error_prefix(rc, "%s", kind == SRC_URL ? "--url" : kind == SRC_CMD
						  ? "--cmd" : "--name");
	f->n_src++;
	if (kind != SRC_CMD && (s->tpl.vars & (1u << AED_TPL_OUT)))
		return aed_error(AED_EUSAGE, "%s '%s': {out} belongs in --cmd templates",
				 kind == SRC_URL ? "--url" : "--name", text);
	if (kind == SRC_CMD && !(s->tpl.vars & (1u << AED_TPL_OUT)))
		return aed_error(AED_EUSAGE, "--cmd '%s': the command must write to {out}", text);
	if (kind == SRC_URL && strncasecmp(text, "http://", 7) && strncasecmp(text, "https://", 8))
		return aed_error(AED_EUSAGE, "--url '%s': only http:// and https:// are supported "
				 "(use --from for local folders)", text);
	s->per_segment = aed_template_is_segment(&s->tpl);
	return AED_OK;
}

/* For --cmd: the children's environment (ours plus the run mark, built here
 * because the child may only make async-signal-safe calls), and the stage as
 * the subreaper of its commands, so group_kill() can reap all of a group. */
static int cmd_setup(struct fetch *f)
{
	extern char **environ;
	size_t n = 0, k = 0;
	int was = 0;

	aed_run_command_mark(f->cmd_mark, sizeof f->cmd_mark);
	while (environ && environ[n])
		n++;
	f->cmd_env = calloc(n + 2, sizeof *f->cmd_env);
	if (!f->cmd_env)
		return aed_error(AED_ENOMEM, "out of memory");
	/* An inherited mark (we run inside another run's command) is replaced:
	 * ours are this run's commands. */
	for (size_t i = 0; i < n; i++)
		if (strncmp(environ[i], AED_RUN_MARK_VAR "=", sizeof AED_RUN_MARK_VAR))
			f->cmd_env[k++] = environ[i];
	f->cmd_env[k] = f->cmd_mark;
	if (prctl(PR_GET_CHILD_SUBREAPER, &was) == 0 &&
	    prctl(PR_SET_CHILD_SUBREAPER, 1L) == 0)
		f->subreaper_was = was;
	return AED_OK;
}

static int setup(struct fetch *f)
{
	const char **names = f->o.names;
	int n_names = f->o.n_names, rc;

	if (!names || n_names == 0) {
		names = (const char **)default_names;
		n_names = 2;
	}
	f->src = calloc((size_t)(f->o.n_from * n_names + f->o.n_urls + f->o.n_cmds + 1),
			sizeof *f->src);
	f->dirs = calloc((size_t)f->o.n_from + 1, sizeof *f->dirs);
	if (!f->src || !f->dirs)
		return aed_error(AED_ENOMEM, "out of memory");
	for (int d = 0; d < f->o.n_from; d++) {
		struct stat st;

		if (stat(f->o.from[d], &st) != 0 || !S_ISDIR(st.st_mode))
			return aed_error(AED_ENOTFOUND, "--from %s: %s", f->o.from[d],
					 errno ? strerror(errno) : "not a folder");
		if ((rc = index_build(&f->dirs[d], f->o.from[d], 1)))
			return rc;
		f->n_dirs++;
		for (int k = 0; k < n_names; k++)
			if ((rc = add_source(f, SRC_LOCAL, names[k], d)))
				return rc;
	}
	for (int k = 0; k < f->o.n_urls; k++)
		if ((rc = add_source(f, SRC_URL, f->o.urls[k], -1)))
			return rc;
	for (int k = 0; k < f->o.n_cmds; k++)
		if ((rc = add_source(f, SRC_CMD, f->o.cmds[k], -1)))
			return rc;

	/* the media folder */
	{
		char *dflt = NULL;
		const char *m = f->o.media_dir;

		if (!m) {
			if (asprintf(&dflt, "%s.media", aed_db_path(f->db)) < 0)
				return aed_error(AED_ENOMEM, "out of memory");
			m = dflt;
		}
		rc = aed_mkdir_p(m);
		if (!rc) {
			f->media = realpath(m, NULL);
			if (!f->media)
				rc = aed_error(AED_EIO, "%s: %s", m, strerror(errno));
		}
		free(dflt);
		if (rc)
			return rc;
		f->media_fd = open(f->media, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (f->media_fd < 0)
			return aed_error(AED_EIO, "%s: %s", f->media, strerror(errno));
		if (f->o.n_cmds > 0 && (rc = index_build(&f->media_ix, f->media, 0)))
			return rc;
	}

	if (f->o.n_cmds > 0 && (rc = cmd_setup(f)))
		return rc;

	f->n_jobs = f->o.jobs * 2 + 8;
	f->jobs = calloc((size_t)f->n_jobs, sizeof *f->jobs);
	f->claim_max = f->n_jobs + 256;
	f->claimed = calloc((size_t)f->claim_max, sizeof *f->claimed);
	f->recs = calloc(FLUSH_EVERY, sizeof *f->recs);
	if (!f->jobs || !f->claimed || !f->recs)
		return aed_error(AED_ENOMEM, "out of memory");
	for (int i = 0; i < f->n_jobs; i++) {
		f->jobs[i].fd = -1;
		f->jobs[i].err_fd = -1;
	}
	/* Always: a manifest may name URLs even without --url. */
	if ((rc = aed_curl_global_init()))
		return rc;
	f->multi = curl_multi_init();
	if (!f->multi)
		return aed_error(AED_ENET, "cannot create a libcurl multi handle");
	curl_multi_setopt(f->multi, CURLMOPT_MAX_TOTAL_CONNECTIONS, (long)f->o.jobs);
	if ((rc = aed_db_prepare(f->db, "SELECT key, ytid, start_ms, end_ms, path, CASE WHEN "
				 "json_valid(meta) THEN json_extract(meta, '$.cut') END "
				 "FROM segment WHERE id = ?", &f->seg_st)))
		return rc;
	rc = aed_db_prepare(f->db,
		"INSERT INTO media(segment_id, status, path, whole_video, size, sha256, source, "
		"kind, error, http_status, exit_status, attempts, fetched_at, run_id) "
		"VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14) "
		"ON CONFLICT(segment_id) DO UPDATE SET status = excluded.status, "
		"path = excluded.path, whole_video = excluded.whole_video, size = excluded.size, "
		"sha256 = excluded.sha256, source = excluded.source, kind = excluded.kind, "
		"error = excluded.error, http_status = excluded.http_status, "
		"exit_status = excluded.exit_status, attempts = media.attempts + excluded.attempts, "
		"fetched_at = excluded.fetched_at, run_id = excluded.run_id", &f->ins_st);
	return rc;
}

/* Which segments this run looks at. */
static int seed(struct fetch *f)
{
	struct aed_buf sql = { 0 };
	char *q = NULL;
	int64_t n = 0;
	int rc;

	if (f->o.split) {
		sqlite3_stmt *st;

		if ((rc = aed_db_prepare(f->db, "SELECT 1 FROM split WHERE name = ?", &st)))
			return rc;
		sqlite3_bind_text(st, 1, f->o.split, -1, SQLITE_STATIC);
		rc = sqlite3_step(st) == SQLITE_ROW ? AED_OK
			: aed_error(AED_ENOTFOUND, "--split %s: no such split", f->o.split);
		sqlite3_finalize(st);
		if (rc)
			return rc;
	}
	if (f->o.redo && (rc = aed_work_reset(f->db, STAGE)))
		return rc;
	if (f->o.retry_unavailable &&
	    (rc = aed_db_exec(f->db, "DELETE FROM work WHERE stage = '" STAGE "' AND state = "
			      "'done' AND item IN (SELECT segment_id FROM media "
			      "WHERE status = 'unavailable')")))
		return rc;
	rc = aed_buf_printf(&sql, "SELECT s.id FROM segment s WHERE 1");
	if (!rc && f->o.split) {
		q = sqlite3_mprintf("%Q", f->o.split);
		rc = aed_buf_printf(&sql, " AND s.id IN (SELECT ss.segment_id FROM segment_split ss "
				    "JOIN split p ON p.id = ss.split_id WHERE p.name = %s)", q);
	}
	/* Without --from, --url or --cmd only a manifest's own paths can answer. */
	if (!rc && f->n_src == 0)
		rc = aed_buf_printf(&sql, " AND s.path IS NOT NULL");
	if (!rc && f->o.shard.count > 1)
		rc = aed_buf_printf(&sql, " AND s.shard %% %d = %d", f->o.shard.count,
				    f->o.shard.index);
	if (!rc)
		rc = aed_buf_printf(&sql, " ORDER BY s.id");
	if (!rc && f->o.limit > 0)
		rc = aed_buf_printf(&sql, " LIMIT %" PRId64, f->o.limit);
	if (!rc)
		rc = aed_work_seed(f->db, STAGE, sql.data, &f->o.shard, &n);
	if (!rc) {
		struct aed_buf sel = { 0 };

		rc = aed_buf_printf(&sel, "DROP TABLE IF EXISTS temp.fetch_sel; "
				    "CREATE TEMP TABLE fetch_sel(id INTEGER PRIMARY KEY); "
				    "INSERT INTO temp.fetch_sel %s", sql.data);
		if (!rc)
			rc = aed_db_exec(f->db, sel.data);
		aed_buf_release(&sel);
	}
	if (!rc && f->o.retry_failed)
		rc = aed_db_exec(f->db, "UPDATE work SET attempts = 0 WHERE stage = '" STAGE "' AND "
				 "state = 'failed' AND item IN (SELECT id FROM temp.fetch_sel)");
	if (!rc)
		rc = aed_db_int(f->db, "SELECT count(*) FROM temp.fetch_sel", &f->sum->selected);
	sqlite3_free(q);
	aed_buf_release(&sql);
	return rc;
}

static void teardown(struct fetch *f)
{
	for (int i = 0; f->jobs && i < f->n_jobs; i++) {
		struct job *j = &f->jobs[i];

		if (j->state == J_URL && j->easy) {
			curl_multi_remove_handle(f->multi, j->easy);
			curl_easy_cleanup(j->easy);
			j->easy = NULL;
		}
		if (j->state == J_CMD && j->pid > 0)
			group_kill(j->pid, NULL);
		if (j->fd >= 0)
			close(j->fd);
		if (j->err_fd >= 0)
			close(j->err_fd);
		job_release(j);
	}
	for (int i = 0; i < f->n_recs; i++) {
		free(f->recs[i].path);
		free(f->recs[i].sha256);
		free(f->recs[i].source);
		free(f->recs[i].error);
	}
	for (int i = 0; f->src && i < f->n_src; i++)
		aed_template_release(&f->src[i].tpl);
	for (int i = 0; i < f->n_dirs; i++)
		index_release(&f->dirs[i]);
	index_release(&f->media_ix);
	if (f->multi)
		curl_multi_cleanup(f->multi);
	sqlite3_finalize(f->seg_st);
	sqlite3_finalize(f->ins_st);
	free(f->src);
	free(f->dirs);
	free(f->jobs);
	free(f->claimed);
	free(f->recs);
	free(f->media);
	if (f->media_fd >= 0)
		close(f->media_fd);
	aed_progress_free(&f->progress);
	free(f->cmd_env);
	if (f->subreaper_was >= 0)
		prctl(PR_SET_CHILD_SUBREAPER, (long)f->subreaper_was);
}

/* SIGINT/SIGTERM while the stage runs: stop cleanly (records kept, claims
 * given back, commands killed, the run marked interrupted). */
static volatile sig_atomic_t stop_signal;

static void on_stop_signal(int sig)
{
	stop_signal = sig;
}

static void apply_defaults(struct aed_fetch_opts *o)
{
	if (o->jobs <= 0)
		o->jobs = AED_FETCH_JOBS_DEFAULT;
	if (o->retries < 0)
		o->retries = AED_FETCH_RETRIES_DEFAULT;
	if (o->backoff_s <= 0)
		o->backoff_s = AED_FETCH_BACKOFF_DEFAULT;
	if (o->timeout_s <= 0)
		o->timeout_s = AED_FETCH_TIMEOUT_DEFAULT;
	if (o->connect_timeout_s <= 0)
		o->connect_timeout_s = AED_FETCH_CONNECT_TIMEOUT_DEFAULT;
	if (o->stall_s <= 0)
		o->stall_s = AED_FETCH_STALL_DEFAULT;
	if (o->cmd_timeout_s <= 0)
		o->cmd_timeout_s = AED_FETCH_CMD_TIMEOUT_DEFAULT;
	if (o->max_bytes <= 0)
		o->max_bytes = AED_FETCH_MAX_BYTES_DEFAULT;
	if (o->max_attempts <= 0)
		o->max_attempts = AED_WORK_MAX_ATTEMPTS_DEFAULT;
}

int aed_fetch_run(struct aed_db *db, const struct aed_fetch_opts *opts,
		  struct aed_fetch_summary *summary)
{
	struct fetch f = { 0 };
	int64_t todo = 0;
	char *params = NULL, msg[160];
	double t0 = aed_now();
	struct sigaction sa = { 0 }, old_int, old_term;
	int rc, started = 0, interrupted = 0;

	memset(summary, 0, sizeof *summary);
	f.db = db;
	f.o = *opts;
	f.sum = summary;
	f.rng = (unsigned)getpid();
	f.media_fd = -1;
	f.subreaper_was = -1;
	apply_defaults(&f.o);
	if ((rc = setup(&f)))
		goto out;
	if ((rc = seed(&f)))
		goto out;
	params = params_json(&f);
	if ((rc = aed_run_begin(db, STAGE, params ? params : "{}", &f.run_id)))
		goto out;
	started = 1;
	stop_signal = 0;
	sa.sa_handler = on_stop_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, &old_int);
	sigaction(SIGTERM, &sa, &old_term);
	summary->run_id = f.run_id;
	{
		char *q = sqlite3_mprintf("SELECT count(*) FROM work WHERE stage = '" STAGE "' AND "
					  "(state = 'pending' OR (state = 'failed' AND attempts < %d)) "
					  "AND item IN (SELECT id FROM temp.fetch_sel)",
					  f.o.max_attempts);

		rc = q ? aed_db_int(db, q, &todo) : aed_error(AED_ENOMEM, "out of memory");
		sqlite3_free(q);
		if (rc)
			goto out;
	}
	f.progress = aed_progress_new("fetch", todo);
	f.last_flush = aed_now();

	for (;;) {
		double next_wake = aed_now() + 0.2, wait;
		int numfds = 0, n_extra = 0;
		struct curl_waitfd extra[64];

		if (stop_signal) {
			interrupted = 1;
			rc = flush_records(&f);
			if (!rc)
				rc = aed_error(AED_ESTATE, "fetch interrupted by signal %d after %"
					       PRId64 " segments; run it again to go on",
					       (int)stop_signal, summary->processed);
			goto out;
		}
		if ((rc = fill_slots(&f)) || (rc = advance_ready(&f, &next_wake)))
			goto out;
		if (!busy(&f) && f.claims_done && f.claim_pos == f.n_claimed)
			break;
		if (f.multi && (rc = curl_poll(&f)))
			goto out;
		if ((rc = cmd_poll(&f)))
			goto out;
		if (aed_now() - f.last_flush > FLUSH_SECONDS && (rc = flush_records(&f)))
			goto out;
		/* Sleep until a socket or a command's stderr is ready, a retry is
		 * due, or 0.2 s pass (commands' exits are noticed by polling). */
		for (int i = 0; i < f.n_jobs && n_extra < 64; i++)
			if (f.jobs[i].state == J_CMD && f.jobs[i].err_fd >= 0) {
				extra[n_extra].fd = f.jobs[i].err_fd;
				extra[n_extra].events = CURL_WAIT_POLLIN;
				extra[n_extra].revents = 0;
				n_extra++;
			}
		wait = next_wake - aed_now();
		if (wait < 0 || (!f.claims_done && free_slot(&f)))
			wait = 0; /* more work can start now */
		if (n_extra > 0 && wait > 0.05)
			wait = 0.05;
		if (f.multi)
			curl_multi_poll(f.multi, extra, (unsigned)n_extra, (int)(wait * 1000), &numfds);
		else if (wait > 0)
			usleep((useconds_t)(wait * 1e6));
		if (f.multi && (rc = curl_poll(&f)))
			goto out;
	}
	rc = flush_records(&f);
out:
	summary->seconds = aed_now() - t0;
	if (started) {
		sigaction(SIGINT, &old_int, NULL);
		sigaction(SIGTERM, &old_term, NULL);
		if (rc) {
			int keep = rc;
			char *err = strdup(aed_last_error());

			aed_work_release(db, STAGE, f.run_id);
			aed_run_end(db, f.run_id, interrupted ? AED_RUN_INTERRUPTED : AED_RUN_FAILED,
				    summary->ok, summary->unavailable + summary->failed, err);
			aed_error(keep, "%s", err ? err : "fetch failed");
			free(err);
		} else {
			snprintf(msg, sizeof msg, "ok %" PRId64 ", unavailable %" PRId64
				 ", failed %" PRId64, summary->ok, summary->unavailable,
				 summary->failed);
			rc = aed_run_end(db, f.run_id, AED_RUN_OK, summary->ok,
					 summary->unavailable + summary->failed, msg);
		}
	}
	teardown(&f);
	free(params);
	return rc;
}
