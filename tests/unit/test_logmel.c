/* test_logmel.c - the AudioSet log-mel front end: frame counts, the mel
 * filterbank against an independent double-precision DFT, the log offsets of
 * both presets, patch counts and contents, and identical results on threads. */
#include <math.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "aedcurate/audio.h"
#include "aedcurate/error.h"

static float *noise(size_t n, unsigned seed)
{
	float *x = malloc(n * sizeof *x);
	uint32_t s = seed * 2654435761u + 1;
	for (size_t i = 0; i < n; i++) {
		s = s * 1664525u + 1013904223u;
		x[i] = ((float)(s >> 8) / (float)(1u << 24) - 0.5f) * 0.8f;
	}
	return x;
}

static double hz_to_mel(double hz) { return 1127.0 * log(1.0 + hz / 700.0); }

/* Independent reference for one frame: direct DFT in double, dense mel matrix. */
static void ref_frame(const float *x, double offset, double *out)
{
	double mag[257];
	for (int k = 0; k < 257; k++) {
		double re = 0, im = 0;
		for (int i = 0; i < 400; i++) {
			double w = 0.5 - 0.5 * cos(2 * M_PI * i / 400.0);
			re += x[i] * w * cos(2 * M_PI * k * i / 512.0);
			im -= x[i] * w * sin(2 * M_PI * k * i / 512.0);
		}
		mag[k] = sqrt(re * re + im * im);
	}
	double lo = hz_to_mel(125), hi = hz_to_mel(7500);
	for (int b = 0; b < 64; b++) {
		double e0 = lo + (hi - lo) * b / 65, e1 = lo + (hi - lo) * (b + 1) / 65,
		       e2 = lo + (hi - lo) * (b + 2) / 65, acc = 0;
		for (int k = 1; k < 257; k++) {
			double m = hz_to_mel(8000.0 * k / 256);
			double w = fmax(0, fmin((m - e0) / (e1 - e0), (e2 - m) / (e2 - e1)));
			acc += w * mag[k];
		}
		out[b] = log(acc + offset);
	}
}

static void test_frame_counts(void **state)
{
	(void)state;
	float *x = noise(160000, 1), *y = (float *)1;
	size_t frames = 7;
	assert_int_equal(aed_logmel(x, 399, AED_PRESET_YAMNET, &y, &frames), AED_OK);
	assert_null(y);
	assert_int_equal(frames, 0);
	assert_int_equal(aed_logmel(x, 400, AED_PRESET_YAMNET, &y, &frames), AED_OK);
	assert_int_equal(frames, 1);
	free(y);
	assert_int_equal(aed_logmel(x, 559, AED_PRESET_YAMNET, &y, &frames), AED_OK);
	assert_int_equal(frames, 1);
	free(y);
	assert_int_equal(aed_logmel(x, 560, AED_PRESET_YAMNET, &y, &frames), AED_OK);
	assert_int_equal(frames, 2);
	free(y);
	assert_int_equal(aed_logmel(x, 160000, AED_PRESET_VGGISH, &y, &frames), AED_OK);
	assert_int_equal(frames, 998); /* a 10 s clip */
	free(y);
	free(x);
}

static void test_against_direct_dft(void **state)
{
	(void)state;
	float *x = noise(16000, 2), *y;
	size_t frames;
	double ref[64];
	for (int p = 0; p < 2; p++) {
		enum aed_preset preset = p ? AED_PRESET_VGGISH : AED_PRESET_YAMNET;
		assert_int_equal(aed_logmel(x, 16000, preset, &y, &frames), AED_OK);
		assert_int_equal(frames, 98);
		double maxd = 0;
		for (size_t f = 0; f < frames; f += 13) {
			ref_frame(x + f * 160, p ? 0.01 : 0.001, ref);
			for (int b = 0; b < 64; b++)
				maxd = fmax(maxd, fabs(ref[b] - y[f * 64 + b]));
		}
		assert_true(maxd < 1e-4);
		free(y);
	}
	free(x);
}

static void test_silence_and_offsets(void **state)
{
	(void)state;
	float *x = calloc(16000, sizeof *x), *y;
	size_t frames;
	assert_int_equal(aed_logmel(x, 16000, AED_PRESET_YAMNET, &y, &frames), AED_OK);
	for (size_t i = 0; i < frames * 64; i++)
		assert_float_equal(y[i], logf(0.001f), 1e-6);
	free(y);
	assert_int_equal(aed_logmel(x, 16000, AED_PRESET_VGGISH, &y, &frames), AED_OK);
	for (size_t i = 0; i < frames * 64; i++)
		assert_float_equal(y[i], logf(0.01f), 1e-6);
	free(y);
	assert_float_equal(aed_logmel_floor(AED_PRESET_YAMNET), logf(0.001f), 1e-7);
	free(x);
}

/* Padding: frames of zeros are exactly log(offset); the frames that straddle
 * the end of the audio are computed as any other. */
static void test_padding(void **state)
{
	(void)state;
	float *x = noise(16000, 4), *y;
	size_t frames;
	double ref[64];
	memset(x + 8000, 0, 8000 * sizeof *x);
	assert_int_equal(aed_logmel(x, 16000, AED_PRESET_YAMNET, &y, &frames), AED_OK);
	for (size_t f = 46; f <= 50; f++) { /* frame 48 starts at 7680 and ends at 8080 */
		ref_frame(x + f * 160, 0.001, ref);
		for (int b = 0; b < 64; b++)
			assert_true(fabs(ref[b] - y[f * 64 + b]) < 1e-4);
	}
	for (size_t f = 51; f < frames; f++)
		for (int b = 0; b < 64; b++)
			assert_float_equal(y[f * 64 + b], logf(0.001f), 0);
	free(y);
	free(x);
}

/* A pure tone puts its energy in the band centred nearest to it; nothing
 * below 125 Hz or above 7500 Hz reaches any band. */
static void test_tone_band(void **state)
{
	(void)state;
	float *x = malloc(8000 * sizeof *x), *y;
	size_t frames;
	double lo = hz_to_mel(125), hi = hz_to_mel(7500);
	const double tones[] = { 300, 1000, 2500, 6000 };
	for (size_t t = 0; t < 4; t++) {
		for (int i = 0; i < 8000; i++)
			x[i] = 0.5f * (float)sin(2 * M_PI * tones[t] * i / 16000.0);
		assert_int_equal(aed_logmel(x, 8000, AED_PRESET_YAMNET, &y, &frames), AED_OK);
		int best = 0;
		for (int b = 1; b < 64; b++)
			if (y[10 * 64 + b] > y[10 * 64 + best])
				best = b;
		int want = 0;
		double m = hz_to_mel(tones[t]), bestd = 1e9;
		for (int b = 0; b < 64; b++) {
			double c = lo + (hi - lo) * (b + 1) / 65;
			if (fabs(c - m) < bestd) {
				bestd = fabs(c - m);
				want = b;
			}
		}
		assert_true(abs(best - want) <= 1);
		free(y);
	}
	for (int i = 0; i < 8000; i++) /* 50 Hz: below every band but leaks little */
		x[i] = 0.5f * (float)sin(2 * M_PI * 50.0 * i / 16000.0);
	assert_int_equal(aed_logmel(x, 8000, AED_PRESET_YAMNET, &y, &frames), AED_OK);
	assert_true(y[10 * 64 + 63] < -6.0f);
	free(y);
	free(x);
}

/* A clip's log-mel covers its real samples padded as YAMNet pads them:
 * 1 + ceil((n - 15600) / 7680) patches, never past the stored clip. */
static void test_real_samples(void **state)
{
	(void)state;
	static const struct { size_t real, stored, yamnet, vggish, patches; } cases[] = {
		{ 0, 160000, 15600, 15600, 1 },        /* at least one patch */
		{ 1000, 160000, 15600, 15600, 1 },
		{ 15600, 160000, 15600, 15600, 1 },
		{ 15601, 160000, 23280, 15601, 2 },
		{ 64000, 160000, 69360, 64000, 8 },    /* a 4 s clip: 432 frames */
		{ 144893, 160000, 146160, 144893, 18 },
		{ 153840, 160000, 153840, 153840, 19 },
		{ 153841, 160000, 160000, 153841, 20 }, /* padding would pass the clip */
		{ 160000, 160000, 160000, 160000, 20 }, /* a full 10 s clip: 998 frames */
		{ 64000, 64000, 64000, 64000, 8 },     /* a full 4 s clip */
		{ 1000, 8000, 8000, 8000, 1 },         /* stored shorter than one patch */
	};
	for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
		size_t y = aed_logmel_samples(cases[i].real, cases[i].stored, AED_PRESET_YAMNET);
		assert_int_equal(y, cases[i].yamnet);
		assert_int_equal(aed_logmel_samples(cases[i].real, cases[i].stored, AED_PRESET_VGGISH),
				 cases[i].vggish);
		size_t frames = y < 400 ? 0 : 1 + (y - 400) / 160;
		assert_int_equal(aed_patch_count(frames, AED_PRESET_YAMNET), cases[i].patches);
	}
	assert_int_equal(1 + (aed_logmel_samples(64000, 160000, AED_PRESET_YAMNET) - 400) / 160, 432);
}

static void test_patches(void **state)
{
	(void)state;
	static const struct { size_t frames, vggish, yamnet; } cases[] = {
		{ 0, 0, 0 }, { 1, 0, 1 }, { 95, 0, 1 }, { 96, 1, 1 }, { 97, 1, 2 },
		{ 144, 1, 2 }, { 145, 1, 3 }, { 191, 1, 3 }, { 192, 2, 3 },
		{ 998, 10, 20 }, { 1008, 10, 20 }, { 1009, 10, 21 },
	};
	for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
		assert_int_equal(aed_patch_count(cases[i].frames, AED_PRESET_VGGISH), cases[i].vggish);
		assert_int_equal(aed_patch_count(cases[i].frames, AED_PRESET_YAMNET), cases[i].yamnet);
	}
	size_t frames = 200;
	float *m = malloc(frames * 64 * sizeof *m), patch[96 * 64];
	for (size_t i = 0; i < frames * 64; i++)
		m[i] = (float)i;
	aed_patch(m, frames, 1, AED_PRESET_YAMNET, patch); /* frames 48..143 */
	assert_float_equal(patch[0], 48 * 64, 0);
	assert_float_equal(patch[95 * 64 + 63], 143 * 64 + 63, 0);
	aed_patch(m, frames, 1, AED_PRESET_VGGISH, patch); /* frames 96..191 */
	assert_float_equal(patch[0], 96 * 64, 0);
	aed_patch(m, frames, 3, AED_PRESET_YAMNET, patch); /* frames 144..199 then silence */
	assert_float_equal(patch[55 * 64 + 63], 199 * 64 + 63, 0);
	assert_float_equal(patch[56 * 64], logf(0.001f), 1e-6);
	assert_float_equal(patch[95 * 64 + 63], logf(0.001f), 1e-6);
	free(m);
}

struct job {
	const float *x;
	float *y;
	size_t frames;
	int rc;
};

static void *run_job(void *p)
{
	struct job *j = p;
	j->rc = aed_logmel(j->x, 48000, AED_PRESET_YAMNET, &j->y, &j->frames);
	return NULL;
}

static void test_threads_agree(void **state)
{
	(void)state;
	float *x = noise(48000, 3), *y;
	size_t frames;
	assert_int_equal(aed_logmel(x, 48000, AED_PRESET_YAMNET, &y, &frames), AED_OK);
	pthread_t t[6];
	struct job j[6];
	for (int i = 0; i < 6; i++) {
		j[i] = (struct job){ .x = x };
		assert_int_equal(pthread_create(&t[i], NULL, run_job, &j[i]), 0);
	}
	for (int i = 0; i < 6; i++) {
		pthread_join(t[i], NULL);
		assert_int_equal(j[i].rc, AED_OK);
		assert_int_equal(j[i].frames, frames);
		assert_memory_equal(j[i].y, y, frames * 64 * sizeof *y);
		free(j[i].y);
	}
	free(y);
	free(x);
}

static void test_presets(void **state)
{
	(void)state;
	enum aed_preset p;
	assert_int_equal(aed_preset_parse("vggish", &p), AED_OK);
	assert_int_equal(p, AED_PRESET_VGGISH);
	assert_string_equal(aed_preset_name(p), "vggish");
	assert_string_equal(aed_logmel_kind(p), "logmel_vggish");
	assert_int_equal(aed_preset_parse("yamnet", &p), AED_OK);
	assert_int_equal(p, AED_PRESET_YAMNET);
	assert_string_equal(aed_preset_name(p), "yamnet");
	assert_int_equal(aed_preset_parse("VGG", &p), AED_EUSAGE);
	assert_non_null(strstr(aed_last_error(), "VGG"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_frame_counts),
		cmocka_unit_test(test_against_direct_dft),
		cmocka_unit_test(test_silence_and_offsets),
		cmocka_unit_test(test_padding),
		cmocka_unit_test(test_tone_band),
		cmocka_unit_test(test_real_samples),
		cmocka_unit_test(test_patches),
		cmocka_unit_test(test_threads_agree),
		cmocka_unit_test(test_presets),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
