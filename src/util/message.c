/* message.c - pieces of error messages about untrusted input (contract in
 * include/aedcurate/message.h): a clipped string, a bounded list. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

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
