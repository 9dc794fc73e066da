/* fuzz_csv.c - libFuzzer target for the CSV/TSV tokenizer and the seconds
 * parsers. The first byte picks the separator and flags; the rest is the
 * input. Every field must lie inside the input or the scratch buffer, line
 * numbers must increase, and every field goes through both number parsers. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "aedcurate/csv.h"
#include "aedcurate/error.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct aed_csv c;
	size_t last_line = 0;
	int got, rc;

	if (size < 1)
		return 0;
	char sep = (data[0] & 1) ? '\t' : ',';
	int flags = (data[0] >> 1) & (AED_CSV_TRIM | AED_CSV_COMMENTS);
	const char *in = (const char *)data + 1;
	size_t n = size - 1;

	aed_csv_init(&c, in, n, sep, flags);
	for (;;) {
		rc = aed_csv_next(&c, &got);
		if (c.line && c.line <= last_line && (rc || got))
			abort();
		if (rc == AED_EFORMAT) {
			if (!c.reason || c.nf)
				abort();
			last_line = c.line;
			continue;
		}
		if (rc)
			abort(); /* only AED_ENOMEM could get here */
		if (!got)
			break;
		last_line = c.line;
		if (c.nf == 0 || c.nf > AED_CSV_MAX_FIELDS)
			abort();
		for (size_t i = 0; i < c.nf; i++) {
			const char *p = c.f[i].p;
			int in_input = p >= in && p + c.f[i].n <= in + n;
			int in_scratch = c.scratch && p >= c.scratch && p + c.f[i].n <= c.scratch + c.scratch_cap;
			int64_t ms;
			double s;

			if (!in_input && !in_scratch)
				abort();
			if (memchr(p, '\n', c.f[i].n))
				abort(); /* records never span lines */
			if (!aed_parse_ms(p, c.f[i].n, &ms) && (ms < 0 || ms > 1000000001000LL))
				abort();
			if (!aed_parse_seconds(p, c.f[i].n, &s) && !(s >= 0 && s <= 1e9 + 1))
				abort();
		}
	}
	if (aed_csv_offset(&c) != n)
		abort();
	aed_csv_release(&c);
	return 0;
}
