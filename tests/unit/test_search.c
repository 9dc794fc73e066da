/* test_search.c - the FAISS wrappers of search.h on synthetic vectors: exact
 * and IVF search, save/load, reconstruct, factory errors, k-means. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "aedcurate/error.h"
#include "aedcurate/search.h"

#define D 32

static uint64_t rng_state = 88172645463325252ull;
static double urand(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return (rng_state >> 11) * (1.0 / 9007199254740992.0);
}
static float gauss(void)
{
	double u = urand() + 1e-12, v = urand();
	return (float)(sqrt(-2 * log(u)) * cos(2 * M_PI * v));
}

/* n vectors around c centres (spread s), normalised. */
static float *clustered(int n, int c, float s)
{
	float *centres = malloc((size_t)c * D * sizeof *centres);
	float *x = malloc((size_t)n * D * sizeof *x);
	for (int i = 0; i < c * D; i++)
		centres[i] = gauss();
	for (int i = 0; i < n; i++)
		for (int j = 0; j < D; j++)
			x[i * D + j] = centres[(i % c) * D + j] + s * gauss();
	aed_l2_normalize(x, n, D);
	free(centres);
	return x;
}

static void test_auto_factory(void **state)
{
	(void)state;
	char f[AED_VINDEX_FACTORY_MAX];
	aed_vindex_auto_factory(1000, f);
	assert_string_equal(f, "Flat");
	aed_vindex_auto_factory(AED_VINDEX_AUTO_EXACT_MAX - 1, f);
	assert_string_equal(f, "Flat");
	aed_vindex_auto_factory(AED_VINDEX_AUTO_EXACT_MAX, f);
	assert_string_equal(f, "PCA256,IVF512,SQ8");
	aed_vindex_auto_factory(1000000, f);
	assert_string_equal(f, "PCA256,IVF1024,SQ8");
	aed_vindex_auto_factory(4000000, f);
	assert_string_equal(f, "PCA256,IVF2048,SQ8");
	aed_vindex_auto_factory(10000000, f);
	assert_string_equal(f, "PCA256,IVF4096,SQ8");
	/* A lowered threshold: fewer lists, never under 39 vectors each. */
	aed_vindex_auto_factory_at(1000, 100, f);
	assert_string_equal(f, "PCA256,IVF16,SQ8");
	aed_vindex_auto_factory_at(99, 100, f);
	assert_string_equal(f, "Flat");
	assert_int_equal(aed_vindex_default_nprobe(1024), 16);
	assert_int_equal(aed_vindex_default_nprobe(64), 8);
}

static void test_flat_search_roundtrip(void **state)
{
	(void)state;
	struct aed_vindex *ix = NULL, *back = NULL;
	int n = 2000;
	float *x = clustered(n, 50, 0.3f);
	assert_int_equal(aed_vindex_new("Flat", D, &ix), AED_OK);
	assert_true(aed_vindex_is_trained(ix));
	assert_int_equal(aed_vindex_add(ix, n, x), AED_OK);
	assert_int_equal(aed_vindex_ntotal(ix), n);

	float sims[5 * 3];
	int64_t ids[5 * 3];
	/* Each vector is its own nearest neighbour, with cosine 1. */
	assert_int_equal(aed_vindex_search(ix, 3, x + 100 * D, 5, sims, ids), AED_OK);
	for (int q = 0; q < 3; q++) {
		assert_int_equal(ids[q * 5], 100 + q);
		assert_true(fabsf(sims[q * 5] - 1.0f) < 1e-4f);
		for (int j = 1; j < 5; j++)
			assert_true(sims[q * 5 + j] <= sims[q * 5 + j - 1]);
	}
	/* More neighbours than vectors: -1 ids. */
	struct aed_vindex *small = NULL;
	float s2[4];
	int64_t i2[4];
	assert_int_equal(aed_vindex_new("Flat", D, &small), AED_OK);
	assert_int_equal(aed_vindex_add(small, 2, x), AED_OK);
	assert_int_equal(aed_vindex_search(small, 1, x, 4, s2, i2), AED_OK);
	assert_int_equal(i2[0], 0);
	assert_int_equal(i2[2], -1);
	aed_vindex_free(&small);

	char path[] = "/tmp/aedtest_indexXXXXXX";
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	close(fd);
	assert_int_equal(aed_vindex_write(ix, path), AED_OK);
	assert_int_equal(aed_vindex_read(path, &back), AED_OK);
	assert_int_equal(aed_vindex_ntotal(back), n);
	assert_int_equal(aed_vindex_dim(back), D);
	float sb[5 * 3];
	int64_t ib[5 * 3];
	assert_int_equal(aed_vindex_search(back, 3, x + 100 * D, 5, sb, ib), AED_OK);
	assert_memory_equal(ids, ib, sizeof ids);
	float rec[D];
	assert_int_equal(aed_vindex_reconstruct(back, 77, rec), AED_OK);
	assert_memory_equal(rec, x + 77 * D, sizeof rec);
	assert_int_not_equal(aed_vindex_reconstruct(back, n, rec), AED_OK);
	unlink(path);
	aed_vindex_free(&back);

	/* A file that is not an index. */
	FILE *f = fopen(path, "w");
	fputs("not an index\n", f);
	fclose(f);
	assert_int_not_equal(aed_vindex_read(path, &back), AED_OK);
	unlink(path);
	assert_int_equal(aed_vindex_read("/nonexistent/x.faiss", &back), AED_ENOTFOUND);
	aed_vindex_free(&back);
	aed_vindex_free(&ix);
	free(x);
}

/* IVF with every list probed equals exact search; fewer lists lose little. */
static void test_ivf_matches_exact(void **state)
{
	(void)state;
	struct aed_vindex *flat = NULL, *ivf = NULL, *back = NULL;
	int n = 8000, nq = 20, k = 10;
	float *x = clustered(n, 200, 0.4f);
	assert_int_equal(aed_vindex_new("Flat", D, &flat), AED_OK);
	assert_int_equal(aed_vindex_new("IVF32,Flat", D, &ivf), AED_OK);
	assert_false(aed_vindex_is_trained(ivf));
	assert_int_equal(aed_vindex_nlist(ivf), 32);
	assert_int_equal(aed_vindex_nlist(flat), 0);
	assert_int_equal(aed_vindex_add(ivf, n, x), AED_ESTATE); /* untrained */
	assert_int_equal(aed_vindex_train(ivf, 32 * 40, x), AED_OK);
	assert_int_equal(aed_vindex_add(flat, n, x), AED_OK);
	assert_int_equal(aed_vindex_add(ivf, n, x), AED_OK);

	float *sf = malloc((size_t)nq * k * sizeof *sf), *si = malloc((size_t)nq * k * sizeof *si);
	int64_t *idf = malloc((size_t)nq * k * sizeof *idf), *idi = malloc((size_t)nq * k * sizeof *idi);
	/* Queries near stored vectors, as exemplar frames are near corpus frames. */
	float *q = malloc((size_t)nq * D * sizeof *q);
	for (int i = 0; i < nq * D; i++)
		q[i] = x[(i / D) * 397 % n * D + i % D] + 0.1f * gauss();
	aed_l2_normalize(q, nq, D);
	assert_int_equal(aed_vindex_set_nprobe(ivf, 32), AED_OK);
	assert_int_equal(aed_vindex_search(flat, nq, q, k, sf, idf), AED_OK);
	assert_int_equal(aed_vindex_search(ivf, nq, q, k, si, idi), AED_OK);
	for (int i = 0; i < nq * k; i++)
		assert_true(fabsf(sf[i] - si[i]) < 1e-5f);
	/* Reconstruct goes through the direct map, also after a reload. */
	char path[] = "/tmp/aedtest_ivfXXXXXX";
	int fd = mkstemp(path);
	close(fd);
	assert_int_equal(aed_vindex_write(ivf, path), AED_OK);
	assert_int_equal(aed_vindex_read(path, &back), AED_OK);
	unlink(path);
	float rec[D];
	assert_int_equal(aed_vindex_reconstruct(back, 4321, rec), AED_OK);
	assert_memory_equal(rec, x + 4321 * D, sizeof rec);
	/* nprobe 4 of 32: recall@10 stays high on clustered data. */
	assert_int_equal(aed_vindex_set_nprobe(back, 4), AED_OK);
	assert_int_equal(aed_vindex_search(back, nq, q, k, si, idi), AED_OK);
	int found = 0;
	for (int a = 0; a < nq; a++)
		for (int i = 0; i < k; i++)
			for (int j = 0; j < k; j++)
				found += idi[a * k + i] == idf[a * k + j];
	assert_true(found >= nq * k * 8 / 10);
	aed_vindex_free(&back);
	aed_vindex_free(&ivf);
	aed_vindex_free(&flat);
	free(sf);
	free(si);
	free(idf);
	free(idi);
	free(q);
	free(x);
}

/* A compressed index (PCA, IVF, 8-bit codes) searched by L2 reports
 * similarities close to the cosines, finds what exact search finds, and
 * reads back mapped with the same answers. */
static void test_compressed_mapped(void **state)
{
	(void)state;
	struct aed_vindex *flat = NULL, *cx = NULL, *back = NULL;
	int n = 8000, nq = 20, k = 10;
	float *x = clustered(n, 200, 0.4f);
	/* Most of the variance in 12 dimensions, as embeddings have it. */
	for (int i = 0; i < n; i++)
		for (int j = 12; j < D; j++)
			x[i * D + j] *= 0.05f;
	aed_l2_normalize(x, n, D);
	assert_int_equal(aed_vindex_new("Flat", D, &flat), AED_OK);
	assert_int_equal(aed_vindex_new("PCA16,IVF16,SQ8", D, &cx), AED_OK);
	assert_true(aed_vindex_exact(flat));
	assert_false(aed_vindex_exact(cx));
	assert_int_equal(aed_vindex_nlist(cx), 16); /* the IVF under the PCA */
	assert_int_equal(aed_vindex_train(cx, 4000, x), AED_OK);
	assert_int_equal(aed_vindex_add(flat, n, x), AED_OK);
	assert_int_equal(aed_vindex_add(cx, n, x), AED_OK);
	float *q = malloc((size_t)nq * D * sizeof *q);
	for (int i = 0; i < nq * D; i++)
		q[i] = x[(i / D) * 397 % n * D + i % D] + 0.1f * gauss();
	for (int i = 0; i < nq * D; i++)
		q[i] *= i % D < 12 ? 1.0f : 0.05f;
	aed_l2_normalize(q, nq, D);
	float *sf = malloc((size_t)nq * k * sizeof *sf), *sc = malloc((size_t)nq * k * sizeof *sc),
	      *sb = malloc((size_t)nq * k * sizeof *sb);
	int64_t *idf = malloc((size_t)nq * k * sizeof *idf), *idc = malloc((size_t)nq * k * sizeof *idc),
		*idb = malloc((size_t)nq * k * sizeof *idb);
	assert_int_equal(aed_vindex_set_nprobe(cx, 16), AED_OK);
	assert_int_equal(aed_vindex_search(flat, nq, q, k, sf, idf), AED_OK);
	assert_int_equal(aed_vindex_search(cx, nq, q, k, sc, idc), AED_OK);
	int found = 0;
	for (int a = 0; a < nq; a++) {
		assert_true(fabsf(sc[a * k] - sf[a * k]) < 0.05f); /* an estimate of the cosine */
		for (int i = 0; i < k; i++)
			for (int j = 0; j < k; j++)
				found += idc[a * k + i] == idf[a * k + j];
	}
	assert_true(found >= nq * k * 6 / 10);
	char path[] = "/tmp/aedtest_pcaXXXXXX";
	int fd = mkstemp(path);
	close(fd);
	assert_int_equal(aed_vindex_write(cx, path), AED_OK);
	assert_int_equal(aed_vindex_read_mapped(path, &back), AED_OK);
	assert_int_equal(aed_vindex_ntotal(back), n);
	assert_false(aed_vindex_exact(back));
	assert_int_equal(aed_vindex_set_nprobe(back, 16), AED_OK);
	assert_int_equal(aed_vindex_search(back, nq, q, k, sb, idb), AED_OK);
	assert_memory_equal(idb, idc, (size_t)nq * k * sizeof *idb);
	assert_memory_equal(sb, sc, (size_t)nq * k * sizeof *sb);
	aed_vindex_free(&back);
	/* An exact IVF maps too, and still reconstructs through its direct map. */
	struct aed_vindex *ivf = NULL;
	assert_int_equal(aed_vindex_new("IVF16,Flat", D, &ivf), AED_OK);
	assert_int_equal(aed_vindex_train(ivf, 4000, x), AED_OK);
	assert_int_equal(aed_vindex_add(ivf, n, x), AED_OK);
	assert_int_equal(aed_vindex_write(ivf, path), AED_OK);
	assert_int_equal(aed_vindex_read_mapped(path, &back), AED_OK);
	float rec[D];
	assert_int_equal(aed_vindex_reconstruct(back, 4321, rec), AED_OK);
	assert_memory_equal(rec, x + 4321 * D, sizeof rec);
	unlink(path);
	aed_vindex_free(&back);
	aed_vindex_free(&ivf);
	aed_vindex_free(&cx);
	aed_vindex_free(&flat);
	free(q);
	free(sf);
	free(sc);
	free(sb);
	free(idf);
	free(idc);
	free(idb);
	free(x);
}

static void test_bad_factory(void **state)
{
	(void)state;
	struct aed_vindex *ix = NULL;
	assert_int_equal(aed_vindex_new("NoSuchIndex77", D, &ix), AED_EUSAGE);
	assert_null(ix);
	assert_non_null(strstr(aed_last_error(), "NoSuchIndex77"));
	assert_int_equal(aed_vindex_new("Flat", 0, &ix), AED_EUSAGE);
}

static void test_kmeans(void **state)
{
	(void)state;
	int n = 300, k = 3;
	float *x = clustered(n, k, 0.05f); /* vector i belongs to centre i % 3 */
	int *a = malloc((size_t)n * sizeof *a);
	float *c = malloc((size_t)k * D * sizeof *c);
	assert_int_equal(aed_kmeans(D, n, k, x, 20, 1, 1, c, a), AED_OK);
	int map[3] = { a[0], a[1], a[2] };
	assert_true(map[0] != map[1] && map[1] != map[2] && map[0] != map[2]);
	for (int i = 0; i < n; i++)
		assert_int_equal(a[i], map[i % 3]);
	/* Deterministic for a seed. */
	int *b = malloc((size_t)n * sizeof *b);
	assert_int_equal(aed_kmeans(D, n, k, x, 20, 1, 1, NULL, b), AED_OK);
	assert_memory_equal(a, b, (size_t)n * sizeof *a);
	assert_int_equal(aed_kmeans(D, 2, 3, x, 20, 1, 1, NULL, b), AED_EUSAGE);
	free(a);
	free(b);
	free(c);
	free(x);
}

static void test_normalize(void **state)
{
	(void)state;
	float v[2 * 3] = { 3, 4, 0, 0, 0, 0 };
	aed_l2_normalize(v, 2, 3);
	assert_true(fabsf(v[0] - 0.6f) < 1e-6f && fabsf(v[1] - 0.8f) < 1e-6f);
	assert_true(v[3] == 0 && v[4] == 0 && v[5] == 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_auto_factory),
		cmocka_unit_test(test_flat_search_roundtrip),
		cmocka_unit_test(test_ivf_matches_exact),
		cmocka_unit_test(test_compressed_mapped),
		cmocka_unit_test(test_bad_factory),
		cmocka_unit_test(test_kmeans),
		cmocka_unit_test(test_normalize),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
