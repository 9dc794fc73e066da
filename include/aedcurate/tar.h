/* tar.h - a deterministic POSIX (ustar/pax) tar writer for WebDataset shards,
 * and a bounds-checked reader of the same subset used by the tests.
 *
 * Layout written: for each member a 512-byte ustar header, the data, zero
 * padding to a multiple of 512; at the end two 512-byte zero blocks. Header
 * fields (offset:size): name 0:100, mode 100:8 ("0000644"), uid 108:8 and
 * gid 116:8 ("0000000"), size 124:12 (octal bytes), mtime 136:12 (octal,
 * fixed by the caller so that equal inputs give equal bytes), chksum 148:8
 * (sum of the header bytes with chksum read as spaces; six octal digits, NUL,
 * space), typeflag 156 ('0' file, 'x' pax record), linkname 157:100 (empty),
 * magic 257:6 "ustar\0", version 263:2 "00", uname 265:32 and gname 297:32
 * (empty), devmajor/devminor 329:8/337:8 (empty), prefix 345:155 (empty).
 * A name longer than 100 bytes is preceded by a pax extended header (typeflag
 * 'x', name "PaxHeader") whose data is the record "LEN path=NAME\n"; the
 * ustar name then holds the first 100 bytes. Sizes of 8 GiB and more are
 * refused (no base-256 sizes).
 *
 * Ownership: aed_tar_open() returns a writer freed by aed_tar_close() or
 * aed_tar_abort(), which both set the pointer to NULL. Members are written
 * to PATH.tmp, renamed to PATH by a successful close.
 */
#ifndef AEDCURATE_TAR_H
#define AEDCURATE_TAR_H

#include <stddef.h>
#include <stdint.h>

#define AED_TAR_BLOCK 512
/* Longest member name written or read (pax path records; ustar alone holds 100). */
#define AED_TAR_NAME_MAX 4095

struct aed_tar;

int aed_tar_open(const char *path, int64_t mtime /* s since the epoch */,
		 struct aed_tar **out);
/* Append one regular file member. name: 1..AED_TAR_NAME_MAX bytes, no NUL. */
int aed_tar_add(struct aed_tar *t, const char *name, const void *data, size_t n);
/* Bytes written so far (headers, data, padding). */
uint64_t aed_tar_bytes(const struct aed_tar *t);
/* Write the end blocks, fsync, rename PATH.tmp to PATH. */
int aed_tar_close(struct aed_tar **t);
/* Remove PATH.tmp and free. */
void aed_tar_abort(struct aed_tar **t);

/* Fill a ustar header for a regular file (or pax record, typeflag 'x'). */
int aed_tar_header(uint8_t hdr[AED_TAR_BLOCK], const char *name, uint64_t size,
		   int64_t mtime, char typeflag);

/* Reader: iterate over the members of a tar image held in memory. */
struct aed_tar_member {
	char name[AED_TAR_NAME_MAX + 1]; /* pax path if one preceded the header */
	const uint8_t *data;   /* points into the image */
	uint64_t size;         /* bytes */
	int64_t mtime;
	char typeflag;
};
/* *off starts at 0. Returns AED_OK with *done = 0 and the next member, AED_OK
 * with *done = 1 at the end blocks (or the end of the image), or AED_EFORMAT
 * naming `name` and the offset for a bad checksum, a bad octal field or a
 * member running past the end. */
int aed_tar_next(const char *name, const uint8_t *buf, size_t n, size_t *off,
		 struct aed_tar_member *m, int *done);

#endif
