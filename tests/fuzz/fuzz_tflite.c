/* fuzz_tflite.c - libFuzzer target for the TFLite reader and the YAMNet
 * mapping on top of it: any input must be refused with a message or read
 * safely (every accepted tensor dequantised, the mapping tried). */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "aedcurate/nn.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct aed_tflite *m = NULL;
	struct aed_yamnet *y = NULL;
	if (aed_tflite_parse(data, size, "fuzz", &m) != 0)
		return 0;
	for (int t = 0; t < m->ntensors; t++) {
		float *v;
		size_t n;
		if (m->tensors[t].data && aed_tflite_tensor_f32(m, t, &v, &n) == 0)
			free(v);
	}
	aed_yamnet_from_tflite(m, "fuzz", &y);
	aed_yamnet_free(&y);
	aed_tflite_free(&m);
	return 0;
}
