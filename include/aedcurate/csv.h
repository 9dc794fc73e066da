/* csv.h - a tokenizer for comma- or tab-separated text held in memory (an
 * mmap'd file or a downloaded buffer), and the strict number parsers the
 * segment-list readers apply to its fields.
 *
 * Ownership: struct aed_csv is embedded by the caller (aed_csv_init /
 * aed_csv_release); it borrows the input bytes, which must outlive it. Field
 * pointers stay valid until the next aed_csv_next(): they point into the
 * input, or into the tokenizer's scratch buffer for quoted fields that
 * contained doubled quotes. Fields are NOT NUL-terminated.
 *
 * Accepted text (a strict subset of RFC 4180, chosen so that every error can
 * name one line and the reader can go on at the next one):
 *   - an optional UTF-8 byte order mark (EF BB BF) at the very start;
 *   - records end at LF or CRLF; a last record without a newline is fine;
 *   - a quoted field ("a,b" or "say ""hi""") may NOT span lines: a quote
 *     still open at the end of a line is an error for that line;
 *   - with AED_CSV_TRIM, spaces before and after a field (and around a
 *     quoted field) are dropped: AudioSet lists write `id, 30.000, "/m/x"`;
 *   - a quote inside an unquoted field, text after a closing quote, a NUL
 *     byte, a record over AED_CSV_MAX_LINE bytes or over AED_CSV_MAX_FIELDS
 *     fields are errors for that line;
 *   - blank lines, and with AED_CSV_COMMENTS lines whose first byte is '#',
 *     are skipped (they still count for line numbers).
 */
#ifndef AEDCURATE_CSV_H
#define AEDCURATE_CSV_H

#include <stddef.h>
#include <stdint.h>

#define AED_CSV_MAX_LINE ((size_t)1 << 20) /* bytes in one record */
#define AED_CSV_MAX_FIELDS 256

enum aed_csv_flags {
	AED_CSV_TRIM = 1 << 0,     /* strip spaces around fields */
	AED_CSV_COMMENTS = 1 << 1, /* skip lines starting with '#' */
};

struct aed_csv_field {
	const char *p;
	size_t n; /* bytes */
};

struct aed_csv {
	const char *data, *cur, *end; /* borrowed input; cur = next unread byte */
	char sep;                     /* ',' or '\t' */
	int flags;                    /* enum aed_csv_flags */
	size_t line;                  /* 1-based line of the record last read */
	size_t next_line;             /* line number of *cur */
	const char *reason;           /* static text of the last error, or NULL */
	size_t nf;                    /* fields in the record last read */
	struct aed_csv_field f[AED_CSV_MAX_FIELDS];
	char *scratch;                /* unescaped quoted fields */
	size_t scratch_cap;           /* bytes */
};

void aed_csv_init(struct aed_csv *c, const char *data, size_t n, char sep, int flags);
void aed_csv_release(struct aed_csv *c);

/* Read the next record into c->f[0..c->nf). *got is 1 for a record, 0 at the
 * end of input. A malformed line returns AED_EFORMAT with c->line set to its
 * line and c->reason to a short static description ("quote left open"); no
 * message is recorded (the caller knows the file name), and the tokenizer has
 * already moved past that line, so calling again continues with the next one.
 * AED_ENOMEM if the scratch buffer cannot grow. */
int aed_csv_next(struct aed_csv *c, int *got);

/* Byte offset of the start of the unread input (for progress). */
static inline size_t aed_csv_offset(const struct aed_csv *c) { return (size_t)(c->cur - c->data); }

/* 1 if field equals the NUL-terminated s (ASCII case-insensitive when ci). */
int aed_csv_field_eq(const struct aed_csv_field *f, const char *s, int ci);

/* Parse a non-negative decimal number of seconds ("30", "30.000", ".5",
 * "4.873") into whole milliseconds, rounding digits past the third half-up.
 * No sign, exponent, hex, "nan" or "inf"; integer part at most 10^9. Returns NULL on
 * success, else a static reason: "empty time", "negative time",
 * "not a number", "time too large". */
const char *aed_parse_ms(const char *p, size_t n, int64_t *ms);
/* Same grammar, value as a double (strtod of the validated text). */
const char *aed_parse_seconds(const char *p, size_t n, double *s);

#endif
