/* test_pipeline.c - pipeline files: statements, expansion, quoting, and a
 * line number in every error (table-driven: text, expected status, message). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "aedcurate/error.h"
#include "aedcurate/pipeline.h"

static int pick_second(const char *const *alts, int n, char *why, void *arg)
{
	(void)alts;
	(void)why;
	(void)arg;
	return n > 1 ? 1 : -1;
}

static void test_expand(void **state)
{
	(void)state;
	struct aed_pipeline *p;
	setenv("AED_T_DIR", "/data", 1);
	unsetenv("AED_T_UNSET");
	const char *text =
		"# comment\n"
		"pipeline demo\n"
		"set base = ${AED_T_DIR}/x   # trailing comment\n"
		"set other = ${AED_T_UNSET:-/fallback}\n"
		"source src = http://a.invalid/f.csv | {base}/f.csv\n"
		"step one: segments ingest {src} --split 'balanced train' \"#notcomment\"\n"
		"\n"
		"step two: status --json\n";
	assert_int_equal(aed_pipeline_parse(text, strlen(text), "t.pipeline", pick_second, NULL, &p),
			 AED_OK);
	assert_string_equal(p->name, "demo");
	assert_int_equal(p->n_steps, 2);
	assert_string_equal(p->steps[0].name, "one");
	assert_int_equal(p->steps[0].line, 6);
	assert_int_equal(p->steps[0].argc, 6);
	assert_string_equal(p->steps[0].argv[2], "/data/x/f.csv");
	assert_string_equal(p->steps[0].argv[4], "balanced train");
	assert_string_equal(p->steps[0].argv[5], "#notcomment");
	assert_string_equal(p->steps[1].text, "status --json");
	aed_pipeline_free(&p);
	assert_null(p);
}

/* A substituted value is part of the word it sits in and never splits it or
 * starts a quote or an option of its own: the step is split into words first
 * and each word is expanded afterwards. */
static void test_substitution_stays_one_word(void **state)
{
	(void)state;
	struct aed_pipeline *p;
	setenv("AED_T_DB", "x.db --json", 1);
	setenv("AED_T_ODD", "-a 'b\" c\nd #e", 1);
	unsetenv("AED_T_UNSET");
	const char *text =
		"pipeline x\n"
		"set d = ${AED_T_UNSET:-/x/my data}\n"
		"set q = it's\n"
		"set e =\n"
		"step one: ontology ingest {d}/o.json --labels ${AED_T_DB}\n"
		"step two: status --db {d}/{q}${AED_T_ODD} '{d} and {q}' ${AED_T_UNSET:-a b}\n"
		"step three: status {e} --json\n";
	assert_int_equal(aed_pipeline_parse(text, strlen(text), "t", NULL, NULL, &p), AED_OK);
	assert_int_equal(p->steps[0].argc, 5);
	assert_string_equal(p->steps[0].argv[2], "/x/my data/o.json");
	assert_string_equal(p->steps[0].argv[3], "--labels");
	assert_string_equal(p->steps[0].argv[4], "x.db --json");
	assert_int_equal(p->steps[1].argc, 5);
	assert_string_equal(p->steps[1].argv[2], "/x/my data/it's-a 'b\" c\nd #e");
	assert_string_equal(p->steps[1].argv[3], "/x/my data and it's");
	assert_string_equal(p->steps[1].argv[4], "a b");
	/* An empty value is still the one (empty) argument its word was. */
	assert_int_equal(p->steps[2].argc, 3);
	assert_string_equal(p->steps[2].argv[1], "");
	/* The recorded command line quotes what a shell would need quoted, so
	 * two different argument lists never read the same. */
	assert_string_equal(p->steps[0].text, "ontology ingest '/x/my data/o.json' --labels 'x.db --json'");
	assert_string_equal(p->steps[2].text, "status '' --json");
	aed_pipeline_free(&p);
}

static const struct {
	const char *text, *message;
} bad[] = {
	{ "pipeline x\nstep a: status\nstep a: status\n", "t:3: step 'a' already defined at line 2" },
	{ "pipeline x\nstep a status\n", "t:2: expected 'step NAME: COMMAND" },
	{ "pipeline x\nstep a: ontology ingest {nope}\n", "t:2: unknown variable '{nope}'" },
	{ "pipeline x\nset v = ${AED_T_UNSET}\n", "t:2: environment variable AED_T_UNSET is not set" },
	{ "pipeline x\nstep a: run 'open\n", "t:2: quote ' left open" },
	{ "pipeline x\nfrobnicate\n", "t:2: unknown statement 'frobnicate'" },
	{ "step a: status\n", "t: no 'pipeline NAME' line" },
	{ "pipeline x\n", "t: no steps" },
	{ "pipeline x y\n", "t:1: pipeline name must be" },
	{ "pipeline x\nset = 3\nstep a: status\n", "t:2: bad variable name" },
	{ "pipeline x\nsource s = a | b\nstep a: status\n", "no alternative of source 's'" },
	{ "pipeline x\nstep a:\n", "t:2: step 'a' has no command" },
};

static int pick_none(const char *const *alts, int n, char *why, void *arg)
{
	(void)alts;
	(void)n;
	(void)arg;
	strcpy(why, "all unreachable");
	return -1;
}

static void test_errors(void **state)
{
	(void)state;
	unsetenv("AED_T_UNSET");
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
		struct aed_pipeline *p = (void *)1;
		int rc = aed_pipeline_parse(bad[i].text, strlen(bad[i].text), "t", pick_none, NULL, &p);
		if (rc == AED_OK || !strstr(aed_last_error(), bad[i].message))
			fail_msg("case %zu: rc %d, message '%s', want '%s'", i, rc, aed_last_error(),
				 bad[i].message);
		assert_null(p);
	}
}

static void test_long_and_binary_lines(void **state)
{
	(void)state;
	struct aed_pipeline *p;
	size_t n = 200000;
	char *t = malloc(n + 1);
	memset(t, 'a', n);
	t[n] = 0;
	assert_int_equal(aed_pipeline_parse(t, n, "t", NULL, NULL, &p), AED_EFORMAT);
	assert_non_null(strstr(aed_last_error(), "t:1: line longer than"));
	free(t);
	const char nul[] = "pipeline x\nstep a: st\0atus\n";
	assert_int_equal(aed_pipeline_parse(nul, sizeof nul - 1, "t", NULL, NULL, &p), AED_EFORMAT);
	assert_non_null(strstr(aed_last_error(), "t:2: NUL byte"));
}

/* [shard] marks: the block of per-shard steps, and --shard I/N appended to
 * those steps only, as one more pair of words and at the end of their text. */
static void test_shard_block(void **state)
{
	(void)state;
	struct aed_pipeline *p;
	int first = -1, end = -1;
	const char *text =
		"pipeline s\n"
		"step lists: segments ingest a.csv\n"
		"step fetch [shard]: fetch --jobs 4\n"
		"step decode\t[shard]: decode\n"
		"step index: index build\n";
	assert_int_equal(aed_pipeline_parse(text, strlen(text), "t", NULL, NULL, &p), AED_OK);
	assert_string_equal(p->steps[1].name, "fetch");
	assert_string_equal(p->steps[2].name, "decode");
	assert_int_equal(p->steps[0].shard + p->steps[1].shard * 2 + p->steps[2].shard * 4 +
			 p->steps[3].shard * 8, 6);
	assert_int_equal(aed_pipeline_shard_block(p, "t", &first, &end), AED_OK);
	assert_int_equal(first, 1);
	assert_int_equal(end, 3);
	assert_int_equal(aed_pipeline_set_shard(p, 2, 4), AED_OK);
	assert_int_equal(p->steps[1].argc, 5);
	assert_string_equal(p->steps[1].argv[3], "--shard");
	assert_string_equal(p->steps[1].argv[4], "2/4");
	assert_null(p->steps[1].argv[5]);
	assert_string_equal(p->steps[1].text, "fetch --jobs 4 --shard 2/4");
	assert_string_equal(p->steps[2].text, "decode --shard 2/4");
	assert_string_equal(p->steps[0].text, "segments ingest a.csv");
	assert_string_equal(p->steps[3].text, "index build");
	assert_int_equal(aed_pipeline_set_shard(p, 4, 4), AED_EINTERNAL);
	aed_pipeline_free(&p);

	const char *gap = "pipeline s\nstep a [shard]: fetch\nstep b: status\nstep c [shard]: decode\n";
	assert_int_equal(aed_pipeline_parse(gap, strlen(gap), "g.pipeline", NULL, NULL, &p), AED_OK);
	assert_int_equal(aed_pipeline_shard_block(p, "g.pipeline", &first, &end), AED_EFORMAT);
	assert_non_null(strstr(aed_last_error(), "g.pipeline:4: step 'c' is marked [shard] but 'b'"));
	aed_pipeline_free(&p);

	const char *none = "pipeline s\nstep a: fetch\n";
	assert_int_equal(aed_pipeline_parse(none, strlen(none), "n", NULL, NULL, &p), AED_OK);
	assert_int_equal(aed_pipeline_shard_block(p, "n", &first, &end), AED_ENOTFOUND);
	assert_non_null(strstr(aed_last_error(), "no step is marked [shard]"));
	aed_pipeline_free(&p);

	const char *bare = "pipeline s\nstep [shard]: fetch\n";
	assert_int_equal(aed_pipeline_parse(bare, strlen(bare), "b", NULL, NULL, &p), AED_EFORMAT);
	assert_non_null(strstr(aed_last_error(), "b:2: expected 'step NAME: COMMAND ...'"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_expand),
		cmocka_unit_test(test_substitution_stays_one_word),
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_long_and_binary_lines),
		cmocka_unit_test(test_shard_block),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
