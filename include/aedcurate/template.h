/* template.h - source templates for fetch: file-name patterns, URLs and
 * shell commands with {variable} placeholders, parsed once and expanded per
 * segment with the escaping the destination needs (src/net/template.c). The
 * fetch stage (fetch.h) tries one template per source; this header knows
 * nothing about the stage.
 *
 * Template syntax: literal text with {variable} placeholders; "{{" and "}}"
 * stand for literal braces. Variables:
 *   {ytid}      the segment's YouTube id (or manifest file stem)
 *   {start_ms}  {end_ms}   the segment's range in milliseconds
 *   {start}     {end}      the same in seconds, shortest exact decimal ("30", "30.5")
 *   {key}       "{ytid}_{start_ms}"
 *   {out}       (--cmd only) the path the command must write to
 * A template that uses {start_ms}, {start} or {key} names one file per segment
 * (media.whole_video = 0); otherwise the file is the whole source recording and
 * decode cuts the segment's range out of it (whole_video = 1).
 *
 * Values are escaped for where they land, so a hostile id cannot leave its
 * placeholder: percent-encoded in URLs, single-quoted in commands, glob
 * characters escaped in file-name patterns; a value containing '/' is refused
 * in file-name patterns.
 *
 * Ownership: aed_template_parse() fills a caller-owned struct that
 * aed_template_release() empties; expansion appends to a caller-owned aed_buf.
 */
#ifndef AEDCURATE_TEMPLATE_H
#define AEDCURATE_TEMPLATE_H

#include <stdint.h>

#include "aedcurate/util.h"

enum aed_tpl_var {
	AED_TPL_LITERAL = -1,
	AED_TPL_YTID = 0,
	AED_TPL_START_MS,
	AED_TPL_END_MS,
	AED_TPL_START,
	AED_TPL_END,
	AED_TPL_KEY,
	AED_TPL_OUT,
	AED_TPL_NVARS
};

enum aed_tpl_escape {
	AED_TPL_RAW,   /* values as they are */
	AED_TPL_URL,   /* values percent-encoded (RFC 3986 unreserved kept) */
	AED_TPL_SHELL, /* each value one single-quoted shell word */
	AED_TPL_GLOB,  /* fnmatch metacharacters in values escaped; '/' refused */
};

struct aed_tpl_part {
	enum aed_tpl_var var; /* AED_TPL_LITERAL: text holds the literal */
	char *text;           /* malloc'd literal text, NULL for variables */
};

struct aed_template {
	struct aed_tpl_part *parts; /* malloc'd, n entries */
	int n;
	unsigned vars;              /* bit (1 << var) for every variable used */
};

struct aed_tpl_values {
	const char *ytid;
	const char *key;
	int64_t start_ms;
	int64_t end_ms;  /* < 0: unknown (manifest row without an end) */
	const char *out; /* NULL unless expanding a --cmd template */
};

/* Parse text. Errors name the template and the byte offset. */
int aed_template_parse(const char *text, struct aed_template *t);
void aed_template_release(struct aed_template *t);
/* 1 if the template names one file per segment (uses a start variable). */
int aed_template_is_segment(const struct aed_template *t);
/* Append the expansion to out. Fails (AED_EFORMAT) on a value the escape mode
 * cannot carry and (AED_ENOTFOUND) on {end}/{end_ms} of a segment with no end
 * or {out} without an output path. */
int aed_template_expand(const struct aed_template *t, const struct aed_tpl_values *v,
			enum aed_tpl_escape esc, struct aed_buf *out);
/* Milliseconds as the shortest exact decimal number of seconds: 30500 -> "30.5". */
void aed_ms_to_seconds(int64_t ms, char buf[32]);

#endif
