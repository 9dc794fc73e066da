/* source.c - the input of a segment-list ingest: a local file (mmap'd) or a
 * URL (read whole through the net layer), its sha256 (computed in a thread
 * while the rows are read), and the folder a manifest's relative paths are
 * resolved against. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "aedcurate/error.h"
#include "aedcurate/net.h"
#include "stage/segments/internal.h"

#define SOURCE_MAX_BYTES ((size_t)4 << 30) /* 4 GiB: ~35x unbalanced_train */

/* Directory that relative manifest paths are resolved against, with a
 * trailing '/'. */
int segments_manifest_base(const char *source, char **out)
{
	const char *slash = strrchr(source, '/');
	char *dir = NULL, *real = NULL;
	int rc = AED_OK;

	*out = NULL;
	if (aed_source_is_url(source) && strncmp(source, "file://", 7) != 0) {
		size_t n = slash ? (size_t)(slash - source) + 1 : strlen(source);

		*out = strndup(source, n);
		return *out ? AED_OK : aed_error(AED_ENOMEM, "out of memory");
	}
	if (strncmp(source, "file://", 7) == 0) {
		source += 7;
		if (strncmp(source, "localhost/", 10) == 0)
			source += 9;
		slash = strrchr(source, '/');
	}
	dir = slash ? strndup(source, (size_t)(slash - source) + (slash == source))
		    : strdup(".");
	if (!dir) {
		rc = aed_error(AED_ENOMEM, "out of memory");
		goto out;
	}
	real = realpath(dir, NULL);
	if (!real) {
		rc = aed_error(AED_EIO, "%s: cannot resolve directory %s: %s", source, dir,
			       strerror(errno));
		goto out;
	}
	*out = malloc(strlen(real) + 2);
	if (!*out) {
		rc = aed_error(AED_ENOMEM, "out of memory");
		goto out;
	}
	sprintf(*out, "%s%s", real, strcmp(real, "/") ? "/" : "");
out:
	free(dir);
	free(real);
	return rc;
}

int segments_source_open(const char *src, long timeout_s, struct source *s)
{
	struct stat sb;
	int fd = -1, rc = AED_OK;

	memset(s, 0, sizeof *s);
	if (aed_source_is_url(src)) {
		struct aed_source_opts so = { 0 };

		so.max_bytes = SOURCE_MAX_BYTES;
		so.timeout_s = timeout_s;
		so.low_speed_s = timeout_s;
		so.connect_timeout_s = timeout_s;
		rc = aed_source_read(src, &so, &s->heap, &s->n);
		s->data = s->heap;
		return rc;
	}
	fd = open(src, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		rc = aed_error(errno == ENOENT ? AED_ENOTFOUND : AED_EIO, "%s: %s", src,
			       strerror(errno));
		goto out;
	}
	if (fstat(fd, &sb) < 0) {
		rc = aed_error(AED_EIO, "%s: %s", src, strerror(errno));
		goto out;
	}
	if (!S_ISREG(sb.st_mode)) {
		rc = aed_error(AED_EIO, "%s: not a regular file", src);
		goto out;
	}
	if ((uint64_t)sb.st_size > SOURCE_MAX_BYTES) {
		rc = aed_error(AED_ENOMEM, "%s: %lld bytes is over the 4 GiB limit", src,
			       (long long)sb.st_size);
		goto out;
	}
	s->n = (size_t)sb.st_size;
	if (s->n == 0) {
		s->data = "";
		goto out;
	}
	s->map = mmap(NULL, s->n, PROT_READ, MAP_PRIVATE, fd, 0);
	if (s->map == MAP_FAILED) {
		s->map = NULL;
		rc = aed_error(AED_EIO, "%s: mmap: %s", src, strerror(errno));
		goto out;
	}
	madvise(s->map, s->n, MADV_SEQUENTIAL);
	s->data = s->map;
out:
	if (fd >= 0)
		close(fd);
	return rc;
}

void segments_source_close(struct source *s)
{
	if (s->map)
		munmap(s->map, s->n);
	free(s->heap);
	memset(s, 0, sizeof *s);
}

void *segments_sha_thread(void *arg)
{
	struct sha_job *j = arg;

	aed_sha256_hex(j->data, j->n, j->hex);
	return NULL;
}
