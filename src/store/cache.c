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

int aed_cache_write(const char *path, const void *hdr, size_t hn, int n,
		    const void *const part[], const size_t size[])
{
	char tmp[4200];
	FILE *f;

	if (snprintf(tmp, sizeof tmp, "%s.%ld.tmp", path, (long)getpid()) >= (int)sizeof tmp ||
	    !(f = fopen(tmp, "wb")))
		return -1;
	int bad = fwrite(hdr, hn, 1, f) != 1;
	for (int i = 0; i < n && !bad; i++)
		bad = size[i] && fwrite(part[i], size[i], 1, f) != 1;
	if (fclose(f) || bad || rename(tmp, path)) {
		unlink(tmp);
		return -1;
	}
	return 0;
}
