/* seglist_int.h - what the segment-list readers (seglist.c, strong.c,
 * manifest.c) share: bad-row reports, field checks, keys and label lists;
 * not a public interface (that is include/aedcurate/seglist.h). */
#ifndef AEDCURATE_FORMAT_SEGLIST_INT_H
#define AEDCURATE_FORMAT_SEGLIST_INT_H

#include <stddef.h>
#include <stdint.h>

#include "aedcurate/csv.h"
#include "aedcurate/seglist.h"

/* Report a bad row through rd->bad(); returns what it returns. */
int seglist_bad(struct aed_seglist_reader *rd, size_t line, enum aed_bad_reason why,
		const char *fmt, ...) __attribute__((format(printf, 4, 5)));
/* A tokenizer error: count the line as a row, report it and go on. */
int seglist_syntax_error(struct aed_seglist_reader *rd, struct aed_csv *t, int rc);
/* Printable, bounded quote of a field for messages. */
const char *seglist_show(const char *p, size_t n, char buf[80]);
/* 1 for a YouTube id: 1 to 64 of [A-Za-z0-9_-]. */
int seglist_ytid_ok(const char *p, size_t n);
/* Names from manifests: any text without control bytes, at most max bytes. */
int seglist_text_ok(const char *p, size_t n, size_t max);
/* Make the key "{ytid}_{start_ms}" in the arena (NULL: out of memory). */
char *seglist_make_key(struct aed_seglist_reader *rd, const char *ytid, size_t n,
		       int64_t start_ms);
/* Split a label list at sep and append class ids to rd->labels. *bad is set
 * (after the report) when a label is unknown or repeated. */
int seglist_labels(struct aed_seglist_reader *rd, size_t line, const char *p, size_t n,
		   char sep, size_t *off, size_t *cnt, int *bad);

#endif
