/* sources.c - a segment's trip through its sources, in order until one has
 * the file: the manifest's own path, the --from folders (each with each name
 * template), the --url templates, the --cmd templates. A job is one segment
 * in flight; here it is sent on, retried or moved to the next source, and
 * finished (records.c). The I/O is the net layer's: the file-name index,
 * the downloads and the child commands (net.h). */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "aedcurate/error.h"
#include "stage/fetch/internal.h"

/* --- media file names ------------------------------------------------------- */

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
	const struct aed_name_entry *e;
	const struct aed_name_index *ix = &f->dirs[s->dir];
	int rc;

	*found = NULL;
	values_of(j, &v, NULL);
	rc = aed_template_expand(&s->tpl, &v, AED_TPL_GLOB, &pat);
	if (rc) {
		fetch_set_error(j, aed_last_error());
		goto out;
	}
	e = aed_name_index_match(ix, pat.data);
	if (e) {
		struct aed_buf p = { 0 };

		if (aed_buf_printf(&p, "%s/%s", ix->root, e->rel) == AED_OK)
			*found = p.data;
		else
			aed_buf_release(&p);
	} else if (!j->error) {
		struct aed_buf msg = { 0 };

		if (aed_buf_printf(&msg, "no file matching '%s' in %s", pat.data, ix->root) == AED_OK)
			fetch_set_error(j, msg.data);
		aed_buf_release(&msg);
	}
out:
	aed_buf_release(&pat);
	return *found != NULL;
}

/* --- HTTP ------------------------------------------------------------------- */

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
	const struct aed_http_limits lim = { f->o.connect_timeout_s, f->o.timeout_s, f->o.stall_s,
					     f->o.max_bytes };
	struct aed_tpl_values v;
	struct aed_buf url = { 0 }, path = { 0 };
	struct stat st;
	char ext[16];
	int rc;

	fetch_job_clear_transfer(j);
	values_of(j, &v, NULL);
	if (!s) {
		j->whole_video = j->cut;
		if (aed_buf_printf(&url, "%s", j->mpath))
			return aed_error(AED_ENOMEM, "out of memory");
	} else if (aed_template_expand(&s->tpl, &v, AED_TPL_URL, &url)) {
		fetch_set_error(j, aed_last_error());
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
		rc = fetch_job_finish(f, j, OUT_OK, fp, j->whole_video, where, "url");
		free(where);
		free(fp);
		return rc;
	}
	if (peer_busy(f, j, j->final_path)) {
		j->state = J_READY;
		j->next_at = aed_now() + 0.1;
		return AED_OK;
	}
	if ((rc = aed_download_start(&j->dl, f->multi, j->where, j->final_path, &lim, j)))
		return rc;
	j->state = J_URL;
	j->attempts++;
	j->started = aed_now();
	f->running++;
	return AED_OK;
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

/* A transfer ended (aed_download_poll() calls this with the fetch and the
 * job): decide between done, retry, next source. */
int fetch_url_done(void *ctx, void *owner, CURLcode cc)
{
	struct fetch *f = ctx;
	struct job *j = owner;
	long code = 0;
	char msg[CURL_ERROR_SIZE + 1024];
	int rc = AED_OK;
	enum aed_download_status st;

	st = aed_download_finish(&j->dl, f->multi, cc, j->final_path, f->media_fd, &code, msg,
				 sizeof msg);
	f->running--;
	f->sum->bytes += j->dl.received;
	if (code > 0)
		j->http_status = code;
	switch (st) {
	case AED_DL_DONE:
		f->sum->downloaded++;
		{
			char *where = j->where, *fp = j->final_path;

			j->where = j->final_path = NULL;
			rc = fetch_job_finish(f, j, OUT_OK, fp, j->whole_video, where, "url");
			free(where);
			free(fp);
		}
		return rc;
	case AED_DL_RESTART:
	case AED_DL_MISFIT:
		/* The .part is gone: start over now, within the retries. */
		if (j->tries++ < f->o.retries + 1) {
			if (st == AED_DL_RESTART)
				fetch_set_error(j, msg);
			j->state = J_READY;
			j->next_at = aed_now();
			return AED_OK;
		}
		break;
	case AED_DL_TRANSIENT:
		if (j->tries < f->o.retries) {
			j->tries++;
			fetch_set_error(j, msg);
			j->state = J_READY;
			j->next_at = aed_now() + backoff(f, j->tries);
			return AED_OK;
		}
		if (j->tries > 0) {
			size_t l = strlen(msg);

			snprintf(msg + l, sizeof msg - l, " (%d attempts)", j->tries + 1);
		}
		break;
	case AED_DL_MISSING:
		/* A 'missing' never hides an earlier real failure. */
		if (!j->failed)
			fetch_set_error(j, msg);
		j->state = J_READY;
		j->src++;
		j->tries = 0;
		j->next_at = 0;
		return AED_OK;
	case AED_DL_FAILED:
		break;
	}
	fetch_set_error(j, msg);
	j->failed = 1;
	j->state = J_READY;
	j->src++;
	j->tries = 0;
	j->next_at = 0;
	return AED_OK;
}

/* --- commands ------------------------------------------------------------- */

static int cmd_begin(struct fetch *f, struct job *j, struct source *s)
{
	struct aed_tpl_values v;
	struct aed_buf cmd = { 0 }, out = { 0 };
	const struct aed_name_entry *e;
	int rc = AED_OK;

	fetch_job_clear_transfer(j);
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
		fetch_set_error(j, aed_last_error());
		j->failed = 1;
		j->src++;
		j->tries = 0;
		goto out;
	}
	j->where = cmd.data;
	cmd.data = NULL;
	e = aed_name_index_find_stem(&f->media_ix, j->name);
	if (e) {
		char *where = j->where, *fp = NULL;

		j->where = NULL;
		if (asprintf(&fp, "%s/%s", f->media, e->rel) < 0) {
			free(where);
			rc = aed_error(AED_ENOMEM, "out of memory");
			goto out;
		}
		rc = fetch_job_finish(f, j, OUT_OK, fp, j->whole_video, where, "cmd");
		free(where);
		free(fp);
		goto out;
	}
	aed_rm_tree(j->tmpdir);
	if (mkdir(j->tmpdir, 0755) != 0) {
		rc = aed_error(AED_EIO, "%s: %s", j->tmpdir, strerror(errno));
		goto out;
	}
	if ((rc = aed_child_start(&j->child, j->where, f->cmd_env)))
		goto out;
	j->state = J_CMD;
	j->attempts++;
	j->started = aed_now();
	f->running++;
	f->sum->commands++;
out:
	aed_buf_release(&cmd);
	aed_buf_release(&out);
	return rc;
}

static int cmd_done(struct fetch *f, struct job *j, int wstatus, int timed_out)
{
	char tail[AED_CHILD_TAIL_KEEP + 1], msg[PATH_MAX + AED_CHILD_TAIL_KEEP + 512];
	char *produced = NULL;
	int rc = AED_OK;

	aed_child_end(&j->child, tail, sizeof tail);
	f->running--;
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
		produced = aed_child_output(j->tmpdir, j->name);
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

				aed_rm_tree(j->tmpdir);
				fsync(f->media_fd);
				if ((rc = aed_name_index_insert(&f->media_ix, dst + strlen(f->media) + 1)))
					goto out;
				j->where = NULL;
				rc = fetch_job_finish(f, j, OUT_OK, dst, j->whole_video, where, "cmd");
				free(where);
				goto out;
			}
		}
	}
	aed_rm_tree(j->tmpdir);
	fetch_set_error(j, msg);
	j->failed = 1;
	j->state = J_READY;
	j->src++;
	j->tries = 0;
	j->next_at = 0;
out:
	free(produced);
	return rc;
}

int fetch_cmd_poll(struct fetch *f)
{
	double now = aed_now();
	int rc = AED_OK;

	for (int i = 0; i < f->n_jobs && !rc; i++) {
		struct job *j = &f->jobs[i];
		int wstatus = 0;

		if (j->state != J_CMD)
			continue;
		/* An exited command's group is killed and reaped before its output
		 * is taken (aed_child_poll). */
		if (aed_child_poll(&j->child, &wstatus)) {
			rc = cmd_done(f, j, wstatus, 0);
		} else if (now - j->started > f->o.cmd_timeout_s) {
			aed_child_kill(&j->child, &wstatus);
			rc = cmd_done(f, j, wstatus, 1);
		}
	}
	return rc;
}

/* --- driving a job through its sources ------------------------------------- */

int fetch_job_advance(struct fetch *f, struct job *j)
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
				rc = fetch_job_finish(f, j, OUT_OK, found, j->cut, "manifest", "manifest");
				free(found);
				return rc;
			}
			if (!j->error) {
				struct aed_buf msg = { 0 };

				if (aed_buf_printf(&msg, "%s: no such file", j->mpath) == AED_OK)
					fetch_set_error(j, msg.data);
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
				rc = fetch_job_finish(f, j, OUT_OK, found, !s->per_segment,
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
		rc = fetch_job_finish(f, j, j->failed ? OUT_FAILED : OUT_UNAVAILABLE, NULL, 0,
				NULL, NULL);
	return rc;
}

int fetch_load_segment(struct fetch *f, struct job *j, int64_t id)
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
	j->dl.fd = -1;
	j->child.err_fd = -1;
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
