/* source.c - read a SOURCE argument whole: a plain path, a file:// URL or an
 * http(s):// URL fetched with libcurl's easy interface under timeouts, a
 * redirect cap and a size cap enforced while the bytes arrive. */
#include <ctype.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

#include "aedcurate/error.h"
#include "aedcurate/net.h"
#include "aedcurate/util.h"
#include "net/internal.h"

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_init_code = CURLE_OK;

static void curl_init_once(void)
{
	curl_init_code = curl_global_init(CURL_GLOBAL_DEFAULT);
}

int aed_curl_global_init(void)
{
	pthread_once(&curl_once, curl_init_once);
	if (curl_init_code != CURLE_OK)
		return aed_error(AED_ENET, "libcurl initialisation failed: %s",
				 curl_easy_strerror(curl_init_code));
	return AED_OK;
}

int aed_source_is_url(const char *s)
{
	const char *p = s;

	if (!s || !isalpha((unsigned char)*p))
		return 0;
	while (isalnum((unsigned char)*p) || *p == '+' || *p == '-' || *p == '.')
		p++;
	return strncmp(p, "://", 3) == 0;
}

static int hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c = tolower(c);
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

/* file:///abs/path or file://localhost/abs/path -> "/abs/path", percent-decoded. */
int aed_file_url_path(const char *url, char **out)
{
	const char *p = url + strlen("file://");
	char *path = NULL, *q;
	int rc = AED_OK;

	if (strncasecmp(url, "file://", 7) != 0)
		return aed_error(AED_EUSAGE, "%s: not a file:// URL", url);
	if (strncmp(p, "localhost/", 10) == 0)
		p += 9;
	if (*p != '/') {
		rc = aed_error(AED_EUSAGE, "%s: only local file:// URLs are supported "
			       "(file:///absolute/path)", url);
		goto out;
	}
	path = malloc(strlen(p) + 1);
	if (!path) {
		rc = aed_error(AED_ENOMEM, "%s: out of memory", url);
		goto out;
	}
	for (q = path; *p && *p != '?' && *p != '#'; p++) {
		if (*p == '%') {
			int hi = hexval((unsigned char)p[1]);
			int lo = hi < 0 ? -1 : hexval((unsigned char)p[2]);

			if (hi < 0 || lo < 0 || (hi == 0 && lo == 0)) {
				rc = aed_error(AED_EUSAGE, "%s: bad percent escape", url);
				goto out;
			}
			*q++ = (char)(hi * 16 + lo);
			p += 2;
		} else {
			*q++ = *p;
		}
	}
	*q = '\0';
	*out = path;
	path = NULL;
out:
	free(path);
	return rc;
}

struct sink {
	struct aed_buf buf;
	size_t max_bytes;
	int over_cap;
	int oom;
};

static size_t sink_write(char *ptr, size_t size, size_t nmemb, void *userdata)
{
	struct sink *s = userdata;
	size_t n = size * nmemb;

	if (n > s->max_bytes - s->buf.len) {
		s->over_cap = 1;
		return 0; /* aborts the transfer with CURLE_WRITE_ERROR */
	}
	if (aed_buf_append(&s->buf, ptr, n) != AED_OK) {
		s->oom = 1;
		return 0;
	}
	return n;
}

static int http_read(const char *url, const struct aed_source_opts *o,
		     char **data, size_t *n)
{
	char errbuf[CURL_ERROR_SIZE] = "";
	struct sink s = { .max_bytes = o->max_bytes };
	CURL *h = NULL;
	CURLcode cc;
	long status = 0;
	int rc;

	if ((rc = aed_curl_global_init()) != AED_OK)
		goto out;
	h = curl_easy_init();
	if (!h) {
		rc = aed_error(AED_ENET, "%s: cannot create a libcurl handle", url);
		goto out;
	}
	curl_easy_setopt(h, CURLOPT_URL, url);
	curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(h, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
	curl_easy_setopt(h, CURLOPT_USERAGENT, "aedcurate/1");
	curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 1L);
	curl_easy_setopt(h, CURLOPT_MAXREDIRS, o->max_redirects);
	curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, o->connect_timeout_s);
	curl_easy_setopt(h, CURLOPT_TIMEOUT, o->timeout_s);
	curl_easy_setopt(h, CURLOPT_LOW_SPEED_LIMIT, 1L);
	curl_easy_setopt(h, CURLOPT_LOW_SPEED_TIME, o->low_speed_s);
	/* A Content-Length above the cap fails before any body byte arrives. */
	curl_easy_setopt(h, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)o->max_bytes);
	curl_easy_setopt(h, CURLOPT_FAILONERROR, 1L);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, sink_write);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, &s);

	cc = curl_easy_perform(h);
	curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
	if (cc == CURLE_HTTP_RETURNED_ERROR || (cc == CURLE_OK && status >= 400)) {
		rc = aed_error(AED_ENET, "%s: HTTP %ld", url, status);
		goto out;
	}
	if (s.over_cap || cc == CURLE_FILESIZE_EXCEEDED) {
		rc = aed_error(AED_ENOMEM, "%s: larger than the size cap of %zu bytes",
			       url, o->max_bytes);
		goto out;
	}
	if (s.oom) {
		rc = aed_error(AED_ENOMEM, "%s: out of memory after %zu bytes", url, s.buf.len);
		goto out;
	}
	if (cc != CURLE_OK) {
		rc = aed_error(AED_ENET, "%s: %s", url,
			       errbuf[0] ? errbuf : curl_easy_strerror(cc));
		goto out;
	}
	/* NUL-terminate; an empty body still gets a buffer. */
	if (aed_buf_append(&s.buf, "", 1) != AED_OK) {
		rc = aed_error(AED_ENOMEM, "%s: out of memory", url);
		goto out;
	}
	*n = s.buf.len - 1;
	*data = s.buf.data;
	s.buf.data = NULL;
	rc = AED_OK;
out:
	aed_buf_release(&s.buf);
	if (h)
		curl_easy_cleanup(h);
	return rc;
}

int aed_source_read(const char *source, const struct aed_source_opts *opts,
		    char **data, size_t *n)
{
	struct aed_source_opts o = { 0 };
	char *path = NULL;
	int rc;

	*data = NULL;
	*n = 0;
	if (opts)
		o = *opts;
	if (o.connect_timeout_s <= 0)
		o.connect_timeout_s = 15;
	if (o.timeout_s <= 0)
		o.timeout_s = 120;
	if (o.low_speed_s <= 0)
		o.low_speed_s = 30;
	if (o.max_bytes == 0)
		o.max_bytes = (size_t)512 << 20;
	if (o.max_redirects <= 0)
		o.max_redirects = 5;

	if (!aed_source_is_url(source)) {
		rc = aed_read_file(source, o.max_bytes, data, n);
		goto out;
	}
	if (strncasecmp(source, "file://", 7) == 0) {
		if ((rc = aed_file_url_path(source, &path)) != AED_OK)
			goto out;
		rc = aed_read_file(path, o.max_bytes, data, n);
		if (rc != AED_OK)
			aed_error_prefix(rc, "%s", source);
		goto out;
	}
	if (strncasecmp(source, "http://", 7) == 0 || strncasecmp(source, "https://", 8) == 0) {
		rc = http_read(source, &o, data, n);
		goto out;
	}
	rc = aed_error(AED_EUSAGE, "%s: unsupported URL scheme (use a path, file://, "
		       "http:// or https://)", source);
out:
	free(path);
	return rc;
}
