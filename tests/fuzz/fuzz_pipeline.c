/* fuzz_pipeline.c - libFuzzer target for the pipeline file parser. */
#include <stddef.h>
#include <stdint.h>

#include "aedcurate/pipeline.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct aed_pipeline *p = NULL;
	aed_pipeline_parse((const char *)data, size, "fuzz", NULL, NULL, &p);
	aed_pipeline_free(&p);
	return 0;
}
