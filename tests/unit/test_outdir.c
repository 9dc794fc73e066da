/* test_outdir.c - output folders an export owns: an empty or new folder is
 * taken, a folder of other files or of the other kind is refused untouched,
 * a damaged or hostile list (names outside the folder) is refused, and a
 * rerun removes only the earlier export's files that it does not write again
 * (with their .tmp), never other files. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "aedcurate/error.h"
#include "aedcurate/outdir.h"
#include "aedcurate/util.h"

static char dir[256];

static int setup(void **state)
{
	(void)state;
	snprintf(dir, sizeof dir, "/tmp/aedoutdir.XXXXXX");
	return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state)
{
	(void)state;
	char cmd[300];
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
	return system(cmd) == 0 ? 0 : -1;
}

static const char *p(const char *rel)
{
	static char b[4][512];
	static int k;
	k = (k + 1) % 4;
	snprintf(b[k], sizeof b[k], "%s/%s", dir, rel);
	return b[k];
}

static void put(const char *rel, const char *text)
{
	assert_int_equal(aed_write_file_atomic(p(rel), text, strlen(text)), AED_OK);
}

static int exists(const char *rel)
{
	return access(p(rel), F_OK) == 0;
}

static void test_new_and_empty(void **state)
{
	(void)state;
	struct aed_outdir o;
	const char *names[] = { "a-000000.tar", "index.json" };
	char *list = NULL;
	size_t n = 0;

	assert_int_equal(aed_outdir_claim(p("new/deeper"), "training-export", &o), AED_OK);
	assert_int_equal(o.n_old, 0);
	assert_int_equal(aed_outdir_begin(&o, names, 2), AED_OK);
	assert_int_equal(aed_read_file(p("new/deeper/.aedcurate-files"), 1 << 16, &list, &n), AED_OK);
	assert_string_equal(list, "aedcurate-files 1 training-export\na-000000.tar\nindex.json\n");
	free(list);
	aed_outdir_release(&o);
	assert_int_equal(mkdir(p("empty"), 0755), 0);
	assert_int_equal(aed_outdir_claim(p("empty"), "review-page", &o), AED_OK);
	aed_outdir_release(&o);
}

static void test_refusals(void **state)
{
	(void)state;
	struct aed_outdir o;
	static const struct {
		const char *list, *why;
	} bad[] = {
		{ "aedcurate-files 1 training-export\n../victim\n", "line 2" },
		{ "aedcurate-files 1 training-export\n/etc/passwd\n", "line 2" },
		{ "aedcurate-files 1 training-export\nok.tar\na/b/c\n", "line 3" },
		{ "aedcurate-files 1 training-export\nmedia/..\n", "line 2" },
		{ "aedcurate-files 1 training-export\na b\n", "line 2" },
		{ "aedcurate-files 1 training-export\n\n", "line 2" },
		{ "aedcurate-files 1 training-export\nno-newline", "line 2" },
		{ "aedcurate-files 2 training-export\n", "line 1" },
		{ "something else\n", "line 1" },
		{ "", "line 1" },
		{ "aedcurate-files 1 review-page\n", "holds a review-page, not a training-export" },
	};

	assert_int_equal(mkdir(p("user"), 0755), 0);
	put("user/README.md", "mine");
	assert_int_equal(aed_outdir_claim(p("user"), "training-export", &o), AED_ESTATE);
	assert_non_null(strstr(aed_last_error(), "is not empty (it holds README.md)"));
	assert_non_null(strstr(aed_last_error(), p("user")));
	assert_null(o.dir);
	put("victim", "victim");
	assert_int_equal(mkdir(p("bad"), 0755), 0);
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
		put("bad/.aedcurate-files", bad[i].list);
		assert_int_equal(aed_outdir_claim(p("bad"), "training-export", &o), AED_ESTATE);
		if (!strstr(aed_last_error(), bad[i].why))
			fail_msg("list %zu: %s", i, aed_last_error());
	}
	assert_true(exists("victim"));
	/* a file where the folder should be */
	put("afile", "x");
	assert_int_not_equal(aed_outdir_claim(p("afile"), "training-export", &o), AED_OK);
}

static void test_rerun_removes_only_its_own(void **state)
{
	(void)state;
	struct aed_outdir o;
	const char *first[] = { "train-000000.tar", "train-000001.tar", "train-000002.tar",
				"media/0001.png", "index.json" };
	const char *second[] = { "train-000000.tar", "index.json" };

	assert_int_equal(aed_outdir_claim(p("re"), "training-export", &o), AED_OK);
	assert_int_equal(aed_outdir_begin(&o, first, 5), AED_OK);
	assert_int_equal(mkdir(p("re/media"), 0755), 0);
	for (int i = 0; i < 5; i++) {
		char rel[64];
		snprintf(rel, sizeof rel, "re/%s", first[i]);
		put(rel, "x");
	}
	assert_int_equal(aed_outdir_finish(&o, first, 5), AED_OK);
	aed_outdir_release(&o);
	/* the user adds files; a killed run left a .tmp of one of ours */
	put("re/train-000099.tar", "user");
	put("re/notes.txt", "user");
	put("re/media/9999.png", "user");
	put("re/train-000002.tar.tmp", "half");
	assert_int_equal(aed_outdir_claim(p("re"), "training-export", &o), AED_OK);
	assert_int_equal(o.n_old, 5);
	assert_int_equal(aed_outdir_begin(&o, second, 2), AED_OK);
	assert_int_equal(aed_outdir_finish(&o, second, 2), AED_OK);
	aed_outdir_release(&o);
	assert_true(exists("re/train-000000.tar") && exists("re/index.json"));
	assert_false(exists("re/train-000001.tar") || exists("re/train-000002.tar") ||
		     exists("re/train-000002.tar.tmp") || exists("re/media/0001.png"));
	assert_true(exists("re/train-000099.tar") && exists("re/notes.txt") &&
		    exists("re/media/9999.png"));
	/* names an export may not write are refused before anything is listed */
	const char *evil[] = { "../x" };
	assert_int_equal(aed_outdir_claim(p("re"), "training-export", &o), AED_OK);
	assert_int_equal(aed_outdir_begin(&o, evil, 1), AED_EFORMAT);
	aed_outdir_release(&o);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_new_and_empty),
		cmocka_unit_test(test_refusals),
		cmocka_unit_test(test_rerun_removes_only_its_own),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
