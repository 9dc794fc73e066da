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

/* Deterministic hashing and randomness: the same numbers on every platform
 * and run (seeds, shard assignment, held-out draws depend on them).
 * splitmix64 (Steele, Lea and Flood 2014): aed_splitmix64(x) is the value a
 * stream whose state is x gives next (x plus the golden-ratio step, then the
 * finaliser); aed_splitmix64_next() advances *state by the step and returns
 * the finalised new state. */
#define AED_SPLITMIX64_STEP 0x9e3779b97f4a7c15ull /* the golden-ratio step */
uint64_t aed_splitmix64(uint64_t x);
uint64_t aed_splitmix64_next(uint64_t *state);
/* FNV-1a: aed_fnv1a64 continues hash h over n bytes (start with
 * AED_FNV1A64_BASIS); the _str forms hash a NUL-terminated string whole.
 * The 64-bit basis is 1469598103934665603, one digit short of FNV's
 * published 14695981039346656037: export's sample draws and eval mine's
 * seeds were made with it, so it stays (the 32-bit form, the shard hash,
 * uses the published 2166136261). */
#define AED_FNV1A64_BASIS 1469598103934665603ull
uint64_t aed_fnv1a64(uint64_t h, const void *data, size_t n);
uint64_t aed_fnv1a64_str(const char *s);
uint32_t aed_fnv1a32_str(const char *s);

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

/* The k-th smallest of v[0..n-1] (k < n), reordering v; NaN-free input. */
float aed_select_f(float *v, size_t n, size_t k);

#endif
