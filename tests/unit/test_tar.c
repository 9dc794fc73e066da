/* test_tar.c - the shard tar writer: header fields and checksum by hand,
 * members read back (long names through pax records, up to 4095 bytes, also
 * by GNU tar and Python's tarfile; empty members), equal
 * inputs give equal bytes, GNU tar lists what we wrote, and the reader
 * refuses bad checksums, bad numbers and members running past the end. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "aedcurate/error.h"
#include "aedcurate/tar.h"
#include "aedcurate/util.h"

static char dir[256];

static int setup(void **state)
{
	(void)state;
	snprintf(dir, sizeof dir, "/tmp/aedtar.XXXXXX");
	return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state)
{
	(void)state;
	char cmd[300];
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
	return system(cmd) == 0 ? 0 : -1;
}

static const char *tmp(const char *name)
{
	static char p[2][512];
	static int k;
	k ^= 1;
	snprintf(p[k], sizeof p[k], "%s/%s", dir, name);
	return p[k];
}

static void test_header_fields(void **state)
{
	(void)state;
	uint8_t h[512];
	assert_int_equal(aed_tar_header(h, "abc_1000.json", 1234, 0, '0'), AED_OK);
	assert_string_equal((char *)h, "abc_1000.json");
	assert_memory_equal(h + 100, "0000644", 8);
	assert_memory_equal(h + 108, "0000000", 8);
	assert_memory_equal(h + 124, "00000002322", 12); /* 1234 octal */
	assert_memory_equal(h + 136, "00000000000", 12);
	assert_int_equal(h[156], '0');
	assert_memory_equal(h + 257, "ustar\0" "00", 8);
	assert_int_equal(h[265], 0); /* uname empty */
	/* checksum: sum of bytes with the field as spaces */
	unsigned sum = 0;
	for (int i = 0; i < 512; i++)
		sum += (i >= 148 && i < 156) ? ' ' : h[i];
	char want[8];
	snprintf(want, sizeof want, "%06o", sum);
	assert_memory_equal(h + 148, want, 6);
	assert_int_equal(h[154], 0);
	assert_int_equal(h[155], ' ');
	assert_int_equal(aed_tar_header(h, "", 1, 0, '0'), AED_EFORMAT);
	assert_int_equal(aed_tar_header(h, "big", (uint64_t)1 << 33, 0, '0'), AED_EFORMAT);
}

static int write_sample(const char *path, int64_t mtime)
{
	struct aed_tar *t = NULL;
	char longname[201];
	memset(longname, 'k', 190);
	strcpy(longname + 190, ".flac");
	int rc = aed_tar_open(path, mtime, &t);
	if (!rc)
		rc = aed_tar_add(t, "a_0.json", "{\"x\":1}", 7);
	if (!rc)
		rc = aed_tar_add(t, "a_0.empty", "", 0);
	if (!rc) {
		char big[1500];
		for (int i = 0; i < 1500; i++)
			big[i] = (char)(i * 7);
		rc = aed_tar_add(t, "b_512.npy", big, sizeof big);
	}
	if (!rc)
		rc = aed_tar_add(t, longname, "LONG", 4);
	if (rc) {
		aed_tar_abort(&t);
		return rc;
	}
	return aed_tar_close(&t);
}

static void test_roundtrip(void **state)
{
	(void)state;
	char *buf = NULL, *buf2 = NULL;
	size_t n = 0, n2 = 0, off = 0;
	struct aed_tar_member m;
	int done = 0;

	assert_int_equal(write_sample(tmp("a.tar"), 1700000000), AED_OK);
	assert_int_equal(access(tmp("a.tar.tmp"), F_OK), -1); /* renamed */
	assert_int_equal(aed_read_file(tmp("a.tar"), 1 << 20, &buf, &n), AED_OK);
	assert_int_equal(n % 512, 0);
	/* 4 headers + pax header + pax data + data blocks (1,0,3,1) + 2 end blocks */
	assert_int_equal(n, 512 * (4 + 2 + 1 + 0 + 3 + 1 + 2));
	const char *names[] = { "a_0.json", "a_0.empty", "b_512.npy", NULL };
	for (int i = 0; i < 4; i++) {
		assert_int_equal(aed_tar_next("a.tar", (uint8_t *)buf, n, &off, &m, &done), AED_OK);
		assert_int_equal(done, 0);
		assert_int_equal(m.typeflag, '0');
		assert_int_equal(m.mtime, 1700000000);
		if (names[i])
			assert_string_equal(m.name, names[i]);
	}
	assert_int_equal(strlen(m.name), 195);
	assert_memory_equal(m.data, "LONG", 4);
	assert_int_equal(aed_tar_next("a.tar", (uint8_t *)buf, n, &off, &m, &done), AED_OK);
	assert_int_equal(done, 1);
	/* same members, same mtime: same bytes */
	assert_int_equal(write_sample(tmp("b.tar"), 1700000000), AED_OK);
	assert_int_equal(aed_read_file(tmp("b.tar"), 1 << 20, &buf2, &n2), AED_OK);
	assert_int_equal(n, n2);
	assert_memory_equal(buf, buf2, n);
	free(buf);
	free(buf2);
}

static void test_gnu_tar_reads_it(void **state)
{
	(void)state;
	char cmd[1024], *out = NULL;
	size_t n = 0;
	assert_int_equal(write_sample(tmp("g.tar"), 0), AED_OK);
	snprintf(cmd, sizeof cmd, "tar -tf '%s' > '%s' 2>&1 && tar -xOf '%s' a_0.json >> '%s'",
		 tmp("g.tar"), tmp("list"), tmp("g.tar"), tmp("list"));
	if (system(cmd) != 0)
		fail_msg("tar could not read the file");
	assert_int_equal(aed_read_file(tmp("list"), 1 << 16, &out, &n), AED_OK);
	assert_non_null(strstr(out, "a_0.json\na_0.empty\nb_512.npy\nkkkk"));
	assert_non_null(strstr(out, "kkkkk.flac\n{\"x\":1}"));
	free(out);
}

static void test_reader_refuses(void **state)
{
	(void)state;
	char *buf = NULL;
	size_t n = 0, off;
	struct aed_tar_member m;
	int done;

	assert_int_equal(write_sample(tmp("r.tar"), 0), AED_OK);
	assert_int_equal(aed_read_file(tmp("r.tar"), 1 << 20, &buf, &n), AED_OK);
	/* a flipped name byte breaks the checksum */
	buf[0] ^= 1;
	off = 0;
	assert_int_equal(aed_tar_next("r.tar", (uint8_t *)buf, n, &off, &m, &done), AED_EFORMAT);
	assert_non_null(strstr(aed_last_error(), "checksum"));
	buf[0] ^= 1;
	/* a size running past the end (checksum fixed up) */
	uint8_t h[512];
	assert_int_equal(aed_tar_header(h, "x", 1 << 20, 0, '0'), AED_OK);
	memcpy(buf, h, 512);
	off = 0;
	assert_int_equal(aed_tar_next("r.tar", (uint8_t *)buf, n, &off, &m, &done), AED_EFORMAT);
	assert_non_null(strstr(aed_last_error(), "past the end"));
	/* a bad octal digit */
	assert_int_equal(aed_tar_header(h, "x", 7, 0, '0'), AED_OK);
	h[130] = '9';
	memcpy(buf, h, 512);
	off = 0;
	assert_int_equal(aed_tar_next("r.tar", (uint8_t *)buf, n, &off, &m, &done), AED_EFORMAT);
	/* a truncated header */
	off = 0;
	assert_int_equal(aed_tar_next("r.tar", (uint8_t *)buf, 100, &off, &m, &done), AED_EFORMAT);
	assert_non_null(strstr(aed_last_error(), "truncated"));
	free(buf);
}

/* Names past ustar's 255 bytes (a 255-byte manifest id makes a longer
 * KEY.logmel.npy, a mix key joins two ids): the full names come back from our
 * reader, GNU tar and Python's tarfile. */
static void test_long_names(void **state)
{
	(void)state;
	static const size_t lens[] = { 100, 101, 255, 256, 272, 600, 993, 994, AED_TAR_NAME_MAX };
	const size_t nl = sizeof lens / sizeof *lens;
	static char names[9][AED_TAR_NAME_MAX + 1];
	struct aed_tar *t = NULL;
	struct aed_tar_member m;
	char *buf = NULL, cmd[1024];
	size_t n = 0, off = 0;
	int done = 0;

	assert_int_equal(aed_tar_open(tmp("l.tar"), 0, &t), AED_OK);
	for (size_t i = 0; i < nl; i++) {
		/* distinct names with digits, so a truncated or shifted name shows */
		for (size_t k = 0; k < lens[i] - 4; k++)
			names[i][k] = (char)('0' + (k * 7 + i) % 10);
		memcpy(names[i] + lens[i] - 4, ".npy", 5);
		assert_int_equal(strlen(names[i]), lens[i]);
		assert_int_equal(aed_tar_add(t, names[i], names[i], 3), AED_OK);
	}
	assert_int_equal(aed_tar_close(&t), AED_OK);
	assert_int_equal(aed_read_file(tmp("l.tar"), 1 << 20, &buf, &n), AED_OK);
	for (size_t i = 0; i < nl; i++) {
		assert_int_equal(aed_tar_next("l.tar", (uint8_t *)buf, n, &off, &m, &done), AED_OK);
		assert_int_equal(done, 0);
		assert_string_equal(m.name, names[i]);
		assert_memory_equal(m.data, names[i], 3);
	}
	assert_int_equal(aed_tar_next("l.tar", (uint8_t *)buf, n, &off, &m, &done), AED_OK);
	assert_int_equal(done, 1);
	free(buf);
	/* the expected listing, one name a line */
	FILE *f = fopen(tmp("want"), "w");
	assert_non_null(f);
	for (size_t i = 0; i < nl; i++)
		fprintf(f, "%s\n", names[i]);
	fclose(f);
	/* tmp() keeps two paths at a time: the command reads files by cd */
	snprintf(cmd, sizeof cmd, "cd '%s' && tar -tf l.tar > gnu && cmp -s gnu want", dir);
	if (system(cmd) != 0)
		fail_msg("GNU tar lists other names");
	snprintf(cmd, sizeof cmd,
		 "cd '%s' && python3 -c 'import tarfile; t = tarfile.open(\"l.tar\"); "
		 "print(\"\\n\".join(m.name for m in t.getmembers() if m.isfile()))' > py "
		 "&& cmp -s py want", dir);
	if (system(cmd) != 0)
		fail_msg("Python's tarfile lists other names");
}

static void test_bad_names(void **state)
{
	(void)state;
	struct aed_tar *t = NULL;
	char name[AED_TAR_NAME_MAX + 2];
	memset(name, 'a', AED_TAR_NAME_MAX + 1);
	name[AED_TAR_NAME_MAX + 1] = '\0';
	assert_int_equal(aed_tar_open(tmp("n.tar"), 0, &t), AED_OK);
	assert_int_equal(aed_tar_add(t, "", "x", 1), AED_EFORMAT);
	assert_int_equal(aed_tar_add(t, name, "x", 1), AED_EFORMAT);
	aed_tar_abort(&t);
	assert_null(t);
	assert_int_equal(access(tmp("n.tar.tmp"), F_OK), -1);
	assert_int_equal(access(tmp("n.tar"), F_OK), -1);
	assert_int_equal(aed_tar_open("/nonexistent-dir/x.tar", 0, &t), AED_EIO);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_header_fields),
		cmocka_unit_test(test_roundtrip),
		cmocka_unit_test(test_gnu_tar_reads_it),
		cmocka_unit_test(test_reader_refuses),
		cmocka_unit_test(test_long_names),
		cmocka_unit_test(test_bad_names),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
