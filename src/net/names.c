/* names.c - a sorted index of the file names under a folder: the --from
 * folders and the media folder of the fetch stage, listed once per run, where
 * a segment row's name templates find its audio file. Looking a template up
 * by readdir() per segment would be quadratic in the folder size; instead
 * each folder is listed once, sorted by base name, and a pattern's literal
 * prefix narrows the search to a binary-searched range. Knows nothing about
 * segments or the database. */
#include <dirent.h>
#include <errno.h>
#include <fnmatch.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "aedcurate/error.h"
#include "aedcurate/net.h"
#include "aedcurate/util.h"

#define DIR_DEPTH 8      /* how deep --from folders are indexed */

static int skip_name(const char *name)
{
	size_t n = strlen(name);

	return name[0] == '.' || (n > 5 && !strcmp(name + n - 5, ".part")) ||
	       (n > 4 && !strcmp(name + n - 4, ".tmp"));
}

static int index_cmp(const void *a, const void *b)
{
	const struct aed_name_entry *x = a, *y = b;
	int c = strcmp(x->base, y->base);

	return c ? c : strcmp(x->rel, y->rel);
}

static int index_add(struct aed_name_index *ix, const char *rel)
{
	struct aed_name_entry *e;

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

static int index_walk(struct aed_name_index *ix, const char *sub, int depth)
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

void aed_name_index_release(struct aed_name_index *ix)
{
	for (size_t i = 0; i < ix->n; i++)
		free(ix->e[i].rel);
	free(ix->e);
	free(ix->root);
	memset(ix, 0, sizeof *ix);
}

int aed_name_index_build(struct aed_name_index *ix, const char *dir, int recursive)
{
	int rc;

	memset(ix, 0, sizeof *ix);
	ix->root = realpath(dir, NULL);
	if (!ix->root)
		return aed_error(AED_ENOTFOUND, "%s: %s", dir, strerror(errno));
	rc = index_walk(ix, "", recursive ? 0 : DIR_DEPTH);
	if (rc) {
		aed_name_index_release(ix);
		return rc;
	}
	if (ix->n > 1)
		qsort(ix->e, ix->n, sizeof *ix->e, index_cmp);
	return AED_OK;
}

/* Insert one top-level name keeping the order (names written by this run). */
int aed_name_index_insert(struct aed_name_index *ix, const char *name)
{
	struct aed_name_entry tmp;
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
const struct aed_name_entry *aed_name_index_match(const struct aed_name_index *ix,
						  const char *pat)
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

/* "<name>", or "<name>.<ext>" where ext is letters and digits only: for a
 * --cmd output already in the media folder, "abc.x-1f2e3d4c.m4a" starts with
 * "abc." but is another id's file (the fetch stage's safe_name()). */
const struct aed_name_entry *aed_name_index_find_stem(const struct aed_name_index *ix,
						      const char *name)
{
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
