/* net.h - reading a SOURCE that is a local path, a file:// URL or an
 * http(s):// URL (libcurl), with timeouts, redirects, a size cap and the HTTP
 * status in the error message. The fetch stage's parallel downloader lives in
 * src/stage/fetch.c; this is the one-shot reader used by the ingest commands.
 */
#ifndef AEDCURATE_NET_H
#define AEDCURATE_NET_H

#include <stddef.h>

struct aed_source_opts {
	long connect_timeout_s; /* 0: 15 s */
	long timeout_s;         /* whole transfer; 0: 120 s */
	long low_speed_s;       /* abort if < 1 byte/s for this long; 0: 30 s */
	size_t max_bytes;       /* 0: 512 MiB */
	long max_redirects;     /* 0: 5 */
};

/* 1 if s looks like a URL (scheme://), 0 for a plain path. */
int aed_source_is_url(const char *s);

/* Read the whole SOURCE into *data (malloc'd, NUL-terminated; *n excludes the
 * NUL). opts may be NULL for defaults. Errors name the source and, for HTTP,
 * the status code ("https://x/y: HTTP 404"). */
int aed_source_read(const char *source, const struct aed_source_opts *opts,
		    char **data, size_t *n);

#endif
