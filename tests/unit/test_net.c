/* test_net.c - aed_source_read() on plain paths, file:// URLs and HTTP against
 * tests/lib/httpd.py started here on 127.0.0.1 (errors, timeouts, caps). */
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "aedcurate/error.h"
#include "aedcurate/net.h"
#include "aedcurate/util.h"

static char tmpdir[256];
static pid_t httpd_pid = -1;
static int port;
static char payload[20000];

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void write_file(const char *name, const void *data, size_t n)
{
	char path[512];
	FILE *f;

	snprintf(path, sizeof path, "%s/%s", tmpdir, name);
	f = fopen(path, "wb");
	assert_non_null(f);
	assert_int_equal(fwrite(data, 1, n, f), n);
	fclose(f);
}

static int setup(void **state)
{
	const char *root = getenv("AEDCURATE_ROOT");
	char script[512], portfile[512];
	int i;

	(void)state;
	snprintf(tmpdir, sizeof tmpdir, "%s/aednet.XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
	if (!mkdtemp(tmpdir))
		return -1;
	for (i = 0; i < (int)sizeof payload; i++)
		payload[i] = (char)('a' + (i * 7 + i / 13) % 26);
	write_file("data.bin", payload, sizeof payload);
	write_file("a b%.txt", "spaced\n", 7);

	snprintf(script, sizeof script, "%s/tests/lib/httpd.py", root ? root : ".");
	snprintf(portfile, sizeof portfile, "%s/port", tmpdir);
	if (access(script, R_OK) != 0) {
		fprintf(stderr, "%s: %s (run from the repository root or set AEDCURATE_ROOT)\n",
			script, strerror(errno));
		return -1;
	}
	httpd_pid = fork();
	if (httpd_pid < 0)
		return -1;
	if (httpd_pid == 0) {
		char log[512];

		snprintf(log, sizeof log, "%s/httpd.log", tmpdir);
		if (!freopen(log, "w", stderr))
			_exit(127);
		execl("/usr/bin/python3", "python3", script, "--root", tmpdir, "--port-file",
		      portfile, "--max-seconds", "120", (char *)NULL);
		_exit(127);
	}
	for (i = 0; i < 200; i++) {
		FILE *f = fopen(portfile, "r");

		if (f) {
			int ok = fscanf(f, "%d", &port) == 1;

			fclose(f);
			if (ok && port > 0)
				return 0;
		}
		usleep(50000);
	}
	fprintf(stderr, "httpd.py did not start\n");
	return -1;
}

static int teardown(void **state)
{
	char cmd[600];

	(void)state;
	if (httpd_pid > 0) {
		kill(httpd_pid, SIGTERM);
		waitpid(httpd_pid, NULL, 0);
	}
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
	if (system(cmd) != 0)
		fprintf(stderr, "could not remove %s\n", tmpdir);
	return 0;
}

static int get(const char *path, const struct aed_source_opts *o, char **data, size_t *n)
{
	char url[512];

	snprintf(url, sizeof url, "http://127.0.0.1:%d%s", port, path);
	return aed_source_read(url, o, data, n);
}

static void test_is_url(void **state)
{
	(void)state;
	assert_true(aed_source_is_url("http://x/y"));
	assert_true(aed_source_is_url("file:///tmp/x"));
	assert_true(aed_source_is_url("s3+x.y-z://b"));
	assert_false(aed_source_is_url("/tmp/x"));
	assert_false(aed_source_is_url("data/http://x"));
	assert_false(aed_source_is_url("C:\\x"));
	assert_false(aed_source_is_url(""));
	assert_false(aed_source_is_url("://x"));
}

static void test_http_ok(void **state)
{
	char *data = NULL;
	size_t n = 0;

	(void)state;
	assert_int_equal(get("/files/data.bin", NULL, &data, &n), AED_OK);
	assert_int_equal(n, sizeof payload);
	assert_memory_equal(data, payload, n);
	assert_int_equal(data[n], '\0');
	free(data);
}

static void test_http_404(void **state)
{
	char *data = NULL;
	size_t n = 0;

	(void)state;
	assert_int_equal(get("/status/404", NULL, &data, &n), AED_ENET);
	assert_null(data);
	assert_non_null(strstr(aed_last_error(), "HTTP 404"));
	assert_non_null(strstr(aed_last_error(), "/status/404"));
	assert_int_equal(get("/files/nope.bin", NULL, &data, &n), AED_ENET);
	assert_non_null(strstr(aed_last_error(), "404"));
	assert_int_equal(get("/status/503", NULL, &data, &n), AED_ENET);
	assert_non_null(strstr(aed_last_error(), "HTTP 503"));
}

static void test_http_hang_times_out(void **state)
{
	struct aed_source_opts o = { .timeout_s = 2 };
	char *data = NULL;
	size_t n = 0;
	double t0 = now_s(), dt;

	(void)state;
	assert_int_equal(get("/hang", &o, &data, &n), AED_ENET);
	dt = now_s() - t0;
	assert_true(dt >= 1.5 && dt < 5.0);
	assert_non_null(strstr(aed_last_error(), "/hang"));
	assert_non_null(strstr(aed_last_error(), "imed out")); /* curl: "Operation timed out" */
}

static void test_http_stall_low_speed(void **state)
{
	struct aed_source_opts o = { .low_speed_s = 1, .timeout_s = 30 };
	char *data = NULL;
	size_t n = 0;
	double t0 = now_s(), dt;

	(void)state;
	assert_int_equal(get("/stall", &o, &data, &n), AED_ENET);
	dt = now_s() - t0;
	assert_true(dt < 5.0);
	assert_non_null(strstr(aed_last_error(), "/stall"));
}

static void test_http_truncated(void **state)
{
	char *data = NULL;
	size_t n = 0;

	(void)state;
	assert_int_equal(get("/truncate/data.bin", NULL, &data, &n), AED_ENET);
	assert_null(data);
	assert_non_null(strstr(aed_last_error(), "/truncate/data.bin"));
	assert_int_equal(get("/badlength/data.bin", NULL, &data, &n), AED_ENET);
	assert_null(data);
	assert_non_null(strstr(aed_last_error(), "/badlength/data.bin"));
}

static void test_http_redirects(void **state)
{
	struct aed_source_opts o = { .max_redirects = 3 };
	char *data = NULL;
	size_t n = 0;

	(void)state;
	assert_int_equal(get("/redirect/3/data.bin", &o, &data, &n), AED_OK);
	assert_int_equal(n, sizeof payload);
	assert_memory_equal(data, payload, n);
	free(data);
	data = NULL;
	assert_int_equal(get("/redirect/4/data.bin", &o, &data, &n), AED_ENET);
	assert_null(data);
	assert_non_null(strstr(aed_last_error(), "edirect"));
	/* the default cap is 5 */
	assert_int_equal(get("/redirect/6/data.bin", NULL, &data, &n), AED_ENET);
	assert_non_null(strstr(aed_last_error(), "edirect"));
}

static void test_http_size_cap(void **state)
{
	struct aed_source_opts o = { .max_bytes = 1 << 20 };
	char *data = NULL;
	size_t n = 0;
	double t0;

	(void)state;
	/* announced by Content-Length: refused before the body */
	t0 = now_s();
	assert_int_equal(get("/big/200", &o, &data, &n), AED_ENOMEM);
	assert_true(now_s() - t0 < 5.0);
	assert_null(data);
	assert_non_null(strstr(aed_last_error(), "size cap"));
	/* no Content-Length: stopped once the cap is passed, not at the end */
	t0 = now_s();
	assert_int_equal(get("/big/200?nolength", &o, &data, &n), AED_ENOMEM);
	assert_true(now_s() - t0 < 5.0);
	assert_null(data);
	assert_non_null(strstr(aed_last_error(), "size cap"));
	/* exactly at the cap is fine */
	assert_int_equal(get("/big/1?nolength", &o, &data, &n), AED_OK);
	assert_int_equal(n, 1 << 20);
	free(data);
	data = NULL;
	assert_int_equal(get("/big/1", &o, &data, &n), AED_OK);
	assert_int_equal(n, 1 << 20);
	free(data);
}

static void test_local(void **state)
{
	char path[600], url[700];
	char *data = NULL;
	size_t n = 0;

	(void)state;
	snprintf(path, sizeof path, "%s/data.bin", tmpdir);
	assert_int_equal(aed_source_read(path, NULL, &data, &n), AED_OK);
	assert_int_equal(n, sizeof payload);
	assert_memory_equal(data, payload, n);
	free(data);
	data = NULL;

	snprintf(url, sizeof url, "file://%s/a%%20b%%25.txt", tmpdir);
	assert_int_equal(aed_source_read(url, NULL, &data, &n), AED_OK);
	assert_int_equal(n, 7);
	assert_string_equal(data, "spaced\n");
	free(data);
	data = NULL;

	snprintf(url, sizeof url, "file://localhost%s/data.bin", tmpdir);
	assert_int_equal(aed_source_read(url, NULL, &data, &n), AED_OK);
	assert_int_equal(n, sizeof payload);
	free(data);
	data = NULL;

	/* the local size cap applies too */
	{
		struct aed_source_opts o = { .max_bytes = 100 };

		assert_int_not_equal(aed_source_read(path, &o, &data, &n), AED_OK);
		assert_null(data);
	}
}

static void test_local_missing(void **state)
{
	char path[600], url[700];
	char *data = NULL;
	size_t n = 0;

	(void)state;
	snprintf(path, sizeof path, "%s/missing-file.csv", tmpdir);
	assert_int_not_equal(aed_source_read(path, NULL, &data, &n), AED_OK);
	assert_null(data);
	assert_non_null(strstr(aed_last_error(), "missing-file.csv"));

	snprintf(url, sizeof url, "file://%s/missing%%20two.csv", tmpdir);
	assert_int_not_equal(aed_source_read(url, NULL, &data, &n), AED_OK);
	assert_non_null(strstr(aed_last_error(), "missing two.csv"));

	assert_int_equal(aed_source_read("file://otherhost/x", NULL, &data, &n), AED_EUSAGE);
	assert_int_equal(aed_source_read("ftp://127.0.0.1/x", NULL, &data, &n), AED_EUSAGE);
	assert_non_null(strstr(aed_last_error(), "ftp://127.0.0.1/x"));
}

static void test_connection_refused(void **state)
{
	char *data = NULL;
	size_t n = 0;

	(void)state;
	/* port 1 on loopback: nothing listens there */
	assert_int_equal(aed_source_read("http://127.0.0.1:1/x", NULL, &data, &n), AED_ENET);
	assert_non_null(strstr(aed_last_error(), "http://127.0.0.1:1/x"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_is_url),
		cmocka_unit_test(test_http_ok),
		cmocka_unit_test(test_http_404),
		cmocka_unit_test(test_http_hang_times_out),
		cmocka_unit_test(test_http_stall_low_speed),
		cmocka_unit_test(test_http_truncated),
		cmocka_unit_test(test_http_redirects),
		cmocka_unit_test(test_http_size_cap),
		cmocka_unit_test(test_local),
		cmocka_unit_test(test_local_missing),
		cmocka_unit_test(test_connection_refused),
	};

	return cmocka_run_group_tests_name("net", tests, setup, teardown);
}
