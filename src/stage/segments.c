/* segments.c - the segment-list ingest stage. Reads the whole source (mmap for
 * local files), validates every row in memory against the class table and the
 * stored segments, then writes everything in one transaction. Formats and the
 * rules for bad rows are documented in include/aedcurate/segments.h. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sqlite3.h>

#include "aedcurate/csv.h"
#include "aedcurate/error.h"
#include "aedcurate/net.h"
#include "aedcurate/segments.h"
#include "aedcurate/store.h"
#include "aedcurate/util.h"

#define SOURCE_MAX_BYTES ((size_t)4 << 30) /* 4 GiB: ~35x unbalanced_train */
#define STRONG_CLIP_MS 10000               /* strong-label segments are 10 s */
#define PROGRESS_MIN_BYTES (8u << 20)      /* no meter for small inputs */

/* --- arena: stable copies of keys, paths and meta ------------------------ */

struct arena_block {
	struct arena_block *next;
	size_t used, cap;
	char data[];
};

struct arena {
	struct arena_block *head;
};

static char *arena_alloc(struct arena *a, size_t n)
{
	struct arena_block *b = a->head;

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

static char *arena_strndup(struct arena *a, const char *s, size_t n)
{
	char *p = arena_alloc(a, n + 1);

	if (p) {
		memcpy(p, s, n);
		p[n] = 0;
	}
	return p;
}

static void arena_release(struct arena *a)
{
	while (a->head) {
		struct arena_block *b = a->head;

		a->head = b->next;
		free(b);
	}
}

/* --- string -> int64 open-addressing hash map ------------------------------ */

struct strmap_ent {
	const char *k; /* NULL: empty slot */
	uint32_t n;    /* key bytes */
	uint32_t h;
	int64_t v;
};

struct strmap {
	struct strmap_ent *e;
	size_t cap, n; /* cap is a power of two */
};

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
static struct strmap_ent *strmap_slot(const struct strmap *m, const char *k, size_t n,
				      uint32_t h, int fold)
{
	size_t mask = m->cap - 1, i = h & mask;

	for (;;) {
		struct strmap_ent *e = &m->e[i];

		if (!e->k || (e->h == h && e->n == n && keys_eq(e->k, k, n, fold)))
			return e;
		i = (i + 1) & mask;
	}
}

static int strmap_grow(struct strmap *m, size_t want)
{
	size_t cap = m->cap ? m->cap : 64;
	struct strmap_ent *ne, *old = m->e;
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
			struct strmap_ent *e = &ne[old[i].h & (cap - 1)];

			while (e->k)
				e = e == &ne[cap - 1] ? ne : e + 1;
			*e = old[i];
		}
	}
	free(old);
	return AED_OK;
}

/* Find key; *found says whether it was there. With insert, a missing key is
 * added (k must then stay valid as long as the map) with value v. */
static int strmap_get(struct strmap *m, const char *k, size_t n, int fold, int insert,
		      int64_t v, struct strmap_ent **out)
{
	uint32_t h = hash_bytes(k, n, fold);
	struct strmap_ent *e;

	if (insert && 2 * (m->n + 1) > m->cap) {
		int rc = strmap_grow(m, m->n + 1);

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

static void strmap_release(struct strmap *m)
{
	free(m->e);
	memset(m, 0, sizeof *m);
}

/* --- in-memory rows --------------------------------------------------------- */

struct seg {
	const char *key;     /* arena, NUL-terminated */
	uint32_t key_n;      /* bytes */
	uint32_t ytid_n;     /* ytid is key[0..ytid_n) */
	int64_t start_ms, end_ms; /* end_ms -1: NULL */
	const char *path;    /* arena or NULL */
	const char *group;   /* arena or NULL: the ytid */
	const char *meta;    /* arena or NULL */
	int64_t id;          /* stored id, 0 until known */
	int exists;          /* 1: stored before this ingest */
	int fill_path;       /* existing row gets path/meta */
	size_t lab_off, lab_n; /* into ctx.labels (csv, manifest) */
};

struct strong_row {
	size_t seg;          /* index into ctx.segs */
	int64_t class_id;
	double start_s, end_s;
};

struct vec {
	void *v;
	size_t n, cap, size;
};

static void *vec_push(struct vec *a)
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

struct existing {
	int64_t id, end_ms; /* end_ms -1: NULL */
	char *path;         /* malloc'd or NULL */
};

struct ctx {
	struct aed_db *db;
	const struct aed_segments_opts *o;
	struct aed_segments_result *r;
	const char *name;          /* source as given, for messages */
	size_t max_errors;
	struct arena arena;
	struct strmap classes;     /* mid -> class id */
	struct strmap names;       /* display name (case-folded) -> id, -1 ambiguous */
	struct strmap keys;        /* key -> index in segs (this file), see keys_sorted */
	int keys_sorted;           /* 1: segs are in strictly increasing key order
				    * and keys is not filled yet (csv, manifest) */
	struct strmap stored;      /* key -> index in stored_v (preloaded) */
	struct vec stored_v;       /* struct existing */
	int preloaded;             /* stored holds every stored key */
	sqlite3_stmt *lookup;      /* per-key lookup when not preloaded */
	int64_t n_stored;          /* segments in the db before this ingest */
	struct vec segs;           /* struct seg */
	struct vec labels;         /* int64_t class ids */
	struct vec strong;         /* struct strong_row */
	struct strmap strong_seen; /* dedupe of strong rows, keys in arena */
	int aborted;               /* strict mode hit a bad row */
	struct aed_progress *prog;
	size_t prog_done;          /* bytes reported so far */
};

/* Record a bad row. In strict mode, also sets the error and aborts. */
static int bad_row(struct ctx *c, size_t line, enum aed_bad_reason why, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static int bad_row(struct ctx *c, size_t line, enum aed_bad_reason why, const char *fmt, ...)
{
	struct aed_segments_result *r = c->r;
	char reason[512], *msg;
	va_list ap;
	int n;

	va_start(ap, fmt);
	vsnprintf(reason, sizeof reason, fmt, ap);
	va_end(ap);
	r->bad++;
	r->bad_by[why]++;
	if (c->o->strict) {
		c->aborted = 1;
		return aed_error(AED_EFORMAT, "%s:%zu: %s (--strict: nothing was written)",
				 c->name, line, reason);
	}
	if (r->n_messages < c->max_errors) {
		char **nm = realloc(r->messages, (r->n_messages + 1) * sizeof *nm);

		if (!nm)
			return aed_error(AED_ENOMEM, "out of memory");
		r->messages = nm;
		n = snprintf(NULL, 0, "%s:%zu: %s", c->name, line, reason);
		msg = malloc((size_t)n + 1);
		if (!msg)
			return aed_error(AED_ENOMEM, "out of memory");
		snprintf(msg, (size_t)n + 1, "%s:%zu: %s", c->name, line, reason);
		r->messages[r->n_messages++] = msg;
	}
	return AED_OK;
}

/* Printable, bounded quote of a field for messages. */
static const char *show(const char *p, size_t n, char buf[80])
{
	size_t k = 0;

	for (size_t i = 0; i < n && k < 60; i++) {
		unsigned char ch = (unsigned char)p[i];

		buf[k++] = ch < 0x20 || ch == 0x7f ? '?' : (char)ch;
	}
	if (n > 60) {
		memcpy(buf + k, "...", 3);
		k += 3;
	}
	buf[k] = 0;
	return buf;
}

static void progress_to(struct ctx *c, size_t offset)
{
	if (c->prog && offset - c->prog_done >= (1u << 20)) {
		aed_progress_add(c->prog, (int64_t)(offset - c->prog_done));
		c->prog_done = offset;
	}
}

/* --- loading what the db knows ---------------------------------------------- */

static int load_classes(struct ctx *c, int with_names)
{
	sqlite3_stmt *st = NULL;
	int rc, s;
	struct strmap_ent *e;

	rc = aed_db_prepare(c->db, "SELECT mid, id, name FROM class", &st);
	if (rc)
		goto out;
	while ((s = sqlite3_step(st)) == SQLITE_ROW) {
		const char *mid = (const char *)sqlite3_column_text(st, 0);
		const char *name = (const char *)sqlite3_column_text(st, 2);
		int64_t id = sqlite3_column_int64(st, 1);
		char *k;

		if (!mid || !(k = arena_strndup(&c->arena, mid, strlen(mid)))) {
			rc = aed_error(AED_ENOMEM, "out of memory loading classes");
			goto out;
		}
		rc = strmap_get(&c->classes, k, strlen(k), 0, 1, id, &e);
		if (rc)
			goto out;
		if (with_names && name) {
			if (!(k = arena_strndup(&c->arena, name, strlen(name)))) {
				rc = aed_error(AED_ENOMEM, "out of memory loading classes");
				goto out;
			}
			rc = strmap_get(&c->names, k, strlen(k), 1, 1, id, &e);
			if (rc)
				goto out;
			if (e->v != id)
				e->v = -1; /* two classes share this name */
		}
	}
	if (s != SQLITE_DONE) {
		rc = aed_db_error(c->db, "reading classes");
		goto out;
	}
	if (c->classes.n == 0)
		rc = aed_error(AED_ESTATE, "%s: the database has no classes; ingest the "
			       "ontology first (aedcurate ontology ingest ontology.json)", c->name);
out:
	sqlite3_finalize(st);
	return rc;
}

static int add_stored(struct ctx *c, sqlite3_stmt *st, const char *key, size_t *idx)
{
	struct existing *x = vec_push(&c->stored_v);
	const char *path = (const char *)sqlite3_column_text(st, 2);

	if (!x)
		return aed_error(AED_ENOMEM, "out of memory loading segments");
	x->id = sqlite3_column_int64(st, 0);
	x->end_ms = sqlite3_column_type(st, 1) == SQLITE_NULL ? -1 : sqlite3_column_int64(st, 1);
	x->path = path ? strdup(path) : NULL;
	if (path && !x->path)
		return aed_error(AED_ENOMEM, "out of memory loading segments");
	*idx = c->stored_v.n - 1;
	(void)key;
	return AED_OK;
}

/* Either load every stored key (when the input is not much smaller than the
 * table) or prepare a per-key lookup. */
static int prepare_stored(struct ctx *c, size_t input_bytes)
{
	sqlite3_stmt *st = NULL;
	int rc, s;

	rc = aed_db_int(c->db, "SELECT count(*) FROM segment", &c->n_stored);
	if (rc || c->n_stored == 0)
		return rc;
	/* A segment row costs ~50 input bytes: preload when the input may
	 * name at least a quarter as many segments as are stored. */
	if ((int64_t)(input_bytes / 50) * 4 < c->n_stored)
		return aed_db_prepare(c->db, "SELECT id, end_ms, path FROM segment WHERE key = ?1",
				      &c->lookup);
	rc = aed_db_prepare(c->db, "SELECT id, end_ms, path, key FROM segment", &st);
	if (rc)
		goto out;
	c->preloaded = 1;
	while ((s = sqlite3_step(st)) == SQLITE_ROW) {
		const char *key = (const char *)sqlite3_column_text(st, 3);
		size_t n = strlen(key ? key : ""), idx;
		char *k = arena_strndup(&c->arena, key ? key : "", n);
		struct strmap_ent *e;

		if (!k) {
			rc = aed_error(AED_ENOMEM, "out of memory loading segments");
			goto out;
		}
		rc = add_stored(c, st, k, &idx);
		if (!rc)
			rc = strmap_get(&c->stored, k, n, 0, 1, (int64_t)idx, &e);
		if (rc)
			goto out;
	}
	if (s != SQLITE_DONE)
		rc = aed_db_error(c->db, "reading segments");
out:
	sqlite3_finalize(st);
	return rc;
}

/* The stored segment of key, or NULL. */
static int find_stored(struct ctx *c, const char *key, size_t n, struct existing **out)
{
	struct strmap_ent *e;
	int rc, s;

	*out = NULL;
	if (c->n_stored == 0)
		return AED_OK;
	if (c->preloaded) {
		rc = strmap_get(&c->stored, key, n, 0, 0, 0, &e);
		if (!rc && e)
			*out = (struct existing *)c->stored_v.v + e->v;
		return rc;
	}
	sqlite3_reset(c->lookup);
	sqlite3_bind_text(c->lookup, 1, key, (int)n, SQLITE_STATIC);
	s = sqlite3_step(c->lookup);
	if (s == SQLITE_ROW) {
		size_t idx;

		rc = add_stored(c, c->lookup, key, &idx);
		if (rc)
			return rc;
		*out = (struct existing *)c->stored_v.v + idx;
	} else if (s != SQLITE_DONE) {
		return aed_db_error(c->db, "looking up a segment");
	}
	sqlite3_reset(c->lookup);
	return AED_OK;
}

/* --- shared row checks ------------------------------------------------------ */

static int ytid_ok(const char *p, size_t n)
{
	if (n == 0 || n > 64)
		return 0;
	for (size_t i = 0; i < n; i++) {
		char ch = p[i];

		if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
		      (ch >= '0' && ch <= '9') || ch == '_' || ch == '-'))
			return 0;
	}
	return 1;
}

/* Names from manifests: any text without control bytes, at most max bytes. */
static int text_ok(const char *p, size_t n, size_t max)
{
	if (n == 0 || n > max)
		return 0;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)p[i] < 0x20 || p[i] == 0x7f)
			return 0;
	return 1;
}

/* Make the key "{ytid}_{start_ms}" in the arena. */
static char *make_key(struct ctx *c, const char *ytid, size_t n, int64_t start_ms)
{
	char num[24], *d = num + sizeof num;
	uint64_t v = start_ms < 0 ? 0 - (uint64_t)start_ms : (uint64_t)start_ms;
	size_t k;
	char *key;

	*--d = 0;
	do
		*--d = (char)('0' + v % 10);
	while ((v /= 10));
	if (start_ms < 0)
		*--d = '-';
	*--d = '_';
	k = (size_t)(num + sizeof num - d) - 1;
	key = arena_alloc(&c->arena, n + k + 1);

	if (key) {
		memcpy(key, ytid, n);
		memcpy(key + n, d, k + 1);
	}
	return key;
}

/* Index every segment of this file so far in c->keys: the lists arrive
 * sorted, so keys are only hashed once one arrives out of order. */
static int index_keys(struct ctx *c)
{
	const struct seg *segs = c->segs.v;
	struct strmap_ent *e;
	int rc = strmap_grow(&c->keys, c->segs.n + 1);

	c->keys_sorted = 0;
	for (size_t i = 0; i < c->segs.n && !rc; i++)
		rc = strmap_get(&c->keys, segs[i].key, segs[i].key_n, 0, 1, (int64_t)i, &e);
	return rc;
}

/* Register a new segment of this file. Returns its index via *idx, or
 * *dup = 1 when the key was already seen in this file. */
static int add_seg(struct ctx *c, const struct seg *s, size_t *idx, int *dup)
{
	struct strmap_ent *e;
	struct seg *ns;
	int rc;

	if (c->keys_sorted) {
		const struct seg *last = c->segs.n ? (const struct seg *)c->segs.v + c->segs.n - 1
						   : NULL;

		if (!last || strcmp(last->key, s->key) < 0) {
			/* Above every key so far: new to this file. */
			ns = vec_push(&c->segs);
			if (!ns)
				return aed_error(AED_ENOMEM, "out of memory (%zu segments)",
						 c->segs.n);
			*ns = *s;
			*idx = c->segs.n - 1;
			*dup = 0;
			return AED_OK;
		}
		if ((rc = index_keys(c)))
			return rc;
	}
	rc = strmap_get(&c->keys, s->key, s->key_n, 0, 1, (int64_t)c->segs.n, &e);
	if (rc)
		return rc;
	*dup = e->v != (int64_t)c->segs.n;
	*idx = (size_t)e->v;
	if (*dup)
		return AED_OK;
	ns = vec_push(&c->segs);
	if (!ns)
		return aed_error(AED_ENOMEM, "out of memory (%zu segments)", c->segs.n);
	*ns = *s;
	return AED_OK;
}

/* Resolve one label token (mid, or display name when names are loaded). */
static int64_t resolve_label(struct ctx *c, const char *p, size_t n)
{
	struct strmap_ent *e = NULL;

	if (strmap_get(&c->classes, p, n, 0, 0, 0, &e) == AED_OK && e)
		return e->v;
	if (c->names.n && strmap_get(&c->names, p, n, 1, 0, 0, &e) == AED_OK && e)
		return e->v; /* -1 when ambiguous */
	return 0;
}

/* Split a label list and append class ids to c->labels. *bad is set (after
 * bad_row()) when a label is unknown or repeated. */
static int parse_labels(struct ctx *c, size_t line, const char *p, size_t n, char sep,
			size_t *off, size_t *cnt, int *bad)
{
	size_t start = c->labels.n;
	const char *e = p + n;
	char buf[80];

	*bad = 0;
	*off = start;
	*cnt = 0;
	while (p < e) {
		const char *q = memchr(p, sep, (size_t)(e - p));
		const char *te = q ? q : e;
		int64_t id, *slot;

		while (p < te && (*p == ' ' || *p == '\t'))
			p++;
		while (te > p && (te[-1] == ' ' || te[-1] == '\t'))
			te--;
		if (te > p) {
			id = resolve_label(c, p, (size_t)(te - p));
			if (id <= 0) {
				c->labels.n = start;
				*bad = 1;
				return bad_row(c, line, AED_BAD_CLASS,
					       id < 0 ? "ambiguous class name '%s' (use its mid)"
						      : "unknown class '%s'",
					       show(p, (size_t)(te - p), buf));
			}
			for (size_t i = start; i < c->labels.n; i++) {
				if (((int64_t *)c->labels.v)[i] == id) {
					c->labels.n = start;
					*bad = 1;
					return bad_row(c, line, AED_BAD_DUPLICATE,
						       "class '%s' listed twice",
						       show(p, (size_t)(te - p), buf));
				}
			}
			slot = vec_push(&c->labels);
			if (!slot)
				return aed_error(AED_ENOMEM, "out of memory (labels)");
			*slot = id;
		}
		p = q ? q + 1 : e;
	}
	*cnt = c->labels.n - start;
	return AED_OK;
}

/* Compare a good row with the stored segment of the same key. */
static int check_stored(struct ctx *c, size_t line, struct seg *s, int *bad)
{
	struct existing *x;
	int rc = find_stored(c, s->key, s->key_n, &x);

	*bad = 0;
	if (rc || !x)
		return rc;
	s->exists = 1;
	s->id = x->id;
	if (s->end_ms >= 0 && x->end_ms >= 0 && s->end_ms != x->end_ms) {
		*bad = 1;
		return bad_row(c, line, AED_BAD_CONFLICT,
			       "segment %s is stored with end %lld.%03lld s, this row says %lld.%03lld s",
			       s->key, (long long)(x->end_ms / 1000), (long long)(x->end_ms % 1000),
			       (long long)(s->end_ms / 1000), (long long)(s->end_ms % 1000));
	}
	if (s->path && x->path && strcmp(s->path, x->path) != 0) {
		*bad = 1;
		return bad_row(c, line, AED_BAD_CONFLICT, "segment %s is stored with path %s",
			       s->key, x->path);
	}
	s->fill_path = s->path && !x->path;
	return AED_OK;
}

/* A parsed row that passed its own checks: compare it with what is stored,
 * then queue it, or report it as a bad row (its labels are dropped). */
static int accept_row(struct ctx *c, size_t line, struct seg *s)
{
	size_t idx;
	int bad = 0, dup = 0;
	int rc = check_stored(c, line, s, &bad);
	if (rc || bad) {
		c->labels.n = s->lab_off;
		return rc;
	}
	rc = add_seg(c, s, &idx, &dup);
	if (!rc && dup) {
		c->labels.n = s->lab_off;
		return bad_row(c, line, AED_BAD_DUPLICATE, "segment %s appears twice in this file",
			       s->key);
	}
	if (!rc)
		c->r->ingested++;
	return rc;
}


/* A tokenizer error: report the line and go on. */
static int syntax_error(struct ctx *c, struct aed_csv *t, int rc)
{
	if (rc != AED_EFORMAT)
		return rc;
	c->r->rows++;
	return bad_row(c, t->line, AED_BAD_SYNTAX, "%s", t->reason);
}

/* --- AudioSet segment CSV --------------------------------------------------- */

static int parse_csv(struct ctx *c, const char *data, size_t n)
{
	struct aed_csv t;
	int rc = AED_OK, got, first = 1;
	char buf[80];

	aed_csv_init(&t, data, n, ',', AED_CSV_TRIM | AED_CSV_COMMENTS);
	for (;;) {
		struct seg s = { 0 };
		const char *why;
		int64_t start, end;
		int bad;

		rc = aed_csv_next(&t, &got);
		if (rc) {
			if ((rc = syntax_error(c, &t, rc)) || c->aborted)
				goto out;
			continue;
		}
		if (!got)
			break;
		progress_to(c, aed_csv_offset(&t));
		if (first && t.nf >= 2 && aed_csv_field_eq(&t.f[0], "YTID", 1) &&
		    aed_csv_field_eq(&t.f[1], "start_seconds", 1)) {
			first = 0;
			continue; /* eval_segments.csv's uncommented header */
		}
		first = 0;
		c->r->rows++;
		if (t.nf != 4) {
			rc = bad_row(c, t.line, AED_BAD_FIELDS,
				     "expected 4 fields (YTID, start, end, \"labels\"), got %zu", t.nf);
			goto next;
		}
		if (!ytid_ok(t.f[0].p, t.f[0].n)) {
			rc = bad_row(c, t.line, AED_BAD_ID, "bad YTID '%s'",
				     show(t.f[0].p, t.f[0].n, buf));
			goto next;
		}
		if ((why = aed_parse_ms(t.f[1].p, t.f[1].n, &start))) {
			rc = bad_row(c, t.line, AED_BAD_TIME, "start: %s '%s'", why,
				     show(t.f[1].p, t.f[1].n, buf));
			goto next;
		}
		if ((why = aed_parse_ms(t.f[2].p, t.f[2].n, &end))) {
			rc = bad_row(c, t.line, AED_BAD_TIME, "end: %s '%s'", why,
				     show(t.f[2].p, t.f[2].n, buf));
			goto next;
		}
		if (end <= start) {
			rc = bad_row(c, t.line, AED_BAD_RANGE, "end %.*s is not after start %.*s",
				     (int)t.f[2].n, t.f[2].p, (int)t.f[1].n, t.f[1].p);
			goto next;
		}
		rc = parse_labels(c, t.line, t.f[3].p, t.f[3].n, ',', &s.lab_off, &s.lab_n, &bad);
		if (rc || bad)
			goto next;
		if (s.lab_n == 0) {
			rc = bad_row(c, t.line, AED_BAD_CLASS, "no labels");
			goto next;
		}
		s.key = make_key(c, t.f[0].p, t.f[0].n, start);
		if (!s.key) {
			rc = aed_error(AED_ENOMEM, "out of memory");
			goto out;
		}
		s.key_n = (uint32_t)strlen(s.key);
		s.ytid_n = (uint32_t)t.f[0].n;
		s.start_ms = start;
		s.end_ms = end;
		rc = accept_row(c, t.line, &s);
next:
		if (rc || c->aborted)
			goto out;
	}
out:
	aed_csv_release(&t);
	return rc;
}

/* --- strong-label TSV ------------------------------------------------------- */

static int parse_strong(struct ctx *c, const char *data, size_t n)
{
	struct aed_csv t;
	int rc = AED_OK, got, first = 1;
	char buf[80];

	aed_csv_init(&t, data, n, '\t', AED_CSV_TRIM | AED_CSV_COMMENTS);
	for (;;) {
		struct seg s = { 0 };
		struct strong_row *sr;
		struct strmap_ent *e;
		const char *why, *us;
		double a, b;
		int64_t start, id;
		size_t idx, yl;
		int dup, bad;
		char *rk;

		rc = aed_csv_next(&t, &got);
		if (rc) {
			if ((rc = syntax_error(c, &t, rc)) || c->aborted)
				goto out;
			continue;
		}
		if (!got)
			break;
		if (first && t.nf >= 1 && aed_csv_field_eq(&t.f[0], "segment_id", 1)) {
			first = 0;
			continue;
		}
		first = 0;
		c->r->rows++;
		if (t.nf != 4) {
			rc = bad_row(c, t.line, AED_BAD_FIELDS,
				     "expected 4 tab-separated fields (segment_id, start, end, "
				     "label), got %zu", t.nf);
			goto next;
		}
		us = NULL;
		for (size_t i = t.f[0].n; i > 0; i--)
			if (t.f[0].p[i - 1] == '_') {
				us = t.f[0].p + i - 1;
				break;
			}
		yl = us ? (size_t)(us - t.f[0].p) : 0;
		if (!us || !ytid_ok(t.f[0].p, yl) || aed_parse_ms(us + 1, t.f[0].n - yl - 1, &start) ||
		    memchr(us + 1, '.', t.f[0].n - yl - 1)) {
			rc = bad_row(c, t.line, AED_BAD_ID, "bad segment_id '%s' (want YTID_STARTMS)",
				     show(t.f[0].p, t.f[0].n, buf));
			goto next;
		}
		start /= 1000; /* the suffix is already milliseconds */
		if ((why = aed_parse_seconds(t.f[1].p, t.f[1].n, &a))) {
			rc = bad_row(c, t.line, AED_BAD_TIME, "start: %s '%s'", why,
				     show(t.f[1].p, t.f[1].n, buf));
			goto next;
		}
		if ((why = aed_parse_seconds(t.f[2].p, t.f[2].n, &b))) {
			rc = bad_row(c, t.line, AED_BAD_TIME, "end: %s '%s'", why,
				     show(t.f[2].p, t.f[2].n, buf));
			goto next;
		}
		if (b <= a) {
			rc = bad_row(c, t.line, AED_BAD_RANGE, "end %.*s is not after start %.*s",
				     (int)t.f[2].n, t.f[2].p, (int)t.f[1].n, t.f[1].p);
			goto next;
		}
		id = resolve_label(c, t.f[3].p, t.f[3].n);
		if (id <= 0) {
			rc = bad_row(c, t.line, AED_BAD_CLASS, "unknown class '%s'",
				     show(t.f[3].p, t.f[3].n, buf));
			goto next;
		}
		/* Identical rows are bad; the key is "segment_id\tclass\tstart\tend"
		 * with the times as parsed. */
		{
			char tail[80];
			int k = snprintf(tail, sizeof tail, "\t%lld\t%.17g\t%.17g", (long long)id, a, b);

			rk = arena_alloc(&c->arena, t.f[0].n + (size_t)k + 1);
			if (!rk) {
				rc = aed_error(AED_ENOMEM, "out of memory");
				goto out;
			}
			memcpy(rk, t.f[0].p, t.f[0].n);
			memcpy(rk + t.f[0].n, tail, (size_t)k + 1);
			rc = strmap_get(&c->strong_seen, rk, strlen(rk), 0, 1, (int64_t)t.line, &e);
			if (rc)
				goto out;
			if (e->v != (int64_t)t.line) {
				rc = bad_row(c, t.line, AED_BAD_DUPLICATE,
					     "same row as line %lld", (long long)e->v);
				goto next;
			}
		}
		s.key = arena_strndup(&c->arena, t.f[0].p, t.f[0].n);
		s.key_n = (uint32_t)t.f[0].n;
		if (!s.key) {
			rc = aed_error(AED_ENOMEM, "out of memory");
			goto out;
		}
		{
			struct strmap_ent *ke;

			rc = strmap_get(&c->keys, s.key, t.f[0].n, 0, 0, 0, &ke);
			if (rc)
				goto out;
			if (ke) {
				idx = (size_t)ke->v;
			} else {
				s.ytid_n = (uint32_t)yl;
				s.start_ms = start;
				s.end_ms = -1; /* a stored segment keeps its own end */
				rc = check_stored(c, t.line, &s, &bad);
				if (rc)
					goto out;
				s.end_ms = start + STRONG_CLIP_MS;
				rc = add_seg(c, &s, &idx, &dup);
				if (rc)
					goto out;
			}
		}
		sr = vec_push(&c->strong);
		if (!sr) {
			rc = aed_error(AED_ENOMEM, "out of memory");
			goto out;
		}
		sr->seg = idx;
		sr->class_id = id;
		sr->start_s = a;
		sr->end_s = b;
		c->r->ingested++;
next:
		if (rc || c->aborted)
			goto out;
	}
out:
	aed_csv_release(&t);
	return rc;
}

/* --- manifests -------------------------------------------------------------- */

enum role { R_PATH, R_START, R_END, R_LABELS, R_ID, R_GROUP, R_COUNT, R_META = -1 };
static const char *const role_names[R_COUNT] = { "path", "start", "end", "labels", "id", "group" };

static int role_of(const char *s, size_t n)
{
	for (int i = 0; i < R_COUNT; i++)
		if (strlen(role_names[i]) == n && strncasecmp(role_names[i], s, n) == 0)
			return i;
	if (n == 4 && strncasecmp(s, "ytid", 4) == 0)
		return R_ID;
	return R_META;
}

static void json_str(struct aed_buf *b, const char *p, size_t n, int *rc)
{
	static const char hex[] = "0123456789abcdef";

	if (*rc)
		return;
	*rc = aed_buf_append(b, "\"", 1);
	for (size_t i = 0; i < n && !*rc; i++) {
		unsigned char ch = (unsigned char)p[i];
		char esc[7] = { '\\', 0 };

		if (ch == '"' || ch == '\\') {
			esc[1] = (char)ch;
			*rc = aed_buf_append(b, esc, 2);
		} else if (ch < 0x20) {
			memcpy(esc, "\\u00", 4);
			esc[4] = hex[ch >> 4];
			esc[5] = hex[ch & 15];
			*rc = aed_buf_append(b, esc, 6);
		} else {
			*rc = aed_buf_append(b, &p[i], 1);
		}
	}
	if (!*rc)
		*rc = aed_buf_append(b, "\"", 1);
}

/* Directory that relative manifest paths are resolved against, with a
 * trailing '/'. */
static int manifest_base(const char *source, char **out)
{
	const char *slash = strrchr(source, '/');
	char *dir = NULL, *real = NULL;
	int rc = AED_OK;

	*out = NULL;
	if (aed_source_is_url(source) && strncmp(source, "file://", 7) != 0) {
		size_t n = slash ? (size_t)(slash - source) + 1 : strlen(source);

		*out = strndup(source, n);
		return *out ? AED_OK : aed_error(AED_ENOMEM, "out of memory");
	}
	if (strncmp(source, "file://", 7) == 0) {
		source += 7;
		if (strncmp(source, "localhost/", 10) == 0)
			source += 9;
		slash = strrchr(source, '/');
	}
	dir = slash ? strndup(source, (size_t)(slash - source) + (slash == source))
		    : strdup(".");
	if (!dir) {
		rc = aed_error(AED_ENOMEM, "out of memory");
		goto out;
	}
	real = realpath(dir, NULL);
	if (!real) {
		rc = aed_error(AED_EIO, "%s: cannot resolve directory %s: %s", source, dir,
			       strerror(errno));
		goto out;
	}
	*out = malloc(strlen(real) + 2);
	if (!*out) {
		rc = aed_error(AED_ENOMEM, "out of memory");
		goto out;
	}
	sprintf(*out, "%s%s", real, strcmp(real, "/") ? "/" : "");
out:
	free(dir);
	free(real);
	return rc;
}

/* Parse "role=column,..." into col_name[role]. */
static int parse_column_map(const char *map, char *names[R_COUNT])
{
	const char *p = map;
	int rc = AED_OK;

	while (p && *p) {
		const char *comma = strchr(p, ',');
		const char *end = comma ? comma : p + strlen(p);
		const char *eq = memchr(p, '=', (size_t)(end - p));
		int role;

		if (!eq || eq == p || eq + 1 == end) {
			rc = aed_error(AED_EUSAGE, "--columns: '%.*s' is not ROLE=COLUMN",
				       (int)(end - p), p);
			goto out;
		}
		role = role_of(p, (size_t)(eq - p));
		if (role == R_META) {
			rc = aed_error(AED_EUSAGE, "--columns: unknown role '%.*s' (roles: path, "
				       "start, end, labels, id, group)", (int)(eq - p), p);
			goto out;
		}
		if (names[role]) {
			rc = aed_error(AED_EUSAGE, "--columns: role '%s' given twice", role_names[role]);
			goto out;
		}
		names[role] = strndup(eq + 1, (size_t)(end - eq - 1));
		if (!names[role]) {
			rc = aed_error(AED_ENOMEM, "out of memory");
			goto out;
		}
		p = comma ? comma + 1 : end;
	}
out:
	return rc;
}

static int parse_manifest(struct ctx *c, const char *data, size_t n)
{
	struct aed_csv t;
	struct aed_buf meta = { 0 }, pathbuf = { 0 };
	char *mapped[R_COUNT] = { 0 }, *base = NULL;
	struct aed_csv_field *hdr = NULL; /* header names, pointing into the input */
	int col[R_COUNT], *roles = NULL;
	size_t ncol = 0;
	int rc, got;
	char buf[80];

	for (int i = 0; i < R_COUNT; i++)
		col[i] = -1;
	aed_csv_init(&t, data, n, ',', AED_CSV_TRIM);
	rc = parse_column_map(c->o->columns, mapped);
	if (rc)
		goto out;
	rc = manifest_base(c->o->source, &base);
	if (rc)
		goto out;

	/* Header row: which column plays which role. */
	rc = aed_csv_next(&t, &got);
	if (rc == AED_EFORMAT) {
		rc = aed_error(AED_EFORMAT, "%s:%zu: header row: %s", c->name, t.line, t.reason);
		goto out;
	}
	if (rc)
		goto out;
	if (!got) {
		rc = aed_error(AED_EFORMAT, "%s: empty manifest (no header row)", c->name);
		goto out;
	}
	ncol = t.nf;
	roles = malloc(ncol * sizeof *roles);
	if (!roles) {
		rc = aed_error(AED_ENOMEM, "out of memory");
		goto out;
	}
	for (size_t i = 0; i < ncol; i++) {
		int r = R_META;

		for (int k = 0; k < R_COUNT; k++)
			if (mapped[k] && aed_csv_field_eq(&t.f[i], mapped[k], 0))
				r = k;
		if (r == R_META) {
			r = role_of(t.f[i].p, t.f[i].n);
			if (r != R_META && mapped[r])
				r = R_META; /* the map gave this role to another column */
		}
		if (t.f[i].n == 0) {
			rc = aed_error(AED_EFORMAT, "%s:%zu: header column %zu has no name",
				       c->name, t.line, i + 1);
			goto out;
		}
		for (size_t j = 0; j < i; j++)
			if (t.f[j].n == t.f[i].n && memcmp(t.f[j].p, t.f[i].p, t.f[i].n) == 0) {
				rc = aed_error(AED_EFORMAT, "%s:%zu: column '%s' appears twice",
					       c->name, t.line, show(t.f[i].p, t.f[i].n, buf));
				goto out;
			}
		if (r != R_META && col[r] >= 0) {
			rc = aed_error(AED_EFORMAT, "%s:%zu: two columns for '%s' (columns %d and %zu)",
				       c->name, t.line, role_names[r], col[r] + 1, i + 1);
			goto out;
		}
		roles[i] = r;
		if (r != R_META)
			col[r] = (int)i;
	}
	for (int k = 0; k < R_COUNT; k++)
		if (mapped[k] && col[k] < 0) {
			rc = aed_error(AED_EFORMAT, "%s:%zu: no column '%s' (from --columns %s=%s)",
				       c->name, t.line, mapped[k], role_names[k], mapped[k]);
			goto out;
		}
	if (col[R_PATH] < 0) {
		rc = aed_error(AED_EFORMAT, "%s:%zu: the header has no 'path' column; name the "
			       "file column with --columns path=NAME", c->name, t.line);
		goto out;
	}
	hdr = malloc(ncol * sizeof *hdr);
	if (!hdr) {
		rc = aed_error(AED_ENOMEM, "out of memory");
		goto out;
	}
	memcpy(hdr, t.f, ncol * sizeof *hdr);

	for (;;) {
		struct seg s = { 0 };
		const struct aed_csv_field *f;
		const char *why, *id, *stem, *slash, *dot;
		size_t idn;
		int bad, mrc = 0;

		rc = aed_csv_next(&t, &got);
		if (rc) {
			if ((rc = syntax_error(c, &t, rc)) || c->aborted)
				break;
			continue;
		}
		if (!got)
			break;
		c->r->rows++;
		if (t.nf != ncol) {
			rc = bad_row(c, t.line, AED_BAD_FIELDS, "expected %zu fields as in the header, got %zu",
				     ncol, t.nf);
			goto next;
		}
		f = &t.f[col[R_PATH]];
		if (!text_ok(f->p, f->n, 4096)) {
			rc = bad_row(c, t.line, AED_BAD_ID, "bad path '%s'", show(f->p, f->n, buf));
			goto next;
		}
		s.start_ms = 0;
		s.end_ms = -1;
		if (col[R_START] >= 0 && t.f[col[R_START]].n) {
			f = &t.f[col[R_START]];
			if ((why = aed_parse_ms(f->p, f->n, &s.start_ms))) {
				rc = bad_row(c, t.line, AED_BAD_TIME, "start: %s '%s'", why,
					     show(f->p, f->n, buf));
				goto next;
			}
		}
		if (col[R_END] >= 0 && t.f[col[R_END]].n) {
			f = &t.f[col[R_END]];
			if ((why = aed_parse_ms(f->p, f->n, &s.end_ms))) {
				rc = bad_row(c, t.line, AED_BAD_TIME, "end: %s '%s'", why,
					     show(f->p, f->n, buf));
				goto next;
			}
			if (s.end_ms <= s.start_ms) {
				rc = bad_row(c, t.line, AED_BAD_RANGE, "end %lld ms is not after start %lld ms",
					     (long long)s.end_ms, (long long)s.start_ms);
				goto next;
			}
		}
		/* path: absolute, URL, or relative to the manifest. */
		f = &t.f[col[R_PATH]];
		pathbuf.len = 0;
		if (f->p[0] != '/' && !(f->n > 3 && memmem(f->p, f->n, "://", 3))) {
			const char *p = f->p;
			size_t pn = f->n;

			while (pn > 2 && p[0] == '.' && p[1] == '/')
				p += 2, pn -= 2;
			mrc = aed_buf_append(&pathbuf, base, strlen(base));
			if (!mrc)
				mrc = aed_buf_append(&pathbuf, p, pn);
		} else {
			mrc = aed_buf_append(&pathbuf, f->p, f->n);
		}
		if (mrc) {
			rc = mrc;
			goto out;
		}
		s.path = arena_strndup(&c->arena, pathbuf.data, pathbuf.len);
		/* id: column, else the file name without extension. */
		slash = memrchr(f->p, '/', f->n);
		stem = slash ? slash + 1 : f->p;
		dot = memrchr(stem, '.', (size_t)(f->p + f->n - stem));
		id = stem;
		idn = (size_t)((dot && dot > stem ? dot : f->p + f->n) - stem);
		if (col[R_ID] >= 0 && t.f[col[R_ID]].n) {
			id = t.f[col[R_ID]].p;
			idn = t.f[col[R_ID]].n;
		}
		if (!text_ok(id, idn, 255)) {
			rc = bad_row(c, t.line, AED_BAD_ID, "bad segment id '%s'", show(id, idn, buf));
			goto next;
		}
		if (col[R_LABELS] >= 0) {
			char sep;

			f = &t.f[col[R_LABELS]];
			sep = memchr(f->p, ';', f->n) ? ';' : ',';
			if (sep == ',' && memchr(f->p, ',', f->n)) {
				/* One display name with a comma ("Gunshot, gunfire")
				 * is one label, not two. */
				const char *p = f->p, *e = f->p + f->n;

				while (p < e && *p == ' ')
					p++;
				while (e > p && e[-1] == ' ')
					e--;
				if (resolve_label(c, p, (size_t)(e - p)) > 0)
					sep = '\n'; /* never inside a field: the whole field */
			}
			rc = parse_labels(c, t.line, f->p, f->n, sep, &s.lab_off, &s.lab_n, &bad);
			if (rc || bad)
				goto next;
		} else {
			s.lab_off = c->labels.n;
		}
		s.key = make_key(c, id, idn, s.start_ms);
		s.key_n = s.key ? (uint32_t)strlen(s.key) : 0;
		s.ytid_n = (uint32_t)idn;
		if (col[R_GROUP] >= 0 && t.f[col[R_GROUP]].n) {
			f = &t.f[col[R_GROUP]];
			if (!text_ok(f->p, f->n, 255)) {
				c->labels.n = s.lab_off;
				rc = bad_row(c, t.line, AED_BAD_ID, "bad group '%s'", show(f->p, f->n, buf));
				goto next;
			}
			s.group = arena_strndup(&c->arena, f->p, f->n);
		}
		/* meta: the other non-empty columns, plus "cut". */
		meta.len = 0;
		for (size_t i = 0; i < ncol; i++) {
			if (roles[i] != R_META || t.f[i].n == 0)
				continue;
			mrc = aed_buf_append(&meta, meta.len ? "," : "{", 1);
			json_str(&meta, hdr[i].p, hdr[i].n, &mrc);
			if (!mrc)
				mrc = aed_buf_append(&meta, ":", 1);
			json_str(&meta, t.f[i].p, t.f[i].n, &mrc);
		}
		if (!mrc && c->o->cut)
			mrc = aed_buf_printf(&meta, "%s\"cut\":true", meta.len ? "," : "{");
		if (!mrc && meta.len)
			mrc = aed_buf_append(&meta, "}", 1);
		if (mrc) {
			rc = mrc;
			goto out;
		}
		if (meta.len)
			s.meta = arena_strndup(&c->arena, meta.data, meta.len);
		if (!s.key || !s.path || (meta.len && !s.meta) ||
		    (col[R_GROUP] >= 0 && t.f[col[R_GROUP]].n && !s.group)) {
			rc = aed_error(AED_ENOMEM, "out of memory");
			goto out;
		}
		rc = accept_row(c, t.line, &s);
next:
		if (rc || c->aborted)
			break;
	}
out:
	free(hdr);
	for (int k = 0; k < R_COUNT; k++)
		free(mapped[k]);
	free(roles);
	free(base);
	aed_buf_release(&meta);
	aed_buf_release(&pathbuf);
	aed_csv_release(&t);
	return rc;
}

/* --- format detection ------------------------------------------------------- */

static int detect_format(struct ctx *c, const char *data, size_t n, enum aed_seg_format *f)
{
	const char *p = data, *e = data + n, *nl;
	char buf[80];

	if (c->o->columns) {
		*f = AED_SEG_MANIFEST;
		return AED_OK;
	}
	if (n >= 3 && memcmp(p, "\xEF\xBB\xBF", 3) == 0)
		p += 3;
	while (p < e && (*p == '\n' || *p == '\r' || *p == ' ' || *p == '\t'))
		p++;
	nl = memchr(p, '\n', (size_t)(e - p));
	if (!nl)
		nl = e;
	if (p == e) {
		return aed_error(AED_EFORMAT, "%s: empty file", c->name);
	}
	if (*p == '#' || (nl - p >= 5 && strncasecmp(p, "YTID,", 5) == 0)) {
		*f = AED_SEG_CSV;
		return AED_OK;
	}
	if (nl - p >= 11 && strncasecmp(p, "segment_id\t", 11) == 0) {
		*f = AED_SEG_STRONG;
		return AED_OK;
	}
	{
		/* A manifest header names a path column. */
		struct aed_csv t;
		int got, rc;

		aed_csv_init(&t, p, (size_t)(nl - p), ',', AED_CSV_TRIM);
		rc = aed_csv_next(&t, &got);
		if (!rc && got) {
			for (size_t i = 0; i < t.nf; i++)
				if (aed_csv_field_eq(&t.f[i], "path", 1)) {
					*f = AED_SEG_MANIFEST;
					aed_csv_release(&t);
					return AED_OK;
				}
			/* An AudioSet row without the comment lines. */
			if (t.nf == 4 && ytid_ok(t.f[0].p, t.f[0].n)) {
				int64_t ms;

				if (!aed_parse_ms(t.f[1].p, t.f[1].n, &ms)) {
					*f = AED_SEG_CSV;
					aed_csv_release(&t);
					return AED_OK;
				}
			}
		}
		aed_csv_release(&t);
	}
	return aed_error(AED_EFORMAT, "%s: cannot tell the format from the first line '%s'; "
			 "use --format csv|strong|manifest (a manifest needs a 'path' column, "
			 "or --columns path=NAME)", c->name, show(p, (size_t)(nl - p), buf));
}

/* --- reading the source ----------------------------------------------------- */

struct source {
	const char *data;
	size_t n;
	void *map;   /* mmap'd, or NULL */
	char *heap;  /* malloc'd, or NULL */
};

static int source_open(const char *src, long timeout_s, struct source *s)
{
	struct stat sb;
	int fd = -1, rc = AED_OK;

	memset(s, 0, sizeof *s);
	if (aed_source_is_url(src)) {
		struct aed_source_opts so = { 0 };

		so.max_bytes = SOURCE_MAX_BYTES;
		so.timeout_s = timeout_s;
		so.low_speed_s = timeout_s;
		so.connect_timeout_s = timeout_s;
		rc = aed_source_read(src, &so, &s->heap, &s->n);
		s->data = s->heap;
		return rc;
	}
	fd = open(src, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		rc = aed_error(errno == ENOENT ? AED_ENOTFOUND : AED_EIO, "%s: %s", src,
			       strerror(errno));
		goto out;
	}
	if (fstat(fd, &sb) < 0) {
		rc = aed_error(AED_EIO, "%s: %s", src, strerror(errno));
		goto out;
	}
	if (!S_ISREG(sb.st_mode)) {
		rc = aed_error(AED_EIO, "%s: not a regular file", src);
		goto out;
	}
	if ((uint64_t)sb.st_size > SOURCE_MAX_BYTES) {
		rc = aed_error(AED_ENOMEM, "%s: %lld bytes is over the 4 GiB limit", src,
			       (long long)sb.st_size);
		goto out;
	}
	s->n = (size_t)sb.st_size;
	if (s->n == 0) {
		s->data = "";
		goto out;
	}
	s->map = mmap(NULL, s->n, PROT_READ, MAP_PRIVATE, fd, 0);
	if (s->map == MAP_FAILED) {
		s->map = NULL;
		rc = aed_error(AED_EIO, "%s: mmap: %s", src, strerror(errno));
		goto out;
	}
	madvise(s->map, s->n, MADV_SEQUENTIAL);
	s->data = s->map;
out:
	if (fd >= 0)
		close(fd);
	return rc;
}

static void source_close(struct source *s)
{
	if (s->map)
		munmap(s->map, s->n);
	free(s->heap);
	memset(s, 0, sizeof *s);
}

struct sha_job {
	const char *data;
	size_t n;
	char *hex;
};

static void *sha_thread(void *arg)
{
	struct sha_job *j = arg;

	aed_sha256_hex(j->data, j->n, j->hex);
	return NULL;
}

/* --- writing ---------------------------------------------------------------- */

static int step_done(struct aed_db *db, sqlite3_stmt *st, const char *what)
{
	int s = sqlite3_step(st);

	sqlite3_reset(st);
	if (s != SQLITE_DONE)
		return aed_db_error(db, what);
	return AED_OK;
}

static void json_field(struct aed_buf *b, const char *k, const char *v, int *rc)
{
	if (*rc)
		return;
	*rc = aed_buf_printf(b, "%s", b->len > 1 ? "," : "");
	json_str(b, k, strlen(k), rc);
	if (!*rc)
		*rc = aed_buf_append(b, ":", 1);
	if (v)
		json_str(b, v, strlen(v), rc);
	else if (!*rc)
		*rc = aed_buf_append(b, "null", 4);
}

/* Rows per multi-row INSERT: fewer statement executions per row. */
#define BATCH 256

/* A multi-row "INSERT OR IGNORE INTO table(cols) VALUES (..), (..)" with
 * BATCH rows of ncols parameters each, plus a one-row statement for the
 * remainder; rows are staged in vals and flushed when full. */
struct batch {
	sqlite3_stmt *many, *one;
	int ncols, n;           /* parameters per row; rows staged */
	int64_t vals[BATCH * 2];
	int64_t *changes;       /* rows actually inserted are added here */
};

/* Prepare head followed by rows of "(?, ..., ?[, tail])": ncols numbered
 * parameters per row, then the constant SQL tail (NULL: none). */
static int prepare_rows(struct aed_db *db, const char *head, int rows, int ncols,
			const char *tail, sqlite3_stmt **st)
{
	struct aed_buf sql = { 0 };
	int rc = aed_buf_printf(&sql, "%s", head);

	for (int i = 0; i < rows && !rc; i++) {
		rc = aed_buf_printf(&sql, "%s(", i ? ", " : "");
		for (int j = 1; j <= ncols && !rc; j++)
			rc = aed_buf_printf(&sql, "?%d%s", ncols * i + j, j < ncols ? ", " : "");
		if (!rc)
			rc = aed_buf_printf(&sql, "%s%s)", tail ? ", " : "", tail ? tail : "");
	}
	if (!rc)
		rc = aed_db_prepare(db, sql.data, st);
	aed_buf_release(&sql);
	return rc;
}

static int batch_init(struct aed_db *db, struct batch *b, const char *head, const char *row,
		      int ncols, int64_t *changes)
{
	int rc;

	memset(b, 0, sizeof *b);
	b->ncols = ncols;
	b->changes = changes;
	if ((rc = prepare_rows(db, head, BATCH, ncols, row, &b->many)))
		return rc;
	return prepare_rows(db, head, 1, ncols, row, &b->one);
}

static int batch_flush(struct aed_db *db, struct batch *b, int all)
{
	sqlite3_stmt *st = b->n == BATCH ? b->many : b->one;
	int rows = b->n == BATCH ? BATCH : 1;
	int rc = AED_OK;

	while (b->n && (b->n == BATCH || all)) {
		for (int i = 0; i < rows * b->ncols; i++)
			sqlite3_bind_int64(st, i + 1, b->vals[i]);
		if ((rc = step_done(db, st, "inserting rows")))
			return rc;
		*b->changes += sqlite3_changes(aed_db_sqlite(db));
		b->n -= rows;
		memmove(b->vals, b->vals + rows * b->ncols, (size_t)(b->n * b->ncols) * sizeof *b->vals);
	}
	return rc;
}

static int batch_add(struct aed_db *db, struct batch *b, int64_t x, int64_t y)
{
	b->vals[b->n * b->ncols] = x;
	if (b->ncols == 2)
		b->vals[b->n * b->ncols + 1] = y;
	b->n++;
	return b->n == BATCH ? batch_flush(db, b, 0) : AED_OK;
}

static void batch_release(struct batch *b)
{
	sqlite3_finalize(b->many);
	sqlite3_finalize(b->one);
}

/* qsort context: the segment array (qsort has no user pointer). */
static const struct seg *sort_segs;

static int cmp_key(const void *a, const void *b)
{
	return strcmp(sort_segs[*(const size_t *)a].key, sort_segs[*(const size_t *)b].key);
}

/* New segments per multi-row INSERT; each row has 9 parameters. */
#define SEG_BATCH 64
#define SEG_INSERT "INSERT OR IGNORE INTO segment(id, key, ytid, start_ms, end_ms, path, source_group, " \
		   "meta, shard) VALUES "

/* Bind segment s to the 9 parameters from b on. */
static void bind_seg(sqlite3_stmt *st, int b, const struct seg *s)
{
	sqlite3_bind_int64(st, b, s->id);
	sqlite3_bind_text(st, b + 1, s->key, (int)s->key_n, SQLITE_STATIC);
	sqlite3_bind_text(st, b + 2, s->key, (int)s->ytid_n, SQLITE_STATIC);
	sqlite3_bind_int64(st, b + 3, s->start_ms);
	if (s->end_ms >= 0)
		sqlite3_bind_int64(st, b + 4, s->end_ms);
	else
		sqlite3_bind_null(st, b + 4);
	if (s->path)
		sqlite3_bind_text(st, b + 5, s->path, -1, SQLITE_STATIC);
	else
		sqlite3_bind_null(st, b + 5);
	if (s->group)
		sqlite3_bind_text(st, b + 6, s->group, -1, SQLITE_STATIC);
	else
		sqlite3_bind_text(st, b + 6, s->key, (int)s->ytid_n, SQLITE_STATIC);
	if (s->meta)
		sqlite3_bind_text(st, b + 7, s->meta, -1, SQLITE_STATIC);
	else
		sqlite3_bind_null(st, b + 7);
	sqlite3_bind_int64(st, b + 8, aed_shard_hash(s->key));
}

/* Run a segment INSERT of n rows. It is "OR IGNORE" only so that SQLite
 * needs no statement journal for it (a multi-row statement that may abort
 * must be able to undo its first rows); every key was checked against the
 * table before the transaction, so a row left out means the table changed
 * meanwhile, and the ingest fails as a plain INSERT would. */
static int insert_segs(struct ctx *c, sqlite3_stmt *st, int n)
{
	int rc = step_done(c->db, st, "inserting segments");

	if (!rc && sqlite3_changes(aed_db_sqlite(c->db)) != n)
		rc = aed_error(AED_ESTATE, "%s: a segment of this list was stored by another "
			       "process during the ingest; nothing was written", c->name);
	return rc;
}

static int write_all(struct ctx *c, int64_t *split_id)
{
	struct aed_db *db = c->db;
	sqlite3_stmt *ins_seg = NULL, *ins_segs = NULL, *upd_seg = NULL, *ins_strong = NULL;
	sqlite3_stmt *st = NULL;
	struct batch labels = { 0 }, splits = { 0 };
	struct seg *segs = c->segs.v;
	const char *label_row = c->o->ontology_examples ? "'ontology'"
				: c->r->format == AED_SEG_CSV ? "'weak'"
				: c->r->format == AED_SEG_STRONG ? "'strong'" : "'manifest'";
	size_t *order = NULL, n_new = 0, k;
	int64_t next_id, split_rows = 0;
	int rc;

	*split_id = 0;
	if (c->o->split) {
		rc = aed_db_prepare(db, "INSERT OR IGNORE INTO split(name) VALUES (?1)", &st);
		if (rc)
			goto out;
		sqlite3_bind_text(st, 1, c->o->split, -1, SQLITE_STATIC);
		if ((rc = step_done(db, st, "adding the split")))
			goto out;
		sqlite3_finalize(st);
		rc = aed_db_prepare(db, "SELECT id FROM split WHERE name = ?1", &st);
		if (rc)
			goto out;
		sqlite3_bind_text(st, 1, c->o->split, -1, SQLITE_STATIC);
		if (sqlite3_step(st) != SQLITE_ROW) {
			rc = aed_db_error(db, "reading the split");
			goto out;
		}
		*split_id = sqlite3_column_int64(st, 0);
		sqlite3_finalize(st);
		st = NULL;
	}
	rc = aed_db_int(db, "SELECT COALESCE(MAX(id), 0) FROM segment", &next_id);
	if (rc)
		goto out;

	/* New segments get ids in key order, so the key index (and the ytid
	 * index, whose order nearly matches) grows at its end instead of at
	 * random places; AudioSet lists are sorted by YTID already. Stored
	 * segments follow. Rows of segment_split and label then arrive in
	 * primary-key order too. */
	order = malloc((c->segs.n + 1) * sizeof *order);
	if (!order) {
		rc = aed_error(AED_ENOMEM, "out of memory (%zu segments)", c->segs.n);
		goto out;
	}
	for (size_t i = 0; i < c->segs.n; i++)
		if (!segs[i].exists)
			order[n_new++] = i;
	k = n_new;
	for (size_t i = 0; i < c->segs.n; i++)
		if (segs[i].exists)
			order[k++] = i;
	for (size_t i = 1; i < n_new && !c->keys_sorted; i++) /* else sorted already */
		if (strcmp(segs[order[i - 1]].key, segs[order[i]].key) > 0) {
			sort_segs = segs;
			qsort(order, n_new, sizeof *order, cmp_key);
			break;
		}

	if ((rc = prepare_rows(db, SEG_INSERT, SEG_BATCH, 9, NULL, &ins_segs)) ||
	    (rc = prepare_rows(db, SEG_INSERT, 1, 9, NULL, &ins_seg)) ||
	    (rc = aed_db_prepare(db, "UPDATE segment SET path = ?2, meta = COALESCE(meta, ?3) "
				 "WHERE id = ?1", &upd_seg)) ||
	    (rc = batch_init(db, &labels, "INSERT OR IGNORE INTO label(segment_id, class_id, source) "
			     "VALUES ", label_row, 2, &c->r->labels)))
		goto out;
	if (*split_id) {
		char row[32];

		snprintf(row, sizeof row, "%lld", (long long)*split_id);
		if ((rc = batch_init(db, &splits, "INSERT OR IGNORE INTO segment_split(segment_id, "
				     "split_id) VALUES ", row, 1, &split_rows)))
			goto out;
	}
	for (k = 0; k < c->segs.n; k++) {
		struct seg *s = &segs[order[k]];

		if (k < n_new) {
			/* New segments are order[0, n_new): insert them SEG_BATCH
			 * at a time, each chunk before its labels and splits. */
			if (k % SEG_BATCH == 0) {
				size_t m = n_new - k < SEG_BATCH ? n_new - k : SEG_BATCH;
				sqlite3_stmt *ins = m == SEG_BATCH ? ins_segs : ins_seg;

				for (size_t i = 0; i < m; i++) {
					struct seg *x = &segs[order[k + i]];

					x->id = next_id + (int64_t)(k + i) + 1;
					bind_seg(ins, m == SEG_BATCH ? (int)(9 * i) + 1 : 1, x);
					if (m < SEG_BATCH && (rc = insert_segs(c, ins, 1)))
						goto out;
				}
				if (m == SEG_BATCH && (rc = insert_segs(c, ins, SEG_BATCH)))
					goto out;
				c->r->segments_new += (int64_t)m;
			}
		} else {
			c->r->segments_seen++;
			if (s->fill_path) {
				sqlite3_bind_int64(upd_seg, 1, s->id);
				sqlite3_bind_text(upd_seg, 2, s->path, -1, SQLITE_STATIC);
				if (s->meta)
					sqlite3_bind_text(upd_seg, 3, s->meta, -1, SQLITE_STATIC);
				else
					sqlite3_bind_null(upd_seg, 3);
				if ((rc = step_done(db, upd_seg, "updating a segment")))
					goto out;
			}
		}
		if (*split_id && (rc = batch_add(db, &splits, s->id, 0)))
			goto out;
		for (size_t j = 0; j < s->lab_n; j++)
			if ((rc = batch_add(db, &labels, s->id, ((int64_t *)c->labels.v)[s->lab_off + j])))
				goto out;
		if (c->prog && (k & 0xffff) == 0xffff)
			aed_progress_add(c->prog, 0x10000);
	}
	if (c->strong.n) {
		struct strong_row *sr = c->strong.v;

		rc = aed_db_prepare(db, "INSERT OR IGNORE INTO strong_label(segment_id, class_id, "
				    "start_s, end_s) VALUES (?1, ?2, ?3, ?4)", &ins_strong);
		if (rc)
			goto out;
		for (size_t i = 0; i < c->strong.n; i++) {
			int64_t sid = segs[sr[i].seg].id;

			sqlite3_bind_int64(ins_strong, 1, sid);
			sqlite3_bind_int64(ins_strong, 2, sr[i].class_id);
			sqlite3_bind_double(ins_strong, 3, sr[i].start_s);
			sqlite3_bind_double(ins_strong, 4, sr[i].end_s);
			if ((rc = step_done(db, ins_strong, "inserting a strong label")))
				goto out;
			c->r->strong_labels += sqlite3_changes(aed_db_sqlite(db));
			if ((rc = batch_add(db, &labels, sid, sr[i].class_id)))
				goto out;
		}
	}
	if (!(rc = batch_flush(db, &labels, 1)) && *split_id)
		rc = batch_flush(db, &splits, 1);
out:
	free(order);
	batch_release(&labels);
	batch_release(&splits);
	sqlite3_finalize(st);
	sqlite3_finalize(ins_seg);
	sqlite3_finalize(ins_segs);
	sqlite3_finalize(upd_seg);
	sqlite3_finalize(ins_strong);
	return rc;
}

static int record_source(struct ctx *c, int64_t split_id)
{
	sqlite3_stmt *st = NULL;
	char now[32];
	int rc;

	aed_utc_iso8601(now);
	rc = aed_db_prepare(c->db, "INSERT INTO segment_source(source, format, split_id, sha256, "
			    "n_rows, n_bad, ingested_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)", &st);
	if (rc)
		return rc;
	sqlite3_bind_text(st, 1, c->o->source, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, aed_seg_format_name(c->r->format), -1, SQLITE_STATIC);
	if (split_id)
		sqlite3_bind_int64(st, 3, split_id);
	else
		sqlite3_bind_null(st, 3);
	sqlite3_bind_text(st, 4, c->r->sha256, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 5, c->r->rows);
	sqlite3_bind_int64(st, 6, c->r->bad);
	sqlite3_bind_text(st, 7, now, -1, SQLITE_STATIC);
	rc = step_done(c->db, st, "recording the segment source");
	if (!rc)
		c->r->source_id = sqlite3_last_insert_rowid(aed_db_sqlite(c->db));
	sqlite3_finalize(st);
	return rc;
}

/* --- the stage -------------------------------------------------------------- */

const char *aed_seg_format_name(enum aed_seg_format f)
{
	switch (f) {
	case AED_SEG_CSV: return "csv";
	case AED_SEG_STRONG: return "strong";
	case AED_SEG_MANIFEST: return "manifest";
	default: return "auto";
	}
}

int aed_seg_format_parse(const char *s, enum aed_seg_format *out)
{
	static const enum aed_seg_format all[] = { AED_SEG_AUTO, AED_SEG_CSV, AED_SEG_STRONG,
						   AED_SEG_MANIFEST };

	for (size_t i = 0; i < sizeof all / sizeof *all; i++)
		if (strcmp(s, aed_seg_format_name(all[i])) == 0) {
			*out = all[i];
			return AED_OK;
		}
	return aed_error(AED_EUSAGE, "--format: '%s' is not one of auto, csv, strong, manifest", s);
}

const char *aed_bad_reason_name(enum aed_bad_reason r)
{
	static const char *const names[AED_BAD_COUNT] = {
		"syntax", "fields", "time", "range", "id", "class", "duplicate", "conflict"
	};
	return (unsigned)r < AED_BAD_COUNT ? names[r] : "?";
}

void aed_segments_result_release(struct aed_segments_result *r)
{
	for (size_t i = 0; i < r->n_messages; i++)
		free(r->messages[i]);
	free(r->messages);
	r->messages = NULL;
	r->n_messages = 0;
}

int aed_segments_ingest(struct aed_db *db, const struct aed_segments_opts *o,
			struct aed_segments_result *r)
{
	struct ctx c = { 0 };
	struct source src = { 0 };
	struct aed_buf params = { 0 };
	struct sha_job job;
	pthread_t sha_tid;
	int sha_started = 0, in_tx = 0, rc, prc = 0;
	int64_t split_id = 0, run_id = 0, cache_size = 0, fk_on = 0;
	enum aed_seg_format fmt = o->format;
	char *err = NULL;

	memset(r, 0, sizeof *r);
	c.db = db;
	c.o = o;
	c.r = r;
	c.name = o->source;
	c.max_errors = o->max_errors ? o->max_errors : AED_SEGMENTS_MAX_ERRORS_DEFAULT;
	c.segs.size = sizeof(struct seg);
	c.labels.size = sizeof(int64_t);
	c.strong.size = sizeof(struct strong_row);
	c.stored_v.size = sizeof(struct existing);
	if (o->split && !*o->split) {
		rc = aed_error(AED_EUSAGE, "--split: empty name");
		goto out;
	}
	if (o->columns && fmt != AED_SEG_AUTO && fmt != AED_SEG_MANIFEST) {
		rc = aed_error(AED_EUSAGE, "--columns applies to manifests only");
		goto out;
	}

	if (o->data) {
		src.data = o->data;
		src.n = o->data_len;
	} else if ((rc = source_open(o->source, o->timeout_s, &src))) {
		goto out;
	}
	job.data = src.data;
	job.n = src.n;
	job.hex = r->sha256;
	if (pthread_create(&sha_tid, NULL, sha_thread, &job) == 0)
		sha_started = 1;
	else
		aed_sha256_hex(src.data, src.n, r->sha256);

	if (fmt == AED_SEG_AUTO && (rc = detect_format(&c, src.data, src.n, &fmt)))
		goto out;
	r->format = fmt;
	if ((rc = load_classes(&c, fmt == AED_SEG_MANIFEST)))
		goto out;
	if ((rc = prepare_stored(&c, src.n)))
		goto out;
	if (o->progress && src.n >= PROGRESS_MIN_BYTES)
		c.prog = aed_progress_new("segments: reading MiB", (int64_t)(src.n >> 20));
	c.keys_sorted = fmt != AED_SEG_STRONG; /* parse_strong looks keys up itself */
	switch (fmt) {
	case AED_SEG_CSV: rc = parse_csv(&c, src.data, src.n); break;
	case AED_SEG_STRONG: rc = parse_strong(&c, src.data, src.n); break;
	default: rc = parse_manifest(&c, src.data, src.n); break;
	}
	aed_progress_free(&c.prog);
	if (rc)
		goto out;
	if (r->rows == 0) {
		rc = aed_error(AED_EFORMAT, "%s: no data rows", c.name);
		goto out;
	}
	if (sha_started) {
		pthread_join(sha_tid, NULL);
		sha_started = 0;
	}

	/* Everything is validated: write. */
	prc = aed_buf_append(&params, "{", 1);
	json_field(&params, "source", o->source, &prc);
	json_field(&params, "format", aed_seg_format_name(fmt), &prc);
	json_field(&params, "split", o->split, &prc);
	json_field(&params, "columns", o->columns, &prc);
	if (!prc)
		prc = aed_buf_printf(&params, ",\"cut\":%s,\"strict\":%s}", o->cut ? "true" : "false",
				     o->strict ? "true" : "false");
	if (prc) {
		rc = prc;
		goto out;
	}
	if ((rc = aed_run_begin(db, "segments", params.data, &run_id)))
		goto out;
	r->run_id = run_id;
	/* Every reference is checked above (class ids come from the class
	 * table, segment ids from this transaction), so the per-row foreign
	 * key lookups would only double the cost of a bulk load. The pragma is
	 * a no-op inside a transaction: switch it around the transaction. */
	if (!aed_db_int(db, "PRAGMA foreign_keys", &fk_on) && fk_on)
		aed_db_exec(db, "PRAGMA foreign_keys = OFF");
	if ((rc = aed_db_begin(db)))
		goto out;
	in_tx = 1;
	if (!aed_db_int(db, "PRAGMA cache_size", &cache_size))
		aed_db_exec(db, "PRAGMA cache_size = -262144"); /* 256 MiB for the bulk load */
	if (o->progress && c.segs.n >= 200000)
		c.prog = aed_progress_new("segments: writing", (int64_t)c.segs.n);
	rc = write_all(&c, &split_id);
	aed_progress_free(&c.prog);
	if (!rc)
		rc = record_source(&c, split_id);
	if (!rc)
		rc = aed_db_commit(db);
	if (rc)
		goto out;
	in_tx = 0;
	rc = aed_run_end(db, run_id, AED_RUN_OK, r->ingested, r->bad, NULL);
	run_id = 0;
out:
	if (sha_started)
		pthread_join(sha_tid, NULL);
	if (in_tx)
		aed_db_rollback(db);
	if (fk_on)
		aed_db_exec(db, "PRAGMA foreign_keys = ON");
	if (rc && run_id) {
		/* Keep the first error's message through the run bookkeeping. */
		err = strdup(aed_last_error());
		aed_run_end(db, run_id, AED_RUN_FAILED, 0, 0, err);
		aed_error(rc, "%s", err ? err : "ingest failed");
		r->run_id = 0;
		r->source_id = 0;
	}
	if (rc) {
		r->segments_new = r->segments_seen = r->labels = r->strong_labels = 0;
	}
	if (cache_size) {
		char sql[64];

		snprintf(sql, sizeof sql, "PRAGMA cache_size = %lld", (long long)cache_size);
		aed_db_exec(db, sql);
	}
	free(err);
	aed_progress_free(&c.prog);
	aed_buf_release(&params);
	source_close(&src);
	sqlite3_finalize(c.lookup);
	for (size_t i = 0; i < c.stored_v.n; i++)
		free(((struct existing *)c.stored_v.v)[i].path);
	free(c.stored_v.v);
	free(c.segs.v);
	free(c.labels.v);
	free(c.strong.v);
	strmap_release(&c.classes);
	strmap_release(&c.names);
	strmap_release(&c.keys);
	strmap_release(&c.stored);
	strmap_release(&c.strong_seen);
	arena_release(&c.arena);
	return rc;
}
