/* test_csv.c - the CSV/TSV tokenizer (quotes, CRLF, BOM, comments, blank
 * lines, the per-line errors and recovery) and the decimal-seconds parsers,
 * table-driven: input, expected fields or error, line numbers. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "aedcurate/csv.h"
#include "aedcurate/error.h"

/* Tokenize everything; render records as "line:f1|f2|...;" and errors as
 * "line:!reason;". */
static void render(const char *in, size_t n, char sep, int flags, char *out, size_t cap)
{
	struct aed_csv c;
	int got, rc;
	size_t k = 0;

	out[0] = 0;
	aed_csv_init(&c, in, n, sep, flags);
	for (;;) {
		rc = aed_csv_next(&c, &got);
		if (rc == AED_EFORMAT) {
			k += (size_t)snprintf(out + k, cap - k, "%zu:!%s;", c.line, c.reason);
			continue;
		}
		assert_int_equal(rc, AED_OK);
		if (!got)
			break;
		k += (size_t)snprintf(out + k, cap - k, "%zu:", c.line);
		for (size_t i = 0; i < c.nf; i++)
			k += (size_t)snprintf(out + k, cap - k, "%s%.*s", i ? "|" : "", (int)c.f[i].n,
					      c.f[i].p);
		k += (size_t)snprintf(out + k, cap - k, ";");
		assert_true(k < cap);
	}
	aed_csv_release(&c);
}

static const struct {
	const char *in;
	char sep;
	int flags;
	const char *want;
} cases[] = {
	/* AudioSet rows: spaces after commas, quoted label list. */
	{ "# c\n# d\nabc, 30.000, 40.000, \"/m/a,/m/b\"\n", ',', AED_CSV_TRIM | AED_CSV_COMMENTS,
	  "3:abc|30.000|40.000|/m/a,/m/b;" },
	{ "a,b\r\nc,d\r\n", ',', 0, "1:a|b;2:c|d;" },
	{ "\xEF\xBB\xBFx,y\n", ',', 0, "1:x|y;" },
	{ "x,y", ',', 0, "1:x|y;" },                       /* no final newline */
	{ "\n\n  \nx\n", ',', 0, "4:x;" },                 /* blank lines counted */
	{ "a,,c,\n", ',', 0, "1:a||c|;" },                  /* empty fields */
	{ "\"say \"\"hi\"\"\",2\n", ',', 0, "1:say \"hi\"|2;" },
	{ "\"\"\"\"\n", ',', 0, "1:\";" },
	{ "\"a,b\" , c \n", ',', AED_CSV_TRIM, "1:a,b|c;" },
	{ " a , b \n", ',', 0, "1: a | b ;" },              /* no trim: kept */
	{ "#x,y\n", ',', 0, "1:#x|y;" },                    /* comments off */
	{ "a\tb c\t\"d\"\n", '\t', AED_CSV_TRIM, "1:a|b c|d;" },
	/* Errors name their line; the next line still parses. */
	{ "ok\n\"open,1\nnext\n", ',', 0, "1:ok;2:!quote left open;3:next;" },
	{ "a\"b,c\nz\n", ',', 0, "1:!quote inside unquoted field;2:z;" },
	{ "\"a\"b,c\n", ',', 0, "1:!text after closing quote;" },
	{ "a,b\nc\0d\ne\n", ',', 0, "1:a|b;2:!NUL byte in line;3:e;" },
	{ "", ',', 0, "" },
	{ "\xEF\xBB", ',', 0, "1:\xEF\xBB;" },              /* half a BOM is data */
};

static void test_tokenizer_cases(void **state)
{
	char out[1024];

	(void)state;
	for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
		size_t n = strlen(cases[i].in);

		if (strstr(cases[i].want, "NUL"))
			n = 10; /* the literal holds an embedded NUL */
		render(cases[i].in, n, cases[i].sep, cases[i].flags, out, sizeof out);
		if (strcmp(out, cases[i].want) != 0)
			fail_msg("case %zu: got '%s', want '%s'", i, out, cases[i].want);
	}
}

static void test_limits(void **state)
{
	size_t n = AED_CSV_MAX_LINE + 10;
	char *big = malloc(n + 8), out[256];
	struct aed_csv c;
	int got;

	(void)state;
	assert_non_null(big);
	memset(big, 'x', n);
	memcpy(big + n, "\nok\n", 4);
	render(big, n + 4, ',', 0, out, sizeof out);
	assert_string_equal(out, "1:!line longer than 1 MiB;2:ok;");
	/* One more field than allowed. */
	memset(big, ',', AED_CSV_MAX_FIELDS);
	big[AED_CSV_MAX_FIELDS] = '\n';
	render(big, AED_CSV_MAX_FIELDS + 1, ',', 0, out, sizeof out);
	assert_string_equal(out, "1:!too many fields;");
	/* Exactly the limit is fine. */
	aed_csv_init(&c, big + 1, AED_CSV_MAX_FIELDS, ',', 0);
	assert_int_equal(aed_csv_next(&c, &got), AED_OK);
	assert_int_equal(got, 1);
	assert_int_equal(c.nf, AED_CSV_MAX_FIELDS);
	aed_csv_release(&c);
	free(big);
}

static const struct {
	const char *in;
	int64_t ms;
	const char *err;
} ms_cases[] = {
	{ "30.000", 30000, NULL }, { "0", 0, NULL }, { "5.5", 5500, NULL }, { ".5", 500, NULL },
	{ "7.", 7000, NULL }, { "4.873", 4873, NULL }, { "1.0005", 1001, NULL },
	{ "1.0004999", 1000, NULL }, { "000012.25", 12250, NULL },
	{ "1000000000", 1000000000000LL, NULL },
	{ "1000000001", 0, "time too large" }, { "99999999999", 0, "time too large" },
	{ "", 0, "empty time" }, { "-1", 0, "negative time" }, { "-.5", 0, "negative time" },
	{ "-", 0, "not a number" }, { "nan", 0, "not a number" }, { "NaN", 0, "not a number" },
	{ "inf", 0, "not a number" }, { "1e3", 0, "not a number" }, { "+1", 0, "not a number" },
	{ ".", 0, "not a number" }, { "1.2.3", 0, "not a number" }, { "0x10", 0, "not a number" },
	{ "1 ", 0, "not a number" },
};

static void test_parse_ms(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof ms_cases / sizeof *ms_cases; i++) {
		int64_t ms = -1;
		const char *why = aed_parse_ms(ms_cases[i].in, strlen(ms_cases[i].in), &ms);

		if (ms_cases[i].err) {
			if (!why || strcmp(why, ms_cases[i].err) != 0)
				fail_msg("'%s': got %s, want error '%s'", ms_cases[i].in,
					 why ? why : "success", ms_cases[i].err);
		} else if (why || ms != ms_cases[i].ms) {
			fail_msg("'%s': got %s / %lld, want %lld", ms_cases[i].in, why ? why : "ok",
				 (long long)ms, (long long)ms_cases[i].ms);
		}
	}
}

static void test_parse_seconds(void **state)
{
	double s;

	(void)state;
	assert_null(aed_parse_seconds("4.873", 5, &s));
	assert_true(s == 4.873);
	assert_null(aed_parse_seconds("10", 2, &s));
	assert_true(s == 10.0);
	assert_string_equal(aed_parse_seconds("NaN", 3, &s), "not a number");
	assert_string_equal(aed_parse_seconds("-0.5", 4, &s), "negative time");
	/* Bounded by length: bytes after n are not read. */
	assert_null(aed_parse_seconds("1.5xyz", 3, &s));
	assert_true(s == 1.5);
}

static void test_field_eq(void **state)
{
	struct aed_csv_field f = { "YTID,", 4 };

	(void)state;
	assert_true(aed_csv_field_eq(&f, "YTID", 0));
	assert_true(aed_csv_field_eq(&f, "ytid", 1));
	assert_false(aed_csv_field_eq(&f, "ytid", 0));
	assert_false(aed_csv_field_eq(&f, "YTID,", 0));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_tokenizer_cases),
		cmocka_unit_test(test_limits),
		cmocka_unit_test(test_parse_ms),
		cmocka_unit_test(test_parse_seconds),
		cmocka_unit_test(test_field_eq),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
