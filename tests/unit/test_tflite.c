/* test_tflite.c - the TFLite reader: the real YAMNet file read field by field,
 * int8 weights dequantised exactly, and hand-built flatbuffers that are
 * truncated, corrupted or hostile refused with a message (never a crash).
 * AED_WRITE_SEEDS=DIR writes the hand-built models there (fuzz seeds). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "aedcurate/error.h"
#include "aedcurate/nn.h"
#include "aedcurate/util.h"

static const char *model_path(void)
{
	static char buf[4096];
	const char *s = getenv("AEDCURATE_SHARED");
	snprintf(buf, sizeof buf, "%s/models/yamnet/yamnet.tflite", s && *s ? s : "../shared");
	return buf;
}

/* --- a tiny flatbuffer builder: objects are appended in order, so every
 * reference points forward, as the format requires. Every table field is a
 * 4-byte slot (u8 fields use its low byte). --- */
struct fbb {
	uint8_t b[8192];
	size_t n;
};

static void align4(struct fbb *f)
{
	while (f->n & 3)
		f->b[f->n++] = 0;
}

static void set32(struct fbb *f, size_t pos, uint32_t v)
{
	f->b[pos] = v & 255;
	f->b[pos + 1] = (v >> 8) & 255;
	f->b[pos + 2] = (v >> 16) & 255;
	f->b[pos + 3] = (uint8_t)(v >> 24);
}

static size_t put32(struct fbb *f, uint32_t v)
{
	align4(f);
	size_t p = f->n;
	set32(f, p, v);
	f->n += 4;
	return p;
}

/* A table whose fields 0..nf-1 are present (mask bit i); returns its start.
 * Field i lives at start + 4 + 4 * i. */
static size_t table(struct fbb *f, int nf, unsigned mask)
{
	align4(f);
	size_t vt = f->n;
	f->b[f->n++] = (uint8_t)(4 + 2 * nf);
	f->b[f->n++] = 0;
	f->b[f->n++] = (uint8_t)(4 + 4 * nf);
	f->b[f->n++] = 0;
	for (int i = 0; i < nf; i++) {
		int off = (mask >> i) & 1 ? 4 + 4 * i : 0;
		f->b[f->n++] = (uint8_t)off;
		f->b[f->n++] = 0;
	}
	align4(f);
	size_t t = f->n;
	put32(f, (uint32_t)(t - vt));
	for (int i = 0; i < nf; i++)
		put32(f, 0);
	return t;
}

static size_t field(size_t table_pos, int i)
{
	return table_pos + 4 + 4 * (size_t)i;
}

static void ref(struct fbb *f, size_t at, size_t target)
{
	set32(f, at, (uint32_t)(target - at));
}

static size_t vec32(struct fbb *f, int n, const uint32_t *v)
{
	size_t p = put32(f, (uint32_t)n);
	for (int i = 0; i < n; i++)
		put32(f, v[i]);
	return p;
}

static size_t vec_bytes(struct fbb *f, const void *data, size_t n)
{
	size_t p = put32(f, (uint32_t)n);
	memcpy(f->b + f->n, data, n);
	f->n += n;
	return p;
}

/* Positions of interesting fields, for the hostile variants. */
struct tiny {
	size_t root, tensors_vec, shape_vec, scale_vec, weight_data, op_inputs, opcode_index,
		name_str, buffer_field;
};

/* Model { version 3, operator_codes [CONV_2D], subgraphs [ { tensors [
 *   0 "in" f32 [1,4,4,1], 1 "w" int8 [2,3,3,1] scale 0.5 zp 1 (buffer 1),
 *   2 "b" f32 [2] (buffer 2), 3 "out" f32 [1,2,2,2] ],
 *   operators [ CONV_2D in,w,b -> out, SAME, stride 2, RELU ] } ],
 *   buffers [ {}, {18 bytes}, {8 bytes} ] } */
static void build_tiny(struct fbb *f, struct tiny *k)
{
	memset(f, 0, sizeof *f);
	size_t rootp = put32(f, 0);
	memcpy(f->b + 4, "TFL3", 4);
	f->n = 8;
	size_t model = table(f, 5, 0x17); /* 0 version, 1 opcodes, 2 subgraphs, 4 buffers */
	k->root = model;
	ref(f, rootp, model);
	set32(f, field(model, 0), 3);

	uint32_t one = 0;
	size_t codes = vec32(f, 1, &one);
	ref(f, field(model, 1), codes);
	size_t oc = table(f, 4, 0x9); /* 0 deprecated code, 3 builtin code */
	ref(f, codes + 4, oc);
	set32(f, field(oc, 0), AED_TFL_OP_CONV_2D);
	set32(f, field(oc, 3), AED_TFL_OP_CONV_2D);

	size_t subs = vec32(f, 1, &one);
	ref(f, field(model, 2), subs);
	size_t sg = table(f, 4, 0xf);
	ref(f, subs + 4, sg);
	uint32_t zeros[4] = { 0 };
	size_t tv = vec32(f, 4, zeros);
	k->tensors_vec = tv;
	ref(f, field(sg, 0), tv);
	uint32_t in0 = 0, out3 = 3;
	ref(f, field(sg, 1), vec32(f, 1, &in0));
	ref(f, field(sg, 2), vec32(f, 1, &out3));

	static const uint32_t shapes[4][4] = { { 1, 4, 4, 1 }, { 2, 3, 3, 1 }, { 2 }, { 1, 2, 2, 2 } };
	static const int ndims[4] = { 4, 4, 1, 4 };
	static const char *names[4] = { "in", "w", "b", "out" };
	static const int types[4] = { AED_TFL_FLOAT32, AED_TFL_INT8, AED_TFL_FLOAT32, AED_TFL_FLOAT32 };
	static const int bufs[4] = { 0, 1, 2, 0 };
	for (int i = 0; i < 4; i++) {
		size_t t = table(f, 5, i == 1 ? 0x1f : 0x0f);
		ref(f, tv + 4 + 4 * (size_t)i, t);
		size_t sv = vec32(f, ndims[i], shapes[i]);
		ref(f, field(t, 0), sv);
		set32(f, field(t, 1), (uint32_t)types[i]);
		set32(f, field(t, 2), (uint32_t)bufs[i]);
		size_t nm = vec_bytes(f, names[i], strlen(names[i]) + 1);
		f->b[nm] = (uint8_t)strlen(names[i]);
		ref(f, field(t, 3), nm);
		if (i == 1) {
			k->shape_vec = sv;
			k->name_str = nm;
			k->buffer_field = field(t, 2);
			size_t q = table(f, 4, 0xc); /* 2 scale, 3 zero_point */
			ref(f, field(t, 4), q);
			float half = 0.5f;
			uint32_t u;
			memcpy(&u, &half, 4);
			size_t sc = vec32(f, 1, &u);
			k->scale_vec = sc;
			ref(f, field(q, 2), sc);
			uint32_t zp[2] = { 1, 0 }; /* one int64 = 1 */
			size_t zv = put32(f, 1);
			put32(f, zp[0]);
			put32(f, zp[1]);
			ref(f, field(q, 3), zv);
		}
	}

	size_t ops = vec32(f, 1, &one);
	ref(f, field(sg, 3), ops);
	size_t op = table(f, 5, 0x1f);
	ref(f, ops + 4, op);
	k->opcode_index = field(op, 0);
	uint32_t ins[3] = { 0, 1, 2 };
	size_t iv = vec32(f, 3, ins);
	k->op_inputs = iv;
	ref(f, field(op, 1), iv);
	ref(f, field(op, 2), vec32(f, 1, &out3));
	set32(f, field(op, 3), 1); /* Conv2DOptions */
	size_t co = table(f, 4, 0xf);
	ref(f, field(op, 4), co);
	set32(f, field(co, 0), AED_TFL_PAD_SAME);
	set32(f, field(co, 1), 2);
	set32(f, field(co, 2), 2);
	set32(f, field(co, 3), AED_TFL_ACT_RELU);

	uint32_t three[3] = { 0 };
	size_t bv = vec32(f, 3, three);
	ref(f, field(model, 4), bv);
	int8_t w[18];
	for (int i = 0; i < 18; i++)
		w[i] = (int8_t)(i * 15 - 128);
	float bias[2] = { 0.25f, -1.5f };
	for (int i = 0; i < 3; i++) {
		size_t bt = table(f, 1, i ? 1 : 0);
		ref(f, bv + 4 + 4 * (size_t)i, bt);
		if (i == 1) {
			size_t d = vec_bytes(f, w, sizeof w);
			k->weight_data = d + 4;
			ref(f, field(bt, 0), d);
		} else if (i == 2) {
			ref(f, field(bt, 0), vec_bytes(f, bias, sizeof bias));
		}
	}
}

static void write_seed(const char *name, const struct fbb *f)
{
	const char *dir = getenv("AED_WRITE_SEEDS");
	if (!dir)
		return;
	char path[4096];
	snprintf(path, sizeof path, "%s/%s", dir, name);
	FILE *fp = fopen(path, "wb");
	if (fp) {
		fwrite(f->b, 1, f->n, fp);
		fclose(fp);
	}
}

static void test_tiny_reads_back(void **state)
{
	(void)state;
	struct fbb f;
	struct tiny k;
	struct aed_tflite *m = NULL;
	build_tiny(&f, &k);
	write_seed("tiny_conv.fb", &f);
	assert_int_equal(aed_tflite_parse(f.b, f.n, "tiny", &m), AED_OK);
	assert_int_equal(m->version, 3);
	assert_int_equal(m->ntensors, 4);
	assert_int_equal(m->nops, 1);
	assert_string_equal(m->tensors[1].name, "w");
	assert_int_equal(m->tensors[1].ndim, 4);
	assert_int_equal(m->tensors[1].shape[0], 2);
	assert_int_equal(m->tensors[1].type, AED_TFL_INT8);
	assert_int_equal(m->tensors[1].nscale, 1);
	assert_int_equal(m->tensors[1].zero_point[0], 1);
	assert_null(m->tensors[0].data);
	const struct aed_tfl_op *op = &m->ops[0];
	assert_int_equal(op->code, AED_TFL_OP_CONV_2D);
	assert_int_equal(op->stride_w, 2);
	assert_int_equal(op->stride_h, 2);
	assert_int_equal(op->activation, AED_TFL_ACT_RELU);
	assert_int_equal(op->ninputs, 3);
	assert_int_equal(aed_tflite_find(m, "out"), 3);
	assert_int_equal(aed_tflite_find(m, "nope"), -1);

	float *v;
	size_t n;
	assert_int_equal(aed_tflite_tensor_f32(m, 1, &v, &n), AED_OK);
	assert_int_equal(n, 18);
	for (int i = 0; i < 18; i++)
		assert_true(v[i] == (float)((i * 15 - 128) - 1) * 0.5f);
	free(v);
	assert_int_equal(aed_tflite_tensor_f32(m, 2, &v, &n), AED_OK);
	assert_true(v[0] == 0.25f && v[1] == -1.5f);
	free(v);
	/* no data: refused */
	assert_int_equal(aed_tflite_tensor_f32(m, 0, &v, &n), AED_EFORMAT);
	/* a valid TFLite file that is not YAMNet */
	struct aed_yamnet *y = NULL;
	assert_int_equal(aed_yamnet_from_tflite(m, "tiny", &y), AED_EFORMAT);
	assert_non_null(strstr(aed_last_error(), "is this YAMNet"));
	aed_tflite_free(&m);
	assert_null(m);
}

/* A hostile variant: patch a copy, check the refusal and its message. */
static void hostile(const char *seed, void (*patch)(struct fbb *, const struct tiny *),
		    const char *want)
{
	struct fbb f;
	struct tiny k;
	struct aed_tflite *m = NULL;
	build_tiny(&f, &k);
	patch(&f, &k);
	write_seed(seed, &f);
	int rc = aed_tflite_parse(f.b, f.n, "hostile.tflite", &m);
	if (rc != AED_EFORMAT)
		fail_msg("%s: parse returned %d, expected a format error", seed, rc);
	assert_null(m);
	const char *msg = aed_last_error();
	if (!strstr(msg, "hostile.tflite") || !strstr(msg, want))
		fail_msg("%s: message '%s' lacks '%s'", seed, msg, want);
}

static void p_magic(struct fbb *f, const struct tiny *k) { (void)k; memcpy(f->b + 4, "TFL2", 4); }
static void p_root(struct fbb *f, const struct tiny *k) { (void)k; set32(f, 0, 0x7fffff00); }
static void p_vtable(struct fbb *f, const struct tiny *k) { set32(f, k->root, 0x80000000u); }
static void p_vec_len(struct fbb *f, const struct tiny *k) { set32(f, k->tensors_vec, 0xffffffffu); }
static void p_dims(struct fbb *f, const struct tiny *k) { set32(f, k->shape_vec, 9); }
static void p_shape(struct fbb *f, const struct tiny *k) { set32(f, k->shape_vec + 4, 3); }
static void p_neg_dim(struct fbb *f, const struct tiny *k) { set32(f, k->shape_vec + 4, (uint32_t)-7); }
static void p_scales(struct fbb *f, const struct tiny *k) { set32(f, k->scale_vec, 2); }
static void p_tensor_idx(struct fbb *f, const struct tiny *k) { set32(f, k->op_inputs + 8, 99); }
static void p_opcode(struct fbb *f, const struct tiny *k) { set32(f, k->opcode_index, 5); }
static void p_buffer(struct fbb *f, const struct tiny *k) { set32(f, k->buffer_field, 77); }
static void p_name(struct fbb *f, const struct tiny *k) { set32(f, k->name_str, 0x40000000u); }
static void p_version(struct fbb *f, const struct tiny *k) { set32(f, k->root + 4, 2); }

static void test_hostile_refused(void **state)
{
	(void)state;
	hostile("bad_magic.fb", p_magic, "TFL3");
	hostile("bad_root.fb", p_root, "table offset out of range");
	hostile("bad_vtable.fb", p_vtable, "vtable offset out of range");
	hostile("huge_vector.fb", p_vec_len, "vector longer than the file");
	hostile("nine_dims.fb", p_dims, "dimensions");
	hostile("shape_vs_buffer.fb", p_shape, "buffer holds 18 bytes, shape needs 27");
	hostile("negative_dim.fb", p_neg_dim, "dimension -7");
	hostile("scale_count.fb", p_scales, "2 scales but 1 zero points");
	hostile("tensor_index.fb", p_tensor_idx, "refers to tensor 99");
	hostile("opcode_index.fb", p_opcode, "opcode index 5");
	hostile("buffer_index.fb", p_buffer, "buffer that does not exist");
	hostile("name_length.fb", p_name, "vector longer than the file");
	hostile("version.fb", p_version, "schema version 2");
}

static void test_every_truncation_refused(void **state)
{
	(void)state;
	struct fbb f;
	struct tiny k;
	build_tiny(&f, &k);
	for (size_t n = 0; n < f.n; n++) {
		struct aed_tflite *m = NULL;
		int rc = aed_tflite_parse(f.b, n, "cut.tflite", &m);
		if (rc != AED_EFORMAT)
			fail_msg("truncated to %zu of %zu bytes: rc %d", n, f.n, rc);
		assert_non_null(strstr(aed_last_error(), "cut.tflite"));
	}
}

/* Random byte flips: parse may succeed or fail, but must not crash, and what
 * it accepts must be safe to use. */
static void test_corruption_never_crashes(void **state)
{
	(void)state;
	struct fbb f;
	struct tiny k;
	uint32_t seed = 12345;
	for (int it = 0; it < 20000; it++) {
		build_tiny(&f, &k);
		int flips = 1 + it % 4;
		for (int j = 0; j < flips; j++) {
			seed = seed * 1103515245u + 12345u;
			size_t pos = (seed >> 8) % f.n;
			seed = seed * 1103515245u + 12345u;
			f.b[pos] ^= (uint8_t)(1u << ((seed >> 16) & 7));
		}
		struct aed_tflite *m = NULL;
		if (aed_tflite_parse(f.b, f.n, "flip", &m) == AED_OK) {
			for (int t = 0; t < m->ntensors; t++) {
				float *v;
				size_t n;
				if (aed_tflite_tensor_f32(m, t, &v, &n) == AED_OK)
					free(v);
			}
			struct aed_yamnet *y = NULL;
			assert_int_not_equal(aed_yamnet_from_tflite(m, "flip", &y), AED_OK);
			aed_tflite_free(&m);
		}
	}
}

static void *read_all(const char *path, size_t *n)
{
	char *data;
	if (aed_read_file(path, 1 << 30, &data, n) != AED_OK)
		return NULL;
	return data;
}

static void test_real_model(void **state)
{
	(void)state;
	struct aed_tflite *m = NULL;
	int rc = aed_tflite_load(model_path(), &m);
	if (rc == AED_ENOTFOUND)
		skip();
	assert_int_equal(rc, AED_OK);
	assert_int_equal(m->ntensors, 135);
	assert_int_equal(m->nops, 60);
	assert_int_equal(m->ninputs, 1);
	assert_int_equal(m->noutputs, 2);
	int t = aed_tflite_find(m, "yamnet_frames/dense/MatMul");
	assert_true(t >= 0);
	const struct aed_tfl_tensor *d = &m->tensors[t];
	assert_int_equal(d->type, AED_TFL_INT8);
	assert_int_equal(d->ndim, 2);
	assert_int_equal(d->shape[0], 521);
	assert_int_equal(d->shape[1], 1024);
	assert_int_equal(d->nbytes, 521 * 1024);
	assert_int_equal(d->nscale, 1);
	/* Dequantisation done here from the raw bytes equals the reader's. */
	float *v;
	size_t n;
	assert_int_equal(aed_tflite_tensor_f32(m, t, &v, &n), AED_OK);
	for (size_t i = 0; i < n; i++)
		assert_true(v[i] == (float)(int8_t)d->data[i] * d->scale[0]);
	free(v);
	/* layer1's conv: CONV_2D, SAME, stride 2, fused ReLU. */
	int convs = 0, dws = 0;
	for (int i = 0; i < m->nops; i++) {
		convs += m->ops[i].code == AED_TFL_OP_CONV_2D;
		dws += m->ops[i].code == AED_TFL_OP_DEPTHWISE_CONV_2D;
	}
	assert_int_equal(convs, 14);
	assert_int_equal(dws, 13);

	/* Every truncation of the real file is refused (sampled lengths). */
	size_t size;
	uint8_t *raw = read_all(model_path(), &size);
	assert_non_null(raw);
	for (size_t cut = 0; cut < size; cut += cut < 4096 ? 7 : 65521) {
		struct aed_tflite *x = NULL;
		struct aed_yamnet *y = NULL;
		if (aed_tflite_parse(raw, cut, "cut", &x) == AED_OK) {
			/* only unreferenced trailing bytes were cut: what parses
			 * must be safe to map */
			aed_yamnet_from_tflite(x, "cut", &y);
			aed_yamnet_free(&y);
			aed_tflite_free(&x);
		}
	}
	free(raw);
	aed_tflite_free(&m);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_tiny_reads_back),
		cmocka_unit_test(test_hostile_refused),
		cmocka_unit_test(test_every_truncation_refused),
		cmocka_unit_test(test_corruption_never_crashes),
		cmocka_unit_test(test_real_model),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
