/* message.h - pieces of error messages and records about untrusted input: a
 * string cut short so that hostile text cannot drown the message, a fixed
 * buffer that lists the first offending items ("; ..." for the rest), and any
 * bytes as a JSON string. Nothing here knows about the database or audio.
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

/* s as a JSON string (jansson) whatever its bytes: a byte that does not
 * belong to valid UTF-8 becomes U+FFFD, where json_string() would return
 * NULL and make a whole json_pack() fail (a run's params lost for one odd
 * file name). NULL s gives JSON null. NULL only when out of memory. For
 * json_pack's "o": a path, a name or any text from outside. */
struct json_t;
struct json_t *aed_json_text(const char *s);

#endif
