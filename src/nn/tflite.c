/* tflite.c - a bounds-checked reader for the subset of the TFLite flatbuffer
 * schema documented in nn.h. It reads structure and constant data only; it
 * does not run graphs. Every read goes through fb_* helpers that check the
 * offset against the image size first, so a hostile file gives a message. */
#include "aedcurate/nn.h"
#include "aedcurate/error.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_FILE ((size_t)1 << 30)
#define MAX_TENSORS 100000
#define MAX_OPS 100000
#define MAX_IO 1024

struct fb {
	const uint8_t *p;
	size_t n;
	const char *what;
};

struct fb_table {
	size_t pos;     /* table start */
	size_t vt;      /* vtable start */
	uint16_t vtlen; /* vtable bytes */
	uint16_t tlen;  /* table bytes */
};

static int fb_bad(const struct fb *b, const char *msg, size_t at)
{
	return aed_error(AED_EFORMAT, "%s: not a valid TFLite model: %s (at byte %zu of %zu)",
			 b->what, msg, at, b->n);
}

static int fb_range(const struct fb *b, size_t pos, size_t len)
{
	return pos <= b->n && len <= b->n - pos;
}

static uint32_t rd32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint16_t rd16(const uint8_t *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

static uint64_t rd64(const uint8_t *p)
{
	return (uint64_t)rd32(p) | (uint64_t)rd32(p + 4) << 32;
}

static int fb_table_at(const struct fb *b, size_t pos, struct fb_table *t)
{
	if (!fb_range(b, pos, 4))
		return fb_bad(b, "table offset out of range", pos);
	int64_t vt = (int64_t)pos - (int32_t)rd32(b->p + pos);
	if (vt < 0 || !fb_range(b, (size_t)vt, 4))
		return fb_bad(b, "vtable offset out of range", pos);
	t->pos = pos;
	t->vt = (size_t)vt;
	t->vtlen = rd16(b->p + vt);
	t->tlen = rd16(b->p + vt + 2);
	if (t->vtlen < 4 || (t->vtlen & 1) || !fb_range(b, t->vt, t->vtlen))
		return fb_bad(b, "bad vtable size", t->vt);
	if (t->tlen < 4 || !fb_range(b, pos, t->tlen))
		return fb_bad(b, "bad table size", pos);
	return AED_OK;
}

/* Position of field `id` inside the file, or 0 if absent; checks that `size`
 * bytes of it lie inside both the table and the file. */
static int fb_field(const struct fb *b, const struct fb_table *t, int id, size_t size,
		    size_t *at)
{
	size_t o = 4 + 2 * (size_t)id;
	*at = 0;
	if (o + 2 > t->vtlen)
		return AED_OK;
	uint16_t off = rd16(b->p + t->vt + o);
	if (off == 0)
		return AED_OK;
	if ((size_t)off + size > t->tlen || !fb_range(b, t->pos + off, size))
		return fb_bad(b, "field outside its table", t->pos + off);
	*at = t->pos + off;
	return AED_OK;
}

static int fb_u32(const struct fb *b, const struct fb_table *t, int id, uint32_t def, uint32_t *v)
{
	size_t at;
	int rc = fb_field(b, t, id, 4, &at);
	*v = rc || !at ? def : rd32(b->p + at);
	return rc;
}

static int fb_i32(const struct fb *b, const struct fb_table *t, int id, int32_t def, int32_t *v)
{
	uint32_t u;
	int rc = fb_u32(b, t, id, (uint32_t)def, &u);
	*v = (int32_t)u;
	return rc;
}

static int fb_u8(const struct fb *b, const struct fb_table *t, int id, uint8_t def, uint8_t *v)
{
	size_t at;
	int rc = fb_field(b, t, id, 1, &at);
	*v = rc || !at ? def : b->p[at];
	return rc;
}

static int fb_u64(const struct fb *b, const struct fb_table *t, int id, uint64_t *v)
{
	size_t at;
	int rc = fb_field(b, t, id, 8, &at);
	*v = rc || !at ? 0 : rd64(b->p + at);
	return rc;
}

/* Follow the offset stored in field `id`: *target = 0 if absent. */
static int fb_ref(const struct fb *b, const struct fb_table *t, int id, size_t *target)
{
	size_t at;
	int rc = fb_field(b, t, id, 4, &at);
	*target = 0;
	if (rc || !at)
		return rc;
	uint32_t off = rd32(b->p + at);
	if (off == 0 || !fb_range(b, at + off, 4))
		return fb_bad(b, "reference out of range", at);
	*target = at + off;
	return AED_OK;
}

/* A vector in field `id`: *count elements of elem_size bytes at *data. */
static int fb_vector(const struct fb *b, const struct fb_table *t, int id, size_t elem_size,
		     size_t *data, size_t *count)
{
	size_t v;
	int rc = fb_ref(b, t, id, &v);
	*data = 0;
	*count = 0;
	if (rc || !v)
		return rc;
	uint32_t len = rd32(b->p + v);
	if (elem_size && len > (b->n - v - 4) / elem_size)
		return fb_bad(b, "vector longer than the file", v);
	*data = v + 4;
	*count = len;
	return AED_OK;
}

/* Table number i of a vector of tables starting at data. */
static int fb_vec_table(const struct fb *b, size_t data, size_t i, struct fb_table *t)
{
	size_t at = data + 4 * i;
	uint32_t off = rd32(b->p + at);
	if (off == 0 || !fb_range(b, at + off, 4))
		return fb_bad(b, "table reference out of range", at);
	return fb_table_at(b, at + off, t);
}

static int fb_string(const struct fb *b, const struct fb_table *t, int id, char **s)
{
	size_t data, len;
	int rc = fb_vector(b, t, id, 1, &data, &len);
	*s = NULL;
	if (rc)
		return rc;
	*s = malloc(len + 1);
	if (!*s)
		return aed_error(AED_ENOMEM, "%s: out of memory", b->what);
	if (len)
		memcpy(*s, b->p + data, len);
	(*s)[len] = 0;
	return AED_OK;
}

static int fb_i32_vector(const struct fb *b, const struct fb_table *t, int id, size_t max,
			 int32_t **v, int *n)
{
	size_t data, len;
	int rc = fb_vector(b, t, id, 4, &data, &len);
	*v = NULL;
	*n = 0;
	if (rc)
		return rc;
	if (len > max)
		return fb_bad(b, "index vector too long", data);
	*v = malloc((len ? len : 1) * sizeof **v);
	if (!*v)
		return aed_error(AED_ENOMEM, "%s: out of memory", b->what);
	for (size_t i = 0; i < len; i++)
		(*v)[i] = (int32_t)rd32(b->p + data + 4 * i);
	*n = (int)len;
	return AED_OK;
}

static size_t type_size(int type)
{
	switch (type) {
	case AED_TFL_FLOAT32: case AED_TFL_INT32: return 4;
	case AED_TFL_FLOAT16: case AED_TFL_INT16: return 2;
	case AED_TFL_UINT8: case AED_TFL_INT8: case AED_TFL_BOOL: return 1;
	case AED_TFL_INT64: return 8;
	default: return 0;
	}
}

size_t aed_tflite_numel(const struct aed_tfl_tensor *t)
{
	size_t n = 1;
	for (int i = 0; i < t->ndim; i++)
		n *= (size_t)(t->shape[i] > 0 ? t->shape[i] : 0);
	return n;
}

/* Buffer number idx: where its bytes are. */
static int read_buffer(const struct fb *b, size_t bufs, size_t nbufs, uint32_t idx,
		       const uint8_t **data, size_t *nbytes)
{
	struct fb_table bt;
	size_t d, len;
	uint64_t off, size;
	int rc;

	*data = NULL;
	*nbytes = 0;
	if (idx >= nbufs)
		return fb_bad(b, "tensor names a buffer that does not exist", bufs);
	if ((rc = fb_vec_table(b, bufs, idx, &bt)) || (rc = fb_vector(b, &bt, 0, 1, &d, &len)))
		return rc;
	if (len) {
		*data = b->p + d;
		*nbytes = len;
		return AED_OK;
	}
	if ((rc = fb_u64(b, &bt, 1, &off)) || (rc = fb_u64(b, &bt, 2, &size)))
		return rc;
	if (off > 1 && size) {
		if (off > b->n || size > b->n - off)
			return fb_bad(b, "buffer offset/size outside the file", bt.pos);
		*data = b->p + off;
		*nbytes = (size_t)size;
	}
	return AED_OK;
}

static int read_tensor(const struct fb *b, struct fb_table *tt, size_t bufs, size_t nbufs,
		       int index, struct aed_tfl_tensor *t)
{
	size_t data, len;
	uint8_t type;
	uint32_t buf;
	int rc;

	if ((rc = fb_string(b, tt, 3, &t->name)))
		return rc;
	if ((rc = fb_vector(b, tt, 0, 4, &data, &len)))
		return rc;
	if (len > AED_TFL_MAX_DIMS)
		return aed_error(AED_EFORMAT, "%s: tensor %d (%s) has %zu dimensions (at most %d)",
				 b->what, index, t->name, len, AED_TFL_MAX_DIMS);
	t->ndim = (int)len;
	size_t numel = 1;
	for (size_t i = 0; i < len; i++) {
		t->shape[i] = (int32_t)rd32(b->p + data + 4 * i);
		if (t->shape[i] < -1 || t->shape[i] > (1 << 28))
			return aed_error(AED_EFORMAT, "%s: tensor %d (%s) has dimension %d",
					 b->what, index, t->name, (int)t->shape[i]);
		if (t->shape[i] > 0) {
			if (numel > ((size_t)1 << 40) / (size_t)t->shape[i])
				return aed_error(AED_EFORMAT, "%s: tensor %d (%s) is too large",
						 b->what, index, t->name);
			numel *= (size_t)t->shape[i];
		}
	}
	if ((rc = fb_u8(b, tt, 1, 0, &type)) || (rc = fb_u32(b, tt, 2, 0, &buf)))
		return rc;
	t->type = (int8_t)type;
	if ((rc = read_buffer(b, bufs, nbufs, buf, &t->data, &t->nbytes)))
		return rc;
	if (t->data) {
		size_t es = type_size(t->type);
		if (!es)
			return aed_error(AED_EFORMAT, "%s: tensor %d (%s) has constant data of unsupported type %d",
					 b->what, index, t->name, t->type);
		for (int i = 0; i < t->ndim; i++)
			if (t->shape[i] < 0)
				return aed_error(AED_EFORMAT, "%s: constant tensor %d (%s) has a dynamic dimension",
						 b->what, index, t->name);
		if (numel * es != t->nbytes)
			return aed_error(AED_EFORMAT,
					 "%s: tensor %d (%s): buffer holds %zu bytes, shape needs %zu",
					 b->what, index, t->name, t->nbytes, numel * es);
	}

	size_t q;
	if ((rc = fb_ref(b, tt, 4, &q)))
		return rc;
	if (q) {
		struct fb_table qt;
		size_t sd, sn, zd, zn;
		int32_t qdim;
		if ((rc = fb_table_at(b, q, &qt)) || (rc = fb_vector(b, &qt, 2, 4, &sd, &sn)) ||
		    (rc = fb_vector(b, &qt, 3, 8, &zd, &zn)) || (rc = fb_i32(b, &qt, 6, 0, &qdim)))
			return rc;
		if (zn && zn != sn)
			return aed_error(AED_EFORMAT, "%s: tensor %d (%s): %zu scales but %zu zero points",
					 b->what, index, t->name, sn, zn);
		if (sn > 1 && (qdim < 0 || qdim >= t->ndim || (size_t)t->shape[qdim] != sn))
			return aed_error(AED_EFORMAT,
					 "%s: tensor %d (%s): %zu per-channel scales do not match dimension %d",
					 b->what, index, t->name, sn, (int)qdim);
		if (sn) {
			t->scale = malloc(sn * sizeof *t->scale);
			t->zero_point = calloc(sn, sizeof *t->zero_point);
			if (!t->scale || !t->zero_point)
				return aed_error(AED_ENOMEM, "%s: out of memory", b->what);
			for (size_t i = 0; i < sn; i++) {
				uint32_t u = rd32(b->p + sd + 4 * i);
				memcpy(&t->scale[i], &u, 4);
				if (!isfinite(t->scale[i]))
					return aed_error(AED_EFORMAT, "%s: tensor %d (%s): scale is not finite",
							 b->what, index, t->name);
				if (zn)
					t->zero_point[i] = (int64_t)rd64(b->p + zd + 8 * i);
			}
			t->nscale = (int)sn;
			t->qdim = qdim;
		}
	}
	return AED_OK;
}

static int read_op(const struct fb *b, struct fb_table *ot, const int32_t *opcodes, size_t nopcodes,
		   int ntensors, int index, struct aed_tfl_op *op)
{
	uint32_t oi;
	uint8_t otype;
	size_t opts;
	int rc;

	if ((rc = fb_u32(b, ot, 0, 0, &oi)))
		return rc;
	if (oi >= nopcodes)
		return aed_error(AED_EFORMAT, "%s: operator %d uses opcode index %u of %zu",
				 b->what, index, oi, nopcodes);
	op->code = opcodes[oi];
	if ((rc = fb_i32_vector(b, ot, 1, MAX_IO, &op->inputs, &op->ninputs)) ||
	    (rc = fb_i32_vector(b, ot, 2, MAX_IO, &op->outputs, &op->noutputs)))
		return rc;
	for (int i = 0; i < op->ninputs + op->noutputs; i++) {
		int32_t x = i < op->ninputs ? op->inputs[i] : op->outputs[i - op->ninputs];
		if (x < -1 || x >= ntensors || (x == -1 && i >= op->ninputs))
			return aed_error(AED_EFORMAT, "%s: operator %d (%s) refers to tensor %d of %d",
					 b->what, index, aed_tflite_op_name(op->code), (int)x, ntensors);
	}
	op->padding = AED_TFL_PAD_SAME;
	op->stride_w = op->stride_h = op->dilation_w = op->dilation_h = op->depth_multiplier = 1;
	op->activation = AED_TFL_ACT_NONE;
	if ((rc = fb_u8(b, ot, 3, 0, &otype)) || (rc = fb_ref(b, ot, 4, &opts)))
		return rc;
	op->options_type = otype;
	if (!opts)
		return AED_OK;
	struct fb_table t;
	uint8_t pad = 0, act = 0;
	int32_t sw = 1, sh = 1, dw = 1, dh = 1, dm = 1;
	if ((rc = fb_table_at(b, opts, &t)))
		return rc;
	switch (otype) {
	case 1: /* Conv2DOptions */
		if ((rc = fb_u8(b, &t, 0, 0, &pad)) || (rc = fb_i32(b, &t, 1, 0, &sw)) ||
		    (rc = fb_i32(b, &t, 2, 0, &sh)) || (rc = fb_u8(b, &t, 3, 0, &act)) ||
		    (rc = fb_i32(b, &t, 4, 1, &dw)) || (rc = fb_i32(b, &t, 5, 1, &dh)))
			return rc;
		break;
	case 2: /* DepthwiseConv2DOptions */
		if ((rc = fb_u8(b, &t, 0, 0, &pad)) || (rc = fb_i32(b, &t, 1, 0, &sw)) ||
		    (rc = fb_i32(b, &t, 2, 0, &sh)) || (rc = fb_i32(b, &t, 3, 0, &dm)) ||
		    (rc = fb_u8(b, &t, 4, 0, &act)) || (rc = fb_i32(b, &t, 5, 1, &dw)) ||
		    (rc = fb_i32(b, &t, 6, 1, &dh)))
			return rc;
		break;
	case 8: /* FullyConnectedOptions */
		if ((rc = fb_u8(b, &t, 0, 0, &act)))
			return rc;
		break;
	default:
		return AED_OK;
	}
	op->padding = pad;
	op->stride_w = sw;
	op->stride_h = sh;
	op->dilation_w = dw;
	op->dilation_h = dh;
	op->depth_multiplier = dm;
	op->activation = act;
	return AED_OK;
}

static int parse(const struct fb *b, struct aed_tflite *m)
{
	struct fb_table root, sg;
	size_t codes, ncodes, subgraphs, nsub, bufs, nbufs, tens, ntens, ops, nops;
	int32_t *opcodes = NULL;
	int rc;

	if (b->n < 8)
		return aed_error(AED_EFORMAT, "%s: not a TFLite model: %zu bytes is too short",
				 b->what, b->n);
	if (memcmp(b->p + 4, "TFL3", 4) != 0)
		return aed_error(AED_EFORMAT, "%s: not a TFLite model (no TFL3 identifier at byte 4)",
				 b->what);
	if ((rc = fb_table_at(b, rd32(b->p), &root)))
		return rc;
	if ((rc = fb_u32(b, &root, 0, 0, &m->version)))
		return rc;
	if (m->version != 3)
		return aed_error(AED_EFORMAT, "%s: TFLite schema version %u (expected 3)",
				 b->what, m->version);
	if ((rc = fb_vector(b, &root, 1, 4, &codes, &ncodes)) ||
	    (rc = fb_vector(b, &root, 2, 4, &subgraphs, &nsub)) ||
	    (rc = fb_vector(b, &root, 4, 4, &bufs, &nbufs)))
		return rc;
	if (nsub < 1)
		return aed_error(AED_EFORMAT, "%s: the model has no subgraph", b->what);

	opcodes = malloc((ncodes ? ncodes : 1) * sizeof *opcodes);
	if (!opcodes)
		return aed_error(AED_ENOMEM, "%s: out of memory", b->what);
	for (size_t i = 0; i < ncodes; i++) {
		struct fb_table ct;
		uint8_t dep;
		int32_t code;
		if ((rc = fb_vec_table(b, codes, i, &ct)) || (rc = fb_u8(b, &ct, 0, 0, &dep)) ||
		    (rc = fb_i32(b, &ct, 3, 0, &code)))
			goto out;
		opcodes[i] = (int8_t)dep > code ? (int8_t)dep : code;
	}

	if ((rc = fb_vec_table(b, subgraphs, 0, &sg)) ||
	    (rc = fb_vector(b, &sg, 0, 4, &tens, &ntens)) ||
	    (rc = fb_vector(b, &sg, 3, 4, &ops, &nops)))
		goto out;
	if (ntens > MAX_TENSORS || nops > MAX_OPS) {
		rc = aed_error(AED_EFORMAT, "%s: %zu tensors and %zu operators is more than supported",
			       b->what, ntens, nops);
		goto out;
	}
	m->tensors = calloc(ntens ? ntens : 1, sizeof *m->tensors);
	m->ops = calloc(nops ? nops : 1, sizeof *m->ops);
	if (!m->tensors || !m->ops) {
		rc = aed_error(AED_ENOMEM, "%s: out of memory", b->what);
		goto out;
	}
	for (size_t i = 0; i < ntens; i++) {
		struct fb_table tt;
		m->ntensors = (int)i + 1; /* so a partial tensor is freed */
		if ((rc = fb_vec_table(b, tens, i, &tt)) ||
		    (rc = read_tensor(b, &tt, bufs, nbufs, (int)i, &m->tensors[i])))
			goto out;
	}
	m->ntensors = (int)ntens;
	for (size_t i = 0; i < nops; i++) {
		struct fb_table ot;
		m->nops = (int)i + 1;
		if ((rc = fb_vec_table(b, ops, i, &ot)) ||
		    (rc = read_op(b, &ot, opcodes, ncodes, m->ntensors, (int)i, &m->ops[i])))
			goto out;
	}
	m->nops = (int)nops;
	if ((rc = fb_i32_vector(b, &sg, 1, MAX_IO, &m->inputs, &m->ninputs)) ||
	    (rc = fb_i32_vector(b, &sg, 2, MAX_IO, &m->outputs, &m->noutputs)))
		goto out;
	for (int i = 0; i < m->ninputs + m->noutputs; i++) {
		int32_t x = i < m->ninputs ? m->inputs[i] : m->outputs[i - m->ninputs];
		if (x < 0 || x >= m->ntensors) {
			rc = aed_error(AED_EFORMAT, "%s: graph input/output %d is not a tensor",
				       b->what, (int)x);
			goto out;
		}
	}
out:
	free(opcodes);
	return rc;
}

int aed_tflite_parse(const void *data, size_t n, const char *what, struct aed_tflite **out)
{
	struct aed_tflite *m = NULL;
	int rc;

	*out = NULL;
	if (n > MAX_FILE)
		return aed_error(AED_EFORMAT, "%s: %zu bytes is larger than a model may be", what, n);
	m = calloc(1, sizeof *m);
	if (!m || !(m->image = malloc(n ? n : 1))) {
		rc = aed_error(AED_ENOMEM, "%s: out of memory", what);
		goto out;
	}
	if (n)
		memcpy(m->image, data, n);
	m->size = n;
	struct fb b = { m->image, n, what };
	if ((rc = parse(&b, m)))
		goto out;
	*out = m;
	m = NULL;
out:
	aed_tflite_free(&m);
	return rc;
}

int aed_tflite_load(const char *path, struct aed_tflite **out)
{
	FILE *f = NULL;
	uint8_t *data = NULL;
	size_t n = 0, cap = 0;
	int rc;

	*out = NULL;
	f = fopen(path, "rb");
	if (!f) {
		rc = aed_error(errno == ENOENT ? AED_ENOTFOUND : AED_EIO, "%s: %s", path, strerror(errno));
		goto out;
	}
	for (;;) {
		if (n == cap) {
			if (cap >= MAX_FILE) {
				rc = aed_error(AED_EFORMAT, "%s: larger than a model may be (1 GiB)", path);
				goto out;
			}
			cap = cap ? 2 * cap : (1 << 22);
			uint8_t *p = realloc(data, cap);
			if (!p) {
				rc = aed_error(AED_ENOMEM, "%s: out of memory", path);
				goto out;
			}
			data = p;
		}
		size_t got = fread(data + n, 1, cap - n, f);
		n += got;
		if (got == 0) {
			if (ferror(f)) {
				rc = aed_error(AED_EIO, "%s: read error", path);
				goto out;
			}
			break;
		}
	}
	rc = aed_tflite_parse(data, n, path, out);
out:
	if (f)
		fclose(f);
	free(data);
	return rc;
}

void aed_tflite_free(struct aed_tflite **pm)
{
	struct aed_tflite *m = *pm;
	if (!m)
		return;
	for (int i = 0; i < m->ntensors; i++) {
		free(m->tensors[i].name);
		free(m->tensors[i].scale);
		free(m->tensors[i].zero_point);
	}
	for (int i = 0; i < m->nops; i++) {
		free(m->ops[i].inputs);
		free(m->ops[i].outputs);
	}
	free(m->tensors);
	free(m->ops);
	free(m->inputs);
	free(m->outputs);
	free(m->image);
	free(m);
	*pm = NULL;
}

int aed_tflite_find(const struct aed_tflite *m, const char *name)
{
	for (int i = 0; i < m->ntensors; i++)
		if (strcmp(m->tensors[i].name, name) == 0)
			return i;
	return -1;
}

static float half_to_float(uint16_t h)
{
	int e = (h >> 10) & 31, f = h & 1023;
	float v;
	if (e == 0)
		v = ldexpf((float)f, -24);
	else if (e == 31)
		v = f ? NAN : INFINITY;
	else
		v = ldexpf((float)(f | 1024), e - 25);
	return (h & 0x8000) ? -v : v;
}

int aed_tflite_tensor_f32(const struct aed_tflite *m, int ti, float **out, size_t *n)
{
	*out = NULL;
	*n = 0;
	if (ti < 0 || ti >= m->ntensors)
		return aed_error(AED_EINTERNAL, "tensor %d of %d", ti, m->ntensors);
	const struct aed_tfl_tensor *t = &m->tensors[ti];
	size_t numel = aed_tflite_numel(t);
	if (!t->data)
		return aed_error(AED_EFORMAT, "tensor %s has no constant data", t->name);
	float *v = malloc((numel ? numel : 1) * sizeof *v);
	if (!v)
		return aed_error(AED_ENOMEM, "tensor %s: out of memory", t->name);

	/* Per-channel scales: the channel of element i along qdim. */
	size_t inner = 1;
	for (int d = t->qdim + 1; d < t->ndim; d++)
		inner *= (size_t)t->shape[d];
	switch (t->type) {
	case AED_TFL_FLOAT32:
		for (size_t i = 0; i < numel; i++) {
			uint32_t u = rd32(t->data + 4 * i);
			memcpy(&v[i], &u, 4);
		}
		break;
	case AED_TFL_FLOAT16:
		for (size_t i = 0; i < numel; i++)
			v[i] = half_to_float(rd16(t->data + 2 * i));
		break;
	case AED_TFL_INT8:
	case AED_TFL_UINT8:
		if (t->nscale == 0) {
			free(v);
			return aed_error(AED_EFORMAT, "tensor %s is %s without quantisation scale",
					 t->name, t->type == AED_TFL_INT8 ? "int8" : "uint8");
		}
		for (size_t i = 0; i < numel; i++) {
			size_t c = t->nscale > 1 ? (i / inner) % (size_t)t->nscale : 0;
			int q = t->type == AED_TFL_INT8 ? (int)(int8_t)t->data[i] : (int)t->data[i];
			/* in double: a hostile zero point must not overflow an integer */
			v[i] = (float)(((double)q - (double)t->zero_point[c]) * t->scale[c]);
		}
		break;
	default:
		free(v);
		return aed_error(AED_EFORMAT, "tensor %s has type %d, not a float or int8 weight",
				 t->name, t->type);
	}
	*out = v;
	*n = numel;
	return AED_OK;
}

const char *aed_tflite_op_name(int code)
{
	static _Thread_local char buf[16];
	switch (code) {
	case AED_TFL_OP_CONV_2D: return "CONV_2D";
	case AED_TFL_OP_DEPTHWISE_CONV_2D: return "DEPTHWISE_CONV_2D";
	case AED_TFL_OP_DEQUANTIZE: return "DEQUANTIZE";
	case AED_TFL_OP_FULLY_CONNECTED: return "FULLY_CONNECTED";
	case AED_TFL_OP_LOGISTIC: return "LOGISTIC";
	case AED_TFL_OP_RESHAPE: return "RESHAPE";
	case AED_TFL_OP_MEAN: return "MEAN";
	default:
		snprintf(buf, sizeof buf, "op%d", code);
		return buf;
	}
}
