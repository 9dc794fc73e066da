/* error.h - one status family for the whole tool, and the message that goes with it.
 *
 * Every function that can fail returns an enum aed_status (0 is success). The
 * failing function records a human-readable message with aed_error(), which
 * returns the code so call sites can write
 *     return aed_error(AED_EFORMAT, "%s:%zu: expected 4 fields", path, line);
 * The message lives in thread-local storage until the next aed_error() on the
 * same thread; only main() prints it and exits. Library code never exits.
 */
#ifndef AEDCURATE_ERROR_H
#define AEDCURATE_ERROR_H

#include <stdarg.h>

enum aed_status {
	AED_OK = 0,
	AED_EUSAGE,    /* bad command line or option value */
	AED_EIO,       /* file system or OS call failed */
	AED_EFORMAT,   /* malformed input: file, row, field */
	AED_ENOMEM,    /* allocation failed or a size cap was hit */
	AED_ENOTFOUND, /* a named thing (class, segment, file) does not exist */
	AED_EDB,       /* SQLite reported an error */
	AED_ENET,      /* transfer failed: DNS, connect, timeout, HTTP status */
	AED_ESTATE,    /* refused by state: newer schema, stale index, busy */
	AED_EMEDIA,    /* FFmpeg could not open, decode or encode */
	AED_EINTERNAL, /* a bug: an invariant did not hold */
	AED_STATUS_COUNT
};

/* Short name of a status ("format error", ...). Never NULL. */
const char *aed_status_str(int status);

/* Record a message for `status` and return `status`. printf-style. */
int aed_error(int status, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
int aed_verror(int status, const char *fmt, va_list ap);

/* Prepend context to the current message: "ctx: old message". Returns status. */
int aed_error_prefix(int status, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* The message recorded last on this thread ("" if none). Valid until the next
 * aed_error() on this thread. */
const char *aed_last_error(void);

/* Process exit code for a status: 0 ok, 2 usage, 1 everything else. */
int aed_exit_code(int status);

#endif
