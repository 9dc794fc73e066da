/* fuzz_npy.c - libFuzzer target for the .npy reader: any bytes must give
 * AED_OK with data inside the input, or a format error; never a crash. A
 * parsed array is re-encoded and must parse back to the same shape. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "aedcurate/error.h"
#include "aedcurate/npy.h"
#include "aedcurate/util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct aed_npy a, b;
	if (aed_npy_parse("fuzz", data, size, &a) != AED_OK)
		return 0;
	const uint8_t *p = a.data;
	if (p < data || p + a.nbytes != data + size)
		abort();
	uint8_t sum = 0; /* touch every byte the reader claims */
	for (size_t i = 0; i < a.nbytes; i++)
		sum ^= p[i];
	if (a.nbytes == 1 && sum != p[0])
		abort();
	struct aed_buf out = { 0 };
	if (aed_npy_encode(a.dtype, a.ndim, a.dims, a.data, &out) == AED_OK) {
		if (aed_npy_parse("re-encoded", out.data, out.len, &b) != AED_OK || b.ndim != a.ndim ||
		    memcmp(b.dims, a.dims, sizeof a.dims) != 0 || b.nbytes != a.nbytes)
			abort();
	}
	aed_buf_release(&out);
	return 0;
}
