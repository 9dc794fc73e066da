/* test_review.c - the review stage's pure parts: majority decisions and
 * agreement, the page's time format and the ratings file parser (ratings.h:
 * file-level refusals, entry-level faults, duplicates), the <script>-safe
 * escaping of the page data and the candidate-set checksum. The database side
 * is covered by tests/cli/t0900-review.sh. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "aedcurate/error.h"
#include "aedcurate/ratings.h"
#include "aedcurate/review.h"

static void test_decide(void **state)
{
	/* counts: present, not_present, unsure, not_acoustic -> decision, agreement */
	static const struct {
		int64_t c[4];
		enum aed_answer want;
		double agreement;
	} cases[] = {
		{ { 1, 0, 0, 0 }, AED_ANSWER_PRESENT, 1.0 },
		{ { 0, 1, 0, 0 }, AED_ANSWER_NOT_PRESENT, 1.0 },
		{ { 0, 0, 0, 1 }, AED_ANSWER_NOT_ACOUSTIC, 1.0 },
		{ { 2, 1, 0, 0 }, AED_ANSWER_PRESENT, 2.0 / 3 },
		{ { 1, 1, 0, 0 }, AED_ANSWER_UNSURE, 0.5 },      /* tie -> unsure */
		{ { 1, 0, 1, 0 }, AED_ANSWER_UNSURE, 0.5 },
		{ { 2, 2, 1, 0 }, AED_ANSWER_UNSURE, 0.4 },
		{ { 1, 2, 2, 0 }, AED_ANSWER_UNSURE, 0.4 },
		{ { 3, 2, 2, 2 }, AED_ANSWER_PRESENT, 3.0 / 9 },
		{ { 0, 0, 0, 0 }, AED_ANSWER_UNSURE, 0.0 },
		{ { 0, 1, 0, 3 }, AED_ANSWER_NOT_ACOUSTIC, 0.75 },
	};
	(void)state;
	for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
		double a = -1;
		enum aed_answer d = aed_review_decide(cases[i].c, &a);

		assert_int_equal(d, cases[i].want);
		assert_true(a > cases[i].agreement - 1e-12 && a < cases[i].agreement + 1e-12);
	}
}

static void test_answers(void **state)
{
	enum aed_answer a;

	(void)state;
	for (int i = 0; i < AED_ANSWER_COUNT; i++) {
		assert_int_equal(aed_answer_parse(aed_answer_name((enum aed_answer)i), &a), AED_OK);
		assert_int_equal(a, i);
	}
	assert_int_equal(aed_answer_parse("Present", &a), AED_EFORMAT);
	assert_int_equal(aed_answer_parse("", &a), AED_EFORMAT);
	assert_int_equal(aed_answer_parse("not present", &a), AED_EFORMAT);
}

static void test_time(void **state)
{
	static const char *const good[] = {
		"2026-11-21T10:04:08.123Z", "2026-11-21T10:04:08Z", "1970-01-01T00:00:00.0Z",
		"2026-02-28T23:59:60.999999999Z", "2024-02-29T12:00:00Z", "2000-02-29T00:00:00Z",
	};
	static const char *const bad[] = {
		"", "2026-11-21", "2026-11-21T10:04:08", "2026-11-21T10:04:08.123+01:00",
		"2026-13-01T00:00:00Z", "2026-11-21T24:00:00Z", "2026-11-21 10:04:08Z",
		"2026-11-21T10:04:08.Z", "2026-11-21T10:04:08.1234567890Z", "1969-12-31T23:59:59Z",
		"2026-11-21T10:04:08.123Zjunk", "+026-11-21T10:04:08Z", "yesterday",
		"2026-02-29T00:00:00Z", "1900-02-29T00:00:00Z", "2026-04-31T00:00:00Z",
		"2026-11-00T00:00:00Z",
	};
	(void)state;
	for (size_t i = 0; i < sizeof good / sizeof *good; i++)
		assert_true(aed_review_time_valid(good[i]));
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
		assert_false(aed_review_time_valid(bad[i]));
}

#define HEAD "{\"format\":\"aedcurate-ratings\",\"version\":1,\"export_id\":\"e1\"," \
	     "\"checksum\":\"c1\",\"class\":\"/m/04rlf\",\"annotator\":\"ann\",\"ratings\":"

static struct aed_ratings *parse_ok(const char *text)
{
	struct aed_ratings *r = NULL;

	assert_int_equal(aed_ratings_parse(text, strlen(text), "t.json", &r), AED_OK);
	assert_non_null(r);
	return r;
}

static void test_parse_good(void **state)
{
	struct aed_ratings *r = parse_ok(
		HEAD "[{\"candidate\":\"A_0\",\"answer\":\"present\",\"time\":\"2026-11-21T10:00:00.000Z\","
		"\"labels\":[\"/m/1\",\"/m/2\",\"/m/1\"],\"comment\":\"<b>x</b>\",\"later\":1},"
		"{\"candidate\":\"B_0\",\"answer\":\"not_acoustic\",\"time\":\"2026-11-21T10:00:01Z\","
		"\"comment\":null}]}");

	(void)state;
	assert_string_equal(r->export_id, "e1");
	assert_string_equal(r->checksum, "c1");
	assert_string_equal(r->class_mid, "/m/04rlf");
	assert_string_equal(r->annotator, "ann");
	assert_int_equal(r->n, 2);
	assert_null(r->entries[0].bad);
	assert_int_equal(r->entries[0].index, 1);
	assert_string_equal(r->entries[0].candidate, "A_0");
	assert_int_equal(r->entries[0].answer, AED_ANSWER_PRESENT);
	assert_int_equal(r->entries[0].n_labels, 2); /* the repeated mid counted once */
	assert_string_equal(r->entries[0].labels[1], "/m/2");
	assert_string_equal(r->entries[0].comment, "<b>x</b>");
	assert_null(r->entries[1].bad);
	assert_int_equal(r->entries[1].answer, AED_ANSWER_NOT_ACOUSTIC);
	assert_string_equal(r->entries[1].comment, "");
	assert_int_equal(strlen(r->sha256), 64);
	aed_ratings_free(&r);
	assert_null(r);
}

static void test_parse_file_refusals(void **state)
{
	static const struct {
		const char *text, *msg;
	} cases[] = {
		{ HEAD "[{\"candidate\":\"A_0\",\"answ", "t.json:1:" },              /* truncated */
		{ "", "t.json:" },
		{ "[]", "top level is not an object" },
		{ "{\"format\":\"other\"}", "not a ratings file" },
		{ "{\"format\":\"aedcurate-ratings\",\"version\":2}", "version 2 is not 1" },
		{ "{\"format\":\"aedcurate-ratings\",\"version\":\"1\"}", "version" },
		{ "{\"format\":\"aedcurate-ratings\",\"version\":1,\"checksum\":\"c\"}", "\"export_id\" missing" },
		{ "{\"format\":\"aedcurate-ratings\",\"version\":1,\"export_id\":\"e\",\"checksum\":\"c\","
		  "\"class\":\"/m/1\",\"annotator\":\"\",\"ratings\":[]}", "\"annotator\" is empty" },
		{ "{\"format\":\"aedcurate-ratings\",\"version\":1,\"export_id\":\"e\",\"checksum\":\"c\","
		  "\"class\":\"/m/1\",\"annotator\":\"a\\nb\",\"ratings\":[]}", "control characters" },
		{ HEAD "{}}", "\"ratings\" missing or not an array" },
		{ HEAD "[], \"ratings\": []}", "t.json:1:" },                         /* duplicate key */
	};
	(void)state;
	for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
		struct aed_ratings *r = (struct aed_ratings *)1;

		assert_int_equal(aed_ratings_parse(cases[i].text, strlen(cases[i].text), "t.json", &r),
				 AED_EFORMAT);
		assert_null(r);
		if (!strstr(aed_last_error(), cases[i].msg))
			fail_msg("case %zu: \"%s\" lacks \"%s\"", i, aed_last_error(), cases[i].msg);
	}
}

static void test_parse_bad_entries(void **state)
{
	static const struct {
		const char *entry, *msg;
	} cases[] = {
		{ "3", "not an object" },
		{ "{\"answer\":\"present\",\"time\":\"2026-11-21T10:00:00Z\"}", "\"candidate\" missing" },
		{ "{\"candidate\":7,\"answer\":\"present\",\"time\":\"2026-11-21T10:00:00Z\"}", "\"candidate\" missing" },
		{ "{\"candidate\":\"\",\"answer\":\"present\",\"time\":\"2026-11-21T10:00:00Z\"}", "empty" },
		{ "{\"candidate\":\"X\",\"answer\":\"yes\",\"time\":\"2026-11-21T10:00:00Z\"}", "unknown answer \"yes\"" },
		{ "{\"candidate\":\"X\",\"time\":\"2026-11-21T10:00:00Z\"}", "\"answer\" missing" },
		{ "{\"candidate\":\"X\",\"answer\":\"unsure\"}", "\"time\" missing" },
		{ "{\"candidate\":\"X\",\"answer\":\"unsure\",\"time\":\"now\"}", "not ISO 8601" },
		{ "{\"candidate\":\"X\",\"answer\":\"unsure\",\"time\":\"2026-11-21T10:00:00Z\",\"labels\":\"/m/1\"}", "not an array" },
		{ "{\"candidate\":\"X\",\"answer\":\"unsure\",\"time\":\"2026-11-21T10:00:00Z\",\"labels\":[1]}", "label 1 is not" },
		{ "{\"candidate\":\"X\",\"answer\":\"unsure\",\"time\":\"2026-11-21T10:00:00Z\",\"comment\":5}", "\"comment\" is not" },
		/* Not present for the class judged (/m/04rlf), yet added as a label */
		{ "{\"candidate\":\"X\",\"answer\":\"not_present\",\"time\":\"2026-11-21T10:00:00Z\",\"labels\":[\"/m/1\",\"/m/04rlf\"]}",
		  "not_present contradicts the added label /m/04rlf" },
	};
	(void)state;
	for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
		char text[1024];
		struct aed_ratings *r;

		/* the bad entry between two good ones: only it is marked */
		snprintf(text, sizeof text, HEAD "[{\"candidate\":\"G_1\",\"answer\":\"present\","
			 "\"time\":\"2026-11-21T10:00:00Z\"},%s,{\"candidate\":\"G_2\","
			 "\"answer\":\"present\",\"time\":\"2026-11-21T10:00:00Z\"}]}", cases[i].entry);
		r = parse_ok(text);
		assert_int_equal(r->n, 3);
		assert_null(r->entries[0].bad);
		assert_null(r->entries[2].bad);
		assert_non_null(r->entries[1].bad);
		if (!strstr(r->entries[1].bad, cases[i].msg))
			fail_msg("case %zu: \"%s\" lacks \"%s\"", i, r->entries[1].bad, cases[i].msg);
		aed_ratings_free(&r);
	}
}

static void test_parse_limits(void **state)
{
	struct aed_ratings *r;
	char *text, *comment = malloc(AED_RATINGS_MAX_COMMENT + 2);
	size_t n;

	(void)state;
	memset(comment, 'x', AED_RATINGS_MAX_COMMENT + 1);
	comment[AED_RATINGS_MAX_COMMENT + 1] = 0;
	n = strlen(comment) + 512;
	text = malloc(n);
	snprintf(text, n, HEAD "[{\"candidate\":\"X\",\"answer\":\"unsure\",\"time\":"
		 "\"2026-11-21T10:00:00Z\",\"comment\":\"%s\"}]}", comment);
	r = parse_ok(text);
	assert_non_null(r->entries[0].bad);
	assert_non_null(strstr(r->entries[0].bad, "comment longer than"));
	aed_ratings_free(&r);
	comment[AED_RATINGS_MAX_COMMENT] = 0; /* exactly the limit: fine */
	snprintf(text, n, HEAD "[{\"candidate\":\"X\",\"answer\":\"unsure\",\"time\":"
		 "\"2026-11-21T10:00:00Z\",\"comment\":\"%s\"}]}", comment);
	r = parse_ok(text);
	assert_null(r->entries[0].bad);
	aed_ratings_free(&r);
	free(text);
	free(comment);
}

static void test_duplicates(void **state)
{
	struct aed_ratings *r = parse_ok(
		HEAD "["
		"{\"candidate\":\"A\",\"answer\":\"present\",\"time\":\"2026-11-21T10:00:00Z\"},"
		"{\"candidate\":\"B\",\"answer\":\"present\",\"time\":\"2026-11-21T10:00:00Z\"},"
		"{\"candidate\":\"A\",\"answer\":\"unsure\",\"time\":\"2026-11-21T10:00:01Z\"},"
		"{\"candidate\":\"C\",\"answer\":\"yes\",\"time\":\"2026-11-21T10:00:00Z\"},"
		"{\"candidate\":\"A\",\"answer\":\"present\",\"time\":\"2026-11-21T10:00:00Z\"}]}");

	(void)state;
	assert_int_equal(r->n, 5);
	assert_null(r->entries[1].bad);
	assert_non_null(r->entries[3].bad); /* its own reason */
	for (int i = 0; i < 5; i += 2) {
		assert_non_null(r->entries[i].bad);
		assert_non_null(strstr(r->entries[i].bad, "more than once (entries 1, 3, 5)"));
	}
	aed_ratings_free(&r);
}

static void test_script_escape(void **state)
{
	char *out = NULL;

	(void)state;
	assert_int_equal(aed_review_script_escape("{\"a\":\"</script><!-- & \xe2\x80\xa8\xe2\x80\xa9 "
						  "\xe2\x80\xa7 \xc3\xa9\"}", &out), AED_OK);
	assert_string_equal(out, "{\"a\":\"\\u003c/script\\u003e\\u003c!-- \\u0026 \\u2028\\u2029 "
			    "\xe2\x80\xa7 \xc3\xa9\"}");
	free(out);
	assert_int_equal(aed_review_script_escape("", &out), AED_OK);
	assert_string_equal(out, "");
	free(out);
}

static void test_checksum(void **state)
{
	const char *ids[] = { "b_0", "a_1000" };
	const char *rev[] = { "a_1000", "b_0" };
	char h1[65], h2[65];

	(void)state;
	assert_int_equal(aed_review_checksum("/m/04rlf", ids, 2, h1), AED_OK);
	assert_int_equal(aed_review_checksum("/m/04rlf", rev, 2, h2), AED_OK);
	assert_string_equal(h1, h2); /* order does not matter */
	/* sha256 of "aedcurate-review-v1\n/m/04rlf\na_1000\nb_0\n" */
	assert_string_equal(h1, "5516ca44097848a6bdfe1b706d6b9660831c4cef13924d5931aa33bf65d25dc9");
	assert_int_equal(aed_review_checksum("/m/04rlf", ids, 1, h2), AED_OK);
	assert_string_not_equal(h1, h2);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_decide),
		cmocka_unit_test(test_answers),
		cmocka_unit_test(test_time),
		cmocka_unit_test(test_parse_good),
		cmocka_unit_test(test_parse_file_refusals),
		cmocka_unit_test(test_parse_bad_entries),
		cmocka_unit_test(test_parse_limits),
		cmocka_unit_test(test_duplicates),
		cmocka_unit_test(test_script_escape),
		cmocka_unit_test(test_checksum),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
