/* test_decode.c - FFmpeg range decode on hand-made WAV files: sample-accurate
 * cuts, equal-weight downmix, resampling of 44.1 and 192 kHz, 8 channels,
 * files that must fail with a reason; the WAV writer, int16 conversion and
 * the .npy writer and reader (round trip and refusals). */
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
#include "aedcurate/npy.h"
#include "aedcurate/util.h"

static char dir[256];

static int setup(void **state)
{
	(void)state;
	snprintf(dir, sizeof dir, "/tmp/aeddecode.XXXXXX");
	return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state)
{
	(void)state;
	char cmd[300];
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
	return system(cmd) == 0 ? 0 : -1;
}

static const char *tmp(const char *name)
{
	static char p[4][320];
	static int k;
	k = (k + 1) % 4;
	snprintf(p[k], sizeof p[k], "%s/%s", dir, name);
	return p[k];
}

/* Deterministic pseudo-random int16 samples. */
static int16_t *pcm_noise(size_t n, unsigned seed)
{
	int16_t *x = malloc(n * sizeof *x);
	uint32_t s = seed * 2654435761u + 7;
	for (size_t i = 0; i < n; i++) {
		s = s * 1664525u + 1013904223u;
		x[i] = (int16_t)((int32_t)(s >> 16) - 32768) / 2;
	}
	return x;
}

/* At the model's own rate nothing is resampled: the cut must be exact. */
static void test_cut_is_sample_exact(void **state)
{
	(void)state;
	size_t n = 3 * 16000;
	int16_t *pcm = pcm_noise(n, 1);
	assert_int_equal(aed_wav_write_s16(tmp("m16.wav"), pcm, n, 16000, 1), AED_OK);
	float *x;
	size_t got;
	assert_int_equal(aed_decode_range(tmp("m16.wav"), 1.25, 0.5, 16000, &x, &got), AED_OK);
	assert_int_equal(got, 8000);
	for (size_t i = 0; i < got; i++)
		assert_float_equal(x[i], pcm[20000 + i] / 32768.0f, 1e-7);
	free(x);
	/* to the end */
	assert_int_equal(aed_decode_range(tmp("m16.wav"), 2.0, 0, 16000, &x, &got), AED_OK);
	assert_int_equal(got, 16000);
	assert_float_equal(x[got - 1], pcm[n - 1] / 32768.0f, 1e-7);
	free(x);
	/* a range running past the end gives what there is */
	assert_int_equal(aed_decode_range(tmp("m16.wav"), 2.5, 10, 16000, &x, &got), AED_OK);
	assert_int_equal(got, 8000);
	free(x);
	free(pcm);
}

static void test_stereo_downmix(void **state)
{
	(void)state;
	size_t n = 16000;
	int16_t *l = pcm_noise(n, 2), *r = pcm_noise(n, 3), *st = malloc(2 * n * sizeof *st);
	for (size_t i = 0; i < n; i++) {
		st[2 * i] = l[i];
		st[2 * i + 1] = r[i];
	}
	assert_int_equal(aed_wav_write_s16(tmp("st.wav"), st, n, 16000, 2), AED_OK);
	float *x;
	size_t got;
	struct aed_media_info info;
	assert_int_equal(aed_decode_range_info(tmp("st.wav"), 0, 0, 16000, &x, &got, &info), AED_OK);
	assert_int_equal(got, n);
	assert_int_equal(info.channels, 2);
	assert_int_equal(info.sample_rate, 16000);
	assert_string_equal(info.codec, "pcm_s16le");
	for (size_t i = 0; i < n; i++)
		assert_float_equal(x[i], (l[i] + r[i]) / 65536.0f, 1e-6);
	free(x);
	free(l);
	free(r);
	free(st);
}

/* A tone through the resampler keeps its frequency and phase; the clip has
 * rate * duration samples. */
static void check_tone(const char *name, int rate, int channels)
{
	size_t n = (size_t)rate * 2;
	int16_t *pcm = malloc(n * channels * sizeof *pcm);
	for (size_t i = 0; i < n; i++)
		for (int c = 0; c < channels; c++)
			pcm[i * channels + c] = (int16_t)lrint(16000 * sin(2 * M_PI * 440.0 * i / rate));
	assert_int_equal(aed_wav_write_s16(tmp(name), pcm, n, rate, channels), AED_OK);
	float *x;
	size_t got;
	struct aed_media_info info;
	assert_int_equal(aed_decode_range_info(tmp(name), 0.5, 1.0, 16000, &x, &got, &info), AED_OK);
	assert_int_equal(info.channels, channels);
	assert_int_equal(info.sample_rate, rate);
	assert_int_equal(got, 16000);
	double maxd = 0;
	for (size_t i = 200; i < got - 200; i++) { /* away from the filter's edges */
		double want = 16000.0 / 32768 * sin(2 * M_PI * 440.0 * (i / 16000.0 + 0.5));
		maxd = fmax(maxd, fabs(x[i] - want));
	}
	assert_true(maxd < 0.01);
	free(x);
	free(pcm);
}

static void test_resample_44k_stereo(void **state) { (void)state; check_tone("t44.wav", 44100, 2); }
static void test_resample_192k_8ch(void **state) { (void)state; check_tone("t192.wav", 192000, 8); }
static void test_resample_8k_mono(void **state) { (void)state; check_tone("t8.wav", 8000, 1); }

static void test_failures(void **state)
{
	(void)state;
	float *x = (float *)1;
	size_t n = 5;
	assert_int_equal(aed_decode_range(tmp("missing.wav"), 0, 10, 16000, &x, &n), AED_ENOTFOUND);
	assert_null(x);
	assert_int_equal(n, 0);
	assert_int_equal(aed_write_file_atomic(tmp("empty.wav"), "", 0), AED_OK);
	assert_int_equal(aed_decode_range(tmp("empty.wav"), 0, 10, 16000, &x, &n), AED_EMEDIA);
	assert_non_null(strstr(aed_last_error(), "empty.wav"));
	const char *text = "this is not audio, it only has a .wav name\n";
	assert_int_equal(aed_write_file_atomic(tmp("text.wav"), text, strlen(text)), AED_OK);
	assert_int_equal(aed_decode_range(tmp("text.wav"), 0, 10, 16000, &x, &n), AED_EMEDIA);
	assert_non_null(strstr(aed_last_error(), "text.wav"));
	assert_non_null(strstr(aed_last_error(), "Invalid data")); /* FFmpeg's own words */
	/* a range after the end of the audio */
	int16_t pcm[1600] = { 0 };
	assert_int_equal(aed_wav_write_s16(tmp("short.wav"), pcm, 1600, 16000, 1), AED_OK);
	assert_int_equal(aed_decode_range(tmp("short.wav"), 5, 10, 16000, &x, &n), AED_EMEDIA);
	assert_non_null(strstr(aed_last_error(), "no audio samples"));
	assert_int_equal(aed_decode_range(tmp("short.wav"), -1, 10, 16000, &x, &n), AED_EUSAGE);
	assert_int_equal(aed_decode_range(dir, 0, 10, 16000, &x, &n), AED_EMEDIA); /* a directory */
}

static void test_wav_header(void **state)
{
	(void)state;
	int16_t pcm[3] = { 1, -2, 32767 };
	assert_int_equal(aed_wav_write_s16(tmp("h.wav"), pcm, 3, 16000, 1), AED_OK);
	char *data;
	size_t n;
	assert_int_equal(aed_read_file(tmp("h.wav"), 1 << 20, &data, &n), AED_OK);
	assert_int_equal(n, 50);
	static const unsigned char want[50] = {
		'R', 'I', 'F', 'F', 42, 0, 0, 0, 'W', 'A', 'V', 'E', 'f', 'm', 't', ' ',
		16, 0, 0, 0, 1, 0, 1, 0, 0x80, 0x3e, 0, 0, 0, 0x7d, 0, 0, 2, 0, 16, 0,
		'd', 'a', 't', 'a', 6, 0, 0, 0, 1, 0, 0xfe, 0xff, 0xff, 0x7f,
	};
	assert_memory_equal(data, want, 50);
	free(data);
}

static void test_s16_conversion(void **state)
{
	(void)state;
	const float in[] = { 0.0f, 1.0f, -1.0f, 2.0f, -3.0f, 0.5f, 1.0f / 32768 * 0.49f, NAN };
	int16_t out[8];
	aed_f32_to_s16(in, 8, out);
	const int16_t want[8] = { 0, 32767, -32768, 32767, -32768, 16384, 0, 0 };
	assert_memory_equal(out, want, sizeof want);
	float back[2];
	aed_s16_to_f32(want + 2, 2, back);
	assert_float_equal(back[0], -1.0f, 0);
	assert_float_equal(back[1], 32767 / 32768.0f, 0);
}

static void test_npy_round_trip(void **state)
{
	(void)state;
	float v[998 * 64];
	for (size_t i = 0; i < sizeof v / sizeof *v; i++)
		v[i] = (float)i * 0.5f;
	const int64_t dims2[2] = { 998, 64 };
	assert_int_equal(aed_npy_write_f32(tmp("a.npy"), v, 2, dims2), AED_OK);
	struct aed_npy a;
	void *owner;
	assert_int_equal(aed_npy_read(tmp("a.npy"), 1 << 24, &a, &owner), AED_OK);
	assert_int_equal(a.dtype, AED_F32);
	assert_int_equal(a.ndim, 2);
	assert_int_equal(a.dims[0], 998);
	assert_int_equal(a.dims[1], 64);
	assert_int_equal(a.dims[2], 1);
	assert_memory_equal(a.data, v, sizeof v);
	assert_int_equal(((const char *)a.data - (const char *)owner) % 64, 0); /* header padded */
	assert_memory_equal(owner, "\x93NUMPY\x01\x00", 8);
	assert_non_null(strstr((const char *)owner + 10, "'shape': (998, 64)"));
	free(owner);

	int16_t s[5] = { 1, 2, 3, 4, 5 };
	const int64_t dims1[1] = { 5 };
	struct aed_buf b = { 0 };
	assert_int_equal(aed_npy_encode(AED_I16, 1, dims1, s, &b), AED_OK);
	assert_non_null(memmem(b.data, b.len, "'shape': (5,)", 13));
	assert_int_equal(aed_npy_parse("mem", b.data, b.len, &a), AED_OK);
	assert_int_equal(a.dtype, AED_I16);
	assert_int_equal(a.ndim, 1);
	assert_memory_equal(a.data, s, sizeof s);
	/* every truncation fails cleanly, and so does a trailing byte */
	for (size_t k = 0; k < b.len; k++)
		assert_int_equal(aed_npy_parse("mem", b.data, k, &a), AED_EFORMAT);
	aed_buf_append(&b, "x", 1);
	assert_int_equal(aed_npy_parse("mem", b.data, b.len, &a), AED_EFORMAT);
	aed_buf_release(&b);

	uint8_t u[24] = { 0 };
	const int64_t dims3[3] = { 2, 3, 4 };
	assert_int_equal(aed_npy_encode(AED_U8, 3, dims3, u, &b), AED_OK);
	assert_int_equal(aed_npy_parse("mem", b.data, b.len, &a), AED_OK);
	assert_int_equal(a.ndim, 3);
	assert_int_equal(a.dims[2], 4);
	aed_buf_release(&b);
}

static void npy_refused(const char *header, size_t data_bytes, const char *why)
{
	struct aed_buf b = { 0 };
	size_t h = strlen(header);
	unsigned char pre[10] = { 0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0, (unsigned char)(h & 0xff),
				  (unsigned char)(h >> 8) };
	aed_buf_append(&b, pre, 10);
	aed_buf_append(&b, header, h);
	for (size_t i = 0; i < data_bytes; i++)
		aed_buf_append(&b, "", 1);
	struct aed_npy a;
	assert_int_equal(aed_npy_parse("bad.npy", b.data, b.len, &a), AED_EFORMAT);
	if (!strstr(aed_last_error(), why))
		fail_msg("'%s': message '%s' lacks '%s'", header, aed_last_error(), why);
	aed_buf_release(&b);
}

static void test_npy_refusals(void **state)
{
	(void)state;
	npy_refused("{'descr': '<f4', 'fortran_order': True, 'shape': (2,), }\n", 8, "Fortran");
	npy_refused("{'descr': '>f4', 'fortran_order': False, 'shape': (2,), }\n", 8, "dtype");
	npy_refused("{'descr': '<f8', 'fortran_order': False, 'shape': (2,), }\n", 16, "dtype");
	npy_refused("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 2, 2, 2), }\n", 64, "dimensions");
	npy_refused("{'descr': '<f4', 'fortran_order': False, 'shape': (3,), }\n", 8, "shape needs");
	npy_refused("{'descr': '<f4', 'fortran_order': False, 'shape': (99999999999999, 99999999999), }\n",
		    8, "overflow");
	npy_refused("{'descr': '<f4', 'fortran_order': False}\n", 8, "lacks");
	npy_refused("{'descr': '<f4', 'descr': '<f4', 'fortran_order': False, 'shape': (2,)}\n", 8, "repeated");
	npy_refused("{'descr': '<f4', 'fortran_order': False, 'shape': (), }\n", 0, "0-dimensional");
	npy_refused("['descr']\n", 0, "not a dict");
	npy_refused("{'descr': '<f4', 'fortran_order': False, 'shape': (2,), } junk\n", 8, "junk");
	struct aed_npy a;
	assert_int_equal(aed_npy_parse("x", "\x93NUMPY\x01\x00\xff\xff{", 11, &a), AED_EFORMAT);
	assert_non_null(strstr(aed_last_error(), "past the end"));
	assert_int_equal(aed_npy_parse("x", "PK\x03\x04", 4, &a), AED_EFORMAT);
	assert_int_equal(aed_npy_parse("x", "\x93NUMPY\x09\x00\x00\x00", 10, &a), AED_EFORMAT);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_cut_is_sample_exact),
		cmocka_unit_test(test_stereo_downmix),
		cmocka_unit_test(test_resample_44k_stereo),
		cmocka_unit_test(test_resample_192k_8ch),
		cmocka_unit_test(test_resample_8k_mono),
		cmocka_unit_test(test_failures),
		cmocka_unit_test(test_wav_header),
		cmocka_unit_test(test_s16_conversion),
		cmocka_unit_test(test_npy_round_trip),
		cmocka_unit_test(test_npy_refusals),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
