/* strmap.c - a string -> index hash map (contract in
 * include/aedcurate/strmap.h). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "aedcurate/error.h"
#include "aedcurate/strmap.h"
#include "aedcurate/util.h"

int aed_strmap_init(struct aed_strmap *m, size_t n)
{
	m->cap = 16;
	while (m->cap < 2 * n + 1)
		m->cap <<= 1;
	m->keys = calloc(m->cap, sizeof *m->keys);
	m->vals = calloc(m->cap, sizeof *m->vals);
	if (!m->keys || !m->vals)
		return aed_error(AED_ENOMEM, "out of memory for a map of %zu names", n);
	return AED_OK;
}

void aed_strmap_release(struct aed_strmap *m)
{
	free(m->keys);
	free(m->vals);
	memset(m, 0, sizeof *m);
}

/* Insert key -> val; if the key is present returns 0 and its value in *old. */
int aed_strmap_put(struct aed_strmap *m, const char *key, size_t val, size_t *old)
{
	size_t i = aed_fnv1a64_str(key) & (m->cap - 1);

	while (m->keys[i]) {
		if (strcmp(m->keys[i], key) == 0) {
			*old = m->vals[i];
			return 0;
		}
		i = (i + 1) & (m->cap - 1);
	}
	m->keys[i] = key;
	m->vals[i] = val;
	return 1;
}

int aed_strmap_get(const struct aed_strmap *m, const char *key, size_t *val)
{
	size_t i;

	if (!m->cap)
		return 0;
	for (i = aed_fnv1a64_str(key) & (m->cap - 1); m->keys[i]; i = (i + 1) & (m->cap - 1))
		if (strcmp(m->keys[i], key) == 0) {
			*val = m->vals[i];
			return 1;
		}
	return 0;
}
