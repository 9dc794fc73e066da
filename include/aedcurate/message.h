/* message.h - pieces of error messages about untrusted input: a string cut
 * short so that hostile text cannot drown the message, and a fixed buffer
 * that lists the first offending items ("; ..." for the rest). Nothing here
 * knows about the database or audio.
 */
#ifndef AEDCURATE_MESSAGE_H
#define AEDCURATE_MESSAGE_H

#include <stddef.h>

#define AED_MSG_MAX_LISTED 10 /* offending items named in one message */

/* Append printf output to a fixed message buffer m of cap bytes (NUL
 * terminated), truncating quietly. */
void aed_msg_add(char *m, size_t cap, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* A string for a message: at most 80 bytes, cut on a UTF-8 boundary and
 * ended with "...". Returns s itself when short enough, else one of four
 * rotating thread-local buffers (valid until four more calls on the thread). */
const char *aed_msg_clip(const char *s);

#endif
