/* test_util.c - the deterministic hashes of util.h: splitmix64 against the
 * reference stream (seed 1234567), FNV-1a 32-bit against published values,
 * and the 64-bit FNV-1a with this project's basis (see util.h) pinned, since
 * stored export draws depend on it; aed_select_f against a full sort. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "aedcurate/message.h"
#include "aedcurate/util.h"

static void test_splitmix64(void **state)
{
	(void)state;
	uint64_t s = 1234567;
	assert_true(aed_splitmix64(s) == 6457827717110365317ull);
	assert_true(aed_splitmix64_next(&s) == 6457827717110365317ull);
	assert_true(aed_splitmix64_next(&s) == 3203168211198807973ull);
	assert_true(aed_splitmix64_next(&s) == 9817491932198370423ull);
	assert_true(s == 1234567 + 3 * 0x9e3779b97f4a7c15ull);
}

static void test_fnv1a(void **state)
{
	(void)state;
	assert_true(aed_fnv1a32_str("") == 2166136261u);
	assert_true(aed_fnv1a32_str("a") == 0xe40c292cu);
	assert_true(aed_fnv1a32_str("foobar") == 0xbf9cf968u);
	assert_true(aed_fnv1a64_str("") == AED_FNV1A64_BASIS);
	assert_true(aed_fnv1a64_str("a") == 0x44bd8ad473cd9906ull);
	/* Continuing over pieces is hashing their concatenation. */
	uint64_t h = aed_fnv1a64(AED_FNV1A64_BASIS, "foo", 3);
	assert_true(aed_fnv1a64(h, "bar", 3) == aed_fnv1a64_str("foobar"));
}

/* Any bytes make a JSON string: invalid UTF-8 (a stray byte, a cut
 * sequence, an overlong form, a surrogate) becomes U+FFFD, valid text stays. */
static void test_json_text(void **state)
{
	(void)state;
	static const struct { const char *in, *out; } cases[] = {
		{ "plain/path.flac", "plain/path.flac" },
		{ "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x90\xb6", "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x90\xb6" },
		{ "a\xff" "b", "a\xef\xbf\xbd" "b" },
		{ "cut\xe2\x82", "cut\xef\xbf\xbd\xef\xbf\xbd" },
		{ "\xc0\xaf", "\xef\xbf\xbd\xef\xbf\xbd" },
		{ "\xed\xa0\x80", "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd" },
		{ "", "" },
	};
	for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
		json_t *j = aed_json_text(cases[i].in);
		assert_non_null(j);
		assert_true(json_is_string(j));
		assert_string_equal(json_string_value(j), cases[i].out);
		json_decref(j);
	}
	json_t *n = aed_json_text(NULL);
	assert_true(json_is_null(n));
	json_t *p = json_pack("{s:o}", "file", aed_json_text("x\x80y"));
	assert_non_null(p);
	char *t = json_dumps(p, JSON_COMPACT);
	assert_string_equal(t, "{\"file\":\"x\xef\xbf\xbdy\"}");
	free(t);
	json_decref(p);
}

static int cmp_float(const void *a, const void *b)
{
	float x = *(const float *)a, y = *(const float *)b;
	return (x > y) - (x < y);
}

/* Every k of arrays of 1..300 values, with many ties, sorted, reversed or
 * all equal, against qsort. */
static void test_select(void **state)
{
	float v[300], w[300], s[300];
	uint64_t st = 42;

	(void)state;
	for (size_t n = 1; n <= 300; n += n < 20 ? 1 : 37)
		for (int shape = 0; shape < 5; shape++) {
			for (size_t i = 0; i < n; i++) {
				uint64_t r = aed_splitmix64_next(&st);
				v[i] = shape == 0 ? (float)(r % 1000) / 7.0f
				     : shape == 1 ? (float)(r % 3)
				     : shape == 2 ? (float)i
				     : shape == 3 ? (float)(n - i)
						  : 0.5f;
			}
			memcpy(s, v, n * sizeof *s);
			qsort(s, n, sizeof *s, cmp_float);
			for (size_t k = 0; k < n; k++) {
				memcpy(w, v, n * sizeof *w);
				assert_true(aed_select_f(w, n, k) == s[k]);
			}
		}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_splitmix64),
		cmocka_unit_test(test_fnv1a),
		cmocka_unit_test(test_json_text),
		cmocka_unit_test(test_select),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
