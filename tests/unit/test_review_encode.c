/* test_review_encode.c - the review page's media writers: an Opus-in-Ogg clip
 * decoded back by FFmpeg (codec, length, level and pitch kept) and a PNG
 * whose header names the right size; refusals of bad sample rates and empty
 * images, and no file left behind by a failure. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "aedcurate/audio.h"
#include "aedcurate/error.h"
#include "aedcurate/review.h"

#define RATE 16000

static char dir[] = "/tmp/aed-encode-XXXXXX";

static int setup(void **state)
{
	(void)state;
	return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state)
{
	char cmd[128];

	(void)state;
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
	return system(cmd) == 0 ? 0 : -1;
}

/* Power of x at frequency f (Goertzel), per sample. */
static double power_at(const float *x, size_t n, double f)
{
	double w = 2 * M_PI * f / RATE, c = 2 * cos(w), s1 = 0, s2 = 0;

	for (size_t i = 0; i < n; i++) {
		double s0 = x[i] + c * s1 - s2;

		s2 = s1;
		s1 = s0;
	}
	return (s1 * s1 + s2 * s2 - c * s1 * s2) / ((double)n * n);
}

static void test_opus_roundtrip(void **state)
{
	const size_t n = 3 * RATE + 123; /* not a whole number of Opus frames */
	float *x = malloc(n * sizeof *x), *y = NULL;
	char path[256];
	size_t m = 0, i;
	double rx = 0, ry = 0;
	struct aed_media_info info;

	(void)state;
	for (i = 0; i < n; i++)
		x[i] = 0.5f * (float)sin(2 * M_PI * 1000.0 * (double)i / RATE);
	snprintf(path, sizeof path, "%s/clip.ogg", dir);
	assert_int_equal(aed_encode_opus_ogg(path, x, n, RATE, 32000), AED_OK);
	assert_int_equal(aed_decode_range_info(path, 0, 0, RATE, &y, &m, &info), AED_OK);
	assert_string_equal(info.codec, "opus");
	assert_int_equal(info.channels, 1);
	/* The Ogg end granule trims the padded last frame: same length +- 1 frame. */
	if (m + 320 < n || m > n + 320)
		fail_msg("decoded %zu samples, encoded %zu", m, n);
	for (i = RATE / 2; i < n - RATE / 2 && i < m; i++) {
		rx += (double)x[i] * x[i];
		ry += (double)y[i] * y[i];
	}
	/* Level within 1 dB, and the tone is still at 1 kHz. */
	assert_true(fabs(10 * log10(ry / rx)) < 1.0);
	assert_true(power_at(y + RATE / 2, (size_t)RATE, 1000.0) >
		    100 * power_at(y + RATE / 2, (size_t)RATE, 2000.0));
	assert_int_equal(access(path, F_OK), 0);
	snprintf(path, sizeof path, "%s/clip.ogg.tmp", dir);
	assert_int_not_equal(access(path, F_OK), 0); /* renamed into place */
	free(x);
	free(y);
}

static void test_opus_refusals(void **state)
{
	float x[16] = { 0 };
	char path[256];

	(void)state;
	snprintf(path, sizeof path, "%s/bad.ogg", dir);
	assert_int_not_equal(aed_encode_opus_ogg(path, x, 16, 44100, 32000), AED_OK);
	assert_int_not_equal(access(path, F_OK), 0);
	snprintf(path, sizeof path, "%s/no/such/dir/x.ogg", dir);
	assert_int_equal(aed_encode_opus_ogg(path, x, 16, RATE, 32000), AED_EMEDIA);
	assert_non_null(strstr(aed_last_error(), "x.ogg"));
}

static void test_png(void **state)
{
	uint8_t rgb[5 * 3 * 3];
	unsigned char head[24];
	char path[256];
	FILE *f;

	(void)state;
	for (size_t i = 0; i < sizeof rgb; i++)
		rgb[i] = (uint8_t)(i * 7);
	snprintf(path, sizeof path, "%s/img.png", dir);
	assert_int_equal(aed_encode_png_rgb(path, rgb, 5, 3), AED_OK);
	f = fopen(path, "rb");
	assert_non_null(f);
	assert_int_equal(fread(head, 1, sizeof head, f), sizeof head);
	fclose(f);
	assert_memory_equal(head, "\x89PNG\r\n\x1a\n", 8);
	assert_memory_equal(head + 12, "IHDR", 4);
	assert_int_equal((head[16] << 24) | (head[17] << 16) | (head[18] << 8) | head[19], 5);
	assert_int_equal((head[20] << 24) | (head[21] << 16) | (head[22] << 8) | head[23], 3);
	snprintf(path, sizeof path, "%s/empty.png", dir);
	assert_int_not_equal(aed_encode_png_rgb(path, rgb, 0, 3), AED_OK);
	assert_int_not_equal(access(path, F_OK), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_opus_roundtrip),
		cmocka_unit_test(test_opus_refusals),
		cmocka_unit_test(test_png),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
