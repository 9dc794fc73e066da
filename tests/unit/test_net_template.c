/* test_net_template.c - fetch source templates: parsing, errors, and the
 * expansion table (value, escape mode) -> text, hostile values included. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "aedcurate/error.h"
#include "aedcurate/template.h"
#include "aedcurate/util.h"

struct expand_case {
	const char *tpl, *ytid;
	int64_t start_ms, end_ms;
	enum aed_tpl_escape esc;
	const char *want; /* NULL: expansion fails */
};

static const struct expand_case cases[] = {
	{ "{ytid}_{start_ms}.*", "abc", 30000, 40000, AED_TPL_GLOB, "abc_30000.*" },
	{ "{ytid}.*", "a*b?[c]\\", 0, 1, AED_TPL_GLOB, "a\\*b\\?\\[c\\]\\\\.*" },
	{ "{ytid}.*", "../etc", 0, 1, AED_TPL_GLOB, NULL },
	{ "{ytid}", "..", 0, 1, AED_TPL_GLOB, NULL },
	{ "Y{ytid}_{start}_{end}.wav", "x", 12500, 22500, AED_TPL_RAW, "Yx_12.5_22.5.wav" },
	{ "{start}-{end}", "x", 1, 999999, AED_TPL_RAW, "0.001-999.999" },
	{ "{start}", "x", 0, 1, AED_TPL_RAW, "0" },
	{ "{end_ms}", "x", 0, -1, AED_TPL_RAW, NULL },
	{ "{key}/{end_ms}", "x", 5, 7, AED_TPL_RAW, "x_5/7" },
	{ "https://m/{ytid}.flac", "-0P Q/4?&#%", 0, 1, AED_TPL_URL,
	  "https://m/-0P%20Q%2F4%3F%26%23%25.flac" },
	{ "https://m/{ytid}", "\xc3\xa9~._-", 0, 1, AED_TPL_URL, "https://m/%C3%A9~._-" },
	{ "get {ytid} {out}", "x'; rm -rf / #", 0, 1, AED_TPL_SHELL,
	  "get 'x'\\''; rm -rf / #' '/tmp/o'" },
	{ "get {ytid}", "$(id)`id`\n", 0, 1, AED_TPL_SHELL, "get '$(id)`id`\n'" },
	{ "get {ytid}", "", 0, 1, AED_TPL_SHELL, "get ''" },
	{ "{{literal}} {ytid}}}", "v", 0, 1, AED_TPL_RAW, "{literal} v}" },
};

static void test_expand_table(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
		const struct expand_case *c = &cases[i];
		char key[64];
		struct aed_template t;
		struct aed_tpl_values v = { .ytid = c->ytid, .key = key, .start_ms = c->start_ms,
					    .end_ms = c->end_ms, .out = "/tmp/o" };
		struct aed_buf b = { 0 };
		int rc;

		snprintf(key, sizeof key, "%s_%lld", c->ytid, (long long)c->start_ms);
		assert_int_equal(aed_template_parse(c->tpl, &t), AED_OK);
		rc = aed_template_expand(&t, &v, c->esc, &b);
		if (c->want) {
			if (rc != AED_OK)
				fail_msg("case %zu (%s): %s", i, c->tpl, aed_last_error());
			assert_int_equal(aed_buf_append(&b, "", 1), AED_OK);
			assert_string_equal(b.data, c->want);
		} else {
			assert_int_not_equal(rc, AED_OK);
		}
		aed_buf_release(&b);
		aed_template_release(&t);
	}
}

static void test_parse_errors(void **state)
{
	static const char *bad[][2] = {
		{ "{ytid", "unclosed '{' at offset 0" },
		{ "a}b", "unmatched '}' at offset 1" },
		{ "x{nope}", "unknown variable {nope} at offset 1" },
		{ "{}", "unknown variable {}" },
		{ "{YTID}", "unknown variable {YTID}" },
	};
	struct aed_template t;

	(void)state;
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
		assert_int_equal(aed_template_parse(bad[i][0], &t), AED_EUSAGE);
		if (!strstr(aed_last_error(), bad[i][1]))
			fail_msg("'%s': message '%s' lacks '%s'", bad[i][0], aed_last_error(), bad[i][1]);
		assert_non_null(strstr(aed_last_error(), bad[i][0]));
		assert_null(t.parts);
	}
}

static void test_segment_or_whole(void **state)
{
	static const struct { const char *tpl; int seg; } k[] = {
		{ "{ytid}.*", 0 }, { "{ytid}_{end_ms}", 0 }, { "{ytid}_{start_ms}.*", 1 },
		{ "{key}.flac", 1 }, { "{ytid}?t={start}", 1 }, { "plain", 0 },
	};
	struct aed_template t;

	(void)state;
	for (size_t i = 0; i < sizeof k / sizeof *k; i++) {
		assert_int_equal(aed_template_parse(k[i].tpl, &t), AED_OK);
		assert_int_equal(aed_template_is_segment(&t), k[i].seg);
		aed_template_release(&t);
	}
}

static void test_out_needs_value(void **state)
{
	struct aed_template t;
	struct aed_tpl_values v = { .ytid = "x", .key = "x_0", .end_ms = -1 };
	struct aed_buf b = { 0 };

	(void)state;
	assert_int_equal(aed_template_parse("{out}", &t), AED_OK);
	assert_int_equal(aed_template_expand(&t, &v, AED_TPL_SHELL, &b), AED_ENOTFOUND);
	aed_buf_release(&b);
	aed_template_release(&t);
}

static void test_seconds(void **state)
{
	char buf[32];

	(void)state;
	aed_ms_to_seconds(30000, buf);
	assert_string_equal(buf, "30");
	aed_ms_to_seconds(30500, buf);
	assert_string_equal(buf, "30.5");
	aed_ms_to_seconds(30050, buf);
	assert_string_equal(buf, "30.05");
	aed_ms_to_seconds(7, buf);
	assert_string_equal(buf, "0.007");
	aed_ms_to_seconds(INT64_MAX, buf);
	assert_string_equal(buf, "9223372036854775.807");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_expand_table),
		cmocka_unit_test(test_parse_errors),
		cmocka_unit_test(test_segment_or_whole),
		cmocka_unit_test(test_out_needs_value),
		cmocka_unit_test(test_seconds),
	};

	return cmocka_run_group_tests_name("net_template", tests, NULL, NULL);
}
