/* npy.c - NumPy .npy writer (v1.0) and a strict, bounds-checked reader.
 * The byte layout is documented in include/aedcurate/npy.h. */
#include <ctype.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "aedcurate/error.h"
#include "aedcurate/npy.h"
#include "aedcurate/util.h"

#define NPY_MAGIC "\x93NUMPY"
#define NPY_ALIGN 64
#define NPY_MAX_HEADER 65535u /* what a v1.0 uint16 header length can hold */

static const char *descr_of(enum aed_dtype t)
{
	switch (t) {
	case AED_F32: return "<f4";
	case AED_I16: return "<i2";
	case AED_U8: return "|u1";
	}
	return NULL;
}

static size_t elem_size(enum aed_dtype t)
{
	return t == AED_F32 ? 4 : t == AED_I16 ? 2 : 1;
}

int aed_npy_encode(enum aed_dtype dtype, int ndim, const int64_t *dims, const void *data,
		   struct aed_buf *out)
{
	char shape[128];
	size_t off = 0, count = 1;
	const char *descr = descr_of(dtype);
	int rc;

	if (!descr || ndim < 1 || ndim > AED_NPY_MAX_DIMS)
		return aed_error(AED_EUSAGE, "npy: unsupported dtype %d or %d dimensions", (int)dtype, ndim);
	for (int i = 0; i < ndim; i++) {
		if (dims[i] < 0 || (dims[i] > 0 && count > SIZE_MAX / 8 / (size_t)dims[i]))
			return aed_error(AED_EUSAGE, "npy: bad dimension %" PRId64, dims[i]);
		count *= (size_t)dims[i];
		off += (size_t)snprintf(shape + off, sizeof shape - off, "%s%" PRId64, i ? ", " : "", dims[i]);
	}
	if (ndim == 1)
		snprintf(shape + off, sizeof shape - off, ",");
	char header[256];
	int h = snprintf(header, sizeof header, "{'descr': '%s', 'fortran_order': False, 'shape': (%s), }",
			 descr, shape);
	/* pad with spaces so that magic(6) + version(2) + len(2) + header ends on 64 */
	size_t total = 10 + (size_t)h + 1;
	size_t pad = (NPY_ALIGN - total % NPY_ALIGN) % NPY_ALIGN;
	uint16_t hlen = (uint16_t)(h + pad + 1);
	unsigned char pre[10] = { 0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0, (unsigned char)(hlen & 0xFF),
				  (unsigned char)(hlen >> 8) };
	if ((rc = aed_buf_append(out, pre, sizeof pre)) || (rc = aed_buf_append(out, header, (size_t)h)))
		return rc;
	for (size_t i = 0; i < pad; i++)
		if ((rc = aed_buf_append(out, " ", 1)))
			return rc;
	if ((rc = aed_buf_append(out, "\n", 1)))
		return rc;
	return count ? aed_buf_append(out, data, count * elem_size(dtype)) : AED_OK;
}

int aed_npy_write(const char *path, enum aed_dtype dtype, int ndim, const int64_t *dims,
		  const void *data)
{
	struct aed_buf b = { 0 };
	int rc = aed_npy_encode(dtype, ndim, dims, data, &b);
	if (rc == AED_OK)
		rc = aed_write_file_atomic(path, b.data, b.len);
	if (rc)
		aed_error_prefix(rc, "%s", path);
	aed_buf_release(&b);
	return rc;
}

int aed_npy_write_f32(const char *path, const float *data, int ndim, const int64_t *dims)
{
	return aed_npy_write(path, AED_F32, ndim, dims, data);
}

/* --- reader ------------------------------------------------------------------ */

struct cursor {
	const char *p, *end;
};

static void skip_ws(struct cursor *c)
{
	while (c->p < c->end && (*c->p == ' ' || *c->p == '\t'))
		c->p++;
}

static int eat(struct cursor *c, char ch)
{
	skip_ws(c);
	if (c->p < c->end && *c->p == ch) {
		c->p++;
		return 1;
	}
	return 0;
}

/* A quoted Python string literal without escapes: 'abc' or "abc". */
static int quoted(struct cursor *c, char *buf, size_t cap)
{
	skip_ws(c);
	if (c->p >= c->end || (*c->p != '\'' && *c->p != '"'))
		return 0;
	char q = *c->p++;
	size_t n = 0;
	while (c->p < c->end && *c->p != q) {
		if (n + 1 >= cap || *c->p == '\\')
			return 0;
		buf[n++] = *c->p++;
	}
	if (c->p >= c->end)
		return 0;
	c->p++;
	buf[n] = '\0';
	return 1;
}

static int word(struct cursor *c, const char *w)
{
	skip_ws(c);
	size_t n = strlen(w);
	if ((size_t)(c->end - c->p) >= n && memcmp(c->p, w, n) == 0) {
		c->p += n;
		return 1;
	}
	return 0;
}

int aed_npy_parse(const char *name, const void *buf, size_t n, struct aed_npy *out)
{
	const unsigned char *b = buf;
	size_t hlen, hstart;
	char key[32], descr[16];
	int have_descr = 0, have_order = 0, have_shape = 0;

	memset(out, 0, sizeof *out);
	if (n < 10 || memcmp(b, NPY_MAGIC, 6) != 0)
		return aed_error(AED_EFORMAT, "%s: not a .npy file (no \\x93NUMPY magic)", name);
	if (b[6] == 1) {
		hlen = (size_t)b[8] | (size_t)b[9] << 8;
		hstart = 10;
	} else if (b[6] == 2 || b[6] == 3) {
		if (n < 12)
			return aed_error(AED_EFORMAT, "%s: truncated .npy header", name);
		hlen = (size_t)b[8] | (size_t)b[9] << 8 | (size_t)b[10] << 16 | (size_t)b[11] << 24;
		hstart = 12;
	} else {
		return aed_error(AED_EFORMAT, "%s: unsupported .npy version %u.%u", name, b[6], b[7]);
	}
	if (hlen > n - hstart)
		return aed_error(AED_EFORMAT, "%s: header length %zu runs past the end (%zu bytes)", name, hlen, n);
	struct cursor c = { (const char *)b + hstart, (const char *)b + hstart + hlen };
	if (!eat(&c, '{'))
		return aed_error(AED_EFORMAT, "%s: header is not a dict", name);
	out->ndim = 0;
	while (!eat(&c, '}')) {
		if (!quoted(&c, key, sizeof key) || !eat(&c, ':'))
			return aed_error(AED_EFORMAT, "%s: bad key in header", name);
		if (strcmp(key, "descr") == 0 && !have_descr) {
			if (!quoted(&c, descr, sizeof descr))
				return aed_error(AED_EFORMAT, "%s: bad descr", name);
			have_descr = 1;
		} else if (strcmp(key, "fortran_order") == 0 && !have_order) {
			if (word(&c, "True"))
				return aed_error(AED_EFORMAT, "%s: Fortran-order arrays are not supported", name);
			if (!word(&c, "False"))
				return aed_error(AED_EFORMAT, "%s: bad fortran_order", name);
			have_order = 1;
		} else if (strcmp(key, "shape") == 0 && !have_shape) {
			if (!eat(&c, '('))
				return aed_error(AED_EFORMAT, "%s: bad shape", name);
			while (!eat(&c, ')')) {
				skip_ws(&c);
				int64_t v = 0;
				int digits = 0;
				while (c.p < c.end && isdigit((unsigned char)*c.p)) {
					if (v > (INT64_MAX - 9) / 10)
						return aed_error(AED_EFORMAT, "%s: shape value too large", name);
					v = v * 10 + (*c.p++ - '0');
					digits++;
				}
				if (!digits || out->ndim >= AED_NPY_MAX_DIMS)
					return aed_error(AED_EFORMAT, "%s: bad shape (at most %d dimensions)", name,
							 AED_NPY_MAX_DIMS);
				out->dims[out->ndim++] = v;
				if (!eat(&c, ',')) {
					if (!eat(&c, ')'))
						return aed_error(AED_EFORMAT, "%s: bad shape", name);
					break;
				}
			}
			have_shape = 1;
		} else {
			return aed_error(AED_EFORMAT, "%s: unexpected or repeated header key '%s'", name, key);
		}
		if (!eat(&c, ',')) {
			if (!eat(&c, '}'))
				return aed_error(AED_EFORMAT, "%s: bad header dict", name);
			break;
		}
	}
	while (c.p < c.end && (*c.p == ' ' || *c.p == '\n' || *c.p == '\0'))
		c.p++;
	if (c.p != c.end)
		return aed_error(AED_EFORMAT, "%s: junk after the header dict", name);
	if (!have_descr || !have_order || !have_shape)
		return aed_error(AED_EFORMAT, "%s: header lacks descr, fortran_order or shape", name);
	if (out->ndim < 1)
		return aed_error(AED_EFORMAT, "%s: 0-dimensional arrays are not supported", name);
	if (strcmp(descr, "<f4") == 0)
		out->dtype = AED_F32;
	else if (strcmp(descr, "<i2") == 0)
		out->dtype = AED_I16;
	else if (strcmp(descr, "|u1") == 0 || strcmp(descr, "<u1") == 0)
		out->dtype = AED_U8;
	else
		return aed_error(AED_EFORMAT, "%s: unsupported dtype '%s'", name, descr);
	size_t count = 1, size = elem_size(out->dtype);
	for (int i = 0; i < out->ndim; i++) {
		if (out->dims[i] > 0 && count > (SIZE_MAX / size) / (uint64_t)out->dims[i])
			return aed_error(AED_EFORMAT, "%s: shape overflows", name);
		count *= (size_t)out->dims[i];
	}
	for (int i = out->ndim; i < AED_NPY_MAX_DIMS; i++)
		out->dims[i] = 1;
	size_t data_off = hstart + hlen;
	if (count * size != n - data_off)
		return aed_error(AED_EFORMAT, "%s: data is %zu bytes, shape needs %zu", name, n - data_off,
				 count * size);
	out->data = b + data_off;
	out->nbytes = count * size;
	return AED_OK;
}

int aed_npy_read(const char *path, size_t max_bytes, struct aed_npy *out, void **owner)
{
	char *data = NULL;
	size_t n = 0;
	*owner = NULL;
	int rc = aed_read_file(path, max_bytes, &data, &n);
	if (rc)
		return rc;
	rc = aed_npy_parse(path, data, n, out);
	if (rc) {
		free(data);
		return rc;
	}
	*owner = data;
	return AED_OK;
}
