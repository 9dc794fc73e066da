/* cache.c - cache files: data derived from the database and kept beside the
 * file it describes (the vector index), so that a command need not read
 * millions of rows again to derive it (store.h). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "aedcurate/store.h"

int aed_cache_map(const char *path, const void *hdr, size_t hn, size_t data_len,
		  struct aed_cache *c)
{
	struct stat sb;
	int fd;

	memset(c, 0, sizeof *c);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		return 0;
	if (fstat(fd, &sb) || (size_t)sb.st_size != hn + data_len) {
		close(fd);
		return 0;
	}
	/* Populated: one call maps every page, where touching them one by
	 * one would fault on each. */
	void *p = mmap(NULL, hn + data_len, PROT_READ, MAP_PRIVATE | MAP_POPULATE, fd, 0);
	close(fd);
	if (p == MAP_FAILED)
		return 0;
	if (memcmp(p, hdr, hn)) {
		munmap(p, hn + data_len);
		return 0;
	}
	c->base = p;
	c->len = hn + data_len;
	return 1;
}

void aed_cache_unmap(struct aed_cache *c)
{
	if (c->base)
		munmap(c->base, c->len);
	memset(c, 0, sizeof *c);
}

static int write_all(int fd, const void *buf, size_t n)
{
	const char *p = buf;
	while (n) {
		ssize_t k = write(fd, p, n);
		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			return -1;
		p += k;
		n -= (size_t)k;
	}
	return 0;
}

int aed_cache_write(const char *path, const void *hdr, size_t hn, int n,
		    const void *const part[], const size_t size[])
{
	char dir[4200], tmp[4300], fdpath[64];
	const char *slash = strrchr(path, '/');
	int fd, named = 0;

	if (snprintf(tmp, sizeof tmp, "%s.%ld.tmp", path, (long)getpid()) >= (int)sizeof tmp)
		return -1;
	snprintf(dir, sizeof dir, "%.*s", slash ? (int)(slash - path) + 1 : 1, slash ? path : ".");
	/* Unnamed until written and synced: a process killed meanwhile leaves
	 * nothing behind. Where the file system has no O_TMPFILE, a temporary
	 * name instead. */
	if ((fd = open(dir, O_TMPFILE | O_WRONLY | O_CLOEXEC, 0644)) < 0) {
		if ((fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644)) < 0)
			return -1;
		named = 1;
	}
	int bad = write_all(fd, hdr, hn);
	for (int i = 0; i < n && !bad; i++)
		bad = write_all(fd, part[i], size[i]);
	/* On disk before it has the name: after a crash, the name never
	 * points at a file whose header is there and whose data is not. */
	bad = bad || fdatasync(fd);
	if (!bad && !named) {
		snprintf(fdpath, sizeof fdpath, "/proc/self/fd/%d", fd);
		unlink(tmp);
		bad = linkat(AT_FDCWD, fdpath, AT_FDCWD, tmp, AT_SYMLINK_FOLLOW) != 0;
		named = !bad;
	}
	bad = close(fd) || bad || rename(tmp, path);
	if (bad && named)
		unlink(tmp);
	return bad ? -1 : 0;
}
