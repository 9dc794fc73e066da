/* tar.c - deterministic ustar/pax writer for shards and an in-memory reader
 * of the same subset (layout in include/aedcurate/tar.h). Not a general tar:
 * no links, directories, sparse files or base-256 numbers. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "aedcurate/error.h"
#include "aedcurate/tar.h"

struct aed_tar {
	FILE *f;
	char *path, *tmp;
	int64_t mtime;
	uint64_t bytes;
};

static const uint8_t zeros[AED_TAR_BLOCK];

static void octal(char *field, size_t width, uint64_t v)
{
	/* width-1 digits, zero-padded, then NUL */
	field[width - 1] = '\0';
	for (size_t i = width - 1; i-- > 0;) {
		field[i] = (char)('0' + (v & 7));
		v >>= 3;
	}
}

int aed_tar_header(uint8_t hdr[AED_TAR_BLOCK], const char *name, uint64_t size,
		   int64_t mtime, char typeflag)
{
	size_t len = strlen(name);
	char *h = (char *)hdr;

	if (len == 0)
		return aed_error(AED_EFORMAT, "tar: empty member name");
	if (size >= (uint64_t)1 << 33)
		return aed_error(AED_EFORMAT, "tar: member %s is 8 GiB or more", name);
	if (mtime < 0 || mtime >= (int64_t)1 << 33)
		return aed_error(AED_EFORMAT, "tar: mtime %lld out of range", (long long)mtime);
	memset(hdr, 0, AED_TAR_BLOCK);
	memcpy(h, name, len > 100 ? 100 : len);
	octal(h + 100, 8, 0644);
	octal(h + 108, 8, 0);
	octal(h + 116, 8, 0);
	octal(h + 124, 12, size);
	octal(h + 136, 12, (uint64_t)mtime);
	h[156] = typeflag;
	memcpy(h + 257, "ustar", 6);
	memcpy(h + 263, "00", 2);
	unsigned sum = 0;
	memset(h + 148, ' ', 8);
	for (int i = 0; i < AED_TAR_BLOCK; i++)
		sum += hdr[i];
	octal(h + 148, 7, sum);
	h[155] = ' ';
	return AED_OK;
}

int aed_tar_open(const char *path, int64_t mtime, struct aed_tar **out)
{
	struct aed_tar *t = calloc(1, sizeof *t);
	int rc = AED_OK;

	*out = NULL;
	if (!t)
		return aed_error(AED_ENOMEM, "tar: out of memory");
	t->mtime = mtime;
	t->path = strdup(path);
	t->tmp = malloc(strlen(path) + 5);
	if (!t->path || !t->tmp) {
		rc = aed_error(AED_ENOMEM, "tar: out of memory");
		goto out;
	}
	sprintf(t->tmp, "%s.tmp", path);
	t->f = fopen(t->tmp, "wb");
	if (!t->f) {
		rc = aed_error(AED_EIO, "%s: %s", t->tmp, strerror(errno));
		goto out;
	}
	*out = t;
	t = NULL;
out:
	if (t) {
		free(t->path);
		free(t->tmp);
		free(t);
	}
	return rc;
}

static int put(struct aed_tar *t, const void *p, size_t n)
{
	if (n && fwrite(p, 1, n, t->f) != n)
		return aed_error(AED_EIO, "%s: write failed: %s", t->tmp, strerror(errno));
	t->bytes += n;
	return AED_OK;
}

static int put_member(struct aed_tar *t, const char *name, const void *data, size_t n,
		      char typeflag)
{
	uint8_t hdr[AED_TAR_BLOCK];
	int rc;

	if ((rc = aed_tar_header(hdr, name, n, t->mtime, typeflag)) ||
	    (rc = put(t, hdr, sizeof hdr)) || (rc = put(t, data, n)))
		return rc;
	return put(t, zeros, (AED_TAR_BLOCK - n % AED_TAR_BLOCK) % AED_TAR_BLOCK);
}

int aed_tar_add(struct aed_tar *t, const char *name, const void *data, size_t n)
{
	size_t len = strlen(name);

	if (len == 0 || len > AED_TAR_NAME_MAX)
		return aed_error(AED_EFORMAT, "tar: member name of %zu bytes (1..%d)", len,
				 AED_TAR_NAME_MAX);
	if (len > 100) {
		/* pax record "LEN path=NAME\n": LEN counts its own digits. The
		 * ustar name field only holds 100 bytes, and a reader that knows
		 * pax (GNU tar, Python's tarfile) takes the full name from here. */
		char rec[AED_TAR_NAME_MAX + 32];
		size_t body = len + 7, total = body + 1;
		while ((size_t)snprintf(NULL, 0, "%zu", total) + body != total)
			total++;
		int k = snprintf(rec, sizeof rec, "%zu path=%s\n", total, name);
		int rc = put_member(t, "PaxHeader", rec, (size_t)k, 'x');
		if (rc)
			return rc;
	}
	return put_member(t, name, data, n, '0');
}

uint64_t aed_tar_bytes(const struct aed_tar *t) { return t->bytes; }

int aed_tar_close(struct aed_tar **tp)
{
	struct aed_tar *t = *tp;
	int rc = AED_OK;

	if (!t)
		return AED_OK;
	*tp = NULL;
	if ((rc = put(t, zeros, sizeof zeros)) || (rc = put(t, zeros, sizeof zeros)))
		goto out;
	if (fflush(t->f) || fsync(fileno(t->f))) {
		rc = aed_error(AED_EIO, "%s: %s", t->tmp, strerror(errno));
		goto out;
	}
	if (fclose(t->f)) {
		t->f = NULL;
		rc = aed_error(AED_EIO, "%s: %s", t->tmp, strerror(errno));
		goto out;
	}
	t->f = NULL;
	if (rename(t->tmp, t->path))
		rc = aed_error(AED_EIO, "%s: rename: %s", t->path, strerror(errno));
out:
	if (t->f)
		fclose(t->f);
	if (rc)
		unlink(t->tmp);
	free(t->path);
	free(t->tmp);
	free(t);
	return rc;
}

void aed_tar_abort(struct aed_tar **tp)
{
	struct aed_tar *t = *tp;

	if (!t)
		return;
	*tp = NULL;
	if (t->f)
		fclose(t->f);
	unlink(t->tmp);
	free(t->path);
	free(t->tmp);
	free(t);
}

/* --- reader ------------------------------------------------------------------ */

static int parse_octal(const uint8_t *p, size_t w, uint64_t *v)
{
	size_t i = 0;
	*v = 0;
	while (i < w && p[i] == ' ')
		i++;
	if (i == w || p[i] < '0' || p[i] > '7')
		return -1;
	for (; i < w && p[i] >= '0' && p[i] <= '7'; i++) {
		if (*v >> 60)
			return -1;
		*v = *v << 3 | (uint64_t)(p[i] - '0');
	}
	for (; i < w; i++)
		if (p[i] != ' ' && p[i] != '\0')
			return -1;
	return 0;
}

int aed_tar_next(const char *name, const uint8_t *buf, size_t n, size_t *off,
		 struct aed_tar_member *m, int *done)
{
	char pax_path[AED_TAR_NAME_MAX + 1] = "";

	*done = 0;
	for (;;) {
		size_t o = *off;
		uint64_t size, mtime, sum;
		if (o > n || n - o < AED_TAR_BLOCK) {
			if (o == n) {
				*done = 1;
				return AED_OK;
			}
			return aed_error(AED_EFORMAT, "%s: offset %zu: truncated header", name, o);
		}
		const uint8_t *h = buf + o;
		if (!memcmp(h, zeros, AED_TAR_BLOCK)) {
			*done = 1;
			return AED_OK;
		}
		if (parse_octal(h + 148, 8, &sum))
			return aed_error(AED_EFORMAT, "%s: offset %zu: bad checksum field", name, o);
		unsigned s = 0;
		for (int i = 0; i < AED_TAR_BLOCK; i++)
			s += (i >= 148 && i < 156) ? ' ' : h[i];
		if (s != sum)
			return aed_error(AED_EFORMAT, "%s: offset %zu: header checksum %llo, computed %o",
					 name, o, (unsigned long long)sum, s);
		if (parse_octal(h + 124, 12, &size) || parse_octal(h + 136, 12, &mtime))
			return aed_error(AED_EFORMAT, "%s: offset %zu: bad size or mtime field", name, o);
		uint64_t padded = (size + AED_TAR_BLOCK - 1) / AED_TAR_BLOCK * AED_TAR_BLOCK;
		if (padded > n - o - AED_TAR_BLOCK)
			return aed_error(AED_EFORMAT, "%s: offset %zu: member of %llu bytes runs past the end",
					 name, o, (unsigned long long)size);
		const uint8_t *data = h + AED_TAR_BLOCK;
		*off = o + AED_TAR_BLOCK + (size_t)padded;
		if (h[156] == 'x') {
			/* pax records "LEN key=value\n"; only path is used. */
			size_t p = 0;
			while (p < size) {
				size_t len = 0, q = p;
				while (q < size && data[q] >= '0' && data[q] <= '9' && len < 100000)
					len = len * 10 + (data[q++] - '0');
				if (q == p || q >= size || data[q] != ' ' || len <= q - p || len > size - p ||
				    data[p + len - 1] != '\n')
					return aed_error(AED_EFORMAT, "%s: offset %zu: bad pax record", name, o);
				const uint8_t *kv = data + q + 1;
				size_t kvlen = p + len - 1 - (q + 1);
				if (kvlen >= 5 && !memcmp(kv, "path=", 5)) {
					if (kvlen - 5 >= sizeof pax_path)
						return aed_error(AED_EFORMAT, "%s: offset %zu: pax path too long",
								 name, o);
					memcpy(pax_path, kv + 5, kvlen - 5);
					pax_path[kvlen - 5] = '\0';
				}
				p += len;
			}
			continue;
		}
		memset(m, 0, sizeof *m);
		if (*pax_path)
			memcpy(m->name, pax_path, sizeof pax_path);
		else
			memcpy(m->name, h, 100); /* m->name[100..] stays NUL */
		m->data = data;
		m->size = size;
		m->mtime = (int64_t)mtime;
		m->typeflag = (char)h[156];
		return AED_OK;
	}
}
