/* util.h - small shared helpers: messages, progress, time, hashing, files,
 * growable buffers. Nothing here knows about the database or audio. */
#ifndef AEDCURATE_UTIL_H
#define AEDCURATE_UTIL_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* Messages on stderr. aed_info is silenced by aed_set_quiet(1). */
void aed_set_quiet(int quiet);
int aed_is_quiet(void);
void aed_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void aed_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Progress of a long stage on stderr: "label 1234/5000 (24%) 310/s ETA 12s".
 * Drawn only when stderr is a terminal and not quiet; at most 10 times a
 * second; thread-safe (aed_progress_add may be called from workers). */
struct aed_progress;
struct aed_progress *aed_progress_new(const char *label, int64_t total);
void aed_progress_add(struct aed_progress *p, int64_t n);
void aed_progress_free(struct aed_progress **p); /* prints a final line */

/* Wall-clock and monotonic time. */
double aed_now(void);                       /* monotonic seconds */
void aed_utc_iso8601(char buf[32]);        /* "2026-11-21T10:04:08Z" */

/* SHA-256 (OpenSSL). hex has 65 bytes. */
void aed_sha256_hex(const void *data, size_t n, char hex[65]);
int aed_sha256_file(const char *path, char hex[65]);

/* Whole file into memory with a size cap; adds a NUL after the data. */
int aed_read_file(const char *path, size_t max_bytes, char **data, size_t *n);
/* Write atomically: path.tmp, fsync, rename. */
int aed_write_file_atomic(const char *path, const void *data, size_t n);
int aed_mkdir_p(const char *path);

/* Growable byte buffer. */
struct aed_buf {
	char *data;
	size_t len, cap;
};
int aed_buf_append(struct aed_buf *b, const void *p, size_t n);
int aed_buf_printf(struct aed_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void aed_buf_release(struct aed_buf *b);
/* Append p[0..n) as a JSON string: in quotes, '"' and '\\' escaped, bytes
 * below 0x20 as \u00xx, all others as they are. */
int aed_buf_json_str(struct aed_buf *b, const char *p, size_t n);

/* Number of online CPUs (at least 1). */
int aed_ncpu(void);

#endif
