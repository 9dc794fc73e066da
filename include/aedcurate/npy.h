/* npy.h - NumPy .npy files: the writer behind `aedcurate dump` and a
 * bounds-checked reader (fuzzed by tests/fuzz/fuzz_npy.c).
 *
 * Layout (format version 1.0, what the writer emits):
 *   "\x93NUMPY" 0x01 0x00 | uint16 LE header length H | H bytes of ASCII
 *   "{'descr': '<f4', 'fortran_order': False, 'shape': (998, 64), }" padded
 *   with spaces and ending in '\n' so that 10 + H is a multiple of 64 | the
 *   array in C order, little-endian.
 * Version 2.0/3.0 differ only in a uint32 LE header length; the reader takes
 * them too. dtypes: '<f4' (AED_F32), '<i2' (AED_I16), '|u1' (AED_U8).
 * Shapes of 1 to 3 dimensions. Assumes a little-endian host.
 *
 * Ownership: aed_npy_parse() points out->data into the caller's buffer (no
 * copy); aed_npy_read() returns the whole file in *owner, freed with free().
 */
#ifndef AEDCURATE_NPY_H
#define AEDCURATE_NPY_H

#include <stddef.h>
#include <stdint.h>

#include "aedcurate/store.h" /* enum aed_dtype */
#include "aedcurate/util.h"  /* struct aed_buf */

#define AED_NPY_MAX_DIMS 3

struct aed_npy {
	enum aed_dtype dtype;
	int ndim;                       /* 1..3 */
	int64_t dims[AED_NPY_MAX_DIMS]; /* unused trailing dims are 1 */
	const void *data;               /* points into the parsed buffer */
	size_t nbytes;                  /* product(dims) * element size */
};

/* Append a whole .npy file (header and data) for the array to out. */
int aed_npy_encode(enum aed_dtype dtype, int ndim, const int64_t *dims, const void *data,
		   struct aed_buf *out);
/* Write path atomically (path.tmp, fsync, rename). */
int aed_npy_write(const char *path, enum aed_dtype dtype, int ndim, const int64_t *dims,
		  const void *data);
/* float32 [d0, d1(, d2)]. */
int aed_npy_write_f32(const char *path, const float *data, int ndim, const int64_t *dims);

/* Parse a .npy image of n bytes. Every length is checked against n; a bad
 * file gives AED_EFORMAT naming `name` (a path, or "input") and what is wrong.
 * Trailing bytes after the data are refused. */
int aed_npy_parse(const char *name, const void *buf, size_t n, struct aed_npy *out);
/* Read and parse a file of at most max_bytes. */
int aed_npy_read(const char *path, size_t max_bytes, struct aed_npy *out, void **owner);

#endif
