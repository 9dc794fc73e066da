/* arena.h - memory for bulk loaders (src/util/arena.c): an arena of stable
 * strings, a growable array of fixed-size elements, and a string -> int64
 * open-addressing hash map whose keys live elsewhere (in an arena). The
 * segment-list ingest holds a whole list in them while it validates it.
 *
 * Ownership: all three are embedded by the caller, zeroed to start, and
 * emptied by their _release (an aed_vec with free(v.v)). Arena strings stay
 * where they are until aed_arena_release(); a pointer into an aed_vec or to
 * an aed_keymap_ent is invalidated by the next push or insert.
 */
#ifndef AEDCURATE_ARENA_H
#define AEDCURATE_ARENA_H

#include <stddef.h>
#include <stdint.h>

/* --- arena: stable copies of keys, paths and meta ------------------------ */

struct aed_arena_block {
	struct aed_arena_block *next;
	size_t used, cap;
	char data[];
};

struct aed_arena {
	struct aed_arena_block *head;
};

/* n bytes (blocks of at least 1 MiB), or NULL when out of memory. */
char *aed_arena_alloc(struct aed_arena *a, size_t n);
/* A NUL-terminated copy of s[0..n), or NULL. */
char *aed_arena_strndup(struct aed_arena *a, const char *s, size_t n);
void aed_arena_release(struct aed_arena *a);

/* --- growable array -------------------------------------------------------- */

struct aed_vec {
	void *v;
	size_t n, cap, size; /* size: bytes per element, set before the first push */
};

/* A new element at the end (uninitialised), or NULL when out of memory. */
void *aed_vec_push(struct aed_vec *a);

/* --- aed_keymap: string -> int64 open-addressing hash map ----------------- */
/* Unlike aed_strmap (strmap.h: borrowed NUL-terminated keys, sized once, for
 * the ontology's ids) this one takes counted keys, optional ASCII case
 * folding and grows: a list's millions of keys arrive one by one. */

struct aed_keymap_ent {
	const char *k; /* NULL: empty slot */
	uint32_t n;    /* key bytes */
	uint32_t h;
	int64_t v;
};

struct aed_keymap {
	struct aed_keymap_ent *e;
	size_t cap, n; /* cap is a power of two */
};

/* Room for want entries without growing. */
int aed_keymap_grow(struct aed_keymap *m, size_t want);
/* Find key k[0..n) (ASCII case-folded when fold): *out is its entry, or NULL.
 * With insert, a missing key is added (k must then stay valid as long as the
 * map) with value v, and *out is the new entry. */
int aed_keymap_get(struct aed_keymap *m, const char *k, size_t n, int fold, int insert,
		   int64_t v, struct aed_keymap_ent **out);
void aed_keymap_release(struct aed_keymap *m);

#endif
