/* strmap.h - an open-addressing hash map from a string to an index (FNV-1a,
 * linear probing), sized once for the number of keys it will hold. Used to
 * find duplicate and dangling ids in the ontology and label files and, when
 * the ontology is stored, to match database rows to the parsed classes.
 *
 * Ownership: keys are borrowed (they must outlive the map); the map's arrays
 * are released by aed_strmap_release(). Nothing here knows about the
 * database or audio.
 */
#ifndef AEDCURATE_STRMAP_H
#define AEDCURATE_STRMAP_H

#include <stddef.h>

struct aed_strmap {
	const char **keys;
	size_t *vals;
	size_t cap; /* power of two */
};

/* Room for n keys (the table is kept at most half full). AED_ENOMEM on
 * failure; release the map either way. */
int aed_strmap_init(struct aed_strmap *m, size_t n);
void aed_strmap_release(struct aed_strmap *m);

/* Insert key -> val; if the key is present returns 0 and its value in *old,
 * else 1. The map must have room (aed_strmap_init with enough keys). */
int aed_strmap_put(struct aed_strmap *m, const char *key, size_t val, size_t *old);

/* 1 and *val when key is present, else 0 (also for a map never initialised). */
int aed_strmap_get(const struct aed_strmap *m, const char *key, size_t *val);

#endif
