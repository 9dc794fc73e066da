/* outdir.c - output folders an export owns: the claim of a folder, the list
 * of the files written there, removal of only those (contract in
 * include/aedcurate/outdir.h). Knows nothing of what the files hold. */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "aedcurate/error.h"
#include "aedcurate/outdir.h"
#include "aedcurate/util.h"

#define LIST_MAX (64u << 20) /* bytes: far above any export's list */

static int valid_name(const char *s, size_t n)
{
	size_t comp = 0, slashes = 0;

	if (n == 0 || n > AED_OUTDIR_NAME_MAX)
		return 0;
	for (size_t i = 0; i <= n; i++) {
		char c = i < n ? s[i] : '/';
		if (c == '/') {
			/* a component: not empty, not "." or ".." */
			if (comp == 0 || (comp == 1 && s[i - 1] == '.') ||
			    (comp == 2 && s[i - 1] == '.' && s[i - 2] == '.'))
				return 0;
			if (i < n && ++slashes > 1)
				return 0;
			comp = 0;
		} else if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
			   c == '.' || c == '_' || c == '-') {
			comp++;
		} else {
			return 0;
		}
	}
	return 1;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static int listed(char *const *v, size_t n, const char *name)
{
	return n && bsearch(&name, v, n, sizeof *v, cmp_str) != NULL;
}

static void free_names(char **v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

/* Parse the list at path; its kind into *kind (malloc'd), names sorted. */
static int read_list(const char *path, char **kind, char ***names, size_t *n_names)
{
	char *data = NULL, **v = NULL;
	size_t n = 0, nv = 0, cap = 0, line = 1;
	int rc = aed_read_file(path, LIST_MAX, &data, &n);

	*kind = NULL;
	*names = NULL;
	*n_names = 0;
	if (rc)
		return rc;
	char *p = data, *end = data + n, *nl = memchr(p, '\n', n);
	char k[64];
	int used = 0;
	if (!nl || memchr(p, '\0', n) || sscanf(p, "aedcurate-files 1 %63[a-z-]%n", k, &used) != 1 ||
	    p + used != nl) {
		rc = aed_error(AED_ESTATE, "%s: line 1: not an aedcurate file list", path);
		goto out;
	}
	if (!(*kind = strdup(k))) {
		rc = aed_error(AED_ENOMEM, "out of memory");
		goto out;
	}
	for (p = nl + 1; p < end; p = nl + 1) {
		line++;
		if (!(nl = memchr(p, '\n', (size_t)(end - p))) || !valid_name(p, (size_t)(nl - p))) {
			rc = aed_error(AED_ESTATE, "%s: line %zu: not a file name an export writes", path,
				       line);
			goto out;
		}
		if (nv == cap) {
			size_t ncap = cap ? 2 * cap : 256;
			char **nvv = realloc(v, ncap * sizeof *v);
			if (!nvv) {
				rc = aed_error(AED_ENOMEM, "out of memory");
				goto out;
			}
			v = nvv;
			cap = ncap;
		}
		if (!(v[nv] = strndup(p, (size_t)(nl - p)))) {
			rc = aed_error(AED_ENOMEM, "out of memory");
			goto out;
		}
		nv++;
	}
	if (nv)
		qsort(v, nv, sizeof *v, cmp_str);
	*names = v;
	*n_names = nv;
	v = NULL;
	nv = 0;
out:
	free_names(v, nv);
	if (rc) {
		free(*kind);
		*kind = NULL;
	}
	free(data);
	return rc;
}

int aed_outdir_claim(const char *dir, const char *kind, struct aed_outdir *o)
{
	char path[4096];
	struct stat st;
	int rc;

	memset(o, 0, sizeof *o);
	if (snprintf(path, sizeof path, "%s/%s", dir, AED_OUTDIR_LIST) >= (int)sizeof path)
		return aed_error(AED_EUSAGE, "%s: folder name too long", dir);
	if ((rc = aed_mkdir_p(dir)))
		return rc;
	if (!(o->dir = strdup(dir)) || !(o->kind = strdup(kind))) {
		aed_outdir_release(o);
		return aed_error(AED_ENOMEM, "out of memory");
	}
	if (lstat(path, &st) == 0) {
		char *k = NULL;
		if (!S_ISREG(st.st_mode))
			rc = aed_error(AED_ESTATE, "%s: not a regular file: %s is not an export folder "
				       "aedcurate may write into; choose an empty or new folder", path, dir);
		else if (!(rc = read_list(path, &k, &o->old, &o->n_old)) && strcmp(k, kind))
			rc = aed_error(AED_ESTATE, "--out %s holds a %s, not a %s: choose an empty or "
				       "new folder", dir, k, kind);
		else if (rc) {
			char msg[512];
			snprintf(msg, sizeof msg, "%s", aed_last_error());
			rc = aed_error(rc, "%s (--out %s is refused untouched; choose an empty or new "
				       "folder)", msg, dir);
		}
		free(k);
	} else {
		/* No list: only an empty folder is ours to fill. */
		DIR *d = opendir(dir);
		struct dirent *e;
		const char *other = NULL;
		if (!d) {
			rc = aed_error(AED_EIO, "--out %s: %s", dir, strerror(errno));
		} else {
			while ((e = readdir(d)) && !other)
				if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
					other = e->d_name;
			if (other)
				rc = aed_error(AED_ESTATE, "--out %s is not empty (it holds %.100s%s) and "
					       "is not an earlier %s (no %s): aedcurate writes only into "
					       "an empty or new folder or one of its own exports; nothing "
					       "was changed", dir, other, strlen(other) > 100 ? "..." : "",
					       kind, AED_OUTDIR_LIST);
			closedir(d);
		}
	}
	if (rc)
		aed_outdir_release(o);
	return rc;
}

static int write_list(const struct aed_outdir *o, char *const *a, size_t na,
		      const char *const *b, size_t nb)
{
	struct aed_buf buf = { 0 };
	char path[4096];
	int rc = aed_buf_printf(&buf, "aedcurate-files 1 %s\n", o->kind);

	for (size_t i = 0; !rc && i < na; i++)
		rc = aed_buf_printf(&buf, "%s\n", a[i]);
	for (size_t i = 0; !rc && i < nb; i++)
		rc = aed_buf_printf(&buf, "%s\n", b[i]);
	snprintf(path, sizeof path, "%s/%s", o->dir, AED_OUTDIR_LIST);
	if (!rc)
		rc = aed_write_file_atomic(path, buf.data, buf.len);
	aed_buf_release(&buf);
	return rc;
}

static int check_names(const char *const *names, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!valid_name(names[i], strlen(names[i])))
			return aed_error(AED_EFORMAT, "export: '%.300s' is not a file name an export "
					 "may write", names[i]);
	return AED_OK;
}

int aed_outdir_begin(struct aed_outdir *o, const char *const *names, size_t n)
{
	int rc = check_names(names, n);
	if (rc)
		return rc;
	/* the earlier files first, then the new ones not among them */
	const char **fresh = malloc((n + 1) * sizeof *fresh);
	size_t nf = 0;
	if (!fresh)
		return aed_error(AED_ENOMEM, "out of memory");
	for (size_t i = 0; i < n; i++)
		if (!listed(o->old, o->n_old, names[i]))
			fresh[nf++] = names[i];
	rc = write_list(o, o->old, o->n_old, fresh, nf);
	free(fresh);
	return rc;
}

int aed_outdir_finish(struct aed_outdir *o, const char *const *names, size_t n)
{
	char **now = NULL;
	char path[4096];
	int rc = check_names(names, n);

	if (rc)
		return rc;
	if (!(now = malloc((n + 1) * sizeof *now)))
		return aed_error(AED_ENOMEM, "out of memory");
	memcpy(now, names, n * sizeof *now);
	if (n)
		qsort(now, n, sizeof *now, cmp_str);
	for (size_t i = 0; i < o->n_old; i++) {
		if (listed(now, n, o->old[i]))
			continue;
		/* ours and stale (or the .tmp of a killed export): remove */
		for (int tmp = 0; tmp < 2; tmp++) {
			snprintf(path, sizeof path, "%s/%s%s", o->dir, o->old[i], tmp ? ".tmp" : "");
			if (unlink(path) != 0 && errno != ENOENT && errno != ENOTDIR) {
				rc = aed_error(AED_EIO, "%s: %s", path, strerror(errno));
				goto out;
			}
		}
	}
	rc = write_list(o, NULL, 0, names, n);
out:
	free(now);
	return rc;
}

void aed_outdir_release(struct aed_outdir *o)
{
	free(o->dir);
	free(o->kind);
	free_names(o->old, o->n_old);
	memset(o, 0, sizeof *o);
}
