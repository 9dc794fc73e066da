/* test_yamnet.c - YAMNet built from the real TFLite file: the architecture it
 * maps, the CPU forward pass against the independent NumPy one
 * (tests/py/yamnet_ref.py, its own flatbuffer reader) within 1e-4 on real
 * and synthetic patches, results independent of batch size and threads, the
 * class map, and the model search order. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <math.h>
#include <unistd.h>

#include <cmocka.h>

#include "aedcurate/audio.h"
#include "aedcurate/error.h"
#include "aedcurate/nn.h"
#include "aedcurate/npy.h"
#include "aedcurate/util.h"

#define PF (AED_YAMNET_PATCH_FRAMES * AED_YAMNET_MEL_BANDS)

static char shared[2048], model[4096];
static struct aed_yamnet *Y;

static int setup(void **state)
{
	(void)state;
	const char *s = getenv("AEDCURATE_SHARED");
	snprintf(shared, sizeof shared, "%s", s && *s ? s : "../shared");
	snprintf(model, sizeof model, "%s/models/yamnet/yamnet.tflite", shared);
	if (access(model, R_OK) != 0)
		return 0; /* tests skip */
	if (aed_yamnet_load(model, &Y) != AED_OK) {
		fprintf(stderr, "load: %s\n", aed_last_error());
		return -1;
	}
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	aed_yamnet_free(&Y);
	return 0;
}

static void test_architecture(void **state)
{
	(void)state;
	if (!Y)
		skip();
	char hex[65];
	assert_int_equal(aed_sha256_file(model, hex), AED_OK);
	assert_string_equal(Y->sha256, hex);
	assert_string_equal(Y->name, "yamnet");
	assert_int_equal(Y->quantized, 1);
	static const int cout[27] = { 32, 32, 64, 64, 128, 128, 128, 128, 256, 256, 256, 256,
				      512, 512, 512, 512, 512, 512, 512, 512, 512, 512, 512,
				      512, 1024, 1024, 1024 };
	static const int stride2[] = { 0, 3, 7, 11, 23 }; /* layer1, 3, 5, 7, 13 depthwise */
	for (int i = 0; i < AED_YAMNET_LAYERS; i++) {
		const struct aed_yamnet_layer *L = &Y->layers[i];
		int s2 = 0;
		for (size_t j = 0; j < sizeof stride2 / sizeof *stride2; j++)
			s2 |= stride2[j] == i;
		assert_int_equal(L->cout, cout[i]);
		assert_int_equal(L->stride, s2 ? 2 : 1);
		assert_int_equal(L->kind, i == 0 ? AED_YAMNET_CONV
					 : i % 2 ? AED_YAMNET_DEPTHWISE : AED_YAMNET_POINTWISE);
	}
	assert_string_equal(Y->layers[25].name, "layer14/depthwise_conv");
	assert_int_equal(Y->layers[26].h_out, 3);
	assert_int_equal(Y->layers[26].w_out, 2);
	/* multiply-adds per patch, counted by hand from the layer table */
	assert_int_equal(Y->macs, 69165056);
}

static int write_npy(const char *path, const float *x, int64_t n, int64_t a, int64_t b)
{
	int64_t dims[3] = { n, a, b };
	return aed_npy_write_f32(path, x, 3, dims);
}

/* Run the CPU backend over n patches with a batch size and thread count. */
static void run_cpu(const float *p, int n, int batch, int threads, float *emb, float *scores)
{
	const struct aed_nn_backend_ops *be = aed_nn_backend("cpu");
	struct aed_nn_opts o = { .max_batch = batch, .threads = threads };
	void *st = NULL;
	assert_non_null(be);
	assert_int_equal(be->init(Y, &o, &st), AED_OK);
	for (int i = 0; i < n; i += batch) {
		int k = n - i < batch ? n - i : batch;
		assert_int_equal(be->run_batch(st, p + (size_t)i * PF, k, emb + (size_t)i * 1024,
					       scores + (size_t)i * 521),
				 AED_OK);
	}
	be->free(&st);
	assert_null(st);
}

/* Patches: the log-mel of a real dog bark through our front end, plus
 * synthetic ones (silence, a ramp, noise). */
static float *make_patches(int *n)
{
	char clip[4096];
	float *x = NULL, *lm = NULL;
	size_t ns, frames;
	snprintf(clip, sizeof clip, "%s/data/audio/urbansound8k/fold2/100652-3-0-0.mp3", shared);
	assert_int_equal(aed_decode_range(clip, 0, 0, 16000, &x, &ns), AED_OK);
	assert_int_equal(aed_logmel(x, ns, AED_PRESET_YAMNET, &lm, &frames), AED_OK);
	size_t real = aed_patch_count(frames, AED_PRESET_YAMNET);
	*n = (int)real + 3;
	float *p = malloc((size_t)*n * PF * sizeof *p);
	assert_non_null(p);
	for (size_t i = 0; i < real; i++)
		aed_patch(lm, frames, i, AED_PRESET_YAMNET, p + i * PF);
	float *s = p + real * PF;
	uint32_t seed = 7;
	for (int j = 0; j < PF; j++) {
		s[j] = aed_logmel_floor(AED_PRESET_YAMNET);
		s[PF + j] = -6.0f + 8.0f * (float)j / PF;
		seed = seed * 1664525u + 1013904223u;
		s[2 * PF + j] = -4.0f + 5.0f * (float)(seed >> 8) / (float)(1u << 24);
	}
	free(x);
	free(lm);
	return p;
}

static void test_matches_numpy(void **state)
{
	(void)state;
	if (!Y)
		skip();
	if (access("/usr/bin/python3", X_OK) != 0)
		skip();
	char dir[] = "/tmp/aedyamXXXXXX", cmd[20000], path[3][4200];
	assert_non_null(mkdtemp(dir));
	int n;
	float *p = make_patches(&n);
	float *emb = malloc((size_t)n * 1024 * sizeof *emb), *sc = malloc((size_t)n * 521 * sizeof *sc);
	run_cpu(p, n, 4, 2, emb, sc);
	snprintf(path[0], sizeof path[0], "%s/p.npy", dir);
	snprintf(path[1], sizeof path[1], "%s/e.npy", dir);
	snprintf(path[2], sizeof path[2], "%s/s.npy", dir);
	assert_int_equal(write_npy(path[0], p, n, 96, 64), AED_OK);
	snprintf(cmd, sizeof cmd, "/usr/bin/python3 tests/py/yamnet_ref.py '%s' forward '%s' '%s' '%s'",
		 model, path[0], path[1], path[2]);
	assert_int_equal(system(cmd), 0);

	struct aed_npy ne, ns;
	void *oe, *os;
	assert_int_equal(aed_npy_read(path[1], 1 << 28, &ne, &oe), AED_OK);
	assert_int_equal(aed_npy_read(path[2], 1 << 28, &ns, &os), AED_OK);
	assert_int_equal(ne.dims[0], n);
	assert_int_equal(ne.dims[1], 1024);
	assert_int_equal(ns.dims[1], 521);
	const float *re = ne.data, *rs = ns.data;
	double de = 0, ds = 0, emax = 0;
	for (size_t i = 0; i < (size_t)n * 1024; i++) {
		double d = fabs((double)emb[i] - re[i]) / (1.0 > fabs(re[i]) ? 1.0 : fabs(re[i]));
		de = d > de ? d : de;
		emax = fabs(re[i]) > emax ? fabs(re[i]) : emax;
	}
	for (size_t i = 0; i < (size_t)n * 521; i++) {
		double d = fabs((double)sc[i] - rs[i]);
		ds = d > ds ? d : ds;
	}
	print_message("# %d patches: max embedding diff %.3g (relative above 1; values up to %.2f), "
		      "max score diff %.3g\n", n, de, emax, ds);
	assert_true(emax > 0.5); /* the comparison is not of zeros */
	assert_true(de < 1e-4);
	assert_true(ds < 1e-4);
	/* the real clip is a dog barking: Dog (index 69) is among the top 5 of
	 * its loudest patch */
	int best = 0;
	for (int i = 0; i < 521; i++)
		best += sc[4 * 521 + i] > sc[4 * 521 + 69];
	assert_true(best < 5);

	snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
	assert_int_equal(system(cmd), 0);
	free(oe);
	free(os);
	free(p);
	free(emb);
	free(sc);
}

/* The float weights of every layer, written out and compared bit for bit
 * with NumPy's dequantisation of the same bytes (tests/py/weights_check.py). */
static void test_weights_match_file(void **state)
{
	(void)state;
	if (!Y)
		skip();
	char dir[] = "/tmp/aedwXXXXXX", path[4200], cmd[9000];
	assert_non_null(mkdtemp(dir));
	for (int i = 0; i <= AED_YAMNET_LAYERS; i++) {
		const struct aed_yamnet_layer *L = i < AED_YAMNET_LAYERS ? &Y->layers[i] : NULL;
		char tag[8];
		int64_t wd[3], bd[3] = { L ? L->cout : AED_YAMNET_CLASSES, 1, 1 };
		if (L) {
			snprintf(tag, sizeof tag, "L%02d", i);
			wd[0] = L->kind == AED_YAMNET_DEPTHWISE ? 9 : L->cout;
			wd[1] = L->kind == AED_YAMNET_DEPTHWISE ? L->cin
				: L->kind == AED_YAMNET_CONV ? 9 : L->cin;
			wd[2] = 1;
		} else {
			snprintf(tag, sizeof tag, "dense");
			wd[0] = AED_YAMNET_CLASSES;
			wd[1] = AED_YAMNET_EMBED_DIM;
			wd[2] = 1;
		}
		snprintf(path, sizeof path, "%s/%s.w.npy", dir, tag);
		assert_int_equal(aed_npy_write_f32(path, L ? L->weight : Y->dense_w, 2, wd), AED_OK);
		snprintf(path, sizeof path, "%s/%s.b.npy", dir, tag);
		assert_int_equal(aed_npy_write_f32(path, L ? L->bias : Y->dense_b, 1, bd), AED_OK);
	}
	snprintf(cmd, sizeof cmd, "/usr/bin/python3 tests/py/weights_check.py '%s' '%s'", model, dir);
	assert_int_equal(system(cmd), 0);
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
	assert_int_equal(system(cmd), 0);
}

static void test_batch_independent(void **state)
{
	(void)state;
	if (!Y)
		skip();
	int n;
	float *p = make_patches(&n);
	static const int cfg[][2] = { { 1, 1 }, { 3, 2 }, { 32, 2 }, { 5, 1 } };
	float *e0 = NULL, *s0 = NULL;
	for (size_t c = 0; c < sizeof cfg / sizeof *cfg; c++) {
		float *e = malloc((size_t)n * 1024 * sizeof *e), *s = malloc((size_t)n * 521 * sizeof *s);
		run_cpu(p, n, cfg[c][0], cfg[c][1], e, s);
		if (!e0) {
			e0 = e;
			s0 = s;
			continue;
		}
		/* bit for bit: a patch's result does not depend on its batch */
		assert_memory_equal(e, e0, (size_t)n * 1024 * sizeof *e);
		assert_memory_equal(s, s0, (size_t)n * 521 * sizeof *s);
		free(e);
		free(s);
	}
	free(e0);
	free(s0);
	free(p);
}

/* The kernels without FMA (for CPUs that lack it): the same network within
 * rounding, and just as independent of the batch. */
static void test_plain_kernels(void **state)
{
	(void)state;
	if (!Y)
		skip();
	int n;
	float *p = make_patches(&n);
	float *e0 = malloc((size_t)n * 1024 * sizeof *e0), *s0 = malloc((size_t)n * 521 * sizeof *s0);
	float *e1 = malloc((size_t)n * 1024 * sizeof *e1), *s1 = malloc((size_t)n * 521 * sizeof *s1);
	float *e2 = malloc((size_t)n * 1024 * sizeof *e2), *s2 = malloc((size_t)n * 521 * sizeof *s2);
	run_cpu(p, n, 32, 2, e0, s0);
	setenv("AEDCURATE_NN_KERNEL", "plain", 1);
	run_cpu(p, n, 32, 2, e1, s1);
	run_cpu(p, n, 5, 1, e2, s2);
	unsetenv("AEDCURATE_NN_KERNEL");
	assert_memory_equal(e1, e2, (size_t)n * 1024 * sizeof *e1);
	assert_memory_equal(s1, s2, (size_t)n * 521 * sizeof *s1);
	for (size_t i = 0; i < (size_t)n * 1024; i++)
		assert_true(fabsf(e1[i] - e0[i]) <= 1e-4f + 1e-4f * fabsf(e0[i]));
	for (size_t i = 0; i < (size_t)n * 521; i++)
		assert_true(fabsf(s1[i] - s0[i]) <= 1e-5f);
	free(e0); free(s0); free(e1); free(s1); free(e2); free(s2);
	free(p);
}

static void test_class_map(void **state)
{
	(void)state;
	if (!Y)
		skip();
	char *path = NULL;
	assert_int_equal(aed_yamnet_find_class_map(model, &path), AED_OK);
	assert_int_equal(aed_yamnet_load_class_map(Y, path), AED_OK);
	free(path);
	assert_string_equal(Y->class_mid[0], "/m/09x0r");
	assert_string_equal(Y->class_name[0], "Speech");
	assert_string_equal(Y->class_name[1], "Child speech, kid speaking"); /* quoted */
	assert_string_equal(Y->class_mid[69], "/m/0bt9lr");
	assert_string_equal(Y->class_name[69], "Dog");

	/* a short or malformed map is refused, naming file and line */
	char bad[] = "/tmp/aedmapXXXXXX";
	int fd = mkstemp(bad);
	assert_true(fd >= 0);
	const char *text = "index,mid,display_name\n0,/m/09x0r,Speech\n5,/m/x,Skipped\n";
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
	struct aed_yamnet tmp = { 0 };
	assert_int_equal(aed_yamnet_load_class_map(&tmp, bad), AED_EFORMAT);
	assert_non_null(strstr(aed_last_error(), ":3:"));
	unlink(bad);
}

static void test_model_search(void **state)
{
	(void)state;
	char *p = NULL;
	const char *old = getenv("AEDCURATE_MODEL");
	char *saved = old ? strdup(old) : NULL;
	setenv("AEDCURATE_MODEL", "/nonexistent/m.tflite", 1);
	setenv("AEDCURATE_SHARED", "/nonexistent-shared", 1);
	if (access("build/models/yamnet.tflite", R_OK) != 0) {
		assert_int_equal(aed_yamnet_find_model(NULL, &p), AED_ENOTFOUND);
		assert_non_null(strstr(aed_last_error(), "make models"));
	}
	assert_int_equal(aed_yamnet_find_model("/nonexistent/x.tflite", &p), AED_ENOTFOUND);
	assert_non_null(strstr(aed_last_error(), "/nonexistent/x.tflite"));
	if (Y) {
		setenv("AEDCURATE_MODEL", model, 1);
		assert_int_equal(aed_yamnet_find_model(NULL, &p), AED_OK);
		assert_string_equal(p, model);
		free(p);
	}
	setenv("AEDCURATE_SHARED", shared, 1);
	if (saved)
		setenv("AEDCURATE_MODEL", saved, 1);
	else
		unsetenv("AEDCURATE_MODEL");
	free(saved);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_architecture),
		cmocka_unit_test(test_weights_match_file),
		cmocka_unit_test(test_matches_numpy),
		cmocka_unit_test(test_batch_independent),
		cmocka_unit_test(test_plain_kernels),
		cmocka_unit_test(test_class_map),
		cmocka_unit_test(test_model_search),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
