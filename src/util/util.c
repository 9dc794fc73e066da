/* util.c - messages, progress meter, time, hashing (splitmix64, FNV-1a,
 * SHA-256), whole-file I/O, buffers. */
#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "aedcurate/error.h"
#include "aedcurate/util.h"

static int quiet;

void aed_set_quiet(int q) { quiet = q; }
int aed_is_quiet(void) { return quiet; }

void aed_info(const char *fmt, ...)
{
	va_list ap;
	if (quiet)
		return;
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

void aed_warn(const char *fmt, ...)
{
	va_list ap;
	fputs("warning: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

/* --- progress ------------------------------------------------------------- */

struct aed_progress {
	pthread_mutex_t lock;
	char label[64];
	int64_t total, done;
	double t0, last_draw;
	int tty;
};

struct aed_progress *aed_progress_new(const char *label, int64_t total)
{
	struct aed_progress *p = calloc(1, sizeof *p);
	if (!p)
		return NULL;
	pthread_mutex_init(&p->lock, NULL);
	snprintf(p->label, sizeof p->label, "%s", label);
	p->total = total;
	p->t0 = aed_now();
	p->tty = !quiet && isatty(STDERR_FILENO) && !getenv("AEDCURATE_QUIET_PROGRESS");
	return p;
}

static void progress_draw(struct aed_progress *p, int final)
{
	double el = aed_now() - p->t0;
	double rate = el > 0 ? p->done / el : 0;
	char eta[32] = "";
	if (!final && rate > 0 && p->total > p->done)
		snprintf(eta, sizeof eta, " ETA %.0fs", (p->total - p->done) / rate);
	if (p->total > 0)
		fprintf(stderr, "\r%s %lld/%lld (%d%%) %.0f/s%s\033[K%s", p->label,
			(long long)p->done, (long long)p->total,
			(int)(100.0 * p->done / p->total), rate, eta, final ? "\n" : "");
	else
		fprintf(stderr, "\r%s %lld %.0f/s\033[K%s", p->label, (long long)p->done,
			rate, final ? "\n" : "");
	fflush(stderr);
}

void aed_progress_add(struct aed_progress *p, int64_t n)
{
	if (!p)
		return;
	pthread_mutex_lock(&p->lock);
	p->done += n;
	if (p->tty) {
		double now = aed_now();
		if (now - p->last_draw >= 0.1) {
			p->last_draw = now;
			progress_draw(p, 0);
		}
	}
	pthread_mutex_unlock(&p->lock);
}

void aed_progress_free(struct aed_progress **pp)
{
	struct aed_progress *p = *pp;
	if (!p)
		return;
	if (p->tty && p->done > 0)
		progress_draw(p, 1);
	pthread_mutex_destroy(&p->lock);
	free(p);
	*pp = NULL;
}

/* --- time ----------------------------------------------------------------- */

double aed_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec * 1e-9;
}

void aed_utc_iso8601(char buf[32])
{
	time_t t = time(NULL);
	struct tm tm;
	gmtime_r(&t, &tm);
	strftime(buf, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* --- hashing ---------------------------------------------------------------- */

uint64_t aed_splitmix64(uint64_t z)
{
	z += AED_SPLITMIX64_STEP;
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

uint64_t aed_splitmix64_next(uint64_t *state)
{
	uint64_t z = aed_splitmix64(*state);
	*state += AED_SPLITMIX64_STEP;
	return z;
}

uint64_t aed_fnv1a64(uint64_t h, const void *data, size_t n)
{
	const unsigned char *p = data;
	for (size_t i = 0; i < n; i++)
		h = (h ^ p[i]) * 1099511628211ull;
	return h;
}

uint64_t aed_fnv1a64_str(const char *s)
{
	return aed_fnv1a64(AED_FNV1A64_BASIS, s, strlen(s));
}

uint32_t aed_fnv1a32_str(const char *s)
{
	uint32_t h = 2166136261u;
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		h ^= *p;
		h *= 16777619u;
	}
	return h;
}

static void hex_digest(const unsigned char *d, unsigned n, char *hex)
{
	static const char digits[] = "0123456789abcdef";
	for (unsigned i = 0; i < n; i++) {
		hex[2 * i] = digits[d[i] >> 4];
		hex[2 * i + 1] = digits[d[i] & 15];
	}
	hex[2 * n] = 0;
}

void aed_sha256_hex(const void *data, size_t n, char hex[65])
{
	unsigned char d[EVP_MAX_MD_SIZE];
	unsigned len = 0;
	EVP_Digest(data, n, d, &len, EVP_sha256(), NULL);
	hex_digest(d, len, hex);
}

int aed_sha256_file(const char *path, char hex[65])
{
	unsigned char d[EVP_MAX_MD_SIZE], buf[1 << 16];
	unsigned len = 0;
	int rc = AED_OK;
	ssize_t r;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return aed_error(AED_EIO, "%s: %s", path, strerror(errno));
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	if (!ctx) {
		rc = aed_error(AED_ENOMEM, "sha256: out of memory");
		goto out;
	}
	EVP_DigestInit_ex(ctx, EVP_sha256(), NULL);
	while ((r = read(fd, buf, sizeof buf)) > 0)
		EVP_DigestUpdate(ctx, buf, (size_t)r);
	if (r < 0) {
		rc = aed_error(AED_EIO, "%s: %s", path, strerror(errno));
		goto out;
	}
	EVP_DigestFinal_ex(ctx, d, &len);
	hex_digest(d, len, hex);
out:
	EVP_MD_CTX_free(ctx);
	close(fd);
	return rc;
}

/* --- files ------------------------------------------------------------------ */

int aed_read_file(const char *path, size_t max_bytes, char **data, size_t *n)
{
	int rc = AED_OK;
	char *buf = NULL;
	size_t len = 0, cap = 0;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	*data = NULL;
	*n = 0;
	if (fd < 0)
		return aed_error(errno == ENOENT ? AED_ENOTFOUND : AED_EIO, "%s: %s", path,
				 strerror(errno));
	struct stat st;
	if (fstat(fd, &st) == 0 && S_ISDIR(st.st_mode)) {
		rc = aed_error(AED_EIO, "%s: is a directory", path);
		goto out;
	}
	for (;;) {
		if (len + 1 >= cap) {
			size_t ncap = cap ? cap * 2 : 1 << 16;
			char *nb = realloc(buf, ncap);
			if (!nb) {
				rc = aed_error(AED_ENOMEM, "%s: out of memory", path);
				goto out;
			}
			buf = nb;
			cap = ncap;
		}
		ssize_t r = read(fd, buf + len, cap - len - 1);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			rc = aed_error(AED_EIO, "%s: %s", path, strerror(errno));
			goto out;
		}
		if (r == 0)
			break;
		len += (size_t)r;
		if (max_bytes && len > max_bytes) {
			rc = aed_error(AED_ENOMEM, "%s: larger than the limit of %zu bytes", path,
				       max_bytes);
			goto out;
		}
	}
	buf[len] = 0;
	*data = buf;
	*n = len;
	buf = NULL;
out:
	free(buf);
	close(fd);
	return rc;
}

int aed_write_file_atomic(const char *path, const void *data, size_t n)
{
	char tmp[4096];
	int rc = AED_OK;
	snprintf(tmp, sizeof tmp, "%s.tmp.%d", path, (int)getpid());
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		return aed_error(AED_EIO, "%s: %s", tmp, strerror(errno));
	const char *p = data;
	while (n > 0) {
		ssize_t w = write(fd, p, n);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			rc = aed_error(AED_EIO, "%s: %s", tmp, strerror(errno));
			goto out;
		}
		p += w;
		n -= (size_t)w;
	}
	if (fsync(fd) != 0) {
		rc = aed_error(AED_EIO, "%s: fsync: %s", tmp, strerror(errno));
		goto out;
	}
out:
	close(fd);
	if (rc == AED_OK && rename(tmp, path) != 0)
		rc = aed_error(AED_EIO, "%s: rename: %s", path, strerror(errno));
	if (rc != AED_OK)
		unlink(tmp);
	return rc;
}

int aed_mkdir_p(const char *path)
{
	char buf[4096];
	size_t n = strlen(path);
	if (n == 0 || n >= sizeof buf)
		return aed_error(AED_EIO, "bad directory name '%s'", path);
	memcpy(buf, path, n + 1);
	for (char *p = buf + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = 0;
		if (mkdir(buf, 0755) != 0 && errno != EEXIST)
			return aed_error(AED_EIO, "%s: %s", buf, strerror(errno));
		*p = '/';
	}
	if (mkdir(buf, 0755) != 0 && errno != EEXIST)
		return aed_error(AED_EIO, "%s: %s", buf, strerror(errno));
	return AED_OK;
}

/* --- buffers ---------------------------------------------------------------- */

int aed_buf_append(struct aed_buf *b, const void *p, size_t n)
{
	if (b->len + n + 1 > b->cap) {
		size_t ncap = b->cap ? b->cap : 256;
		while (ncap < b->len + n + 1)
			ncap *= 2;
		char *nd = realloc(b->data, ncap);
		if (!nd)
			return aed_error(AED_ENOMEM, "out of memory");
		b->data = nd;
		b->cap = ncap;
	}
	if (n)
		memcpy(b->data + b->len, p, n);
	b->len += n;
	b->data[b->len] = 0;
	return AED_OK;
}

int aed_buf_printf(struct aed_buf *b, const char *fmt, ...)
{
	va_list ap;
	char small[512];
	va_start(ap, fmt);
	int k = vsnprintf(small, sizeof small, fmt, ap);
	va_end(ap);
	if (k < 0)
		return aed_error(AED_EINTERNAL, "bad format");
	if ((size_t)k < sizeof small)
		return aed_buf_append(b, small, (size_t)k);
	char *big = malloc((size_t)k + 1);
	if (!big)
		return aed_error(AED_ENOMEM, "out of memory");
	va_start(ap, fmt);
	vsnprintf(big, (size_t)k + 1, fmt, ap);
	va_end(ap);
	int rc = aed_buf_append(b, big, (size_t)k);
	free(big);
	return rc;
}

void aed_buf_release(struct aed_buf *b)
{
	free(b->data);
	b->data = NULL;
	b->len = b->cap = 0;
}

int aed_buf_json_str(struct aed_buf *b, const char *p, size_t n)
{
	static const char hex[] = "0123456789abcdef";
	int rc = aed_buf_append(b, "\"", 1);

	for (size_t i = 0; i < n && !rc; i++) {
		unsigned char ch = (unsigned char)p[i];
		char esc[7] = { '\\', 0 };

		if (ch == '"' || ch == '\\') {
			esc[1] = (char)ch;
			rc = aed_buf_append(b, esc, 2);
		} else if (ch < 0x20) {
			memcpy(esc, "\\u00", 4);
			esc[4] = hex[ch >> 4];
			esc[5] = hex[ch & 15];
			rc = aed_buf_append(b, esc, 6);
		} else {
			rc = aed_buf_append(b, &p[i], 1);
		}
	}
	if (!rc)
		rc = aed_buf_append(b, "\"", 1);
	return rc;
}

int aed_ncpu(void)
{
	long n = sysconf(_SC_NPROCESSORS_ONLN);
	return n > 0 ? (int)n : 1;
}

float aed_select_f(float *v, size_t n, size_t k)
{
	size_t lo = 0, hi = n - 1;

	/* Hoare's quickselect with the middle element as pivot: deterministic,
	 * linear on average. After a pass, v[lo..b] <= pivot <= v[a..hi] and
	 * whatever lies between equals the pivot. */
	while (lo < hi) {
		float piv = v[lo + (hi - lo) / 2], t;
		size_t a = lo, b = hi;
		while (a <= b) {
			while (v[a] < piv)
				a++;
			while (v[b] > piv)
				b--;
			if (a <= b) {
				t = v[a], v[a] = v[b], v[b] = t;
				a++;
				if (b == 0)
					break;
				b--;
			}
		}
		if (k <= b && b < hi)
			hi = b;
		else if (k >= a)
			lo = a;
		else
			break;
	}
	return v[k];
}
