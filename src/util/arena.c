/* arena.c - memory for bulk loaders (arena.h): an arena of stable strings,
 * a growable array and a string -> int64 hash map. The segment-list ingest
 * keeps every key, path and meta of a list here while it validates the rows,
 * before one transaction writes them. Knows nothing about segments. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "aedcurate/arena.h"
#include "aedcurate/error.h"

char *aed_arena_alloc(struct aed_arena *a, size_t n)
{
	struct aed_arena_block *b = a->head;

	if (!b || b->cap - b->used < n) {
		size_t cap = n > (1u << 20) ? n : (1u << 20);

		b = malloc(sizeof *b + cap);
		if (!b)
			return NULL;
		b->used = 0;
		b->cap = cap;
		b->next = a->head;
		a->head = b;
	}
	b->used += n;
	return b->data + b->used - n;
}

char *aed_arena_strndup(struct aed_arena *a, const char *s, size_t n)
{
	char *p = aed_arena_alloc(a, n + 1);

	if (p) {
		memcpy(p, s, n);
		p[n] = 0;
	}
	return p;
}

void aed_arena_release(struct aed_arena *a)
{
	while (a->head) {
		struct aed_arena_block *b = a->head;

		a->head = b->next;
		free(b);
	}
}

/* --- string -> int64 open-addressing hash map ------------------------------ */

static uint32_t hash_bytes(const char *s, size_t n, int fold)
{
	uint64_t h = 1469598103934665603ull;

	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		if (fold && c >= 'A' && c <= 'Z')
			c += 32;
		h = (h ^ c) * 1099511628211ull;
	}
	return (uint32_t)(h ^ (h >> 32));
}

static int keys_eq(const char *a, const char *b, size_t n, int fold)
{
	return fold ? strncasecmp(a, b, n) == 0 : memcmp(a, b, n) == 0;
}

/* Slot of key, or of the empty slot where it would go. */
static struct aed_keymap_ent *strmap_slot(const struct aed_keymap *m, const char *k,
					  size_t n, uint32_t h, int fold)
{
	size_t mask = m->cap - 1, i = h & mask;

	for (;;) {
		struct aed_keymap_ent *e = &m->e[i];

		if (!e->k || (e->h == h && e->n == n && keys_eq(e->k, k, n, fold)))
			return e;
		i = (i + 1) & mask;
	}
}

int aed_keymap_grow(struct aed_keymap *m, size_t want)
{
	size_t cap = m->cap ? m->cap : 64;
	struct aed_keymap_ent *ne, *old = m->e;
	size_t oldcap = m->cap;

	while (cap < 2 * want)
		cap *= 2;
	if (cap == m->cap)
		return AED_OK;
	ne = calloc(cap, sizeof *ne);
	if (!ne)
		return aed_error(AED_ENOMEM, "out of memory for a %zu-entry hash map", want);
	m->e = ne;
	m->cap = cap;
	for (size_t i = 0; i < oldcap; i++) {
		if (old[i].k) {
			struct aed_keymap_ent *e = &ne[old[i].h & (cap - 1)];

			while (e->k)
				e = e == &ne[cap - 1] ? ne : e + 1;
			*e = old[i];
		}
	}
	free(old);
	return AED_OK;
}

int aed_keymap_get(struct aed_keymap *m, const char *k, size_t n, int fold, int insert,
		   int64_t v, struct aed_keymap_ent **out)
{
	uint32_t h = hash_bytes(k, n, fold);
	struct aed_keymap_ent *e;

	if (insert && 2 * (m->n + 1) > m->cap) {
		int rc = aed_keymap_grow(m, m->n + 1);

		if (rc)
			return rc;
	}
	if (!m->cap) {
		*out = NULL;
		return AED_OK;
	}
	e = strmap_slot(m, k, n, h, fold);
	if (!e->k) {
		if (!insert) {
			*out = NULL;
			return AED_OK;
		}
		e->k = k;
		e->n = (uint32_t)n;
		e->h = h;
		e->v = v;
		m->n++;
	}
	*out = e;
	return AED_OK;
}

void aed_keymap_release(struct aed_keymap *m)
{
	free(m->e);
	memset(m, 0, sizeof *m);
}

/* --- growable array -------------------------------------------------------- */

void *aed_vec_push(struct aed_vec *a)
{
	if (a->n == a->cap) {
		size_t cap = a->cap ? 2 * a->cap : 1024;
		void *nv = realloc(a->v, cap * a->size);

		if (!nv)
			return NULL;
		a->v = nv;
		a->cap = cap;
	}
	return (char *)a->v + a->size * a->n++;
}
