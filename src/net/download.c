/* download.c - resumable HTTP downloads on a libcurl multi handle: the fetch
 * stage's --url sources and manifest URLs, one <file>.part each, many at once
 * from one thread. Here: the .part and its resume, the libcurl options, the
 * body and header callbacks, and what an ended transfer means (done, missing,
 * worth a retry, failed). Which URL to try, how often and what to record is
 * the stage's (src/stage/fetch/). */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <curl/curl.h>

#include "aedcurate/error.h"
#include "aedcurate/net.h"
#include "net/internal.h"

/* Header lines: remember Content-Range ("bytes A-B/T" or "bytes * /T") of
 * the last response (a redirect's headers are forgotten at the next one). */
static size_t on_header(char *buf, size_t size, size_t nitems, void *userdata)
{
	struct aed_download *j = userdata;
	size_t n = size * nitems;
	char line[256];
	long long a, t;

	if (n >= 5 && !strncmp(buf, "HTTP/", 5)) {
		j->range_start = j->range_total = -1;
		return n;
	}
	if (n < 14 || strncasecmp(buf, "content-range:", 14))
		return n;
	snprintf(line, sizeof line, "%.*s", (int)(n < sizeof line - 1 ? n : sizeof line - 1), buf);
	if (sscanf(line + 14, " bytes %lld-%*d/%lld", &a, &t) == 2) {
		j->range_start = a;
		j->range_total = t;
	} else if (sscanf(line + 14, " bytes */%lld", &t) == 1) {
		j->range_total = t;
	}
	return n;
}

static size_t on_body(char *ptr, size_t size, size_t nmemb, void *userdata)
{
	struct aed_download *j = userdata;
	size_t n = size * nmemb, off = 0;

	if (!j->checked) {
		long code = 0;
		curl_off_t len = -1;

		j->checked = 1;
		curl_easy_getinfo(j->easy, CURLINFO_RESPONSE_CODE, &code);
		curl_easy_getinfo(j->easy, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &len);
		/* A range from elsewhere than the end of our .part is no use. */
		if (code == 206 && j->range_start != j->resume_from) {
			j->range_bad = 1;
			return 0;
		}
		/* Asked for a range but got the whole file (a server that ignores
		 * Range answers 200): start the .part over with this body. */
		if (j->resume_from > 0 && code != 206) {
			if (ftruncate(j->fd, 0) != 0 || lseek(j->fd, 0, SEEK_SET) != 0) {
				j->io_errno = errno;
				return 0;
			}
			j->have = 0;
		}
		/* The announced size against the cap, now that we know whether it
		 * adds to the .part (206) or replaces it (200). */
		if (len >= 0 && j->have + (int64_t)len > j->max_bytes) {
			j->over_cap = 1;
			return 0;
		}
	}
	if (j->have + (int64_t)n > j->max_bytes) {
		j->over_cap = 1;
		return 0; /* aborts the transfer */
	}
	while (off < n) {
		ssize_t w = write(j->fd, ptr + off, n - off);

		if (w < 0) {
			if (errno == EINTR)
				continue;
			j->io_errno = errno;
			return 0;
		}
		off += (size_t)w;
	}
	j->have += (int64_t)n;
	j->received += (int64_t)n;
	return n;
}

int aed_download_multi_new(long max_connections, CURLM **multi)
{
	int rc;

	*multi = NULL;
	if ((rc = aed_curl_global_init()))
		return rc;
	*multi = curl_multi_init();
	if (!*multi)
		return aed_error(AED_ENET, "cannot create a libcurl multi handle");
	curl_multi_setopt(*multi, CURLMOPT_MAX_TOTAL_CONNECTIONS, max_connections);
	return AED_OK;
}

/* The .part of final_path, opened at its end: what an earlier run left is
 * resumed, unless it already reaches the cap. */
static int open_part(struct aed_download *j, const char *final_path, int64_t max_bytes)
{
	struct stat st;

	if (asprintf(&j->part_path, "%s.part", final_path) < 0)
		return aed_error(AED_ENOMEM, "out of memory");
	j->fd = open(j->part_path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
	if (j->fd < 0)
		return aed_error(AED_EIO, "%s: %s", j->part_path, strerror(errno));
	if (fstat(j->fd, &st) != 0 || lseek(j->fd, 0, SEEK_END) < 0)
		return aed_error(AED_EIO, "%s: %s", j->part_path, strerror(errno));
	j->resume_from = j->have = (int64_t)st.st_size;
	if (j->resume_from >= max_bytes) {
		if (ftruncate(j->fd, 0) != 0 || lseek(j->fd, 0, SEEK_SET) != 0)
			return aed_error(AED_EIO, "%s: %s", j->part_path, strerror(errno));
		j->resume_from = j->have = 0;
	}
	return AED_OK;
}

int aed_download_start(struct aed_download *j, CURLM *multi, const char *url,
		       const char *final_path, const struct aed_http_limits *lim, void *owner)
{
	int rc;

	j->url = url;
	if ((rc = open_part(j, final_path, lim->max_bytes)))
		return rc;
	j->checked = j->over_cap = j->io_errno = j->range_bad = 0;
	j->range_start = j->range_total = -1;
	j->received = 0;
	j->max_bytes = lim->max_bytes;
	j->errbuf[0] = '\0';
	j->easy = curl_easy_init();
	if (!j->easy)
		return aed_error(AED_ENET, "cannot create a libcurl handle");
	curl_easy_setopt(j->easy, CURLOPT_URL, j->url);
	curl_easy_setopt(j->easy, CURLOPT_PRIVATE, owner);
	curl_easy_setopt(j->easy, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(j->easy, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(j->easy, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(j->easy, CURLOPT_ERRORBUFFER, j->errbuf);
	curl_easy_setopt(j->easy, CURLOPT_USERAGENT, "aedcurate/1");
	curl_easy_setopt(j->easy, CURLOPT_FOLLOWLOCATION, 1L);
	curl_easy_setopt(j->easy, CURLOPT_MAXREDIRS, 5L);
	curl_easy_setopt(j->easy, CURLOPT_FAILONERROR, 1L);
	curl_easy_setopt(j->easy, CURLOPT_CONNECTTIMEOUT_MS, (long)(lim->connect_timeout_s * 1000));
	curl_easy_setopt(j->easy, CURLOPT_TIMEOUT_MS, (long)(lim->timeout_s * 1000));
	curl_easy_setopt(j->easy, CURLOPT_LOW_SPEED_LIMIT, 1L);
	curl_easy_setopt(j->easy, CURLOPT_LOW_SPEED_TIME, (long)(lim->stall_s + 0.999));
	/* libcurl's own cap sees only the announced length, which for a 206 adds
	 * to the .part and for a 200 replaces it: the whole cap here, the exact
	 * check in on_body(). */
	curl_easy_setopt(j->easy, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)lim->max_bytes);
	curl_easy_setopt(j->easy, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(j->easy, CURLOPT_WRITEDATA, j);
	curl_easy_setopt(j->easy, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(j->easy, CURLOPT_HEADERDATA, j);
	/* Range by hand, not CURLOPT_RESUME_FROM: with that, libcurl fails a 200
	 * answer ("cannot resume") before any body arrives, and a server that
	 * ignores Range would fail the item on every run while the .part stays.
	 * on_body() starts the .part over on a 200 instead. */
	if (j->resume_from > 0) {
		char range[32];

		snprintf(range, sizeof range, "%" PRId64 "-", j->resume_from);
		curl_easy_setopt(j->easy, CURLOPT_RANGE, range);
	}
	if (curl_multi_add_handle(multi, j->easy) != CURLM_OK)
		return aed_error(AED_ENET, "cannot add a transfer");
	return AED_OK;
}

int aed_download_poll(CURLM *multi, int (*done)(void *ctx, void *owner, CURLcode cc),
		      void *ctx)
{
	CURLMsg *m;
	int left, still, rc = AED_OK;

	curl_multi_perform(multi, &still);
	while (!rc && (m = curl_multi_info_read(multi, &left))) {
		void *owner = NULL;

		if (m->msg != CURLMSG_DONE)
			continue;
		curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&owner);
		rc = done(ctx, owner, m->data.result);
	}
	return rc;
}

static int transient_curl(CURLcode cc)
{
	switch (cc) {
	case CURLE_OPERATION_TIMEDOUT:
	case CURLE_COULDNT_CONNECT:
	case CURLE_COULDNT_RESOLVE_HOST:
	case CURLE_PARTIAL_FILE:
	case CURLE_RECV_ERROR:
	case CURLE_SEND_ERROR:
	case CURLE_GOT_NOTHING:
	case CURLE_HTTP2:
	case CURLE_HTTP2_STREAM:
	case CURLE_SSL_CONNECT_ERROR:
	case CURLE_WEIRD_SERVER_REPLY:
		return 1;
	default:
		return 0;
	}
}

/* A complete .part: to disk, then under its final name. */
static enum aed_download_status commit(struct aed_download *j, const char *final_path,
				       int dir_fd, char *msg, size_t cap)
{
	if (fsync(j->fd) != 0 || close(j->fd) != 0) {
		j->fd = -1;
		snprintf(msg, cap, "%s: %s", j->part_path, strerror(errno));
		return AED_DL_FAILED;
	}
	j->fd = -1;
	if (rename(j->part_path, final_path) != 0) {
		snprintf(msg, cap, "%s: %s", final_path, strerror(errno));
		return AED_DL_FAILED;
	}
	fsync(dir_fd); /* the rename survives a power cut before the record */
	return AED_DL_DONE;
}

/* An HTTP error status or a libcurl error, the .part closed. */
static enum aed_download_status failure(struct aed_download *j, CURLcode cc, long code,
					char *msg, size_t cap)
{
	if (cc == CURLE_HTTP_RETURNED_ERROR || (cc == CURLE_OK && code >= 300)) {
		snprintf(msg, cap, "%s: HTTP %ld", j->url, code);
		if (code == 404 || code == 410)
			return AED_DL_MISSING;
		if (code == 416 && j->resume_from > 0) {
			/* The .part does not fit what the server has: start over now. */
			unlink(j->part_path);
			return AED_DL_MISFIT;
		}
		if (code >= 500 || code == 408 || code == 429)
			return AED_DL_TRANSIENT;
		return AED_DL_FAILED;
	}
	snprintf(msg, cap, "%s: %s", j->url, j->errbuf[0] ? j->errbuf : curl_easy_strerror(cc));
	return transient_curl(cc) ? AED_DL_TRANSIENT : AED_DL_FAILED;
}

enum aed_download_status aed_download_finish(struct aed_download *j, CURLM *multi, CURLcode cc,
					     const char *final_path, int dir_fd,
					     long *http_code, char *msg, size_t cap)
{
	long code = 0;

	curl_easy_getinfo(j->easy, CURLINFO_RESPONSE_CODE, &code);
	curl_multi_remove_handle(multi, j->easy);
	curl_easy_cleanup(j->easy);
	j->easy = NULL;
	*http_code = code;
	msg[0] = '\0';

	if (cc == CURLE_OK && code == 206 && j->range_total >= 0 && j->have != j->range_total) {
		snprintf(msg, cap, "%s: got %" PRId64 " bytes of %" PRId64, j->url,
			 j->have, j->range_total);
		unlink(j->part_path);
		close(j->fd);
		j->fd = -1;
		return AED_DL_FAILED;
	}
	/* 416 for "bytes=N-" where N is the whole size: the .part is complete. */
	if ((cc == CURLE_OK && (code == 200 || code == 206)) ||
	    (code == 416 && j->resume_from > 0 && j->range_total == j->resume_from))
		return commit(j, final_path, dir_fd, msg, cap);
	{
		struct stat sb;

		/* An empty .part helps no later resume; leave no litter. */
		if (fstat(j->fd, &sb) == 0 && sb.st_size == 0)
			unlink(j->part_path);
	}
	close(j->fd);
	j->fd = -1;
	if (j->over_cap || cc == CURLE_FILESIZE_EXCEEDED) {
		unlink(j->part_path);
		snprintf(msg, cap, "%s: larger than the size cap of %" PRId64 " bytes",
			 j->url, j->max_bytes);
		return AED_DL_FAILED;
	}
	if (j->range_bad) {
		/* The server answered another range than asked: start over now. */
		unlink(j->part_path);
		snprintf(msg, cap, "%s: answered a range from byte %" PRId64 " for one "
			 "from byte %" PRId64, j->url, j->range_start, j->resume_from);
		return AED_DL_RESTART;
	}
	if (j->io_errno) {
		snprintf(msg, cap, "%s: %s", j->part_path, strerror(j->io_errno));
		return AED_DL_FAILED;
	}
	return failure(j, cc, code, msg, cap);
}

void aed_download_release(struct aed_download *j, CURLM *multi)
{
	if (j->easy) {
		curl_multi_remove_handle(multi, j->easy);
		curl_easy_cleanup(j->easy);
		j->easy = NULL;
	}
	if (j->fd >= 0)
		close(j->fd);
	j->fd = -1;
	free(j->part_path);
	j->part_path = NULL;
}
