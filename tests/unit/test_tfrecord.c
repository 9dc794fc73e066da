/* test_tfrecord.c - CRC32C against published check values, TFRecord framing
 * and its refusals, the SequenceExample encoder against hand-assembled
 * protobuf bytes and through the decoder; the per-second pooling, the PCA on
 * data with known axes, the byte quantisation; the FLAC encoder (lossless
 * through FFmpeg's decoder, sample count in STREAMINFO, equal bytes twice). */
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
#include "aedcurate/flac.h"
#include "aedcurate/pca.h"
#include "aedcurate/tfrecord.h"
#include "aedcurate/util.h"

static void test_crc32c(void **state)
{
	(void)state;
	/* RFC 3720 B.4 and the usual check value */
	assert_int_equal(aed_crc32c(0, "123456789", 9), 0xe3069283u);
	uint8_t z[32] = { 0 }, f[32], inc[32];
	memset(f, 0xff, sizeof f);
	for (int i = 0; i < 32; i++)
		inc[i] = (uint8_t)i;
	assert_int_equal(aed_crc32c(0, z, 32), 0x8a9136aau);
	assert_int_equal(aed_crc32c(0, f, 32), 0x62a8ab43u);
	assert_int_equal(aed_crc32c(0, inc, 32), 0x46dd794eu);
	/* incremental = whole */
	assert_int_equal(aed_crc32c(aed_crc32c(0, inc, 13), inc + 13, 19), 0x46dd794eu);
	uint32_t c = 0xe3069283u;
	assert_int_equal(aed_crc32c_masked("123456789", 9), ((c >> 15) | (c << 17)) + 0xa282ead8u);
}

static void test_framing(void **state)
{
	(void)state;
	struct aed_buf b = { 0 };
	const uint8_t *d;
	size_t len, off = 0;
	int done;

	assert_int_equal(aed_tfrecord_append(&b, "hello", 5), AED_OK);
	assert_int_equal(aed_tfrecord_append(&b, "", 0), AED_OK);
	assert_int_equal(b.len, 12 + 5 + 4 + 12 + 0 + 4);
	assert_int_equal((uint8_t)b.data[0], 5);
	for (int i = 1; i < 8; i++)
		assert_int_equal(b.data[i], 0);
	assert_int_equal(aed_tfrecord_next("t", (uint8_t *)b.data, b.len, &off, &d, &len, &done), AED_OK);
	assert_int_equal(done, 0);
	assert_int_equal(len, 5);
	assert_memory_equal(d, "hello", 5);
	assert_int_equal(aed_tfrecord_next("t", (uint8_t *)b.data, b.len, &off, &d, &len, &done), AED_OK);
	assert_int_equal(len, 0);
	assert_int_equal(aed_tfrecord_next("t", (uint8_t *)b.data, b.len, &off, &d, &len, &done), AED_OK);
	assert_int_equal(done, 1);
	/* every single-bit flip in the first record is caught */
	for (size_t i = 0; i < 21; i++)
		for (int bit = 0; bit < 8; bit++) {
			b.data[i] ^= (char)(1 << bit);
			off = 0;
			int rc = aed_tfrecord_next("t", (uint8_t *)b.data, b.len, &off, &d, &len, &done);
			assert_int_equal(rc, AED_EFORMAT);
			b.data[i] ^= (char)(1 << bit);
		}
	/* truncated */
	off = 0;
	assert_int_equal(aed_tfrecord_next("t", (uint8_t *)b.data, 20, &off, &d, &len, &done), AED_EFORMAT);
	assert_non_null(strstr(aed_last_error(), "past the end"));
	off = 0;
	assert_int_equal(aed_tfrecord_next("t", (uint8_t *)b.data, 7, &off, &d, &len, &done), AED_EFORMAT);
	aed_buf_release(&b);
}

static void test_seqex_bytes(void **state)
{
	(void)state;
	struct aed_buf b = { 0 };
	uint8_t row[128];
	int64_t labels[] = { 1, 300 };
	for (int i = 0; i < 128; i++)
		row[i] = (uint8_t)i;
	assert_int_equal(aed_seqex_encode("v", 0.0, 10.0, labels, 2, row, 1, &b), AED_OK);
	/* hand-assembled: context = 4 map entries in key order */
	static const uint8_t end_entry[] = {
		0x0a, 0x1c,                                 /* feature entry, 28 bytes */
		0x0a, 0x10, 'e', 'n', 'd', '_', 't', 'i', 'm', 'e', '_', 's', 'e', 'c', 'o', 'n', 'd', 's',
		0x12, 0x08, 0x12, 0x06, 0x0a, 0x04, 0x00, 0x00, 0x20, 0x41, /* float_list{10.0f} */
	};
	static const uint8_t labels_entry[] = {
		0x0a, 0x11, 0x0a, 0x06, 'l', 'a', 'b', 'e', 'l', 's',
		0x12, 0x07, 0x1a, 0x05, 0x0a, 0x03, 0x01, 0xac, 0x02, /* int64_list{1, 300} packed */
	};
	assert_int_equal((uint8_t)b.data[0], 0x0a); /* SequenceExample.context */
	/* context length is a one- or two-byte varint; entries follow */
	size_t p = ((uint8_t)b.data[1] & 0x80) ? 3 : 2;
	assert_memory_equal(b.data + p, end_entry, sizeof end_entry);
	assert_memory_equal(b.data + p + sizeof end_entry, labels_entry, sizeof labels_entry);
	struct aed_seqex s;
	assert_int_equal(aed_seqex_decode((uint8_t *)b.data, b.len, &s), AED_OK);
	assert_string_equal(s.video_id, "v");
	assert_true(s.start_s == 0.0f && s.end_s == 10.0f);
	assert_int_equal(s.n_labels, 2);
	assert_int_equal(s.labels[0], 1);
	assert_int_equal(s.labels[1], 300);
	assert_int_equal(s.n_rows, 1);
	assert_int_equal(s.row_bytes, 128);
	assert_memory_equal(s.rows[0], row, 128);
	aed_seqex_release(&s);
	aed_buf_release(&b);
}

static void test_seqex_roundtrip_and_refusals(void **state)
{
	(void)state;
	struct aed_buf b = { 0 };
	uint8_t rows[10 * 128];
	int64_t labels[] = { 0, 137, 526 };
	for (int i = 0; i < 10 * 128; i++)
		rows[i] = (uint8_t)(i * 31);
	assert_int_equal(aed_seqex_encode("-0RWZT-miFs", 420.0, 430.0, labels, 3, rows, 10, &b), AED_OK);
	struct aed_seqex s;
	assert_int_equal(aed_seqex_decode((uint8_t *)b.data, b.len, &s), AED_OK);
	assert_string_equal(s.video_id, "-0RWZT-miFs");
	assert_true(s.start_s == 420.0f && s.end_s == 430.0f);
	assert_int_equal(s.n_labels, 3);
	assert_int_equal(s.labels[2], 526);
	assert_int_equal(s.n_rows, 10);
	for (int i = 0; i < 10; i++)
		assert_memory_equal(s.rows[i], rows + 128 * i, 128);
	aed_seqex_release(&s);
	/* every truncation is either refused or parses within bounds */
	for (size_t n = 0; n < b.len; n++) {
		int rc = aed_seqex_decode((uint8_t *)b.data, n, &s);
		if (rc == AED_OK)
			aed_seqex_release(&s);
		else
			assert_int_equal(rc, AED_EFORMAT);
	}
	/* an unused wire type */
	uint8_t bad[] = { 0x0b, 0x00 };
	assert_int_equal(aed_seqex_decode(bad, sizeof bad, &s), AED_EFORMAT);
	/* a length past the end */
	uint8_t longer[] = { 0x0a, 0x7f, 0x00 };
	assert_int_equal(aed_seqex_decode(longer, sizeof longer, &s), AED_EFORMAT);
	aed_buf_release(&b);
}

static void test_pool_seconds(void **state)
{
	(void)state;
	float emb[20 * 2], rows[10 * 2];
	for (int i = 0; i < 20; i++) {
		emb[2 * i] = (float)i;
		emb[2 * i + 1] = 1.0f;
	}
	assert_int_equal(aed_pool_seconds(emb, 20, 2, 10, rows), 10);
	/* second 0 overlaps patches 0..2 (0.96 < 1), second 1 patches 1..4 */
	assert_float_equal(rows[0], 1.0, 1e-6);
	assert_float_equal(rows[2], 2.5, 1e-6);
	/* second 9 = [9, 10): patches 17 (8.16..9.12), 18 and 19 (9.12..10.08) */
	assert_float_equal(rows[18], 18.0, 1e-6);
	for (int s = 0; s < 10; s++)
		assert_float_equal(rows[2 * s + 1], 1.0, 1e-6);
	/* past the patches: the last patch */
	float few[2] = { 5, 6 }, r2[4];
	assert_int_equal(aed_pool_seconds(few, 1, 2, 2, r2), 2);
	assert_float_equal(r2[2], 5, 1e-6);
}

static void test_pca(void **state)
{
	(void)state;
	/* 8-d data: variance 16 along (e0+e1)/sqrt2, 4 along e2, 1 along e5, mean 3 */
	const int n = 4000, d = 8;
	float *x = malloc(sizeof(float) * (size_t)n * d);
	uint64_t s = 12345;
	for (int i = 0; i < n; i++) {
		double g[3];
		for (int k = 0; k < 3; k++) { /* Box-Muller */
			s = s * 6364136223846793005ull + 1442695040888963407ull;
			double u1 = ((s >> 11) + 1.0) / 9007199254740993.0;
			s = s * 6364136223846793005ull + 1442695040888963407ull;
			double u2 = (s >> 11) / 9007199254740992.0;
			g[k] = sqrt(-2 * log(u1)) * cos(2 * M_PI * u2);
		}
		for (int j = 0; j < d; j++)
			x[i * d + j] = 3.0f;
		x[i * d + 0] += (float)(4 * g[0] / sqrt(2));
		x[i * d + 1] += (float)(4 * g[0] / sqrt(2));
		x[i * d + 2] += (float)(2 * g[1]);
		x[i * d + 5] += (float)(g[2]);
	}
	struct aed_pca p;
	assert_int_equal(aed_pca_fit(x, (size_t)n, d, 3, &p), AED_OK);
	assert_float_equal(p.mean[4], 3.0, 1e-6);
	assert_float_equal(p.eigenvalues[0], 16.0, 1.0);
	assert_float_equal(p.eigenvalues[1], 4.0, 0.3);
	assert_float_equal(p.eigenvalues[2], 1.0, 0.1);
	assert_float_equal(p.components[0], 1 / sqrt(2), 0.02);
	assert_float_equal(p.components[1], 1 / sqrt(2), 0.02);
	assert_float_equal(p.components[d + 2], 1.0, 0.01); /* sign: largest entry positive */
	assert_float_equal(p.components[2 * d + 5], 1.0, 0.01);
	/* whitened projection of mean + 4 * first axis = 1 standard deviation */
	float v[8], out[3];
	for (int j = 0; j < d; j++)
		v[j] = (float)p.mean[j];
	v[0] += (float)(4 / sqrt(2));
	v[1] += (float)(4 / sqrt(2));
	aed_pca_apply(&p, v, out);
	assert_float_equal(out[0], 4.0 / sqrt(p.eigenvalues[0]), 1e-4);
	assert_float_equal(out[1], 0.0, 0.05);
	aed_pca_release(&p);
	assert_int_equal(aed_pca_fit(x, 1, d, 3, &p), AED_EUSAGE);
	free(x);
}

static void test_quantize(void **state)
{
	(void)state;
	assert_int_equal(aed_quantize_byte(-2.0f), 0);
	assert_int_equal(aed_quantize_byte(-5.0f), 0);
	assert_int_equal(aed_quantize_byte(2.0f), 255);
	assert_int_equal(aed_quantize_byte(7.0f), 255);
	assert_int_equal(aed_quantize_byte(0.0f), 127); /* floor(127.5) */
	assert_int_equal(aed_quantize_byte(1.0f), 191); /* floor(191.25) */
	assert_int_equal(aed_quantize_byte(NAN), 0);
}

static void test_flac(void **state)
{
	(void)state;
	const size_t n = 40000; /* 2.5 s, not a multiple of the block size */
	int16_t *x = malloc(n * sizeof *x);
	struct aed_buf a = { 0 }, b = { 0 };
	char dir[] = "/tmp/aedflac.XXXXXX", path[64];
	float *y = NULL;
	size_t ny = 0;

	for (size_t i = 0; i < n; i++)
		x[i] = (int16_t)(12000 * sin(2 * M_PI * 440.0 * (double)i / 16000) + (int)(i % 7) - 3);
	x[0] = -32768;
	x[1] = 32767;
	assert_int_equal(aed_flac_encode_s16(x, n, 16000, &a), AED_OK);
	assert_int_equal(aed_flac_encode_s16(x, n, 16000, &b), AED_OK);
	assert_int_equal(a.len, b.len);
	assert_memory_equal(a.data, b.data, a.len);
	assert_memory_equal(a.data, "fLaC", 4);
	assert_int_equal(aed_flac_total_samples((uint8_t *)a.data, a.len), n);
	assert_true(a.len < n * 2); /* it compresses */
	/* lossless through FFmpeg's own FLAC decoder */
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof path, "%s/a.flac", dir);
	FILE *f = fopen(path, "wb");
	assert_non_null(f);
	assert_int_equal(fwrite(a.data, 1, a.len, f), a.len);
	fclose(f);
	assert_int_equal(aed_decode_range(path, 0, 0, 16000, &y, &ny), AED_OK);
	assert_int_equal(ny, n);
	for (size_t i = 0; i < n; i++)
		if (y[i] != (float)x[i] / 32768.0f)
			fail_msg("sample %zu: %g != %d/32768", i, y[i], x[i]);
	free(y);
	unlink(path);
	rmdir(dir);
	/* an empty clip is still a valid file */
	a.len = 0;
	assert_int_equal(aed_flac_encode_s16(x, 0, 16000, &a), AED_OK);
	assert_int_equal(aed_flac_total_samples((uint8_t *)a.data, a.len), 0);
	assert_int_equal(aed_flac_total_samples((uint8_t *)"nope", 4), 0);
	aed_buf_release(&a);
	aed_buf_release(&b);
	free(x);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_crc32c),
		cmocka_unit_test(test_framing),
		cmocka_unit_test(test_seqex_bytes),
		cmocka_unit_test(test_seqex_roundtrip_and_refusals),
		cmocka_unit_test(test_pool_seconds),
		cmocka_unit_test(test_pca),
		cmocka_unit_test(test_quantize),
		cmocka_unit_test(test_flac),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
