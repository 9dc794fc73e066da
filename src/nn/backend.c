/* backend.c - the table of neural-network backends. A CUDA backend adds one
 * row here (under its build flag); stage code only ever calls aed_nn_backend(). */
#include "aedcurate/nn.h"

#include <string.h>

static const struct aed_nn_backend_ops *const backends[] = {
	&aed_nn_cpu_ops,
};

const struct aed_nn_backend_ops *aed_nn_backend(const char *name)
{
	if (!name || !*name)
		return backends[0];
	for (size_t i = 0; i < sizeof backends / sizeof backends[0]; i++)
		if (strcmp(backends[i]->name, name) == 0)
			return backends[i];
	return NULL;
}
