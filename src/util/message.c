/* message.c - pieces of error messages about untrusted input (contract in
 * include/aedcurate/message.h): a clipped string, a bounded list. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "aedcurate/message.h"

/* Append printf output to a fixed message buffer, truncating quietly. */
void aed_msg_add(char *m, size_t cap, const char *fmt, ...)
{
	size_t len = strlen(m);
	va_list ap;

	if (len + 1 >= cap)
		return;
	va_start(ap, fmt);
	vsnprintf(m + len, cap - len, fmt, ap);
	va_end(ap);
}

/* A string for a message: at most 80 bytes, so hostile input cannot drown
 * the message. Uses one of four rotating static buffers. */
const char *aed_msg_clip(const char *s)
{
	static _Thread_local char bufs[4][96];
	static _Thread_local int k;
	char *b = bufs[k++ & 3];
	size_t n = strlen(s);

	if (n <= 80)
		return s;
	memcpy(b, s, 77);
	/* do not cut a UTF-8 sequence in half */
	n = 77;
	while (n > 0 && ((unsigned char)b[n] & 0xC0) == 0x80)
		n--;
	memcpy(b + n, "...", 4);
	return b;
}

/* Length of the valid UTF-8 sequence at p (n bytes left), 0 if none. */
static size_t utf8_len(const unsigned char *p, size_t n)
{
	size_t len = p[0] < 0x80 ? 1 : p[0] >= 0xC2 && p[0] <= 0xDF ? 2
		   : p[0] >= 0xE0 && p[0] <= 0xEF ? 3 : p[0] >= 0xF0 && p[0] <= 0xF4 ? 4 : 0;
	if (!len || len > n)
		return 0;
	for (size_t i = 1; i < len; i++)
		if ((p[i] & 0xC0) != 0x80)
			return 0;
	/* overlong forms, surrogates, beyond U+10FFFF */
	if ((p[0] == 0xE0 && p[1] < 0xA0) || (p[0] == 0xED && p[1] >= 0xA0) ||
	    (p[0] == 0xF0 && p[1] < 0x90) || (p[0] == 0xF4 && p[1] >= 0x90))
		return 0;
	return len;
}

json_t *aed_json_text(const char *s)
{
	if (!s)
		return json_null();
	size_t n = strlen(s), bad = 0;
	for (size_t i = 0, k; i < n; i += k ? k : 1)
		bad += (k = utf8_len((const unsigned char *)s + i, n - i)) == 0;
	if (!bad)
		return json_stringn(s, n);
	char *t = malloc(n + 2 * bad + 1), *o = t;
	if (!t)
		return NULL;
	for (size_t i = 0, k; i < n; i += k ? k : 1) {
		if ((k = utf8_len((const unsigned char *)s + i, n - i))) {
			memcpy(o, s + i, k);
			o += k;
		} else {
			memcpy(o, "\xEF\xBF\xBD", 3);
			o += 3;
		}
	}
	json_t *j = json_stringn(t, (size_t)(o - t));
	free(t);
	return j;
}
